"""Running a generated program safely: in a fresh temporary folder, in its own network and process namespaces
(`unshare -n -p -f --kill-child`: no network, every child it forks dies with it), with resource limits (CPU
seconds, memory, file size, open files) and a wall-clock timeout, Python isolated from the environment and the
user's site-packages (`-I -S`). Where namespaces cannot be made the program is not run: the result says why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 5
    memory_bytes: int = 1 << 30
    file_bytes: int = 1 << 20
    open_files: int = 64
    wall_seconds: float = 10.0


@dataclass
class Result:
    ok: bool  # exited 0 within the limits
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    reason: str = ""  # why it is not ok: "timed out", "killed by signal 9", "no sandbox here: ...", the exit status
    seconds: float = 0.0
    limits: Limits = field(default_factory=Limits)


def _limits(limits: Limits) -> list[str]:
    """The limits as a `prlimit` prefix (set before the program starts, without a hook in this process)."""
    return ["prlimit", f"--cpu={limits.cpu_seconds}", f"--as={limits.memory_bytes}", f"--fsize={limits.file_bytes}",
            f"--nofile={limits.open_files}", "--core=0", "--"]


@lru_cache(maxsize=1)
def namespaces() -> tuple[list[str], str]:
    """The unshare prefix that works here ([] and why not, when none does): as root `unshare -n -p -f`, else the
    same inside a user namespace (`-r`)."""
    exe = shutil.which("unshare")
    if not exe or not shutil.which("prlimit"):
        return [], "no unshare or prlimit command (util-linux) on this machine"
    errors = []
    for extra in ([], ["-r"]):
        cmd = [exe, *extra, "-n", "-p", "-f", "--kill-child"]
        try:
            probe = subprocess.run([*cmd, sys.executable, "-I", "-S", "-c", "pass"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(str(e))
            continue
        if probe.returncode == 0:
            return cmd, ""
        errors.append(probe.stderr.strip()[:200])
    return [], "namespaces cannot be made here (" + "; ".join(errors) + ")"


def run_python(program: str, limits: Limits = Limits(), stdin: str = "") -> Result:
    """Run `program` as a Python file in the sandbox; its result (never raises for what the program does)."""
    import time

    prefix, why_not = namespaces()
    if not prefix:
        return Result(False, None, reason=f"no sandbox here: {why_not}; the program was not run", limits=limits)
    with tempfile.TemporaryDirectory(prefix="pioneer-sandbox-") as tmp:
        prog = Path(tmp) / "prog.py"
        prog.write_text(program, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        t0 = time.perf_counter()
        try:
            p = subprocess.run([*_limits(limits), *prefix, sys.executable, "-I", "-S", str(prog)], cwd=tmp, env=env, input=stdin,
                               capture_output=True, text=True, timeout=limits.wall_seconds, start_new_session=True)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            return Result(False, None, out[-4000:], "", f"timed out after {limits.wall_seconds:g} s", time.perf_counter() - t0, limits)
    took = time.perf_counter() - t0
    reason = "" if p.returncode == 0 else (f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit status {p.returncode}")
    if p.returncode and "MemoryError" in p.stderr:
        reason = f"memory limit ({limits.memory_bytes >> 20} MiB)"
    elif p.returncode and took >= limits.cpu_seconds:  # SIGXCPU (unshare then reports its own failure)
        reason = f"CPU limit ({limits.cpu_seconds} s)"
    return Result(p.returncode == 0, p.returncode, p.stdout[-4000:], p.stderr[-4000:], reason, took, limits)
