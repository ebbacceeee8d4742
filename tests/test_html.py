"""The shared page helper: escaping, self-contained output, and a real browser rendering it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from browser import open_page

from labeltune.html import figure_to_data_uri, heat_color, render, write_page

PAGE = """{% extends "base.html.j2" %}{% import "macros.html.j2" as m %}
{% block content %}{{ m.metric_cards(metrics) }}{{ m.highlight(words) }}{{ m.heatmap(matrix, rows, cols) }}
{{ m.table(table_rows, ["name", ("value", "Value")]) }}{{ m.figure(plot, "a plot") }}{% endblock %}"""


def _page(tmp_path, **extra):
    from labeltune.html import environment

    env = environment()
    (tmp_path / "tpl").mkdir(exist_ok=True)
    tpl = env.from_string(PAGE)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    ctx = dict(title="t <script>alert(1)</script>", subtitle="", nav=[], version="x",
               metrics={"accuracy": 0.91234, "n": 1000},
               words=[{"word": "good", "score": 0.8}, {"word": "<b>film</b>", "score": -0.3}],
               matrix=[[0.1, 0.9], [0.5, -0.2]], rows=["el", "gato"], cols=["the", "cat"],
               table_rows=[{"name": "a", "value": 1.5}], plot=figure_to_data_uri(fig))
    ctx.update(extra)
    return tpl.render(**ctx)


def test_text_from_data_is_escaped(tmp_path):
    html = _page(tmp_path)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>film</b>" not in html and "&lt;b&gt;film&lt;/b&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_heat_color_sign_and_scale():
    assert heat_color(1.0, 1.0).startswith("rgba(22,163,74")
    assert heat_color(-0.5, 1.0) == "rgba(220,38,38,0.425)"
    assert heat_color(0.3, 0.0) == "transparent"


def test_missing_variable_fails_the_render():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("base.html.j2")  # no title


def test_page_renders_in_chromium(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(_page(tmp_path), encoding="utf-8")
    with open_page(str(path), "html_helper") as (page, problems):
        assert page.locator(".tok").count() == 2
        assert page.locator(".heat td").count() == 4
        assert page.locator(".card").count() == 2


def test_write_page_is_atomic_and_readable(tmp_path):
    out = write_page(str(tmp_path / "sub" / "p.html"), "base.html.j2", title="T")
    text = open(out, encoding="utf-8").read()
    assert "<title>T</title>" in text
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".tmp-")]
