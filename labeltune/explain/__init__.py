"""`labeltune explain`: why did the model say that? Word attributions for all four tasks, their faithfulness
(ERASER), a global view over a file, and a self-contained HTML page.

    labeltune explain --model runs/sentiment --input reviews.csv --output runs/explain --method all --faithfulness
    labeltune.load("runs/sentiment").explain(["a gripping, funny film"])

Modules: probe.py (what is explained: a task hook builds it), targets.py (the four tasks' probes),
attribution.py (IG, gradient x input, occlusion), faithfulness.py (ERASER AOPC), globalview.py, page.py,
core.py (`explain`, `explain_file`), cli.py (the command's flags).
"""

from .core import ExplainOptions, explain, explain_file, explain_options

__all__ = ["ExplainOptions", "explain", "explain_file", "explain_options"]
