"""Probes (see probe.py) for the four tasks; each task's `explain_probe` hook calls its builder here.

Targets, all log-probabilities (so that exp() is what ERASER compares):
* classification: log p(class) of the predicted class (or --target); multi-label: log sigmoid of each
  predicted label (the highest-scoring one when none reaches the threshold);
* NER: per predicted entity, the summed log-probability of its IOB2 tags (B-X, I-X, ...) over its words'
  first sub-words (where the model's word predictions are read);
* QA: log p(start) and log p(end) of the predicted answer (softmax over the window's positions), in the
  window that holds the answer; no answer: the null position (CLS);
* translation: each output token's log-probability given the source, teacher-forced on the tokens of the
  predicted translation, so one row of the alignment matrix per output token.

Long inputs are read as each task's predict reads them, so the explanation is of the prediction made:
classification and translation truncate at --max-length (predict does: one window), NER and QA use predict's
overlapping windows (--stride, --doc-stride) and explain each entity / the answer in the window it was read
from. Every word of the input is in the output; a word that a target's window does not hold has a null
attribution for it, and a word no explained window holds is marked "outside".
"""

from __future__ import annotations

import sys

import torch

from ..errors import UserError
from .probe import Probe, Word, baseline_token, complete_words, expand, group_words, run_model, warn_truncated


def _ids(rt, ids: list[int]) -> torch.Tensor:
    return torch.tensor([ids], dtype=torch.long, device=rt.device)


