from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.charts import (
    PALETTE,
    Bar,
    Series,
    badge,
    cut,
    escape,
    feature_figures,
    hbars,
    heatmap,
    histogram,
    line_chart,
    num,
    page,
    pct,
    table,
)
from tests.pages import assert_self_contained

EVIL = '<script>&"x"\x01'


def _svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "svg" and root.get("viewBox") and root.find("title") is not None
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("text")]


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (0.123456, "0.1235"),
        (12.0, "12"),
        (2008.4, "2008"),
        (12345.6, "12,346"),
        (1234567.8, "1,234,568"),
        (0.0000123, "1.23e-05"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
    ],
)
def test_numbers_have_four_significant_digits_and_separators(x, text):
    assert num(x) == text


def test_escape_makes_markup_inert_and_control_characters_visible():
    assert escape(EVIL) == "&lt;script&gt;&amp;&quot;x&quot;\\x01"
    ET.fromstring(f"<p title='{escape(EVIL)}'>{escape(EVIL)}</p>")  # parses: no raw \x01


def test_cut_keeps_both_ends_and_percentages_never_round_to_the_ends():
    assert cut("customer-account-0001", 16) == "customer…nt-0001"
    assert cut("short", 16) == "short"
    assert [pct(1, 2000), pct(1999, 2000), pct(0, 5), pct(1, 0)] == ["<0.1%", ">99.9%", "0%", "–"]


def test_page_is_self_contained_well_formed_and_escapes_its_title():
    html = page("Run <7> & co", ["<p>body</p>"], css="p { color: red; }")
    assert "<title>Run &lt;7&gt; &amp; co</title>" in html
    assert "p { color: red; }" in html and "<p>body</p>" in html
    assert_self_contained(html)
    ET.fromstring(html.removeprefix("<!DOCTYPE html>\n"))


def test_table_and_badge_are_well_formed_with_numeric_and_alert_rows():
    out = table(["Metric", "Value"], [["a", "1"], ["b", "2"]], id="t", numeric=[1], alert=[1])
    root = ET.fromstring(out)
    rows = root.findall(".//tbody/tr")
    assert [r.get("class") for r in rows] == [None, "alert"]
    assert rows[0].findall("td")[1].get("class") == "n"
    assert ET.fromstring(badge(EVIL, "bad", id="v")).get("id") == "v"


def test_hbars_lengths_are_proportional_with_a_shared_top():
    bars = [Bar("a", 0.5), Bar("b", 0.25), Bar("zero", 0.0), Bar("gone", None, "not recorded")]
    root = _svg(hbars(bars, title="t", top=1.0, bar_width=100))
    widths = [float(r.get("width")) for r in root.iter("rect")]
    assert widths == [50, 25]  # zero and None draw no bar
    assert "not recorded" in _texts(root)
    # labels carry their full text as a tooltip; value texts do not
    assert [t.find("title").text for t in root.iter("text") if t.find("title") is not None] == [
        "a",
        "b",
        "zero",
        "gone",
    ]


def test_hbars_negative_values_extend_left_of_the_zero_line_and_the_reference_is_drawn():
    root = _svg(
        hbars(
            [Bar("up", 2.0), Bar("down", -1.0)],
            title="t",
            label_width=10,
            bar_width=90,
            reference=1.0,
            reference_label="bound 1",
        )
    )
    up, down = root.iter("rect")
    zero = float(up.get("x"))
    assert zero == pytest.approx(10 + 30)  # domain [-1, 2] over 90 px
    assert float(down.get("x")) + float(down.get("width")) == pytest.approx(zero)
    assert float(up.get("width")) == pytest.approx(2 * float(down.get("width")))
    ref = [ln for ln in root.iter("line") if ln.find("title") is not None]
    assert ref[0].find("title").text == "bound 1"
    assert float(ref[0].get("x1")) == pytest.approx(zero + 30)


def test_hbars_escape_labels_and_cut_long_ones():
    root = _svg(hbars([Bar(EVIL * 3, 1.0)], title=EVIL, footer="+2 more"))
    label = next(t for t in root.iter("text") if t.find("title") is not None)
    assert label.find("title").text == (EVIL * 3).replace("\x01", "\\x01")
    assert len(label.text) == 16
    assert "+2 more" in _texts(root)


