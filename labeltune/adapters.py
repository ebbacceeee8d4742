"""Parameter-efficient fine-tuning (`--peft lora|ia3`) through the `peft` library, for every task.

`apply` wraps the model that `task.build_model` made: the pretrained weights are frozen, small adapters are
injected into the attention projections (per-architecture defaults from peft's own tables, or
--target-modules), and the task head (new, randomly initialised: `classifier`, `qa_outputs`, `score`, ...)
is trained in full and saved with the adapter (peft's `modules_to_save`; without it an adapter reloads with a
random head: peft issues #310, #1070). The head is found from the model, not from the task's name: the small
top-level modules beside the base model, except the output embeddings of a language model (pretrained).

After training, `merge` folds the adapters into the weights: the output directory holds a plain
`save_pretrained` model (transformers and `pipeline()` load it, no peft needed, no speed cost), and
labeltune.json records the peft settings. `--save-adapter` also writes `<output>/adapter/`: peft's
adapter files plus the tokenizer and a labeltune.json naming the base model; `labeltune.load`,
`predict` and `evaluate` load that directory too (base model + adapter, merged in memory).

Measured (benchmarks/bench_peft.py, all-MiniLM-L6-v2, 1,000 training rows, 3 seeds; the README's tables): on the
Bible NER set r 4 adapters on every linear layer with every bias trained (0.86% of the parameters) are 0.7 points
of entity F1 behind full fine-tuning. On Rotten Tomatoes the default (r 8 on query, value) stays about 2 points
behind at <= 1%, and DoRA, more epochs, biases and an adapted pooler did not close it (the fully trained pooler
and head are 0.65% of MiniLM); the same budget spread at r 2 over query, value and every block's dense layers is
1.1 points behind at 1,000 rows and level with full fine-tuning on the whole training set. Every-layer recipes
are not the default yet: measured on classification and NER only. LoRA wants more steps and a higher lr than
full fine-tuning (the auto lr is 20x).
"""

from __future__ import annotations

import json
import os
import types
import warnings

import torch

from .errors import UserError

ADAPTER_DIR = "adapter"
MUTATING_INITS = ("pissa", "olora")  # --lora-init values that change the frozen weights (see _keep_initial_adapter)
# per-architecture fallbacks for model types absent from peft's tables: (query, value)-like projection names
_COMMON_PAIRS = (("q_proj", "v_proj"), ("query", "value"), ("q_lin", "v_lin"), ("q", "v"), ("c_attn",),
                 ("query_key_value",), ("Wqkv",))


def enabled(cfg) -> bool:
    return getattr(cfg, "peft", "none") != "none"


def _model_types(config) -> list[str]:
    """model_type of `config`, then of its sub-configs (an encoder-decoder: its encoder's and decoder's)."""
    out = [getattr(config, "model_type", "")]
    for name in ("encoder", "decoder", "text_config"):
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "model_type"):
            out += _model_types(sub)
    return out


def _linear_names(model) -> list[str]:
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def default_targets(model, method: str) -> tuple[list[str], list[str]]:
    """(target modules, IA3 feed-forward modules) for `model`: peft's table for its model type, else the first
    query/value-like pair of Linear layers the model has."""
    from peft.utils.constants import (TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING,
                                      TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
                                      TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING)

    table = TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING if method == "ia3" else TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    for kind in _model_types(model.config):
        if kind in table:
            return list(table[kind]), list(TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING.get(kind, []))
    names = set(_linear_names(model))
    for pair in _COMMON_PAIRS:
        if set(pair) <= names:
            return list(pair), []
    raise UserError(f"--peft {method}: no default adapter targets for a '{model.config.model_type}' model; give "
                    f"--target-modules (its Linear layers: {', '.join(sorted(names)[:20])})")


def head_modules(model) -> list[str]:
    """The modules peft trains in full and saves beside the adapter by default: the task head (`task_heads`) plus
    the base model's pooler where it has one (BERT-likes build it only for sequence classification, whose head
    reads it; a sentence-transformers checkpoint such as all-MiniLM-L6-v2 never trained it: measured on Rotten
    Tomatoes, LoRA at lr 5e-4 reached 57.8% with a frozen pooler, 71.4% with it trained; full fine-tuning 78.2%;
    benchmarks/bench_peft.py). --modules-to-save replaces this list."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    pooler = getattr(base, "pooler", None) if base is not None else None
    heads = []
    if isinstance(pooler, torch.nn.Module):  # its layers by name (peft's IA3 cannot merge a wrapped BertPooler)
        heads = [f"pooler.{n}" for n, c in pooler.named_children() if any(True for _ in c.parameters())]
    return heads + task_heads(model)


def task_heads(model) -> list[str]:
    """The task head: top-level modules beside the base model that hold parameters, are small (< 5% of the
    model: a warm-started encoder or decoder is not a head) and are not a language model's output embeddings."""
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    total = sum(p.numel() for p in model.parameters())
    heads = []
    for name, child in model.named_children():
        n = sum(p.numel() for p in child.parameters())
        if n == 0 or child is out_emb or name == getattr(model, "base_model_prefix", None):
            continue
        if n <= 0.05 * total:
            heads.append(name)
    return heads


