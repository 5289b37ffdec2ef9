"""Shared stores (maiou/utils/store.py) and downloads into them (experiments/scripts/download.py):
one writer at a time, a full disk named with its folder, the space needed and free."""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import re
import shutil
import time
from collections import namedtuple
from pathlib import Path

import pytest
from coco_mirror import Mirror

from experiments.scripts import download
from maiou.utils import store

PAYLOAD = bytes(range(256)) * 8000  # 2 MB


@pytest.fixture
def server(tmp_path_factory):
    """A local HTTP server (tests/coco_mirror.py) serving PAYLOAD as /file.zip."""
    root = tmp_path_factory.mktemp("served")
    (root / "file.zip").write_bytes(PAYLOAD)
    mirror = Mirror(root)
    yield f"{mirror.url}/file.zip"
    mirror.close()


Usage = namedtuple("Usage", "total used free")


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_too_little_space_is_named_before_downloading(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "downloads/file.zip"
    assert download.main(["--url", server, "--out", str(out)]) == 1
    (line,) = _error_lines(capsys.readouterr().err)
    assert f"no space left in {out.parent.resolve()}" in line
    assert "file.zip needs 0.00 GB" in line and "0.00 GB free there" in line
    assert "offline" not in line
    assert not out.exists() and not out.with_name("file.zip.part").exists()


def test_a_disk_that_fills_during_the_download(server, tmp_path, monkeypatch, capsys):
    """ENOSPC half way: one line with folder, needed and free; the partial file is deleted;
    with space freed, the rerun completes."""
    real_open = Path.open

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, block):
            if self.written + len(block) > len(PAYLOAD) // 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += self.f.write(block)
            return len(block)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def open_on_a_full_disk(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return FullDisk(f) if path.name.endswith(".part") else f

    out = tmp_path / "file.zip"
    with monkeypatch.context() as patch:
        patch.setattr(Path, "open", open_on_a_full_disk)
        assert download.main(["--url", server, "--out", str(out)]) == 1
    (line,) = _error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: no space left in {tmp_path.resolve()}: file.zip needs")
    assert re.search(r"needs 0\.00 GB, [\d.]+ GB free there; free some space", line), line
    assert not out.exists() and not (tmp_path / "file.zip.part").exists()

    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert download.main(["--url", server, "--md5", md5, "--out", str(out)]) == 0
    assert out.read_bytes() == PAYLOAD


def _hold(path, seconds, started):
    with store.exclusive(path):
        started.set()
        time.sleep(seconds)


def test_a_second_writer_waits_and_a_killed_holder_does_not_block(tmp_path):
    path = tmp_path / "file.zip"
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(path, 2.0, started))
    holder.start()
    assert started.wait(30)
    begin = time.monotonic()
    with store.exclusive(path):
        waited = time.monotonic() - begin
    holder.join()
    assert waited > 1.0  # it waited for the holder

    started.clear()
    killed = multiprocessing.Process(target=_hold, args=(path, 60.0, started))
    killed.start()
    assert started.wait(30)
    killed.kill()
    killed.join()
    begin = time.monotonic()
    with store.exclusive(path):  # the kernel released the dead holder's lock
        assert time.monotonic() - begin < 5


def test_a_file_already_there_is_used_as_is(server, tmp_path, capsys):
    out = tmp_path / "file.zip"
    out.write_bytes(b"placed by hand")
    assert download.main(["--url", server, "--out", str(out)]) == 0
    assert out.read_bytes() == b"placed by hand"
    assert "is there already" in capsys.readouterr().err
