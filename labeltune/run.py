"""What `labeltune train` does, as plain functions (the Python API calls these); `evaluate` and `predict` load a
trained model through predictor.py (`Predictor`, `load`, `read_meta`, re-exported here).

train: read and check the data -> split -> set up labels -> load the model -> tokenize -> the loop
(`train.fit`) -> final metrics on validation and test -> save a `save_pretrained` directory that plain
`transformers` loads, plus labeltune.json (how to run it), metrics.json, train_log.jsonl, config.yaml.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import torch
import yaml

from . import adapters, checkpoint, defaults
from .config import TrainConfig, changed, option_defaults, to_dict
from .data.readers import write_jsonl
from .files import atomic_write_text
from .data.split import grouped_stratified_split
from .errors import UserError
from .errors import flag as flag_name
from .guards import smallest_fraction
from .outputs import readable_rows
from .models import quiet_libraries
from .models import (choose_precision, limit_onednn_cache, load_tokenizer, reset_attention, resolve_model,
                     set_attention, share_pad_token)
from .tasks import Runtime, get_task
from .tracking import Tracker
from .predictor import META_FILE, Predictor, load, read_meta  # noqa: F401 (run.X for callers)


def model_max_length(tokenizer, model, requested: int) -> int:
    """--max-length, else the smallest of the tokenizer's and the model's limits, capped at 512. A --max-length
    beyond the model's position embeddings is refused (it would fail with an index error in the first step)."""
    limits = [512, tokenizer.model_max_length]
    positions = _usable_positions(model)
    if positions:
        limits.append(positions)
        if requested > positions:
            raise UserError(f"--max-length {requested}: the model has position embeddings for {positions} tokens; "
                            f"use --max-length {positions} or less")
    limit = min(x for x in limits if x and x > 0)
    return requested or limit


def _usable_positions(model) -> int | None:
    """How many tokens the model's position embeddings hold. RoBERTa-style embeddings (RoBERTa, XLM-RoBERTa,
    CamemBERT) number positions from their padding index + 1: max_position_embeddings 514 holds 512 tokens."""
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if positions:
        for name, module in model.named_modules():
            if (name.endswith("position_embeddings") and isinstance(module, torch.nn.Embedding)
                    and module.padding_idx is not None):
                return min(positions, module.num_embeddings - module.padding_idx - 1)
    return positions


def prepare_data(cfg: TrainConfig, task, opts, out_dir: str | None):
    """Read train/validation/test; carve seeded, grouped, stratified splits where files are missing."""
    for name in ("validation", "test"):  # a fraction is carved only where no file is given: else it does nothing
        if getattr(cfg, name) and getattr(cfg, f"{name}_fraction") and changed(cfg, [f"{name}_fraction"]):
            raise UserError(f"--{name} {getattr(cfg, name)} and {flag_name(name + '_fraction')} "
                            f"{getattr(cfg, name + '_fraction'):g}: the fraction is carved from --train only when no "
                            f"--{name} file is given; drop one of them")
    try:
        train = task.read(cfg.train, opts)
    except UserError as e:  # a file of another task's shape: say which --task it looks like
        from .hints import with_task_hint

        raise with_task_hint(e, cfg.train, task.name) from None
    validation = task.read(cfg.validation, opts) if cfg.validation else None
    test = task.read(cfg.test, opts) if cfg.test else None
    for name in ("validation", "test"):  # allowed (a smoke test does it), but its scores then say nothing
        other = getattr(cfg, name)
        if other and os.path.isfile(other) and os.path.isfile(cfg.train) and os.path.samefile(other, cfg.train):
            print(f"warning: --{name} {other} is the --train file: its scores are on training rows, not held-out "
                  "ones", flush=True)
    fractions = [cfg.validation_fraction if validation is None else 0.0, cfg.test_fraction if test is None else 0.0]
    if any(fractions):
        groups, strata = task.split_keys(train)
        val_idx, test_idx, train_idx = grouped_stratified_split(groups, strata, fractions, cfg.seed)
        n_groups = len(set(groups))
        for part, (idx, frac, name, flag) in enumerate(((val_idx, fractions[0], "validation", "--validation-fraction"),
                                                        (test_idx, fractions[1], "test", "--test-fraction"))):
            if frac and not idx:  # else training would silently run without that evaluation
                unit = getattr(task, "group_description", "identical input")  # NER: documents (-DOCSTART-)
                enough = smallest_fraction(groups, strata, fractions, part, cfg.seed)
                fix = (f"raise {flag} to at least {enough:g}" if enough else f"no {flag} up to 0.5 holds any out, as "
                       f"every class keeps a group for training ({n_groups} groups, {len(set(strata))} classes): add rows")
                raise UserError(f"--train {cfg.train}: {flag} {frac:g} of its {n_groups} groups of rows (by {unit}: "
                                f"a group is never split) gives an empty {name} split; {fix}, give --{name} FILE, or "
                                f"set {flag} 0 to do without")
        if not train_idx:
            raise UserError(f"--train {cfg.train}: after holding out validation and test rows none is left to train "
                            "on; lower --validation-fraction / --test-fraction or add rows")
        if out_dir:  # record the split, so the held-out rows can be found again, and write them as files
            from .outputs import write_split

            files = {name: write_split(cfg.train, [train[i] for i in idx], os.path.join(out_dir, "splits"), name, opts)
                     for name, idx, frac in (("validation", val_idx, fractions[0]), ("test", test_idx, fractions[1]))
                     if frac}
            with open(os.path.join(out_dir, "split.json"), "w") as f:
                json.dump(
                    {
                        "source": cfg.train, "seed": cfg.seed, "validation_fraction": fractions[0],
                        "test_fraction": fractions[1], "files": files,
                        "grouped_by": getattr(task, "group_description", "identical input"),
                        "validation": [train[i]["_where"] for i in val_idx],
                        "test": [train[i]["_where"] for i in test_idx],
                    },
                    f,
                    indent=0,
                )
        if fractions[0]:
            validation = [train[i] for i in val_idx]
        if fractions[1]:
            test = [train[i] for i in test_idx]
        train = [train[i] for i in train_idx]
    return train, validation or None, test or None


