"""The shared task contract for classification (single-label, multi-label, sentence pairs)."""


from contract import ROWS, check_contract
from contract import write_csv as _write





def test_contract_binary(tmp_path, tiny_bert_dir):
    train = _write(tmp_path / "train.csv", ["text", "label"], ROWS)
    res = check_contract(tmp_path, "classification", train, tiny_bert_dir, [r[0] for r in ROWS], {})
    assert res["metrics"]["validation"]["accuracy"] == 1.0
    assert [p["label"] for p in res["predictions"]] == [r[1] for r in ROWS]


def test_contract_multilabel(tmp_path, tiny_bert_dir):
    rows = [(t, "pos|acting" if i % 3 == 0 and lab == "positive" else ("pos" if lab == "positive" else "neg"))
            for i, (t, lab) in enumerate(ROWS)]
    train = _write(tmp_path / "train.csv", ["text", "label"], rows)
    res = check_contract(tmp_path, "classification", train, tiny_bert_dir, [r[0] for r in rows],
                         {"multi_label": True, "label_delimiter": "|"})
    assert res["metrics"]["validation"]["subset_accuracy"] == 1.0
    assert [sorted(p["labels"]) for p in res["predictions"]] == [sorted(r[1].split("|")) for r in rows]


def test_contract_sentence_pairs(tmp_path, tiny_bert_dir):
    rows = [("the cat sat", "a cat was sitting", "same"), ("the cat sat", "stocks fell sharply", "different"),
            ("it rained all day", "the day was rainy", "same"), ("it rained all day", "she won the race", "different"),
            ("he bought a car", "he purchased a car", "same"), ("he bought a car", "the soup was cold", "different"),
            ("they sang loudly", "they were singing loud", "same"), ("they sang loudly", "ice melts in heat", "different")]
    train = _write(tmp_path / "pairs.csv", ["a", "b", "label"], rows)
    res = check_contract(tmp_path, "classification", train, tiny_bert_dir, [(r[0], r[1]) for r in rows],
                         {"text_column": "a", "text_pair_column": "b"})
    assert [p["label"] for p in res["predictions"]] == [r[2] for r in rows]
