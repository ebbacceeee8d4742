"""QA windows and spans: question + context windows with the answer's token positions (training), and the
best span over all windows mapped back to characters of the context (prediction).

Split out of tasks/qa.py (QATask.encode, spans and predict call these).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError, flag

if TYPE_CHECKING:
    from .qa import QAOptions


# --- windows and labels -------------------------------------------------------------------------
def tokenize(examples, tokenizer, opts: QAOptions, max_length: int):
    """Question + context windows (context truncated only), overlapping by --doc-stride tokens."""
    questions = [e["question"].lstrip() for e in examples]  # leading spaces only waste window room
    q_lens = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    special = tokenizer.num_special_tokens_to_add(pair=True)
    for e, q in zip(examples, q_lens):
        room = max_length - q - special
        if room <= opts.doc_stride:
            # the question's own limit first: through `serve` the client can only shorten the question
            limit = max_length - special - opts.doc_stride - 1
            label = e["_where"] + (f" (id {e['id']})" if e.get("id") is not None else "")
            raise UserError(
                f"{label}: the question takes {q} tokens, leaving {room} of {flag('max_length')} {max_length} for the "
                f"context; {flag('doc_stride')} {opts.doc_stride} must be smaller than that: "
                + (f"shorten the question to at most {limit} tokens, or " if limit >= 1 else "")
                + "lower the stride or raise the maximum length (options of the model's run)"
            )
    return tokenizer(questions, [e["context"] for e in examples], truncation="only_second", max_length=max_length,
                     stride=opts.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)


def answer_positions(example: dict, feat: dict) -> tuple[int, int]:
    """Token indices of the first answer inside this window, or (cls, cls) when it is not wholly inside."""
    cls = feat["cls"]
    if example["is_impossible"]:
        return cls, cls
    ans = example["answers"][0]  # training uses the first gold answer, as SQuAD training files have one
    start_char, end_char = ans["answer_start"], ans["answer_start"] + len(ans["text"])
    ctx = [i for i, o in enumerate(feat["offsets"]) if o is not None]
    offsets = feat["offsets"]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return cls, cls
    start = max(i for i in ctx if offsets[i][0] <= start_char)
    end = min(i for i in ctx if offsets[i][1] >= end_char)
    return start, end


# --- postprocessing -----------------------------------------------------------------------------
def best_span(context: str, windows: list, opts: QAOptions) -> dict:
    """The highest-scoring valid span over all windows, and null score minus its score (for v2)."""
    best, null = None, float("inf")
    for feat, (start, end) in windows:
        offsets, cls = feat["offsets"], feat["cls"]
        null = min(null, float(start[cls] + end[cls]))  # the most confident "no answer" window, as run_qa
        starts = np.argsort(-start, kind="stable")[: opts.n_best]
        ends = np.argsort(-end, kind="stable")[: opts.n_best]
        for s in starts:
            if offsets[s] is None:
                continue
            for e in ends:
                if offsets[e] is None or e < s or e - s + 1 > opts.max_answer_length:
                    continue
                score = float(start[s] + end[e])
                if best is None or score > best[0]:
                    best = (score, offsets[s][0], offsets[e][1])
    if best is None:  # no valid span in any window (e.g. a context of whitespace): nothing to answer
        return {"text": "", "start": None, "end": None, "score": null, "null_diff": float("inf")}
    score, s, e = best
    return {"text": context[s:e], "start": s, "end": e, "score": score, "null_diff": null - score}


def as_prediction(example: dict, span: dict, rt) -> dict:
    """The JSON prediction: answer text, character span in the context, score; empty text for no answer."""
    no_answer = span["start"] is None or (
        rt.setup["version_2_with_negative"] and span["null_diff"] > rt.opts.null_threshold
    )
    out = {} if example["id"] is None else {"id": example["id"]}
    out |= {"answer": "" if no_answer else span["text"],
           "start": None if no_answer else span["start"], "end": None if no_answer else span["end"],
           "score": round(span["score"], 6)}
    if rt.setup["version_2_with_negative"]:
        out["null_score_diff"] = round(span["null_diff"], 6)
    return out