def _modules_to_save(model, cfg) -> list[str]:
    """--modules-to-save, checked: every name is a module of the model, and the task head is among them (a new,
    randomly initialised head left out would stay random in training and reload random: peft #310)."""
    given = [m.strip() for m in getattr(cfg, "modules_to_save", "").split(",") if m.strip()]
    if not given:
        return head_modules(model)
    names = [n for n, _ in model.named_modules()]
    for m in given:
        if not any(n == m or n.endswith("." + m) for n in names):
            tops = ", ".join(n for n, _ in model.named_children())
            raise UserError(f"--modules-to-save {m}: the model has no module of that name (its top-level modules: "
                            f"{tops}; nested ones by dotted path, e.g. pooler.dense)")
    missing = [h for h in task_heads(model) if h not in given]
    if missing:
        raise UserError(f"--modules-to-save {','.join(given)}: add the task head {','.join(missing)}: it is new, and "
                        "left out it would stay untrained")
    return given


def peft_config(model, cfg):
    """The peft config for `model` under `cfg` (--peft, --lora-r, --lora-alpha, --lora-dropout, --target-modules,
    --modules-to-save)."""
    from peft import IA3Config, LoraConfig

    given = [t.strip() for t in cfg.target_modules.split(",") if t.strip()]
    targets, feedforward = default_targets(model, cfg.peft) if not given else (given, [])
    heads = _modules_to_save(model, cfg)
    if cfg.peft == "lora":
        init = getattr(cfg, "lora_init", "default")
        return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          use_dora=cfg.dora, bias=cfg.lora_bias, target_modules=targets, modules_to_save=heads or None,
                          init_lora_weights=True if init == "default" else init, use_rslora=getattr(cfg, "rslora", False))
    feedforward = [f for f in feedforward if f in targets]
    return IA3Config(target_modules=targets, feedforward_modules=feedforward, modules_to_save=heads or None)


def apply(model, cfg):
    """`model` with adapters injected (everything else frozen but the head), or `model` itself without --peft."""
    if not enabled(cfg):
        return model
    from peft import get_peft_model

    config = peft_config(model, cfg)
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as e:  # a --target-modules name the model does not have
        raise UserError(f"--target-modules {','.join(sorted(config.target_modules))}: {str(e).splitlines()[0]} "
                        f"(its Linear layers: {', '.join(_linear_names(model)[:20])})") from None
    if getattr(cfg, "lora_init", "default") in MUTATING_INITS and getattr(cfg, "save_adapter", False):
        _keep_initial_adapter(peft_model)
    return peft_model


def _keep_initial_adapter(peft_model) -> None:
    """PiSSA and OLoRA move part of each adapted weight into the adapter: the frozen weights are no longer the
    pretrained ones, and an adapter saved as trained would be wrong on the real base model. peft converts it to a
    plain LoRA adapter (of rank 2r) against the pretrained weights from the adapter as initialised, which is saved
    here, in a temporary folder that goes with the model."""
    import shutil
    import tempfile
    import weakref

    path = tempfile.mkdtemp(prefix="labeltune-lora-init-")
    weakref.finalize(peft_model, shutil.rmtree, path, True)
    config = peft_model.peft_config["default"]
    init, config.init_lora_weights = config.init_lora_weights, True  # (as peft's docs do: reloading must not re-init)
    try:
        peft_model.save_pretrained(path)
    finally:
        config.init_lora_weights = init
    peft_model.labeltune_initial_adapter = path


def parameter_counts(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total,
            "trainable_percent": round(100 * trainable / max(total, 1), 4)}


def settings(model, cfg) -> dict:
    """What labeltune.json records about the adapters."""
    conf = model.peft_config["default"]
    return {"method": cfg.peft, "r": cfg.lora_r if cfg.peft == "lora" else None,
            "lora_alpha": cfg.lora_alpha if cfg.peft == "lora" else None,
            "lora_dropout": cfg.lora_dropout if cfg.peft == "lora" else None,
            "dora": cfg.dora if cfg.peft == "lora" else None, "lora_bias": cfg.lora_bias if cfg.peft == "lora" else None,
            "lora_init": getattr(cfg, "lora_init", "default") if cfg.peft == "lora" else None,
            "rslora": getattr(cfg, "rslora", False) if cfg.peft == "lora" else None,
            "target_modules": sorted(conf.target_modules), "modules_to_save": sorted(conf.modules_to_save or []),
            **parameter_counts(model), "merged": True}


