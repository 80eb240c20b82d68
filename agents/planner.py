"""Planner: chooses what to try, reads the gate, rolls back, stops, and promotes through the registry.

Production policy: the first iteration trains two warm starts from the deployed model (for entities, a warm start and
a retrain from the base), on data free of every held-out set. When a candidate passes the gate, the winning
configuration is refit with the tuning split added (the final model) and gated again before promotion; if the refit
fails the gate, the gated selection candidate is promoted instead, and so it is when the budget leaves no room for the
refit (or the kind keeps no tuning split to refit with: generation). When none passes, the next configurations are
edits of the best attempt so far (a worse attempt is rolled back, never built upon), chosen by what failed (the task
kind's `revise_strategies`), as many of them as the budget allows with a refit after them (each costed from the last
iteration's seconds per example). Stop at the iteration limit or the time budget, promoting nothing.

Cold start (`search`, `finish`): the search policy of tools/coldstart/search.py on the development split, fitted to the
time budget, then one refit of the chosen configuration (on the training and development splits when the budget
allows); the final model is scored once on the frozen evaluation set and registered.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import memory_path, registry_for, settings
from graph.context import Context
from graph.state import State
from tools import kinds
from tools.production import strategies
from tools.store.artifacts import PROMOTION, STARTED
from tools.store.memory import Memory
from tools.store.workspace import Workspace


def plan(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    started = _started(ws)
    done = state.get("iterations") or []
    if not done:
        return _first(state, ctx)
    last_it = max(e["iteration"] for e in done)
    last = [e for e in done if e["iteration"] == last_it]
    if last[0]["stage"] == "final":
        if last[0]["gate"]["passed"]:
            return _decide("promote", "final model passed the gate", candidate=last[0])
        chosen = _best_selection(done)
        return _decide("promote", "the refit failed the gate; promoting the gated selection candidate instead", candidate=chosen)
    elapsed = (time.time() - started) / 60
    cost = strategies.cost_model(last, state.get("timings") or [])
    passing = [e for e in done if e["stage"] == "select" and e["gate"]["passed"]]
    kind = kinds.get(state.get("task"))
    if passing:
        best = max(passing, key=strategies.score)
        if not kind.refits:  # a generator holds no tuning split back: a refit would train on the same data again
            return _decide("promote", f"{best['strategy']} passed the gate; promoting it ({kind.name} keeps no tuning split for a refit)",
                           candidate=best)
        if elapsed + cost(best["config"]) > ctx.budget_minutes:
            return _decide("promote", f"{best['strategy']} passed the gate; promoting it without the refit, which the time budget "
                                      f"does not leave room for ({elapsed:.1f} of {ctx.budget_minutes} min used)", candidate=best)
        cfg = {**best["config"], "name": "final"}
        chosen = ((best.get("training") or {}).get("interpolation") or {}).get("alpha")
        if cfg.get("interpolate") and chosen is not None:  # the weight the selection chose: the refit trains on the tuning split
            cfg["interpolate"] = [chosen]
        return {"plan": {"action": "train", "stage": "final", "iteration": last_it + 1,
                         "configs": [{"name": "final", "config": cfg, "selected": best["strategy"]}],
                         "why": f"{best['strategy']} passed the gate; refit it with the tuning split added"}}
    best = max(done, key=strategies.score)  # roll back: build on the best attempt, not the latest one
    rolled = best["iteration"] != last_it
    configs, why = kind.revise_strategies(best["config"], best["gate"], ctx.max_flips, last_it + 1)
    tried = {_recipe(e["config"]) for e in done}  # a rollback to the same attempt revises it the same way: train nothing twice
    configs = [c for c in configs if _recipe(c) not in tried]
    if not configs:
        return _decide("stop", f"no candidate passed the gate, and every revision of {best['strategy']} was tried already; nothing promoted")
    # another iteration, then a final refit, must fit in the budget: as many of the revisions as do
    refit = cost(best["config"]) if kind.refits else 0.0
    k = strategies.affordable(configs, cost, refit, ctx.budget_minutes - elapsed)
    if last_it >= ctx.max_iterations or not k:
        limit = ("iteration limit" if last_it >= ctx.max_iterations else
                 f"time budget ({elapsed:.1f} min used, another configuration and a refit need about "
                 f"{cost(configs[0]) + refit:.1f} of {ctx.budget_minutes})")
        return _decide("stop", f"no candidate passed the gate before the {limit}; nothing promoted")
    if k < len(configs):
        why += f" (only {k} of {len(configs)} revisions: the time budget leaves room for no more and the refit)"
        configs = configs[:k]
    if rolled:
        why = f"rolled back to {best['strategy']} (iteration {best['iteration']}), the best so far; " + why
    emit("plan", why)
    return {"plan": {"action": "train", "stage": "select", "iteration": last_it + 1,
                     "configs": [{"name": c["name"], "config": c} for c in configs], "why": why}}


def _first(state: State, ctx: Context) -> dict:
    if not state["diagnosis"]["triage"]["categories"].get("fixable"):
        return _decide("stop", "no fixable failures in the logs: nothing to retrain, the deployed model stays")
    configs = kinds.get(state.get("task")).first_strategies(state["diagnosis"], ctx.epochs, ctx.learning_rate)
    memo: dict = {"used": False}
    if ctx.use_memory:
        pats = [p for p in state["diagnosis"]["patterns"] if p["kind"] == "fixable"][:8]  # as recorded by the reporter
        try:
            best, hits = Memory(memory_path(ctx)).best_strategy(pats, state["task"])
        except Exception as e:  # noqa: BLE001 - a broken memory must not stop a run
            best, hits = None, []
            memo["error"] = f"{type(e).__name__}: {e}"
        similar = sorted({h["pattern"] for h in hits})[:5]
        if best:
            best = {**best, "name": f"memory:{best['name'].split(':')[-1]}"}
            configs = [best, configs[0] if configs[0]["name"] not in best["name"] else configs[1]]
            memo = {"used": True, "strategy": best["name"], "matches": len(hits), "similar_patterns": similar,
                    "from_runs": sorted({h["run_id"] for h in hits})[:5]}
            emit("plan", f"memory: {len(hits)} similar past patterns; starting from {best['name']}")
        elif hits:
            memo = {"used": False, "matches": len(hits), "similar_patterns": similar}
            emit("plan", f"memory: {len(hits)} similar past patterns, no attempt on them passed the gate; default strategies")
    why = "first iteration" + (f": memory suggested {memo['strategy']}" if memo.get("used") else ": default strategies")
    return {"memory": memo, "plan": {"action": "train", "stage": "select", "iteration": 1,
                                     "configs": [{"name": c["name"], "config": c} for c in configs], "why": why}}


def _recipe(config: dict) -> str:
    """A configuration as what it trains, whatever its name."""
    return json.dumps({k: v for k, v in config.items() if k != "name"}, sort_keys=True)


def _best_selection(done: list[dict]) -> dict:
    return max((e for e in done if e["stage"] == "select" and e["gate"]["passed"]), key=strategies.score)


def _decide(action: str, why: str, candidate: dict | None = None) -> dict:
    emit("plan", why)
    return {"plan": {"action": action, "why": why, "candidate": candidate}}


def _started(ws: Workspace) -> float:
    if not ws.has(STARTED):
        ws.write(STARTED, {"t": time.time()})
    return ws.read(STARTED)["t"]


def promote(state: State, runtime: Runtime[Context]) -> dict:
    """Copy the chosen model into the registry (a new version, never overwriting) and the run folder.
    Under the registry entry's lock: a run resumed after a crash finds the version it already made, and a
    candidate gated before another run promoted into the same name faces the ratchet on that version."""
    ctx = settings(runtime)
    cand = state["plan"]["candidate"]
    reg = registry_for(state, ctx)
    name = reg.name
    ws = Workspace(ctx.run_dir)
    if ws.has(PROMOTION):  # resumed after the registry write: do not promote twice
        return {"promotion": ws.read(PROMOTION)}
    from agents.run_data import run_data
    from agents.verifier import answers_with_churn, eval_sets, recheck_ratchet
    from tools.production.lineage import PARENT_FILE, curated_examples
    from tools.store.data import write_jsonl

    promotion_id = f"{Path(ctx.run_dir).resolve()}:{cand['model_dir']}"
    with reg.lock(on_wait=lambda who: emit("promote", f"waiting for registry entry {name} (held by {who or 'another run'})")):
        version = reg.promoted_by(promotion_id)
        if version is None:
            gated_against = ((cand["gate"].get("slices") or {}).get("previous_version") or {}).get("version")
            again, failed = recheck_ratchet(cand["model_dir"], reg, gated_against, ctx, state.get("task"))
            if failed:
                why = f"not promoted: another run promoted {again['version']} into {name} meanwhile, and {cand['strategy']} fails its ratchet: {failed}"
                emit("promote", why)
                return {"promotion": None, "plan": {**state["plan"], "action": "stop", "why": why, "ratchet_at_promotion": again}}
            rd = run_data(state, ctx)
            sets = eval_sets(state, ctx, include_holdout_in_training=True, rd=rd)
            # the version's evaluation set, for the next run's ratchet: which items it was trained on (the fixable
            # failures outside the held-out share), its answers and their churn
            held = set(rd.splits["held_out_failures"])  # never trained on, by a refit neither
            rows = ([{"input": r.input, "label": r.prediction, "trained": False} for r in sets["reg"]]
                    + [{"input": r.input, "label": r.correction, "trained": r.id not in held} for r in sets["fails"]])
            answers, churn = answers_with_churn(cand["model_dir"], [r["input"] for r in rows], state.get("task", "classification"))
            for i, (row, p) in enumerate(zip(rows, answers)):
                row["prediction"] = p
                if churn is not None:
                    row["churn"] = churn[i]
            # the lineage: what the next retrain of this model replays
            write_jsonl(Path(cand["model_dir"]) / PARENT_FILE, curated_examples(rd.parent, rd.records, {k: v["category"] for k, v in rd.triage.items()}))
            reg.register_baseline(state["model"], {"strategy": "deployed before pioneer", "source": state["model"]})
            version = reg.promote(cand["model_dir"], {"strategy": cand["strategy"], "run_dir": str(Path(ctx.run_dir).resolve()),
                                                      "gate": cand["gate"], "base_model": ctx.base_model, **_lineage(state, cand),
                                                      "promotion_id": promotion_id, "ratchet_at_promotion": again}, rows)
    model_out = reg.export(version, Path(ctx.run_dir) / "model")
    info = {"registry": name, "version": version, "registry_dir": str(reg.path(version)), "model_dir": str(model_out.resolve()),
            "strategy": cand["strategy"], "ratchet_at_promotion": reg.meta(version).get("ratchet_at_promotion")}
    ws.write(PROMOTION, info)
    emit("promote", f"promoted {name} {version} ({cand['strategy']})")
    return {"promotion": info}


def _lineage(state: State, cand: dict) -> dict:
    """Where a promoted version started (the base model, or the deployed model: its registry version when it
    has one) and the share of the deployed weights interpolated into it."""
    import json

    tr = cand.get("training") or {}
    start = "base"
    if tr.get("start") == "deployed":
        meta = Path(state["model"]) / "pioneer.json"
        version = json.loads(meta.read_text()).get("version") if meta.exists() else None
        start = f"deployed ({version})" if version else f"deployed ({state['model']})"
    return {"start": start, "interpolation_alpha": (tr.get("interpolation") or {}).get("alpha")}


# ---------------------------------------------------------------- cold start


FINISH_RESERVE = 0.05  # share of the cold-start budget kept for scoring the chosen model and registering it, at least
# the time the baseline took on the same evaluation set (a generator's answers take about a second each on 2 cores)


def _target(state: State, ctx: Context) -> float:
    """The baseline survey's target (the user's when given); a run framed before the survey had the paper's."""
    from tools.coldstart.survey import PAPER_TARGET

    survey = state["evalset"].get("survey")
    return survey["target"] if survey else ctx.target if ctx.target is not None else PAPER_TARGET


