"""The README stays true: its graph is the graph's own drawing, its results table is the benchmarks' pages
(each linked page exists, each page is linked), and its links into docs/ lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_drawn_graph_is_the_graph():
    from graph.machine import graph

    drawn = re.search(r"```mermaid\n(.*?)```", README, re.S).group(1)
    assert drawn.strip() == graph.get_graph().draw_mermaid().strip(), \
        "the graph changed: paste python -c 'from graph.machine import graph; print(graph.get_graph().draw_mermaid())' into the README"


def test_the_results_table_is_the_pages():
    from evals.pages import MARK, PAGES, readme_table

    block = README[README.index(MARK[0]) + len(MARK[0]):README.index(MARK[1])].strip()
    assert block == readme_table().strip(), "run python -m evals.recorded"
    linked = set(re.findall(r"\(evals/results/([\w.-]+\.md)\)", block))
    assert linked == {p.name for p in PAGES.glob("*.md")} and len(linked) >= 5
    for name in linked:
        text = (PAGES / name).read_text(encoding="utf-8")
        assert re.search(r"^- commit: \w+", text, re.M) and re.search(r"^- date: \d{4}-\d\d-\d\d", text, re.M), name


def test_links_lead_somewhere():
    for target in re.findall(r"\]\(((?:docs|evals)/[^)#]+)", README):
        assert (ROOT / target).exists(), target
