"""Text classification: binary, multi-class, multi-label, and sentence pairs.

Single-label models train with cross-entropy and predict the arg-max; multi-label models train with a
sigmoid per label (binary cross-entropy) and predict every label whose probability reaches --threshold.
Label names travel in the model config (id2label), so `transformers.pipeline` shows the same labels.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from ..batching import collate_encoder
from ..config import opt
from ..data.readers import canonical_text, is_blank, read_lines, read_table, separated_header
from ..errors import UserError
from ..inference import run_batches
from ..models import from_pretrained


@dataclass
class ClassificationOptions:
    text_column: str = opt("text", "column holding the text to classify")
    text_pair_column: str | None = opt(None, "column holding the second text of a sentence pair")
    label_column: str = opt("label", "column holding the label (a name or an integer; a list for multi-label)")
    multi_label: bool = opt(False, "each text may have several labels (sigmoid per label)")
    label_delimiter: str = opt("", "for multi-label: the separator inside a label string, e.g. ',' or '|'")
    label_names: str = opt("", "comma-separated names for integer labels 0,1,..., e.g. 'negative,positive'")
    threshold: float = opt(0.5, "for multi-label: predict each label whose probability is at least this")
    calibrate: bool = opt(False, "single-label: after training, fit a temperature on validation (temperature "
                                 "scaling); predictions then give calibrated probabilities")

    def __post_init__(self):
        if self.calibrate and self.multi_label:  # (was refused after the whole run, at calibration)
            from ..errors import flag

            raise UserError(f"{flag('calibrate')}: temperature scaling is for single-label models; drop it with "
                            f"{flag('multi_label')}")


class ClassificationTask:
    name = "classification"
    group_description = "identical input"  # what split_keys groups on (recorded in split.json)
    Options = ClassificationOptions
    metric_names = ("accuracy", "macro_f1", "micro_f1", "subset_accuracy (multi-label)")  # for --metric's help
    onnx_outputs = ("logits",)  # the model outputs inference reads (labeltune export)

    def default_metric(self, opts) -> str:
        return "micro_f1" if opts.multi_label else "accuracy"

    # --- data -----------------------------------------------------------------------------------
    def read(self, path: str, opts: ClassificationOptions, labelled: bool = True) -> list[dict]:
        if str(path).lower().endswith(".txt"):
            return _read_text_lines(path, opts, labelled)
        table = read_table(path)
        table.require(opts.text_column, "--text-column")
        if opts.text_pair_column:
            table.require(opts.text_pair_column, "--text-pair-column")
        if labelled:
            table.require(opts.label_column, "--label-column")
        names = [canonical_text(n) for n in opts.label_names.split(",")] if opts.label_names else None
        examples = []
        for i, row in enumerate(table.rows):
            loc = table.where(i)
            ex = {"text": _text(row[opts.text_column], loc, opts.text_column), "_where": loc}
            if opts.text_pair_column:
                ex["text_pair"] = _text(row[opts.text_pair_column], loc, opts.text_pair_column)
            if labelled:
                try:
                    ex["labels"] = _labels(row[opts.label_column], loc, opts, names)
                except UserError as e:  # an empty label in what looks like multi-label data: a row with no label
                    hint = None if opts.multi_label else multi_label_hint(
                        list({lab for x in examples for lab in x["labels"]}))
                    unlabelled = table.no_label.get(opts.label_column)
                    if unlabelled:  # a hub test split (GLUE's): every label -1, read as empty
                        hint = (f"it is -1, `datasets`' 'no label' ({unlabelled} such row(s); a hub test split has no "
                                "labels): predict reads them; to train or evaluate keep the labelled rows, e.g. "
                                f"ds.filter(lambda r: r['{opts.label_column}'] != -1)")
                    raise UserError(f"{e}; {hint}" if hint and "empty label" in str(e) else str(e)) from None
            examples.append(ex)
        return examples

    def row_problems(self, path: str, opts: ClassificationOptions) -> list[str]:
        """Every bad row of `path` (read() stops at the first), for `labeltune debug-data`."""
        table = read_table(path)
        table.require(opts.text_column, "--text-column")
        table.require(opts.label_column, "--label-column")
        names = [canonical_text(n) for n in opts.label_names.split(",")] if opts.label_names else None
        out = []
        for i, row in enumerate(table.rows):
            loc = table.where(i)
            for column, check in ((opts.text_column, lambda v: _text(v, loc, opts.text_column)),
                                  (opts.label_column, lambda v: _labels(v, loc, opts, names))):
                try:
                    check(row[column])
                except UserError as e:
                    out.append(str(e))
        return out

    def as_examples(self, inputs, opts) -> list[dict]:
        # a pair model needs both texts and a one-text model one: the other shape would be predicted all the same,
        # on an input the model was never trained on (a pair model given a string, a one-text model a tuple)
        pair, out = opts.text_pair_column, []
        shape = (f"a (text, text_pair) pair or a dict with '{opts.text_column}' and '{pair}'" if pair else
                 f"a string or a dict with '{opts.text_column}'")
        for i, x in enumerate(inputs):
            loc = f"input {i}"
            if isinstance(x, dict) and not pair and "text_pair" in x:  # (was dropped in silence; serve says 422)
                raise UserError(f"{loc}: 'text_pair' given, but this model classifies one text per input (trained "
                                f"without --text-pair-column): give {shape}")
            if isinstance(x, dict) and opts.text_column in x and (not pair or pair in x):
                texts = [(x[opts.text_column], opts.text_column)] + ([(x[pair], pair)] if pair else [])
            elif isinstance(x, str) and not pair:
                texts = [(x, "text")]
            elif isinstance(x, (tuple, list)) and len(x) == 2 and pair:
                texts = [(x[0], "text"), (x[1], "text_pair")]
            else:
                what = "a string" if isinstance(x, str) else f"a sequence of {len(x)}" if isinstance(x, (tuple, list)) else \
                    f"a dict with {', '.join(map(repr, x)) or 'no keys'}" if isinstance(x, dict) else type(x).__name__
                trained = f"sentence pairs ('{opts.text_column}', '{pair}')" if pair else "one text per input"
                raise UserError(f"{loc}: got {what}; this model classifies {trained}: give {shape}")
            ex = {"text": _text(texts[0][0], loc, texts[0][1]), "_where": loc}
            if pair:
                ex["text_pair"] = _text(texts[1][0], loc, texts[1][1])
            out.append(ex)
        return out

    def api_schema(self, opts):
        """`labeltune serve`: one input (a text, or an object with the text columns) and one prediction."""
        from pydantic import BaseModel, create_model

        fields = {opts.text_column: (str, ...)} | ({opts.text_pair_column: (str, ...)} if opts.text_pair_column else {})
        item = create_model("ClassificationInput", **fields)

        class ClassificationPrediction(BaseModel):
            label: str | None = None  # single-label: the arg-max, with its probability in score
            score: float | None = None
            labels: list[str] | None = None  # multi-label: every label at or above --threshold
            scores: dict[str, float]

        return (item if opts.text_pair_column else str | item), ClassificationPrediction

    def split_keys(self, examples):
        # identical texts form one group, so a duplicate never sits on both sides of a split
        groups = [(e["text"], e.get("text_pair")) for e in examples]
        return groups, ["|".join(e["labels"]) for e in examples]

    def setup(self, train: list[dict], opts) -> dict:
        counts = Counter(label for e in train for label in e["labels"])
        labels = sorted(counts, key=_label_key)
        if opts.label_names:  # the user's order: index i is the i-th name
            labels = [canonical_text(n) for n in opts.label_names.split(",")]
        if len(counts) < 2:
            raise UserError(
                f"{train[0]['_where'].split(',')[0]}: every training example has the label {sorted(counts)}; "
                "a classifier needs at least two classes"
            )
        if not opts.multi_label:
            hint = multi_label_hint(list(counts))
            if hint:
                print(f"classification: {hint}", file=sys.stderr)
        return {"labels": labels, "multi_label": opts.multi_label}

    def saved_setup(self, setup: dict) -> dict:
        """The setup of a saved model as this version reads labels: a model trained before label names were
        NFC'd keeps an NFD name ("ne\u0301gatif"), which the NFC gold labels of its own data never matched."""
        return dict(setup, labels=[canonical_text(n) for n in setup["labels"]])

    def check(self, examples, setup, opts) -> None:
        known = set(setup["labels"])
        for e in examples:
            for label in e.get("labels", []):
                if label not in known:
                    raise UserError(
                        f"{e['_where']}: label '{label}' does not occur in the training data "
                        f"(known: {', '.join(setup['labels'])}); fix the label or add training examples of it"
                    )

    # --- model ----------------------------------------------------------------------------------
    def build_model(self, model_path: str, setup: dict, opts, cfg):
        from transformers import AutoModelForSequenceClassification

        labels = setup["labels"]
        return from_pretrained(
            AutoModelForSequenceClassification,
            model_path,
            trust_remote_code=cfg.trust_remote_code,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            problem_type="multi_label_classification" if setup["multi_label"] else "single_label_classification",
        )

    def load_model(self, directory: str, setup: dict, opts):
        from transformers import AutoModelForSequenceClassification

        if "few_shot" in setup:  # encoder + mean pooling + linear head (labeltune/fewshot.py)
            from ..fewshot import load

            return load(directory, setup)
        return from_pretrained(AutoModelForSequenceClassification, directory)

    def label_quality(self, rt, examples, shown=None) -> list[list[dict]]:
        """`labeltune label-issues`: per example one unit, its class probabilities and the given label's index;
        its text is that of `shown` (the user's rows, where the network reads corrected copies)."""
        if rt.setup["multi_label"]:
            from ..errors import flag

            raise UserError(f"{flag('multi_label')}: label issues are found in data with one label per row; "
                            "multi-label data is not supported. To check one label, give a column of that label "
                            "alone (e.g. yes/no) and leave --multi-label out")
        if not examples:  # the check-only call label-issues makes before training any fold
            return []
        index = {name: i for i, name in enumerate(rt.setup["labels"])}
        probs = self.probabilities(rt, examples)
        return [[{"probs": p, "given": index[e["labels"][0]],
                  "text": e["text"] + (f" || {e['text_pair']}" if "text_pair" in e else "")}]
                for e, p in zip(shown or examples, probs)]

    def few_shot(self, cfg, model_path, train, setup, opts, tokenizer, max_length):
        """--few-shot: SetFit's recipe instead of the training loop (labeltune/fewshot.py)."""
        from ..fewshot import train as train_few_shot

        return train_few_shot(cfg, model_path, train, setup, opts, tokenizer, max_length)

    def encode(self, examples, tokenizer, setup, opts, max_length: int) -> list[dict]:
        pairs = [e["text_pair"] for e in examples] if "text_pair" in examples[0] else None
        enc = tokenizer([e["text"] for e in examples], pairs, truncation=True, max_length=max_length)
        index = {name: i for i, name in enumerate(setup["labels"])}
        features = []
        for i, e in enumerate(examples):
            f = {"input_ids": enc["input_ids"][i]}
            if "token_type_ids" in enc:
                f["token_type_ids"] = enc["token_type_ids"][i]
            if "labels" in e:
                if setup["multi_label"]:
                    vec = [0.0] * len(index)
                    for label in e["labels"]:
                        vec[index[label]] = 1.0
                    f["labels"] = vec
                else:
                    f["labels"] = index[e["labels"][0]]
            features.append(f)
        return features

    def input_lengths(self, examples, tokenizer, setup, opts) -> list[int]:
        pairs = [e["text_pair"] for e in examples] if "text_pair" in examples[0] else None
        return [len(ids) for ids in tokenizer([e["text"] for e in examples], pairs)["input_ids"]]

    def collate(self, features, tokenizer) -> dict:
        return collate_encoder(features, tokenizer.pad_token_id)

    # --- inference and metrics ------------------------------------------------------------------
    def probabilities(self, rt, examples) -> np.ndarray:
        features = self.encode(examples, rt.tokenizer, rt.setup, rt.opts, rt.max_length)

        def outputs(out, batch):
            logits = out.logits.float() / rt.setup.get("temperature", 1.0)  # 1.0 unless --calibrate fitted one
            p = torch.sigmoid(logits) if rt.setup["multi_label"] else torch.softmax(logits, -1)
            return list(p.cpu().numpy())

        return np.stack(run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs))

    def active_outputs(self, rt, examples, embed) -> list[dict]:
        """Active learning (labeltune/active.py): per example "probs" (units x classes: one unit, or one
        binary unit [1 - p, p] per label when multi-label) and "embedding", `embed`'s dict for its row."""
        features = self.encode(examples, rt.tokenizer, rt.setup, rt.opts, rt.max_length)

        def outputs(out, batch):
            logits = out.logits.float()
            if rt.setup["multi_label"]:
                p = torch.sigmoid(logits)
                units = torch.stack([1 - p, p], -1)
            else:
                units = torch.softmax(logits, -1)[:, None, :]
            return [{"probs": u, "embedding": e} for u, e in zip(units.cpu().numpy(), embed(out, batch))]

        return run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs)

    def predict(self, rt, examples) -> list[dict]:
        return self._predictions(rt, self.probabilities(rt, examples))

    def _predictions(self, rt, probs) -> list[dict]:
        labels = rt.setup["labels"]
        out = []
        for p in probs:
            scores = {name: round(float(s), 6) for name, s in zip(labels, p)}
            if rt.setup["multi_label"]:
                chosen = [name for name, s in zip(labels, p) if s >= rt.opts.threshold]
                out.append({"labels": chosen, "scores": scores})
            else:
                k = int(p.argmax())
                out.append({"label": labels[k], "score": round(float(p[k]), 6), "scores": scores})
        return out

    def evaluate(self, rt, examples) -> tuple[dict, list[dict]]:
        probs = self.probabilities(rt, examples)
        labels = rt.setup["labels"]
        if rt.setup["multi_label"]:
            gold = np.array([[name in e["labels"] for name in labels] for e in examples], dtype=int)
            metrics = multilabel_metrics(gold, (probs >= rt.opts.threshold).astype(int), labels)
        else:
            index = {name: i for i, name in enumerate(labels)}
            gold = np.array([index[e["labels"][0]] for e in examples])
            metrics = single_label_metrics(gold, probs.argmax(-1), labels)
        return metrics, self._predictions(rt, probs)

    def calibrate(self, rt, validation) -> dict | None:
        """--calibrate: temperature scaling fitted on validation; kept in the setup, so predictions use it."""
        if not rt.opts.calibrate:
            return None
        if rt.setup["multi_label"]:
            raise UserError("--calibrate: temperature scaling is for single-label models; drop it with --multi-label")
        from ..report.calibration import fit_temperature

        index = {name: i for i, name in enumerate(rt.setup["labels"])}
        fitted = fit_temperature(self.probabilities(rt, validation), np.array([index[e["labels"][0]] for e in validation]))
        rt.setup["temperature"] = fitted["temperature"]
        return fitted

    def report_view(self, rows, setup) -> dict:
        """The run report's errors and calibration (labeltune/report/views.py)."""
        from ..report.views import classification_view

        return classification_view(rows, setup)

    def report(self, train, validation, tokenizer, opts, max_length) -> dict:
        out = {}
        for split, examples in (("train", train), ("validation", validation)):
            if examples:
                counts = Counter(label for e in examples for label in e["labels"])
                out[f"{split}_label_counts"] = dict(sorted(counts.items(), key=lambda kv: _label_key(kv[0])))
        if validation:
            unseen = sorted({lab for e in validation for lab in e["labels"]} - {lab for e in train for lab in e["labels"]})
            out["validation_labels_unseen_in_train"] = unseen
        return out

    def perturb(self, example, editor, rng) -> dict:
        """`labeltune robustness` and `train --augment`: the text (and text pair) edited, the labels kept."""
        out = dict(example, text=editor.text(example["text"], rng)[0])
        if "text_pair" in example:
            out["text_pair"] = editor.text(example["text_pair"], rng)[0]
        return out

    def attack_scores(self, rt, examples) -> list[tuple[float, bool]]:
        """`labeltune robustness --attack`: per example, the score an attack drives down (the gold label's
        probability; multi-label: the least confident correct decision) and whether the prediction is still right."""
        probs = self.probabilities(rt, examples)
        index = {name: i for i, name in enumerate(rt.setup["labels"])}
        out = []
        for e, p in zip(examples, probs):
            if rt.setup["multi_label"]:
                gold = np.zeros(len(p))
                gold[[index[label] for label in e["labels"]]] = 1
                sure = np.where(gold == 1, p, 1 - p)
                out.append((float(sure.min()), bool(((p >= rt.opts.threshold) == (gold == 1)).all())))
            else:
                g = index[e["labels"][0]]
                out.append((float(p[g]), int(p.argmax()) == g))
        return out

    def explain_probe(self, rt, example, prediction, target=None):
        """`labeltune explain`: model input, words and target scores of one example (labeltune/explain/targets.py)."""
        from ..explain.targets import classification_probe

        return classification_probe(rt, example, prediction, target)