def search(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: the next configurations to train, or the decision to stop (tools.coldstart.search has the policy)."""
    from tools.coldstart import search as sr

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    started = _started(ws)
    cfg = sr.SearchSettings(target=_target(state, ctx), max_iterations=ctx.max_iterations, budget_minutes=ctx.budget_minutes)
    done = state.get("iterations") or []
    if not done:
        n_train = state["evalset"]["train"]
        remembered, memo = _remembered(state, ctx)
        kind = kinds.get(state.get("task"))
        configs, why = sr.first(n_train, len(state["labels"]), cfg, remembered, kind.first_attempts)
        configs = kind.first_search(configs, n_train)
        emit("plan", why)
        return {"memory": memo, "plan": {"action": "train", "stage": "search", "iteration": 1,
                                         "configs": [{"name": c["name"], "config": c} for c in configs], "why": why}}
    elapsed = (time.time() - started) / 60
    best = max(done, key=lambda e: e["score"])
    last_it = max(e["iteration"] for e in done)
    if any(e["stage"] == "refit" for e in done):
        chosen, why = sr.final_choice(done)
        return _decide("finish", f"{state['plan']['why']}; {why}", candidate=_final(chosen, sr.final_choice([e for e in done if e["stage"] != "refit"])[0]))
    n_train, n_dev = state["evalset"]["train"], state["evalset"]["dev"]
    reserve = max(cfg.budget_minutes * FINISH_RESERVE, state["evalset"]["baseline"].get("seconds", 0) / 60)
    left = cfg.budget_minutes - reserve - elapsed
    reason = sr.stop(done, cfg, elapsed)
    kind = kinds.get(state.get("task"))
    configs, why = [], ""
    if not reason:  # the refit's minutes are kept back: the final model is the refit, not the last search iteration
        keep = sr.refit_reserve(best, done, n_train, n_dev, len(state["labels"])) if kind.refits else 0.0
        configs, why, note = _affordable_edits(kind, best, done, last_it + 1, n_train, len(state["labels"]), left - keep)
        if configs is None:
            kept = f", {keep:.1f} kept for the refit" if keep else ""
            reason = f"time budget ({elapsed:.1f} of {cfg.budget_minutes} min used{kept}; {note})" if note else why
    if reason and kind.refits:
        again, note = sr.refit(best, done, n_train, n_dev, len(state["labels"]), left)
        if again:
            why = f"{reason}; {note}"
            emit("plan", why)
            return {"plan": {"action": "train", "stage": "refit", "iteration": last_it + 1,
                             "configs": [{"name": again["name"], "config": again}], "why": why}}
    if reason:
        return _decide("finish", f"{reason}; best {best['strategy']} at {best['score']:.3f} on the dev split", candidate=_final(best, best))
    if best["iteration"] != last_it:
        why = f"rolled back to {best['strategy']} (iteration {best['iteration']}, the best so far); " + why
    emit("plan", why)
    return {"plan": {"action": "train", "stage": "search", "iteration": last_it + 1,
                     "configs": [{"name": c["name"], "config": c} for c in configs], "why": why}}


def _affordable_edits(kind, best: dict, done: list[dict], iteration: int, n_train: int, n_labels: int,
                      minutes: float) -> tuple[list[dict] | None, str, str]:
    """The next iteration: the kind's edits of the best attempt that fit in `minutes` (with their epochs cut if need
    be); when the first edits do not fit even so, the next ones it proposes (another band's, often cheaper: on TREC
    the targeted edits needed 9.5 min at 2 epochs with 7.6 left, and the search stopped at 20.6 of 30 min, session
    23). Returns (configurations, why, "") or (None, why nothing is left, the first budget note when time ran out)."""
    from tools.coldstart import search as sr

    tried, first_note = [e["config"] for e in done], ""
    while True:
        configs, why = kind.revise_search(best, iteration, [tuple(c) for c in best["confusions"]], tried)
        if not configs or any(c in tried for c in configs):  # nothing left, or a kind that proposes the same again
            return None, why, first_note
        fitted, note = sr.fit_to_budget(configs, done, n_train, n_labels, minutes)
        if fitted is not None:
            return fitted, why + (f"; {note}" if note else "") + (f" (cheaper than the first edits: {first_note})" if first_note else ""), ""
        first_note = first_note or note
        tried = tried + configs


def _final(entry: dict, selected: dict) -> dict:
    """The final model's attempt, with the attempt the search selected on the dev split (what the memory records:
    its configuration and its held-out dev score; a refit's dev score is not held out when it trained on it)."""
    return {**entry, "selected": {k: selected[k] for k in ("strategy", "config", "score", "iteration")}}


