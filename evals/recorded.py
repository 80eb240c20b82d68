"""The recorded results files behind each results page, and their rewriting:

    python -m evals.recorded         # rewrite every page (and the README's table) from its recorded results file

A page written from a recorded results file carries the date and commit of the last commit that wrote that file.
"""

from __future__ import annotations

import json
from typing import Callable

from evals import (churn_study, coldstart_bench, dialogsum_probe, entity_bench, generation_production, production_bench, speed_bench,
                   triage_clean)
from evals.adaptft import runner
from evals.pages import README, ROOT, Page, write

RECORDED: dict[str, tuple[str, Callable[[object], Page]]] = {
    "production": ("evals/results/production_bench_s14.json", production_bench.page),
    "entities": ("evals/results/entity_bench_mit_s12.json", entity_bench.page),
    "coldstart": ("evals/results/coldstart_s24.json", coldstart_bench.page),
    "adaptft": ("evals/adaptft/results/results.json", runner.page),
    "triage_clean": ("evals/results/triage_clean.json", triage_clean.page),
    "churn_study": ("evals/results/churn_study.json", churn_study.page),
    "churn_study_ner": ("evals/results/churn_study_ner.json", lambda r: churn_study.page(r, "ner")),
    "churn_study_generation": ("evals/results/churn_study_generation.json", lambda r: churn_study.page(r, "generation")),
    "dialogsum_probe": ("evals/results/dialogsum_probe.json", dialogsum_probe.page),
    "coldstart_generation": ("evals/results/coldstart_generation.json", coldstart_bench.page),
    "production_generation": ("evals/results/production_generation.json", generation_production.page),
    "production_generation_snips": ("evals/results/production_generation_snips.json", generation_production.page),
    "speed": ("evals/results/speed.json", speed_bench.page),
}


def main(argv: list[str] | None = None) -> int:
    for file, render in RECORDED.values():
        print(write(render(json.loads((ROOT / file).read_text())), ROOT / file))
    print(README)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
