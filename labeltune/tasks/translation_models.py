"""Translation models: which kind of model (seq2seq, encoder-decoder warm start, causal) and what it is fed:
the BERT2BERT warm start, the target token ids, the padding id, the languages of multilingual tokenizers,
and the default number of new tokens.

Split out of tasks/translation.py (TranslationTask.build_model, encode and _loss call these).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import UserError
from ..models import load_tokenizer


def resolve_architecture(model_path: str, opts, trust_remote_code: bool = False) -> str:
    """seq2seq, encoder-decoder (warm start from an encoder) or causal, from --architecture or the config."""
    if opts.architecture != "auto":
        return opts.architecture
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(f"--model {model_path}: could not read its config ({e})") from None
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    heads = config.architectures or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in heads):
        return "causal"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:  # an encoder: BERT, MiniLM, RoBERTa, ...
        return "encoder-decoder"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "causal"
    raise UserError(f"--model {model_path}: cannot tell how to translate with a '{config.model_type}' model; set --architecture")


def warm_start(encoder_path: str, decoder_path: str):
    """BERT2BERT: an EncoderDecoderModel from two encoders; the decoder gets new cross-attention layers."""
    from transformers import EncoderDecoderModel

    tok = load_tokenizer(encoder_path)
    start = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
    eos = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
    if start is None or eos is None or tok.pad_token_id is None:
        raise UserError(f"--model {encoder_path}: its tokenizer lacks [CLS]/[SEP]/[PAD] (or BOS/EOS/PAD) for a warm start")
    _check_decoder(encoder_path, decoder_path)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(encoder_path, decoder_path)
    if model.decoder.config.vocab_size < len(tok):
        raise UserError(
            f"--decoder-model {decoder_path}: its vocabulary ({model.decoder.config.vocab_size}) is smaller than the "
            f"encoder tokenizer's ({len(tok)}); the decoder must share the encoder's vocabulary"
        )
    for c in (model.config, model.generation_config):
        c.decoder_start_token_id, c.pad_token_id, c.eos_token_id = start, tok.pad_token_id, eos
    model.config.vocab_size = model.decoder.config.vocab_size
    return model


def _check_decoder(encoder_path: str, decoder_path: str) -> None:
    """The decoder of a warm start is the model loaded as a causal LM (BertLMHeadModel with cross-attention);
    DistilBERT, ALBERT, DeBERTa and others have no such class in transformers (was a traceback listing 100 names)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        kind = AutoConfig.from_pretrained(decoder_path).model_type
    except (OSError, ValueError):
        return  # from_pretrained says what is wrong with the path
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        given = "--decoder-model" if decoder_path != encoder_path else "--model"
        raise UserError(f"{given} {decoder_path}: its model type, {kind}, cannot be the decoder of an encoder-decoder "
                        f"warm start (transformers has no causal-LM form of {kind}); give --decoder-model with a BERT, RoBERTa, "
                        "ELECTRA or XLM-RoBERTa model of the same vocabulary, or translate with a seq2seq model "
                        "(T5, BART, Marian) or a causal LM")


def _architecture(setup: dict, opts, tokenizer) -> str:
    if "architecture" in setup:
        return setup["architecture"]
    # debug-data measures lengths before any model exists: read the architecture from the config
    return resolve_architecture(tokenizer.name_or_path, opts)


def _pad_id(tokenizer) -> int:
    # GPT-2-style tokenizers have no pad token; the attention mask and -100 labels make its value moot
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _target_ids(examples, tokenizer, arch: str, setup: dict) -> list[list[int]]:
    """Target token ids ending in EOS, untruncated."""
    targets = [e["target"] for e in examples]
    if arch == "causal":
        eos = tokenizer.eos_token_id
        if eos is None:
            raise UserError("the tokenizer has no EOS token; a decoder-only model needs one to learn where a translation ends")
        return [t + [eos] for t in tokenizer(targets, add_special_tokens=False)["input_ids"]]
    ids = tokenizer(text_target=targets)["input_ids"]
    if arch == "encoder-decoder":  # BERT adds [CLS] first; the decoder start token already plays that role
        ids = [t[1:] if t and t[0] == tokenizer.cls_token_id else t for t in ids]
    return ids


def _set_languages(tokenizer, opts) -> None:
    # multilingual seq2seq tokenizers (mBART, NLLB, M2M100) put language codes around the text
    if opts.source_lang and hasattr(tokenizer, "src_lang"):
        tokenizer.src_lang = opts.source_lang
    if opts.target_lang and hasattr(tokenizer, "tgt_lang"):
        tokenizer.tgt_lang = opts.target_lang


def _counted_tokens(labels: torch.Tensor, causal: bool) -> int:
    # causal LMs shift the labels by one, so the first label never counts
    return int((labels[:, 1:] != -100).sum()) if causal else int((labels != -100).sum())


def derive_max_new_tokens(target_lengths: list[int]) -> int:
    """1.5 x the 99th percentile of the training targets' token lengths (EOS included)."""
    return max(8, math.ceil(1.5 * float(np.percentile(target_lengths, 99))))
