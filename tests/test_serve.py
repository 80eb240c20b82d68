"""The HTTP endpoint: LangServe routes and background runs through FastAPI's TestClient and through a real
uvicorn on loopback; API key, body limit and data roots enforced; approval by HTTP; a server killed
mid-run finishes the run after a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

KEY = {"X-API-Key": "secret"}


def tiny_settings(tiny_base, **extra) -> dict:
    return {"base_model": tiny_base, "learning_rate": 3e-3, "epochs": 4, "max_iterations": 1, "gate": "absolute", "max_flips": 1000,
            "min_fixed": 0.0, "label_tolerance": 1.0, **extra}


def run_body(deployment, tiny_base, **extra) -> dict:
    return {"model": str(deployment / "deployed"), "logs": str(deployment / "logs.jsonl"),
            "train_data": str(deployment / "parent.jsonl"), "settings": tiny_settings(tiny_base, **extra)}


def wait_for(get, until, timeout=240.0):
    end = time.time() + timeout
    while time.time() < end:
        got = get()
        if until(got):
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out; last: {got}")


@pytest.fixture
def passes_only(deployment, tmp_path):
    """Logs with no failure at all: the graph stops at once (nothing to fix), so a run takes seconds."""
    p = deployment / "passes.jsonl"
    if not p.exists():
        lines = [l for l in (deployment / "logs.jsonl").read_text().splitlines() if json.loads(l)["verdict"] == "pass"]
        p.write_text("\n".join(lines[:60]) + "\n")
    return p


@pytest.fixture
def client(deployment, tiny_base, tmp_path):
    from fastapi.testclient import TestClient

    from graph.server import ServerSettings, create_app

    app = create_app(ServerSettings(state_dir=tmp_path / "state", data_roots=[deployment, Path(tiny_base)], api_key="secret",
                                    home=str(tmp_path / "home"), max_body_bytes=20_000))
    with TestClient(app) as c:
        yield c


def test_requests_need_the_key_and_stay_inside_the_data_roots(client, deployment, tiny_base, tmp_path):
    assert client.get("/healthz").json() == {"ok": True}
    assert client.get("/runs").status_code == 401
    assert client.get("/runs", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/pioneer/invoke", json={"input": {}}).status_code == 401
    assert client.get("/runs", headers=KEY).json() == []

    outside = tmp_path / "outside.jsonl"
    outside.write_text((deployment / "logs.jsonl").read_text())
    escape = deployment / "escape.jsonl"  # a symlink inside the root that points out of it
    escape.unlink(missing_ok=True)
    escape.symlink_to(outside)
    for logs in (str(outside), str(escape), str(deployment / ".." / outside.parent.name / "outside.jsonl")):
        r = client.post("/runs", json={**run_body(deployment, tiny_base), "logs": logs}, headers=KEY)
        assert r.status_code == 403 and "outside the data roots" in r.json()["detail"], r.text
        r = client.post("/pioneer/invoke", json={"input": {"model": str(deployment / "deployed"), "logs": logs}}, headers=KEY)
        assert r.status_code == 403, r.text
    r = client.post("/runs", json={**run_body(deployment, tiny_base), "settings": {"base_model": str(tmp_path)}}, headers=KEY)
    assert r.status_code == 403
    r = client.post("/runs", json={**run_body(deployment, tiny_base), "settings": {"max_flips": "two"}}, headers=KEY)
    assert r.status_code == 400 and "max_flips" in r.json()["detail"]
    for owned in ({"run_dir": "/tmp"}, {"tracking_uri": "file:///tmp/elsewhere"}, {"ray_address": "10.1.2.3:6379"}):
        r = client.post("/runs", json={**run_body(deployment, tiny_base), "settings": owned}, headers=KEY)
        assert r.status_code == 400 and "not accepted here" in r.json()["detail"], owned
    r = client.post("/runs", json={**run_body(deployment, tiny_base), "logs": str(deployment / "parent.jsonl")}, headers=KEY)
    assert r.status_code == 400 and "parent.jsonl" in r.json()["detail"]  # not logs: names the file and what is wrong
    assert client.post("/runs", content=b"{" + b" " * 30_000 + b"}", headers={**KEY, "content-type": "application/json"}).status_code == 413
    assert client.get("/runs/nosuchrun", headers=KEY).status_code == 404
    assert client.post("/runs", content=b"[1, 2]", headers=KEY).status_code == 400
    assert client.post("/runs", content=b"{oops", headers=KEY).json()["detail"].startswith("the body is not JSON")


def test_background_runs_go_side_by_side_and_wait_for_approval(client, deployment, tiny_base):
    a = client.post("/runs", json=run_body(deployment, tiny_base, require_approval=True), headers=KEY)
    b = client.post("/runs", json=run_body(deployment, tiny_base), headers=KEY)
    assert a.status_code == b.status_code == 202
    a, b = a.json()["id"], b.json()["id"]
    state = lambda i: client.get(f"/runs/{i}", headers=KEY).json()  # noqa: E731
    assert wait_for(lambda: state(b), lambda s: s["status"] != "running")["status"] == "finished"
    assert wait_for(lambda: state(a), lambda s: s["status"] != "running")["status"] == "awaiting_approval"
    assert client.get(f"/runs/{a}/report", headers=KEY).status_code == 404  # not yet

    pending = client.get("/approvals", headers=KEY).json()
    assert [p["id"] for p in pending] == [a]
    req = pending[0]["request"]
    assert req["gate"]["passed"] and "negative_flips" in req["gate"] and isinstance(req["flip_examples"], list)
    assert client.post(f"/approvals/{a}", json={"decision": "maybe"}, headers=KEY).status_code == 400
    assert client.post(f"/approvals/{b}", json={"decision": "approve"}, headers=KEY).status_code == 409
    assert client.post(f"/approvals/{a}", json={"decision": "approve", "by": "ana"}, headers=KEY).status_code == 202
    assert wait_for(lambda: state(a), lambda s: s["status"] != "running")["status"] == "finished"
    rep = client.get(f"/runs/{a}/report", headers=KEY).json()
    assert rep["promoted"] is True and rep["approval"]["by"] == "ana"
    events = client.get(f"/runs/{a}/events", headers=KEY).json()
    assert any(e["stage"] == "train" and "loss" in e for e in events) and any(e["stage"] == "gate" for e in events)
    assert client.get(f"/runs/{b}/report", headers=KEY).json()["promoted"] is True
    assert {r["id"] for r in client.get("/runs", headers=KEY).json()} == {a, b}


def test_a_cold_start_runs_in_the_background_like_a_production_run(client, deployment, tiny_base):
    """POST /runs takes either mode through the run service's checks: a cold start from a description and data
    under the data roots finishes with its report; bad cold-start input is refused before a run exists."""
    rows = [json.loads(l) for l in (deployment / "parent.jsonl").read_text().splitlines()]
    data = deployment / "cold" / "train.jsonl"
    data.parent.mkdir(exist_ok=True)
    data.write_text("".join(json.dumps({"text": r["input"], "intent": r["output"]}) + "\n" for r in rows))
    body = {"mode": "cold_start", "description": "Classify banking customer messages by intent", "data": [str(data)],
            "settings": {"base_model": tiny_base, "max_iterations": 1, "target": 0.5}}
    for bad, status, said in (({"mode": "sideways"}, 400, "mode"), ({"description": " "}, 400, "description"),
                              ({"data": [str(deployment / "missing.jsonl")]}, 400, "missing.jsonl"),
                              ({"data": ["/etc/passwd"]}, 403, "outside the data roots"), ({"model": "x"}, 400, "unknown fields"),
                              ({"settings": {"max_flips": 1}}, 400, "max_flips")):  # the gate is production's, as on the CLI
        r = client.post("/runs", json={**body, **bad}, headers=KEY)
        assert r.status_code == status and said in r.json()["detail"], (bad, r.text)
    run = client.post("/runs", json=body, headers=KEY)
    assert run.status_code == 202 and run.json()["mode"] == "cold_start"
    state = lambda i: client.get(f"/runs/{i}", headers=KEY).json()  # noqa: E731
    assert wait_for(lambda: state(run.json()["id"]), lambda s: s["status"] != "running")["status"] == "finished"
    rep = client.get(f"/runs/{run.json()['id']}/report", headers=KEY).json()
    assert rep["mode"] == "cold_start" and rep["spec"]["kind"] == "classification" and rep["evaluation_set"]["n"] > 0


def test_langserve_routes_run_the_graph_on_the_thread_from_the_header(client, deployment, tiny_base, passes_only):
    headers = {**KEY, "X-Thread-Id": "t1", "X-Pioneer-Settings": json.dumps(tiny_settings(tiny_base))}
    body = {"input": {"mode": "production", "model": str(deployment / "deployed"), "logs": str(deployment / "logs.jsonl"),
                      "train_data": str(deployment / "parent.jsonl")}}
    r = client.post("/pioneer/invoke", json=body, headers=headers)
    assert r.status_code == 200, r.text
    out = r.json()["output"]
    assert out["report"]["promoted"] is True and "t1" in out["report"]["model_dir"]

    body["input"]["logs"] = str(passes_only)
    with client.stream("POST", "/pioneer/stream", json=body, headers={**headers, "X-Thread-Id": "t2"}) as r:
        text = "".join(r.iter_text())
    assert r.status_code == 200 and "event: data" in text and "no fixable failures" in text and "event: end" in text
    assert client.get("/pioneer/playground/index.html", headers=KEY).status_code == 200
    assert "Inputs" in json.dumps(client.get("/pioneer/input_schema", headers=KEY).json())
    bad = {**headers, "X-Pioneer-Settings": json.dumps({"epochs": "many"})}
    assert client.post("/pioneer/invoke", json=body, headers=bad).status_code == 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port, state, roots, home, env_extra=None, args=()):
    env = {**os.environ, "PIONEER_API_KEY": "secret", "PIONEER_HOME": str(home), **(env_extra or {})}
    cmd = [sys.executable, "-m", "graph.cli", "serve", "--port", str(port), "--state-dir", str(state), *args]
    for r in roots:
        cmd += ["--data-root", str(r)]
    proc = subprocess.Popen(cmd, env=env, cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _alive(url), bool, timeout=60)
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.stdout.read().decode()) from None
    return proc, url


def _alive(url) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_killed_server_finishes_the_run_after_restart(deployment, tiny_base, tmp_path, passes_only):
    port, state, roots = free_port(), tmp_path / "state", [deployment, Path(tiny_base)]
    proc, url = start_server(port, state, roots, tmp_path / "home")
    try:
        # LangServe through a real uvicorn on loopback
        r = httpx.post(url + "/pioneer/invoke", headers={**KEY, "X-Thread-Id": "quick"}, timeout=120,
                       json={"input": {"mode": "production", "model": str(deployment / "deployed"), "logs": str(passes_only)}})
        assert r.status_code == 200 and "no fixable failures" in r.json()["output"]["report"]["outcome"]
        assert httpx.get(url + "/runs", timeout=5).status_code == 401

        body = run_body(deployment, tiny_base)
        body["settings"]["epochs"] = 40  # long enough to be killed in the middle of training
        run_id = httpx.post(url + "/runs", json=body, headers=KEY, timeout=30).json()["id"]
        events = lambda: httpx.get(f"{url}/runs/{run_id}/events", headers=KEY, timeout=10).json()  # noqa: E731
        wait_for(events, lambda ev: any(e["stage"] == "train" and "step" in e for e in ev), timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    events_file = state / "runs" / run_id / "events.jsonl"
    n_before = len(events_file.read_text().splitlines())
    assert json.loads((state / "runs" / run_id / "run.json").read_text())["status"] == "running"

    proc, url = start_server(port, state, roots, tmp_path / "home")
    try:
        got = wait_for(lambda: httpx.get(f"{url}/runs/{run_id}", headers=KEY, timeout=10).json(),
                       lambda s: s["status"] != "running", timeout=300)
        assert got["status"] == "finished", got
        rep = httpx.get(f"{url}/runs/{run_id}/report", headers=KEY, timeout=10).json()
        assert rep["promoted"] is True
        after = [json.loads(l) for l in events_file.read_text().splitlines()[n_before:]]
        assert after and not any(e["stage"] in ("ingest", "diagnose") for e in after)  # finished steps not redone
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_serve_refuses_to_run_open_on_a_public_address(tmp_path, capsys, monkeypatch):
    from graph.cli import main

    monkeypatch.delenv("PIONEER_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--no-auth", "--state-dir", str(tmp_path)]) == 2
    assert "loopback" in capsys.readouterr().err
    assert main(["serve", "--state-dir", str(tmp_path)]) == 2
    assert "PIONEER_API_KEY" in capsys.readouterr().err
