"""explain.html: one self-contained page (the shared labeltune/html.py helper; template explain.html.j2).

Server-side rendering colours each input's words for its first target and method, so the page reads without
JavaScript; the target and method selectors recolour from the attributions embedded as JSON.
"""

from __future__ import annotations

MAX_SHOWN = 200  # inputs drawn on the page; attributions.jsonl holds every one
MAX_MATRIX_COLUMNS = 60  # source words in an alignment heat map


def _prediction_text(pred: dict) -> str:
    if "label" in pred:
        return f"predicted {pred['label']} ({pred['score']:.3f})"
    if "labels" in pred:
        return "predicted " + (", ".join(pred["labels"]) or "no label")
    if "entities" in pred:
        return f"{len(pred['entities'])} entities: " + "; ".join(f"{e['text']} ({e['type']})" for e in pred["entities"])
    if "answer" in pred:
        return f"answer score {pred['score']:.3f}"
    return ""


def _detail(target: dict) -> str:
    bits = [f"log-prob {target['score']:.4f}"] + ([f"window {target['window'] + 1}"] if "window" in target else [])
    if "completeness_error" in target:
        bits.append(f"IG completeness error {100 * target['completeness_error']:.2f}% at {target['n_steps']} steps")
    return ", ".join(bits)


def _example(row: dict, methods: list[str]) -> dict:
    targets = row["targets"]
    first = targets[0]["attributions"][methods[0]] if targets else [0.0] * len(row["words"])
    scale = max([abs(s) for s in first if s is not None] + [1e-12])
    parts: dict = {}
    for k, (w, s) in enumerate(zip(row["words"], first)):  # s None: outside this target's window
        parts.setdefault(w["part"], []).append({"k": k, "text": w["text"], "score": s, "outside": w.get("outside")})
    info = row.get("info", {})
    ex = {"where": row["where"], "prediction": _prediction_text(row["prediction"]), "scale": scale,
          "targets": [t["name"] for t in targets] + (["all targets (total)"] if "word_totals" in row else []),
          "note": row.get("note", ""), "outside": row.get("outside_window", 0),
          "windows": info.get("windows", 1),
          "detail": _detail(targets[0]) if targets else "",
          "parts": [{"name": name, "words": words} for name, words in parts.items()],
          "answer": info.get("answer") or "", "translation": info.get("translation"),
          "corrections": info.get("word_recognition") or {},  # train --word-recognition: the words it changed
          "matrix": None, "row_labels": [], "col_labels": []}
    if "target_tokens" in info and targets:  # translation: output tokens x source words (those in the window)
        cols = [k for k, w in enumerate(row["words"]) if not w.get("outside")][:MAX_MATRIX_COLUMNS]
        ex["matrix"] = [[t["attributions"][methods[0]][k] for k in cols] for t in targets]
        ex["row_labels"] = [t["token"] for t in targets]
        ex["col_labels"] = [row["words"][k]["text"] for k in cols]
    return ex


def write_explain_page(path: str, rows: list[dict], summary: dict, pngs: dict, model: str) -> str:
    from ..html import png_to_data_uri, write_page

    methods = summary["methods"]
    shown = rows[:MAX_SHOWN]
    cards = {"inputs": summary["inputs"], "targets explained": summary["targets"], "precision": summary["precision"]}
    if "ig_completeness_error_mean" in summary:
        cards["IG completeness error (mean)"] = f"{100 * summary['ig_completeness_error_mean']:.2f}%"
        cards["IG targets over 5%"] = summary["ig_over_5_percent"]
    faith = summary.get("faithfulness") or {}
    table = [{"method": m, **v} for m, v in faith.get("table", {}).items()]
    if faith.get("most_faithful"):
        cards["most faithful"] = faith["most_faithful"]
    data = [{"targets": [{"attributions": t["attributions"], "detail": _detail(t)} for t in r["targets"]]
             + ([{"attributions": r["word_totals"], "detail": "each word's sum over all targets"}]
                if "word_totals" in r else [])} for r in shown]
    nav = [("Inputs", "examples")] + ([("Faithfulness", "faithfulness")] if table else []) + \
          ([("Global view", "global")] if pngs else [])
    return write_page(
        path, "explain.html.j2", title=f"labeltune explain: {summary['task']}", subtitle=f"model {model}", nav=nav,
        cards=cards, verdict=faith.get("verdict", ""), methods=methods, faithfulness=table,
        plots={m: png_to_data_uri(p) for m, p in pngs.items()}, min_count=summary.get("min_count", 3),
        examples=[_example(r, methods) for r in shown], shown=len(shown), total=len(rows), data=data,
    )
