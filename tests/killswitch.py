"""A child process that runs the `pioneer` CLI and kills itself with SIGKILL right after the first graph node
(or registry write) that no earlier child was killed after: a node's work done, its checkpoint not yet
written. Run again and again, it crashes once at every boundary of a run, in order.

    python -m tests.killswitch KILLED_FILE pioneer-args...
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path

NODES = {"data_scout": ("ingest", "scout"), "verifier": ("diagnose", "gate", "frame", "score"),
         "planner": ("plan", "promote", "search", "finish"), "curriculum": ("synthesize", "cold_mix"),
         "trainer": ("train",), "reviewer": ("approve",), "reporter": ("report",)}


def main() -> int:
    killed_file = Path(sys.argv[1])
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
    from tools.registry import Registry

    promote = Registry.promote

    def promote_then_die(self, *a, **kw):
        out = promote(self, *a, **kw)
        maybe_die("registry.promote")
        return out

    Registry.promote = promote_then_die
    from graph.cli import main as cli

    return cli(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
