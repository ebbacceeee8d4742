"""Tasks: what differs between classification, NER, QA and translation.

A task is a small object with these members (composed by `labeltune.run`, never subclassed):

    name: str                     the --task value
    Options: type                 a dataclass of the task's own flags (one help line per field)
    default_metric(opts) -> str   the validation metric that picks the best model (higher is better)
    read(path, opts, labelled=True) -> list[dict]
        read and validate one data file; every example carries "_where" ("file, line N") for errors;
        labelled=False reads prediction inputs, where gold labels are optional
    split_keys(examples) -> (groups, strata)
        keys for seeded splits and folds: rows of one group stay together; strata are kept in proportion
    setup(train_examples, opts) -> dict
        what is learned from the training data before the model exists (the label set); JSON, saved
    check(examples, setup, opts) -> None
        validate validation/test examples against the setup (e.g. a label unseen in training)
    build_model(model_path, setup, opts, cfg) -> torch.nn.Module
    load_model(directory, setup, opts) -> torch.nn.Module      (a directory written by labeltune)
    saved_setup(setup) -> dict   optional: a saved model's setup as this version reads it (classification: label
        names in NFC, for models trained before they were)
    encode(examples, tokenizer, setup, opts, max_length) -> list[dict]
        features (token ids and labels); one example may become several features (long-input windows)
    collate(features, tokenizer) -> dict[str, Tensor]
    evaluate(rt, examples) -> (metrics dict, predictions list)   score the model in `rt` on labelled examples
    predict(rt, examples) -> list[dict]   one JSON-serialisable prediction per example
    as_examples(inputs, opts) -> list[dict]   plain Python inputs (strings, dicts) for the Python API
    duplicate_keys(examples) -> list   optional: what makes two examples duplicates (default: split groups)
    input_lengths(examples, tokenizer, setup, opts) -> list[int]   untruncated token lengths (debug-data)
    report(train, validation, tokenizer, opts, max_length) -> dict   task-specific part of debug-data
    metric_names: tuple[str, ...]   optional: the metrics --metric may name (listed in `train --help`)
    default_model: str   optional: the model used when --model is not given (default: all-MiniLM-L6-v2)
    long_inputs: str   optional: how an input over --max-length is read, for debug-data's note (NER, QA: windows);
        without it debug-data warns that such inputs are truncated
    needs_offsets: bool   optional (default True): the task reads character offsets / word ids, so a slow (Python)
        tokenizer is refused; translation sets False (Marian's SentencePiece tokenizer has no fast version)
    decoder_only(model_path, opts, cfg) -> bool   optional: whether build_model will train a decoder-only LM, so
        `tune` gives its folds the batch sizes `train` would (defaults.CAUSAL_BATCH_SIZES)
    row_problems(path, opts) -> list[str]   optional: every bad row of a file, for debug-data (read() stops at one;
        NER and QA run read()'s own checks, recording with data.readers.recorded / raise_or_record)
    echo(example) -> dict   optional: the input and gold fields a prediction row carries (default: outputs.echo)
    calibrate(rt, validation) -> dict | None   optional: after training, tune decision values on validation
        (QA's null threshold, classification's --calibrate temperature) in rt.opts / rt.setup, which are then
        saved; the dict goes into metrics.json
    baseline(rt, examples) -> dict   optional: the pretrained model's score before fine-tuning (translation)
    evaluate_for_selection(rt, examples) -> (metrics, predictions)   optional: a cheaper evaluation used
        during training to pick the best step (translation: greedy decoding of a validation subset)
    group_description: str   optional: what split_keys groups on, recorded in split.json (a task may set it
        in split_keys, from the data: NER groups by document only where the data has documents)
    explain_probe(rt, example, prediction, target) -> explain.probe.Probe   optional: what `labeltune explain`
        attributes (model input, words with offsets, log-prob target scores); target: --target or None;
        a list of probes for an input read in several windows (NER), each listing the words outside it
    few_shot(cfg, model_path, train, setup, opts, tokenizer, max_length) -> (model, {"state": ...})   optional:
        --few-shot trains this way instead of the loop (classification: SetFit, labeltune/fewshot.py)
    label_quality(rt, examples, shown=None) -> list[dict]   optional: per example the given label's
        self-confidence, the suggested label and its probability, for `labeltune label-issues`
        (labeltune/label_issues.py); first called with no examples and an rt holding only setup and opts, to refuse
        data before any fold trains; texts are taken from `shown` where given (the user's rows, when the network
        reads corrected copies of them); a unit's optional "classes" names its "probs" columns in the
        data's own tags (default: setup["labels"]; NER on IO data: O and the bare types)
    active_outputs(rt, examples, embed) -> list[dict]   optional: active learning (`labeltune suggest`, `curve
        --strategy`): per example "probs" (units x classes) and "embedding" (`embed(output, batch)`'s row dict)
    api_schema(opts) -> (input type, prediction model)   optional: pydantic models of one input and one
        prediction for `labeltune serve` (default: any JSON `as_examples` accepts)
    report_view(rows, setup) -> dict   optional: the run report's worst errors (and classification's calibration
        data) from prediction rows (labeltune/report/views.py)
    onnx_outputs: tuple[str, ...]   optional: the model outputs inference reads (e.g. ("logits",)); a task
        without it is not exported to ONNX (`labeltune export`)
    perturb(example, editor, rng) -> dict   optional: a copy of the example with its text fields edited by
        `editor` (robustness/perturb.Editor) and its labels moved along (`labeltune robustness`, `train --augment`)
    restore(example, fixed, prediction) -> dict   optional: a prediction made on `fixed` (a copy of `example`
        whose words `train --word-recognition` corrected) in terms of the user's input (QA, NER: spans, texts)
    extra_perturbations() -> list[robustness.probes.Special]   optional: task-specific perturbations (NER entity
        swap, QA distractor)
    attack_scores(rt, examples) -> list[(score, correct)]   optional: per example, what `robustness --attack`
        drives down and whether the prediction is still right (classification, NER, QA); also ranks the words
        for `train --augment-target salient/attack`
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from ..errors import UserError

TASKS = {
    "classification": "labeltune.tasks.classification:ClassificationTask",
    "ner": "labeltune.tasks.ner:NERTask",
    "qa": "labeltune.tasks.qa:QATask",
    "translation": "labeltune.tasks.translation:TranslationTask",
}


def get_task(name: str):
    name = name.strip().lower() if isinstance(name, str) else name  # --task NER is --task ner
    if not isinstance(name, str) or name not in TASKS:  # (a YAML list or mapping: was "unhashable type")
        import difflib

        close = difflib.get_close_matches(str(name), list(TASKS), n=1, cutoff=0.5)
        hint = f"did you mean --task {close[0]}? " if close else ""
        raise UserError(f"--task {name}: unknown task; {hint}choose one of {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)()
    except ModuleNotFoundError as e:
        if e.name == module:
            raise UserError(f"--task {name} is not available in this version of labeltune") from None
        raise


@dataclass
class Runtime:
    """A model ready to run: what `evaluate` and `predict` of every task receive."""

    model: torch.nn.Module
    tokenizer: object
    setup: dict
    opts: object
    max_length: int
    precision: str = "fp32"
    batch_size: int = 64
    device: torch.device = torch.device("cpu")
