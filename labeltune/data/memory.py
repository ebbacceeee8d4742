"""Data held in memory, for the Python API: a pandas DataFrame, a `datasets.Dataset` or a list of dicts given as
`train=`, `validation=` or `test=` (or as suggest's `pool=`, measure_robustness's `data`, `Predictor.evaluate`'s
`path`) is written to a temporary Parquet file for the call and read like any file, so every check, split and
message is the one a file gets.

Messages name the rows "<tmp>/train.parquet, row N": N is the row's position, 0-based (`df.iloc[N]`,
`dataset[N]`, `rows[N]`). A `datasets.Dataset` keeps its ClassLabel names (the Parquet file carries its features).
The temporary files are removed when the call returns; splits carved from them are written into the run's
`splits/` folder as usual. The run's config.yaml names the temporary paths, which are gone by then: to rerun a
run from its config, save the data as a file and give its path.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

DATA_KEYS = ("train", "validation", "test")


def is_rows(value) -> bool:
    """A DataFrame or a datasets.Dataset (both have to_parquet), or a non-empty list of dicts."""
    if isinstance(value, (str, bytes, os.PathLike)) or value is None:
        return False
    if callable(getattr(value, "to_parquet", None)):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def write_rows(value, path: str) -> str:
    """`value` (see is_rows) as the Parquet file `path`."""
    import pyarrow as pa

    from ..errors import UserError
    from ..files import write_parquet

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
        name = os.path.splitext(os.path.basename(path))[0]
        raise UserError(f"{name}=: these rows cannot be stored as a table ({str(e).splitlines()[0]}); give each "
                        "column one type, or save the data as a file yourself") from None
    return path


@contextlib.contextmanager
def files_for(options: dict, keys=DATA_KEYS):
    """`options` with each in-memory data set under `keys` replaced by the path of a temporary Parquet file."""
    given = [k for k in keys if is_rows(options.get(k))]
    if not given:
        yield options
        return
    with tempfile.TemporaryDirectory(prefix="labeltune-data-") as tmp:
        yield {**options, **{k: write_rows(options[k], os.path.join(tmp, f"{k}.parquet")) for k in given}}