def task_text(state: State) -> str:
    """How the memory knows a task: its description and label names."""
    from tools.coldstart.taskspec import humanize

    return f"{state['description']} labels: " + ", ".join(humanize(l) for l in state["labels"][:40])


def _remembered(state: State, ctx: Context) -> tuple[dict | None, dict]:
    if not ctx.use_memory:
        return None, {"used": False}
    try:
        best, hits = Memory(memory_path(ctx)).best_for_task(task_text(state), state["task"])
    except Exception as e:  # noqa: BLE001 - a broken memory must not stop a run
        return None, {"used": False, "error": f"{type(e).__name__}: {e}"}
    if not best:
        return None, {"used": False}
    memo = {"used": True, "strategy": best["name"], "similar_tasks": [h["task"][:120] for h in hits][:3],
            "closest_distance": min(h["distance"] for h in hits),
            "from_runs": sorted({h["run_id"] for h in hits})[:5], "remembered_score": max(h["score"] for h in hits)}
    top = max(hits, key=lambda h: (h["score"], -h["distance"]))  # the hit whose strategy this is (Memory.best_for_task)
    if top.get("minutes") is not None:  # what finding that strategy cost the run that found it, starting with what it knew
        memo["remembered_minutes"] = top["minutes"]
    emit("plan", f"memory: {len(hits)} similar past task(s); starting from {best['name']}")
    return best, memo


