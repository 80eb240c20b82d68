"""Advisory file locks (flock) that hold across processes and threads: one writer per run folder, one
promotion at a time per registry entry. The kernel drops a lock when its holder dies, `kill -9` included,
so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


class Busy(RuntimeError):
    """Another process (or thread) holds the lock."""

    def __init__(self, path: Path, holder: str):
        self.path, self.holder = path, holder
        super().__init__(f"{path.parent} is in use by {holder or 'another process'}")


@contextmanager
def file_lock(path: str | Path, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block. `wait=False` raises Busy
    at once when another holder has it; `wait=True` blocks, telling `on_wait` once who it waits for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise Busy(path, holder) from None
            if on_wait:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def hold_run_folder(run_dir: str | Path):
    """The lock that makes a run folder one process's (or one request's) at a time; Busy at once if taken."""
    return file_lock(Path(run_dir) / ".lock", wait=False)


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
