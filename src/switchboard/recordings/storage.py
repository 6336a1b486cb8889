"""Where recordings' media live: a small seam, so object storage can come later.

`FileMediaStorage` keeps each file under DATA_DIR/recordings, named by the recording's id.
Writes are atomic (a temporary file, fsync, rename): a crash mid-write leaves the old state or
the whole new file, never a torn one. Blocking calls: run them off the event loop
(asyncio.to_thread).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\Z")


class MediaStorage(Protocol):
    def write(self, key: str, data: bytes) -> int:
        """Store `data` under `key` atomically; returns its size in bytes."""
        ...

    def read(self, key: str) -> bytes | None:
        """The bytes under `key`, or None when there are none (deleted, never written)."""
        ...

    def delete(self, key: str) -> bool:
        """Remove `key`; True if it existed."""
        ...


class FileMediaStorage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):  # keys are ours (ids + extension), never a client's path
            raise ValueError(f"not a media key: {key!r}")
        return self.directory / key

    def write(self, key: str, data: bytes) -> int:
        path = self._path(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".partial-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return len(data)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def sweep_partials(self) -> int:
        """Remove temporary files a crash left behind (at start)."""
        count = 0
        if self.directory.is_dir():
            for leftover in self.directory.glob(".partial-*"):
                leftover.unlink(missing_ok=True)
                count += 1
        return count
