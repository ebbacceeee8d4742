"""A trained model loaded for prediction: `labeltune.load(dir)` -> `Predictor` with predict, predict_file,
evaluate and explain, for the torch weights, a merged or adapter PEFT directory, or an ONNX export; and the
labeltune.json (`read_meta`) every command that takes --model reads.

Split out of run.py (training); run re-exports these names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import typing

import torch

from . import adapters
from .errors import UserError
from .guards import api_inputs, api_path, check_model_file, model_directory, not_a_run
from .models import choose_precision, limit_onednn_cache, load_tokenizer, quiet_libraries, share_pad_token
from .outputs import check_output_file, check_records_name, parse_keep, readable_rows, source_rows, write_records
from .tasks import Runtime, get_task

META_FILE = "labeltune.json"


def read_meta(directory: str) -> dict:
    """The labeltune.json of a trained model directory; a UserError when it is missing or damaged."""
    meta_path = os.path.join(directory, META_FILE)
    if not os.path.isfile(meta_path):
        raise UserError(f"--model {directory}: no {META_FILE} there{not_a_run(directory)}")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError: cut short or edited by hand
        raise UserError(f"--model {directory}: {META_FILE} cannot be read ({str(e).splitlines()[0]}); "
                        "train again, or restore the file") from None
    missing = [k for k in ("task", "setup", "options", "max_length") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise UserError(f"--model {directory}: {META_FILE} lacks {', '.join(missing)}; train again, or restore the file")
    return meta


class Predictor:
    """A fine-tuned model loaded for prediction: `labeltune.load(dir).predict(["great film"])`."""

    def __init__(self, directory: str, precision: str = "auto", batch_size: int = 64, backend: str = "auto",
                 **option_overrides):
        if precision not in ("auto", "bf16", "fp16", "fp32"):
            raise UserError(f"--precision {precision}: must be auto, bf16, fp16 or fp32")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"--batch-size {batch_size!r}: must be a whole number, at least 1")
        limit_onednn_cache()
        quiet_libraries()
        directory = model_directory(directory)  # a pathlib.Path works; None is named, not a TypeError
        meta = read_meta(directory)
        self.directory = directory
        self.task = get_task(meta["task"])
        saved_setup = getattr(self.task, "saved_setup", None)  # optional hook: a setup an older labeltune wrote
        if saved_setup is not None:
            meta["setup"] = saved_setup(meta["setup"])
        word_recognition = option_overrides.pop("word_recognition", True)  # False: the network alone
        if not isinstance(word_recognition, bool):  # ("false" or "off" switched it on, in silence)
            raise UserError(f"labeltune.load(): word_recognition={word_recognition!r}: must be True or False")
        known = {k: v for k, v in meta["options"].items()}
        fields = [f.name for f in dataclasses.fields(self.task.Options)]
        for name in option_overrides:  # (was a TypeError from the dataclass)
            if name not in fields:
                import difflib

                close = difflib.get_close_matches(name, fields + ["precision", "batch_size", "backend"], n=1)
                raise UserError(f"labeltune.load(): unknown option '{name}' for a {self.task.name} model"
                                + (f"; did you mean '{close[0]}'?" if close else f"; its options: {', '.join(fields)}"))
        from .config import coerce  # '16' or 2.0 from a notebook, as train's options are (was a TypeError deep inside)

        hints = typing.get_type_hints(self.task.Options)
        known.update({k: coerce(v, hints[k], k, "labeltune.load()") for k, v in option_overrides.items() if v is not None})
        self.opts = self.task.Options(**known)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if backend not in ("auto", "torch", "onnx"):
            raise UserError(f"--backend {backend}: must be auto, torch or onnx")
        self.backend = backend if backend != "auto" else ("onnx" if meta.get("onnx") else "torch")
        if self.backend == "torch" and meta.get("onnx"):  # an export holds no PyTorch weights (was: "no file named
            # model.safetensors", which does not say what to do)
            raise UserError(f"--backend torch: {directory} is an ONNX export (labeltune export) without PyTorch "
                            "weights; run it with --backend onnx, or give the directory it was exported from "
                            f"({meta.get('exported_from', 'exported_from in its labeltune.json')})")
        if self.backend == "onnx":  # a directory written by `labeltune export`: ONNX Runtime on the CPU, fp32 inputs
            from .export import load_onnx_model

            model, device, precision = load_onnx_model(directory, meta, self.task), torch.device("cpu"), "fp32"
        else:
            model = adapters.load_model(self.task, directory, meta, self.opts).to(device)  # merged, or base + adapter
        tokenizer = load_tokenizer(directory, needs_offsets=getattr(self.task, "needs_offsets", True))
        share_pad_token(model, tokenizer)  # an adapter's base model (a causal LM) may have none in its config
        if meta.get("word_recognition"):  # train --word-recognition: its typo-correcting front end reads the input
            from .robustness import wordfix

            self.task = wordfix.wrap(self.task, directory, meta, enabled=bool(word_recognition))
        self.rt = Runtime(model, tokenizer, meta["setup"], self.opts, meta["max_length"],
                          choose_precision(precision), batch_size, device)

    def require_torch(self, flag: str, what: str) -> None:
        """Refuse an ONNX export where a command needs the PyTorch model (its gradients, layers or embeddings);
        `what` says why and what to do, e.g. "cannot be attacked; use"."""
        if self.backend == "onnx":  # the directory itself, where the export recorded it
            source = read_meta(self.directory).get("exported_from")
            raise UserError(f"{flag}: an ONNX export (labeltune export) {what} the directory it was exported from"
                            + (f", {source}" if source else "") + " (\"exported_from\" in its labeltune.json)")

    def predict(self, inputs) -> list[dict]:
        """Predictions for a list of strings (or the task's input dicts; any iterable of them, or a pandas DataFrame
        with the input columns); one string or dict gives a list of one. Plain Python values (JSON-serialisable)."""
        inputs = api_inputs(inputs, "predict")  # one str/dict is one input; a DataFrame its rows
        if not inputs:
            return []
        return self.task.predict(self.rt, self.task.as_examples(inputs, self.opts))

    def predict_file(self, path: str, output: str, keep_columns: str | list[str] | None = None) -> int:
        """Predict every row of `path`; write rows of input + kept columns + prediction (+ gold where given).

        `output`: .csv / .tsv / .jsonl / .json / .parquet by its extension, '-' for standard output. `keep_columns`: input
        columns copied into each row unchanged (an id, a date), as a list or 'id,date'. `path` '-': JSON Lines
        from standard input (`jq ... | labeltune predict --input - --output -`)."""
        path, output = api_path(path, "path", "predict_file"), api_path(output, "output", "predict_file")
        if path == "-":
            import sys
            import tempfile

            with tempfile.TemporaryDirectory() as folder:  # the readers take files; errors name standard input
                copy = os.path.join(folder, "stdin.jsonl")
                with open(copy, "w", encoding="utf-8") as f:
                    f.write(sys.stdin.read())
                try:
                    return self.predict_file(copy, output, keep_columns)
                except UserError as e:
                    raise UserError(str(e).replace(copy, "standard input (JSON Lines)")) from None
        keep = parse_keep(keep_columns)  # a list, a tuple or "id,date"
        check_output_file(path, output)
        check_model_file(self.directory, output)
        check_records_name(output)
        examples = self.read(path, labelled=False)
        with contextlib.suppress(UserError):  # a labelled file: each row also gets its gold answer (else none)
            labelled = self.task.read(path, self.opts)
            if len(labelled) == len(examples):
                examples = labelled
        kept = source_rows(path, examples, keep)  # checks the columns before spending time on the model
        preds = self.task.predict(self.rt, examples)
        write_records(output, readable_rows(self.task, examples, preds, kept))
        return len(preds)

    def read(self, path: str, labelled: bool = True) -> list[dict]:
        """The task's reader on `path`, with the model's options; a file of another task's shape is named as such."""
        try:
            return self.task.read(path, self.opts, labelled=labelled)
        except UserError as e:  # a file of another task's shape (a CSV given to an NER model): say so
            from .hints import with_model_hint

            raise with_model_hint(e, path, self.task.name) from None

    def evaluate(self, path: str, predictions: str | None = None, keep_columns: str | list[str] | None = None) -> dict:
        """Metrics on the labelled file `path` (or rows in memory: a DataFrame, a datasets.Dataset, a list of dicts);
        `predictions`: also write each row's prediction beside its gold."""
        from .data.memory import files_for, is_rows

        if is_rows(path):  # written to a temporary Parquet file for the call (data/memory.py)
            with files_for({"path": path}, ("path",)) as given:
                return self.evaluate(given["path"], predictions, keep_columns)
        path = api_path(path, "path", "evaluate")
        predictions = api_path(predictions, "predictions", "evaluate", optional=True)
        if parse_keep(keep_columns) and not predictions:  # (was ignored in silence: the metrics have no rows)
            raise UserError("--keep-columns copies input columns into the prediction rows: it needs --predictions FILE")
        check_output_file(path, predictions, "--predictions")
        check_model_file(self.directory, predictions, "--predictions")
        check_records_name(predictions, "--predictions")
        examples = self.read(path)
        self.task.check(examples, self.rt.setup, self.opts)
        keep = parse_keep(keep_columns)  # a list, a tuple or "id,date"
        kept = source_rows(path, examples, keep) if predictions else None
        metrics, preds = self.task.evaluate(self.rt, examples)
        if predictions:
            write_records(predictions, readable_rows(self.task, examples, preds, kept))
        return metrics

    def explain(self, inputs, **options) -> list[dict]:
        """Word attributions per input (see labeltune.explain; options as `labeltune explain`'s flags)."""
        from .explain import explain, explain_options

        inputs = api_inputs(inputs, "explain")
        return explain(self, self.task.as_examples(inputs, self.opts), explain_options(**options))[0]


def load(directory: str, **kwargs) -> Predictor:
    """A model written by `labeltune train`, ready to predict: `labeltune.load("runs/x").predict(["text"])`.

    Keywords: precision ("auto", "bf16", "fp16", "fp32"), batch_size, backend, word_recognition (False: predict
    without the typo-correcting front end of `train --word-recognition`), and any task option to override what was
    saved (e.g. text_column="review")."""
    return Predictor(directory, **kwargs)
