"""Running the CLI in a child process, for the tests that kill a run and resume it."""

from __future__ import annotations

import signal
import subprocess


def kill_at_first_training_step(args: list[str], env: dict, cwd) -> None:
    """Start `args`, SIGKILL it when it reports its first training step, and check it died of the kill."""
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if " train " in line and " step " in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