def _encoder_kwargs(ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> dict:
    kw = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if token_type_ids is not None:
        kw["token_type_ids"] = expand(token_type_ids, len(ids))
    return kw


# --- classification -----------------------------------------------------------------------------
def classification_probe(rt, example: dict, prediction: dict, target: str | None = None) -> Probe:
    tok, labels, multi = rt.tokenizer, rt.setup["labels"], rt.setup["multi_label"]
    if target is not None and target not in labels:
        raise UserError(f"--target {target}: not a label of this model (labels: {', '.join(labels)})")
    pair = example.get("text_pair")
    args = ([example["text"]], [pair] if pair is not None else None)
    # classification's predict truncates (one window, no overlap): explain the same window, mark the rest
    enc = tok(*args, truncation=True, max_length=rt.max_length, return_offsets_mapping=True)
    whole = tok(*args, return_offsets_mapping=True, verbose=False)
    warn_truncated(example["_where"], len(enc["input_ids"][0]), len(whole["input_ids"][0]), "as predict does")
    ids = _ids(rt, enc["input_ids"][0])
    tt = _ids(rt, enc["token_type_ids"][0]) if "token_type_ids" in enc else None
    parts, texts = {0: "text", 1: "text_pair"}, {"text": example["text"], "text_pair": pair}
    words, outside = complete_words(group_words(enc, 0, parts, texts), group_words(whole, 0, parts, texts))
    if target is not None:
        chosen = [target]
    elif multi:
        scores = prediction["scores"]
        chosen = prediction["labels"] or [max(scores, key=scores.get)]
    else:
        chosen = [prediction["label"]]
    index = [labels.index(c) for c in chosen]

    def forward(batch_ids):
        logits = run_model(rt, **_encoder_kwargs(batch_ids, tt)).logits.float()
        lp = torch.nn.functional.logsigmoid(logits) if multi else torch.log_softmax(logits, -1)
        return lp[:, index]

    targets = [{"name": c, "group": c, "label": c} for c in chosen]
    return Probe(ids, words, forward, targets, baseline_token(tok), {"prediction": prediction}, example["_where"],
                 outside)


# --- NER ----------------------------------------------------------------------------------------
def ner_probe(rt, example: dict, prediction: dict, target: str | None = None) -> list[Probe]:
    """One probe per window that holds an explained entity. The windows are predict's own (encode_windows:
    overlapping by --stride sub-words); an entity is explained in the window where its words sit farthest
    from a cut, which is where predict read them (predict reads each word from its own best window; they
    agree unless an entity straddles two windows' best halves). A word outside an entity's window gets no
    attribution for it (null): the model reading that entity never saw it."""
    from ..tasks.ner_windows import encode_windows, ensure_words

    tok, labels = rt.tokenizer, rt.setup["labels"]
    types = sorted({label[2:] for label in labels if label != "O"})
    if target is not None and target not in types:
        raise UserError(f"--target {target}: not an entity type of this model (types: {', '.join(types)})")
    ensure_words([example], tok)
    tokens = example["tokens"]
    if "offsets" in example:  # raw text: the words' character offsets in it
        offsets = example["offsets"]
    else:  # pre-tokenized: offsets into the tokens joined by spaces
        offsets, at = [], 0
        for t in tokens:
            offsets.append((at, at + len(t)))
            at += len(t) + 1
    windows = [_ner_window(f, tok, tokens, offsets) for f in encode_windows([example], tok, rt.max_length,
                                                                             rt.opts.stride)]
    label_id = {name: i for i, name in enumerate(labels)}
    chosen: dict[int, list] = {}  # window -> [(target, picks)]
    for ent in prediction["entities"]:
        if target is not None and ent["type"] != target:
            continue
        if "token_start" in ent:
            a, b = ent["token_start"], ent["token_end"]
        else:
            a = next(k for k, (s, _) in enumerate(offsets) if s == ent["start"])
            b = next(k for k, (_, e) in enumerate(offsets) if e == ent["end"]) + 1
        holding = [j for j, (_, _, context) in enumerate(windows) if all(w in context for w in range(a, b))]
        if not holding:  # longer than a window: no one model input reads all its words
            print(f"labeltune explain: {example['_where']}: entity {ent['text']!r} is longer than one window "
                  "(--max-length); not explained", file=sys.stderr)
            continue
        j = max(holding, key=lambda j: min(windows[j][2][w] for w in range(a, b)))
        first = windows[j][1]
        picks = [(first[w], label_id[("B-" if w == a else "I-") + ent["type"]]) for w in range(a, b)]
        chosen.setdefault(j, []).append(({"name": f"{ent['type']}: {ent['text']}", "group": ent["type"],
                                          "type": ent["type"], "entity": ent["text"], "words": [a, b]}, picks))
    every = [Word(t, s, e, "text", []) for t, (s, e) in zip(tokens, offsets)]
    info = {"prediction": prediction, "windows": len(windows)}
    probes = []
    for j in sorted(chosen) or [0]:  # no entity: the first window, so the row still lists the words
        label = f", window {j + 1} of {len(windows)}" if len(windows) > 1 else ""
        probes.append(_ner_window_probe(rt, windows[j][0], chosen.get(j, []), every, info, example["_where"] + label))
    return probes


def _ner_window(feature: dict, tok, tokens: list[str], offsets) -> tuple:
    """(feature with its Word list, {word: first sub-word position}, {word: context}) of one window. A word's
    sub-words run from its first to the next word's first; sub-words before the window's first word's are the
    tail of a word begun in the previous window (it belongs to this window's input too)."""
    ids = feature["input_ids"]
    lead, trail = _special_counts(tok)
    firsts = sorted(feature["_words"])  # (position, word, context)
    bounds = [k for k, _, _ in firsts] + [len(ids) - trail]
    spans = [(w, list(range(bounds[r], bounds[r + 1]))) for r, (_, w, _) in enumerate(firsts)]
    if firsts and firsts[0][0] > lead:
        spans.insert(0, (firsts[0][1] - 1, list(range(lead, firsts[0][0]))))
    words = [Word(tokens[w], offsets[w][0], offsets[w][1], "text", p) for w, p in spans]
    feature = dict(feature, words=words)
    return feature, {w: k for k, w, _ in firsts}, {w: c for _, w, c in firsts}


def _special_counts(tok) -> tuple[int, int]:
    """Special tokens before and after the words of a single sequence ([CLS] ... [SEP]: 1, 1)."""
    wids = tok([["x"]], is_split_into_words=True).word_ids(0)
    content = [k for k, w in enumerate(wids) if w is not None]
    return content[0], len(wids) - 1 - content[-1]


def _ner_window_probe(rt, feature, chosen, every, info, where) -> Probe:
    ids = _ids(rt, feature["input_ids"])
    tt = _ids(rt, feature["token_type_ids"]) if "token_type_ids" in feature else None
    seen = {(w.start, w.end) for w in feature["words"]}
    outside = [w for w in every if (w.start, w.end) not in seen]
    picks = [p for _, p in chosen]

    def forward(batch_ids):
        lp = torch.log_softmax(run_model(rt, **_encoder_kwargs(batch_ids, tt)).logits.float(), -1)
        cols = [sum(lp[:, p, k] for p, k in pick) for pick in picks]
        return torch.stack(cols, 1) if cols else lp.new_zeros(len(batch_ids), 0)

    return Probe(ids, feature["words"], forward, [t for t, _ in chosen], baseline_token(rt.tokenizer), info,
                 where, outside)


# --- QA -----------------------------------------------------------------------------------------
def qa_probe(rt, example: dict, prediction: dict, target: str | None = None) -> Probe:
    """The window predict took the answer from (of those holding it, the highest start + end logit, as
    best_span scores spans; no answer: the window whose null score predict used). Context words in no part
    of that window are outside: the model that placed the answer did not see them."""
    from ..tasks import get_task
    from ..tasks.qa_spans import answer_positions, tokenize

    if target is not None:
        raise UserError("--target applies to classification (a label) and NER (an entity type), not to QA")
    tok, q = rt.tokenizer, example["question"]
    unlabelled = {k: v for k, v in example.items() if k != "answers"}
    feats = get_task("qa").encode([unlabelled], tok, rt.setup, rt.opts, rt.max_length)  # predict's windows
    enc = tokenize([example], tok, rt.opts, rt.max_length)  # the same windows, with word ids
    answer = prediction.get("answer") or ""
    gold = {"is_impossible": not answer,
            "answers": [{"text": answer, "answer_start": prediction.get("start")}] if answer else []}
    candidates = []  # (score predict compared, window, start, end)
    for f, feat in enumerate(feats):
        start, end = answer_positions(gold, feat)
        if answer and start == feat["cls"]:
            continue  # this window does not hold the whole answer
        with torch.no_grad():
            out = run_model(rt, **_encoder_kwargs(_ids(rt, feat["input_ids"]), _tt(rt, feat)))
        score = float(out.start_logits[0, start] + out.end_logits[0, end])
        candidates.append((score if answer else -score, f, start, end))  # null: the lowest, as best_span
    if not candidates:  # cannot happen for an answer predict found; the first window's null position then
        candidates = [(0.0, 0, feats[0]["cls"], feats[0]["cls"])]
    _, f, start, end = max(candidates, key=lambda c: c[0])
    lead = len(q) - len(q.lstrip())  # tokenize() strips the question's leading spaces
    parts, texts = {0: "question", 1: "context"}, {"question": q, "context": example["context"]}
    whole = tok([q.lstrip()], [example["context"]], return_offsets_mapping=True, verbose=False)
    words, outside = complete_words(group_words(enc, f, parts, texts, shift={"question": -lead}),
                                    group_words(whole, 0, parts, texts, shift={"question": -lead}))
    ids, tt = _ids(rt, feats[f]["input_ids"]), _tt(rt, feats[f])

    def forward(batch_ids):
        out = run_model(rt, **_encoder_kwargs(batch_ids, tt))
        s, e = torch.log_softmax(out.start_logits.float(), -1), torch.log_softmax(out.end_logits.float(), -1)
        return torch.stack([s[:, start], e[:, end]], 1)

    what = "answer" if answer else "no answer (null position)"
    targets = [{"name": f"{what} start", "group": "start", "position": start},
               {"name": f"{what} end", "group": "end", "position": end}]
    info = {"prediction": prediction, "answer": answer, "window": f, "windows": len(feats)}
    return Probe(ids, words, forward, targets, baseline_token(tok), info, example["_where"], outside)


def _tt(rt, feature: dict) -> torch.Tensor | None:
    return _ids(rt, feature["token_type_ids"]) if "token_type_ids" in feature else None


# --- translation --------------------------------------------------------------------------------
MAX_TARGET_TOKENS = 64  # rows of the alignment matrix; each costs one attribution pass


def translation_probe(rt, example: dict, prediction: dict, target: str | None = None) -> Probe:
    from ..tasks.translation_models import _set_languages, _target_ids

    if target is not None:
        raise UserError("--target applies to classification (a label) and NER (an entity type), not to translation")
    tok, opts, setup, source = rt.tokenizer, rt.opts, rt.setup, example["source"]
    arch = setup["architecture"]
    gen = _target_ids([{"target": prediction["translation"]}], tok, arch, setup)[0][:MAX_TARGET_TOKENS]
    gen_t = _ids(rt, gen)
    if arch == "causal":
        before, after = opts.template_parts()
        head = tok(before, add_special_tokens=True)["input_ids"]
        tail = tok(after, add_special_tokens=False)["input_ids"] if after else []
        src = tok([source], add_special_tokens=False, return_offsets_mapping=True)
        budget = rt.max_length - len(head) - len(tail)
        warn_truncated(example["_where"], budget, len(src["input_ids"][0]), "as predict does")
        every = group_words(src, 0, {0: "source"}, {"source": source})
        words = [w for w in every if w.positions[0] < budget]
        outside = [Word(w.text, w.start, w.end, w.part, []) for w in every if w.positions[0] >= budget]
        for w in words:
            w.positions = [len(head) + p for p in w.positions if p < budget]
        prompt = head + src["input_ids"][0][:budget] + tail
        ids = _ids(rt, prompt + gen)
        first = len(prompt) - 1  # the logits at position i predict token i + 1

        def forward(batch_ids):
            lp = torch.log_softmax(run_model(rt, input_ids=batch_ids).logits[:, first:first + len(gen)].float(), -1)
            return lp.gather(2, gen_t.expand(len(batch_ids), -1).unsqueeze(2)).squeeze(2)
    else:
        _set_languages(tok, opts)
        text = opts.source_prefix + source
        enc = tok([text], truncation=True, max_length=rt.max_length, return_offsets_mapping=True)
        whole = tok([text], return_offsets_mapping=True, verbose=False)
        warn_truncated(example["_where"], len(enc["input_ids"][0]), len(whole["input_ids"][0]), "as predict does")
        shift = {"source": len(opts.source_prefix)}
        words, outside = complete_words(group_words(enc, 0, {0: "source"}, {"source": source}, shift),
                                        group_words(whole, 0, {0: "source"}, {"source": source}, shift))
        ids = _ids(rt, enc["input_ids"][0])
        start = rt.model.config.decoder_start_token_id
        decoder_in = _ids(rt, [start] + gen[:-1])

        def forward(batch_ids):
            out = run_model(rt, input_ids=batch_ids, attention_mask=torch.ones_like(batch_ids),
                            decoder_input_ids=expand(decoder_in, len(batch_ids)))
            lp = torch.log_softmax(out.logits.float(), -1)
            return lp.gather(2, gen_t.expand(len(batch_ids), -1).unsqueeze(2)).squeeze(2)

    names = tok.convert_ids_to_tokens(gen)
    targets = [{"name": f"{j}: {n}", "group": "translation", "token": n, "index": j} for j, n in enumerate(names)]
    info = {"prediction": prediction, "translation": prediction["translation"], "target_tokens": names}
    return Probe(ids, words, forward, targets, baseline_token(tok), info, example["_where"], outside)
