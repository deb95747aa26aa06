/* Flightlog dashboard charts: draws every <div class="chart" data-chart="ID"> from the JSON
   island <script type="application/json" id="ID"> with the vendored uPlot (static/vendor/uplot).

   The island is what web/chart_data.py writes: {kind: "lines"|"bars"|"stacked", format:
   "usd"|"count"|"percent"|"number", x: [...], xLabels?: [...], unit?: "...",
   series: [{label, values, color?}]}. x is epoch seconds, or 0..n-1 with xLabels (categories).
   Times read in UTC, as the tables beside the charts do. Charts follow their box's width
   (a phone's 390 px too); the tables keep the numbers for readers without this script. */
(function () {
  "use strict";

  var PALETTE = ["#1a56db", "#c2410c", "#047857", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d", "#4b5565"];

  function fmtNumber(v) {
    if (v == null) return "\u2013";
    var a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
    if (a >= 1 || a === 0) return String(Math.round(v * 100) / 100);
    return v.toPrecision(3).replace(/0+$/, "");
  }

  function formatter(spec) {
    var unit = spec.unit ? " " + spec.unit : "";
    switch (spec.format) {
      case "usd":
        return function (v) {
          if (v == null) return "\u2013";
          return "$" + (v !== 0 && Math.abs(v) < 0.01 ? v.toFixed(4) : v.toFixed(2));
        };
      case "percent":
        return function (v) { return v == null ? "\u2013" : (Math.round(v * 10) / 10) + "%"; };
      case "count":
        return function (v) { return v == null ? "\u2013" : fmtNumber(v); };
      default:
        return function (v) { return v == null ? "\u2013" : fmtNumber(v) + unit; };
    }
  }

  /* Axis labels: as many decimals as the distance between ticks needs, so no two read alike. */
  function decimalsFor(splits) {
    var step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
    return step >= 1 || !step ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  }

  function axisValues(spec) {
    var unit = spec.unit ? " " + spec.unit : "";
    return function (u, splits) {
      var d = decimalsFor(splits);
      return splits.map(function (v) {
        if (v == null) return "";
        switch (spec.format) {
          case "usd": return "$" + v.toFixed(Math.max(2, d));
          case "percent": return Math.round(v) + "%";
          case "count": return fmtNumber(v);
          default: return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }) + unit;
        }
      });
    };
  }

  /* Room for the longest label (12 px system font, about 7 px a character). */
  function axisSize(u, values) {
    var longest = 0;
    (values || []).forEach(function (v) { longest = Math.max(longest, String(v).length); });
    return Math.max(40, Math.ceil(longest * 7 + 18));
  }

  var INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];

  function heightFor(width) {
    return Math.round(Math.max(180, Math.min(280, width * 0.5)));
  }

  function utc(ts) {
    return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  }

  /* Stacked bars: each series is drawn as the running total up to it, the largest first,
     so every layer shows above the one below; the legend still reads each layer's own value. */
  function stackedData(spec) {
    var totals = [], layers = [];
    spec.series.forEach(function (s, i) {
      var sums = s.values.map(function (v, j) { return (v || 0) + (i ? totals[i - 1][j] : 0); });
      totals.push(sums);
      layers.push({ label: s.label, color: s.color, own: s.values, values: sums });
    });
    return layers.reverse();
  }

  function options(spec, el, width) {
    var fmt = formatter(spec);
    var categories = Array.isArray(spec.xLabels);
    var bars = spec.kind === "bars" || spec.kind === "stacked";
    var layers = spec.kind === "stacked" ? stackedData(spec) : spec.series;
    var x = spec.x;
    var step = x.length > 1 ? x[1] - x[0] : 1;
    var series = [categories
      ? { label: spec.xTitle || "Bin", value: function (u, i) { return i == null ? "\u2013" : spec.xLabels[i]; } }
      : { label: "Time (UTC)" }];
    var showPoints = !bars && width / Math.max(1, x.length) >= 14;
    layers.forEach(function (s, i) {
      var color = s.color || PALETTE[i % PALETTE.length];
      var own = s.own;
      series.push({
        label: s.label,
        stroke: color,
        width: bars ? 0 : 2,
        fill: bars ? color : undefined,
        spanGaps: !bars,
        points: { show: showPoints || x.length === 1, size: 5 },
        paths: bars ? uPlot.paths.bars({ size: [0.7, 48], align: 0 }) : undefined,
        value: function (u, v, si, idx) { return fmt(own && idx != null ? own[idx] : v); },
      });
    });
    var xAxis = { stroke: "#5b6678", grid: { stroke: "#e3e7ee" }, ticks: { stroke: "#e3e7ee" } };
    if (categories) {
      xAxis.splits = function (u) {
        var every = Math.max(1, Math.ceil(spec.xLabels.length * 70 / u.bbox.width * devicePixelRatio));
        return spec.xLabels.map(function (_, i) { return i; }).filter(function (i) { return i % every === 0; });
      };
      xAxis.values = function (u, splits) { return splits.map(function (i) { return spec.xLabels[i] || ""; }); };
    }
    var yScale = spec.format === "percent" ? { range: [0, 100] } : { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } };
    if (spec.format === "number") {
      yScale = { range: function (u, min, max) { var pad = min === max ? Math.abs(min) * 0.1 || 1 : (max - min) * 0.1; return [min - pad, max + pad]; } };
    }
    var xScale = { time: !categories };
    var first = x[0], last = x[x.length - 1];
    if (bars) xScale.range = function () { return [first - step / 2, last + step / 2]; };
    else if (first === last) xScale.range = function () { return [first - 3600, last + 3600]; };
    return {
      width: width,
      height: heightFor(width),
      tzDate: utc,
      scales: { x: xScale, y: yScale },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: series,
      axes: [
        xAxis,
        {
          stroke: "#5b6678",
          grid: { stroke: "#e3e7ee" },
          ticks: { stroke: "#e3e7ee" },
          size: axisSize,
          values: axisValues(spec),
          incrs: spec.format === "count" ? INTEGER_STEPS : undefined,
        },
      ],
      _layers: layers,
    };
  }

  function draw(el) {
    var island = document.getElementById(el.getAttribute("data-chart"));
    if (!island || typeof uPlot === "undefined") return;
    var spec = JSON.parse(island.textContent);
    if (!spec.x || !spec.x.length) return;
    var width = Math.max(200, el.clientWidth);
    var opts = options(spec, el, width);
    var data = [spec.x].concat(opts._layers.map(function (s) { return s.values; }));
    delete opts._layers;
    el.textContent = "";
    var plot = new uPlot(opts, data, el);
    el.classList.add("drawn");
    var pending = false;
    new ResizeObserver(function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        var w = Math.max(200, el.clientWidth);
        if (w !== plot.width) plot.setSize({ width: w, height: heightFor(w) });
      });
    }).observe(el);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".chart[data-chart]"), draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
