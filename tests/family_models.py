"""Tiny random models (2 layers, 32 wide) of the families users bring, built offline with a tokenizer trained here.

The suite's other tiny models are a WordPiece BERT (conftest.py) and byte-level BPE RoBERTa / GPT-2
(bpe_models.py). These add SentencePiece-style Unigram tokenizers (ALBERT, XLM-RoBERTa, DeBERTa-v2, T5: a word's
start is marked by "▁", the Metaspace pre-tokenizer), DistilBERT (no token_type_ids), ELECTRA, and Llama-style
causal LMs (no pad token).
"""

from __future__ import annotations

import os

TEXTS = [
    "John Smith lives in Paris and works for Acme Corp .",
    "Mary Jones visited Berlin last year with her friend Alice .",
    "The capital of France is Paris , a city on the Seine .",
    "Acme Corp was founded in London by Peter Brown in 1990 .",
    "a gripping , funny film that I loved",
    "a dull , boring movie with no story",
    "the cat sat on the mat and the dog ran away",
    "Where does John live ? Who founded Acme Corp ?",
    "el gato se sentó en la alfombra y el perro huyó",
    "la capital de Francia es París , una ciudad",
]


def unigram_vocab(specials: tuple[str, ...], texts: list[str] | None = None, vocab_size: int = 300):
    """[(piece, score)] of a Unigram model trained on `texts` with a Metaspace ("▁") pre-tokenizer, `specials`
    first. transformers 5's SentencePiece-family tokenizer classes (XLMRobertaTokenizer, AlbertTokenizer, ...)
    build their own normalizer, pre-tokenizer and decoder from `vocab=` and rebuild them the same way when
    loaded from disk (only the post-processor is read from tokenizer.json), so a tokenizer made with
    `tokenizer_object=` would not survive save -> load; `vocab=` gives what a converted hub model has."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(specials), unk_token=specials[0],
                                      shrinking_factor=0.75, max_piece_length=8)
    tok.train_from_iterator(texts or TEXTS, trainer)
    return [(p, 0.0 if p in specials else s) for p, s in json.loads(tok.to_str())["model"]["vocab"]]


def metaspace_bpe(specials: tuple[str, ...], texts: list[str] | None = None, vocab_size: int = 300):
    """(vocab dict, merges) of a BPE trained on `texts` with a Metaspace pre-tokenizer: a Llama tokenizer."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # split while training, as SentencePiece does, so no piece crosses a word boundary
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.train_from_iterator(texts or TEXTS, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials)))
    model = json.loads(tok.to_str())["model"]
    return model["vocab"], [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def _save(model, tok, out: str) -> str:
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def wordpiece_vocab(texts: list[str] | None = None, vocab_size: int = 300) -> dict[str, int]:
    """A lower-cased WordPiece vocabulary trained on `texts`, BERT's special tokens first."""
    import json

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts or TEXTS, trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    return json.loads(tok.to_str())["model"]["vocab"]


def tiny_family(out: str, family: str) -> str:
    """Save a 2-layer, 32-wide random encoder of `family` in `out` (bare model, no head, like a hub checkpoint)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    small = {"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "hidden_dropout_prob": 0.0,
             "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 512}
    if family == "distilbert":  # WordPiece, and no token_type_ids: the model's forward() takes none
        tok = tf.DistilBertTokenizer(vocab=wordpiece_vocab())
        cfg = tf.DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64, dropout=0.0,
                                  attention_dropout=0.0, pad_token_id=tok.pad_token_id)
        return _save(tf.DistilBertModel(cfg), tok, out)
    if family == "electra":  # ELECTRA ships a BERT tokenizer; embeddings narrower than the hidden size
        tok = tf.BertTokenizer(vocab=wordpiece_vocab())
        cfg = tf.ElectraConfig(vocab_size=len(tok), embedding_size=16, hidden_size=32, pad_token_id=tok.pad_token_id,
                               **small)
        return _save(tf.ElectraModel(cfg), tok, out)
    if family == "albert":  # unk_id 1 in AlbertTokenizer
        tok = tf.AlbertTokenizer(vocab=unigram_vocab(("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")),
                                 do_lower_case=False)
        cfg = tf.AlbertConfig(vocab_size=len(tok), embedding_size=16, hidden_size=32, pad_token_id=tok.pad_token_id,
                              **small)
        return _save(tf.AlbertModel(cfg), tok, out)
    if family == "xlm-roberta":  # unk_id 3 in XLMRobertaTokenizer; no token_type_ids
        tok = tf.XLMRobertaTokenizer(vocab=unigram_vocab(("<s>", "<pad>", "</s>", "<unk>", "<mask>")))
        cfg = tf.XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, pad_token_id=tok.pad_token_id,
                                  **{**small, "max_position_embeddings": 514})
        return _save(tf.XLMRobertaModel(cfg), tok, out)
    if family == "deberta-v2":
        tok = tf.DebertaV2Tokenizer(vocab=unigram_vocab(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")))
        cfg = tf.DebertaV2Config(vocab_size=len(tok), hidden_size=32, pad_token_id=tok.pad_token_id,
                                 relative_attention=True, position_buckets=32, max_relative_positions=-1,
                                 pos_att_type=["p2c", "c2p"], position_biased_input=False, **small)
        return _save(tf.DebertaV2Model(cfg), tok, out)
    raise ValueError(family)


def tiny_seq2seq(out: str, family: str) -> str:
    """A 2-layer, 32-wide random encoder-decoder (`t5` with a Unigram tokenizer, or `bart`) saved in `out`."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if family == "t5":  # unk_id 2 in T5Tokenizer
        tok = tf.T5Tokenizer(vocab=unigram_vocab(("<pad>", "</s>", "<unk>")), extra_ids=0)
        cfg = tf.T5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                          num_heads=2, dropout_rate=0.0, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                          decoder_start_token_id=tok.pad_token_id)
        return _save(tf.T5ForConditionalGeneration(cfg), tok, out)
    if family == "bart":
        from bpe_models import byte_level_bpe

        tok = tf.BartTokenizer(tokenizer_object=byte_level_bpe(TEXTS), bos_token="<s>", eos_token="</s>",
                               sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                               mask_token="<mask>")
        cfg = tf.BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, max_position_embeddings=256, dropout=0.0, attention_dropout=0.0,
                            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.eos_token_id,
                            forced_eos_token_id=tok.eos_token_id)
        return _save(tf.BartForConditionalGeneration(cfg), tok, out)
    if family == "marian":  # opus-mt: a slow-only tokenizer (two SentencePiece models and a vocab.json)
        return _save(*_tiny_marian(out), out)
    raise ValueError(family)


