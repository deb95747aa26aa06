/* Flightlog dashboard: live pages without reloads (web/live.py says why it works this way).
 *
 * A message on the stream only says "something changed". The page is then read
 * again and every element marked data-live-region is swapped for its fresh copy,
 * so what shows is always what the database holds: no duplicates, no gaps, across
 * any number of reconnects. Elements with data-since tick every second.
 */
"use strict";
(function () {
  const root = (document.querySelector('meta[name="flightlog-root"]') || {}).content || "";
  const MIN_GAP_MS = 700; // at most about one re-read per second, however busy the stream
  let slowPollMs = 10000;
  let inFlight = false;
  let again = false;
  let lastStart = 0;
  let timer = null;
  let stopped = false;
  const dirty = new WeakSet(); // inputs a person has typed into: never overwritten

  function duration(seconds) {
    if (!(seconds >= 0)) return "\u2013";
    if (seconds < 10) return seconds.toFixed(1) + "s";
    const whole = Math.round(seconds);
    if (whole < 60) return whole + "s";
    const pad = (n) => String(n).padStart(2, "0");
    let minutes = Math.floor(whole / 60);
    if (minutes < 60) return minutes + "m " + pad(whole % 60) + "s";
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 24) return hours + "h " + pad(minutes) + "m";
    return Math.floor(hours / 24) + "d " + pad(hours % 24) + "h";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-since]").forEach((el) => {
      const since = Date.parse(el.getAttribute("data-since"));
      if (!Number.isNaN(since)) el.textContent = duration((now - since) / 1000);
    });
  }

  function busy(region) {
    const active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) return true;
    return Array.from(region.querySelectorAll("input, textarea, select")).some((el) => dirty.has(el));
  }

  // A region's markup without the text of its ticking durations, which differs every second.
  const TICKING = /(<[^>]*\sdata-since="[^"]*"[^>]*>)[^<]*/g;
  function settled(el) { return el.innerHTML.replace(TICKING, "$1"); }

  function swap(fresh) {
    document.querySelectorAll("[data-live-region]").forEach((region) => {
      const name = region.getAttribute("data-live-region");
      const next = fresh.querySelector('[data-live-region="' + CSS.escape(name) + '"]');
      if (!next || busy(region) || settled(next) === settled(region)) return;
      const open = new Set(
        Array.from(region.querySelectorAll("details[open][id]")).map((d) => d.id)
      );
      next.querySelectorAll("details[id]").forEach((d) => {
        if (open.has(d.id)) d.setAttribute("open", "");
      });
      region.replaceWith(document.importNode(next, true));
    });
    tick();
  }

  async function summary() {
    const response = await fetch(root + "/live/summary", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    slowPollMs = (data.slow_poll_seconds || 10) * 1000;
    document.querySelectorAll('[data-live-count="waiting"]').forEach((el) => {
      el.textContent = String(data.waiting);
      el.hidden = data.waiting === 0;
      el.setAttribute("aria-label", data.waiting + " waiting");
    });
  }

  async function refresh() {
    if (stopped) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    lastStart = Date.now();
    try {
      await summary();
      if (document.querySelector("[data-live-region]")) {
        const response = await fetch(location.href, { cache: "no-store", credentials: "same-origin", headers: { "X-Flightlog-Live": "1" } });
        if (response.redirected && new URL(response.url).pathname.endsWith("/login")) {
          stopped = true; // signed out (or the key was revoked): the next click shows the sign-in page
          return;
        }
        if (response.ok) swap(new DOMParser().parseFromString(await response.text(), "text/html"));
      }
      // For tests and the curious: when this page last caught up with the database.
      document.documentElement.setAttribute("data-live-refreshed", String(Date.now()));
    } catch (err) {
      // The server is restarting or the network dropped: the stream reconnects and calls again.
    } finally {
      inFlight = false;
      if (again) { again = false; schedule(); }
    }
  }

  function schedule() {
    if (timer !== null) return;
    const wait = Math.max(0, MIN_GAP_MS - (Date.now() - lastStart));
    timer = setTimeout(() => { timer = null; refresh(); }, wait);
  }

  function streamUrl() {
    const scoped = document.querySelector("[data-live-run], [data-live-task]");
    const params = new URLSearchParams();
    if (scoped && scoped.hasAttribute("data-live-run")) params.set("run_id", scoped.getAttribute("data-live-run"));
    else if (scoped) params.set("task_id", scoped.getAttribute("data-live-task"));
    const query = params.toString();
    return root + "/live/stream" + (query ? "?" + query : "");
  }

  function start() {
    document.addEventListener("input", (e) => dirty.add(e.target), true);
    tick();
    setInterval(tick, 1000);
    if (typeof EventSource === "undefined") { setInterval(refresh, 2000); return; }
    const source = new EventSource(streamUrl());
    source.onopen = () => schedule();     // (re)connected: catch up on anything missed meanwhile
    source.onmessage = () => schedule();  // something changed: read the page again
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) stopped = true; };
    (function slow() { setTimeout(() => { schedule(); slow(); }, slowPollMs); })();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
