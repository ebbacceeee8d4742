"""The global view: over a whole file, the words with the largest mean attribution per class / entity type.

A shortcut shows up here: a token that occurs in one class only and carries most of that class's attribution
(a user name, a template phrase, a label leaked into the text). Words are compared lower-cased; a word must
occur at least `min_count` times among one group's targets to be listed, so one-off words do not dominate.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import defaultdict

import numpy as np

from ..html import plain_text_figures


def global_view(rows: list[dict], method: str, min_count: int = 3, top: int = 15) -> dict:
    """{group: [{"word", "mean", "count"}, ...]} sorted by mean attribution, highest first."""
    sums: dict = defaultdict(lambda: defaultdict(list))
    for row in rows:
        for target in row["targets"]:
            scores = target.get("attributions", {}).get(method)
            if scores is None:
                continue
            for word, s in zip(row["words"], scores):
                if s is None:  # outside this target's window: the model did not see it
                    continue
                key = word["text"].lower()
                if any(ch.isalnum() for ch in key):  # punctuation alone says little about a class
                    sums[target["group"]][key].append(s)
    out = {}
    for group, words in sorted(sums.items()):
        ranked = [{"word": w, "mean": float(np.mean(v)), "count": len(v)}
                  for w, v in words.items() if len(v) >= min_count]
        ranked.sort(key=lambda r: -r["mean"])
        if ranked:
            out[group] = ranked[:top]
    return out


@plain_text_figures()  # words and class names drawn as written, not read as mathtext
def plot_global_view(view: dict, path: str, method: str, max_groups: int = 8) -> str:
    """One horizontal bar chart per group, side by side; saved as PNG at `path` (returned)."""
    import matplotlib.pyplot as plt  # the decorator has switched to Agg

    groups = list(view)[:max_groups]
    n_words = max(len(view[g]) for g in groups)
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups) + 0.6, 0.28 * n_words + 1.2), squeeze=False)
    with warnings.catch_warnings(record=True) as caught:  # a glyph the font lacks: one note, not one warning each
        warnings.simplefilter("always")
        for ax, g in zip(axes[0], groups):
            items = view[g][::-1]
            ax.barh([f"{r['word']} ({r['count']})" for r in items], [r["mean"] for r in items],
                    color=["#16a34a" if r["mean"] >= 0 else "#dc2626" for r in items])
            ax.set_title(str(g), fontsize=10)
            ax.tick_params(labelsize=8)
            ax.axvline(0, color="#888", lw=0.6)
        fig.suptitle(f"mean {method} attribution per word (occurrences)", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    missing = set()
    for w in caught:
        if m := re.search(r"Glyph \d+ \((.+?)\) missing from font", str(w.message)):
            missing.add(m.group(1))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        print(f"note: {path}: the plot's font has no glyph for {len(missing)} character(s) of the words, drawn as "
              "boxes; explain.html shows them", file=sys.stderr)
    return path