# what `train` writes into --output besides the model's and tokenizer's own files (labeltune.json lists
# those); --overwrite removes these and nothing else, and a directory that holds one of them without being
# labeltune's output is not written into
OWN_FILES = (META_FILE, "metrics.json", "train_log.jsonl", "config.yaml", "split.json", "predictions_validation.jsonl",
             "predictions_test.jsonl", "splits", "checkpoint", "checkpoint.old", "best", "best.old", "adapter",
             "report.html", "README.md", "onnx")  # the run report, its model card, a `labeltune export` of it
# save_pretrained's usual files, removed by --overwrite from outputs written before labeltune.json listed them
HF_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
            "merges.txt", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model", "chat_template.jinja")


def _is_labeltune_output(out: str) -> bool:
    """A finished model, a checkpoint, or the config.yaml a run writes before its first step."""
    if os.path.exists(os.path.join(out, META_FILE)) or checkpoint.existing(os.path.join(out, "checkpoint")):
        return True
    try:
        with open(os.path.join(out, "config.yaml")) as f:
            return "resolved_model_path" in (yaml.safe_load(f) or {})
    except (OSError, yaml.YAMLError, TypeError):
        return False


def own_paths(out: str) -> list[str]:
    """What labeltune wrote into `out` (see OWN_FILES), which --overwrite removes; any other file stays."""
    names = list(OWN_FILES)
    try:
        with open(os.path.join(out, META_FILE)) as f:
            names += json.load(f).get("files") or HF_FILES
    except (OSError, ValueError, AttributeError):
        names += HF_FILES
    names += [n for n in os.listdir(out) if ".tmp-" in n or n.startswith("model-0")]  # killed saves, shards
    return [os.path.join(out, os.path.basename(name)) for name in names]


def remove_own_files(out: str) -> None:
    """Remove what labeltune wrote into `out` (see OWN_FILES); any other file stays."""
    for path in own_paths(out):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _check_output(cfg: TrainConfig) -> str:
    if not cfg.output:
        raise UserError("--output is required: the directory for the fine-tuned model")
    out = cfg.output
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--output {out} is a file, expected a directory")
    if (cfg.resume and checkpoint.existing(os.path.join(out, "checkpoint")) is None
            and not os.path.exists(os.path.join(out, META_FILE))):  # resume-or-start (scripts rerun one command)
        print(f"--resume: no checkpoint in {out} to continue from; training from the start", flush=True)
    if os.path.isdir(out) and not _is_labeltune_output(out):
        present = sorted(os.listdir(out))
        clash = sorted(set(present) & set(OWN_FILES + HF_FILES))
        if clash or (cfg.overwrite and present):
            shown = ", ".join((clash or present)[:5]) + (", ..." if len(clash or present) > 5 else "")
            raise UserError(f"--output {out} is not labeltune's output (it holds {shown}); labeltune replaces only "
                            "what it wrote itself: choose another --output")
        return out  # empty, or other files only (without --overwrite): train writes beside them
    has_ckpt = checkpoint.existing(os.path.join(out, "checkpoint")) is not None
    if has_ckpt and not (cfg.resume or cfg.overwrite):
        raise UserError(f"--output {out} holds an unfinished run; pass --resume to continue it, --overwrite to start "
                        "afresh, or choose another --output")
    if os.path.exists(os.path.join(out, META_FILE)) and not (cfg.overwrite or cfg.resume):
        raise UserError(f"--output {out} already holds a trained model; pass --overwrite to replace it")
    if cfg.resume and not cfg.overwrite and not has_ckpt and os.path.exists(os.path.join(out, META_FILE)):
        # nothing to continue from: a fresh run would replace the finished model the user kept
        raise UserError(f"--resume: {out} holds a finished model and no checkpoint to continue from (only a killed "
                        "run, or one trained with --keep-checkpoint, leaves one); pass --overwrite to train it again")
    if cfg.overwrite and not (cfg.resume and has_ckpt) and os.path.isdir(out):  # --resume --overwrite: resume
        _check_inputs_survive(cfg, own_paths(out))  # where a checkpoint is, else start afresh (no stale files)
        remove_own_files(out)
    return out


