"""FileMediaStorage: whole files or none, whatever fails mid-write; leftovers swept at start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from switchboard.recordings.storage import FileMediaStorage

KEY = "r-00000001-0000-4000-8000-000000000000.wav"


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_write_read_delete(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path / "recordings")
    assert storage.read(KEY) is None
    assert storage.write(KEY, b"RIFF....") == 8
    assert storage.read(KEY) == b"RIFF...."
    assert (tmp_path / "recordings" / KEY).read_bytes() == b"RIFF...."
    assert storage.delete(KEY) is True
    assert storage.read(KEY) is None
    assert storage.delete(KEY) is False
    assert files_in(tmp_path / "recordings") == []


def test_a_write_that_fails_before_the_rename_leaves_no_file_and_the_old_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = FileMediaStorage(tmp_path)
    storage.write(KEY, b"old and whole")

    def disk_error(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)  # the disk fails after the data is written
    with pytest.raises(OSError, match="Input/output"):
        storage.write(KEY, b"new" * 1000)
    assert storage.read(KEY) == b"old and whole"
    assert files_in(tmp_path) == [KEY]  # no temporary file left behind

    other = "r-00000002-0000-4000-8000-000000000000.mp3"
    with pytest.raises(OSError):
        storage.write(other, b"never whole")
    assert storage.read(other) is None
    assert files_in(tmp_path) == [KEY]


def test_a_rename_that_fails_leaves_no_file(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path)
    (tmp_path / KEY).mkdir()  # something that is not a file sits at the name
    (tmp_path / KEY / "inside").write_bytes(b"")
    with pytest.raises(OSError):
        storage.write(KEY, b"data")
    assert files_in(tmp_path) == [KEY]
    assert (tmp_path / KEY).is_dir()


def test_keys_are_ids_never_paths(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path / "recordings")
    for key in ("../escape.wav", "/etc/passwd", ".partial-x", "", "a/b"):
        with pytest.raises(ValueError, match="not a media key"):
            storage.write(key, b"x")
    assert not (tmp_path / "escape.wav").exists()


def test_sweep_removes_what_a_crash_left_mid_write_and_keeps_whole_files(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path)
    storage.write(KEY, b"whole")
    (tmp_path / ".partial-abc123").write_bytes(b"torn")
    (tmp_path / ".partial-def456").write_bytes(b"")
    assert storage.sweep_partials() == 2
    assert files_in(tmp_path) == [KEY]
    assert storage.read(KEY) == b"whole"
    assert FileMediaStorage(tmp_path / "missing").sweep_partials() == 0
