"""Tiny random RoBERTa and GPT-2 models with a byte-level BPE tokenizer trained here, offline, on a few sentences.

Byte-level BPE marks the start of a word by the space before it ("Ġ"), which is what makes these families
different from WordPiece when words are given one by one (`is_split_into_words=True`).
"""

from __future__ import annotations

import os


def byte_level_bpe(texts: list[str], vocab_size: int = 600):
    """A `tokenizers` ByteLevel BPE trained on `texts` (special tokens first: <s> <pad> </s> <unk> <mask>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # each sentence alone and after a space, so that both "John" and "ĠJohn" become whole tokens
    tok.train_from_iterator(texts + [" " + t for t in texts], trainer)
    return tok


def tiny_byte_level_model(out: str, kind: str, texts: list[str]) -> str:
    """Save a 2-layer, 32-wide random `kind` ("roberta" or "gpt2") model and its tokenizer in `out`."""
    import torch
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast, RobertaConfig, RobertaModel, RobertaTokenizerFast

    bpe = byte_level_bpe(texts)
    torch.manual_seed(0)
    if kind == "roberta":
        tok = RobertaTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
        cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=514, pad_token_id=tok.pad_token_id,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        model = RobertaModel(cfg)
    else:  # GPT-2 has no pad, CLS or SEP token: labeltune must cope
        tok = GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
        cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        model = GPT2Model(cfg)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
