"""Reporter: the run's report (report.json, report.md) and what the memory should remember of it."""

from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import memory_path, run_data, settings
from graph.context import Context
from graph.state import State
from tools import kinds
from tools.models.metrics import traffic_estimate
from tools.models.predict import predict
from tools.store.memory import Memory
from tools.store.report import node_seconds, write_report


def report(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    if state.get("mode") == "cold_start":
        return _cold_report(state, ctx)
    rd = run_data(state, ctx)
    records, tri, splits = rd.records, rd.triage, rd.splits
    promotion = state.get("promotion")
    plan = state.get("plan") or {}
    approval = state.get("approval") or {}
    iterations = _decisions(state.get("iterations") or [], plan, promotion, approval)

    usable = [r for r in records if tri[r.id]["category"] in ("trusted", "fixable")]
    fixable = [r for r in records if tri[r.id]["category"] == "fixable"]
    reg = set(splits["regression"])
    regression = [r for r in usable if r.id in reg]
    task = state.get("task", "classification")
    baseline = _metrics(usable, [r.prediction for r in usable], fixable, [r.prediction for r in fixable], regression,
                        [r.prediction for r in regression], task)
    held = _untrained(usable, splits, plan.get("candidate") if promotion else None)
    n_pass = sum(tri[r.id]["category"] == "trusted" for r in usable)
    kind = kinds.get(task)
    estimate = lambda preds: traffic_estimate(kind.judged([r.label for r in held], [preds[r.id] for r in held]),  # noqa: E731
                                              [_key(r.label, kind) for r in held], [r.verdict == "pass" for r in held], n_pass, len(usable) - n_pass)
    baseline["held_out"] = estimate({r.id: r.prediction for r in held})
    final, gate = None, None
    if promotion:
        cand = plan["candidate"]
        preds = dict(zip([r.id for r in usable], predict(promotion["model_dir"], [r.input for r in usable])))
        final = _metrics(usable, [preds[r.id] for r in usable], fixable, [preds[r.id] for r in fixable],
                         regression, [preds[r.id] for r in regression], task)
        final["held_out"] = estimate(preds)
        final["held_out_failures_fixed"] = cand["gate"]["fixed"]  # the gate's figure, on failures no candidate trained on
        gate = cand["gate"]
    elif approval.get("decision") == "reject":
        gate = plan["candidate"]["gate"]
    excluded = [{"id": r.id, "line": r.line, "category": tri[r.id]["category"], "reason": tri[r.id]["reason"]}
                for r in records if tri[r.id]["category"] in ("noise", "poison", "unusable")]
    if promotion:
        outcome = f"promoted {promotion['registry']} {promotion['version']}"
    elif approval.get("decision") == "reject":
        outcome = (f"nothing promoted: {plan['candidate']['strategy']} passed the gate but the reviewer rejected it"
                   + (f" ({approval['note']})" if approval.get("note") else ""))
    else:
        outcome = f"nothing promoted: {plan.get('why', '')}"
    rep = {
        "mode": state.get("mode", "production"), "task": state["task"], "base_model": _base_model(ctx, state["task"]),
        "deployed_model": state["model"], "outcome": outcome,
        "baseline": baseline, "final": final, "promoted": bool(promotion),
        "model_dir": promotion["model_dir"] if promotion else None,
        "registry": {**{k: promotion[k] for k in ("registry", "version", "registry_dir")},
                     "ratchet_at_promotion": promotion.get("ratchet_at_promotion")} if promotion else None,
        "gate": gate or (iterations[-1]["gate"] if iterations else None),
        "iterations": iterations, "clusters": state["diagnosis"]["patterns"], "excluded": excluded,
        "triage": state["diagnosis"]["triage"], "ingest": state.get("ingest"), "memory": state.get("memory") or {},
        "approval": approval or None,
        "splits": state["diagnosis"]["splits"], "seconds_per_node": _seconds(state),
    }
    write_report(ctx.run_dir, rep)
    if ctx.use_memory and iterations:
        _remember(ctx, state, iterations)
    emit("report", outcome)
    return {"report": {k: rep[k] for k in ("outcome", "promoted", "model_dir", "baseline", "final", "gate")}}


def _base_model(ctx: Context, task: str) -> str:
    """The base model by name: the kind's embedded default when the setting is the default ("minilm")."""
    return kinds.get(task).default_base if ctx.base_model == "minilm" else ctx.base_model


def _seconds(state: State) -> list[dict]:
    """Wall seconds per node before the report (a rerun after a crash counts the node again)."""
    return [{"node": k, "runs": n, "seconds": sec} for k, n, sec in node_seconds(state.get("timings") or [])]


def _untrained(usable, splits: dict, cand: dict | None) -> list:
    """The usable lines kept out of training (regression set, held-out failures, tuning split), less any the
    promoted model did train on (a refit adds the tuning split): what the headline figures rest on."""
    held = set(splits.get("regression", [])) | set(splits.get("held_out_failures", [])) | set(splits.get("tuning", []))
    if cand and cand.get("mix_file") and Path(cand["mix_file"]).exists():
        from tools.store.data import read_jsonl

        held -= {row.get("ref") for row in read_jsonl(cand["mix_file"])}
    return [r for r in usable if r.id in held]


def _key(label, kind) -> str:
    """What per-label recall is grouped by: the label, or one group (the kind's unit) for span lists and free text."""
    return label if kind.labels_of(label) == [label] else kind.unit


def _metrics(usable, usable_pred, fixable, fixable_pred, reg, reg_pred, task: str = "classification") -> dict:
    """The report's figures on the logs, as the task kind shows them, and the share of fixable failures fixed."""
    kind = kinds.get(task)
    shown = kind.log_figures([r.input for r in usable], [r.label for r in usable], usable_pred, [r.input for r in reg], [r.label for r in reg], reg_pred)
    right = kind.judged([r.correction for r in fixable], fixable_pred)
    return {**shown, "logged_fixable_fixed": round(sum(right) / len(right), 4) if right else None}


def _decisions(iterations: list[dict], plan: dict, promotion: dict | None, approval: dict) -> list[dict]:
    """Each attempt with the decision taken on it, and why."""
    chosen = (plan.get("candidate") or {}).get("model_dir") if plan.get("action") == "promote" else None
    refit = {e.get("selected") for e in iterations if e["stage"] == "final"}  # the selection each refit came from
    out = []
    for e in iterations:
        e = dict(e)
        if e["model_dir"] == chosen and promotion:
            e["decision"] = "promoted"
        elif e["model_dir"] == chosen and approval.get("decision") == "reject":
            e["decision"] = "passed the gate; rejected by the reviewer" + (f": {approval['note']}" if approval.get("note") else "")
        elif e["gate"]["passed"]:
            e["decision"] = "passed the gate" + ("; refit as final" if e["stage"] == "select" and e["strategy"] in refit else "")
        else:
            e["decision"] = "rejected: " + "; ".join(e["gate"]["reasons"])
        out.append(e)
    return out


def _remember(ctx: Context, state: State, iterations: list[dict]) -> None:
    pats = [p for p in state["diagnosis"]["patterns"] if p["kind"] == "fixable"][:8]
    try:
        mem = Memory(memory_path(ctx))
        for e in iterations:
            if e["stage"] != "select":
                continue
            cfg = {**e["config"], "name": e["strategy"]}
            mem.record(state["task"], pats, cfg, {"score": e["gate"]["fixed"], "flips": e["gate"]["negative_flips"],
                                                  "promoted": e["gate"]["passed"]}, run_id=str(Path(ctx.run_dir).name))
    except Exception as err:  # noqa: BLE001 - a broken memory must not lose the run's report
        emit("report", f"memory not updated: {type(err).__name__}: {err}")


def _cold_report(state: State, ctx: Context) -> dict:
    """Cold start: what was found, the frozen evaluation set, the baseline, every attempt, the final model."""
    from tools.store.report import write_cold_report

    promotion = state.get("promotion")
    plan = state.get("plan") or {}
    frame = state["evalset"]
    base = frame["baseline"]
    final = promotion["final"] if promotion else None
    cand = plan.get("candidate") or {}
    iterations = [{**e, "decision": _cold_decision(e, state["iterations"], cand)} for e in state.get("iterations") or []]
    metric = (final or {}).get("verifier") or kinds.get(state["task"]).metric  # free text: the verifier's name
    base_score = base.get("score", base.get("accuracy"))
    gain = round(final["score"] - base_score, 4) if final else None
    outcome = (f"trained {promotion['strategy']}: {metric} {final['score']:.4f} on the frozen evaluation set, "
               f"{gain * 100:+.1f} points over the untrained baseline ({base_score:.4f}); registered {promotion['registry']} {promotion['version']}"
               if promotion else f"nothing trained: {plan.get('why', '')}")
    base_model = _base_model(ctx, state["task"])
    memory = dict(state.get("memory") or {})
    sel = cand.get("selected") or cand
    if promotion and memory.get("used") and sel.get("iteration"):  # what the memory saved: minutes to the selected attempt, here and where it was learned
        from tools.coldstart.search import minutes_to

        memory["minutes_to_selected"] = minutes_to(state.get("iterations") or [], sel["iteration"])
    rep = {"mode": "cold_start", "task": state["task"], "description": state["description"], "base_model": base_model,
           "spec": state["scout"]["spec"], "sources": state["scout"]["sources"], "pool": state["scout"]["pool"],
           "hub": state["scout"]["hub"], "evaluation_set": {k: v for k, v in frame.items() if k != "baseline"},
           "baseline": base, "final": final, "gain_over_baseline": gain, "promoted": bool(promotion),
           "model_dir": promotion["model_dir"] if promotion else None,
           "registry": {k: promotion[k] for k in ("registry", "version", "registry_dir")} if promotion else None,
           "gate": None, "iterations": iterations, "clusters": [], "excluded": [], "memory": memory,
           "seconds_per_node": _seconds(state),
           "outcome": outcome, "stopped_because": plan.get("why", "")}
    write_cold_report(ctx.run_dir, rep)
    emit("report", outcome)
    return {"report": {k: rep[k] for k in ("outcome", "promoted", "model_dir", "baseline", "final", "gate")}}


def _cold_decision(e: dict, done: list[dict], cand: dict) -> str:
    if e["stage"] == "refit":
        seen = " (trained on the dev split: its dev score is not held out)" if e["config"]["data"].get("with_dev") else ""
        return ("final model" if e["model_dir"] == cand.get("model_dir") else "refit, not kept") + seen
    if e["model_dir"] == cand.get("model_dir"):
        return "chosen (best on the dev split)"
    if e["strategy"] == (cand.get("selected") or {}).get("strategy"):
        return "selected (best on the dev split); refit for the final model"
    earlier = [x["score"] for x in done if x["iteration"] < e["iteration"]]
    if earlier and e["score"] < max(earlier):
        return "worse than the best so far: rolled back"
    return "not the best"
