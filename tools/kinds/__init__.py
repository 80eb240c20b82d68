"""Task kinds as plug-ins: what differs between classification, entity extraction (and, later, generation)
is written once per kind behind one protocol (`base.TaskKind`), and the agents call the kind they are given
(`get(state["task"])`), never branching on its name. A new kind is one module and one `register` line."""

from tools.kinds.base import UNCLAIMED, TaskKind, get, known, names, naming, register

__all__ = ["UNCLAIMED", "TaskKind", "get", "known", "names", "naming", "register"]
