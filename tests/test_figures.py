"""The site's figures: valid SVG, labelled, reproducible, and drawn from the package's numbers."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from longctx import costs
from longctx.figures import FIGURES, quadratic_wall

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def labels(root: ET.Element) -> list[str]:
    """Every label of the figure (matplotlib writes them as <text> with svg.fonttype = none)."""
    return ["".join(el.itertext()).strip() for el in root.iter(f"{SVG}text")]


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    """Vertices of every drawn line with more than two points (the data series)."""
    out = []
    for g in root.iter(f"{SVG}g"):
        if g.get("id", "").startswith("line2d"):
            for path in g.findall(f"{SVG}path"):
                pts = [
                    (float(x), float(y))
                    for x, y in re.findall(r"[ML]\s*(-?[\d.]+)\s+(-?[\d.]+)", path.get("d", ""))
                ]
                if len(pts) > 2:
                    out.append(pts)
    return out


@pytest.fixture(scope="module")
def wall_svg():
    return quadratic_wall(heads=8, head_dim=64)


def test_is_an_svg_with_the_gpu_labels(wall_svg):
    root = parse(wall_svg)
    assert root.tag == f"{SVG}svg"
    texts = labels(root)
    for gpu in costs.GPU_MEMORY_BYTES:
        assert gpu in texts
    assert any("8 heads" in t for t in texts)
    assert any("d = 64" in t for t in texts)


def test_memory_lines_are_n_squared_and_heads_apart(wall_svg):
    lines = polylines(parse(wall_svg))
    n_points = len(costs.TABLE_SEQ_LENS)
    lines = [pts for pts in lines if len(pts) == n_points]
    one, layer = [pts for pts in lines if [x for x, _ in pts] == [x for x, _ in lines[0]]][:2]
    # x is log n: doubling n is an equal step.
    xs = [x for x, _ in one]
    assert all(math.isclose(b - a, xs[1] - xs[0], rel_tol=1e-4) for a, b in zip(xs, xs[1:]))
    # y is log bytes (downwards in SVG): a power law is a straight line, each step log(2^2).
    steps = [a - b for (_, a), (_, b) in zip(one, one[1:])]
    assert all(math.isclose(s, steps[0], rel_tol=1e-4) for s in steps)
    assert all(math.isclose(a - b, s, rel_tol=1e-4) for (_, a), (_, b), s in zip(layer, layer[1:], steps))
    # The layer line sits log(heads) above the one-head line: log(8) / log(2^2) steps.
    offset = one[0][1] - layer[0][1]
    assert offset / steps[0] == pytest.approx(math.log(8) / math.log(2**2), rel=1e-4)


def test_deterministic(wall_svg):
    # a second drawing of the same figure in the same process: matplotlib's running ids and the
    # clock must not reach the SVG (the site rebuilds every figure on every build)
    assert quadratic_wall(heads=8, head_dim=64) == wall_svg


def test_registry_names_its_functions():
    assert FIGURES["quadratic-wall"] is quadratic_wall
    for name, func in FIGURES.items():
        assert re.fullmatch(r"[a-z0-9-]+", name)
        assert callable(func)


def _background(svg: str) -> str | None:
    """The fill of the figure's first patch (matplotlib's figure background), or None."""
    m = re.search(r'<g id="patch_1">\s*<path[^>]*style="fill: (#[0-9a-f]{6})', svg)
    return m.group(1) if m else None


def test_every_figure_has_a_dark_twin_on_the_slate_background():
    from longctx.figures import DARK_BACKGROUND

    light = [n for n in FIGURES if not n.endswith("-dark")]
    assert light and all(f"{n}-dark" in FIGURES for n in light)
    for name in ("quadratic-wall", "attention-share"):
        day, night = FIGURES[name](), FIGURES[f"{name}-dark"]()
        assert _background(day) == "#ffffff" and _background(night) == DARK_BACKGROUND.lower(), name
        assert "#000000" not in night and "#ffffff" not in night
        # the same figure: the same labels, only other colours
        assert labels(parse(day)) == labels(parse(night))


def test_min_font_px_reads_the_smallest_text_and_the_width():
    from longctx.figures import min_font_px

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720.5 300">'
        "<text style=\"font: 10px 'DejaVu Sans'\">a</text><text style=\"font: 7.5px 'DejaVu Sans'\">b</text></svg>"
    )
    assert min_font_px(svg) == (7.5, 720.5)
    with pytest.raises(ValueError, match="svg must be"):
        min_font_px("<svg/>")