def test_histogram_places_buckets_on_the_domain_and_writes_the_note():
    root = _svg(
        histogram(
            [(0.0, 5.0, 2), (5.0, 10.0, 0), (10.0, math.inf, 2)],
            title="h",
            total=4,
            domain=(0.0, 20.0),
            top=0.5,
            note="NaN: 1",
            width=100,
            pad=0,
        )
    )
    rects = list(root.iter("rect"))
    assert len(rects) == 2  # the empty bucket is not drawn
    assert float(rects[1].get("x")) == pytest.approx(50)  # 10 of [0, 20]
    assert float(rects[1].get("width")) == pytest.approx(49)  # clipped to 20, a 1 px gap
    assert "NaN: 1" in _texts(root)


def _points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]


def test_line_chart_maps_data_to_the_plot_breaks_at_non_finite_points_and_has_a_legend():
    s1 = Series("roc", [0.0, 0.5, 1.0], [0.0, 0.8, 1.0])
    s2 = Series("broken", [0.0, 0.25, 0.5, 0.75], [0.1, 0.2, math.nan, 0.4], dashed=True)
    out = line_chart(
        [s1, s2],
        title="ROC",
        x_label="false positive rate",
        y_label="true positive rate",
        x_domain=(0, 1),
        y_domain=(0, 1),
        diagonal=True,
        width=200,
        height=100,
    )
    root = _svg(out)
    lines = list(root.iter("polyline"))
    assert [ln.find("title").text for ln in lines] == ["roc", "broken"]  # the NaN split one off
    (x0, y0), (x1, y1), (x2, y2) = _points(lines[0])
    assert x2 - x0 == pytest.approx(200) and y0 - y2 == pytest.approx(100)
    assert (x1 - x0, y0 - y1) == pytest.approx((100, 80))
    assert lines[0].get("stroke") == PALETTE[0] and lines[1].get("stroke-dasharray")
    texts = _texts(root)
    assert {"roc", "broken", "false positive rate", "true positive rate", "0", "1"} <= set(texts)
    assert {"0.2", "0.4", "0.6", "0.8"} <= set(texts)  # round ticks


def test_line_chart_markers_carry_tooltips_and_long_series_are_thinned():
    root = _svg(
        line_chart(
            [Series("bins", [0.1, 0.2], [0.1, 0.3], markers=True, tips=["bin 1", "bin 2"])],
            title="c",
        )
    )
    assert [c.find("title").text for c in root.iter("circle")] == ["bin 1", "bin 2"]
    n = 5000
    big = line_chart([Series("s", list(range(n)), [i % 7 for i in range(n)])], title="t")
    assert len(_points(next(_svg(big).iter("polyline")))) <= 400


def test_line_chart_refuses_series_of_unequal_length():
    with pytest.raises(ValueError, match="series 's': 2 x values but 1 y values"):
        line_chart([Series("s", [1, 2], [1])], title="t")


def test_line_chart_training_curve_with_data_domain():
    loss = [1.2, 0.8, 0.5, 0.45]
    root = _svg(
        line_chart(
            [Series("train loss", [1, 2, 3, 4], loss), Series("val", [1, 2, 3, 4], loss)],
            title="loss",
        )
    )
    assert len(list(root.iter("polyline"))) == 2
    assert {"1", "2", "3", "4"} <= set(_texts(root))


def test_heatmap_shades_cells_and_writes_their_figures():
    out = heatmap(
        [[8, 2], [0, 10]],
        title="confusion",
        row_labels=["a", EVIL],
        col_labels=["a", EVIL],
        row_title="true",
        col_title="predicted",
        shade=[[0.8, 0.2], [0.0, 1.0]],
    )
    root = _svg(out)
    rects = list(root.iter("rect"))
    assert len(rects) == 4
    assert rects[3].get("fill").lower() == PALETTE[0].lower()
    assert rects[2].get("fill") == "#ffffff"
    texts = _texts(root)
    assert {"8", "2", "0", "10", "true", "predicted"} <= set(texts)
    assert re.search(r"→", rects[1].find("title").text)


def test_heatmap_refuses_ragged_matrices():
    with pytest.raises(ValueError, match="heatmap 'm'"):
        heatmap([[1, 2], [3]], title="m", row_labels=["a", "b"], col_labels=["a", "b"])


# ---------------------------------------------------------------------------------------------
# feature_figures: one feature's charts, one per side


