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

from .cli_help import (COMMAND_HELP, DEBUG_DATA_FIELDS, DEBUG_DESCRIPTION, MODEL_COMMAND_DESCRIPTIONS,  # noqa: F401
                       NO_EFFECT, TASK_TITLES, TRAIN_DESCRIPTION, TRAIN_EPILOG, TRAIN_GROUPS, Parser, command_list,
                       unknown_command)
from .config import TrainConfig, read_yaml, split_options
from .errors import UserError

COMMANDS = ("train", "evaluate", "predict", "debug-data", "tune", "explain", "serve", "export", "report", "curve", "suggest", "robustness", "label-issues")
# commands whose module parses its own flags: name -> "module:function(argv) -> exit status"
OWN_PARSERS = {
    "explain": ".explain.cli:main", "serve": ".serve:main", "export": ".export:main", "report": ".report:main",
    "curve": ".curve:main", "suggest": ".active:main", "robustness": ".robustness.cli:main",
    "label-issues": ".label_issues:cli",
}


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls, skip=(), title: str | None = None,
                         groups: dict | None = None, defaults: dict | None = None, only=None) -> None:
    """One flag per field of `cls`. `title`: the help group's name; `groups`: {title: field names} to split
    the fields into named groups (the rest: "Other options"); `defaults`: values shown as the defaults in
    --help (e.g. what a trained model was trained with); `only`: the fields to offer (others are skipped)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(title or cls.__name__)
    named = {}
    for name, fields in (groups or {}).items():
        sub = parser.add_argument_group(name)
        named.update({f: sub for f in fields})
    if groups:
        group = parser.add_argument_group("Other options")
    for f in dataclasses.fields(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):  # `str | None` -> str
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        shown = (defaults or {}).get(f.name, f.default)
        help_text = f.metadata.get("help", "")
        if defaults and f.name in defaults:
            help_text += f" (this model: {shown!r})"
        elif "default:" not in help_text and shown is not None:  # "(default: auto ...)" already says it
            help_text += f" (default: {shown!r})"
        if f.name == "metric" and getattr(parser, "metric_names", None):
            help_text += f"; one of: {parser.metric_names}"
        group_ = named.get(f.name, group)
        help_text = help_text.replace("%", "%%")  # argparse %-formats help: "< 5%" would break --help
        if kind is bool:
            group_.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group_.add_argument(flag, dest=f.name, type=kind, default=None, metavar=kind.__name__.upper(), help=help_text)


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
    return argv[0] if argv and not argv[0].startswith("-") and argv[0].endswith((".yaml", ".yml", ".json")) else None


def _config_flag(argv: list[str]) -> list[str]:
    """`--config FILE` (or `--config=FILE`), the spelling of many tools, as the leading CONFIG file argument (was
    "unrecognized arguments"). A JSON file is YAML too."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return [argv[i + 1], *argv[:i], *argv[i + 2:]]
        if arg.startswith("--config="):
            return [arg.split("=", 1)[1], *argv[:i], *argv[i + 1:]]
    return argv


def parse_train_like(command: str, argv: list[str]):
    """(TrainConfig, task options, extra namespace) for train, debug-data and tune."""
    from .tasks import get_task

    config_file = _config_file(argv)
    task = get_task(_task_name(argv, config_file))
    description = {"train": TRAIN_DESCRIPTION, "debug-data": DEBUG_DESCRIPTION}.get(command, f"labeltune {command}")
    parser = Parser(prog=f"labeltune {command}", description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog=TRAIN_EPILOG if command == "train" else None,
                    usage=f"labeltune {command} [CONFIG.yaml] --train FILE [--output DIR] [options]")
    parser.metric_names = ", ".join(getattr(task, "metric_names", ()))
    if config_file:
        parser.add_argument("config", help="YAML file with the same option names as the flags")
    if command == "debug-data":  # only what the report uses
        _add_dataclass_flags(parser, TrainConfig, title="Data and model", only=DEBUG_DATA_FIELDS)
    else:
        _add_dataclass_flags(parser, TrainConfig, groups=TRAIN_GROUPS)
    _add_dataclass_flags(parser, task.Options, title=TASK_TITLES.get(task.name, f"{task.name} options"))
    extra_cls = None
    if command == "tune":
        from .tune import TuneOptions

        extra_cls = TuneOptions
        _add_dataclass_flags(parser, TuneOptions, title="Tuning options")
    if command == "debug-data":
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
    ns = parser.parse_args(argv)
    values = read_yaml(config_file) if config_file else {}
    classes = [TrainConfig, task.Options] + ([extra_cls] if extra_cls else [])
    for cls in classes:
        values.update(_flags_given(ns, cls))
    configs = split_options(values, classes, config_file or "command line")
    return configs, ns


