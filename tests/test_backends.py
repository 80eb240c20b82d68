"""The training seam: a job in, a result out. The local backend trains a real tiny model; a backend put in the
registry gets every job of a real run (what a GPU or cluster backend will plug into)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import backends
from tools.backends.local import Local


def test_the_local_backend_trains_a_job_and_reports_its_start_and_steps(tiny_base, tmp_path):
    from tools.models.classifier import TrainConfig, predict

    texts = ["i lost my card", "my card is gone", "refund my order", "i want my money back"] * 4
    targets = ["lost", "lost", "refund", "refund"] * 4
    job = backends.TrainJob("tiny", "classification", str(tmp_path / "m"), texts, targets, ["lost", "refund"],
                            TrainConfig(epochs=3, learning_rate=3e-3, batch_size=4), base_model=tiny_base)
    seen = []
    [res] = Local().run([job], lambda j, e: seen.append((j.name, e)))
    assert res.name == "tiny" and res.examples == 16 and len(res.curve) == 3 and res.seconds >= 0
    assert (Path(res.model_dir) / "config.json").exists() and len(predict(res.model_dir, texts[:2])) == 2
    assert seen[0] == ("tiny", {"started": True}) and any("loss" in e for _, e in seen[1:])


def test_an_unknown_backend_is_named_in_the_error():
    with pytest.raises(KeyError, match="no training backend 'slurm'.*local"):
        backends.get("slurm")


class Recording(Local):
    """The local backend, keeping every job it is given."""

    jobs: list = []

    def run(self, jobs, progress=None):
        Recording.jobs += jobs
        return super().run(jobs, progress)


def test_every_job_of_a_run_goes_through_the_backend(deployment, tiny_base, tmp_path, monkeypatch):
    from graph.cli import main
    from tests.test_graph import improve_args

    monkeypatch.setitem(backends.base._REGISTRY, "local", Recording)
    Recording.jobs = []
    run = tmp_path / "run"
    code = main(improve_args(deployment, tiny_base, run, "--home", str(tmp_path / "home"), "--max-flips", "1000", "--min-fixed", "0",
                             "--label-tolerance", "1"))
    assert code == 0
    rep = json.loads((run / "report.json").read_text())
    trained = {e["strategy"] for e in rep["iterations"] if (e.get("training") or {}).get("seconds")}
    assert trained and trained == {j.name for j in Recording.jobs}
    warm = [j for j in Recording.jobs if j.start]
    assert warm and all(j.teacher is not None and j.kind == "classification" for j in warm)
