"""robot_rl.atomic: the one atomic-write helper (temp file, fsync, os.replace, fsync dir)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from robot_rl.atomic import TMP_SUFFIX, atomic_file, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    assert write_atomic(path, b"new content") == path
    assert path.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_permissions_follow_the_umask_like_a_plain_open(tmp_path):
    write_atomic(tmp_path / "atomic", b"x")
    (tmp_path / "plain").write_bytes(b"x")
    mode = stat.S_IMODE(os.stat(tmp_path / "atomic").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(path) as f:
            f.write(b"half")
            assert [p.name for p in tmp_path.glob("*" + TMP_SUFFIX)]  # the temporary is a *.tmp sibling
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_json_report_writer_uses_it(tmp_path):
    from robot_rl.control.report import write_json_atomic

    path = tmp_path / "sub" / "report.json"
    write_json_atomic(path, {"a": 1, "b": [1.5]})
    assert json.loads(path.read_text()) == {"a": 1, "b": [1.5]}
    assert path.read_text() == json.dumps({"a": 1, "b": [1.5]}, indent=2)
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]
