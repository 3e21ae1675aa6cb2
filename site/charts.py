"""Geometry of a stacked bar chart drawn as inline SVG on the server (SPEC 12.5): no script,
nothing fetched, readable with CSS off. Pure: numbers in, rectangles out; the template draws
them and names them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: int  # which series (colour class `series-N`)
    value: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_bottom: int
    segments: list[Segment]
    ticks: list[Tick]
    labels: list[tuple[float, str]]  # x of a bar's centre, its label (only some bars)


def _nice_top(peak: int) -> int:
    """The axis top: the peak rounded up to 1, 2 or 5 times a power of ten."""
    if peak <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= peak:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if peak <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def stacked_bars(
    bars: list[tuple[str, list[int]]],
    *,
    width: int = 360,
    height: int = 200,
    max_labels: int = 6,
) -> Chart:
    """One bar per (label, values), its values stacked bottom to top in series order."""
    left, right, top, bottom = 44, 8, 10, 28
    plot_width = width - left - right
    plot_height = height - top - bottom
    axis_top = _nice_top(max((sum(values) for _, values in bars), default=0))
    slot = plot_width / max(len(bars), 1)
    bar_width = max(slot * 0.7, 1.0)
    segments: list[Segment] = []
    labels: list[tuple[float, str]] = []
    every = max(1, -(-len(bars) // max_labels))
    for index, (label, values) in enumerate(bars):
        x = left + index * slot + (slot - bar_width) / 2
        base = float(height - bottom)
        for series, value in enumerate(values):
            if value <= 0:
                continue
            h = plot_height * value / axis_top
            base -= h
            segments.append(Segment(round(x, 1), round(base, 1), round(bar_width, 1),
                                    round(h, 1), series, value))
        if index % every == 0:
            labels.append((round(x + bar_width / 2, 1), label))
    # Whole numbers only: an axis up to 1 has no half-way line.
    values = sorted({0, axis_top // 2, axis_top}) if axis_top >= 2 else [0, axis_top]
    ticks = [Tick(round(height - bottom - plot_height * v / axis_top, 1), v) for v in values]
    return Chart(width, height, left, height - bottom, segments, ticks, labels)