def single_label_metrics(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=ids, zero_division=0)
    return {
        "accuracy": float((gold == pred).mean()),
        "macro_f1": float(f1_score(gold, pred, labels=ids, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(gold, pred, labels=ids, average="micro", zero_division=0)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(labels)
        },
        "confusion_matrix": {"labels": labels, "rows_gold_cols_pred": confusion_matrix(gold, pred, labels=ids).tolist()},
        "n": int(len(gold)),
    }


def multilabel_metrics(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(gold, pred, zero_division=0)
    return {
        "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        "subset_accuracy": float((gold == pred).all(axis=1).mean()),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(labels)
        },
        "n": int(len(gold)),
    }


def _text(value, loc: str, column: str) -> str:
    if is_blank(value):
        what = "empty text" if value is None or not value.strip() else "text of invisible characters only (" + \
            ", ".join(sorted({f"U+{ord(c):04X}" for c in value if not c.isspace()})[:3]) + ")"
        raise UserError(f"{loc}: {what} in column '{column}'; remove the row or fill in the text")
    if not isinstance(value, str):
        raise UserError(f"{loc}: column '{column}' holds {type(value).__name__} {value!r}, expected a string")
    return value


def _labels(value, loc: str, opts: ClassificationOptions, names: list[str] | None) -> list[str]:
    """A row's labels as a list of strings (one element unless multi-label)."""
    if opts.multi_label:
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise UserError(f"{loc}: label {value!r} looks like a list but is not valid JSON") from None
        if isinstance(value, str):
            if not opts.label_delimiter:
                raise UserError(f"{loc}: multi-label string {value!r}: set --label-delimiter (e.g. ',') or give a list")
            value = [v for v in value.split(opts.label_delimiter)]
        if not isinstance(value, list):
            value = [value]
        if len(value) > len(set(value)) and all(isinstance(v, (int, float)) and v in (0, 1) for v in value):
            # a multi-hot vector (one 0/1 per class, as sklearn and many exports write it) read as class ids was
            # the two classes "0" and "1" for every row, without a word; a list of labels names each one once
            raise UserError(f"{loc}: label {value!r:.80} looks like a multi-hot vector (a 0/1 per class); give the "
                            "labels present as names, e.g. [names[i] for i, v in enumerate(row) if v], or as class ids "
                            "with --label-names")
        values = [_one_label(v, loc, names) for v in value if not (isinstance(v, str) and not v.strip())]
        return sorted(set(values), key=_label_key)
    if isinstance(value, list):
        raise UserError(f"{loc}: label is a list {value!r}; pass --multi-label for multi-label data")
    return [_one_label(value, loc, names)]


def _read_text_lines(path: str, opts: ClassificationOptions, labelled: bool) -> list[dict]:
    """A .txt of inputs to predict, one text per line (no header; a blank line is refused, so output row N is
    input line N). Labelled data needs a table: a label has no place on a line of text."""
    lines = read_lines(path, "in a .txt every line is a text (remove it or fill it in)")
    header = separated_header(lines[0][0]) if lines else None
    if header:  # a table saved as .txt (Excel's "Text (Tab delimited)")
        raise UserError(f"{lines[0][1]}: {header[0]}-separated column names, but a .txt holds one text per line; "
                        f"rename the file to {header[1]}")
    if labelled:
        raise UserError(f"{path}: a .txt holds texts only (one per line); train and evaluate read .csv, .tsv, .jsonl "
                        f"or .json with a '{opts.text_column}' and a '{opts.label_column}' column")
    if opts.text_pair_column:
        raise UserError(f"{path}: a .txt holds one text per line, and this model classifies sentence pairs; give a "
                        f".csv or .jsonl with '{opts.text_column}' and '{opts.text_pair_column}' columns")
    if lines and lines[0][0].strip() == opts.text_column:
        raise UserError(f"{lines[0][1]}: '{opts.text_column}' is a column name, but a .txt holds one text per line "
                        "and no header; delete line 1, or rename the file to .csv")
    return [{"text": line.strip(), "_where": loc} for line, loc in lines]


def _one_label(value, loc: str, names: list[str] | None) -> str:
    if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and value != value):
        # (NaN: pandas' missing value, in a float column of a Parquet file polars or pyarrow wrote; was the class "nan")
        raise UserError(f"{loc}: empty label; every training and evaluation row needs one")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    label = canonical_text(str(value))
    if names is not None and label not in names:  # (a datasets dir's ClassLabel ids arrive as names already)
        if not label.lstrip("-").isdigit():
            raise UserError(f"{loc}: label {label!r} is a name, not one of --label-names ({', '.join(names)}), "
                            "which names integer labels 0, 1, ...; drop --label-names, or fix the label")
        if not 0 <= int(label) < len(names):
            raise UserError(f"{loc}: label {label!r} is not an index into --label-names ({len(names)} names)")
        label = names[int(label)]
    return label


def multi_label_hint(labels: list[str]) -> str | None:
    """A hint when single-label data has labels that look like several joined by '|' or ','."""
    for delimiter in ("|", ",", ";"):
        joined = [lab for lab in labels if delimiter in lab]
        if joined:
            return (f"{len(joined)} label(s) contain '{delimiter}', e.g. {joined[0]!r}; if a row may have several labels, "
                    f"pass --multi-label --label-delimiter '{delimiter}' (now each combination is one class)")
    return None


def _label_key(label: str):
    """Sort integer-like labels numerically (2 before 10), others alphabetically."""
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)
