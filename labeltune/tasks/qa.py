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

Parts: tasks/qa_read.py (SQuAD JSON and JSONL rows), tasks/qa_spans.py (windows, answer positions, best span),
tasks/qa_metrics.py (official SQuAD metrics); this file holds the options and the task.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass

import torch

from ..batching import collate_encoder
from ..config import opt
from ..errors import UserError, flag
from ..inference import run_batches
from ..models import from_pretrained, is_mark, strip_offsets
# the helpers are importable from here, as before the split (tests, explain, report, benchmarks use them)
from .qa_metrics import best_threshold, exact_match, f1_score, gold_answers, normalize_answer, squad_metrics  # noqa: F401
from .qa_read import _duplicate_ids, make_example, read_examples, read_rows  # noqa: F401
from .qa_spans import answer_positions, as_prediction, best_span, tokenize  # noqa: F401

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
    long_inputs = "split into overlapping windows of the context (--doc-stride), not truncated"  # debug-data's note
    onnx_outputs = ("start_logits", "end_logits")  # the model outputs inference reads (labeltune export)

    def default_metric(self, opts) -> str:
        return "f1"

    # --- data -----------------------------------------------------------------------------------
    def read(self, path: str, opts: QAOptions, labelled: bool = True) -> list[dict]:
        examples, problems = read_examples(path, opts, labelled)
        if problems:  # one line (the CLI prints one line per error): the first problems, then how many more
            more = f"; ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
            raise UserError(f"{path}: {len(problems)} problem(s) in the data: " + "; ".join(problems[:MAX_LISTED]) + more)
        if not examples:
            raise UserError(f"{path} holds no questions")
        repaired = sum(e.get("_repaired", 0) for e in examples)
        if repaired:  # never silent: say how many answers were moved
            print(f"{path}: --repair-answers moved answer_start of {repaired} answer(s) to where their text occurs",
                  file=sys.stderr)
        if located := sum(e.get("_located", 0) for e in examples):  # a reading of the data, said
            print(f"{path}: {located} answer(s) without answer_start located by their text in the context",
                  file=sys.stderr)
        return examples

    def row_problems(self, path: str, opts: QAOptions) -> list[str]:
        """Every bad question of `path`, for `labeltune debug-data`: read()'s checks, with the format errors (invalid
        JSON, a missing field) listed too instead of raised at the first; a file with no readable question raises."""
        examples, problems = read_examples(path, opts, every_row=True)
        if problems and not examples:  # not one row reads: the file as a whole is wrong (another task's data?), and
            raise UserError(problems[0])  # debug-data reports read()'s first error with its did-you-mean hint
        return problems

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
                                    f"questions (or train with {flag('version_2_with_negative')}), or remove it")

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
                "offsets": _drop_prefix_pieces([_context_offsets(examples[i]["context"], o) if s == 1 else None
                                                for o, s in zip(enc["offset_mapping"][f], seq_ids)],
                                               lambda j, ids=ids: not tokenizer.decode([ids[j]]).strip()),
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

    def restore(self, example, fixed, prediction) -> dict:
        """`train --word-recognition`: a prediction on the corrected copy `fixed` of `example` as a span of the
        user's context (its offsets and text; was the corrected context's)."""
        if prediction.get("start") is None or fixed["context"] == example["context"]:
            return prediction
        from ..robustness.wordfix import span_back

        start, end = span_back(example["context"], fixed["context"])(prediction["start"], prediction["end"])
        return dict(prediction, answer=example["context"][start:end], start=start, end=end)

    def extra_perturbations(self) -> list:
        """`labeltune robustness`: an AddSent-style distractor sentence, away from the answer."""
        from ..robustness.probes import QA_SPECIALS

        return QA_SPECIALS

    def attack_scores(self, rt, examples) -> list[tuple[float, bool]]:
        """`labeltune robustness --attack`: per example the answer's F1 and whether it is an exact match
        (labeltune/robustness/scores.py)."""
        from ..robustness.scores import qa_scores

        return qa_scores(self, rt, examples)

    def explain_probe(self, rt, example, prediction, target=None):
        """`labeltune explain`: model input, words and target scores of one example (labeltune/explain/targets.py)."""
        from ..explain.targets import qa_probe

        return qa_probe(rt, example, prediction, target)


def _drop_prefix_pieces(offsets: list, blank) -> list:
    """`offsets` with None for a sub-word whose span is a strict prefix of the next one's and that writes no
    text (`blank(j)`): XLM-RoBERTa gives a standalone "▁" the first character of the word after it ("▁" (9, 10),
    "in" (9, 11)), so as an answer's end it cut the word ("He lives i"). Training never puts a start or end there
    (the next sub-word starts at the same character). Byte-level BPE's piece of a character's first bytes is
    kept: the next piece, with the character's last bytes, runs on ("在" (2, 3), "在北京"'s rest (2, 5)), and an
    answer ending at that character ends there."""
    out = list(offsets)
    for j in range(len(out) - 1):
        here, after = out[j], out[j + 1]
        if here and after and here[0] == after[0] and here[1] < after[1] and blank(j):
            out[j] = None
    return out


def _context_offsets(context: str, offsets) -> tuple[int, int] | None:
    """A context sub-word's character span without the space before it, or None for a sub-word that is only a
    space: SentencePiece writes a word it has no "▁word" piece for as "▁" alone plus the word, and DeBERTa-v2's
    and Llama's tokenizers give that "▁" the space's offsets; as an answer's start it gave " in Paris". It can
    neither start nor end an answer (training puts the start on the word's next sub-word); it may lie inside one.
    A sub-word that starts with a combining mark (WordPiece's "##ा" of "राम", byte-level BPE's lone accent of NFD
    "José") starts at the letter the mark belongs to: as an answer's start it gave "ाम"."""
    s, t = strip_offsets(context, *offsets)
    while 0 < s < t and is_mark(context[s]):
        s -= 1
    return (s, t) if context[s:t].strip() else None