def merge(model):
    """The base model with the adapters folded into its weights and the trained head in place (peft's
    merge_and_unload); the same outputs as the adapter model, up to float rounding."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_adapter(out: str, model) -> str:
    """<out>/adapter/: peft's adapter files (the adapters and the head). Call it before `merge`; `record` adds the
    tokenizer and a labeltune.json that names the base model, so that `labeltune.load(<out>/adapter)` works."""
    from . import checkpoint

    path = os.path.join(out, ADAPTER_DIR)
    initial = getattr(model, "labeltune_initial_adapter", None)  # --lora-init pissa / olora: see apply
    with checkpoint.atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        if initial:
            _convert_mutated_init(model, tmp, initial)
    return path


def _convert_mutated_init(model, folder: str, initial: str) -> None:
    """The adapter in `folder` (saved as trained) rewritten as a plain LoRA adapter against the pretrained weights,
    by peft's conversion. peft 0.21's conversion keeps only the lora_A / lora_B tensors and drops the rest (the
    trained head, trained biases, DoRA's magnitudes): measured, the adapter then reloaded with a random head. Those
    tensors do not depend on the init, so they are copied over from the plain save."""
    import tempfile

    from safetensors.torch import load_file, save_file

    name = "adapter_model.safetensors"
    trained = load_file(os.path.join(folder, name))
    with tempfile.TemporaryDirectory() as converted, warnings.catch_warnings():
        # (the conversion loads the initial adapter beside the trained one, and peft warns against that pairing)
        warnings.filterwarnings("ignore", message="(PiSSA|OLoRA) changes the base weights")
        model.save_pretrained(converted, path_initial_model_for_weight_conversion=initial)
        tensors = load_file(os.path.join(converted, name))
        kept = {k: v for k, v in trained.items() if k not in tensors and ".lora_A." not in k and ".lora_B." not in k}
        save_file({**tensors, **kept}, os.path.join(folder, name), metadata={"format": "pt"})
        os.replace(os.path.join(converted, "adapter_config.json"), os.path.join(folder, "adapter_config.json"))


def record(out: str, info: dict, tokenizer, seed: int) -> None:
    """Add the peft settings to <out>/labeltune.json; complete <out>/adapter/ where --save-adapter wrote one."""
    from .files import atomic_write_text

    meta_path = os.path.join(out, "labeltune.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["peft"] = info
    atomic_write_text(meta_path, json.dumps(meta, indent=1))  # never half a labeltune.json
    path = os.path.join(out, ADAPTER_DIR)
    if not os.path.isdir(path):
        return
    tokenizer.save_pretrained(path)
    config_path = os.path.join(path, "adapter_config.json")
    with open(config_path) as f:
        config = json.load(f)
    base = config.get("base_model_name_or_path")
    if base and os.path.isdir(base) and not os.path.isabs(base):
        # a local base given relative to where train ran: absolute, so the adapter loads from any directory
        base = config["base_model_name_or_path"] = os.path.abspath(base)
        atomic_write_text(config_path, json.dumps(config, indent=2))
    adapter_meta = {k: v for k, v in meta.items() if k != "files"}
    atomic_write_text(os.path.join(path, "labeltune.json"),
                      json.dumps({**adapter_meta, "adapter": {"base_model": base, "seed": seed}}, indent=1))


def load_model(task, directory: str, meta: dict, opts):
    """The model of a labeltune directory: a merged one as the task loads it, or base model + adapter (merged in
    memory) for a directory written by --save-adapter."""
    if "adapter" not in meta:
        return task.load_model(directory, meta["setup"], opts)
    from peft import PeftModel
    from transformers import set_seed

    base = meta["adapter"]["base_model"]
    missing = (f"--model {directory}: this adapter needs its base model {base!r}, which is not there; load the merged "
               "model in the parent directory, or install the base model at that path")
    # a path must exist; anything else is a hub id, which from_pretrained finds in the cache (or on the hub)
    if not base or ((os.path.isabs(base) or base.startswith(".")) and not os.path.exists(base)):
        raise UserError(missing)
    # the base model with a new head of the right shape; the adapter file brings the trained head. A warm-started
    # encoder-decoder's new cross-attention is not in the adapter: the training seed rebuilds it identically.
    set_seed(meta["adapter"].get("seed", 42))
    try:
        model = task.build_model(base, dict(meta["setup"]), opts, types.SimpleNamespace(trust_remote_code=False))
    except UserError as e:
        if os.path.exists(base):
            raise
        raise UserError(f"{missing} ({e})") from None
    return PeftModel.from_pretrained(model, directory).merge_and_unload()
