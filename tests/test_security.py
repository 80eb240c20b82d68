"""What an adversarial or careless user tries: names and paths that lead out of their folders, runs killed at
every step, two runs on one registry entry or one run folder, and settings of the wrong type or range, in
every way in (flags, PIONEER_* variables, --config, HTTP, Python)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from graph.cli import main
from tests.test_graph import improve_args
from tests.test_serve import KEY, passes_only, run_body  # noqa: F401 - passes_only is a fixture

ROOT = Path(__file__).parents[1]


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("settings, named", [
    ({"max_flips": "lots"}, "max_flips"), ({"max_flips": -1}, "out of range"), ({"budget_minutes": float("nan")}, "finite"),
    ({"epochs": 0}, "out of range"), ({"learning_rate": 1e9}, "out of range"), ({"min_fixed": 2.0}, "out of range"),
    ({"registry_name": "/tmp/elsewhere"}, "not a valid name"), ({"registry_name": ".."}, "not a valid name"),
    ({"bogus": 1}, "unknown setting"), ({"require_approval": "yes"}, "expected bool"), ({"chat_base_url": "file:///etc"}, "URL"),
])
def test_a_context_refuses_bad_settings_however_it_is_made(settings, named):
    from graph.context import Context, SettingError, check_settings

    with pytest.raises((SettingError, TypeError), match=f"{named}|unexpected keyword argument .bogus"):
        Context(**settings)
    with pytest.raises(SettingError, match=named):
        check_settings(settings)


def test_bad_settings_exit_2_from_flags_environment_and_config(deployment, tiny_base, tmp_path, capsys, monkeypatch):
    import argparse

    from graph.cli.options import resolve

    run = tmp_path / "run"
    for flags, named in ((["--max-flips", "lots"], "max_flips"), (["--max-flips", "-3"], "out of range"),
                         (["--budget-minutes", "nan"], "finite"), (["--name", "/abs/entry"], "not a valid name")):
        with pytest.raises(SystemExit) as e:
            main(improve_args(deployment, tiny_base, run, *flags))
        assert e.value.code == 2 and named in capsys.readouterr().err, flags
    for var, value in (("PIONEER_MAX_FLIPS", "-3"), ("PIONEER_SEED", "x"), ("PIONEER_REQUIRE_APPROVAL", "maybe")):
        monkeypatch.setenv(var, value)
        assert main(improve_args(deployment, tiny_base, run)) == 2
        assert var in capsys.readouterr().err
        monkeypatch.delenv(var)
    f = tmp_path / "settings.json"
    for text, named in (('{"max_flips": "lots"}', "max_flips"), ('{"bogus": 1}', "unknown setting"),
                        ('{"max_flips": Infinity}', "max_flips"), ('{"budget_minutes": NaN}', "finite"), ("[1]", "JSON object")):
        f.write_text(text)
        assert main(improve_args(deployment, tiny_base, run, "--config", str(f))) == 2
        assert named in capsys.readouterr().err, text
    assert not run.exists()  # nothing ran
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"max_flips": 3, "base_model": tiny_base}).encode())  # a BOM; a field's name as key
    got = resolve(argparse.Namespace(config=str(f), cmd="improve"), "production")
    from graph.context import FIELDS

    assert got["max_flips"] == 3 and got["base_model"] == tiny_base and got["epochs"] == FIELDS["epochs"].default == 3  # unset: the default
    f.write_text(json.dumps({"base": tiny_base, "target": 0.5}))  # an option's name as key; a cold-start setting is refused
    assert main(improve_args(deployment, tiny_base, run, "--config", str(f))) == 2 and "'target'" in capsys.readouterr().err
    assert resolve(argparse.Namespace(config=None, cmd="new"), "cold_start")["target"] == FIELDS["target"].default


def test_serve_refuses_impossible_options(capsys):
    for args in (["--workers", "0"], ["--port", "99999"], ["--port", "x"], ["--max-body-bytes", "-1"]):
        with pytest.raises(SystemExit) as e:
            main(["serve", "--no-auth", *args])
        err = capsys.readouterr().err
        assert e.value.code == 2 and ("out of range" in err or "expected an integer" in err), (args, err)


# ---------------------------------------------------------------- server: names and paths


@pytest.fixture
def server(deployment, tiny_base, tmp_path):
    from fastapi.testclient import TestClient

    from graph.server import ServerSettings, create_app

    state = tmp_path / "state"
    app = create_app(ServerSettings(state_dir=state, data_roots=[deployment, Path(tiny_base)], api_key="secret",
                                    home=str(tmp_path / "home"), max_body_bytes=20_000))
    with TestClient(app) as c:
        yield c, state


def test_thread_ids_and_registry_names_never_leave_their_folders(server, deployment, tiny_base, tmp_path, passes_only):
    client, state = server
    body = {"input": {"mode": "production", "model": str(deployment / "deployed"), "logs": str(passes_only)}}
    for thread in ("../../../x", str(tmp_path / "abs"), "a/b", "..", ".hidden"):
        r = client.post("/pioneer/invoke", json=body, headers={**KEY, "X-Thread-Id": thread})
        assert r.status_code == 400 and "X-Thread-Id" in r.json()["detail"], (thread, r.text)
    for name in ("/tmp/evil-registry", "../up", "a/b"):
        r = client.post("/runs", json={**run_body(deployment, tiny_base), "settings": {"registry_name": name}}, headers=KEY)
        assert r.status_code == 400 and "registry_name" in r.json()["detail"], r.text
        r = client.post("/pioneer/invoke", json=body, headers={**KEY, "X-Pioneer-Settings": json.dumps({"registry_name": name})})
        assert r.status_code == 400, r.text
    r = client.post("/runs", content=b'{"model": "m", "logs": "l", "settings": {"budget_minutes": NaN}}', headers=KEY)
    assert r.status_code == 400 and "budget_minutes" in r.json()["detail"], r.text
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists() and not Path("/tmp/evil-registry").exists()
    assert not (state.parent / "x").exists() and not list(tmp_path.glob("**/evil-registry"))


def test_langserve_opens_the_paths_it_checked_and_cold_start_paths_are_checked(server, deployment, tiny_base, tmp_path,
                                                                                passes_only, monkeypatch):
    client, state = server
    # a relative path is taken under the first data root, for the check and for the run alike: the run never
    # reads the file of the same name in the server's working folder
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / passes_only.name).write_text("not json at all\n")
    monkeypatch.chdir(cwd)
    body = {"input": {"mode": "production", "model": "deployed", "logs": passes_only.name}}
    r = client.post("/pioneer/invoke", json=body, headers={**KEY, "X-Thread-Id": "rel"})
    assert r.status_code == 200, r.text
    assert "no fixable failures" in r.json()["output"]["report"]["outcome"]
    # settings in the body's config are not taken: only the checked header sets them
    sneaky = {**body, "config": {"configurable": {"pioneer_settings": {"max_flips": "lots", "run_dir": "/tmp/x"}}}}
    r = client.post("/pioneer/invoke", json=sneaky, headers={**KEY, "X-Thread-Id": "rel2"})
    assert r.status_code == 200, r.text  # the body's bad settings were not applied (they would fail the Context)
    assert (state / "threads" / "rel2" / "report.json").exists()
    assert not Path("/tmp/x/report.json").exists()
    # cold start: data files and the catalog must lie under the roots too
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"input": "hello", "output": "a"}\n')
    cold = {"input": {"mode": "cold_start", "description": "classify greetings", "data": [str(outside)]}}
    r = client.post("/pioneer/invoke", json=cold, headers={**KEY, "X-Thread-Id": "cold"})
    assert r.status_code == 403 and "outside the data roots" in r.json()["detail"], r.text
    r = client.post("/pioneer/batch", json={"inputs": [cold["input"]]}, headers={**KEY, "X-Thread-Id": "cold"})
    assert r.status_code == 403
    cold["input"]["data"] = [str(deployment / "parent.jsonl")]
    r = client.post("/pioneer/invoke", json=cold, headers={**KEY, "X-Thread-Id": "cold", "X-Pioneer-Settings": json.dumps({"catalog": str(tmp_path)})})
    assert r.status_code == 403 and "outside the data roots" in r.json()["detail"], r.text


def test_a_busy_thread_refuses_a_second_request(server, deployment, passes_only):
    from tools.store.locks import file_lock

    client, state = server
    body = {"input": {"mode": "production", "model": str(deployment / "deployed"), "logs": str(passes_only)}}
    with file_lock(state / "threads" / "busy" / ".lock"):  # a request on this thread is running
        r = client.post("/pioneer/invoke", json=body, headers={**KEY, "X-Thread-Id": "busy"})
    assert r.status_code == 409, r.text
    assert client.post("/pioneer/invoke", json=body, headers={**KEY, "X-Thread-Id": "busy"}).status_code == 200


# ---------------------------------------------------------------- CLI: names, folders, files


def test_folder_names_from_any_key_stay_inside_and_apart():
    from tools.store.paths import check_name, folder_name

    keys = ["py-1", "../../x", "/etc/passwd", "a/b", "a_b", "..", "", "über thread", "a b", "a-b"]
    names = [folder_name(k) for k in keys]
    assert names[0] == "py-1" and len(set(names)) == len(keys) and all(check_name(n, "folder") for n in names)


def test_registry_and_rollback_take_names_not_paths(tmp_path, capsys):
    from tools.store.registry import Registry

    home = tmp_path / "home"
    reg = Registry("intent", home / "registry")
    m = tmp_path / "m"
    m.mkdir()
    (m / "config.json").write_text("{}")
    with reg.lock():
        reg.promote(m, {}, [])
        reg.promote(m, {}, [])
    for args in (["registry", "--name", str(tmp_path / "abs")], ["registry", "--name", "../x"],
                 ["rollback", "--name", "intent", "--to", "../.."], ["rollback", "--name", "intent", "--to", "/etc"],
                 ["rollback", "--name", "nosuch"]):
        assert main([*args, "--home", str(home)]) == 2, args
        assert capsys.readouterr().err.startswith("error: ")
    assert reg.current() == "v0002" and not (tmp_path / "abs").exists() and not (home / "x").exists()
    assert not (home / "registry" / "nosuch").exists()  # reading never creates an entry
    assert main(["rollback", "--name", "intent", "--to", "v0001", "--home", str(home)]) == 0 and reg.current() == "v0001"


def test_new_that_refuses_its_task_inside_the_run_leaves_no_folder(tmp_path, capsys):
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps({"input": f"what is {i} plus {i}", "output": "sum" if i % 2 else "product"})
                              for i in range(30)) + "\n")
    run = tmp_path / "run"  # labels, asked for as entities: no source of the task's kind, found by the scout
    assert main(["new", "tag the numbers", "--data", str(data), "--kind", "ner", "--out", str(run), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not run.exists()  # refused inside the run, by the scout


def test_byte_order_marks_are_not_data(tmp_path):
    from tools.store.data import load_examples, load_logs

    logs = tmp_path / "logs.jsonl"
    logs.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "1", "input": "hi", "prediction": "a", "verdict": "pass"}).encode() + b"\n")
    assert load_logs(logs).records[0].id == "1"
    csv = tmp_path / "train.csv"
    csv.write_bytes(b"\xef\xbb\xbfinput,output\nhello there,greet\n")
    assert load_examples(csv)[0].output == "greet"


def test_eval_into_a_closed_pipe_and_predict_into_a_missing_folder(deployment, tmp_path, capsys):
    proc = subprocess.Popen([sys.executable, "-m", "graph.cli", "eval", "--model", str(deployment / "deployed"),
                             "--data", str(deployment / "test.jsonl")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.read(1)
    proc.stdout.close()  # `| head -c 1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err, err
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"input": "hello"}\n')
    out = tmp_path / "missing" / "x.jsonl"
    assert main(["predict", "--model", str(deployment / "deployed"), "--input", str(inputs), "--output", str(out)]) == 2
    assert "no folder" in capsys.readouterr().err and not out.parent.exists()


def test_a_second_run_on_a_live_run_folder_is_refused(deployment, tiny_base, tmp_path, capsys):
    from tools.store.locks import file_lock

    run = tmp_path / "run"
    with file_lock(run / ".lock"):  # the first run holds its folder
        assert main(improve_args(deployment, tiny_base, run)) == 2
    assert "in use by pid" in capsys.readouterr().err and not (run / "run.json").exists()


# ---------------------------------------------------------------- registry: concurrent promotions


def test_promotions_into_one_name_take_turns_and_leave_no_orphan(tmp_path):
    from tools.store.registry import Registry

    big = tmp_path / "model"
    big.mkdir()
    (big / "config.json").write_text("{}")
    (big / "weights.bin").write_bytes(os.urandom(8 << 20))  # a copy slow enough to overlap
    got, errors = [], []

    def promote(i: int) -> None:
        try:
            reg = Registry("shared", tmp_path / "registry")
            with reg.lock():
                got.append(reg.promote(big, {"strategy": f"run{i}"}, []))
        except Exception as e:  # noqa: BLE001 - collected for the assert
            errors.append(e)

    threads = [threading.Thread(target=promote, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reg = Registry("shared", tmp_path / "registry")
    assert not errors and sorted(got) == ["v0001", "v0002", "v0003"] == reg.versions()
    assert not list((reg.root / "versions").glob("*.tmp")) and reg.current() in got
    assert [reg.meta(v)["parent_version"] for v in reg.versions()] == [None, "v0001", "v0002"]


def test_a_candidate_gated_before_another_promotion_faces_the_ratchet_of_the_new_version(deployment, tiny_base, tmp_path, capsys):
    """Run A is gated while the entry is empty, then waits for approval; run B promotes meanwhile a version
    whose evaluation set A's candidate gets all wrong. A's approval does not promote: the ratchet applies."""
    from tools.store.registry import Registry

    run = tmp_path / "run"
    home = tmp_path / "home"
    args = improve_args(deployment, tiny_base, run, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1",
                        "--require-approval", "--name", "intent", "--home", str(home))
    assert main(args) == 3
    reg = Registry("intent", home / "registry")
    other = tmp_path / "other"
    shutil.copytree(deployment / "deployed", other)
    with reg.lock():
        reg.promote(other, {"strategy": "run B"}, [{"input": f"zz {i}", "label": "never-predicted", "prediction": "never-predicted"}
                                                   for i in range(1001)])
    assert main(["approve", str(run), "--quiet"]) == 0
    rep = json.loads((run / "report.json").read_text())
    assert not rep["promoted"] and "fails its ratchet" in rep["outcome"] and "v0001" in rep["outcome"]
    assert reg.versions() == ["v0001"] and reg.current() == "v0001"
    # the same, where the candidate passes the new version's ratchet: promoted, and the report says it was checked
    run2 = tmp_path / "run2"
    assert main([*improve_args(deployment, tiny_base, run2, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1"),
                 "--require-approval", "--name", "intent2", "--home", str(home)]) == 3
    reg2 = Registry("intent2", home / "registry")
    with reg2.lock():
        reg2.promote(other, {"strategy": "run B"}, [{"input": f"zz {i}", "label": "never-predicted", "prediction": "never-predicted"}
                                                    for i in range(5)])
    assert main(["approve", str(run2), "--quiet"]) == 0
    rep = json.loads((run2 / "report.json").read_text())
    assert rep["promoted"] and reg2.versions() == ["v0001", "v0002"]
    assert rep["registry"]["ratchet_at_promotion"].items() >= {"version": "v0001", "n": 5, "negative_flips": 5}.items()
    assert "Ratchet at promotion" in (run2 / "report.md").read_text()


# ---------------------------------------------------------------- a run killed at every step


def _kill_at_every_step(args: list[str], killed: Path, env: dict) -> subprocess.CompletedProcess:
    """Rerun `pioneer args` under the kill switch (each rerun a forked child that SIGKILLs itself after the next
    boundary) until a run is not killed; returns the kill switch's process, whose exit status is that run's."""
    return subprocess.run([sys.executable, "-m", "tests.killswitch", str(killed), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=1200)


def test_a_run_killed_after_every_step_finishes_with_one_report_and_one_version(deployment, tiny_base, tmp_path):
    """SIGKILL right after each node's work (before its checkpoint) and right after the registry write, one
    boundary per process; each rerun of the same command goes on, and the last one finishes."""
    from tools.store.registry import Registry

    run, killed = tmp_path / "run", tmp_path / "killed.json"
    args = improve_args(deployment, tiny_base, run, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1")
    env = {**os.environ, "PIONEER_HOME": str(tmp_path / "home")}
    done = _kill_at_every_step(args, killed, env)
    assert done.returncode == 0, done.stderr
    boundaries = {k.split(":")[0] for k in json.loads(killed.read_text())}
    assert {"ingest", "diagnose", "plan", "synthesize", "train", "gate", "approve", "promote", "registry.promote", "report"} <= boundaries
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] and (run / "model" / "config.json").exists()
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    reg = Registry(rep["registry"]["registry"], tmp_path / "home" / "registry")
    assert reg.versions() == ["v0000", "v0001"] and reg.current() == "v0001"
    again = subprocess.run([sys.executable, "-m", "graph.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert again.returncode == 0 and "already finished" in again.stderr and reg.versions() == ["v0000", "v0001"]


def test_a_cold_start_killed_after_every_step_finishes_with_one_version(tiny_base, tmp_path):
    from tests.test_cold_start import _intent_dir
    from tools.store.registry import Registry

    run, killed, home = tmp_path / "run", tmp_path / "killed.json", tmp_path / "home"
    args = ["new", "Classify banking customer messages by intent", "--data", str(_intent_dir(tmp_path, "bank", 0)), "--out", str(run),
            "--base", tiny_base, "--home", str(home), "--max-iterations", "1", "--quiet"]
    done = _kill_at_every_step(args, killed, dict(os.environ))
    assert done.returncode == 0, done.stderr
    boundaries = {k.split(":")[0] for k in json.loads(killed.read_text())}
    assert {"scout", "frame", "search", "cold_mix", "train", "score", "finish", "registry.promote", "report"} <= boundaries
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] and Registry(rep["registry"]["registry"], home / "registry").versions() == ["v0001"]


def test_answers_in_sentences_are_taken_for_generation_not_for_labels():
    """Data whose answers are sentences, or JSON objects, is generation's (not read as a classification task with one
    label a sentence)."""
    from tools.store.data import task_of_outputs

    summaries = [f"The customer called about card number {i} and the agent blocked it at once." for i in range(30)]
    assert task_of_outputs(summaries) == "generation" and task_of_outputs(["card_lost", "balance not updated after bank transfer"]) == "classification"
    assert task_of_outputs(["Paris", "London is the capital of the United Kingdom of course"]) == "generation"  # mixed: free text
    assert task_of_outputs(['{"name": "Ana"}', '{"name": "Bo", "city": "Oslo"}']) == "generation"  # JSON: structured text
