"""Named-entity recognition: one tag per word, entities scored with seqeval in strict mode.

Inputs: CoNLL column files (blank line between sentences, `-DOCSTART-` starts a document), JSONL rows
with `tokens` and `tags` lists, or JSONL rows with raw `text` and character-offset entity spans.
Tags may be IOB1, IOB2 or BIOES (detected per file, or --scheme); everything is converted to IOB2
inside, so the saved model's id2label holds only O, B-X and I-X, which is what
`transformers.pipeline(..., aggregation_strategy="simple")` understands.

Sub-words: a word's label sits on its first sub-word (the others are -100 in the loss) unless
--label-all-subwords; predictions and metrics are always per word, never per sub-word.
Long inputs: the fast tokenizer cuts them into windows that overlap by --stride sub-words; each word's
prediction comes from the window where it sits farthest from a cut, so no word is dropped.
Raw text: words are the tokenizer's own pre-tokenized words (its word ids and offsets); an entity
span must start and end on word boundaries.

Parts: tasks/ner_tags.py (tag schemes, entity spans, metrics), tasks/ner_read.py (CoNLL and JSONL files),
tasks/ner_windows.py (words of raw text, sub-word windows); this file holds the options and the task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from ..batching import collate_encoder
from ..config import opt
from ..errors import UserError, flag
from ..inference import run_batches
from ..models import from_pretrained, prefix_space_for_words
# the helpers are importable from here, as before the split (tests, robustness, explain, outputs use them)
from .ner_read import JSON_EXTENSIONS, _is_jsonl, _tokens, read_conll, read_jsonl, read_text_lines  # noqa: F401
from .ner_tags import (detect_scheme, entity_metrics, entity_spans, from_iob2, parse_tag, repair_iob2,  # noqa: F401
                       to_iob2)
from .ner_windows import FAR, IGNORE, encode_windows, ensure_words  # noqa: F401

SCHEMES = ("auto", "io", "iob1", "iob2", "bioes")


@dataclass
class NEROptions:
    data_format: str = opt("auto", "auto | conll | jsonl | text (auto: .jsonl/.json/.ndjson/.parquet files and "
                                   "datasets directories are rows, else CoNLL; text: one raw text per line, "
                                   "prediction inputs only)")
    conll_token_index: int = opt(0, "CoNLL: column of the token (0 = first)")
    conll_tag_index: int = opt(-1, "CoNLL: column of the tag (-1 = last)")
    tokens_column: str = opt("tokens", "JSONL: field holding the list of tokens (pre-tokenized input)")
    tags_column: str = opt("tags", "JSONL: field holding the list of tags, one per token")
    text_column: str = opt("text", "JSONL: field holding raw text (read when the tokens field is absent)")
    spans_column: str = opt("entities", "JSONL: raw text's entity spans, [{start, end, label}] or [start, end, label]")
    doc_column: str = opt("doc", "JSONL: field naming a row's document; a document never straddles a split")
    tag_names: str = opt("", "comma-separated names of integer tags 0,1,..., e.g. 'O,B-PER,I-PER'")
    scheme: str = opt("auto", "auto | io | iob1 | iob2 | bioes (= bilou): the data's tag scheme (IOB2 is used "
                              "inside; io: bare types such as PER, a run of one type is one entity)")
    strict_tags: bool = opt(False, "refuse invalid tag sequences instead of repairing them as conlleval does")
    label_all_subwords: bool = opt(False, "train on every sub-word of a word, not only the first one")
    stride: int = opt(64, "long inputs: sub-words shared by consecutive windows (capped at half a window)")

    def __post_init__(self):
        if self.scheme.lower() == "bilou":  # BILOU (spaCy) is BIOES with L-/U- for E-/S- (ner_tags.parse_tag)
            self.scheme = "bioes"
        if self.scheme.lower() not in SCHEMES:
            raise UserError(f"{flag('scheme')} {self.scheme}: choose one of {', '.join(SCHEMES)}")
        if self.data_format not in ("auto", "conll", "jsonl", "text"):
            raise UserError(f"{flag('data_format')} {self.data_format}: choose auto, conll, jsonl or text")
        if self.stride < 0:
            raise UserError(f"{flag('stride')} must be >= 0")


# --- the task -----------------------------------------------------------------------------------
class NERTask:
    name = "ner"
    group_description = "document (or sentence)"  # what split_keys groups on (split.json); set by split_keys
    Options = NEROptions
    metric_names = ("entity_f1", "entity_precision", "entity_recall", "word_accuracy")  # for --metric's help
    long_inputs = "split into overlapping windows (--stride), not truncated"  # debug-data's note on long inputs
    onnx_outputs = ("logits",)  # the model outputs inference reads (labeltune export)

    def default_metric(self, opts) -> str:
        return "entity_f1"

    def read(self, path: str, opts: NEROptions, labelled: bool = True) -> list[dict]:
        if opts.data_format == "text":
            return read_text_lines(path, labelled)
        return read_jsonl(path, opts, labelled) if _is_jsonl(path, opts) else read_conll(path, opts, labelled)

    def row_problems(self, path: str, opts: NEROptions) -> list[str]:
        """Every bad line (CoNLL) or row (JSONL) of `path`, for `labeltune debug-data`: the same reader and checks
        as read(), which stops at the first; a problem with the whole file (no tag column, no row readable) raises."""
        problems = []
        examples = (read_jsonl if _is_jsonl(path, opts) else read_conll)(path, opts, True, problems)
        if problems and not examples:  # not one row reads: the file as a whole is wrong (another task's data?), and
            raise UserError(problems[0])  # debug-data reports read()'s first error with its did-you-mean hint
        return problems

    def as_examples(self, inputs, opts) -> list[dict]:
        """A string is raw text; a list of strings is one pre-tokenized sentence."""
        out = []
        for i, x in enumerate(inputs):
            loc = f"input {i}"
            if isinstance(x, dict):
                x = x.get(opts.tokens_column, x.get(opts.text_column))
            if isinstance(x, str):
                if not x.strip():
                    raise UserError(f"{loc}: empty text; remove the input or fill in the text")
                out.append({"text": x, "_where": loc})
            elif isinstance(x, (list, tuple)):
                out.append({"tokens": _tokens(list(x), loc, "tokens"), "_where": loc})
            else:
                raise UserError(f"{loc}: expected a string, a list of tokens, or a dict with "
                                f"'{opts.tokens_column}' or '{opts.text_column}'")
        return out

    def api_schema(self, opts):
        """`labeltune serve`: raw text (a string, or {text}) or a pre-tokenized sentence ({tokens}); the entities."""
        from pydantic import BaseModel, create_model

        item = create_model("NERInput", **{opts.text_column: (str | None, None), opts.tokens_column: (list[str] | None, None)})

        class Entity(BaseModel):
            text: str
            type: str
            score: float
            start: int | None = None  # raw text: character offsets
            end: int | None = None
            token_start: int | None = None  # tokens: token offsets
            token_end: int | None = None
            entity_group: str | None = None  # the same type and text under transformers pipeline()'s names
            word: str | None = None

        class NERPrediction(BaseModel):
            entities: list[Entity]
            tags: list[str] | None = None  # tokens: one IOB2 tag per token

        return str | item, NERPrediction

    def split_keys(self, examples):
        # the document is the group, so a split or fold never cuts a document in two; without documents
        # (CoNLL without -DOCSTART-, JSONL without --doc-column) the sentence is
        groups = [e.get("doc") or _sentence_key(e) for e in examples]
        with_docs = sum("doc" in e for e in examples)
        # what the groups were, for split.json (run.prepare_data reads it right after this call)
        self.group_description = ("document" if with_docs == len(examples) else
                                  "sentence (the data has no document markers)" if not with_docs else
                                  "document where given, else sentence")
        return groups, ["entities" if _types(e) else "none" for e in examples]

    def duplicate_keys(self, examples):
        # a duplicate is the same sentence, whatever document it sits in (debug-data's duplicates and overlap)
        return [_sentence_key(e) for e in examples]

    def setup(self, train: list[dict], opts) -> dict:
        types = sorted({t for e in train for t in _types(e)})
        if not types:
            raise UserError(f"{train[0]['_where'].split(',')[0]}: no entity in the training data (every tag is O); "
                            f"check {flag('conll_tag_index')} / {flag('tags_column')} / {flag('spans_column')}")
        labels = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
        schemes = sorted({e["_scheme"] for e in train if "_scheme" in e})
        return {"labels": labels, "scheme": "IOB2", "source_scheme": ",".join(schemes) or "spans"}

    def check(self, examples, setup, opts) -> None:
        known = {label[2:] for label in setup["labels"] if label != "O"}
        for e in examples:
            for t in _types(e):
                if t not in known:
                    raise UserError(f"{e['_where']}: entity type '{t}' does not occur in the training data "
                                    f"(known: {', '.join(sorted(known))}); fix the tag or add training examples")

    # --- model ----------------------------------------------------------------------------------
    def build_model(self, model_path: str, setup: dict, opts, cfg):
        from transformers import AutoModelForTokenClassification

        labels = setup["labels"]
        return from_pretrained(AutoModelForTokenClassification, model_path, trust_remote_code=cfg.trust_remote_code,
                               num_labels=len(labels), id2label=dict(enumerate(labels)),
                               label2id={name: i for i, name in enumerate(labels)})

    def load_model(self, directory: str, setup: dict, opts):
        from transformers import AutoModelForTokenClassification

        return from_pretrained(AutoModelForTokenClassification, directory)

    def encode(self, examples, tokenizer, setup, opts, max_length: int) -> list[dict]:
        ensure_words(examples, tokenizer)
        label_ids = {name: i for i, name in enumerate(setup["labels"])}
        return encode_windows(examples, tokenizer, max_length, opts.stride, label_ids, opts.label_all_subwords)

    def input_lengths(self, examples, tokenizer, setup, opts) -> list[int]:
        ensure_words(examples, prefix_space_for_words(tokenizer))
        enc = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def collate(self, features, tokenizer) -> dict:
        return collate_encoder(features, tokenizer.pad_token_id, label_pad=IGNORE)

    # --- inference and metrics ------------------------------------------------------------------
    def word_probabilities(self, rt, examples) -> list[np.ndarray]:
        """[words, labels] probabilities per example, each word read from its best window."""
        ensure_words(examples, rt.tokenizer)
        features = encode_windows(examples, rt.tokenizer, rt.max_length, rt.opts.stride)

        def outputs(out, batch):
            probs = torch.softmax(out.logits.float(), -1).cpu().numpy()
            return [p[: int(m.sum())] for p, m in zip(probs, batch["attention_mask"].cpu().numpy())]

        window_probs = run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs)
        n_labels = len(rt.setup["labels"])
        result = [np.zeros((len(e["tokens"]), n_labels), dtype=np.float32) for e in examples]
        best = [np.full(len(e["tokens"]), -1) for e in examples]
        for f, probs in zip(features, window_probs):
            i = f["_example"]
            for k, w, context in f["_words"]:
                if context > best[i][w]:
                    best[i][w] = context
                    result[i][w] = probs[k]
        return result

    def active_outputs(self, rt, examples, embed) -> list[dict]:
        """Active learning (labeltune/active.py): one unit per word ("probs": words x labels, each word read from
        its best window as in word_probabilities); "embedding": "head_input" per word (words x hidden) and the
        mean of the example's windows' "pooled" vectors."""
        ensure_words(examples, rt.tokenizer)
        features = encode_windows(examples, rt.tokenizer, rt.max_length, rt.opts.stride)

        def outputs(out, batch):
            probs = torch.softmax(out.logits.float(), -1).cpu().numpy()
            return list(zip(probs, embed(out, batch)))

        windows = run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs)
        out = [{"probs": np.zeros((len(e["tokens"]), len(rt.setup["labels"])), dtype=np.float32), "best": None,
                "head": None, "pooled": []} for e in examples]
        for f, (probs, emb) in zip(features, windows):
            o = out[f["_example"]]
            if o["head"] is None:
                o["head"] = np.zeros((len(o["probs"]), emb["head_input"].shape[-1]), dtype=np.float32)
                o["best"] = np.full(len(o["probs"]), -1)
            o["pooled"].append(emb["pooled"])
            for k, w, context in f["_words"]:
                if context > o["best"][w]:
                    o["best"][w], o["probs"][w], o["head"][w] = context, probs[k], emb["head_input"][k]
        return [{"probs": o["probs"], "embedding": {"head_input": o["head"], "pooled": np.mean(o["pooled"], 0)}}
                for o in out]

    def label_quality(self, rt, examples, shown=None) -> list[list[dict]]:
        """`labeltune label-issues`: per example one unit per word: its tag probabilities and the given tag's index;
        its words are those of `shown` (the user's rows, where the network reads corrected copies) where they
        split into as many words."""
        if not examples:  # the check-only call label-issues makes before training any fold
            return []
        probs = self.word_probabilities(rt, examples)  # also gives raw-text examples their words and tags
        if shown:
            ensure_words(shown, rt.tokenizer)
        words = [s["tokens"] if shown and len(s["tokens"]) == len(e["tokens"]) else e["tokens"]
                 for e, s in zip(examples, shown or examples)]
        labels, name = rt.setup["labels"], str
        if rt.setup.get("source_scheme") == "IO":  # IO data: B-X and I-X are one tag, the bare type X, in the file
            name = lambda tag: tag.split("-", 1)[-1]  # noqa: E731  ("O" stays "O")
            classes = list(dict.fromkeys(name(t) for t in labels))
            merge = np.zeros((len(labels), len(classes)), dtype=np.float32)
            merge[np.arange(len(labels)), [classes.index(name(t)) for t in labels]] = 1
            probs, labels = [p @ merge for p in probs], classes
        index = {tag: i for i, tag in enumerate(labels)}
        return [[{"probs": p[w], "given": index[name(tag)], "unit": f"word {w + 1}: {ws[w]}", "text": " ".join(ws),
                  "classes": labels}
                 for w, tag in enumerate(e.get("tags", [])) if name(tag) in index]
                for e, ws, p in zip(examples, words, probs)]

    def _decode(self, rt, probs: list[np.ndarray]) -> list[tuple[list[str], list[float]]]:
        labels = rt.setup["labels"]
        out = []
        for p in probs:
            ids = p.argmax(-1)
            out.append((repair_iob2([labels[k] for k in ids]), [float(p[w, k]) for w, k in enumerate(ids)]))
        return out

    def _prediction(self, e: dict, tags: list[str], scores: list[float], scheme: str = "IOB2") -> dict:
        """One row's entities, and for word input its tags written in the training file's scheme."""
        entities = []
        for typ, a, b in entity_spans(tags):
            score = round(float(np.mean(scores[a:b])), 6)
            if "text" in e:  # raw text: character offsets into it
                start, end = e["offsets"][a][0], e["offsets"][b - 1][1]
                entities.append({"text": e["text"][start:end], "type": typ, "start": start, "end": end, "score": score})
            else:
                entities.append({"text": " ".join(e["tokens"][a:b]), "type": typ, "token_start": a, "token_end": b,
                                 "score": score})
            # the names transformers' token-classification pipeline uses, for code written against it
            entities[-1].update(entity_group=typ, word=entities[-1]["text"])
        if "text" in e:
            return {"entities": entities}
        return {"tags": from_iob2(tags, scheme), "entities": entities}

    def predict(self, rt, examples) -> list[dict]:
        decoded = self._decode(rt, self.word_probabilities(rt, examples))
        scheme = rt.setup.get("source_scheme", "IOB2")
        return [self._prediction(e, tags, scores, scheme) for e, (tags, scores) in zip(examples, decoded)]

    def evaluate(self, rt, examples) -> tuple[dict, list[dict]]:
        decoded = self._decode(rt, self.word_probabilities(rt, examples))
        metrics = entity_metrics([e["tags"] for e in examples], [tags for tags, _ in decoded])
        scheme = rt.setup.get("source_scheme", "IOB2")
        return metrics, [self._prediction(e, tags, scores, scheme) for e, (tags, scores) in zip(examples, decoded)]

    def report_view(self, rows, setup) -> dict:
        """The run report's worst errors (labeltune/report/views.py)."""
        from ..report.views import ner_view

        return ner_view(rows, setup)

    def report(self, train, validation, tokenizer, opts, max_length) -> dict:
        out = {"internal_scheme": "IOB2"}
        for split, examples in (("train", train), ("validation", validation)):
            if not examples:
                continue
            ensure_words(examples, tokenizer)
            out[f"{split}_tag_scheme"] = ",".join(sorted({e.get("_scheme", "spans") for e in examples}))
            counts = Counter(t for e in examples for t in _entity_types(e))
            out[f"{split}_entity_counts"] = dict(sorted(counts.items()))
            issues = [msg.split(": ", 1) for e in examples for msg in e.get("_issues", [])]
            out[f"{split}_invalid_tag_sequences"] = len(issues)
            if issues:  # every one, by file and line: they are what a user fixes
                out[f"{split}_invalid_tag_sequence_list"] = dict(issues)
            features = encode_windows(examples, tokenizer, max_length, opts.stride)
            windows = Counter(f["_example"] for f in features)
            out[f"{split}_split_into_windows"] = sum(n > 1 for n in windows.values())
            unk = _unk_words(examples, tokenizer)
            if unk:
                out[f"{split}_words_without_subwords"] = unk
        if validation:
            unseen = {t for e in validation for t in _types(e)} - {t for e in train for t in _types(e)}
            out["validation_types_unseen_in_train"] = sorted(unseen)
        return out

    def perturb(self, example, editor, rng) -> dict:
        """`labeltune robustness` and `train --augment`: words edited, tags follow their words, spans re-offset."""
        from ..robustness.probes import perturb_ner

        return perturb_ner(example, editor, rng)

    def restore(self, example, fixed, prediction) -> dict:
        """`train --word-recognition`: a prediction on the corrected copy `fixed` of `example` with the user's
        words: entity texts (and raw text's character offsets) are the user's (were the corrected copy's)."""
        from ..robustness.wordfix import span_back

        back = span_back(example["text"], fixed["text"]) if "text" in example else None
        entities = []
        for ent in prediction["entities"]:
            if back is not None:
                start, end = back(ent["start"], ent["end"])
                ent = dict(ent, start=start, end=end, text=example["text"][start:end])
            else:
                ent = dict(ent, text=" ".join(example["tokens"][ent["token_start"]:ent["token_end"]]))
            entities.append(dict(ent, word=ent["text"]))
        return dict(prediction, entities=entities)

    def extra_perturbations(self) -> list:
        """`labeltune robustness`: entities swapped for unseen names of the same type."""
        from ..robustness.probes import NER_SPECIALS

        return NER_SPECIALS

    def attack_scores(self, rt, examples) -> list[tuple[float, bool]]:
        """`labeltune robustness --attack`: per example the gold tags' mean probability and whether every word's tag
        is right (labeltune/robustness/scores.py)."""
        from ..robustness.scores import ner_scores

        return ner_scores(self, rt, examples)

    def explain_probe(self, rt, example, prediction, target=None):
        """`labeltune explain`: model input, words and target scores of one example (labeltune/explain/targets.py)."""
        from ..explain.targets import ner_probe

        return ner_probe(rt, example, prediction, target)


def _sentence_key(e: dict) -> tuple:
    return tuple(e["tokens"]) if "tokens" in e else (e["text"].strip(),)


def _types(e: dict) -> set[str]:
    if "spans" in e:
        return {label for _, _, label in e["spans"]}
    return {t[2:] for t in e.get("tags", []) if t != "O"}


def _entity_types(e: dict) -> list[str]:
    return [t for t, _, _ in entity_spans(e["tags"])] if "tags" in e else [s[2] for s in e.get("spans", [])]


def _unk_words(examples, tokenizer) -> dict[str, str]:
    """Words the tokenizer turns into no sub-word at all (read as the unknown token), by location."""
    enc = prefix_space_for_words(tokenizer)([e["tokens"] for e in examples], is_split_into_words=True, verbose=False)
    out = {}
    for i, e in enumerate(examples):
        have = set(enc.word_ids(i))
        out.update({f"{e['_where']}, word {k}": repr(t) for k, t in enumerate(e["tokens"]) if k not in have})
    return out
