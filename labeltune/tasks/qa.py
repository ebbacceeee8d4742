"""Extractive question answering: SQuAD v1.1 and v2.0 (unanswerable questions).

Data: SQuAD JSON (data / paragraphs / qas) or flat JSONL rows (id, question, context,
answers: {text: [...], answer_start: [...]}). Question and context are tokenized as a pair, truncating only
the context; a context longer than one window becomes several windows that share --doc-stride tokens
(Hugging Face's run_qa recipe). A window's labels are the answer's first and last token, or the null
position (CLS) when the window does not hold the whole answer or the question has none.

Prediction scores spans (start logit + end logit) over ALL windows of an example, keeps the best one no
longer than --max-answer-length tokens, and maps it back to characters of the original context through the
offset mapping. With --version-2-with-negative the answer is empty when the null score beats the best span
by more than --null-threshold. EM and F1 follow the official SQuAD evaluation script (answer normalisation,
max over gold answers) and are reported in percent, as the official script and published results are.
"""

from __future__ import annotations

import json
import re
import string
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from ..batching import collate_encoder
from ..config import opt
from ..data.readers import read_table, read_text
from ..errors import UserError, flag, where
from ..inference import run_batches
from ..models import from_pretrained, strip_offsets

MAX_LISTED = 20  # problems listed in one error message; the count says how many more there are


@dataclass
class QAOptions:
    doc_stride: int = opt(128, "tokens shared by consecutive windows of a context longer than one window")
    max_answer_length: int = opt(30, "longest answer to predict, in tokens")
    n_best: int = opt(20, "start and end candidates per window combined into spans")
    version_2_with_negative: bool | None = opt(None, "SQuAD v2.0: questions may have no answer, predict empty text "
                                                     "(default: on when the training data holds unanswerable questions)")
    null_threshold: float = opt(0.0, "v2: answer nothing when null score - best span score exceeds this")
    tune_null_threshold: bool | None = opt(None, "v2: after training, set --null-threshold to the F1-best value on "
                                                 "validation (default: on when there is validation data)")
    repair_answers: bool = opt(False, "move a wrong answer_start to the nearest place its text occurs in the context")

    def __post_init__(self):
        if self.doc_stride < 0:
            raise UserError(f"{flag('doc_stride')} must be >= 0")
        if self.max_answer_length < 1:
            raise UserError(f"{flag('max_answer_length')} must be at least 1")
        if self.n_best < 1:
            raise UserError(f"{flag('n_best')} must be at least 1")


