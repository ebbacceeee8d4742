"""labeltune.files (atomic writes, write_jsonl) and errors.check: the helpers every module shares."""

import json
import os
import stat

import pytest

from labeltune.errors import UserError, check
from labeltune.files import atomic_dir, atomic_write_text, write_jsonl


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def test_atomic_write_text_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    assert atomic_write_text(path, "first") == path
    atomic_write_text(path, "zweite ✓")
    assert path.read_text(encoding="utf-8") == "zweite ✓"
    assert os.listdir(tmp_path / "sub") == ["a.json"]
    assert _mode(path) == _umask_mode()  # not mkstemp's 0600


def test_atomic_write_text_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "new \udcff", encoding="utf-8")  # a lone surrogate cannot be encoded
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_dir_swaps_whole_directories_and_cleans_up_on_error(tmp_path):
    path = str(tmp_path / "ckpt")
    with atomic_dir(path) as tmp:
        assert tmp == f"{path}.tmp-{os.getpid()}"  # the name checkpoint.remove_stale and run.py look for
        with open(os.path.join(tmp, "w.bin"), "w") as f:
            f.write("1")
        os.chmod(os.path.join(tmp, "w.bin"), 0o600)  # as safetensors writes its files
    assert _mode(os.path.join(path, "w.bin")) == _umask_mode()
    with pytest.raises(RuntimeError):
        with atomic_dir(path) as tmp:
            with open(os.path.join(tmp, "w.bin"), "w") as f:
                f.write("2")
            raise RuntimeError("killed half-way")
    with open(os.path.join(path, "w.bin")) as f:
        assert f.read() == "1"  # the previous directory is intact
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no .tmp-<pid>, no .old


def test_write_jsonl_keeps_unicode(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"text": "señor"}, {"n": 2}])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"text": "señor"}'
    assert [json.loads(x) for x in lines] == [{"text": "señor"}, {"n": 2}]


def test_check_raises_the_first_failed_message():
    check([(True, "never"), (1 > 0, "nor this")])
    with pytest.raises(UserError, match="^--lr must be positive$"):
        check([(True, "fine"), (False, "--lr must be positive"), (False, "--second")])


def test_atomic_writes_to_a_device_write_in_place():
    """--output /dev/null: a rename onto it would replace the device with a regular file (as root)."""
    import stat as stat_

    from labeltune.files import atomic_open

    with atomic_open("/dev/null") as f:
        f.write("discarded\n")
    write_jsonl("/dev/null", [{"a": 1}])
    assert stat_.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [n for n in os.listdir("/dev") if n.startswith(".tmp-")]


def test_atomic_write_through_a_link_keeps_the_link(tmp_path):
    from labeltune.files import atomic_write_text

    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