def _num_stats(buckets: list[tuple[float, float, float]]) -> statistics_pb2.FeatureNameStatistics:
    f = statistics_pb2.FeatureNameStatistics(name="x")
    n = f.num_stats
    n.common_stats.num_non_missing = int(sum(c for _, _, c in buckets))
    h = n.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    h.buckets.add(low_value=-100.0, high_value=100.0, sample_count=1)  # never drawn
    h = n.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for lo, hi, c in buckets:
        h.buckets.add(low_value=lo, high_value=hi, sample_count=c)
    return f


def _str_stats(counts: dict[str, int]) -> statistics_pb2.FeatureNameStatistics:
    f = statistics_pb2.FeatureNameStatistics(name="c")
    s = f.string_stats
    s.common_stats.num_non_missing = sum(counts.values())
    s.unique = len(counts)
    for v, c in sorted(counts.items(), key=lambda kv: -kv[1]):
        s.rank_histogram.buckets.add(label=v, sample_count=c)
    return f


def _sides(html: str) -> dict[str, ET.Element]:
    """Caption → the figure's chart (its svg or its "nochart" div)."""
    root = ET.fromstring(html)
    assert root.get("class") == "charts"
    return {"".join(f.find("figcaption").itertext()): f[1] for f in root.iter("figure")}


def test_feature_figures_numeric_sides_share_their_axis_and_height():
    left = _num_stats([(0.0, 5.0, 10), (5.0, 10.0, 30)])
    right = _num_stats([(10.0, 20.0, 10)])
    charts = _sides(feature_figures("x", [("a", PALETTE[0], left), ("b", PALETTE[1], right)]))
    a, b = charts["a"], charts["b"]
    # the top of both axes is the tallest share of either side (b's one bucket)
    assert _texts(a)[:1] == _texts(b)[:1] == ["100%"]
    assert _texts(a)[-2:] == _texts(b)[-2:] == ["0", "20"]  # one domain, both sides' edges
    (a_rect, a_rect2), (b_rect,) = list(a.iter("rect")), list(b.iter("rect"))
    assert float(b_rect.get("x")) > float(a_rect2.get("x")) > float(a_rect.get("x"))
    # one height scale: a's 75% bucket is three quarters of b's 100% one
    assert float(a_rect2.get("height")) == pytest.approx(0.75 * float(b_rect.get("height")))
    assert a.find("title").text == "a: histogram of x, share of values"


def test_feature_figures_categorical_sides_share_categories_taken_in_turns_and_scale():
    left = _str_stats({"red": 60, "blue": 40})
    right = _str_stats({"green": 10, "blue": 5, "red": 5})
    charts = _sides(feature_figures("", [("a", PALETTE[0], left), ("b", PALETTE[1], right)]))
    labels = {
        side: [t.find("title").text for t in c.iter("text") if t.find("title") is not None]
        for side, c in charts.items()
    }
    # each side's first value, then each side's second: green (common in b only) still shows
    assert labels["a"] == labels["b"] == ["red", "green", "blue"]
    widths = {
        side: {r.find("title").text: float(r.get("width")) for r in c.iter("rect")}
        for side, c in charts.items()
    }
    # shares on one scale: red is 60% of a, green 50% of b; the tooltip is the count
    assert widths["a"]["red: 60"] / widths["b"]["green: 10"] == pytest.approx(60 / 50, rel=0.02)
    assert "green: 0" not in widths["a"]  # a zero share draws no bar
    assert charts["a"].find("title").text == 'a: top values of "", share'


def test_feature_figures_a_side_without_values_says_why():
    empty = statistics_pb2.FeatureNameStatistics(name="x")
    empty.string_stats.common_stats.num_missing = 5
    html = feature_figures(
        "x",
        [
            ("some", PALETTE[0], _str_stats({"v": 1})),
            ("empty", PALETTE[1], empty),
            ("gone", PALETTE[2], None),
            (EVIL, PALETTE[3], None),
        ],
        missing={"gone": "not kept"},
    )
    charts = _sides(html)
    said = {k: "".join(v.itertext()) for k, v in charts.items() if v.tag == "div"}
    shown = EVIL.replace("\x01", "\\x01")  # escaped, and parsed back: the control made visible
    assert said == {"empty": "no values", "gone": "not kept", shown: "absent"}
