"""LangGraph Studio's server: `langgraph dev` serves langgraph.json's graph offline; a run goes through
langgraph_sdk with a context (tiny model, scripted chat model), streams progress, pauses for approval and
is resumed with a command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fake_openai import FakeOpenAI
from tests.test_serve import free_port, wait_for

ROOT = Path(__file__).parent.parent


def test_langgraph_dev_runs_the_graph_with_a_context_and_an_approval(deployment, tiny_base, tmp_path):
    from langgraph_sdk import get_sync_client

    def reply(prompt: str) -> str:
        if prompt.startswith("Name this group"):
            return "Cards gone missing"
        return json.dumps(["a paraphrase of the request", "another paraphrase of it"])

    fake = FakeOpenAI(reply)
    port = free_port()
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false",
           "PIONEER_HOME": str(tmp_path / "home")}
    cli = Path(sys.executable).parent / "langgraph"
    proc = subprocess.Popen([str(cli), "dev", "--no-browser", "--no-reload", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        wait_for(lambda: _ok(client), bool, timeout=90)
        (assistant,) = [a for a in client.assistants.search() if a["graph_id"] == "pioneer"]
        schema = client.assistants.get_schemas(assistant["assistant_id"])["context_schema"]
        assert {"base_model", "max_flips", "require_approval", "chat_model"} <= set(schema["properties"])

        thread = client.threads.create()
        context = {"base_model": tiny_base, "run_dir": str(tmp_path / "run"), "learning_rate": 3e-3, "epochs": 4,
                   "max_iterations": 1, "gate": "absolute", "max_flips": 1000, "min_fixed": 0.0, "label_tolerance": 1.0,
                   "require_approval": True, "chat_model": "fake-model", "chat_base_url": fake.url}
        inputs = {"mode": "production", "model": str(deployment / "deployed"), "logs": str(deployment / "logs.jsonl"),
                  "train_data": str(deployment / "parent.jsonl")}
        stages = set()
        for part in client.runs.stream(thread["thread_id"], "pioneer", input=inputs, context=context, stream_mode="custom"):
            if part.event == "custom":
                stages.add(part.data["stage"])
        assert {"ingest", "diagnose", "train", "gate", "approve"} <= stages
        state = client.threads.get_state(thread["thread_id"])
        assert state["next"] == ["approve"]
        request = state["tasks"][0]["interrupts"][0]["value"]
        assert request["gate"]["passed"] and "flip_examples" in request

        final = client.runs.wait(thread["thread_id"], "pioneer", command={"resume": {"decision": "approve", "by": "studio"}},
                                 context=context)
        assert final["report"]["promoted"] is True
        rep = json.loads((tmp_path / "run" / "report.json").read_text())
        assert rep["approval"]["by"] == "studio" and any(c.get("auto_name") for c in rep["clusters"])
        assert fake.prompts  # the chat model was used
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()


def _ok(client) -> bool:
    try:
        client.assistants.search()
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False
