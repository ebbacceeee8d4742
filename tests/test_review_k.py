"""Review K: README examples run as a newcomer reads them."""

import re

import pytest

from labeltune.cli import main


@pytest.mark.parametrize("argv", [["predict", "--help"], ["evaluate", "--help"]])
def test_help_names_every_prediction_file_type(argv, capsys):
    """`predict --output` and `evaluate --predictions` also write .json (one array) and .parquet
    (outputs.RECORD_TYPES), as README's Outputs says; the help named '.csv, .tsv or .jsonl' only."""
    with pytest.raises(SystemExit):
        main(argv)
    text = " ".join(capsys.readouterr().out.split())
    for ext in ("csv", "tsv", "jsonl", "json", "parquet"):
        assert re.search(rf"\.{ext}\b(?!l)", text), f"{argv[0]} --help does not name .{ext}"


def test_debug_data_does_not_call_qa_windows_truncation(tmp_path, tiny_bert_dir, capsys):
    """debug-data on QA data with a context longer than --max-length warned "will be truncated (--max-length)",
    but QA (and NER) read such an input in overlapping windows: a note that says so now, not a warning."""
    import json

    from labeltune.cli import main

    context = "In the beginning God created the heavens and the earth . " * 12
    rows = [{"id": f"q{i}", "question": "What did God create?", "context": context,
             "answers": {"text": ["the heavens"], "answer_start": [context.index("the heavens")]}} for i in range(4)]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code = main(["debug-data", "--task", "qa", "--train", str(path), "--model", tiny_bert_dir, "--max-length", "64",
                 "--doc-stride", "16", "--json"])
    problems = json.loads(capsys.readouterr().out)["problems"]
    long = [p for p in problems if "longer than 64 tokens" in p["problem"]]
    assert code == 0 and len(long) == 1
    assert long[0]["severity"] == "note" and "overlapping windows" in long[0]["problem"]
