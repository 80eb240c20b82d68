"""Trainer: one model per planned configuration, from the base model or (a warm start) from the deployed one.

The deployed model is also a teacher (its soft labels on examples it got right; for a tagger, on the words
whose tag it got right). A warm-started configuration that asks for interpolation ends as a * deployed +
(1 - a) * fine-tuned, a chosen on the tuning split (tools/models/warm.py; the final refit keeps its selection's a). A
candidate that was already trained (a resumed run) is not trained again.
"""

from __future__ import annotations

import json
from pathlib import Path

from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import settings
from graph.context import Context
from graph.state import State
from tools import backends, kinds
from tools.backends import TrainJob
from tools.store.data import read_jsonl
from tools.store.workspace import Workspace


def train(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    plan = state["plan"]
    labels = _label_set(state, plan)
    kind = kinds.get(state.get("task"))
    ws = Workspace(ctx.run_dir)
    summaries, jobs = {}, []  # candidate name -> its training summary; the jobs still to train
    for cand in plan["configs"]:
        model_dir, trained_dir = _dirs(ctx, plan, cand)
        if (trained_dir / "training_summary.json").exists():
            emit("train", f"{cand['name']}: already trained, reusing {trained_dir}")
            summaries[cand["name"]] = json.loads((trained_dir / "training_summary.json").read_text())
            continue
        rows = read_jsonl(cand["mix_file"])
        texts, targets = [r["input"] for r in rows], [r["output"] for r in rows]
        cfg = kind.train_config(cand["config"]["train"], ctx.seed)
        # a warm start trains on from the deployed model; a continued attempt (cold start) from an earlier candidate
        start = state["model"] if cand["config"].get("warm_start") else cand["config"].get("continue_from")
        jobs.append(TrainJob(cand["name"], kind.name, str(trained_dir), texts, targets, labels, cfg, ctx.base_model, start,
                             kind.teacher(ws, state["model"], texts, targets, labels) if getattr(cfg, "distill_weight", 0) > 0 else None))
    origin = {c["name"]: ("the deployed model" if c["config"].get("warm_start") else
                          f"candidate {Path(c['config']['continue_from']).name}" if c["config"].get("continue_from") else "the base model")
              for c in plan["configs"]}
    backend = backends.get(ctx.backend, address=ctx.ray_address)
    summaries |= {r.name: r.summary for r in backend.run(jobs, lambda job, e: _progress(job, e, origin[job.name]))}
    out = []
    for cand in plan["configs"]:
        model_dir, trained_dir = _dirs(ctx, plan, cand)
        training = {k: summaries[cand["name"]][k] for k in ("examples", "curve", "seconds")}
        training["start"] = "deployed" if cand["config"].get("warm_start") else "base"
        if summaries[cand["name"]].get("worker"):  # where a cluster backend trained it (node, process)
            training["worker"] = summaries[cand["name"]]["worker"]
        if cand["config"].get("interpolate"):
            training["interpolation"] = _interpolated(state, ctx, cand["name"], trained_dir, model_dir, cand["config"]["interpolate"])
        out.append({**cand, "model_dir": str(model_dir), "training": training})
        if (training.get("interpolation") or {}).get("also_gated") is not None:
            out.append(_twin(state, cand, trained_dir, model_dir, training))
    return {"plan": {**plan, "configs": out}}


def _dirs(ctx: Context, plan: dict, cand: dict) -> tuple[Path, Path]:
    """A candidate's model folder, and the folder its fine-tuned weights go to before interpolation (the same
    folder when it is not interpolated)."""
    model_dir = Path(ctx.run_dir) / "candidates" / f"{plan['iteration']}-{cand['name']}"
    return model_dir, model_dir.with_name(model_dir.name + "-finetuned") if cand["config"].get("interpolate") else model_dir


def _progress(job: TrainJob, e: dict, origin: str) -> None:
    if e.get("started"):
        emit("train", f"{job.name}: {len(job.texts)} examples, {job.config.epochs} epochs, lr {job.config.learning_rate}, "
                      f"from {origin}")
    else:
        emit("train", f"{job.name} step {e['step']}/{e['total']} loss {e['loss']}", candidate=job.name, **e)


def _interpolated(state: State, ctx: Context, name: str, trained_dir: Path, model_dir: Path, alphas: list[float]) -> dict:
    """a * deployed + (1 - a) * fine-tuned into `model_dir`, a chosen on the tuning split (once: a resumed run
    reads the choice back)."""
    from agents.run_data import run_data
    from tools.models.warm import all_tied, also_gated, choose_alpha, interpolate

    done = model_dir / "interpolation.json"
    if done.exists():
        return json.loads(done.read_text())
    rd = run_data(state, ctx)
    by_id = rd.by_id
    # the final refit trained on the tuning split: it is given the weight its selection chose, and tests none
    rows = [by_id[i] for i in rd.splits.get("tuning", [])] if len(alphas) > 1 else []
    try:
        logp: dict[float, float] = {}
        if len(alphas) == 1:
            best, scores, how = alphas[0], {}, "the weight its selection chose"
        elif rows:
            best, scores, logp = choose_alpha(state["model"], trained_dir, alphas, [r.input for r in rows], [r.label for r in rows])
            how = "tuning accuracy " + ", ".join(f"{a}: {v}" for a, v in scores.items())
            if all_tied(scores, len(rows)):
                how += (f"; all within one of {len(rows)} items, so the highest mean log-probability of the truth ("
                        + ", ".join(f"{a}: {v}" for a, v in logp.items()) + ")")
        else:  # no tuning split (few logs): the middle of the grid, untested
            best, scores, how = sorted(alphas)[len(alphas) // 2], {}, "no tuning split: the middle of the grid"
        interpolate(state["model"], trained_dir, best, model_dir)
    except ValueError as e:  # another architecture than the deployed model's (a --base of another family)
        import shutil

        emit("train", f"{name}: not interpolated ({e})")
        shutil.rmtree(model_dir, ignore_errors=True)
        shutil.copytree(trained_dir, model_dir)
        best, scores, logp, how = 0.0, {}, {}, "not interpolated"
    info = {"alpha": best, "tuning_accuracy_by_alpha": {str(a): v for a, v in scores.items()},
            "tuning_logp_by_alpha": {str(a): v for a, v in logp.items()}, "tuning_n": len(rows)}
    twin = also_gated(scores, len(rows), best)
    if twin is not None:  # the split cannot tell them apart: the gate chooses (`_twin`)
        info["also_gated"] = twin
    done.write_text(json.dumps(info))
    if how != "not interpolated":
        emit("train", f"{name}: interpolated with the deployed model at a = {best} ({how})")
    return info


def _twin(state: State, cand: dict, trained_dir: Path, model_dir: Path, training: dict) -> dict:
    """The same fine-tuned model at the uninformed weight, a candidate of its own: where the tuning split ties every
    weight by accuracy, its log-probabilities pick the sharpest model (mostly a = 0), which fixes the most where
    the deployed model is weak and may flip more where it is not. Measured on AdaptFT-Bench (session 13): on TREC
    stage 1 (deployed 0.416 on the union test) a = 0 scored 0.871 against 0.827 at 0.35 and was promoted; on drift
    stage 2 both warm starts failed the gate at a = 0 (3 fixes against 1 and 3 flips) and the gentle one passed at
    0.35 (5 fixes, 0 flips) and was promoted. No training: its seconds are 0 (the cost model skips it)."""
    from tools.models.warm import interpolate

    weight = training["interpolation"]["also_gated"]
    name = f"{cand['name']}@{weight}"
    twin_dir = model_dir.with_name(f"{model_dir.name}@{weight}")
    if not (twin_dir / "config.json").exists():
        interpolate(state["model"], trained_dir, weight, twin_dir)
    emit("train", f"{name}: {cand['name']} at a = {weight} as well; the tuning split ties every weight, so the gate chooses")
    interp = {k: v for k, v in training["interpolation"].items() if k != "also_gated"} | {"alpha": weight, "twin_of": cand["name"]}
    # the config keeps its grid: a revision of it, or a later run's memory of it, tunes its weight afresh
    return {**cand, "name": name, "config": {**cand["config"], "name": name}, "model_dir": str(twin_dir),
            "training": {**training, "seconds": 0.0, "interpolation": interp}}


def _label_set(state: State, plan: dict) -> list[str]:
    """The deployed labels (entity types), plus new ones the mixes teach (learned when the logs hold enough of them)."""
    labels, kind = list(state["labels"]), kinds.get(state.get("task"))
    for cand in plan["configs"]:
        for r in read_jsonl(cand["mix_file"]):
            for label in kind.labels_of(r["output"]) if r["output"] else []:  # an empty span list teaches none
                if label not in labels:
                    labels.append(label)
    return labels
