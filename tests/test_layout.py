"""The tree keeps its shape: imports run one way (tools <- agents <- graph, evals on top), agents take only the
state and the Context from graph/, no module imports itself back through others, and no source file grows
past about 400 lines. Read from the source with `ast` (function-level imports count too), nothing imported."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "agents", "tools", "evals")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of the project's modules: the module named, or for `from P import x` P.x when that
    is a module, else P."""
    edges = {}
    for name, path in modules.items():
        got = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                got |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                got |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
        edges[name] = {m for m in got if m in modules and m != name}
    return edges


def test_imports_run_one_way():
    modules = _modules()
    edges = _imports(modules)
    bad = []
    for src, targets in edges.items():
        top = src.split(".")[0]
        for t in targets:
            dst = t.split(".")[0]
            if top == "tools" and dst != "tools":
                bad.append(f"{src} -> {t}: tools/ imports only tools/")
            if top == "agents" and dst in ("evals",) or top == "agents" and dst == "graph" and t not in ("graph", "graph.context", "graph.state"):
                bad.append(f"{src} -> {t}: agents/ take only the state and the Context from graph/")
            if top == "graph" and dst == "evals":
                bad.append(f"{src} -> {t}: graph/ never imports evals/ (benchmarks are entry points)")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_circles():
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    modules = _modules()
    edges = _imports(modules)
    names = sorted(modules)
    index = {n: i for i, n in enumerate(names)}
    rows = [index[s] for s, ts in edges.items() for _ in ts]
    cols = [index[t] for ts in edges.values() for t in ts]
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    _, label = connected_components(graph, directed=True, connection="strong")
    circles = [sorted(n for n in names if label[index[n]] == c) for c in set(label.tolist())]
    circles = [c for c in circles if len(c) > 1]
    assert not circles, f"modules that import each other (through others too): {circles}"


def test_no_source_file_over_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in _modules().values() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these (over {MAX_LINES} lines): {long}"


def test_the_checks_see_a_bad_import(tmp_path):
    """The import reader itself: a tools module that imports graph/ is found (so the first test can fail)."""
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "bad.py").write_text("def f():\n    from graph.context import Context\n")
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "context.py").write_text("")
    mods = {"tools.bad": tmp_path / "tools" / "bad.py", "graph.context": tmp_path / "graph" / "context.py"}
    assert _imports(mods)["tools.bad"] == {"graph.context"}


def test_every_work_file_is_declared_once_and_read_by_its_form(tmp_path):
    """The run folder's work files are owned by tools/store/artifacts.py: each declared once, with a form the
    Workspace reads and writes, and no module of the run (agents/, tools/, graph/) spells one of their file names."""
    from tools.store import artifacts
    from tools.store.workspace import Workspace

    declared = {n: f for n, f in vars(artifacts).items() if isinstance(f, artifacts.WorkFile)}
    names = [f.name for f in declared.values()]
    assert len(declared) >= 15 and len(set(names)) == len(names)
    ws = Workspace(tmp_path)
    for f in declared.values():
        if f.form == "json":
            ws.write(f, {"k": [1, 2]})
            assert ws.has(f) and ws.read(f) == {"k": [1, 2]}
        elif f.form == "rows":
            ws.write(f, [{"input": "a", "output": "b"}])
            assert ws.read(f) == [{"input": "a", "output": "b"}]
        else:
            with pytest.raises(TypeError, match=f.name):
                ws.write(f, [])
    with pytest.raises(ValueError, match="form"):
        artifacts.WorkFile("x.bin", "pickle")
    files = [n for n in names if "." in n or "_" in n]  # "hub" is also a word: the folder is left out
    spelled = [f"{rel}: {n!r}" for mod, p in _modules().items() if mod != "tools.store.artifacts" and not mod.startswith("evals")
               for rel in [p.relative_to(ROOT)] for n in files if f'"{n}"' in p.read_text(encoding="utf-8")]
    assert not spelled, "work file names spelled outside tools/store/artifacts.py: " + ", ".join(spelled)
