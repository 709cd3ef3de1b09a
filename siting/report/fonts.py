"""The CJK font Chinese figures are drawn with (the PDF pack, the comparison curve)."""

from __future__ import annotations

from pathlib import Path

_FONT_NAMES = ("WenQuanYi", "Noto Sans CJK", "Noto Serif CJK", "SimHei", "Source Han",
               "Droid Sans Fallback")
_FONT_FILES = ("wqy", "notosanscjk", "notoserifcjk", "simhei", "sourcehan", "droidsansfallback")


def cjk_font() -> str | None:
    """Name of an installed font with Chinese glyphs, or None.

    A font installed after matplotlib built its font cache is registered with matplotlib
    first, so the name can be used in ``font.sans-serif`` at once.

    Returns
    -------
    str or None
        The font's family name; None when the machine has no CJK font.
    """
    from matplotlib import font_manager

    for f in font_manager.fontManager.ttflist:
        if any(k in f.name for k in _FONT_NAMES):
            return f.name
    for path in font_manager.findSystemFonts():
        if any(k in Path(path).name.lower() for k in _FONT_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
            return font_manager.FontProperties(fname=path).get_name()
    return None
