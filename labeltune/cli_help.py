"""What the command line says to a person: "did you mean", the command list, help pages in named groups.

`Parser` is argparse's ArgumentParser with one change: an unknown flag gets the nearest known one, and the
Hugging Face example scripts' names (`--learning_rate`, `--output_dir`, ...) are mapped to ours
(config.ALIASES). Every labeltune command should build its parser with it (`from labeltune.cli_help import
Parser`).
"""

from __future__ import annotations

import argparse
import difflib
import re

from .config import ALIASES, HF_HINTS

# one line per command for `labeltune --help`; a command missing here shows its module's first docstring line
COMMAND_HELP = {
    "train": "fine-tune a model on labelled data and save it (with metrics and held-out splits)",
    "evaluate": "score a trained model on a labelled file",
    "predict": "predict a file of inputs with a trained model (CSV, JSONL, or standard output)",
    "debug-data": "report every problem in a data set before training on it",
    "tune": "choose the learning rate by k-fold cross-validation, then refit",
    "explain": "which words made a trained model predict what it did",
    "robustness": "how predictions change under typos, paraphrases and attacks",
    "curve": "learning curve: scores at growing training-set sizes",
    "suggest": "active learning: which unlabelled rows to label next",
    "serve": "serve a trained model over HTTP (127.0.0.1 by default)",
    "export": "export a trained model to ONNX",
    "report": "an HTML page about a finished run",
}

# TrainConfig fields by the group `train --help` shows them in (a field not listed goes to "Other options")
TRAIN_GROUPS = {
    "Data and model": ("task", "model", "train", "validation", "test", "output", "validation_fraction", "test_fraction",
                       "max_length", "trust_remote_code"),
    "Training (unset: chosen from the data size and the model, see labeltune/defaults.py)": (
        "epochs", "max_steps", "lr", "batch_size", "grad_accum", "weight_decay", "warmup_ratio", "max_grad_norm",
        "seed", "max_tokens", "group_by_length"),
    "Evaluation, model selection and checkpoints": ("eval_every", "metric", "patience", "save_every", "resume",
                                                    "overwrite", "keep_checkpoint", "eval_batch_size"),
    "Speed, hardware and console": ("precision", "attention", "threads", "quiet", "log_every"),
}
TASK_TITLES = {"classification": "Classification options", "ner": "NER options", "qa": "Question answering options",
               "translation": "Translation options"}

TRAIN_DESCRIPTION = """\
Fine-tune a pretrained transformer on labelled data and save a model that `transformers` loads.

Only --train and --output are needed: the model defaults to all-MiniLM-L6-v2 (translation: SmolLM2-135M-Instruct),
10% of --train is held out for validation, and the number of epochs, the batch size and the learning rate are chosen
from the data size and the model's size (printed, and written to config.yaml). A YAML or JSON file may hold any of
these options (`labeltune train config.yaml --lr 3e-5`, or `--config config.yaml`; flags win; a run's config.yaml
repeats it). `--task ner --help` shows that task's own options."""

TRAIN_EPILOG = """\
examples:
  labeltune train --train reviews.csv --output runs/sentiment
  labeltune train --task ner --train train.conll --validation dev.conll --output runs/ner
  labeltune evaluate --model runs/sentiment --data runs/sentiment/splits/validation.csv"""


def nearest(word: str, choices, cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped flag and the Hugging Face scripts' flag names mapped."""

    def error(self, message: str):
        match = re.search(r"unrecognized arguments: (.*)", message)
        if match:
            flags = [a for a in match.group(1).split() if a.startswith("-")]
            known = [s for s in self._option_string_actions if s.startswith("--")]
            hints = [h for h in (self.suggest(f, known) for f in flags) if h]
            if hints:
                message = f"{message}; " + "; ".join(hints)
        # one line, like every other error of the CLI (the usage block of a command with a model's flags is a
        # dozen lines that bury the message); --help has the usage
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    @staticmethod
    def suggest(flag: str, known: list[str]) -> str | None:
        name = flag.split("=")[0].lstrip("-")
        ours = ALIASES.get(name.replace("-", "_"))
        if ours and "--" + ours.replace("_", "-") in known:
            return f"{flag.split('=')[0]} is the Hugging Face scripts' name: labeltune calls it --{ours.replace('_', '-')}"
        if name.replace("-", "_") in HF_HINTS:
            return f"{flag.split('=')[0]} is a Hugging Face Trainer setting; here: {HF_HINTS[name.replace('-', '_')]}"
        # compared without the dashes, which every flag shares (with them, "--trian" came out as "--n")
        close = nearest(name.replace("_", "-"), [k[2:] for k in known])
        return f"did you mean --{close} (for {flag.split('=')[0]})?" if close else None


def command_list(commands) -> str:
    """`labeltune --help`: every command with one line."""
    width = max(len(c) for c in commands) + 2
    lines = ["usage: labeltune COMMAND [options]   (labeltune COMMAND --help for a command's options)", "",
             "Fine-tune pretrained transformers for classification, NER, question answering and translation.", "",
             "commands:"]
    for c in commands:
        lines.append(f"  {c:<{width}}{COMMAND_HELP.get(c) or _module_line(c)}")
    lines += ["", "  --version     print labeltune's version", "",
              "Start with: labeltune train --train data.csv --output runs/first   (a CSV with text and label columns)"]
    return "\n".join(lines)


def _module_line(command: str) -> str:
    import importlib

    for name in (command.replace("-", "_"), f"{command.replace('-', '_')}.cli"):
        try:
            doc = importlib.import_module(f"labeltune.{name}").__doc__ or ""
        except Exception:  # a command whose module cannot be imported here still gets listed
            continue
        if doc.strip():
            return doc.strip().split("\n")[0]
    return ""


def unknown_command(word: str, commands) -> str:
    close = nearest(word, commands, cutoff=0.5)
    hint = f"did you mean '{close}'? " if close else ""
    return f"labeltune: unknown command '{word}'; {hint}the commands are {', '.join(commands)} (labeltune --help)"

DEBUG_DATA_FIELDS = ("task", "model", "train", "validation", "max_length", "trust_remote_code")
DEBUG_DESCRIPTION = """\
Report on a data set before training on it: counts, duplicates, train/validation overlap, token lengths and
truncation, and every problem found (each with its file and line). Exits 1 when `labeltune train` would refuse
the data. The model matters only for its tokenizer (token lengths)."""

# task options fixed at training time: on these commands they would do nothing, so they are refused
NO_EFFECT = {
    "predict": {"multi_label", "label_names", "label_column", "label_delimiter", "calibrate", "version_2_with_negative",
                "tune_null_threshold", "repair_answers", "architecture", "decoder_model", "max_target_length",
                "target_column", "tags_column", "spans_column", "tag_names", "scheme", "strict_tags", "metric_lowercase"},
    "evaluate": {"multi_label", "calibrate", "version_2_with_negative", "tune_null_threshold", "architecture",
                 "decoder_model"},
}
MODEL_COMMAND_DESCRIPTIONS = {
    "predict": "Predict every row of --input with a model written by `labeltune train`; each output row holds the "
               "input beside its prediction.",
    "evaluate": "Score a model written by `labeltune train` on a labelled file (metrics as JSON).",
}
