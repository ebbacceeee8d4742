"""Figures draw user text (file, class and --compare names) as written: matplotlib reads text between two '$' as
mathtext, which printed "$5 to $10" in italics and raised on "$\\frac$" (a ValueError from the PNG writer)."""

from __future__ import annotations

import os

import matplotlib

from labeltune.html import plain_text_figures

ODD = "$\\frac$ and $5-$10"  # not valid mathtext: matplotlib raises on it unless it draws it as plain text


def test_curve_plot_draws_dollar_names(tmp_path):
    from labeltune.curve import plot

    rows = [{"curve": ODD, "labels": n, "mean": 0.5, "sd": 0.1} for n in (8, 16)]
    path = str(tmp_path / "curve.png")
    plot(rows, [ODD], "accuracy", f"classification on {ODD}.csv", path)
    assert os.path.getsize(path) > 1000


def test_confusion_plot_draws_dollar_class_names():
    from labeltune.report.page import confusion_plot

    uri = confusion_plot({"labels": [ODD, "$x$y$"], "rows_gold_cols_pred": [[3, 1], [0, 2]]})
    assert uri.startswith("data:image/png;base64,")


def test_robustness_plot_draws_dollar_names(tmp_path):
    from labeltune.robustness.report import plot

    result = {"metric": ODD, "rows": [{"perturbation": "clean", "severity": None, "model": 0.9},
                                      {"perturbation": ODD, "severity": 0.1, "model": 0.8}]}
    fig = plot(result)
    fig.savefig(str(tmp_path / "r.png"))
    assert [t.get_parse_math() for t in fig.axes[0].texts + [fig.axes[0].title]] == [False]


def test_the_setting_stays_inside_the_block():
    with plain_text_figures():
        assert matplotlib.rcParams["text.parse_math"] is False
    assert matplotlib.rcParams["text.parse_math"] is True  # a user's own figures keep matplotlib's default
