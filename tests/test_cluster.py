"""Scale and tracking against real servers on loopback: a Ray head started here (2 CPUs) trains a production run's
candidates as Ray tasks and survives a killed worker; an MLflow server with a SQLite store receives a run's params,
metrics, artifacts and promoted model version, and a rollback moves its alias."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from graph.cli import main
from tests.test_graph import improve_args

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
LENIENT = ("--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1")  # a tiny model: let its candidate through
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """`ray start --head` on loopback with 2 CPUs, in a short temp folder (Ray's sockets live there); stopped after."""
    temp, port = tempfile.mkdtemp(prefix="r", dir="/tmp"), _port()
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"], check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=120)


def test_a_production_run_on_ray_trains_candidates_as_ray_tasks_and_promotes_as_local(ray_head, deployment, tiny_base, tmp_path):
    reports = {}
    for backend in ("local", "ray"):
        run = tmp_path / backend
        extra = ("--backend", backend, "--ray-address", ray_head) if backend == "ray" else ("--backend", backend)
        assert main(improve_args(deployment, tiny_base, run, "--home", str(tmp_path / f"home-{backend}"), *LENIENT, *extra)) == 0
        reports[backend] = json.loads((run / "report.json").read_text())
    local, remote = reports["local"], reports["ray"]
    trained = [e for e in remote["iterations"] if (e.get("training") or {}).get("seconds") is not None]
    assert trained and all(e["training"]["worker"]["backend"] == "ray" and e["training"]["worker"]["pid"] != os.getpid() for e in trained)
    assert not any("worker" in (e.get("training") or {}) for e in local["iterations"])
    assert remote["promoted"] and local["promoted"]
    gate = lambda rep: [(e["strategy"], e["gate"]["negative_flips"], e["gate"]["fixed"], e["gate"]["passed"], e.get("selected"))
                        for e in rep["iterations"]]
    assert gate(remote) == gate(local)  # the same seeds give the same candidates, and the same one is promoted
    assert remote["gate"]["flip_examples"] == local["gate"]["flip_examples"]


def test_a_production_run_on_ray_survives_a_worker_killed_while_training(ray_head, deployment, tiny_base, tmp_path):
    run, killed, stop = tmp_path / "run", [], threading.Event()
    args = improve_args(deployment, tiny_base, run, "--home", str(tmp_path / "home"), *LENIENT, "--backend", "ray", "--ray-address", ray_head)
    args[args.index("--epochs") + 1] = "30"  # long enough for a worker to be killed in the middle
    threading.Thread(target=_kill_first_task, args=(killed, stop), daemon=True).start()
    try:
        assert main(args) == 0
    finally:
        stop.set()
    assert killed, "no Ray worker was seen training"
    rep = json.loads((run / "report.json").read_text())
    trained = [e for e in rep["iterations"] if (e.get("training") or {}).get("seconds") is not None]
    assert rep["promoted"] and all(e["training"]["worker"]["pid"] != killed[0] for e in trained)  # the killed job trained again


def _kill_first_task(killed: list, stop: threading.Event) -> None:
    """SIGKILL the first Ray worker seen running `train_job` (Ray titles a worker by its task)."""
    import psutil

    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if any("ray::train_job" in part for part in p.info["cmdline"] or []):
                os.kill(p.info["pid"], signal.SIGKILL)
                killed.append(p.info["pid"])
                return
        time.sleep(0.02)


def test_a_killed_worker_is_retried_and_the_job_still_trains(ray_head, tiny_base, tmp_path):
    from tools import backends
    from tools.models.classifier import TrainConfig, predict

    texts = ["i lost my card", "my card is gone", "refund my order", "i want my money back"] * 4
    job = backends.TrainJob("long", "classification", str(tmp_path / "m"), texts, ["lost", "lost", "refund", "refund"] * 4,
                            ["lost", "refund"], TrainConfig(epochs=300, learning_rate=3e-3, batch_size=4), base_model=tiny_base)
    killed, stop = [], threading.Event()
    watcher = threading.Thread(target=_kill_first_task, args=(killed, stop), daemon=True)
    watcher.start()
    try:
        [res] = backends.get("ray", address=ray_head).run([job])
    finally:
        stop.set()
    assert killed, "no Ray worker was seen training"
    assert res.summary["worker"]["pid"] != killed[0] and res.examples == 16 and len(res.curve) == 300
    assert predict(res.model_dir, ["my card is gone"]) == ["lost"]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on loopback with a SQLite store and artifacts under a temp folder."""
    d, port = tmp_path_factory.mktemp("mlflow"), _port()
    proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}", "--artifacts-destination", str(d / "artifacts")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start: " + (d / "server.log").read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=60)


def test_runs_promotions_and_rollbacks_are_mirrored_in_mlflow(mlflow_server, deployment, tiny_base, tmp_path, capsys):
    from mlflow import MlflowClient

    home = str(tmp_path / "home")
    for out in ("first", "second"):
        assert main(improve_args(deployment, tiny_base, tmp_path / out, "--home", home, "--name", "intents", "--tracking-uri",
                                 mlflow_server, *LENIENT)) == 0
    assert "MLFLOW_TRACKING_URI" not in os.environ  # a run's server stays its own: the next run in this process reports nowhere
    rep = json.loads((tmp_path / "second" / "report.json").read_text())
    assert rep["promoted"] and rep["registry"]["version"] == "v0002"
    assert json.loads((tmp_path / "second" / "run.json").read_text())["tracking"]["model_version"] == "2"
    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("pioneer/intents")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"first", "second"}
    run = runs["second"]
    assert run.data.params["seed"] == "0" and run.data.params["max_flips"] == "1000" and run.data.params["input.logs"].endswith("logs.jsonl")
    losses = [k for k in run.data.metrics if k.startswith("loss/")]
    assert losses and len(client.get_metric_history(run.info.run_id, losses[0])) == 4  # one point per epoch
    assert any(k.endswith("/negative_flips") for k in run.data.metrics)
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.json", "model"} <= arts
    assert "config.json" in {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "model")}
    champion = client.get_model_version_by_alias("intents", "champion")
    assert champion.version == "2" and champion.tags["pioneer_version"] == "v0002" and champion.run_id == run.info.run_id
    assert "gate.negative_flips" in champion.tags
    capsys.readouterr()
    assert main(["rollback", "--name", "intents", "--home", home, "--tracking-uri", mlflow_server]) == 0
    assert "alias champion on version 1" in capsys.readouterr().out
    assert client.get_model_version_by_alias("intents", "champion").tags["pioneer_version"] == "v0001"


def test_a_tracking_server_that_was_down_gets_the_run_when_the_command_is_given_again(mlflow_server, deployment, tiny_base, tmp_path,
                                                                                        monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # else MLflow retries for minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    run, home = tmp_path / "run", str(tmp_path / "home")
    assert main(improve_args(deployment, tiny_base, run, "--home", home, "--name", "later", "--tracking-uri",
                             f"http://127.0.0.1:{_port()}", *LENIENT)) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and "error" in meta["tracking"]
    assert (run / "model" / "config.json").exists()  # promoted all the same: Pioneer's registry is the record
    # the same command, the server up (the tracking URI is where the run reports, not what it is): recorded, not rerun
    assert main(improve_args(deployment, tiny_base, run, "--home", home, "--name", "later", "--tracking-uri", mlflow_server, *LENIENT)) == 0
    tracking = json.loads((run / "run.json").read_text())["tracking"]
    assert "error" not in tracking and tracking["model_version"] == "1"
    assert MlflowClient(mlflow_server).get_run(tracking["run_id"]).info.run_name == "run"


def test_metric_names_keep_to_what_mlflow_accepts():
    from tools.store.tracking import candidate_metrics

    rep = {"iterations": [{"iteration": 1, "strategy": "warm-bold@0.35", "training": {"curve": [{"epoch": 1, "loss": 0.5}]},
                           "gate": {"negative_flips": 2, "passed": True}}]}
    names = [k for k, _, _ in candidate_metrics(rep)]
    assert names == ["loss/1-warm-bold_0.35", "gate/1-warm-bold_0.35/negative_flips", "gate/1-warm-bold_0.35/passed"]