def _tiny_marian(out: str):
    """A MarianMT model and tokenizer as the Helsinki-NLP opus-mt checkpoints ship them."""
    import json

    import sentencepiece as spm
    import transformers as tf

    os.makedirs(out, exist_ok=True)
    prefix = os.path.join(out, "spm")
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS + ["el gato se sentó", "el perro huyó"]),
                                   model_prefix=prefix, vocab_size=90, model_type="unigram", minloglevel=2,
                                   unk_id=1, bos_id=-1, eos_id=0, pad_id=-1, hard_vocab_limit=False)
    processor = spm.SentencePieceProcessor(model_file=prefix + ".model")
    pieces = ["</s>", "<unk>"] + [processor.id_to_piece(i) for i in range(2, processor.get_piece_size())]
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({p: i for i, p in enumerate(pieces + ["<pad>"])}, f)
    tok = tf.MarianTokenizer(prefix + ".model", prefix + ".model", os.path.join(out, "vocab.json"))
    cfg = tf.MarianConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=256, dropout=0.0, attention_dropout=0.0,
                          pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                          decoder_start_token_id=tok.pad_token_id, forced_eos_token_id=tok.eos_token_id)
    return tf.MarianMTModel(cfg), tok


def tiny_causal(out: str, family: str = "llama", head: str = "lm") -> str:
    """A 2-layer, 32-wide random Llama (Metaspace BPE tokenizer) or Qwen2 (byte-level BPE) causal LM with no pad
    token, as such models ship. head="lm": *ForCausalLM; "none": the bare *Model."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    common = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_key_value_heads": 1, "max_position_embeddings": 512, "tie_word_embeddings": True}
    if family == "llama":
        vocab, merges = metaspace_bpe(("<unk>", "<s>", "</s>"))
        tok = tf.LlamaTokenizer(vocab=vocab, merges=merges)
        cfg = tf.LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                             **common)
        model = tf.LlamaForCausalLM(cfg) if head == "lm" else tf.LlamaModel(cfg)
    elif family == "qwen2":  # byte-level BPE; Qwen2 ships <|endoftext|> as its pad (and eos) token
        import json

        from bpe_models import byte_level_bpe

        bpe = json.loads(byte_level_bpe(TEXTS).to_str())["model"]
        vocab = {"<|endoftext|>": 0, **{p: i + 1 for p, i in bpe["vocab"].items()}}
        tok = tf.Qwen2Tokenizer(vocab=vocab, merges=[tuple(m) if not isinstance(m, str) else tuple(m.split(" "))
                                                     for m in bpe["merges"]])
        cfg = tf.Qwen2Config(vocab_size=len(tok), eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                             **common)
        model = tf.Qwen2ForCausalLM(cfg) if head == "lm" else tf.Qwen2Model(cfg)
    else:
        raise ValueError(family)
    return _save(model, tok, out)
