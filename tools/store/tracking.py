"""MLflow tracking and model registry, optional: a finished run's record in the team's tracking server.

A run (its folder's report.json and run.json) becomes one MLflow run in the experiment `pioneer/<registry name>`:
its settings as params; each candidate's training curve (`loss/<candidate>`, by step) and gate figures
(`gate/<candidate>/<figure>`) as metrics; report.md, report.json and the plots as artifacts. A promotion registers
a version of the MLflow registered model of the same name: the model folder logged as the run's `model` artifact,
tags for its lineage, gate figures, run folder and Pioneer version, and the alias `champion` moved onto it.
`pioneer rollback` moves the alias back to the version tagged with the registry version it returns to.
Pioneer's own registry stays the source of truth: MLflow mirrors it, and a run with no tracking URI never
imports mlflow. Logging a run twice (a resumed run) finds the first record by its run key and adds nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ALIAS = "champion"
GATE_FIGURES = ("negative_flips", "stable_flips", "fixed", "max_flips")


def _client(uri: str):
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise RuntimeError("tracking needs MLflow: pip install -c constraints.txt 'pioneer-agent[mlflow]'") from None
    return MlflowClient(tracking_uri=uri)


def flat_params(settings: dict, inputs: dict) -> dict[str, str]:
    """A run's settings and inputs as MLflow params (strings of at most 6000 characters; None left out)."""
    out = {f"input.{k}": v for k, v in inputs.items()} | dict(settings)
    return {k: str(v)[:6000] for k, v in sorted(out.items()) if v is not None and v != ""}


def metric_name(text: str) -> str:
    """`text` in the characters MLflow allows in a metric name (a twin's `warm-bold@0.35` becomes `warm-bold_0.35`)."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", text)


def candidate_metrics(report: dict) -> list[tuple[str, float, int]]:
    """(key, value, step) for each candidate's loss curve and gate figures, named after the candidate."""
    rows = []
    for it in report.get("iterations") or []:
        name = metric_name(f"{it.get('iteration')}-{it.get('strategy')}").replace("/", "_")
        for i, point in enumerate((it.get("training") or {}).get("curve") or []):
            rows.append((f"loss/{name}", float(point["loss"]), int(point.get("step") or i + 1)))
        gate = it.get("gate") or {}
        for k in GATE_FIGURES:
            if isinstance(gate.get(k), (int, float)) and not isinstance(gate.get(k), bool):
                rows.append((f"gate/{name}/{k}", float(gate[k]), 0))
        if "passed" in gate:
            rows.append((f"gate/{name}/passed", float(bool(gate["passed"])), 0))
        if isinstance(it.get("score"), (int, float)):  # a cold-start attempt's development score
            rows.append((f"score/{name}", float(it["score"]), 0))
    return rows


def log_run(uri: str, run_dir: str | Path) -> dict:
    """Record the finished run in `run_dir` on the tracking server at `uri`; returns {"run_id", "experiment",
    "model_version"} (the version None when nothing was promoted)."""
    client = _client(uri)
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    report = json.loads((run_dir / "report.json").read_text())
    promotion = report.get("registry") or {}
    name = promotion.get("registry") or meta["settings"].get("registry_name") or meta["settings"].get("name") or run_dir.name
    experiment = f"pioneer/{name}"
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    found = [r for r in client.search_runs([exp_id], f"tags.pioneer_run_key = '{meta['key']}'")  # the key is hex; a path may hold quotes
             if r.data.tags.get("pioneer_run_dir") == str(run_dir.resolve())]
    if found and found[0].data.tags.get("pioneer_logged") == "1":
        run_id = found[0].info.run_id
        return {"run_id": run_id, "experiment": experiment, "model_version": _version_of(client, name, run_id), "again": True}
    run = found[0] if found else client.create_run(exp_id, run_name=run_dir.name, tags={
        "pioneer_run_key": meta["key"], "pioneer_run_dir": str(run_dir.resolve()), "pioneer_mode": meta.get("mode", ""),
        "pioneer_task": str(report.get("task")), "pioneer_outcome": str(report.get("outcome"))[:5000]})
    run_id = run.info.run_id
    from mlflow.entities import Metric, Param

    params = [Param(k, v) for k, v in flat_params(meta.get("settings") or {}, meta.get("inputs") or {}).items()]
    metrics = [Metric(k, v, 0, step) for k, v, step in candidate_metrics(report)]
    for i in range(0, max(len(params), len(metrics)), 100):  # the server takes at most 100 params and 1000 metrics a batch
        client.log_batch(run_id, metrics=metrics[i:i + 100], params=params[i:i + 100])
    for f in ("report.md", "report.json", *sorted(p.name for p in run_dir.glob("*.png"))):
        if (run_dir / f).exists():
            client.log_artifact(run_id, str(run_dir / f))
    version = None
    if promotion.get("version"):
        version = register(client, name, run_id, Path(promotion["registry_dir"]), promotion["version"], report, run_dir)
    client.set_tag(run_id, "pioneer_logged", "1")  # last: a crash before it logs the run again, not half of it
    client.set_terminated(run_id, "FINISHED")
    return {"run_id": run_id, "experiment": experiment, "model_version": version, "again": False}


def register(client, name: str, run_id: str, model_dir: Path, pioneer_version: str, report: dict, run_dir: Path) -> str:
    """The promoted model folder logged as the run's `model` artifact, registered as a version of `name` with its
    lineage and gate figures as tags, and the `champion` alias moved onto it. Returns the MLflow version."""
    from mlflow.exceptions import MlflowException

    client.log_artifacts(run_id, str(model_dir), "model")
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Promoted by pioneer-agent behind its regression gate.")
    gate = report.get("gate") or {}
    tags = {"pioneer_version": pioneer_version, "pioneer_run_dir": str(run_dir.resolve()),
            "strategy": str((report.get("registry") or {}).get("strategy") or report.get("final", {}).get("strategy")),
            "lineage": json.dumps(report.get("lineage") or {k: report.get(k) for k in ("base_model", "deployed_model")})[:5000]}
    tags |= {f"gate.{k}": str(gate[k]) for k in (*GATE_FIGURES, "passed", "policy") if k in gate}
    mv = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=tags)
    client.set_registered_model_alias(name, ALIAS, mv.version)
    return mv.version


def _version_of(client, name: str, run_id: str) -> str | None:
    try:
        return next((v.version for v in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")), None)
    except Exception:  # no registered model of that name
        return None


def move_champion(uri: str, name: str, pioneer_version: str) -> str | None:
    """After a rollback in Pioneer's registry: the `champion` alias onto the MLflow version tagged with
    `pioneer_version`. Returns that MLflow version; None when MLflow holds none (the model deployed before the
    first promotion, never registered there): the alias is then removed, so it names no rolled-back model."""
    client = _client(uri)
    for v in client.search_model_versions(f"name = '{name}'"):
        if v.tags.get("pioneer_version") == pioneer_version:
            client.set_registered_model_alias(name, ALIAS, v.version)
            return v.version
    if client.search_model_versions(f"name = '{name}'"):
        client.delete_registered_model_alias(name, ALIAS)
    return None


def tracking_uri(setting: Any) -> str | None:
    """The tracking server a run reports to: its setting, else $MLFLOW_TRACKING_URI, else none."""
    import os

    return setting or os.environ.get("MLFLOW_TRACKING_URI") or None
