"""HTML of the map: text from data made inert (:func:`esc`) and the small pieces built from it
(legend swatches, site icons).

Text from data never reaches a template engine. folium renders each element's output a
second time as a Jinja template, so a name such as ``{{ 7*7 }}`` would be evaluated while
the map is written. While a map is built (inside :func:`map_page`) every text shown goes
through :func:`esc`, which files it away and returns an opaque token (letters and digits
only); the page is rendered by folium with the tokens, and only the finished HTML string has
each token replaced by its text, encoded as character references that are inert in HTML
text and attributes, JavaScript strings and template literals, and JSON (:class:`_Texts`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import folium

from siting.report.i18n import label


def esc(value) -> str:
    """Text from data made safe to show.

    Parameters
    ----------
    value
        Any value; shown as ``str(value)``.

    Returns
    -------
    str
        Inside :func:`map_page`: a token of letters and digits, replaced by the encoded
        text only after folium has rendered the page. Elsewhere: the encoded text.
    """
    texts = _TEXTS.get()
    return texts.token(value) if texts is not None else _encode(value)


# inert in HTML text and attributes, JS strings and template literals, JSON and Jinja
_UNSAFE = re.compile(r"[&<>\"'`$\\{}%#\x00-\x1f\x7f\u2028\u2029]")


def _encode(value) -> str:
    """``value`` as text with every character that means something to HTML, JavaScript,
    JSON or Jinja written as a numeric character reference."""
    return _UNSAFE.sub(lambda m: f"&#{ord(m.group())};", str(value))


class _Texts:
    """Texts of one map, each behind a token of letters and digits (a per-map nonce
    keeps tokens from matching anything else on the page)."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._texts: list[str] = []
        self._pattern = re.compile(f"siting{self._nonce}t(\\d+)x")

    def token(self, value) -> str:
        self._texts.append(str(value))
        return f"siting{self._nonce}t{len(self._texts) - 1}x"

    def fill(self, page: str) -> str:
        """The rendered page with every token replaced by its encoded text (one pass:
        replaced text is never scanned again)."""
        return self._pattern.sub(lambda m: _encode(self._texts[int(m.group(1))]), page)


_TEXTS: ContextVar[_Texts | None] = ContextVar("siting_map_texts", default=None)


class _Page(folium.Figure):
    """The map's root: folium renders it with tokens; the texts go in afterwards."""

    def __init__(self, texts: _Texts, **kwargs) -> None:
        super().__init__(**kwargs)
        self._texts = texts

    def render(self, **kwargs) -> str:
        return self._texts.fill(super().render(**kwargs))


@contextmanager
def map_page() -> Iterator[folium.Figure]:
    """The root of a new map; while the block runs, :func:`esc` hands out this page's tokens.

    Yields
    ------
    folium.Figure
        The page to add the map to; rendering it puts the texts in place of the tokens.
    """
    texts = _Texts()
    reset = _TEXTS.set(texts)
    try:
        yield _Page(texts)
    finally:
        _TEXTS.reset(reset)


_ICON_STYLE = {
    "complex": ("#d62728", "50%", "★"),
    "single": ("#ff7f0e", "50%", ""),
    "generic": ("#d62728", "50%", "●"),
    "existing": ("#1f4e9c", "3px", "■"),
}


def icon_html(kind: str, glyph: str | None = None, size: int = 20) -> str:
    """HTML of a site badge (the marker, and its legend entry).

    Parameters
    ----------
    kind
        ``"complex"``, ``"single"``, ``"generic"`` (round) or ``"existing"`` (square).
    glyph
        The character shown (escaped here); default the kind's own.
    size
        Width and height in pixels.
    """
    colour, radius, default = _ICON_STYLE[kind]
    g = esc(glyph if glyph is not None else default)
    return (f"<span style='display:inline-block;width:{size}px;height:{size}px;"
            f"line-height:{size}px;border-radius:{radius};background:{colour};color:#fff;"
            f"border:{max(size // 10, 1)}px solid #fff;box-shadow:0 0 3px #000;text-align:center;"
            f"vertical-align:middle;font:bold {size * 3 // 5}px sans-serif'>{g}</span>")


def icon(kind: str, mix: list[str] | None = None, lang: str = "en") -> folium.DivIcon:
    """Marker icon of a site.

    Parameters
    ----------
    kind
        ``"complex"``, ``"single"``, ``"generic"`` or ``"existing"``.
    mix
        Services of the site; a ``single`` site shows the first character of its one
        service's label.
    lang
        ``"zh"`` or ``"en"``.
    """
    glyph = None
    if kind == "single" and mix:
        glyph = label(mix[0], lang)[:1]
    cls = "siting-existing" if kind == "existing" else f"siting-site siting-{kind}"
    return folium.DivIcon(html=icon_html(kind, glyph), icon_size=(24, 24),
                          icon_anchor=(12, 12), class_name=cls)


def swatch(colour: str, text: str, line: bool = False, dot: bool = False,
           solid: float | None = None) -> str:
    """HTML of a legend entry: a patch and its text (escaped here).

    Parameters
    ----------
    colour
        CSS colour of the patch.
    text
        The entry's text.
    line, dot
        A dashed line, or a dot, instead of a square.
    solid
        Width in pixels of a solid line instead of a square.
    """
    if solid is not None:
        shape = f"height:0;border-top:{solid:g}px solid {colour}"
    elif line:
        shape = "height:0;border-top:2px dashed " + colour
    else:
        shape = f"background:{colour};border-radius:{'50%' if dot else '2px'};height:12px;opacity:.8"
    return (f"<span style='display:inline-block;width:14px;{shape};margin-right:4px;"
            f"vertical-align:middle'></span>{esc(text)}")


def legend_html(title: str, items: list[str]) -> str:
    """HTML of the legend box (bottom right).

    Parameters
    ----------
    title
        The legend's title (escaped here).
    items
        Entries made with :func:`swatch` or :func:`icon_html`.
    """
    rows = "".join(f"<div>{it}</div>" for it in items)
    return (f"<div class='siting-legend' style='position:fixed;bottom:28px;right:10px;z-index:1000;"
            f"background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;"
            f"box-shadow:0 0 4px rgba(0,0,0,.4);font:12px sans-serif;max-height:45%;"
            f"overflow:auto'><b>{esc(title)}</b>{rows}</div>")
