"""README.md: a Hugging Face model card (YAML metadata with model-index results, then prose) for a run.

Built with huggingface_hub's `ModelCard` / `ModelCardData` / `EvalResult`, so the Hub (and any tool that
reads model cards) sees the task, base model, metrics and data. Facts only come from the run's files; what
labeltune cannot know (the license, who may use the model) is said to be the owner's to fill in.
"""

from __future__ import annotations

import os
import re

from . import SPLITS, score_metrics

# the pipeline tag from the architecture transformers saved in config.json (no task-name branches)
PIPELINE_TAGS = {"ForSequenceClassification": "text-classification", "ForTokenClassification": "token-classification",
                 "ForQuestionAnswering": "question-answering", "ForConditionalGeneration": "translation",
                 "EncoderDecoderModel": "translation", "ForCausalLM": "translation"}


def _architecture(directory: str) -> str:
    import json

    path = os.path.join(directory, "config.json")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return (json.load(f).get("architectures") or [""])[0]


def _pipeline_tag(architecture: str) -> str | None:
    return next((tag for suffix, tag in PIPELINE_TAGS.items() if architecture.endswith(suffix)), None)


def card_text(run: dict) -> str:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from .. import __version__
    from ..html import environment

    meta, metrics, config, split = run["meta"], run["metrics"], run["config"], run["split"]
    name = os.path.basename(os.path.abspath(run["directory"]))
    architecture = _architecture(run["directory"])
    tag = _pipeline_tag(architecture)
    data_file = config.get("train") or "the training data"
    results = []
    for s in SPLITS:
        for metric, value in score_metrics(metrics.get(s)).items():
            if tag:
                results.append(EvalResult(task_type=tag, dataset_type="local", dataset_name=os.path.basename(str(data_file)),
                                          dataset_split=s, metric_type=metric, metric_value=round(float(value), 4)))
    base = config.get("model") or metrics.get("model")
    data = ModelCardData(model_name=name, base_model=_hub_id(base),
                         library_name="onnx" if meta.get("onnx") else "transformers", pipeline_tag=tag,
                         tags=["labeltune", meta["task"]],
                         eval_results=results or None)
    labels = meta["setup"].get("labels")
    template = environment().get_template("model_card.md.j2")
    body = template.render(
            name=name, task=meta["task"], architecture=architecture or "unknown", base=base, labels=labels,
            metrics={s: score_metrics(metrics.get(s)) for s in SPLITS if metrics.get(s)},
            before={s: score_metrics(metrics.get(f"{s}_before")) for s in SPLITS if metrics.get(f"{s}_before")},
            signatures=sorted({v for s in SPLITS for k, v in (metrics.get(s) or {}).items() if k.endswith("_signature")}),
            method=_method(run), front_end=_front_end(meta), scored=bool(metrics), onnx=meta.get("onnx"), exported_from=meta.get("exported_from"),
            same_as_train=[s for s in SPLITS if config.get(s) and config.get(s) == config.get("train")],
            selection=metrics.get("selection_metric"), config=_recipe(config), split=split, train_examples=metrics.get("train_examples"),
            steps=metrics.get("steps"), best_step=metrics.get("best_step"), calibration=metrics.get("calibration"),
            version=__version__, max_length=meta.get("max_length"),
    )
    # the metadata block written directly (not through ModelCard.from_template's second Jinja pass, which
    # would read "{{" in a label or a file name as template syntax)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body.strip()}\n").content


def _hub_id(base) -> str | None:
    """The base model as the Hub names it, for the card's `base_model` (the Hub checks it names a repository): the
    shipped short names as their repositories ("all-MiniLM-L6-v2" is sentence-transformers/all-MiniLM-L6-v2); a
    local directory or file (relative paths too, which were given as a repository) is left out."""
    from ..models import BUNDLED, BUNDLED_GGUF

    if not base:
        return None
    full = {k.split("/")[-1]: k for k in (*BUNDLED, *BUNDLED_GGUF) if "/" in k}
    base = full.get(str(base), str(base))
    if os.path.exists(base) or base.endswith(".gguf") or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base):
        return None
    return base


