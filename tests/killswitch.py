"""Run the `pioneer` CLI again and again, each time in a fresh child process that kills itself with SIGKILL
right after the first graph node (or registry write) that no earlier child was killed after: a node's work
done, its checkpoint not yet written. So a run crashes once at every boundary, in order, until a child is
not killed; that child's exit status is this process's.

    python -m tests.killswitch KILLED_FILE pioneer-args...

The parent imports the heavy libraries once and forks each child from that state (a fork server), so the ~15
reruns do not each spend seconds importing torch and transformers; every child still dies of a real SIGKILL
and the next one starts from what the killed one left on disk.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import traceback
from pathlib import Path

NODES = {"data_scout": ("ingest", "scout"), "verifier": ("diagnose", "gate", "frame", "score"),
         "planner": ("plan", "promote", "search", "finish"), "curriculum": ("synthesize", "cold_mix"),
         "trainer": ("train",), "reviewer": ("approve",), "reporter": ("report",)}
MAX_RERUNS = 40


def child(killed_file: Path, args: list[str]) -> int:
    """One run of the CLI that dies after the first boundary not yet in `killed_file`."""
    killed = set(json.loads(killed_file.read_text())) if killed_file.exists() else set()

    def maybe_die(key: str) -> None:
        if key in killed:
            return
        killed_file.write_text(json.dumps(sorted(killed | {key})))
        os.kill(os.getpid(), signal.SIGKILL)

    import importlib

    for mod, names in NODES.items():
        m = importlib.import_module(f"agents.{mod}")
        for name in names:
            fn = getattr(m, name)

            def wrapped(state, runtime, _fn=fn, _name=name):
                out = _fn(state, runtime)
                maybe_die(f"{_name}:{len(state.get('iterations') or [])}")
                return out

            setattr(m, name, functools.wraps(fn)(wrapped))
    from tools.store.registry import Registry

    promote = Registry.promote

    def promote_then_die(self, *a, **kw):
        out = promote(self, *a, **kw)
        maybe_die("registry.promote")
        return out

    Registry.promote = promote_then_die
    from graph.cli import main as cli

    return cli(args)


def preload() -> None:
    """Import what every run imports, before any thread or model exists, so that forks start warm."""
    import importlib

    import sklearn.linear_model  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers.models.bert import modeling_bert  # noqa: F401

    for mod in NODES:
        importlib.import_module(f"agents.{mod}")
    import graph.cli  # noqa: F401


def main() -> int:
    killed_file, args = Path(sys.argv[1]), sys.argv[2:]
    preload()
    for _ in range(MAX_RERUNS):
        sys.stdout.flush(), sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the loop
            code = 1
            try:
                code = child(killed_file, args)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os._exit(code if isinstance(code, int) else 1)
        _, status = os.waitpid(pid, 0)
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            return os.waitstatus_to_exitcode(status)
    print(f"still killed after {MAX_RERUNS} reruns", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
