"""Writing files so that a reader (another process, a parallel test worker, a resumed run) never sees half of one.

Everything is written beside its destination first and then renamed into place: a rename is atomic on POSIX
file systems, so a reader sees the old content or the new one, never a mix. The data is flushed to the disk
before the rename (else a power cut could leave a renamed file that is empty), new files get the permissions
`open` would give them, and the temporary file or folder is removed if the write fails.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile

from .errors import UserError


def fsync(path: str) -> None:
    """Flush a file's or a directory's content (a directory's: the names in it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_readable(path: str) -> None:
    """Give a file the permissions the umask gives new files (0644 under the usual 022), as `open` does
    (safetensors and mkstemp write files readable by the owner alone)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def writable_file(path, flag: str = "--output") -> None:
    """UserError (naming `flag`) when `path` cannot become a file: it is a folder, or a file stands where one
    of its folders should be (`out.csv/preds.jsonl`). Missing folders are fine: the writers create them."""
    path = str(path)
    if os.path.isdir(path):
        raise UserError(f"{flag} {path} is a folder; give a file name, e.g. {os.path.join(path, 'predictions.jsonl')}")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:  # the nearest existing ancestor
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(f"{flag} {path}: {parent} is a file, not a folder; choose another path")


@contextlib.contextmanager
def atomic_open(path, encoding: str = "utf-8", newline: str | None = None):
    """A text file to write that replaces `path` (creating its folder) only when the block finishes without
    error: a crash or a bad row half-way leaves the previous file as it was, never half a result file."""
    writable_file(path)
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):  # /dev/null, /dev/stdout, a
        with open(path, "w", encoding=encoding, newline=newline) as f:  # pipe, a link: written in place (a rename
            # would replace the device or the link itself)
            yield f
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(str(path))[1])
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        make_readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> str:
    """Write `text` to `path` atomically (creating its folder); returns `path`."""
    with atomic_open(path, encoding=encoding) as f:
        f.write(text)
    return path


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary directory `<path>.tmp-<pid>` that replaces `path` when the block finishes without error.

    Its files are flushed and made readable before the rename; on an error it is removed. A kill between the two
    renames leaves the previous content at `<path>.old` (checkpoint.existing looks there); a kill before them
    leaves the `.tmp-<pid>` folder, which checkpoint.remove_stale clears."""
    path = str(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        for root, _, files in os.walk(tmp):
            for name in files:
                make_readable(os.path.join(root, name))
                fsync(os.path.join(root, name))
        fsync(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = f"{path}.old"
    if os.path.exists(path):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    fsync(os.path.dirname(os.path.abspath(path)))  # the renames themselves
    shutil.rmtree(old, ignore_errors=True)


def finite(value):
    """`value` with inf/NaN floats as None: JSON has no such numbers (json.dumps writes `Infinity`, which jq,
    JavaScript and pandas refuse), e.g. QA's null score difference when a context has no span to answer."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_jsonl(path, records) -> None:
    """One JSON object per line, UTF-8 kept as is; atomic (a result file is whole or not there)."""
    with atomic_open(path) as f:
        for r in records:
            f.write(json.dumps(finite(r), ensure_ascii=False) + "\n")


def arrow_table(rows: list[dict]):
    """`rows` as a pyarrow Table with the columns of every row, in first-seen order (pyarrow's from_pylist keeps
    the first row's keys only and drops the rest in silence); a missing value is null. A column pyarrow cannot
    give one type (an id that is a number in some rows and text in others) is stored as text: strings as they
    are, other values as JSON."""
    import pyarrow as pa

    columns = list(dict.fromkeys(k for r in rows for k in r))
    arrays = []
    for c in columns:
        values = [r.get(c) for r in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                    for v in values], type=pa.string()))
    return pa.Table.from_arrays(arrays, names=columns)


def write_parquet(path: str, rows: list[dict]) -> str:
    """`rows` as the Parquet file `path` (see arrow_table), which is replaced only when the file is whole."""
    import pyarrow.parquet as pq

    writable_file(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        pq.write_table(arrow_table(rows), tmp)
        make_readable(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
