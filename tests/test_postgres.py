"""Durable runs on Postgres: a real server (pgserver ships its binaries) holds the checkpoints; a run that
waits for approval is answered by a second process, which continues from Postgres alone."""

from __future__ import annotations

import json

import pytest

from tests.test_graph import improve_args


@pytest.fixture
def postgres_url(tmp_path):
    import pgserver

    srv = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        yield srv.get_uri()
    finally:
        srv.cleanup()


def test_runs_checkpoint_to_postgres_and_resume_from_it(deployment, tiny_base, tmp_path, postgres_url, monkeypatch):
    import psycopg

    from graph.cli import main

    run = tmp_path / "run"
    args = improve_args(deployment, tiny_base, run, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1",
                        "--require-approval", "--database-url", postgres_url)
    assert main(args) == 3
    meta = json.loads((run / "run.json").read_text())
    assert meta["database"] == "postgres" and postgres_url not in json.dumps(meta)  # no credentials in the run folder
    assert not (run / "checkpoints.sqlite").exists()
    with psycopg.connect(postgres_url) as conn:
        n = conn.execute("select count(*) from checkpoints where thread_id = %s", (meta["thread"],)).fetchone()[0]
    assert n > 5

    assert main(["approve", str(run), "--quiet"]) == 2  # the run is on Postgres: the URL is needed
    monkeypatch.setenv("PIONEER_DATABASE_URL", postgres_url)
    assert main(["approve", str(run), "--quiet"]) == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] is True and rep["approval"]["decision"] == "approve"
