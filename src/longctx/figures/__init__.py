"""The site's figures, drawn from the package's own numbers at build time (needs matplotlib).

Each figure function returns an SVG document as a string. ``FIGURES`` maps the file name the
pages use (``assets/figures/<name>.svg``) to its function; each lesson's module keeps its own.

Every figure is also drawn for the dark scheme (:func:`dark`, written as ``<name>-dark.svg``): the
same function under dark colours, so that a reader who switches Material to ``slate`` does not
get a white rectangle (scripts/hooks/reader.py shows the one that matches the scheme).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from longctx.figures import evaluation, frontier, kv, linear, position, sparse, wall
from longctx.figures.wall import attention_share, quadratic_wall

__all__ = ["DARK_BACKGROUND", "FIGURES", "attention_share", "dark", "min_font_px", "quadratic_wall"]

#: Every figure the site draws, by file name.
FIGURES = {
    **wall.FIGURES,
    **sparse.FIGURES,
    **linear.FIGURES,
    **kv.FIGURES,
    **position.FIGURES,
    **evaluation.FIGURES,
    **frontier.FIGURES,
}

#: Material's slate background (``--md-default-bg-color``: hsl(232, 15%, 14%)), behind dark figures.
DARK_BACKGROUND = "#1e2029"
_DARK_TEXT = "#e3e5ea"
# matplotlib's tab10 cycle, lightened so that each colour stands out on the dark background
_DARK_CYCLE = [
    "#5fa8e8",
    "#ffa04d",
    "#5ccf5c",
    "#ff7070",
    "#b99ae0",
    "#d0a090",
    "#f19ad6",
    "#b8b8b8",
    "#d6d65a",
    "#4fd8e8",
]


def _dark_of(draw: Callable[[], str]) -> Callable[[], str]:
    def draw_dark() -> str:
        return dark(draw)

    # the build's figure cache (scripts/hooks/assets.py) keys a figure by its drawing module
    draw_dark.__module__ = getattr(draw, "__module__", __name__)
    draw_dark.__doc__ = f"{getattr(draw, '__name__', 'the figure')} for the dark scheme."
    return draw_dark


def dark(draw: Callable[[], str]) -> str:
    """The SVG of ``draw()`` for the dark scheme: light text and lines on Material's slate background."""
    import matplotlib
    from cycler import cycler

    wall.pyplot()  # the site's SVG settings and the Agg backend
    rc = {
        "figure.facecolor": DARK_BACKGROUND,
        "axes.facecolor": DARK_BACKGROUND,
        "savefig.facecolor": DARK_BACKGROUND,
        "savefig.edgecolor": DARK_BACKGROUND,
        "text.color": _DARK_TEXT,
        "axes.labelcolor": _DARK_TEXT,
        "axes.titlecolor": _DARK_TEXT,
        "axes.edgecolor": "#aab0c0",
        "xtick.color": "#c9ccd6",
        "ytick.color": "#c9ccd6",
        "grid.color": "#8a90a0",
        "legend.facecolor": "#272a35",
        "legend.edgecolor": "#6b7080",
        "legend.labelcolor": _DARK_TEXT,
        "hatch.color": "#c9ccd6",
        "patch.edgecolor": "#c9ccd6",
        "axes.prop_cycle": cycler(color=_DARK_CYCLE),
    }
    with matplotlib.rc_context(rc):
        out = draw()
    # colours a figure names outright: black marker edges and reference lines become light,
    # white separators become the background, and the mask pictures of longctx.sparse.mask_svg
    # (not matplotlib) get a dark ground, lighter cells and a brighter red
    for day, night in (
        ("#000000", _DARK_TEXT),
        ("#ffffff", DARK_BACKGROUND),
        ("#eeeeee", "#2e3140"),
        ("#3f51b5", "#8c9eff"),
        ("#e53935", "#ff7060"),
    ):
        out = re.sub(day + r"\b", night, out, flags=re.I)
    return out


_FONT = re.compile(r"font(?:-size)?:\s*(?:[a-z]+\s+)*([\d.]+)px")
_VIEWBOX = re.compile(r'viewBox="[\d.-]+ [\d.-]+ ([\d.]+) [\d.]+"')


def min_font_px(svg: str) -> tuple[float, float]:
    """(smallest font size, viewBox width) of an SVG drawn by matplotlib, in its own units.

    Shown ``w`` pixels wide, its smallest text is ``size * w / width`` pixels tall.
    """
    sizes = [float(x) for x in _FONT.findall(svg)]
    m = _VIEWBOX.search(svg)
    if not sizes or not m:
        raise ValueError("svg must be a matplotlib SVG with text and a viewBox, got one without")
    return min(sizes), float(m.group(1))


#: Each figure for the dark scheme, as ``<name>-dark`` (written beside the light one by the build).
FIGURES.update({f"{name}-dark": _dark_of(draw) for name, draw in list(FIGURES.items())})
