"""The dashboard's templates and stylesheet meet the accessibility floor of issue 14.

Static checks, over every template in ``web/templates`` (pages added later are
checked too): each table header says what it heads (``scope``), each form control
has a name a screen reader reads (a ``<label for>``, a wrapping ``<label>``,
``aria-label`` or ``aria-labelledby``), and text colours reach WCAG's 4.5:1
contrast against the backgrounds they are drawn on. A browser checks the phone
layout itself (tests/browser); these catch the mistakes before one is started.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from flightlog.web import STATIC_DIR

TEMPLATES = Path(STATIC_DIR).parent / "templates"
STYLESHEET = STATIC_DIR / "flightlog.css"
ALL_TEMPLATES = sorted(p.name for p in TEMPLATES.glob("*.html"))
MIN_CONTRAST = 4.5

# ---------------------------------------------------------------- templates


def _without_jinja(source: str) -> str:
    """Template text as HTML: comments dropped, statements dropped (so both branches of an
    ``{% if %}`` inside a tag count), expressions replaced by a placeholder word."""

    def keep_lines(replacement: str) -> Callable[[re.Match[str]], str]:
        return lambda match: replacement + "\n" * match.group(0).count("\n")

    source = re.sub(r"\{#.*?#\}", keep_lines(""), source, flags=re.S)
    source = re.sub(r"\{%.*?%\}", keep_lines(" "), source, flags=re.S)
    return re.sub(r"\{\{.*?\}\}", keep_lines("X"), source, flags=re.S)


@dataclass
class _Control:
    tag: str
    attrs: dict[str, str | None]
    inside_label: bool
    line: int


@dataclass
class _Scan(HTMLParser):
    headers_without_scope: list[int] = field(default_factory=list)
    controls: list[_Control] = field(default_factory=list)
    label_targets: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    open_labels: int = 0

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        line = self.getpos()[0]
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "th" and found.get("scope") not in ("col", "row", "colgroup", "rowgroup"):
            self.headers_without_scope.append(line)
        elif tag == "label":
            self.open_labels += 1
            if found.get("for"):
                self.label_targets.add(str(found["for"]))
        elif tag in ("input", "select", "textarea"):
            kind = (found.get("type") or "text").lower()
            if tag != "input" or kind not in ("hidden", "submit", "button", "reset", "image"):
                self.controls.append(_Control(tag, found, self.open_labels > 0, line))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.open_labels:
            self.open_labels -= 1


def scan(source: str) -> _Scan:
    scanner = _Scan()
    scanner.feed(_without_jinja(source))
    scanner.close()
    return scanner


def unlabelled(scanned: _Scan) -> list[str]:
    """Controls a screen reader would announce without a name."""
    missing = []
    for control in scanned.controls:
        attrs = control.attrs
        named = (
            control.inside_label
            or bool(attrs.get("aria-label"))
            or bool(attrs.get("aria-labelledby"))
            or (attrs.get("id") is not None and attrs.get("id") in scanned.label_targets)
        )
        if not named:
            missing.append(f"<{control.tag} name={attrs.get('name')!r}> at line {control.line}")
    return missing


def test_the_template_checks_can_fail() -> None:
    bad = scan(
        '<table><tr><th>a</th><th scope="{{ s }}">b</th></tr></table>'
        '<input name="q"><select name="s"></select><input type="hidden" name="h">'
        '<label for="other">x</label><textarea id="t"></textarea>'
    )
    assert bad.headers_without_scope == [1, 1]
    assert len(unlabelled(bad)) == 3
    good = scan(
        '<th scope="col">a</th>{% if x %}<th scope="row">b</th>{% endif %}'
        '<label for="q-{{ i }}">Q</label><input id="q-{{ i }}" name="q">'
        '<label>Status <select name="s"></select></label>'
        '<input aria-label="From" type="date" name="from">'
        '<span id="l">To</span><input aria-labelledby="l" name="to">'
    )
    assert good.headers_without_scope == []
    assert unlabelled(good) == []


def test_every_template_is_checked() -> None:
    assert {"base.html", "overview.html", "login.html", "error.html"} <= set(ALL_TEMPLATES)


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_table_headers_have_a_scope(template: str) -> None:
    scanned = scan((TEMPLATES / template).read_text())
    assert scanned.headers_without_scope == [], (
        f'{template}: <th> without scope="col"/"row" at lines {scanned.headers_without_scope}'
    )


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_form_controls_have_a_label(template: str) -> None:
    assert unlabelled(scan((TEMPLATES / template).read_text())) == [], template


def test_base_page_has_a_skip_link_and_a_named_navigation() -> None:
    base = (TEMPLATES / "base.html").read_text()
    scanned = scan(base)
    assert 'href="#main"' in base
    assert "main" in scanned.ids
    assert 'aria-current="page"' in base
    assert re.search(r'<nav aria-label="[^"]+"', base)
    assert '<html lang="' in base
    assert 'name="viewport" content="width=device-width' in base


# ---------------------------------------------------------------- contrast

#: Text colour and the background it is drawn on, as CSS values of flightlog.css
#: (``var(--x)`` is resolved from ``:root``). Backgrounds: the page (--bg), cards,
#: tables and the header (#fff), table headers (#fbfcfe), the plain badge (#eef1f6).
DECLARED_PAIRS = [
    ("var(--ink)", "var(--bg)"),
    ("var(--ink)", "#fff"),
    ("var(--ink)", "#fbfcfe"),
    ("var(--ink)", "#eef1f6"),
    ("var(--muted)", "var(--bg)"),
    ("var(--muted)", "#fff"),
    ("var(--muted)", "#fbfcfe"),
    ("var(--muted)", "#eef1f6"),
    ("var(--run)", "var(--bg)"),  # links
    ("var(--run)", "#fff"),
    ("var(--run)", "#fbfcfe"),
    ("var(--ok)", "#fff"),
    ("var(--bad)", "#fff"),
    ("var(--wait)", "#fff"),
    ("#fff", "var(--wait)"),  # the waiting count in the navigation
]


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB hex colour."""
    hex_digits = colour.lstrip("#")
    if len(hex_digits) in (3, 4):
        hex_digits = "".join(c * 2 for c in hex_digits)
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted(
        (relative_luminance(foreground), relative_luminance(background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


_NAMED = {"white": "#ffffff", "black": "#000000"}


def _css() -> str:
    return re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)


def variables(css: str) -> dict[str, str]:
    """The custom properties declared in ``:root`` blocks (later ones win, as in CSS)."""
    found: dict[str, str] = {}
    for block in re.findall(r":root\s*\{([^}]*)\}", css):
        found.update(re.findall(r"(--[\w-]+)\s*:\s*([^;]+?)\s*(?:;|$)", block))
    return found


def resolve(value: str, names: dict[str, str]) -> str | None:
    """A hex colour for ``value`` (a hex, white/black or ``var(--x)``), None if it is not one."""
    value = value.strip().lower()
    for _ in range(5):
        match = re.fullmatch(r"var\(\s*(--[\w-]+)\s*(?:,[^)]*)?\)", value)
        if not match:
            break
        value = names.get(match.group(1), "").strip().lower()
    value = _NAMED.get(value, value)
    return value if re.fullmatch(r"#(?:[0-9a-f]{3}|[0-9a-f]{6})", value) else None


def rules_with_text_and_background(css: str) -> list[tuple[str, str, str]]:
    """(selector, color, background) of every rule that sets both: a badge, a button, a banner."""
    found = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = dict(
            (name.strip().lower(), value.strip())
            for name, value in re.findall(r"([\w-]+)\s*:\s*([^;]+)", body)
        )
        background = decls.get("background-color") or decls.get("background")
        if "color" in decls and background:
            found.append((" ".join(selector.split()), decls["color"], background))
    return found


def test_the_contrast_formula_matches_wcag() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#767676", "#fff") == pytest.approx(4.54, abs=0.01)  # WCAG's classic example
    assert contrast("#687385", "#fff4d6") < MIN_CONTRAST  # the old --muted on a wait badge


@pytest.mark.parametrize(("text", "background"), DECLARED_PAIRS)
def test_declared_text_colours_have_contrast(text: str, background: str) -> None:
    names = variables(_css())
    fg, bg = resolve(text, names), resolve(background, names)
    assert fg, f"{text} is not a colour in flightlog.css"
    assert bg, f"{background} is not a colour in flightlog.css"
    ratio = contrast(fg, bg)
    assert ratio >= MIN_CONTRAST, f"{text} ({fg}) on {background} ({bg}) is {ratio:.2f}:1"


def test_every_rule_with_its_own_background_has_contrast() -> None:
    """Badges, buttons, banners: any rule setting both colours, in every section of the file."""
    css = _css()
    names = variables(css)
    checked, weak = 0, []
    for selector, text, background in rules_with_text_and_background(css):
        fg, bg = resolve(text, names), resolve(background, names)
        if fg is None or bg is None:
            continue  # a gradient, an image, transparent, currentColor: not a plain pair
        checked += 1
        ratio = contrast(fg, bg)
        if ratio < MIN_CONTRAST:
            weak.append(f"{selector}: {fg} on {bg} is {ratio:.2f}:1")
    assert checked >= 5  # the status badges at least
    assert weak == []
