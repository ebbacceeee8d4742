"""kernels.py: the cheaper dropout keeps dropout's distribution, and labeltune's attention computes what each
listed model's own eager attention computes."""

from __future__ import annotations

import os

import pytest
import torch

from labeltune import checkpoint, kernels
from labeltune.models import set_attention

CPU = torch.device("cpu")


def test_fast_dropout_distribution_scale_and_gradient():
    torch.manual_seed(0)
    x = torch.randn(1000, 1000, requires_grad=True)
    y = kernels.fast_dropout(x, 0.1)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.002  # 1e6 draws: the standard error is 0.0003
    assert torch.allclose(y[kept], x[kept] / 0.9)
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept) and torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.9))
    # no correlation between the four elements that share one 64-bit draw
    k = kept.reshape(-1, 4).float()
    assert abs((k[:, 0] * k[:, 1]).mean().item() - 0.81) < 0.003


def test_fast_dropout_is_seeded_and_off_in_eval():
    x = torch.ones(4096)
    torch.manual_seed(3)
    a = kernels.fast_dropout(x, 0.3)
    torch.manual_seed(3)
    b = kernels.fast_dropout(x, 0.3)
    assert torch.equal(a, b) and not torch.equal(a, kernels.fast_dropout(x, 0.3))
    assert abs((a == 0).float().mean().item() - 0.3) < 0.03
    assert kernels.fast_dropout(x, 0.3, training=False) is x and kernels.fast_dropout(x, 0.0) is x
    d = kernels.Dropout(0.5).eval()
    assert torch.equal(d(x), x)


def _tiny(kind: str):
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    if kind == "bert":
        return BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=64))
    # grouped-query attention: 4 query heads share 2 key/value heads
    return LlamaModel(LlamaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2, intermediate_size=64))


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_attention_matches_the_models_eager_attention(kind):
    model = _tiny(kind).eval()
    ids = torch.randint(1, 100, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    model.set_attn_implementation("eager")
    want = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert set_attention(model, "auto", CPU) == ("labeltune" if kind == "bert" else "eager")
    assert set_attention(model, "labeltune", CPU) == "labeltune"
    got = model(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert torch.allclose(got[real], want[real], atol=1e-5)


def test_attention_in_bf16_stays_finite_for_fully_masked_rows():
    # left padding + causal mask: the first query of row 1 sees no key at all. In bf16, fp32's lowest value
    # would round to -inf and the softmax of an all -inf row is NaN, which then spreads through the values.
    model = _tiny("llama").eval()
    set_attention(model, "labeltune", CPU)
    ids = torch.randint(1, 100, (2, 6))
    mask = torch.tensor([[1] * 6, [0, 0, 1, 1, 1, 1]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.isfinite(out).all()


def test_auto_uses_hf_eager_for_unlisted_models_and_fast_dropout_everywhere_on_cpu():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2))
    assert set_attention(model, "auto", CPU) == "eager"
    kinds = {type(m) for m in model.modules()}
    assert kernels.Dropout in kinds and torch.nn.Dropout not in kinds


def test_load_weights_streams_and_handles_tied_tensors(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, tie_word_embeddings=True)
    torch.manual_seed(0)
    a = LlamaForCausalLM(cfg)
    checkpoint.save_weights(str(tmp_path / "w"), a)
    torch.manual_seed(1)
    b = LlamaForCausalLM(cfg)
    checkpoint.load_weights(str(tmp_path / "w"), b)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert b.lm_head.weight.data_ptr() == b.model.embed_tokens.weight.data_ptr()  # still tied
    with pytest.raises(ValueError, match="unexpected tensor"):
        checkpoint.load_weights(str(tmp_path / "w"), _tiny("bert"))


def test_onednn_cache_cap_is_a_default_the_user_can_override(monkeypatch):
    from labeltune.models import limit_onednn_cache

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    limit_onednn_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "16"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    limit_onednn_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"
