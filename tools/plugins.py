"""Named registries of plug-ins (task kinds, training backends): each entry is a lazy "module:Class" path,
imported on first use (as lm-evaluation-harness registers its tasks), or the class itself."""

from __future__ import annotations

import importlib


def make(registry: dict[str, str | type], name: str, what: str, **options):
    """An instance of the entry `name` of `registry`; KeyError naming `what` and the known entries otherwise."""
    if name not in registry:
        raise KeyError(f"no {what} {name!r} (known: {', '.join(registry)})")
    target = registry[name]
    if isinstance(target, str):
        module, cls = target.split(":")
        target = getattr(importlib.import_module(module), cls)
    return target(**options)