def saved_model(argv: list[str]) -> tuple[object | None, dict]:
    """(task, labeltune.json contents) of the saved model that `--model` names in argv, or (None, {}): a command
    then adds that task's flags, with the saved values as their defaults."""
    from .run import META_FILE, read_meta
    from .tasks import get_task

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model")
    known, _ = pre.parse_known_args(argv)
    if known.model and os.path.exists(os.path.join(known.model, META_FILE)):
        meta = read_meta(known.model)  # a damaged file: a UserError naming it
        return get_task(meta["task"]), meta
    return None, {}


def saved_task(argv: list[str]):
    """The task of the saved model that `--model` names in argv, or None."""
    return saved_model(argv)[0]


def parse_model_command(command: str, argv: list[str]):
    """Options for evaluate / predict: the saved model decides the task and its default options."""
    task, meta = saved_model(argv)
    no_effect = NO_EFFECT.get(command, set())
    if task is not None:  # a flag that would be ignored is refused, not ignored
        for name in sorted(no_effect & {f.name for f in dataclasses.fields(task.Options)}):
            flag = "--" + name.replace("_", "-")
            if any(a == flag or a.startswith(flag + "=") or a == "--no-" + flag[2:] for a in argv):
                raise UserError(f"{flag} does nothing on `{command}`: it was fixed when the model was trained (this "
                                f"model: {meta['options'].get(name)!r}); train again to change it")
    parser = Parser(prog=f"labeltune {command}", description=MODEL_COMMAND_DESCRIPTIONS.get(command),
                    epilog=None if task else "With --model DIR, --help also lists that model's input options (e.g. "
                    "--text-column), with the values it was trained with as their defaults.")
    parser.add_argument("--model", required=True, help="a directory written by `labeltune train`")
    if command == "evaluate":
        parser.add_argument("--data", required=True, help="labelled data file to score")
        parser.add_argument("--output", help="also write the metrics JSON to this file (folders are created; '-': standard "
                            "output only)")
        parser.add_argument("--predictions", help="also write each row's input, prediction and gold answer to this "
                            "file: .csv, .tsv, .jsonl, .json (one array) or .parquet by its name, '-' for standard "
                            "output")
    else:
        parser.add_argument("--input", required=True, help="file of inputs to predict (labels not needed); '-': JSON "
                            "Lines from standard input")
        parser.add_argument("--output", required=True, help="where the predictions go, one row per input with the input "
                            "beside its prediction: .csv, .tsv, .jsonl, .json (one array) or .parquet by its name, '-' for "
                            "standard output; "
                            "folders are created")
    parser.add_argument("--keep-columns", help="input columns copied into every prediction row, e.g. 'id,date'")
    parser.add_argument("--precision", default="auto", help="auto | bf16 | fp16 | fp32 (default: auto)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch (default: 64)")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                        help="torch, or onnx for a `labeltune export` directory (default: auto, from the directory)")
    parser.add_argument("--no-word-recognition", action="store_true", help="a model trained with --word-recognition: "
                        "the network alone, without its typo-correcting front end (to compare)")
    if task is not None:  # the task's options, to override what was saved (e.g. another --text-column)
        _add_dataclass_flags(parser, task.Options, skip=no_effect, defaults=meta.get("options"),
                             title=f"{TASK_TITLES.get(task.name, task.name)} (defaults: what this model was trained with)")
    if task is None and parser.parse_known_args(argv)[1]:
        # flags only a trained model's task adds (--text-column): when --model is no trained model, say why
        # rather than "unrecognized arguments"
        from .run import read_meta

        read_meta(parser.parse_known_args(argv)[0].model)
    ns = parser.parse_args(argv)
    overrides = _flags_given(ns, task.Options) if task is not None else {}
    return ns, overrides


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"labeltune {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(unknown_command(argv[0], COMMANDS), file=sys.stderr)
            return 2
        print(command_list(COMMANDS))
        return 0
    command, rest = argv[0], argv[1:]
    if command in ("train", "debug-data", "tune", "curve", "label-issues"):  # the commands that read a CONFIG file
        rest = _config_flag(rest)
    _quiet_libraries()
    try:
        return _run(command, rest)
    except UserError as e:
        print(f"labeltune {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"labeltune {command}: interrupted; a `train` run continues with --resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `labeltune evaluate ... | head -3`: the reader has gone, so has the rest of the output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else Python's exit flush raises again
        return 141  # 128 + SIGPIPE, as a shell tool ends
    except OSError as e:
        if getattr(e, "filename", None) is None:  # not about a path the user gave: a bug, keep the traceback
            raise
        print(f"labeltune {command}: error: {os_error_message(e)}", file=sys.stderr)
        return 2


def os_error_message(e: OSError) -> str:
    """One line for a file-system error on a path (a file where a folder must go, no permission, a full disk)."""
    import errno

    path = e.filename
    if isinstance(e, (FileExistsError, NotADirectoryError)):
        return f"{path}: a file stands where a folder is needed ({e.strerror}); choose another output path"
    if isinstance(e, IsADirectoryError):
        return f"{path} is a folder; give a file name"
    if isinstance(e, PermissionError):
        return f"{path}: permission denied; choose a path you can read or write"
    if e.errno == errno.ENOSPC:
        return f"{path}: no space left on the device; free some space or choose another output path"
    return f"{path}: {e.strerror or e}"


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
            return 1 if rep.get("errors") else 0  # 1: `train` would refuse this data
        else:
            from .tune import tune

            tune(*configs)
        return 0
    if command in OWN_PARSERS:  # commands whose module parses its own flags
        import importlib

        module, function = OWN_PARSERS[command].split(":")
        return getattr(importlib.import_module(module, __package__), function)(rest)
    ns, overrides = parse_model_command(command, rest)
    if command == "evaluate" and ns.output:  # before the model runs, not after
        from .guards import check_model_file
        from .outputs import check_output_file

        if ns.output == "-" and ns.predictions == "-":
            raise UserError("--output - and --predictions - both write to standard output; give one a file name")
        if ns.predictions and ns.output != "-" and os.path.realpath(ns.output) == os.path.realpath(ns.predictions):
            raise UserError(f"--output {ns.output} and --predictions {ns.predictions} are one file: the metrics would "
                            "replace the predictions; give each its own name")
        check_output_file(ns.data, ns.output)
        check_model_file(ns.model, ns.output, instead="eval_metrics.json")  # (runs/x/metrics.json: the run's own)
    from .robustness.wordfix import switch_off

    predictor = run.load(ns.model, precision=ns.precision, batch_size=ns.batch_size, backend=ns.backend,
                         **switch_off(ns.no_word_recognition, ns.model), **overrides)
    if command == "evaluate":
        metrics = predictor.evaluate(ns.data, predictions=ns.predictions, keep_columns=ns.keep_columns)
        text = json.dumps(metrics, indent=1)
        if ns.predictions != "-":
            print(text)
        elif not ns.output:  # standard output holds the predictions; without --output the metrics go to stderr
            print(text, file=sys.stderr)
        if ns.output and ns.output != "-":  # "-": the metrics printed above are the output
            from .files import atomic_write_text

            atomic_write_text(ns.output, text + "\n")  # creates folders; refuses a folder or a file in the way
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
    from .models import quiet_libraries

    quiet_libraries()


if __name__ == "__main__":
    sys.exit(main())
