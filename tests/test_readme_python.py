"""The README's Python example runs as written (on the test deployment, with the tiny model)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_readme_python_example_compiles_runs_pauses_and_resumes(deployment, tiny_base, tmp_path, monkeypatch, capsys):
    code = re.search(r"<!-- python-example -->\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "require_approval=True" in code and "Command(resume=" in code and "from_conn_string" in code
    # the same code, pointed at the test deployment and the tiny model with a loose gate
    code = code.replace("runs/demo/deployment", str(deployment)).replace(
        "require_approval=True)", f"require_approval=True, base_model={tiny_base!r}, learning_rate=3e-3, epochs=4, "
                                  "max_iterations=1, gate='absolute', max_flips=1000, min_fixed=0.0, label_tolerance=1.0)")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "flips" in out and "promoted deployed v0001" in out
    assert (tmp_path / "runs" / "py" / "model" / "config.json").exists()
