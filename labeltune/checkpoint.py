"""Atomic checkpoints: a killed run never leaves a half-written model or state behind.

Everything is written into a temporary sibling directory first and then renamed into place; a rename is
atomic on POSIX file systems, so a reader sees either the old checkpoint or the new one, never a mix.
Weights go to safetensors; optimizer state uses torch.save and is read back with `weights_only=True`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file, save_model

from .errors import UserError
from .files import atomic_dir, make_readable  # noqa: F401  (make_readable: for callers)


def remove_stale(*paths: str) -> None:
    """Remove `<path>.tmp-<pid>` folders that a save killed half-way left behind."""
    for path in paths:
        for tmp in glob.glob(glob.escape(path) + ".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)


def existing(path: str) -> str | None:
    """`path` if a complete checkpoint is there, or the previous one if a kill struck between two renames."""
    for p in (path, f"{path}.old"):
        if os.path.exists(os.path.join(p, "state.json")):
            return p
    return None


def is_sharded(accelerator) -> bool:
    """True under FSDP: parameters are split across processes, so saving and loading are collective."""
    return accelerator is not None and accelerator.distributed_type == "FSDP"  # accelerate's str enum


def _full_state(model, optimizer=None):
    """Unsharded state dicts (on the CPU) of an FSDP model and its optimizer. Every process must call this:
    it gathers the shards. The optimizer's is keyed by parameter name, not by position."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    if optimizer is None:
        return get_model_state_dict(model, options=options), None
    return get_state_dict(model, optimizer, options=options)


def gathered_weights(model, accelerator):
    """Under FSDP, the full weights gathered from every process's shard (call it on all of them); else None,
    meaning "the model's own state dict"."""
    return _full_state(model)[0] if is_sharded(accelerator) else None


def _write_weights(path: str, model, state_dict) -> None:
    if state_dict is None:
        save_model(model, path)  # stores tied tensors once
    else:
        seen, unique = set(), {}
        for name, t in state_dict.items():  # safetensors refuses two names on one storage: copy the second
            unique[name] = t.clone() if t.data_ptr() in seen else t.contiguous()
            seen.add(t.data_ptr())
        save_file(unique, path)


def save(path: str, model, optimizer, scheduler, state: dict, accelerator=None) -> None:
    """Write a checkpoint (weights, optimizer, scheduler, RNG, loop state). Call it on every process: under
    FSDP all of them gather the shards; the main process writes."""
    model_sd, optim_sd = _full_state(model, optimizer) if is_sharded(accelerator) else (None, None)
    rng = _rng_states(accelerator)  # a collective too
    if accelerator is not None and not accelerator.is_main_process:
        return
    with atomic_dir(path) as tmp:
        _write_weights(os.path.join(tmp, "model.safetensors"), model, model_sd)
        blob = {"optimizer": optimizer.state_dict() if optim_sd is None else optim_sd,
                "sharded": optim_sd is not None, "scheduler": scheduler.state_dict(), "rng": rng[0],
                "rng_per_process": rng}
        torch.save(blob, os.path.join(tmp, "optimizer.pt"))
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump(state, f, indent=1)


def _rng_states(accelerator) -> list[dict]:
    """Every process's RNG states in rank order: processes draw different dropout masks (their slices of a
    batch differ), so a resumed multi-process run equals an uninterrupted one only if each gets its own back."""
    mine = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        mine["cuda"] = torch.cuda.get_rng_state_all()
    if accelerator is None or accelerator.num_processes == 1:
        return [mine]
    states = [None] * accelerator.num_processes
    torch.distributed.all_gather_object(states, mine)
    return [{k: (v.cpu() if isinstance(v, torch.Tensor) else [t.cpu() for t in v]) for k, v in s.items()}
            for s in states]


