"""Small server-side SVG charts for the ops dashboard: no scripts, no external assets, so the
app's own Content-Security-Policy (``default-src 'self'``) lets them load as images.

Each chart has a <title> and <desc> (read out by screen readers), and the page shows the
same figures as a table beside it.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 28, 56
COLOURS = ("#005eb8", "#ffb81c", "#da291c", "#007f3b", "#330072")  # NHS blue, warm yellow...


@dataclass(frozen=True)
class Series:
    """One named row of values, one per category."""

    name: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """The axis top: the next 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power: float = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if value <= m * power)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    percent: bool = False,
    target: float | None = None,
) -> str:
    """Grouped bars, one group per category; an optional dashed target line (same units)."""
    top = _nice_max(max([*(v for s in series for v in s.values), target or 0, 0]))
    # Percentages to 100; counts in four whole-number steps.
    top = 100.0 if percent else float(math.ceil(top / 4) * 4)
    # Many or long labels are set at an angle, with room below for them.
    slanted = len(categories) > 8 and max(map(len, categories)) > 4
    bottom = BOTTOM + 50 if slanted else BOTTOM
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - bottom
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" font-family="Arial, sans-serif" '
        'font-size="11">',
        f"<title>{escape(title)}</title>",
        "<desc>"
        + escape(
            "; ".join(
                f"{c}: " + ", ".join(f"{s.name} {s.values[i]:g}" for s in series)
                for i, c in enumerate(categories)
            )
        )
        + "</desc>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for k in range(5):
        v = top * k / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#d8dde0"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#4c6272">'
            f"{v:g}{'%' if percent else ''}</text>"
        )
    for i, category in enumerate(categories):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            v = s.values[i]
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{y(v):.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{max(TOP + plot_h - y(v), 0):.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f"<title>{escape(category)}: {escape(s.name)} {v:g}</title></rect>"
            )
        cx = LEFT + i * group_w + group_w / 2
        ty = TOP + plot_h + 14
        angle = f' transform="rotate(-35 {cx:.1f} {ty})"' if slanted else ""
        parts.append(
            f'<text x="{cx:.1f}" y="{ty}" text-anchor="{"end" if slanted else "middle"}"'
            f'{angle} fill="#212b32">{escape(category)}</text>'
        )
    if target is not None:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
            'stroke="#212b32" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - RIGHT}" y="{y(target) - 4:.1f}" text-anchor="end">'
            f"standard {target:g}{'%' if percent else ''}</text>"
        )
    for j, s in enumerate(series):
        lx = LEFT + j * 150
        parts.append(
            f'<rect x="{lx}" y="{HEIGHT - 18}" width="12" height="12" '
            f'fill="{COLOURS[j % len(COLOURS)]}"/>'
            f'<text x="{lx + 16}" y="{HEIGHT - 8}">{escape(s.name)}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text></svg>'
    )
    return "".join(parts)
