"""labeltune: supervised fine-tuning of pretrained transformers on labelled task data.

    import labeltune
    metrics = labeltune.train(task="classification", train="reviews.csv", output="runs/sentiment")
    labeltune.load("runs/sentiment").predict(["a gripping, funny film"])

One function per command, with the flags' names as keywords: train, tune_model (`tune`), learning_curve (`curve`),
suggest, find_label_issues (`label-issues`), measure_robustness (`robustness`), export_onnx (`export`),
write_report (`report`); load(dir) -> Predictor with predict, predict_file, evaluate and explain. Data is a file
path, or rows in memory (a pandas DataFrame, a `datasets.Dataset`, a list of dicts: labeltune/data/memory.py).
Mistakes raise UserError with the message the CLI prints; results are plain JSON-serialisable Python.
"""

import contextlib

from .data.memory import files_for
from .errors import UserError
from .run import Predictor, load

__version__ = "0.1.0"


@contextlib.contextmanager
def _own_threads():
    """`threads=N` is for the call: torch's thread count is process-wide, and a notebook's later work (or the next
    call without `threads`) ran on N threads."""
    import torch

    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _with_config(config, options: dict, function: str) -> dict:
    """The keyword options over those of `config`: a YAML / JSON file with the flags' names (as `labeltune train
    config.yaml --lr 3e-5`, where the flags win) or a dict."""
    import os

    if config is None:
        return options
    if isinstance(config, os.PathLike):
        config = os.fspath(config)
    if isinstance(config, str) and config.lower().endswith((".yaml", ".yml", ".json")):
        from .config import read_yaml

        values = read_yaml(config)
    elif isinstance(config, dict):
        values = {str(k).replace("-", "_"): v for k, v in config.items()}
    else:
        raise UserError(f"{function}: the one positional argument is a config file (.yaml, .yml or .json) or a dict "
                        f"of options, not {config!r:.80}; give the rest by name, e.g. train=\"data.csv\"")
    return {**values, **options}


def train(config=None, /, **options) -> dict:
    """Fine-tune and save to `output`; returns the final metrics (also in OUTPUT/metrics.json).

    Options have the CLI flags' names (`train="reviews.csv"`, `output="runs/x"`, `lr=3e-5`,
    `text_column="review"`; paths as str or pathlib.Path); `config`: a YAML/JSON file or dict of them, which the
    keywords override. `labeltune.load(output)` then predicts."""
    from .config import TrainConfig, split_options
    from .run import train as _train
    from .tasks import get_task

    options = _with_config(config, options, "labeltune.train()")
    task = get_task(options.get("task", "classification"))
    with files_for(options) as options, _own_threads():  # a DataFrame / Dataset / list of dicts: a temporary file
        cfg, opts = split_options(options, [TrainConfig, task.Options], "labeltune.train()")
        return _train(cfg, opts)


def tune_model(config=None, /, **options) -> dict:
    """`labeltune tune` from Python: k-fold CV over learning rates, the choice, the refit; returns the report.

    Same option names as the flags (`folds=5`, `lrs="1e-4,3e-4"`, `select="one-se"`, `storage=...`); with
    `refit=False` (an extra worker of a shared study) it returns {"worker_done": True} and the others report. Not
    named `tune`: the submodule `labeltune.tune` would replace a function of that name on first import.
    """
    from .config import TrainConfig, split_options
    from .tasks import get_task
    from .tune import TuneOptions, tune

    options = _with_config(config, options, "labeltune.tune_model()")  # (a config file or dict, as train's)
    task = get_task(options.get("task", "classification"))
    with files_for(options) as options, _own_threads():
        cfg, opts, topts = split_options(options, [TrainConfig, task.Options, TuneOptions], "labeltune.tune_model()")
        return tune(cfg, opts, topts)


def learning_curve(config=None, /, **options) -> dict:
    """`labeltune curve` from Python: test scores at growing label budgets, per recipe and seed; returns the
    report (also curve.csv / curve.json / curve.png in `output`). Options as the flags (`sizes="8,16,all"`,
    `per_class=True`, `seeds=3`, `compare={"full": {}, "fast": {"lr": 3e-4}}`, `strategy="entropy"`)."""
    from .config import TrainConfig, split_options
    from .curve import CurveOptions, curve
    from .tasks import get_task

    options = _with_config(config, options, "labeltune.learning_curve()")  # (a config file or dict, as train's)
    task = get_task(options.get("task", "classification"))
    _refuse_unused(options, ("validation_fraction", "resume", "save_adapter", "overwrite"), "labeltune.learning_curve()",
                   "each run trains afresh with no validation split and keeps no weights; a rerun reuses finished runs")
    compare = options.pop("compare", None)  # {"name": {"lr": 3e-4}} as well as the flag's 'name:lr=3e-4;...'
    with files_for(options) as options, _own_threads():
        cfg, opts, copts = split_options(options, [TrainConfig, task.Options, CurveOptions], "labeltune.learning_curve()")
        if compare is not None:
            copts.compare = compare if isinstance(compare, dict) else split_options(
                {"compare": compare}, [CurveOptions], "labeltune.learning_curve()")[0].compare
        return curve(cfg, opts, copts)


