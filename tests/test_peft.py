"""--peft lora|ia3 (labeltune/adapters.py): only adapters and the head train; merged == adapter outputs; save ->
load (merged directory and adapter directory) gives identical predictions; every task passes the contract."""

import csv
import json
import os

import pytest
import torch
from contract import ROWS, check_contract
from contract import write_csv as _write
from safetensors.torch import load_file

import labeltune
from labeltune import adapters
from labeltune.config import TrainConfig
from labeltune.errors import UserError
from test_translation import needs_smollm2, smollm2_tokenizer_dir, tiny_llama_dir  # noqa: F401 (fixtures)

LORA = {"peft": "lora", "save_adapter": True, "lora_dropout": 0.0, "epochs": 80}  # no dropout: overfits faster




def _seq_cls(tiny_bert_dir, num_labels=3):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=num_labels)


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_only_adapters_and_head_train_and_merge_equals_adapter(tiny_bert_dir, method):
    from labeltune.loop import make_optimizer

    model = _seq_cls(tiny_bert_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(peft=method, lr=1e-2, **({"lora_dropout": 0.0} if method == "lora" else {}))  # IA3 has none
    peft_model = adapters.apply(model, cfg)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all(f"{method}_" in n or "modules_to_save" in n for n in trainable)
    assert any("classifier.modules_to_save" in n for n in trainable) and any("pooler.dense.modules_to_save" in n for n in trainable)

    opt = make_optimizer(peft_model, cfg)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(trainable)  # the optimizer sees only those
    batch = {"input_ids": torch.tensor([[101, 2023, 2003, 102], [101, 6659, 999, 102]]), "labels": torch.tensor([0, 2])}
    for _ in range(5):
        peft_model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    changed = {n for n, p in peft_model.named_parameters() if n in trainable}
    frozen_now = {n.replace("base_model.model.", "").replace(".base_layer", ""): p
                  for n, p in peft_model.named_parameters() if n not in changed and "original_module" not in n}
    for name, p in frozen_now.items():  # every frozen weight is what the pretrained model had
        assert torch.equal(p, before[name]), f"{name} changed though frozen"

    peft_model.eval()
    with torch.no_grad():
        adapter_logits = peft_model(input_ids=batch["input_ids"]).logits
        merged = adapters.merge(peft_model)
        merged_logits = merged(input_ids=batch["input_ids"]).logits
    assert not torch.allclose(adapter_logits, _seq_cls(tiny_bert_dir).eval()(input_ids=batch["input_ids"]).logits)
    assert torch.allclose(adapter_logits, merged_logits, atol=1e-5)
    assert type(merged).__name__ == "BertForSequenceClassification"


def test_contract_classification_lora(tmp_path, tiny_bert_dir):
    """Contract, then: the merged model differs from the base only in the adapted layers and the head; the adapter
    directory loads to the same predictions; plain transformers loads the merged directory."""
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    res = check_contract(tmp_path, "classification", train, tiny_bert_dir, [r[0] for r in ROWS], LORA)
    assert [p["label"] for p in res["predictions"]] == [r[1] for r in ROWS]
    out = res["output"]
    info = res["metrics"]["peft"]
    assert info["modules_to_save"] == ["classifier", "pooler.dense"] and info["target_modules"] == ["query", "value"]
    assert info["trainable_percent"] < 1.0
    with open(os.path.join(out, "labeltune.json")) as f:
        assert json.load(f)["peft"]["method"] == "lora"

    merged, base = load_file(os.path.join(out, "model.safetensors")), load_file(os.path.join(tiny_bert_dir, "model.safetensors"))
    for name, tensor in merged.items():
        if name.startswith(("classifier.", "bert.pooler.")):  # the head, trained in full
            continue
        old = base[name.removeprefix("bert.")]
        adapted = name.endswith(("query.weight", "value.weight"))
        assert torch.equal(tensor, old) != adapted, f"{name}: {'unchanged' if adapted else 'changed'}"

    from_adapter = labeltune.load(os.path.join(out, "adapter"), precision="fp32").predict([r[0] for r in ROWS])
    for a, b in zip(res["predictions"], from_adapter):
        assert a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-5

    from transformers import pipeline

    clf = pipeline("text-classification", model=out, tokenizer=out)
    assert [p["label"] for p in clf([r[0] for r in ROWS])] == [r[1] for r in ROWS]


def test_contract_ner_lora(tmp_path, tiny_bert_dir):
    from test_ner import SENTENCES, _tagged

    res = check_contract(tmp_path, "ner", _tagged(tmp_path / "train.jsonl"), tiny_bert_dir,
                         [t for t, _ in SENTENCES], LORA)
    assert res["metrics"]["validation"]["entity_f1"] == 1.0
    assert res["metrics"]["peft"]["modules_to_save"] == ["classifier"]
    from_adapter = labeltune.load(os.path.join(res["output"], "adapter"), precision="fp32").predict(
        [t for t, _ in SENTENCES])
    assert [p["tags"] for p in from_adapter] == [p["tags"] for p in res["predictions"]]


def test_contract_qa_lora(tmp_path, tiny_bert_dir):
    from test_qa import VERSES, squad_doc, write_json

    train = write_json(tmp_path / "train.json", squad_doc(VERSES))
    inputs = [{"question": q, "context": c} for c, q, _ in VERSES]
    res = check_contract(tmp_path, "qa", train, tiny_bert_dir, inputs,
                         {**LORA, "epochs": 100, "max_length": 64, "doc_stride": 16})
    assert res["metrics"]["peft"]["modules_to_save"] == ["qa_outputs"]
    assert [p["answer"] for p in res["predictions"]] == [a for _, _, a in VERSES]


@needs_smollm2
def test_translation_causal_lora(tmp_path, tiny_llama_dir):
    """SmolLM2-shaped causal LM under LoRA. Not the full contract: with frozen random embeddings behind a frozen
    RMSNorm a tiny random LM cannot be overfit by LoRA (measured: loss 10.8 -> 10.4 in 200 steps, 3.9 with every
    projection adapted at r=16), so this checks that LoRA trains it and that merged, reloaded and adapter-only
    models generate exactly the same translations, batched or one at a time."""
    from test_translation import PAIRS_ES, _csv

    train = _csv(tmp_path / "train.csv", PAIRS_ES)
    out = str(tmp_path / "lora")
    metrics = labeltune.train(task="translation", model=tiny_llama_dir, train=train, validation=train, output=out,
                              batch_size=4, lr=1e-2, warmup_ratio=0.0, precision="fp32", seed=0, quiet=True,
                              log_every=1, num_beams=1, threads=1, **{**LORA, "epochs": 10})
    info = metrics["peft"]
    assert info["target_modules"] == ["q_proj", "v_proj"] and info["modules_to_save"] == []  # lm_head is pretrained
    with open(os.path.join(out, "train_log.jsonl")) as f:
        losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    assert losses[-1] < losses[0] - 0.1
    with open(os.path.join(out, "predictions_validation.jsonl")) as f:
        before = [p["translation"] for p in map(json.loads, f)]
    sources = [s for s, _ in PAIRS_ES]
    merged = [p["translation"] for p in labeltune.load(out, precision="fp32").predict(sources)]
    adapter = [p["translation"] for p in labeltune.load(os.path.join(out, "adapter"), precision="fp32").predict(sources)]
    single = labeltune.load(out, precision="fp32", batch_size=1)
    assert merged == before == adapter == [single.predict([s])[0]["translation"] for s in sources]


def test_killed_lora_run_resumes_to_identical_weights(tmp_path, tiny_bert_dir, rt_csv, monkeypatch):
    """A LoRA run (adapter dropout on, so RNG state matters) stopped after its step-6 checkpoint and resumed
    ends with the weights of an uninterrupted run; best-weights selection runs with peft too."""
    import labeltune.loop as loop

    with open(rt_csv, newline="") as f:
        rows = list(csv.reader(f))[:81]
    train = _write(tmp_path / "train.csv", rows[0], rows[1:])
    settings = dict(model=tiny_bert_dir, train=train, validation_fraction=0.25, epochs=3, batch_size=8, lr=1e-3,
                    precision="fp32", save_every=3, eval_every=4, threads=1, quiet=True, peft="lora", seed=1)
    labeltune.train(output=str(tmp_path / "full"), **settings)

    real_fit = loop.fit

    def killed_fit(*args, **kwargs):
        for info in real_fit(*args, **kwargs):
            yield info
            if info["step"] == 6:
                raise KeyboardInterrupt

    monkeypatch.setattr(loop, "fit", killed_fit)
    with pytest.raises(KeyboardInterrupt):
        labeltune.train(output=str(tmp_path / "killed"), **settings)
    monkeypatch.setattr(loop, "fit", real_fit)
    assert os.path.exists(tmp_path / "killed" / "checkpoint" / "state.json")
    labeltune.train(output=str(tmp_path / "killed"), resume=True, **settings)
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bad_peft_options(tmp_path, tiny_bert_dir):
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    with pytest.raises(UserError, match="--target-modules nosuch"):
        labeltune.train(model=tiny_bert_dir, train=train, output=str(tmp_path / "o"), peft="lora",
                        target_modules="nosuch", epochs=1, quiet=True)
    with pytest.raises(UserError, match=r"--save-adapter \(save_adapter=\) needs --peft"):
        TrainConfig(save_adapter=True)
    with pytest.raises(UserError, match=r"--peft \(peft=\) must be"):
        TrainConfig(peft="qlora")


def test_dora_and_trained_biases_merge_and_reload(tmp_path, tiny_bert_dir):
    """--dora adds a magnitude vector per adapted layer, --lora-bias all trains every bias (LayerNorm's too); the
    merged model gives the adapter model's outputs, and the saved adapter directory reloads to the same predictions."""
    from labeltune.loop import make_optimizer

    model = _seq_cls(tiny_bert_dir)
    cfg = TrainConfig(peft="lora", lora_dropout=0.0, dora=True, lora_bias="all", lr=1e-2)
    peft_model = adapters.apply(model, cfg)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_magnitude_vector" in n for n in trainable)
    assert any(n.endswith("LayerNorm.bias") for n in trainable) and any(n.endswith("intermediate.dense.bias") for n in trainable)
    assert not any(n.endswith("LayerNorm.weight") and "modules_to_save" not in n for n in trainable)
    opt = make_optimizer(peft_model, cfg)
    batch = {"input_ids": torch.tensor([[101, 2023, 2003, 102], [101, 6659, 999, 102]]), "labels": torch.tensor([0, 2])}
    for _ in range(5):
        peft_model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    peft_model.eval()
    with torch.no_grad():
        adapter_logits = peft_model(input_ids=batch["input_ids"]).logits
        merged_logits = adapters.merge(peft_model)(input_ids=batch["input_ids"]).logits
    assert torch.allclose(adapter_logits, merged_logits, atol=1e-5)

    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    out = str(tmp_path / "out")
    labeltune.train(model=tiny_bert_dir, train=train, output=out, peft="lora", dora=True, lora_bias="all",
                    save_adapter=True, lora_dropout=0.0, epochs=3, quiet=True)
    texts = [r[0] for r in ROWS]
    merged_preds = labeltune.load(out, precision="fp32").predict(texts)
    adapter_preds = labeltune.load(os.path.join(out, "adapter"), precision="fp32").predict(texts)
    assert [p["label"] for p in merged_preds] == [p["label"] for p in adapter_preds]
    for a, b in zip(merged_preds, adapter_preds):
        assert abs(a["score"] - b["score"]) < 1e-4
    with open(os.path.join(out, "labeltune.json"), encoding="utf-8") as f:
        peft = json.load(f)["peft"]
    assert peft["dora"] is True and peft["lora_bias"] == "all"
    with pytest.raises(UserError, match="--lora-bias"):
        TrainConfig(peft="lora", lora_bias="some")
    with pytest.raises(UserError, match=r"--dora \(dora=\), .* are LoRA's; they need --peft"):
        TrainConfig(dora=True)


def test_the_model_card_names_dora_and_trained_biases():
    from labeltune.report.card import _method

    peft = {"method": "lora", "r": 4, "lora_alpha": 16.0, "lora_dropout": 0.1, "dora": True, "lora_bias": "all",
            "target_modules": ["query"], "modules_to_save": ["classifier"]}
    assert "LoRA (r 4, alpha 16.0, dropout 0.1, DoRA, biases all)" in _method({"metrics": {"peft": peft}, "meta": {}, "directory": "."})
    pissa = dict(peft, dora=False, lora_bias="none", lora_init="pissa", rslora=True)
    assert "LoRA (r 4, alpha 16.0, dropout 0.1, pissa init, rsLoRA scaling)" in _method(
        {"metrics": {"peft": pissa}, "meta": {}, "directory": "."})
    plain = dict(peft, dora=False, lora_bias="none")
    assert "LoRA (r 4, alpha 16.0, dropout 0.1) adapters" in _method({"metrics": {"peft": plain}, "meta": {}, "directory": "."})


def test_modules_to_save_lets_lora_adapt_the_pooler(tmp_path, tiny_bert_dir):
    """--modules-to-save classifier with --target-modules ...,pooler.dense: the pooler gets a low-rank adapter instead
    of full training (far fewer parameters), the merged model gives the adapter model's outputs and the adapter
    directory reloads to the same predictions; a list without the new head, or naming a module the model lacks, is
    refused."""
    full = adapters.apply(_seq_cls(tiny_bert_dir), TrainConfig(peft="lora", target_modules="query,value"))
    cfg = TrainConfig(peft="lora", target_modules="query,value,pooler.dense", modules_to_save="classifier")
    lean = adapters.apply(_seq_cls(tiny_bert_dir), cfg)
    trainable = {n for n, p in lean.named_parameters() if p.requires_grad}
    assert any("pooler.dense.lora_A" in n for n in trainable)
    assert not any("pooler" in n and "modules_to_save" in n for n in trainable)
    assert any("classifier.modules_to_save" in n for n in trainable)
    assert adapters.parameter_counts(lean)["trainable_parameters"] < adapters.parameter_counts(full)["trainable_parameters"]

    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    out = str(tmp_path / "out")
    labeltune.train(model=tiny_bert_dir, train=train, output=out, peft="lora", target_modules="query,value,pooler.dense",
                    modules_to_save="classifier", save_adapter=True, lora_dropout=0.0, epochs=3, quiet=True)
    texts = [r[0] for r in ROWS]
    merged = labeltune.load(out, precision="fp32").predict(texts)
    adapter = labeltune.load(os.path.join(out, "adapter"), precision="fp32").predict(texts)
    assert [p["label"] for p in merged] == [p["label"] for p in adapter]
    assert all(abs(a["score"] - b["score"]) < 1e-4 for a, b in zip(merged, adapter))
    with open(os.path.join(out, "labeltune.json"), encoding="utf-8") as f:
        assert json.load(f)["peft"]["modules_to_save"] == ["classifier"]

    with pytest.raises(UserError, match="--modules-to-save pooler.dense: add the task head classifier"):
        adapters.apply(_seq_cls(tiny_bert_dir), TrainConfig(peft="lora", modules_to_save="pooler.dense"))
    with pytest.raises(UserError, match="--modules-to-save nosuch: the model has no module"):
        adapters.apply(_seq_cls(tiny_bert_dir), TrainConfig(peft="lora", modules_to_save="classifier,nosuch"))
    with pytest.raises(UserError, match=r"--modules-to-save \(modules_to_save=\) needs --peft"):
        TrainConfig(modules_to_save="classifier")


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_pissa_and_olora_adapters_reload_on_the_pretrained_base(tmp_path, tiny_bert_dir, init):
    """--lora-init pissa / olora move part of each adapted weight into the adapter, so the frozen weights are not the
    pretrained ones any more: the merged output must equal the adapter model, and --save-adapter's adapter (converted
    by peft to a plain LoRA against the pretrained weights) must give the merged model's predictions when it is
    loaded on the real base model. Saved as trained, it reloaded onto the pretrained weights and predicted otherwise."""
    model = _seq_cls(tiny_bert_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("query.weight")}
    peft_model = adapters.apply(model, TrainConfig(peft="lora", lora_init=init, lora_dropout=0.0))
    moved = [n for n, p in peft_model.named_parameters() if n.endswith("query.base_layer.weight")]
    assert moved and not torch.allclose(dict(peft_model.named_parameters())[moved[0]], next(iter(before.values())))

    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    out = str(tmp_path / "out")
    labeltune.train(model=tiny_bert_dir, train=train, output=out, peft="lora", lora_init=init, rslora=True,
                    save_adapter=True, lora_dropout=0.0, epochs=3, lr=1e-2, quiet=True, precision="fp32")
    texts = [r[0] for r in ROWS]
    merged = labeltune.load(out, precision="fp32").predict(texts)
    adapter = labeltune.load(os.path.join(out, "adapter"), precision="fp32").predict(texts)
    assert [p["label"] for p in merged] == [p["label"] for p in adapter]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(merged, adapter)) < 1e-4
    with open(os.path.join(out, "adapter", "adapter_config.json"), encoding="utf-8") as f:
        assert json.load(f)["r"] == 16  # peft's conversion: rank 2r against the pretrained weights
    with open(os.path.join(out, "labeltune.json"), encoding="utf-8") as f:
        peft = json.load(f)["peft"]
    assert peft["lora_init"] == init and peft["rslora"] is True
    with pytest.raises(UserError, match=r"--lora-init \(lora_init=\) must be one of"):
        TrainConfig(peft="lora", lora_init="svd")
    with pytest.raises(UserError, match=r"--lora-init \(lora_init=\) and --rslora \(rslora=\) are LoRA's; they need --peft \(peft=\) lora"):
        TrainConfig(peft="ia3", lora_init="pissa")