def _method(run: dict) -> str | None:
    """How the weights were trained when not all of them by the loop: adapters (--peft) or SetFit (--few-shot),
    whose learning rate and epochs are its own (config.yaml's lr is then unset)."""
    peft, few = run["metrics"].get("peft"), (run["meta"].get("setup") or {}).get("few_shot")
    if peft:
        extra = (", DoRA" if peft.get("dora") else "") + (f", biases {peft['lora_bias']}"
                                                          if peft.get("lora_bias") not in (None, "none") else "")
        extra += (f", {peft['lora_init']} init" if peft.get("lora_init") not in (None, "default") else "") + (
            ", rsLoRA scaling" if peft.get("rslora") else "")
        what = (f"LoRA (r {peft.get('r')}, alpha {peft.get('lora_alpha')}, dropout {peft.get('lora_dropout')}{extra})"
                if peft.get("method") == "lora" else str(peft.get("method", "adapters")).upper())
        layers = ", ".join(peft.get("target_modules") or []) or "the default layers"
        head = ", ".join(peft.get("modules_to_save") or [])
        counts = (f": {peft['trainable_parameters']:,} of {peft['total_parameters']:,} parameters trained "
                  f"({peft.get('trainable_percent')}%)" if peft.get("trainable_parameters") else "")
        return (f"{what} adapters on {layers}{' and the head (' + head + ')' if head else ''}{counts}. The "
                "adapters are merged into the saved weights, which plain `transformers` loads"
                + ("; the adapter alone is in `adapter/`" if os.path.isdir(os.path.join(run["directory"], "adapter")) else "") + ".")
    if few:
        return (f"Few-shot ({few.get('library', 'setfit')}'s recipe): contrastive fine-tuning of the encoder on sentence "
                f"pairs ({few.get('iterations')} per example, {few.get('epochs')} epoch(s), batch size "
                f"{few.get('batch_size')}, learning rate {few.get('lr')}), then a logistic-regression head on "
                f"{few.get('pooling', 'mean')}-pooled embeddings (`few_shot_head.safetensors`). `labeltune.load` runs it; "
                "plain `transformers` loads only the encoder.")
    return None


def _front_end(meta: dict) -> str | None:
    """train --word-recognition: what reads the input before the network (labeltune/robustness/wordfix.py)."""
    wr = meta.get("word_recognition")
    if not isinstance(wr, dict):
        return None
    words = "the training words alone" if wr.get("language") == "data" else \
        f"the training words and pyspellchecker's '{wr.get('language')}' word list"
    return (f"A typo-correcting front end (`--word-recognition`, `{wr.get('file')}`, {wr.get('words')} training words): "
            f"a word of 3 or more letters that is not a known word (known words: {words}) but is one edit from known "
            "ones is replaced by the most frequent of them before the network reads it; predictions are given in "
            "terms of the input as written. `labeltune.load` applies it; plain `transformers` and `pipeline()` "
            "load the network alone, without it.")


RECIPE_KEYS = ("train", "validation", "test", "lr", "batch_size", "epochs", "warmup_ratio", "weight_decay", "precision",
               "seed")


def _recipe(config: dict) -> dict:
    """config.yaml's values for the card; a key it lacks (the file deleted, or written by an older version) reads
    "unknown" instead of failing the whole card on the template's undefined name."""
    return {**{k: "unknown" for k in RECIPE_KEYS}, "precision_used": None, **config}


_MARK = re.compile(r"\n<!-- labeltune model card ([0-9a-f]{16}) -->\n?\Z")


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_card(run: dict) -> str:
    """README.md, ending in a comment with the digest of what was written: the card asks its owner to fill in the
    license, and `labeltune report` replaced an edited card in silence. A card whose text no longer matches its
    digest is kept (a UserError says how to rebuild it); one without the comment (older versions) is replaced."""
    from ..errors import UserError

    path = os.path.join(run["directory"], "README.md")
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            old = f.read()
        mark = _MARK.search(old)
        if mark and _digest(old[: mark.start()]) != mark.group(1):
            raise UserError(f"{path} was edited since labeltune wrote it; it is kept. To rebuild the model card, move "
                            "it away (your edits are then in the moved file) and run `labeltune report` again")
    text = card_text(run)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{text}\n<!-- labeltune model card {_digest(text)} -->\n")
    return path