class QATask:
    name = "qa"
    group_description = "context paragraph"  # what split_keys groups on (recorded in split.json)
    Options = QAOptions
    metric_names = ("f1", "exact_match")  # for --metric's help
    onnx_outputs = ("start_logits", "end_logits")  # the model outputs inference reads (labeltune export)

    def default_metric(self, opts) -> str:
        return "f1"

    # --- data -----------------------------------------------------------------------------------
    def read(self, path: str, opts: QAOptions, labelled: bool = True) -> list[dict]:
        problems, examples = [], []
        for raw, loc in read_rows(path):
            ex = make_example(raw, loc, labelled, opts, problems)
            if ex is not None:
                examples.append(ex)
        if labelled:
            _duplicate_ids(examples, problems)
        if problems:  # one line (the CLI prints one line per error): the first problems, then how many more
            more = f"; ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
            raise UserError(f"{path}: {len(problems)} problem(s) in the data: " + "; ".join(problems[:MAX_LISTED]) + more)
        if not examples:
            raise UserError(f"{path} holds no questions")
        repaired = sum(e.get("_repaired", 0) for e in examples)
        if repaired:  # never silent: say how many answers were moved
            print(f"{path}: --repair-answers moved answer_start of {repaired} answer(s) to where their text occurs",
                  file=sys.stderr)
        return examples

    def as_examples(self, inputs, opts) -> list[dict]:
        out, problems = [], []
        for i, x in enumerate(inputs):
            if isinstance(x, (tuple, list)) and len(x) == 2:
                x = {"question": x[0], "context": x[1]}
            if not isinstance(x, dict):
                raise UserError(f"input {i}: expected a dict with 'question' and 'context' (or a pair), got {type(x).__name__}")
            ex = make_example(x, f"input {i}", False, opts, problems)
            if "id" not in x:  # no made-up id: a prediction must not depend on the input's position in a batch
                ex["id"] = None
            out.append(ex)
        if problems:
            raise UserError("; ".join(problems))
        return out

    def api_schema(self, opts):
        """`labeltune serve`: a question and its context; the answer span (empty answer: none found)."""
        from pydantic import BaseModel

        class QAInput(BaseModel):
            question: str
            context: str
            id: str | None = None

        class QAPrediction(BaseModel):
            id: str | None = None
            answer: str
            start: int | None
            end: int | None
            score: float | None
            null_score_diff: float | None = None  # SQuAD v2 models

        return QAInput, QAPrediction

    def split_keys(self, examples):
        # the context is the group: questions on one paragraph never straddle a split or fold
        return [e["context"] for e in examples], ["no answer" if e.get("is_impossible") else "answer" for e in examples]

    def duplicate_keys(self, examples):
        # a duplicate is the same question on the same context (many questions share one context)
        return [(e["question"].strip(), e["context"]) for e in examples]

    def setup(self, train: list[dict], opts) -> dict:
        v2 = opts.version_2_with_negative
        if v2 is None:  # auto: SQuAD v2.0 handling when the training data holds unanswerable questions
            unanswerable = sum(e.get("is_impossible", False) for e in train)
            v2 = unanswerable > 0
            if v2:
                print(f"qa: {unanswerable} of {len(train)} training questions are unanswerable: SQuAD v2.0 handling "
                      "on (the model may answer nothing; --no-version-2-with-negative refuses such data)", file=sys.stderr)
        return {"version_2_with_negative": v2}

    def check(self, examples, setup, opts) -> None:
        # read() validated each file; an unanswerable question is only a problem when train had none
        if not setup["version_2_with_negative"]:
            for e in examples:
                if e.get("is_impossible"):
                    raise UserError(f"{e['_where']} (id {e['id']}): an unanswerable question, but the training data has "
                                    "none, so the model never learns to answer nothing; add unanswerable training "
                                    "questions or remove it")

    # --- model ----------------------------------------------------------------------------------
    def build_model(self, model_path: str, setup: dict, opts, cfg):
        from transformers import AutoModelForQuestionAnswering

        return from_pretrained(AutoModelForQuestionAnswering, model_path, trust_remote_code=cfg.trust_remote_code)

    def load_model(self, directory: str, setup: dict, opts):
        from transformers import AutoModelForQuestionAnswering

        return from_pretrained(AutoModelForQuestionAnswering, directory)

    def encode(self, examples, tokenizer, setup, opts, max_length: int) -> list[dict]:
        """Windows of question + context; with gold answers, start/end positions (CLS when not inside)."""
        enc = tokenize(examples, tokenizer, opts, max_length)
        features = []
        for f, i in enumerate(enc["overflow_to_sample_mapping"]):
            seq_ids = enc.sequence_ids(f)
            ids = enc["input_ids"][f]
            feat = {
                "input_ids": ids,
                "example": i,
                "cls": ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0,
                # character offsets of context tokens only: question and special tokens can never be answers
                "offsets": [strip_offsets(examples[i]["context"], *o) if s == 1 else None
                            for o, s in zip(enc["offset_mapping"][f], seq_ids)],
            }
            if "token_type_ids" in enc:
                feat["token_type_ids"] = enc["token_type_ids"][f]
            if "answers" in examples[i]:
                feat["start_positions"], feat["end_positions"] = answer_positions(examples[i], feat)
            features.append(feat)
        return features

    def input_lengths(self, examples, tokenizer, setup, opts) -> list[int]:
        enc = tokenizer([e["question"].lstrip() for e in examples], [e["context"] for e in examples])
        return [len(ids) for ids in enc["input_ids"]]

    def collate(self, features, tokenizer) -> dict:
        # offsets, example index and cls stay behind: the model takes only ids, masks and gold positions
        batch = collate_encoder(features, tokenizer.pad_token_id, label_key=None)
        if "start_positions" in features[0]:
            batch["start_positions"] = torch.tensor([f["start_positions"] for f in features], dtype=torch.long)
            batch["end_positions"] = torch.tensor([f["end_positions"] for f in features], dtype=torch.long)
        return batch

    # --- inference and metrics ------------------------------------------------------------------
    def spans(self, rt, examples) -> list[dict]:
        """Per example: the best non-null span over all its windows and the null score difference."""
        unlabelled = [{k: v for k, v in e.items() if k != "answers"} for e in examples]  # no gold positions
        features = self.encode(unlabelled, rt.tokenizer, rt.setup, rt.opts, rt.max_length)

        def outputs(out, batch):
            n = batch["attention_mask"].sum(1).tolist()
            start, end = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            return [(start[i, : n[i]], end[i, : n[i]]) for i in range(len(n))]

        logits = run_batches(rt, features, lambda f: self.collate(f, rt.tokenizer), outputs)
        by_example = [[] for _ in examples]
        for feat, lg in zip(features, logits):
            by_example[feat["example"]].append((feat, lg))
        return [best_span(e["context"], windows, rt.opts) for e, windows in zip(examples, by_example)]

    def predict(self, rt, examples) -> list[dict]:
        return [as_prediction(e, s, rt) for e, s in zip(examples, self.spans(rt, examples))]

    def evaluate(self, rt, examples) -> tuple[dict, list[dict]]:
        spans = self.spans(rt, examples)
        preds = [as_prediction(e, s, rt) for e, s in zip(examples, spans)]
        metrics = squad_metrics([gold_answers(e) for e in examples], [p["answer"] for p in preds])
        if rt.setup["version_2_with_negative"]:
            # the official script's best_f1 / best_exact tune the null threshold on the very data they score:
            # an upper bound, never a result (a test split's figure must not be read as one), hence "oracle_"
            metrics.update({f"oracle_{k}": v for k, v in best_threshold(examples, spans).items()})
            metrics["null_threshold"] = rt.opts.null_threshold
        return metrics, preds

    def calibrate(self, rt, validation) -> dict | None:
        """v2 with --tune-null-threshold: the F1-best null threshold on validation, used from now on."""
        # default (None): tuned whenever there is validation data, which is when train() calls this
        if not rt.setup["version_2_with_negative"] or rt.opts.tune_null_threshold is False:
            return None
        best = best_threshold(validation, self.spans(rt, validation))
        rt.opts.null_threshold = best["best_f1_thresh"]  # saved with the options, so predict uses it too
        print(f"null threshold tuned on validation: {rt.opts.null_threshold:.4f} (F1 {best['best_f1']:.2f})", file=sys.stderr)
        return {"null_threshold": rt.opts.null_threshold, "validation_f1": best["best_f1"]}

    def report_view(self, rows, setup) -> dict:
        """The run report's worst errors (labeltune/report/views.py)."""
        from ..report.views import qa_view

        return qa_view(rows, setup)

    def report(self, train, validation, tokenizer, opts, max_length) -> dict:
        out = {}
        for split, examples in (("train", train), ("validation", validation)):
            if not examples:
                continue
            features = self.encode(examples, tokenizer, {}, opts, max_length)
            windows = Counter(f["example"] for f in features)
            answered = {f["example"] for f in features if f.get("start_positions", 0) != f["cls"]}
            lost = [e["id"] for i, e in enumerate(examples) if not e["is_impossible"] and i not in answered]
            out[split] = {
                "questions": len(examples),
                # the shared "train_duplicates" counts questions that share a context; these are real repeats
                "contexts": len({e["context"] for e in examples}),
                "repeated_questions": len(examples) - len({(e["question"], e["context"]) for e in examples}),
                "unanswerable": sum(e["is_impossible"] for e in examples),
                "answers_repaired": sum(e.get("_repaired", 0) for e in examples),
                "share_longer_than_one_window": round(sum(n > 1 for n in windows.values()) / len(examples), 4),
                "max_windows": max(windows.values()),
                # an answer longer than the overlap can be cut by every window: raise --doc-stride
                "answers_in_no_window": len(lost),
                "answers_in_no_window_ids": lost[:MAX_LISTED],
            }
        return out

    def perturb(self, example, editor, rng) -> dict:
        """`labeltune robustness` and `train --augment`: question and context edited; the answers never are, and
        are re-located in the edited context."""
        from ..robustness.probes import perturb_qa

        return perturb_qa(example, editor, rng)

    def extra_perturbations(self) -> list:
        """`labeltune robustness`: an AddSent-style distractor sentence, away from the answer."""
        from ..robustness.probes import QA_SPECIALS

        return QA_SPECIALS

    def explain_probe(self, rt, example, prediction, target=None):
        """`labeltune explain`: model input, words and target scores of one example (labeltune/explain/targets.py)."""
        from ..explain.targets import qa_probe

        return qa_probe(rt, example, prediction, target)


