"""Data held in memory, for the Python API: a pandas DataFrame, a `datasets.Dataset` or a list of dicts given as
`train=`, `validation=` or `test=` (or as suggest's `pool=`, measure_robustness's `data`, `Predictor.evaluate`'s
`path`) is written to a temporary file for the call and read like any file, so every check, split and message
is the one a file gets: a DataFrame or Dataset as Parquet, a list of dicts as a JSON list (Parquet gives a column
one type: spans given as [start, end, "PER"] came back as text, a dict missing a key in one row got it as null).

Messages name the rows "<tmp>/train.parquet, row N" (a list: "<tmp>/train.json, row N"): N is the row's position,
0-based (`df.iloc[N]`, `dataset[N]`, `rows[N]`); NaN in a list of dicts is a missing value, as in pandas.
A `datasets.Dataset` keeps its ClassLabel names (the Parquet file carries its features).
The temporary files are removed when the call returns; splits carved from them are written into the run's
`splits/` folder as usual. The run's config.yaml names the temporary paths, which are gone by then: to rerun a
run from its config, save the data as a file and give its path.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

from ..files import finite

DATA_KEYS = ("train", "validation", "test")


def is_rows(value) -> bool:
    """A DataFrame or a datasets.Dataset (both have to_parquet), or a non-empty list of dicts."""
    if isinstance(value, (str, bytes, os.PathLike)) or value is None:
        return False
    if callable(getattr(value, "to_parquet", None)):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def _plain(value):
    """json.dumps' `default` for what a list of dicts from pandas or numpy holds: arrays and numpy numbers as lists
    and numbers, dates as ISO text, pandas' NA and NaT as null; anything else is a TypeError (the rows then go to
    Parquet)."""
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if callable(getattr(value, "tolist", None)):
        return finite(value.tolist())
    if callable(getattr(value, "isoformat", None)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def write_rows(value, stem: str) -> str:
    """`value` (see is_rows) as the file `stem`.json (a list of dicts) or `stem`.parquet; returns its path."""
    import pyarrow as pa

    from ..errors import UserError
    from ..files import atomic_write_text, write_parquet

    name = os.path.basename(stem)
    if isinstance(value, list):  # JSON keeps each row as given (see the module docstring); NaN -> null
        try:
            return atomic_write_text(stem + ".json", json.dumps(finite(value), ensure_ascii=False, default=_plain))
        except (TypeError, ValueError):  # a value JSON has no form for (bytes, Decimal): Parquet, which has some
            pass
    path = stem + ".parquet"
    try:
        if isinstance(value, list):  # every row's keys (from_pylist would keep the first row's only)
            write_parquet(path, value)
        elif hasattr(value, "features"):  # datasets.Dataset: its writer keeps the features (ClassLabel names)
            import datasets

            was_on = datasets.is_progress_bar_enabled()
            datasets.disable_progress_bars()  # quiet, as the rest of the API is
            try:
                value.to_parquet(path)
            finally:
                if was_on:
                    datasets.enable_progress_bars()
        else:  # pandas: positions, not the index, number the rows
            value.to_parquet(path, index=False)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise UserError(f"{name}=: these rows cannot be stored as a table ({str(e).splitlines()[0]}); give each "
                        "column a name of its own and one type, or save the data as a file yourself") from None
    return path


def _refuse_shape(key: str, value) -> None:
    """UserError for data in memory of a shape that is not rows: an empty list (became the path "", refused as a
    missing hub data set named ''), a DatasetDict or a dict of columns (were "expected a string")."""
    from ..errors import UserError

    if isinstance(value, (list, tuple)) and not value:
        raise UserError(f"{key}=: an empty list: there are no rows; give a list of dicts (one per row), a DataFrame, "
                        "a datasets.Dataset or a file path")
    rows_are = "; give one dict per row keyed by column name (e.g. [{'text': ..., 'label': ...}]), a DataFrame or a file path"
    if type(value).__name__ == "Series" and callable(getattr(value, "to_frame", None)):  # pandas, not imported here
        raise UserError(f"{key}=: a pandas Series holds one column; give a DataFrame with every column the task "
                        "reads, e.g. pandas.DataFrame({'text': texts, 'label': labels}), a datasets.Dataset or a "
                        "list of dicts")
    if isinstance(value, (list, tuple)) and not all(isinstance(r, dict) for r in value):
        first = next(r for r in value if not isinstance(r, dict))
        raise UserError(f"{key}=: a {type(value).__name__} of {type(first).__name__} values, not dicts" + rows_are)
    if isinstance(value, tuple):
        raise UserError(f"{key}=: a tuple of dicts; give a list of them (list(rows))")
    if hasattr(value, "__next__") or type(value).__name__ in ("generator", "map", "filter"):
        raise UserError(f"{key}=: an iterator ({type(value).__name__}) can be read only once; give a list of dicts "
                        "(list(...)), a DataFrame or a file path")
    if not isinstance(value, dict) or not value:
        return
    if all(map(is_rows, value.values())):  # a datasets.DatasetDict (load_dataset's answer without split=)
        raise UserError(f"{key}=: a dict of splits ({', '.join(map(str, value))}); give one of them, e.g. "
                        f"{key}=data[{next(iter(value))!r}]")
    if all(isinstance(v, (list, tuple)) for v in value.values()):
        raise UserError(f"{key}=: a dict of columns ({', '.join(map(str, value))}); give it as rows: "
                        "pandas.DataFrame(columns), datasets.Dataset.from_dict(columns) or a list of dicts")


@contextlib.contextmanager
def files_for(options: dict, keys=DATA_KEYS):
    """`options` with each in-memory data set under `keys` replaced by the path of a temporary file."""
    for k in keys:
        _refuse_shape(k, options.get(k))
    given = [k for k in keys if is_rows(options.get(k))]
    if not given:
        yield options
        return
    with tempfile.TemporaryDirectory(prefix="labeltune-data-") as tmp:
        yield {**options, **{k: write_rows(options[k], os.path.join(tmp, k)) for k in given}}