def load(path: str, model, optimizer, scheduler, accelerator=None) -> dict:
    """Restore weights, optimizer, scheduler and RNG states in place (on every process); return the loop state."""
    blob = torch.load(os.path.join(path, "optimizer.pt"), weights_only=True)
    sharded = is_sharded(accelerator)
    if blob.get("sharded", False) != sharded:
        raise UserError(f"--resume: {path} was written {'with' if blob.get('sharded') else 'without'} FSDP; "
                        "resume it with the same launch configuration")
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(model, optimizer, model_state_dict=load_file(os.path.join(path, "model.safetensors")),
                       optim_state_dict=blob["optimizer"], options=StateDictOptions(full_state_dict=True))
    else:
        load_weights(path, model)
        optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    per_process = blob.get("rng_per_process") or [blob["rng"]]
    world, rank = (accelerator.num_processes, accelerator.process_index) if accelerator is not None else (1, 0)
    if len(per_process) != world:
        raise UserError(f"--resume: {path} was written by {len(per_process)} process(es), this run has {world}; "
                        "resume it with the same launch configuration")
    rng = per_process[rank]
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    with open(os.path.join(path, "state.json")) as f:
        return json.load(f)


def save_weights(path: str, model, accelerator=None) -> None:
    """The model's weights alone (the best model so far). Call it on every process, as `save`."""
    model_sd = gathered_weights(model, accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        return
    with atomic_dir(path) as tmp:
        _write_weights(os.path.join(tmp, "model.safetensors"), model, model_sd)


def load_weights(path: str, model, accelerator=None) -> None:
    """Copy the weights saved at `path` into `model`, one tensor at a time (a whole second copy of the model
    in memory, as safetensors' load_model makes, raised a run's peak memory by the model's size)."""
    if is_sharded(accelerator):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, load_file(os.path.join(path, "model.safetensors")),
                             options=StateDictOptions(full_state_dict=True))
        return
    params = model.state_dict()
    with safe_open(os.path.join(path, "model.safetensors"), framework="pt") as f:
        names = set(f.keys())
        loaded = set()
        with torch.no_grad():
            for name in names:
                if name not in params:
                    raise ValueError(f"{path}: unexpected tensor {name} for this model")
                params[name].copy_(f.get_tensor(name))
                loaded.add(params[name].data_ptr())
    # save_model stores a tied tensor (e.g. shared input/output embeddings) once, under one of its names
    missing = [n for n, t in params.items() if n not in names and t.data_ptr() not in loaded]
    if missing:
        raise ValueError(f"{path}: no saved weights for {', '.join(missing[:5])}")


# --- the recipe: what a resumed run must share with the run that wrote the checkpoint ----------------
# settings that change how a run is logged, stored or sped up, not the weights it reaches; the data files'
# paths are left out too, since their content is compared (a moved file resumes)
NOT_IN_RECIPE = {"output", "resume", "overwrite", "keep_checkpoint", "quiet", "threads", "log_every",
                 "eval_batch_size", "save_every", "attention", "train", "validation", "test",
                 "bleu_tokenize"}  # how BLEU is scored, not how the model trains: a checkpoint from before it resumes


def fingerprint(examples: list[dict] | None) -> str | None:
    """A short hash of examples as read (their fields, not where they came from)."""
    if examples is None:
        return None
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps({k: v for k, v in e.items() if k != "_where"}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def recipe(settings: dict, train_examples: list, validation_examples: list | None, processes: int) -> dict:
    """The settings that fix a run's training trajectory, with its data's fingerprints, as JSON values."""
    r = {k: v for k, v in settings.items() if k not in NOT_IN_RECIPE}
    r.update(train_data=fingerprint(train_examples), validation_data=fingerprint(validation_examples),
             processes=processes)
    return json.loads(json.dumps(r, default=str))


def refuse_other_recipe(path: str, new: dict, defaults: dict | None = None) -> None:
    """UserError naming the differing settings if the checkpoint at `path` was written under another recipe.
    `defaults`: each option's default; an option the checkpoint's recipe lacks (added to labeltune after it was
    written) matches when it has its default now, which is what the older run did."""
    found = existing(path)
    if found is None:
        return
    with open(os.path.join(found, "state.json")) as f:
        old = json.load(f).get("recipe")
    if old is None:  # written before checkpoints stored their recipe
        return
    defaults = json.loads(json.dumps(defaults or {}, default=str))
    then = {k: defaults[k] for k in set(new) - set(old) if k in defaults} | old
    differ = sorted(k for k in set(then) | set(new) if then.get(k) != new.get(k))
    if differ:
        changes = "; ".join(f"{k}: {then.get(k)!r} then, {new.get(k)!r} now" for k in differ)
        raise UserError(f"--resume: the checkpoint in {path} was written with other settings ({changes}); resume "
                        "with the original settings and data, or start afresh with --overwrite or another --output")
