"""Atomic checkpoints: a killed run never leaves a half-written model or state behind.

Everything is written into a temporary sibling directory first and then renamed into place; a rename is
atomic on POSIX file systems, so a reader sees either the old checkpoint or the new one, never a mix.
Weights go to safetensors; optimizer state uses torch.save and is read back with `weights_only=True`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import torch
from safetensors.torch import load_model, save_model


@contextlib.contextmanager
def atomic_dir(path: str):
    """Yield a temporary directory that replaces `path` when the block finishes without error."""
    tmp = f"{path}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = f"{path}.old"
    if os.path.exists(path):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def existing(path: str) -> str | None:
    """`path` if a complete checkpoint is there, or the previous one if a kill struck between two renames."""
    for p in (path, f"{path}.old"):
        if os.path.exists(os.path.join(p, "state.json")):
            return p
    return None


def save(path: str, model, optimizer, scheduler, state: dict) -> None:
    with atomic_dir(path) as tmp:
        save_model(model, os.path.join(tmp, "model.safetensors"))
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
            os.path.join(tmp, "optimizer.pt"),
        )
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump(state, f, indent=1)


def load(path: str, model, optimizer, scheduler) -> dict:
    """Restore weights, optimizer, scheduler and RNG states in place; return the loop state."""
    load_model(model, os.path.join(path, "model.safetensors"))
    blob = torch.load(os.path.join(path, "optimizer.pt"), weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["rng"]["torch"])
    if "cuda" in blob["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["rng"]["cuda"])
    with open(os.path.join(path, "state.json")) as f:
        return json.load(f)


def save_weights(path: str, model) -> None:
    with atomic_dir(path) as tmp:
        save_model(model, os.path.join(tmp, "model.safetensors"))


def load_weights(path: str, model) -> None:
    load_model(model, os.path.join(path, "model.safetensors"))