def _refuse_unused(options: dict, names, function: str, why: str) -> None:
    """Options a command refuses on the command line (they would be ignored) refused from Python too."""
    unused = [k for k in names if options.get(k) not in (None, False)]
    if unused:
        raise UserError(f"{function}: {', '.join(unused)} is not used here ({why}); leave it out")


def find_label_issues(config=None, /, **options) -> dict:
    """`labeltune label-issues` from Python: `folds` models trained out of fold, confident learning on their
    predictions; writes OUTPUT/label_issues.csv (+ .json) and returns the summary with the ranked "rows".
    Options as the flags (`train=`, `output=`, `folds=5`, and train's options such as `epochs=`, `text_column=`)."""
    from .config import TrainConfig, split_options
    from .label_issues import LabelIssueOptions, find_label_issues as _find
    from .tasks import get_task

    options = _with_config(config, options, "labeltune.find_label_issues()")
    task = get_task(options.get("task", "classification"))
    _refuse_unused(options, ("validation", "test", "validation_fraction", "test_fraction", "resume", "save_adapter"),
                   "labeltune.find_label_issues()", "every row of train is scored by the fold model that held it out")
    with files_for(options) as options, _own_threads():
        configs = split_options(options, [TrainConfig, task.Options, LabelIssueOptions], "labeltune.find_label_issues()")
        return _find(*configs)


def measure_robustness(model, data, output, precision: str = "fp32", batch_size: int = 64, **options) -> dict:
    """`labeltune robustness` from Python: the metric on `data` under perturbations (and `attack=True`, `tests=`
    behavioural tests, `compare=` a second model); writes robustness.json / .html / .png into `output` and returns
    the report. Options as the flags (`perturbations="typo,case"`, `severities="0.1"`, `max_examples=200`) and the
    model's input options (`text_column=`)."""
    import os

    from .config import field_names, split_options
    from .guards import api_path
    from .robustness import RobustnessOptions, robustness

    own = field_names(RobustnessOptions)
    (ropts,) = split_options({k: v for k, v in options.items() if k in own}, [RobustnessOptions],
                             "labeltune.measure_robustness()")
    if ropts.compare:
        ropts.compare = os.fspath(ropts.compare)
    with files_for({"data": data}, ("data",)) as given:  # rows in memory: a temporary file (data/memory.py)
        paths = [api_path(v, n, "measure_robustness") for v, n in ((model, "model"), (given["data"], "data"),
                                                                    (output, "output"))]
        return robustness(*paths, ropts, precision, batch_size, **{k: v for k, v in options.items() if k not in own})


def export_onnx(**options) -> dict:
    """`labeltune export` from Python: the model of `model=` as ONNX in `output=` (default MODEL/onnx), with
    `quantize="int8"` also int8; returns the agreement with the PyTorch model (also OUTPUT/export.json)."""
    from .config import split_options
    from .export import ExportOptions, export

    (eopts,) = split_options(options, [ExportOptions], "labeltune.export_onnx()")
    return export(eopts)


def write_report(model) -> dict:
    """`labeltune report` from Python: rebuild MODEL/report.html and the model card MODEL/README.md from the run's
    files; returns their paths."""
    from .guards import model_directory
    from .report import write_report as _write

    return _write(model_directory(model, "labeltune.write_report()"))


def suggest(**options) -> list[dict]:
    """`labeltune suggest` from Python: the pool rows to label next (`model=`, `pool=`, `output=`, `n=`,
    `strategy=`, `labelled=` for typiclust and cal, and the model's input options as `labeltune suggest` takes
    them, e.g. `text_column="review"`; `pool=` and `labelled=` may be rows in memory, as train='s data); returns
    them with their rank and score."""
    from .active import SuggestOptions, suggest as _suggest
    from .config import field_names, split_options

    classes = [SuggestOptions]
    if options.get("model") and set(options) - set(field_names(SuggestOptions)):  # the saved model's task options
        from .guards import model_directory
        from .run import read_meta
        from .tasks import get_task

        classes.append(get_task(read_meta(model_directory(options["model"]))["task"]).Options)
    with files_for(options, ("pool", "labelled")) as options:  # rows in memory: temporary files (data/memory.py)
        sopts, *task_opts = split_options(options, classes, "labeltune.suggest()")
        overrides = {k: getattr(task_opts[0], k) for k in options if task_opts and k in field_names(classes[1])}
        return _suggest(sopts, overrides)


__all__ = ["UserError", "Predictor", "load", "train", "tune_model", "learning_curve", "suggest", "find_label_issues",
           "measure_robustness", "export_onnx", "write_report"]