# --- reading ------------------------------------------------------------------------------------
def read_rows(path: str) -> list[tuple[dict, str]]:
    """(raw question dict, location) for each question of a SQuAD JSON or a JSONL / JSON-list file."""
    if path is None:
        raise UserError("no data file given")
    if path.lower().endswith(".json"):
        text = read_text(path)
        if text.lstrip().startswith("{"):
            return _squad_rows(path, text)
    table = read_table(path)
    return [(row, table.where(i)) for i, row in enumerate(table.rows)]


def _squad_rows(path: str, text: str) -> list[tuple[dict, str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{where(path, e.lineno)}, column {e.colno}: not valid JSON ({e.msg})") from None
    if not isinstance(doc.get("data"), list):
        raise UserError(f"{path}: a SQuAD file needs a top-level 'data' list (of articles with 'paragraphs')")
    id_lines = _id_lines(text)
    rows = []
    for a, article in enumerate(doc["data"]):
        paragraphs = _field(article, "paragraphs", list, f"{path}, data[{a}]")
        for p, par in enumerate(paragraphs):
            loc = f"{path}, data[{a}].paragraphs[{p}]"
            context = _field(par, "context", str, loc)
            for q, qa in enumerate(_field(par, "qas", list, loc)):
                qloc = f"{loc}.qas[{q}]"
                if not isinstance(qa, dict):
                    raise UserError(f"{qloc}: expected an object with id, question, answers")
                line = id_lines.get(str(qa.get("id")))
                rows.append(({**qa, "context": context}, f"{where(path, line)} ({qloc[len(path) + 2:]})" if line else qloc))
    return rows


def _id_lines(text: str) -> dict[str, int]:
    """The line of each `"id": "..."` in the file, so errors can point at a line of nested JSON."""
    out = {}
    for m in re.finditer(r'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', text):
        out.setdefault(str(json.loads(m[1])), text.count("\n", 0, m.start()) + 1)
    return out


def _field(obj, key: str, kind: type, loc: str):
    if not isinstance(obj, dict):
        raise UserError(f"{loc}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise UserError(f"{loc}: no key '{key}'; the keys there are {sorted(obj)}")
    if not isinstance(obj[key], kind):
        raise UserError(f"{loc}: '{key}' is {type(obj[key]).__name__}, expected {kind.__name__}")
    return obj[key]


def make_example(raw: dict, loc: str, labelled: bool, opts: QAOptions, problems: list[str]) -> dict | None:
    """One validated example. Format errors raise at once; data problems are collected into `problems`."""
    ex = {"_where": loc}
    for key in ("question", "context"):
        if key not in raw:
            raise UserError(f"{loc}: no key '{key}'; the keys there are {sorted(raw)}")
        if not isinstance(raw[key], str):
            raise UserError(f"{loc}: '{key}' is {type(raw[key]).__name__} {raw[key]!r:.60}, expected a string")
        ex[key] = raw[key]
    if "id" in raw:
        if not isinstance(raw["id"], (str, int)) or isinstance(raw["id"], bool):
            raise UserError(f"{loc}: 'id' is {type(raw['id']).__name__}, expected a string")
        ex["id"] = str(raw["id"])
    elif labelled:
        raise UserError(f"{loc}: no key 'id'; every labelled question needs a unique id")
    else:
        ex["id"] = loc
    label = f"{loc} (id {ex['id']})"
    for key in ("question", "context"):
        if not ex[key].strip():
            problems.append(f"{label}: empty {key}")
    if not labelled:
        return ex
    answers = _answers(raw, label)
    impossible = raw.get("is_impossible", not answers)
    if not isinstance(impossible, bool):
        raise UserError(f"{label}: 'is_impossible' is {impossible!r}, expected true or false")
    if impossible and answers:
        problems.append(f"{label}: is_impossible is true but it has answers; empty one or the other")
    if not impossible and not answers:
        problems.append(f"{label}: no answers (give at least one, or set is_impossible: true for SQuAD v2.0)")
    if impossible and opts.version_2_with_negative is False:  # None (auto) accepts them: setup() switches v2 on
        problems.append(f"{label}: an unanswerable question; pass {flag('version_2_with_negative')} for SQuAD v2.0 data")
    ex["answers"], ex["is_impossible"] = [], impossible
    for text, start in answers:
        fixed = _align(ex["context"], text, start, label, opts, problems)
        if fixed is not None:
            ex["answers"].append({"text": text, "answer_start": fixed})
            ex["_repaired"] = ex.get("_repaired", 0) + (fixed != start)
    return ex


def _answers(raw: dict, label: str) -> list[tuple[str, int]]:
    """(text, answer_start) pairs from SQuAD's list of objects or the flat {text: [...], answer_start: [...]}."""
    if "answers" not in raw:
        raise UserError(f"{label}: no key 'answers' (use [] or {{\"text\": [], \"answer_start\": []}} for no answer)")
    value = raw["answers"]
    if isinstance(value, dict):
        if not {"text", "answer_start"} <= set(value):
            raise UserError(f"{label}: 'answers' needs the keys 'text' and 'answer_start', has {sorted(value)}")
        texts, starts = value["text"], value["answer_start"]
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise UserError(f"{label}: answers 'text' and 'answer_start' must be lists of the same length")
        pairs = list(zip(texts, starts))
    elif isinstance(value, list):
        pairs = []
        for a in value:
            if not isinstance(a, dict) or "text" not in a or "answer_start" not in a:
                raise UserError(f"{label}: each answer needs 'text' and 'answer_start', got {a!r:.80}")
            pairs.append((a["text"], a["answer_start"]))
    else:
        raise UserError(f"{label}: 'answers' is {type(value).__name__}, expected a list or a dict of lists")
    for text, start in pairs:
        if not isinstance(text, str):
            raise UserError(f"{label}: answer text {text!r:.60} is {type(text).__name__}, expected a string")
        if not isinstance(start, int) or isinstance(start, bool):
            raise UserError(f"{label}: answer_start {start!r:.60} is {type(start).__name__}, expected an integer")
    return pairs


def _align(context: str, text: str, start: int, label: str, opts: QAOptions, problems: list[str]) -> int | None:
    """answer_start if it points at `text`; else (with --repair-answers) the nearest place the text occurs."""
    if not text.strip():
        problems.append(f"{label}: empty answer text")
        return None
    if 0 <= start and context[start : start + len(text)] == text:
        return start
    found = [m.start() for m in re.finditer(re.escape(text), context)]
    if not found:
        problems.append(f"{label}: answer {text!r:.60} does not occur in the context")
        return None
    if opts.repair_answers:
        return min(found, key=lambda s: (abs(s - start), s))
    at = context[max(start, 0) : max(start, 0) + len(text)]
    problems.append(
        f"{label}: answer_start {start} points at {at!r:.60}, not at the answer {text!r:.60} "
        f"(which occurs at {found[:3]}); fix it or pass {flag('repair_answers')}"
    )
    return None


def _duplicate_ids(examples: list[dict], problems: list[str]) -> None:
    first = {}
    for e in examples:
        if e["id"] in first:
            problems.append(f"{e['_where']}: duplicate id {e['id']!r} (first at {first[e['id']]})")
        else:
            first[e["id"]] = e["_where"]


# --- windows and labels -------------------------------------------------------------------------
def tokenize(examples, tokenizer, opts: QAOptions, max_length: int):
    """Question + context windows (context truncated only), overlapping by --doc-stride tokens."""
    questions = [e["question"].lstrip() for e in examples]  # leading spaces only waste window room
    q_lens = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    special = tokenizer.num_special_tokens_to_add(pair=True)
    for e, q in zip(examples, q_lens):
        room = max_length - q - special
        if room <= opts.doc_stride:
            raise UserError(
                f"{e['_where']} (id {e['id']}): the question takes {q} tokens, leaving {room} of {flag('max_length')} "
                f"{max_length} for the context; {flag('doc_stride')} {opts.doc_stride} must be smaller than that: "
                "lower it, raise the maximum length or shorten the question"
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


# --- official SQuAD metrics ---------------------------------------------------------------------
_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower case, remove punctuation, articles and extra whitespace (the official SQuAD script)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:  # no-answer: right only when both are empty (official v2.0 script)
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_answers(example: dict) -> list[str]:
    """Gold texts; [""] for an unanswerable question (official v2.0 script)."""
    return [a["text"] for a in example["answers"] if normalize_answer(a["text"])] or [""]


def squad_metrics(golds: list[list[str]], preds: list[str]) -> dict:
    """EM and F1 in percent (max over gold answers), with the HasAns / NoAns breakdown when both occur."""
    em = np.array([max(exact_match(p, g) for g in gs) for p, gs in zip(preds, golds)])
    f1 = np.array([max(f1_score(p, g) for g in gs) for p, gs in zip(preds, golds)])
    out = {"exact_match": 100 * float(em.mean()), "f1": 100 * float(f1.mean()), "n": len(preds)}
    has = np.array([gs != [""] for gs in golds])
    if not has.all():
        for name, mask in (("HasAns", has), ("NoAns", ~has)):
            out[f"{name}_total"] = int(mask.sum())
            if mask.any():
                out[f"{name}_exact_match"] = 100 * float(em[mask].mean())
                out[f"{name}_f1"] = 100 * float(f1[mask].mean())
    return out


def best_threshold(examples: list[dict], spans: list[dict]) -> dict:
    """The null threshold that maximises EM and F1 (the official v2.0 script's best_exact / best_f1).

    An example answers when its null_diff <= threshold. Sorting by null_diff, each cut point is one threshold;
    the score at a cut is (answer scores of those below) + (no-answer scores of those above).
    """
    golds = [gold_answers(e) for e in examples]
    order = np.argsort([s["null_diff"] for s in spans], kind="stable")
    diffs = np.array([spans[i]["null_diff"] for i in order])
    out = {}
    for name, fn in (("exact_match", exact_match), ("f1", f1_score)):
        answer = np.array([max(fn(spans[i]["text"], g) for g in golds[i]) for i in order])
        null = np.array([float(golds[i] == [""]) for i in order])
        # total[k] = answer[:k] + null[k:], for k = 0 (all null) .. n (all answer)
        total = np.concatenate([[0.0], np.cumsum(answer)]) + np.concatenate([np.cumsum(null[::-1])[::-1], [0.0]])
        total[1:][np.append(diffs[1:] == diffs[:-1], False)] = -1  # ties cannot be cut between
        k = int(total.argmax())
        thresh = float(diffs[k - 1]) if k > 0 else float(diffs[0]) - 1.0
        out[f"best_{name}"] = 100 * float(total[k]) / len(examples)
        out[f"best_{name}_thresh"] = thresh if np.isfinite(thresh) else 0.0
    return out
