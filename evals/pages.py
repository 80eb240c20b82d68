"""Results pages: each benchmark writes `evals/results/<name>.md` when it finishes (date, commit, machine, the
command, its headline and its table), and the README's results table follows the pages, one row a page.
`python -m evals.recorded` rewrites every page from its recorded results file.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = Path(__file__).resolve().parent / "results"


@dataclass
class Page:
    name: str  # the file's stem: evals/results/<name>.md
    title: str
    command: str
    headline: str
    columns: list[str]
    rows: list[dict]
    notes: str = ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores, {platform.machine()}, {device}"


def stamp(results_file: str | Path | None = None) -> dict:
    """When and on which commit the figures were measured: now and HEAD (with '+changes' when the tree is dirty),
    or, for a recorded results file, the last commit that wrote it."""
    if results_file:
        rel = str(Path(results_file).resolve().relative_to(ROOT))
        date, commit = (_git("log", "-1", "--format=%cs %h", "--", rel) or "unknown unknown").split()
        return {"date": date, "commit": commit, "machine": "2 CPU cores, x86_64, no GPU (the project's machine)", "results": rel}
    dirty = "+changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    return {"date": time.strftime("%Y-%m-%d"), "commit": (_git("rev-parse", "--short", "HEAD") or "unknown") + dirty, "machine": machine()}


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "/").replace("\n", " ")


def write(page: Page, results_file: str | Path | None = None, out_dir: Path = PAGES) -> Path:
    """Write the page (and, for the project's own pages, the README's results table); returns its path."""
    s = stamp(results_file)
    lines = [f"# {page.title}", "", f"- date: {s['date']}", f"- commit: {s['commit']}", f"- machine: {s['machine']}",
             f"- command: `{page.command}`"]
    if s.get("results"):
        lines.append(f"- results file: `{s['results']}`")
    lines += ["", f"**{page.headline}**", "", "| " + " | ".join(page.columns) + " |", "|" + "---|" * len(page.columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in page.columns) + " |" for r in page.rows]
    if page.notes:
        lines += ["", page.notes.strip()]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{page.name}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if out_dir == PAGES:  # the README's table follows its pages
        update_readme()
    return path


def front(path: Path) -> dict:
    """A page's front lines (date, commit, machine, command, results file) and its headline."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("- ") and ": " in line:
            k, v = line[2:].split(": ", 1)
            out[k] = v.strip("`")
        elif line.startswith("**") and line.endswith("**"):
            out["headline"] = line.strip("*")
            break
    return out


README = ROOT / "README.md"
MARK = ("<!-- results: written by evals/pages.py from evals/results/*.md -->", "<!-- /results -->")


def readme_table(pages_dir: Path = PAGES) -> str:
    """The README's results table: one row a page, from the pages' own front lines."""
    lines = ["| benchmark | date | commit | machine | command | headline |", "|---|---|---|---|---|---|"]
    for p in sorted(pages_dir.glob("*.md")):
        f = front(p)
        title = p.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        lines.append(f"| [{title}](evals/results/{p.name}) | {f.get('date', '')} | {f.get('commit', '')} | {f.get('machine', '')} | "
                     f"`{f.get('command', '')}` | {f.get('headline', '')} |")
    return "\n".join(lines)


def update_readme(readme: Path = README) -> None:
    """Rewrite the README's results table between its markers."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(MARK[0]) + len(MARK[0]), text.index(MARK[1])
    readme.write_text(text[:start] + "\n" + readme_table() + "\n" + text[end:], encoding="utf-8")
