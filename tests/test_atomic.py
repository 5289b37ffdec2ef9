"""maiou.utils.atomic: a file appears whole under its name, or the old one stays."""

from __future__ import annotations

import os
import stat

import pytest

from maiou.utils.atomic import atomic_path, write_bytes_atomic, write_text_atomic


def test_writes_into_new_folders_readable_by_others(tmp_path):
    target = tmp_path / "a" / "b" / "metrics.json"
    write_text_atomic(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(target.parent) == ["metrics.json"]


def test_the_temporary_file_is_beside_the_target_until_the_rename(tmp_path):
    target = tmp_path / "table.md"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".table.md.")
        tmp.write_text("new")
        assert target.read_text() == "old"  # not yet renamed
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["table.md"]


def test_a_failure_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "backbone.pth"
    write_bytes_atomic(target, b"complete")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"complete"
    assert os.listdir(tmp_path) == ["backbone.pth"]


def test_a_failure_before_anything_existed_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "figure.png"):
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
