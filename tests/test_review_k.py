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
