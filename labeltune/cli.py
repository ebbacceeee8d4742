"""Command line: subcommands mapped to the functions in `labeltune.run` (and `labeltune.tune`).

Flags are generated from the config dataclasses, so `--text-column` on the command line, `text_column`
in a YAML file and `text_column=` in Python are one option. Precedence: defaults < YAML file < flags.
Parsing is two-phase: the task (from --task, the YAML file, or a saved model) decides which task flags exist.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import types
import typing

from .config import TrainConfig, read_yaml, split_options
from .errors import UserError

COMMANDS = ("train", "evaluate", "predict", "debug-data", "tune", "explain", "serve", "export", "report", "curve", "suggest", "robustness")


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):  # `str | None` -> str
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=kind, default=None, metavar=kind.__name__.upper(), help=help_text)


def _flags_given(ns: argparse.Namespace, cls) -> dict:
    return {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if getattr(ns, f.name, None) is not None}


def _task_name(argv: list[str], config_file: str | None, default: str = "classification") -> str:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    known, _ = pre.parse_known_args(argv)
    if known.task:
        return known.task
    if config_file:
        return read_yaml(config_file).get("task", default)
    return default


def _config_file(argv: list[str]) -> str | None:
    return argv[0] if argv and not argv[0].startswith("-") and argv[0].endswith((".yaml", ".yml")) else None


def parse_train_like(command: str, argv: list[str]):
    """(TrainConfig, task options, extra namespace) for train, debug-data and tune."""
    from .tasks import get_task

    config_file = _config_file(argv)
    task = get_task(_task_name(argv, config_file))
    parser = argparse.ArgumentParser(prog=f"labeltune {command}", description=f"labeltune {command}")
    if config_file:
        parser.add_argument("config", help="YAML file with the same option names as the flags")
    _add_dataclass_flags(parser, TrainConfig)
    _add_dataclass_flags(parser, task.Options)
    extra_cls = None
    if command == "tune":
        from .tune import TuneOptions

        extra_cls = TuneOptions
        _add_dataclass_flags(parser, TuneOptions)
    if command == "debug-data":
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
    ns = parser.parse_args(argv)
    values = read_yaml(config_file) if config_file else {}
    classes = [TrainConfig, task.Options] + ([extra_cls] if extra_cls else [])
    for cls in classes:
        values.update(_flags_given(ns, cls))
    configs = split_options(values, classes, config_file or "command line")
    return configs, ns


def parse_model_command(command: str, argv: list[str]):
    """Options for evaluate / predict: the saved model decides the task and its default options."""
    from .run import META_FILE
    from .tasks import get_task

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model")
    known, _ = pre.parse_known_args(argv)
    task = None
    if known.model and os.path.exists(os.path.join(known.model, META_FILE)):
        with open(os.path.join(known.model, META_FILE)) as f:
            task = get_task(json.load(f)["task"])
    parser = argparse.ArgumentParser(prog=f"labeltune {command}")
    parser.add_argument("--model", required=True, help="a directory written by `labeltune train`")
    if command == "evaluate":
        parser.add_argument("--data", required=True, help="labelled data file to score")
        parser.add_argument("--output", help="also write the metrics JSON to this file (folders are created)")
        parser.add_argument("--predictions", help="also write each row's input, prediction and gold answer to this "
                            "file: .csv, .tsv or .jsonl by its name, '-' for standard output")
    else:
        parser.add_argument("--input", required=True, help="file of inputs to predict (labels not needed)")
        parser.add_argument("--output", required=True, help="where the predictions go, one row per input with the input "
                            "beside its prediction: .csv, .tsv or .jsonl by its name, '-' for standard output; "
                            "folders are created")
    parser.add_argument("--keep-columns", help="input columns copied into every prediction row, e.g. 'id,date'")
    parser.add_argument("--precision", default="auto", help="auto | bf16 | fp16 | fp32 (default: auto)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch (default: 64)")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                        help="torch, or onnx for a `labeltune export` directory (default: auto, from the directory)")
    if task is not None:  # the task's options, to override what was saved (e.g. another --text-column)
        _add_dataclass_flags(parser, task.Options)
    ns = parser.parse_args(argv)
    overrides = _flags_given(ns, task.Options) if task is not None else {}
    return ns, overrides


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: labeltune {{{','.join(COMMANDS)}}} ... (labeltune COMMAND --help for its flags)")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"labeltune: unknown command '{argv[0]}'", file=sys.stderr)
            return 2
        return 0
    command, rest = argv[0], argv[1:]
    _quiet_libraries()
    try:
        return _run(command, rest)
    except UserError as e:
        print(f"labeltune {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"labeltune {command}: interrupted; a `train` run continues with --resume", file=sys.stderr)
        return 130


def _run(command: str, rest: list[str]) -> int:
    from . import run

    if command in ("train", "debug-data", "tune"):
        configs, ns = parse_train_like(command, rest)
        if command == "train":
            metrics = run.train(*configs)
            if int(os.environ.get("RANK", "0")) == 0:  # under torchrun / accelerate launch, print once
                print(json.dumps(_summary(metrics), indent=1))
                print(f"saved to {configs[0].output}")
        elif command == "debug-data":
            from .debug_data import format_report, report

            rep = report(*configs)
            print(json.dumps(rep, indent=1) if ns.json else format_report(rep))
        else:
            from .tune import tune

            tune(*configs)
        return 0
    if command in ("curve", "suggest"):  # learning curves; active learning (labeltune/curve.py, active.py)
        from . import active, curve

        return (curve.main if command == "curve" else active.main)(rest)
    if command == "robustness":  # perturbations, attack, behavioural tests (labeltune/robustness/)
        from .robustness.cli import main as robustness_main

        return robustness_main(rest)
    if command == "explain":
        from .explain.cli import main as explain_main

        return explain_main(rest)
    if command in ("serve", "export", "report"):  # each module parses its own flags
        import importlib

        return importlib.import_module(f".{command}", __package__).main(rest)
    ns, overrides = parse_model_command(command, rest)
    predictor = run.load(ns.model, precision=ns.precision, batch_size=ns.batch_size, backend=ns.backend, **overrides)
    if command == "evaluate":
        metrics = predictor.evaluate(ns.data, predictions=ns.predictions, keep_columns=ns.keep_columns)
        text = json.dumps(metrics, indent=1)
        if ns.predictions != "-":  # standard output holds the predictions then; the metrics go to --output
            print(text)
        if ns.output:
            if os.path.dirname(ns.output):
                os.makedirs(os.path.dirname(ns.output), exist_ok=True)
            with open(ns.output, "w") as f:
                f.write(text + "\n")
    else:
        n = predictor.predict_file(ns.input, ns.output, keep_columns=ns.keep_columns)
        where = "standard output" if ns.output == "-" else ns.output
        print(f"wrote {n} predictions to {where}", file=sys.stderr if ns.output == "-" else sys.stdout)
    return 0


def _summary(metrics: dict) -> dict:
    """The headline numbers; the full detail (per class, confusion matrix) is in metrics.json."""
    drop = {"per_class", "confusion_matrix", "per_type"}
    return {k: ({kk: vv for kk, vv in v.items() if kk not in drop} if isinstance(v, dict) else v) for k, v in metrics.items()}


def _quiet_libraries() -> None:
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


if __name__ == "__main__":
    sys.exit(main())