def finish(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: the best attempt, scored once on the frozen evaluation set, into the run folder and the registry."""
    from tools.coldstart.evalset import load_frozen
    from tools.store.registry import Registry

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    if ws.has(PROMOTION):
        return {"promotion": ws.read(PROMOTION)}
    cand = state["plan"]["candidate"]
    rows = load_frozen(ctx.run_dir)
    kind = kinds.get(state.get("task"))
    pred = kind.predict(cand["model_dir"], [r["input"] for r in rows])
    final = kind.metrics([r["input"] for r in rows], [r["output"] for r in rows], pred)
    final["score"] = kind.score(final)
    tags = {}
    for r, ok in zip(rows, kind.judged([r["output"] for r in rows], pred)):
        for t in r.get("tags") or []:
            tags.setdefault(t, []).append(ok)
    final["by_tag"] = {t: round(sum(v) / len(v), 4) for t, v in tags.items()}  # share answered right (the kind's judgement)
    # what the search selected on against what the evaluation set measures: the selected attempt's held-out dev score
    sel = cand.get("selected") or cand
    final["dev_score"], final["dev_eval_gap"] = sel["score"], round(sel["score"] - final["score"], 4)
    name = ctx.registry_name or state["scout"]["registry_name"]
    reg = Registry(name, Path(ctx.home) / "registry" if ctx.home else None)
    promotion_id = f"{Path(ctx.run_dir).resolve()}:{cand['model_dir']}"
    with reg.lock(on_wait=lambda who: emit("finish", f"waiting for registry entry {name} (held by {who or 'another run'})")):
        version = reg.promoted_by(promotion_id) or reg.promote(
            cand["model_dir"], {"strategy": cand["strategy"], "run_dir": str(Path(ctx.run_dir).resolve()), "mode": "cold_start",
                                "base_model": ctx.base_model, "eval_score": final["score"], "promotion_id": promotion_id},
            [{"input": r["input"], "label": r["output"], "prediction": p} for r, p in zip(rows, pred)])
    model_out = reg.export(version, Path(ctx.run_dir) / "model")
    info = {"registry": name, "version": version, "registry_dir": str(reg.path(version)), "model_dir": str(model_out.resolve()),
            "strategy": cand["strategy"], "final": final}
    ws.write(PROMOTION, info)
    emit("finish", f"{cand['strategy']}: {kind.metric} {final['score']} on the frozen evaluation set; "
                   f"registered {name} {version}")
    if ctx.use_memory:
        try:
            from tools.coldstart.search import minutes_to

            Memory(memory_path(ctx)).record_task(task_text(state), state["task"], {**sel["config"], "name": sel["strategy"]},
                                                 {"score": sel["score"], "iteration": sel["iteration"],
                                                  "minutes": minutes_to(state.get("iterations") or [], sel["iteration"])}, Path(ctx.run_dir).name)
        except Exception as e:  # noqa: BLE001
            emit("finish", f"memory not updated: {type(e).__name__}: {e}")
    return {"promotion": info}
