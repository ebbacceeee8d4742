"""One place that makes every HTML page labeltune writes (explanations, robustness, the run report).

Pages are Jinja2 templates shipped in `labeltune/templates/`, all extending `base.html.j2`. A page is
self-contained: CSS and JS inline, plots embedded as PNG data URIs, no request to any network, so it opens from
a file, an e-mail attachment or a CI artifact. Autoescaping is on: text from data files can never inject markup.

    from labeltune.html import write_page, figure_to_data_uri
    write_page("out/report.html", "report.html.j2", title="Run report", plot=figure_to_data_uri(fig), rows=rows)

A template gets the macros of `macros.html.j2` with `{% import "macros.html.j2" as m %}`: `m.table`,
`m.metric_cards`, `m.highlight` (words coloured by signed score), `m.heatmap` (a matrix as a coloured table) and
`m.figure`.
"""

from __future__ import annotations

import base64
import contextlib
import io

from .files import atomic_write_text

_ENV = None


def environment():
    """The shared Jinja2 environment (created once): package templates, autoescape, undefined names are errors."""
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        _ENV = Environment(
            loader=PackageLoader("labeltune", "templates"),
            autoescape=select_autoescape(["html", "j2"], default_for_string=True),
            undefined=StrictUndefined,  # a misspelt variable fails the render instead of showing an empty cell
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _ENV.filters["heat"] = heat_color
        _ENV.filters["num"] = format_number
    return _ENV


def render(template: str, **context) -> str:
    """The page as a string. `title` is required by the base template; `subtitle` and `nav` are optional."""
    context.setdefault("subtitle", "")
    context.setdefault("nav", [])
    from . import __version__

    context.setdefault("version", __version__)
    return environment().get_template(template).render(**context)


def write_page(path: str, template: str, **context) -> str:
    """Render and write atomically (a reader never sees half a page); returns the path."""
    return atomic_write_text(path, render(template, **context))


@contextlib.contextmanager
def plain_text_figures():
    """pyplot on the Agg backend (no display on servers), drawing the text of figures made inside as written.

    Titles, ticks and legends hold user text (file, class and --compare names); matplotlib reads text between two
    '$' as mathtext, so "$5 to $10" came out in italics and "$\\x$" raised. The setting is scoped to the block,
    not the user's process."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.parse_math": False}):
        yield plt


def figure_to_data_uri(fig, dpi: int = 110) -> str:
    """A matplotlib figure as an inline `data:image/png;base64,...` URI; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_to_data_uri(path: str) -> str:
    """A PNG file already written (e.g. a plot saved next to the page) as an inline data URI."""
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def heat_color(score: float, scale: float = 1.0) -> str:
    """A CSS background for a signed score: green for positive, red for negative, alpha by |score| / scale."""
    if scale <= 0 or score != score:  # NaN or an all-zero row: no colour
        return "transparent"
    a = min(abs(float(score)) / scale, 1.0)
    rgb = "22,163,74" if score >= 0 else "220,38,38"
    return f"rgba({rgb},{a * 0.85:.3f})"


def format_number(value, digits: int = 4) -> str:
    """Numbers as pages show them: ints as is, floats rounded, anything else as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)