def _check_inputs_survive(cfg: TrainConfig, removed: list[str]) -> None:
    """--overwrite must not delete the data this run reads (e.g. --train OUT/splits/test.csv --output OUT)."""
    doomed = [os.path.realpath(p) for p in removed if os.path.lexists(p)]
    for name in ("train", "validation", "test"):
        for path in str(getattr(cfg, name) or "").split(","):
            real = os.path.realpath(path) if path else ""
            if real and any(real == d or real.startswith(d + os.sep) for d in doomed):
                raise UserError(f"--{name} {path} lies in what --overwrite would remove from --output {cfg.output}; "
                                "copy it elsewhere first, or choose another --output")


def train(cfg: TrainConfig, opts, examples: tuple | None = None, setup: dict | None = None,
          save_model: bool = True) -> dict:
    """Fine-tune, evaluate and save. Returns the final metrics (also written to metrics.json).

    `examples`: (train, validation, test) lists already read by `task.read` (validation and test may be
    None), used instead of the files in `cfg` (e.g. the folds of `labeltune tune`). `setup`: the label set
    etc. to use instead of learning it from this train list (a fold may lack a rare label). `save_model`
    False skips writing the model and the prediction files (metrics.json is still written).
    """
    if cfg.train is None and examples is None:
        raise UserError("--train is required: the training data file")
    created = bool(cfg.output) and not os.path.exists(cfg.output)
    out = _check_output(cfg)
    os.makedirs(out, exist_ok=True)
    try:
        return _train(cfg, opts, out, examples, setup, save_model)
    except BaseException:
        from .tracking import close_open

        close_open(failed=True)  # a crash after the loop (evaluation, save) must not leave an MLflow run RUNNING
        # a run refused by validation (or stopped before its first checkpoint) leaves no folder behind
        if created and int(os.environ.get("RANK", "0")) == 0 and not checkpoint.existing(os.path.join(out, "checkpoint")):
            remove_own_files(out)
            if not os.listdir(out):
                os.rmdir(out)
        raise


