"""The stacked bar chart's geometry (epermit.charts), drawn as SVG by the statistics page."""

from __future__ import annotations

from epermit import charts


def test_segments_stack_bottom_to_top_and_scale_to_a_round_axis():
    chart = charts.stacked_bars([("a", [3, 2]), ("b", [0, 7])], width=200, height=100)
    first, second, third = chart.segments
    assert (first.series, first.value, second.series, second.value) == (0, 3, 1, 2)
    # The second segment sits on the first; a zero draws nothing.
    assert round(second.y + second.height, 1) == first.y
    assert (third.series, third.value) == (1, 7)
    assert [t.value for t in chart.ticks] == [0, 5, 10]  # peak 7 rounds up to 10
    assert third.height == round((chart.plot_bottom - 10) * 7 / 10, 1)


def test_an_empty_range_draws_an_axis_and_no_bars():
    chart = charts.stacked_bars([("a", [0, 0]), ("b", [0, 0])])
    assert chart.segments == []
    assert [t.value for t in chart.ticks] == [0, 1]


def test_only_some_days_are_labelled_so_labels_never_overlap():
    chart = charts.stacked_bars([(str(day), [1]) for day in range(30)], max_labels=6)
    assert [label for _, label in chart.labels] == ["0", "5", "10", "15", "20", "25"]
