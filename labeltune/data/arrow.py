"""Tables stored by Arrow: Parquet files (every hub data set has a Parquet copy) and `datasets.save_to_disk`
folders. Their class ids become class names where the file carries `datasets` features (ClassLabel columns), so a
model never says "0" or "LABEL_0"; rows are located as "row N" (0-based, as pandas and `datasets` count)."""

from __future__ import annotations

import os

from ..errors import UserError
from .readers import Table


def read_datasets_dir(path: str) -> Table:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as e:  # the library raises several types for a directory it does not recognise
        raise UserError(f"{path}: not a directory saved by datasets.save_to_disk ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        raise UserError(f"{path} holds splits {list(ds)}; pass one of them, e.g. {os.path.join(path, list(ds)[0])}")
    rows = ds.to_list()
    refuse_no_rows(path, rows, ds.column_names)
    return Table(path, list(ds.column_names), rows, [None] * len(ds), name_classes(path, rows, ds.features))


def refuse_no_rows(path: str, rows: list, columns: list[str]) -> None:
    """A table with columns and no rows is refused as a CSV header without rows is (predict and evaluate met an
    IndexError on it; train a puzzling "0 groups" split error)."""
    if not rows:
        raise UserError(f"{path} has columns ({', '.join(columns) or 'none'}) but no rows")


def read_parquet(path: str) -> Table:
    """A Parquet file (the Hugging Face hub's own format: every data set has a Parquet copy). Rows are located as
    "row N" (0-based, as pandas and `datasets` count); class ids become their names where the file carries
    `datasets` features (a ClassLabel column), as for a save_to_disk directory."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not Parquet
        raise UserError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]}); check the file, or save "
                        "the data as .csv or .jsonl") from None
    rows = table.to_pylist()
    refuse_no_rows(path, rows, table.column_names)
    try:
        import datasets

        features = datasets.Features.from_arrow_schema(table.schema)
    except Exception:  # no `datasets` metadata, or one this version cannot read: ids stay as they are
        features = {}
    return Table(path, list(table.column_names), rows, [None] * len(rows), name_classes(path, rows, features))


def name_classes(path: str, rows: list[dict], features) -> dict[str, int]:
    """Class ids -> their names in place, for each ClassLabel column (or list of them) of `features`, so a model
    never says "0"/"LABEL_0"; returns how many rows of each such column had the id -1 ("no label", now None)."""
    no_label = {}
    for column, feature in features.items():
        names = class_names(feature)
        if names is not None:
            for i, row in enumerate(rows):
                no_label[column] = no_label.get(column, 0) + (row[column] == -1)
                try:
                    row[column] = named(row[column], names)
                except IndexError as e:
                    raise UserError(f"{path}, row {i}: column '{column}' holds the class id {e.args[0]}, but its "
                                    f"ClassLabel feature names {len(names)} classes (ids 0-{len(names) - 1}, -1 for "
                                    "no label); fix the id or the feature's names") from None
    return {c: n for c, n in no_label.items() if n}


def class_names(feature) -> list[str] | None:
    """The names of a ClassLabel feature, or of a list of them (NER's ner_tags), else None."""
    import datasets

    inner = getattr(feature, "feature", None)  # List / Sequence of ClassLabel
    for f in (feature, inner):
        if isinstance(f, datasets.ClassLabel):
            return list(f.names)
    return None


def named(value, names: list[str]):
    """A class id (or a list of them) as its name; -1, datasets' "no label" (GLUE's test splits), as None; a
    value that is not an id (a name already) as it is. An id out of range: IndexError(id)."""
    if isinstance(value, list):
        return [named(v, names) for v in value]
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if value == -1:
        return None
    if not 0 <= value < len(names):
        raise IndexError(value)
    return names[value]