def _train(cfg: TrainConfig, opts, out: str, examples, setup, save_model: bool) -> dict:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from .loop import fit

    quiet_libraries()  # the Python API is as quiet as the CLI
    limit_onednn_cache()
    task = get_task(cfg.task)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    precision = choose_precision(cfg.precision)
    # Accelerate keeps its settings in a process-wide singleton; a second train() in the same process (tune's
    # folds, a notebook) may ask for another precision. The process group (PartialState) is kept.
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()
    accelerator = Accelerator(mixed_precision={"fp32": "no"}.get(precision, precision), cpu=not torch.cuda.is_available())
    model_path = resolve_model(cfg.model)
    main = accelerator.is_main_process

    if examples is not None:
        train_ex, val_ex, test_ex = examples[0], examples[1] or None, examples[2] or None
    else:
        train_ex, val_ex, test_ex = prepare_data(cfg, task, opts, out if main else None)
    setup = setup or task.setup(train_ex, opts)
    for split, given in ((val_ex, cfg.validation), (test_ex, cfg.test)):
        if split:
            try:
                task.check(split, setup, opts)
            except UserError as e:
                if given or examples is not None:
                    raise
                raise UserError(f"{e} (that row was held out from --train {cfg.train} by the split, which never "
                                "splits a group of rows: give --validation / --test FILE, or another --seed)") from None
    recipe = checkpoint.recipe({**to_dict(cfg, opts), "precision": precision}, train_ex, val_ex,
                               accelerator.num_processes)  # the precision used: auto may differ by machine
    if cfg.resume:
        checkpoint.refuse_other_recipe(os.path.join(out, "checkpoint"), recipe, option_defaults(cfg, opts))
    tokenizer = load_tokenizer(model_path, cfg.trust_remote_code, getattr(task, "needs_offsets", True))
    set_seed(cfg.seed)  # the new head's initialisation depends on it
    if cfg.word_recognition:  # refused before any training when the task cannot have it
        from .robustness import wordfix

        wordfix.check(task, cfg.word_recognition)
        if main and (warning := wordfix.language_warning(task, train_ex, cfg.word_recognition)):
            print(warning, flush=True)
    model = share_pad_token(task.build_model(model_path, setup, opts, cfg), tokenizer)
    set_attention(model, cfg.attention, accelerator.device)
    model = adapters.apply(model, cfg)  # --peft: adapters + the head trainable, the rest frozen
    max_length = model_max_length(tokenizer, model, cfg.max_length)
    features = task.encode(train_ex, tokenizer, setup, opts, max_length)
    if cfg.augment:  # robust training: a share of the examples perturbed anew each epoch, labels kept aligned
        from .robustness.training import AugmentedFeatures

        features = AugmentedFeatures(task, train_ex, features,
                                     lambda ex: task.encode(ex, tokenizer, setup, opts, max_length), cfg)
    # --epochs/--batch-size/--lr left unset: chosen from the data and the model's size (see defaults.py); a
    # --few-shot run keeps them unset, for SetFit's own recipe (fewshot.DEFAULTS, recorded in labeltune.json)
    cfg, auto_settings = (cfg, {}) if cfg.few_shot else defaults.resolve(cfg, len(features), model,
                                                                         accelerator.num_processes)
    if auto_settings:
        accelerator.print(defaults.describe(auto_settings))
    if main:
        with open(os.path.join(out, "config.yaml"), "w") as f:
            yaml.safe_dump({**to_dict(cfg, opts), "resolved_model_path": model_path, "precision_used": precision,
                            **({"auto_settings": auto_settings} if auto_settings else {})}, f, sort_keys=False)
    accelerator.print(
        f"{cfg.task}: {len(train_ex)} train / {len(val_ex or [])} validation / {len(test_ex or [])} test examples, "
        f"{len(features)} features, precision {precision}, {accelerator.num_processes} process(es)"
    )

    rt = Runtime(model, tokenizer, setup, opts, max_length, precision, cfg.eval_batch_size, accelerator.device)
    if hasattr(features, "bind"):  # --augment-target salient / attack: the model in training ranks the words
        features.bind(rt)
    metric = cfg.metric or task.default_metric(opts)
    before = {}
    if hasattr(task, "baseline"):  # optional: the pretrained model's score, reported next to the final one
        for split, examples_ in (("validation", val_ex), ("test", test_ex)):
            if examples_:
                before[f"{split}_before"] = task.baseline(rt, examples_)
    # optional: a cheaper in-training evaluation (translation decodes a greedy subset, not all with beams)
    evaluate_fn = getattr(task, "evaluate_for_selection", task.evaluate)
    evaluate = (lambda m: evaluate_fn(rt, val_ex)[0]) if val_ex else None
    start = time.perf_counter()
    last = {}
    # --report-to: the log records also go to TensorBoard / MLflow (a no-op without the flag, and off rank 0)
    off = dict(report_to="", tracking_dir="", tracking_uri="", run_name="")  # (its settings need --report-to)
    tracker = Tracker(cfg if main else dataclasses.replace(cfg, **off), {**to_dict(cfg, opts), "model_path": model_path})
    if cfg.few_shot:  # optional task hook: SetFit's recipe instead of the loop (labeltune/fewshot.py)
        few_shot = getattr(task, "few_shot", None)
        if few_shot is None:
            raise UserError(f"--few-shot: --task {cfg.task} has no few-shot mode; use --task classification")
        model, last = few_shot(cfg, model_path, train_ex, setup, opts, tokenizer, max_length)
        fs = setup["few_shot"]
        accelerator.print(f"few-shot ({fs['library']}): {fs['iterations']} pair iterations, batch size "
                          f"{fs['batch_size']}, {fs['epochs']} epoch(s), lr {fs['lr']:g}")
    else:
        try:
            for last in fit(cfg, model, features, lambda b: task.collate(b, tokenizer), evaluate, metric, accelerator,
                            out, recipe, on_log=tracker.log):
                pass
        except BaseException:  # a crash or Ctrl-C: the MLflow run says FAILED, TensorBoard's files are flushed
            tracker.close(failed=True)
            raise
    wall = time.perf_counter() - start
    model = accelerator.unwrap_model(model)
    peft_info = adapters.settings(model, cfg) if adapters.enabled(cfg) else None
    if peft_info:  # the adapter alone (before merging), then the merged model for evaluation and the save
        if cfg.save_adapter and save_model and main:
            adapters.save_adapter(out, model)
        model = adapters.merge(model)
    # the final metrics use the attention kernel that a reload of the saved model gets, so that `labeltune
    # evaluate` and `pipeline()` reproduce them exactly (the training kernel keeps probabilities in bf16)
    reset_attention(model)
    rt.model = model
    fixer = None
    if cfg.word_recognition:  # the final scores are those of what a reload predicts with: the front end included
        fixer = wordfix.WordFixer.fit(task, train_ex, cfg.word_recognition)
        task = wordfix.WordRecognition(task, fixer)

    state = last.get("state") or {}
    if state.get("step"):  # which weights the saved model holds
        if state.get("best_step") is not None:
            accelerator.print(f"kept the weights of step {state['best_step']} of {state['step']} (best selection score "
                              f"{metric}={state['best']:.4f}); final scores below are on all of each split")
        else:
            accelerator.print(f"kept the weights of the last step ({state['step']}): no validation data to choose by")
    metrics = {
        "task": cfg.task,
        "model": cfg.model,
        "train_examples": len(train_ex),
        "steps": state.get("step"),
        "best_step": state.get("best_step"),
        "selection_metric": metric,
        "train_samples_per_s": round(state.get("samples", 0) / max(state.get("train_seconds", 0), 1e-9), 2),
        "wall_seconds": round(wall, 1),
        "precision": precision,
        **({"auto_settings": auto_settings} if auto_settings else {}),
        **before,
        **({"peft": peft_info} if peft_info else {}),
    }
    calibrate = getattr(task, "calibrate", None)  # optional: values tuned on validation (QA's null threshold)
    if calibrate is not None and val_ex:
        tuned = calibrate(rt, val_ex)
        if tuned:
            metrics["calibration"] = tuned
    predictions = {}
    for split, examples in (("validation", val_ex), ("test", test_ex)):
        if examples:
            metrics[split], predictions[split] = task.evaluate(rt, examples)
    # under FSDP each process holds a shard of the weights: gather them (a collective, so on every process)
    full_weights = checkpoint.gathered_weights(model, accelerator) if save_model else None
    if main:
        if save_model:
            save(out, task, model, tokenizer, setup, opts, max_length, full_weights)
            if fixer is not None:
                wordfix.attach(out, fixer)
            if peft_info:  # labeltune.json records the settings; <out>/adapter/ gets the tokenizer and its own
                adapters.record(out, peft_info, tokenizer, cfg.seed)
        for split, preds in (predictions if save_model else {}).items():  # for error analysis, next to the gold data
            split_ex = val_ex if split == "validation" else test_ex  # each row: where, input, prediction, gold
            write_jsonl(os.path.join(out, f"predictions_{split}.jsonl"),
                        [{"where": e["_where"], **r} for e, r in zip(split_ex, readable_rows(task, split_ex, preds))])
        atomic_write_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=1))  # whole or the old one
        tracker.log_final(metrics)
        if not cfg.keep_checkpoint:
            shutil.rmtree(os.path.join(out, "checkpoint"), ignore_errors=True)
        shutil.rmtree(os.path.join(out, "best"), ignore_errors=True)
        if save_model:  # report.html and the model card README.md (labeltune/report/)
            from .report import write_report

            write_report(out, after_training=True)
    tracker.close()
    accelerator.wait_for_everyone()
    return metrics


def save(out: str, task, model, tokenizer, setup, opts, max_length: int, state_dict=None) -> None:
    """A directory that `from_pretrained` and `pipeline` load, plus labeltune.json saying how to run it."""
    import dataclasses

    before = set(os.listdir(out))
    model.save_pretrained(out, state_dict=state_dict)
    tokenizer.save_pretrained(out)
    files = sorted(set(os.listdir(out)) - before)
    for name in files:
        if os.path.isfile(os.path.join(out, name)):
            checkpoint.make_readable(os.path.join(out, name))  # safetensors writes mode 600
    meta = {"task": task.name, "setup": setup, "options": dataclasses.asdict(opts), "max_length": max_length,
            "files": files}  # what --overwrite may remove
    atomic_write_text(os.path.join(out, META_FILE), json.dumps(meta, indent=1))  # never half a labeltune.json
