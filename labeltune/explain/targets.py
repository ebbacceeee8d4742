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
"""

from __future__ import annotations

import torch

from ..errors import UserError
from .probe import Probe, Word, baseline_token, expand, group_words, run_model, warn_truncated


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
    enc = tok(*args, truncation=True, max_length=rt.max_length, return_offsets_mapping=True)
    warn_truncated(example["_where"], len(enc["input_ids"][0]), len(tok(*args)["input_ids"][0]), "as predict does")
    ids = _ids(rt, enc["input_ids"][0])
    tt = _ids(rt, enc["token_type_ids"][0]) if "token_type_ids" in enc else None
    words = group_words(enc, 0, {0: "text", 1: "text_pair"}, {"text": example["text"], "text_pair": pair})
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
    return Probe(ids, words, forward, targets, baseline_token(tok), {"prediction": prediction}, example["_where"])


# --- NER ----------------------------------------------------------------------------------------
def ner_probe(rt, example: dict, prediction: dict, target: str | None = None) -> Probe:
    from ..tasks.ner import ensure_words

    tok, labels = rt.tokenizer, rt.setup["labels"]
    types = sorted({label[2:] for label in labels if label != "O"})
    if target is not None and target not in types:
        raise UserError(f"--target {target}: not an entity type of this model (types: {', '.join(types)})")
    ensure_words([example], tok)
    tokens = example["tokens"]
    if "offsets" in example:  # raw text: the words' character offsets in it
        text, offsets = example["text"], example["offsets"]
    else:  # pre-tokenized: offsets into the tokens joined by spaces
        text, offsets, at = " ".join(tokens), [], 0
        for t in tokens:
            offsets.append((at, at + len(t)))
            at += len(t) + 1
    enc = tok([tokens], is_split_into_words=True, truncation=True, max_length=rt.max_length)
    full = len(tok([tokens], is_split_into_words=True)["input_ids"][0])
    warn_truncated(example["_where"], len(enc["input_ids"][0]), full, "entities past the limit are not explained")
    ids = _ids(rt, enc["input_ids"][0])
    tt = _ids(rt, enc["token_type_ids"][0]) if "token_type_ids" in enc else None
    positions: dict[int, list[int]] = {}
    for pos, w in enumerate(enc.word_ids(0)):
        if w is not None:
            positions.setdefault(w, []).append(pos)
    words = [Word(tokens[w], offsets[w][0], offsets[w][1], "text", p) for w, p in sorted(positions.items())]

    label_id = {name: i for i, name in enumerate(labels)}
    targets, picks = [], []  # picks: per target, [(first sub-word position, tag id)] over its words
    for ent in prediction["entities"]:
        if target is not None and ent["type"] != target:
            continue
        if "token_start" in ent:
            a, b = ent["token_start"], ent["token_end"]
        else:
            a = next(k for k, (s, _) in enumerate(offsets) if s == ent["start"])
            b = next(k for k, (_, e) in enumerate(offsets) if e == ent["end"]) + 1
        if any(w not in positions for w in range(a, b)):
            continue  # past the truncation (warned above)
        picks.append([(positions[w][0], label_id[("B-" if w == a else "I-") + ent["type"]]) for w in range(a, b)])
        targets.append({"name": f"{ent['type']}: {ent['text']}", "group": ent["type"], "type": ent["type"],
                        "entity": ent["text"], "words": [a, b]})

    def forward(batch_ids):
        lp = torch.log_softmax(run_model(rt, **_encoder_kwargs(batch_ids, tt)).logits.float(), -1)
        cols = [sum(lp[:, p, k] for p, k in pick) for pick in picks]
        return torch.stack(cols, 1) if cols else lp.new_zeros(len(batch_ids), 0)

    return Probe(ids, words, forward, targets, baseline_token(tok), {"prediction": prediction}, example["_where"])


# --- QA -----------------------------------------------------------------------------------------
def qa_probe(rt, example: dict, prediction: dict, target: str | None = None) -> Probe:
    from ..tasks.qa import answer_positions, tokenize

    if target is not None:
        raise UserError("--target applies to classification (a label) and NER (an entity type), not to QA")
    tok, q = rt.tokenizer, example["question"]
    enc = tokenize([example], tok, rt.opts, rt.max_length)
    answer = prediction.get("answer") or ""
    gold = {"is_impossible": not answer,
            "answers": [{"text": answer, "answer_start": prediction.get("start")}] if answer else []}
    windows = []
    for f in range(len(enc["input_ids"])):
        ids = enc["input_ids"][f]
        feat = {"cls": ids.index(tok.cls_token_id) if tok.cls_token_id in ids else 0,
                "offsets": [tuple(o) if s == 1 else None
                            for o, s in zip(enc["offset_mapping"][f], enc.sequence_ids(f))]}
        windows.append((f, *answer_positions(gold, feat), feat["cls"]))
    # the first window that holds the whole answer; no answer: the first window's null position
    f, start, end, _ = next((w for w in windows if answer and w[1] != w[3]), windows[0])
    lead = len(q) - len(q.lstrip())  # tokenize() strips the question's leading spaces
    words = group_words(enc, f, {0: "question", 1: "context"}, {"question": q, "context": example["context"]},
                        shift={"question": -lead})
    ids = _ids(rt, enc["input_ids"][f])
    tt = _ids(rt, enc["token_type_ids"][f]) if "token_type_ids" in enc else None

    def forward(batch_ids):
        out = run_model(rt, **_encoder_kwargs(batch_ids, tt))
        s, e = torch.log_softmax(out.start_logits.float(), -1), torch.log_softmax(out.end_logits.float(), -1)
        return torch.stack([s[:, start], e[:, end]], 1)

    what = "answer" if answer else "no answer (null position)"
    targets = [{"name": f"{what} start", "group": "start", "position": start},
               {"name": f"{what} end", "group": "end", "position": end}]
    info = {"prediction": prediction, "answer": answer, "window": f, "windows": len(enc["input_ids"])}
    return Probe(ids, words, forward, targets, baseline_token(tok), info, example["_where"])


# --- translation --------------------------------------------------------------------------------
MAX_TARGET_TOKENS = 64  # rows of the alignment matrix; each costs one attribution pass


def translation_probe(rt, example: dict, prediction: dict, target: str | None = None) -> Probe:
    from ..tasks.translation import _set_languages, _target_ids

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
        words = [w for w in group_words(src, 0, {0: "source"}, {"source": source}) if w.positions[0] < budget]
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
        warn_truncated(example["_where"], len(enc["input_ids"][0]), len(tok([text])["input_ids"][0]), "as predict does")
        words = group_words(enc, 0, {0: "source"}, {"source": source}, shift={"source": len(opts.source_prefix)})
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
    return Probe(ids, words, forward, targets, baseline_token(tok), info, example["_where"])
