"""Verifier. Diagnosis: score the deployed model on the logs, triage every line, split the evaluation
sets, find the failure patterns. Gate: score each candidate and apply the regression gate.
Cold start: build and freeze the evaluation set before any training, score the base model on it, and
score each candidate on the development split."""

from __future__ import annotations

import time

from pathlib import Path

from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import RunData, load_run_data, registry_for, run_data, settings
from graph.context import Context
from graph.state import State
from tools import kinds
from tools.chat import get_chat_model
from tools.gate import GateConfig, evaluate_gate
from tools.models.predict import predict as predict_any
from tools.production import diagnosis as dx
from tools.store.artifacts import DEV, FRAME, PATTERNS, POOL_TEST, POOL_TRAIN, SPLITS, TRAIN, TRIAGE
from tools.store.workspace import Workspace


def diagnose(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    records, parent = load_run_data(state)
    d = kinds.get(state.get("task")).diagnose(records, parent, state["labels"], state["model"], ws, base_model=ctx.base_model,
                                              regression_size=ctx.regression_size, holdout_failures=ctx.holdout_failures, seed=ctx.seed,
                                              say=lambda m: emit("diagnose", m))
    chat = get_chat_model(ctx.chat_model, ctx.chat_base_url)
    if chat is not None:
        _name_patterns(chat, d.patterns)
    ws.write(TRIAGE, d.triage)
    ws.write(SPLITS, d.splits)
    ws.write(PATTERNS, d.patterns)
    counts = dx.summary_counts(d.triage)
    emit("diagnose", "triage: " + ", ".join(f"{k} {v}" for k, v in sorted(counts["categories"].items())) + d.said
         + f"; {len(d.patterns)} failure patterns")
    return {"diagnosis": {
        "deployed_pass_rate": round(sum(r.verdict == "pass" for r in records) / len(records), 4),
        **d.figures,
        "triage": counts,
        "patterns": [{k: v for k, v in p.items() if k != "ids"} for p in d.patterns],
        "splits": {k: len(v) for k, v in d.splits.items()},
    }}


def _name_patterns(chat, pats: list[dict]) -> None:
    """Let the chat model give each pattern a short human name (the deterministic name stays as `auto_name`)."""
    for p in pats[:8]:
        try:
            reply = chat.invoke("Name this group of misclassified requests in at most six words. Answer with the name only.\n"
                                + "\n".join(f"- {e}" for e in p["examples"]) + f"\nMost common confusion: {p['confusions'][:1]}")
            name = str(getattr(reply, "content", reply)).strip().splitlines()[0][:80]
            if name:
                p["auto_name"], p["name"] = p["name"], name
        except Exception as e:  # noqa: BLE001 - the deterministic name stands
            emit("diagnose", f"chat model unavailable for naming patterns ({type(e).__name__}); keeping automatic names")
            return


def eval_sets(state: State, ctx: Context, include_holdout_in_training: bool, rd: RunData | None = None) -> dict:
    """The gate's evaluation sets: regression set, held-out failures (or all fixable failures for a
    final model trained on them), and the previous version's evaluation set (the ratchet)."""
    rd = rd or run_data(state, ctx)
    by_id = rd.by_id
    reg = [by_id[i] for i in rd.splits["regression"]]
    if include_holdout_in_training:
        fails = [r for r in rd.records if rd.category(r.id) == "fixable"]
    else:
        fails = [by_id[i] for i in rd.splits["held_out_failures"]]
    registry = registry_for(state, ctx)
    ratchet = ratchet_set(registry, registry.current())
    slice_name = "fixable_failures_trained_on" if include_holdout_in_training else "held_out_failures"
    return {"reg": reg, "fails": fails, "ratchet": ratchet, "failures_slice": slice_name, "reg_churn": _churn(state, rd, reg)}


def _churn(state: State, rd: RunData, rows) -> list[float] | None:
    """Each regression row's churn: the chance a retrain flips the deployed model's answer, from its top-2
    margin (a tagger's: its least certain word's; a generator's: its logged answer's least certain token's), computed
    once a run."""
    return kinds.get(state.get("task")).churn(rd.ws, state["model"], [r.input for r in rows], [r.prediction for r in rows])


def answers_with_churn(model_dir: str, texts: list[str], task: str) -> tuple[list, list[float] | None]:
    """A model's answers and their churn (from its top-2 margins; a tagger's from its least certain word's),
    from one pass over `texts`."""
    return kinds.get(task).answers_with_churn(model_dir, texts)


def ratchet_set(registry, version: str | None) -> dict | None:
    """A registered version's evaluation set, with that version's own answers (`before`), the churn of each
    (when it was recorded) and whether that version was trained on it."""
    if not version:
        return None
    rows = registry.eval_set(version)
    out = {"version": version, "texts": [r["input"] for r in rows], "truth": [r["label"] for r in rows],
           "before": [r["prediction"] for r in rows], "trained": [bool(r.get("trained")) for r in rows]}
    if rows and all("churn" in r for r in rows):
        out["churn"] = [r["churn"] for r in rows]
    return out


def recheck_ratchet(model_dir: str, registry, gated_against: str | None, ctx: Context, task: str | None = None) -> tuple[dict | None, str | None]:
    """At promotion, under the registry's lock: when another run promoted since this candidate was gated,
    the ratchet on the version that is current now, as (slice, reason it fails or None); (None, None) when
    the gate already saw the current version."""
    from tools.gate import ratchet_rule

    cur = registry.current()
    rat = ratchet_set(registry, cur) if cur != gated_against else None
    if not rat or not rat["truth"]:
        return None, None
    sl, reasons = ratchet_rule({**rat, "after": predict_any(model_dir, rat["texts"])}, gate_config(ctx), task)
    return sl, "; ".join(reasons.values()) or None


def score_candidate(model_dir: str, sets: dict, ctx: Context, task: str = "classification") -> dict:
    reg, fails, ratchet = sets["reg"], sets["fails"], sets["ratchet"]
    texts = [r.input for r in reg] + [r.input for r in fails] + (ratchet["texts"] if ratchet else [])
    preds = predict_any(model_dir, texts)
    reg_after, fail_after = preds[: len(reg)], preds[len(reg) : len(reg) + len(fails)]
    rat = {**ratchet, "after": preds[len(reg) + len(fails):]} if ratchet else None
    return evaluate_gate([r.prediction for r in reg], [r.prediction for r in reg], reg_after,
                         [r.correction for r in fails], [r.prediction for r in fails], fail_after, gate_config(ctx), rat,
                         texts=[r.input for r in reg], failures_slice=sets["failures_slice"], task=task, reg_churn=sets.get("reg_churn"))


def gate_config(ctx: Context) -> GateConfig:
    return GateConfig(max_flips=ctx.max_flips, min_fixed=ctx.min_fixed, label_tolerance=ctx.label_tolerance, mode=ctx.gate,
                      alpha=ctx.gate_alpha)


def gate(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    plan = state["plan"]
    final = plan["stage"] == "final"
    rd = run_data(state, ctx)
    sets = eval_sets(state, ctx, include_holdout_in_training=False, rd=rd)  # the refit too never trains on held-out failures
    entries = []
    kind = kinds.get(state.get("task"))
    for cand in plan["configs"]:
        if cand["config"].get("tune_threshold"):  # the kind calibrates its answers on the tuning split (a tagger's threshold)
            if final:  # the refit trained on the tuning split: its selection's calibration
                chosen = next(e for e in state["iterations"] if e["strategy"] == cand.get("selected")).get("threshold") or {}
                kind.apply_calibration(cand["model_dir"], chosen)
                cand["threshold"] = {**chosen, "from": cand.get("selected")}
            else:
                tuning = [rd.by_id[i] for i in rd.splits.get("tuning", [])]
                info = kind.calibrate(cand["model_dir"], [r.input for r in tuning], [r.label for r in tuning])
                if info:
                    emit("gate", f"{cand['name']}: {info.pop('said')}")
                    cand["threshold"] = info
        g = score_candidate(cand["model_dir"], sets, ctx, state.get("task", "classification"))
        verdict = "passed" if g["passed"] else "failed: " + "; ".join(g["reasons"])
        emit("gate", f"{cand['name']}: {g['negative_flips']} flips, fixed {g['fixed']}, {verdict}",
             candidate=cand["name"], flips=g["negative_flips"], fixed=g["fixed"], passed=g["passed"])
        entries.append({"iteration": plan["iteration"], "stage": plan["stage"], "strategy": cand["name"], "threshold": cand.get("threshold"),
                        "config": cand["config"], "data_mix": cand.get("mix_composition"), "mix_file": cand.get("mix_file"), "training": cand.get("training"),
                        "model_dir": cand["model_dir"], "gate": g, "why": plan.get("why", ""), "selected": cand.get("selected")})
    return {"iterations": entries}


# ---------------------------------------------------------------- cold start


def frame(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: the frozen evaluation set, the development and training splits, and the baseline."""
    from tools.coldstart import evalset as es
    from dataclasses import asdict

    from tools.coldstart.survey import calibrate

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    if ws.has(FRAME):  # resumed: check the frozen set was not touched
        es.load_frozen(ctx.run_dir)
        return ws.read(FRAME)
    spec = state["scout"]["spec"]
    rows = lambda name: [(r["input"], r["output"], r["source"]) for r in ws.read(name)]  # noqa: E731
    kind = kinds.get(spec["kind"])
    emit("evalset", "building the evaluation set before any training")
    sp = kind.evaluation_set(rows(POOL_TRAIN), rows(POOL_TEST), spec, ctx.seed)
    digest = es.freeze(ctx.run_dir, sp)
    ws.write(DEV, [{"input": t, "output": y} for t, y, _ in sp.dev])
    ws.write(TRAIN, [{"input": t, "output": y} for t, y, _ in sp.train])
    covered = f"{sp.makeup['labels_covered']} of {sp.makeup['labels']} labels, " if sp.makeup["labels"] else ""
    emit("evalset", f"frozen: {sp.makeup['n']} examples ({sp.makeup['origin']}), {covered}"
         f"{sp.makeup['boundary']} boundary cases, {sp.makeup['negatives']} negatives; sha256 {digest[:12]}")
    texts, truth = [r["input"] for r in sp.eval], [r["output"] for r in sp.eval]
    t0 = time.perf_counter()
    answers, method = kind.baseline(texts, sp.train, spec["labels"], ctx.base_model)
    base = {**kind.metrics(texts, truth, answers), "seconds": round(time.perf_counter() - t0, 1)}
    emit("baseline", f"{method}: {kind.metric} {kind.score(base)}")
    t0 = time.perf_counter()
    survey = calibrate(None if ctx.target is not None else kind.probe(sp.train, sp.dev, ctx.base_model, ctx.seed), ctx.target)
    emit("survey", f"target {survey.target}: {survey.why}")
    out = {"evalset": {**sp.makeup, "sha256": digest, "file": str(Path(ctx.run_dir) / "eval_set.jsonl"),
                       "baseline": {"method": method, "score": kind.score(base), **base},
                       "survey": {**asdict(survey), "seconds": round(time.perf_counter() - t0, 1)}}}
    ws.write(FRAME, out)
    return out


def score(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: each candidate's development score (the search selects on it, never on the evaluation set)."""
    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    dev = ws.read(DEV)
    texts, truth = [r["input"] for r in dev], [r["output"] for r in dev]
    kind = kinds.get(state.get("task"))
    plan = state["plan"]
    entries = []
    for cand in plan["configs"]:
        pred = kind.predict(cand["model_dir"], texts)
        m = kind.metrics(texts, truth, pred)
        score = kind.score(m)
        emit("score", f"{cand['name']}: dev {kind.metric} {score} ({cand['training']['examples']} examples, "
             f"{cand['training']['seconds']} s)", candidate=cand["name"], score=score)
        entries.append({"iteration": plan["iteration"], "stage": plan["stage"], "strategy": cand["name"], "config": cand["config"],
                        "data_mix": cand.get("mix_composition"), "training": cand.get("training"), "model_dir": cand["model_dir"],
                        "score": score, "macro_f1": m.get("macro_f1"), "seconds": cand["training"]["seconds"],
                        "examples": cand["training"]["examples"],
                        "confusions": [list(c) for c in kind.confusions(texts, truth, pred)],
                        "why": plan.get("why", "")})
    return {"iterations": entries}
