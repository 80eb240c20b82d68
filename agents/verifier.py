"""Verifier. Diagnosis: score the deployed model on the logs, triage every line, split the evaluation
sets, find the failure patterns. Gate: score each candidate and apply the regression gate.
Cold start: build and freeze the evaluation set before any training, score the base model on it, and
score each candidate on the development split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import RunData, deployed_probs, deployed_word_probs, load_run_data, registry_for, run_data, settings
from graph.context import Context
from graph.state import State
from tools import diagnosis as dx
from tools.chat import get_chat_model
from tools.classifier import predict_proba
from tools.embed import embed
from tools.gate import GateConfig, evaluate_gate
from tools.entities import entity_confusions
from tools.metrics import classification_metrics
from tools.predict import metrics as predict_metrics
from tools.predict import predict as predict_any
from tools.predict import score_of
from tools.workspace import Workspace


def diagnose(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    records, parent = load_run_data(state)
    if state.get("task") == "ner":
        return _diagnose_entities(state, ctx, ws, records, parent)
    emit("diagnose", "scoring the deployed model on the logs")
    probs = deployed_probs(ws, state["model"], [r.input for r in records])
    log_emb = ws.array("log_emb", lambda: embed([r.input for r in records]))
    parent_emb = ws.array("parent_emb", lambda: embed([e.input for e in parent]) if parent else np.zeros((0, log_emb.shape[1]), np.float32))
    labels = state["labels"]
    served = [labels[j] for j in probs.argmax(1)]
    agree = float(np.mean([s == r.prediction for s, r in zip(served, records)]))

    emit("diagnose", "triage: poison, noise, fixable")
    tri = dx.triage(records, parent, labels, probs, log_emb, parent_emb, dx.tokenizer_vocab(ctx.base_model), seed=ctx.seed)
    splits = dx.split_eval(records, tri, ctx.regression_size, ctx.holdout_failures, ctx.seed)
    pats = dx.patterns(records, tri, log_emb, ctx.seed)
    chat = get_chat_model(ctx.chat_model, ctx.chat_base_url)
    if chat is not None:
        _name_patterns(chat, pats)
    ws.save_rows("triage.jsonl", tri)
    ws.save_json("splits.json", splits)
    ws.save_json("patterns.json", pats)

    usable = [(r, t) for r, t in zip(records, tri) if t["category"] in ("trusted", "fixable")]
    truth = [r.label for r, _ in usable]
    baseline = classification_metrics(truth, [r.prediction for r, _ in usable])
    counts = dx.summary_counts(tri)
    emit("diagnose", "triage: " + ", ".join(f"{k} {v}" for k, v in sorted(counts["categories"].items()))
         + f"; {len(pats)} failure patterns")
    return {"diagnosis": {
        "deployed_pass_rate": round(sum(r.verdict == "pass" for r in records) / len(records), 4),
        "deployed_accuracy_on_usable_logs": baseline["accuracy"],
        "baseline_metrics": baseline,
        "served_predictions_reproduced": round(agree, 4),
        "triage": counts,
        "confusions": dx.confusions(records, tri),
        "patterns": [{k: v for k, v in p.items() if k != "ids"} for p in pats],
        "splits": {k: len(v) for k, v in splits.items()},
    }}


def _diagnose_entities(state: State, ctx: Context, ws: Workspace, records, parent) -> dict:
    """Entity extraction: the logged answers scored, every failure broken into error kinds, triage, splits."""
    from tools import entities as en
    from tools.tagger import predict_spans

    emit("diagnose", "re-running the deployed model on the logs")
    texts = [r.input for r in records]
    served = predict_spans(state["model"], texts, probs=deployed_word_probs(ws, state["model"], texts))
    agree = sum(s == r.prediction for s, r in zip(served, records)) / len(records)
    log_emb = ws.array("log_emb", lambda: embed([r.input for r in records]))
    parent_emb = ws.array("parent_emb", lambda: embed([e.input for e in parent]) if parent else np.zeros((0, log_emb.shape[1]), np.float32))
    emit("diagnose", "triage: poison, noise (corrections that contradict the trusted data), fixable")
    tri = en.triage(records, parent, state["labels"], log_emb, parent_emb, dx.tokenizer_vocab(ctx.base_model))
    usable = [r for r, t in zip(records, tri) if t["category"] in ("trusted", "fixable")]
    baseline = en.log_metrics([r.input for r in usable], [r.label for r in usable], [r.prediction for r in usable])
    dominant = en.dominant_error(baseline["errors"])
    # a tuning split for the decision threshold, only when over-prediction calls for one
    splits = en.split_eval(records, tri, ctx.regression_size, ctx.holdout_failures, tuning=0.1 if dominant == "precision" else 0.0, seed=ctx.seed)
    pats = en.patterns(records, tri)
    ws.save_rows("triage.jsonl", tri)
    ws.save_json("splits.json", splits)
    ws.save_json("patterns.json", pats)
    counts = dx.summary_counts(tri)
    errs = baseline["errors"]["total"]
    emit("diagnose", "triage: " + ", ".join(f"{k} {v}" for k, v in sorted(counts["categories"].items()))
         + "; errors: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in errs.items()) + f"; {len(pats)} failure patterns")
    return {"diagnosis": {
        "deployed_pass_rate": round(sum(r.verdict == "pass" for r in records) / len(records), 4),
        "deployed_accuracy_on_usable_logs": baseline["sentence_accuracy"],
        "baseline_metrics": baseline,
        "dominant_error": dominant,
        "served_predictions_reproduced": round(agree, 4),
        "triage": counts,
        "confusions": [],
        "patterns": [{k: v for k, v in p.items() if k != "ids"} for p in pats],
        "splits": {k: len(v) for k, v in splits.items()},
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
    margin (a tagger's: its least certain word's), computed once a run."""
    from tools.gate import churn_of_probs, sentence_churn

    if not rows:
        return []
    if state.get("task") != "ner":
        return churn_of_probs(deployed_probs(rd.ws, state["model"], [r.input for r in rows]))
    from tools.tagger import spans_and_margins

    texts = [r.input for r in rows]
    margins = rd.ws.array("regression_margins", lambda: np.array(spans_and_margins(state["model"], texts, deployed_word_probs(rd.ws, state["model"], texts))[1]))
    return sentence_churn(margins.tolist()) if len(margins) == len(rows) else None


def answers_with_churn(model_dir: str, texts: list[str], task: str) -> tuple[list, list[float] | None]:
    """A model's answers and their churn (from its top-2 margins; a tagger's from its least certain word's),
    from one pass over `texts`."""
    from tools.gate import churn_of_probs, sentence_churn

    if not texts:
        return [], None
    if task == "ner":
        from tools.tagger import spans_and_margins

        spans, margins = spans_and_margins(model_dir, texts)
        return spans, sentence_churn(margins)
    probs, labels = predict_proba(model_dir, texts)
    return [labels[j] for j in probs.argmax(1)], churn_of_probs(probs)


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


def recheck_ratchet(model_dir: str, registry, gated_against: str | None, ctx: Context) -> tuple[dict | None, str | None]:
    """At promotion, under the registry's lock: when another run promoted since this candidate was gated,
    the ratchet on the version that is current now, as (slice, reason it fails or None); (None, None) when
    the gate already saw the current version."""
    from tools.gate import ratchet_rule

    cur = registry.current()
    rat = ratchet_set(registry, cur) if cur != gated_against else None
    if not rat or not rat["truth"]:
        return None, None
    sl, reasons = ratchet_rule({**rat, "after": predict_any(model_dir, rat["texts"])}, gate_config(ctx))
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
    for cand in plan["configs"]:
        if state.get("task") == "ner" and cand["config"].get("tune_threshold"):
            if final:  # the refit trained on the tuning split: its selection's threshold
                from tools.tagger import set_threshold

                chosen = next(e for e in state["iterations"] if e["strategy"] == cand.get("selected")).get("threshold") or {}
                set_threshold(cand["model_dir"], chosen.get("chosen"))
                cand["threshold"] = {**chosen, "from": cand.get("selected")}
            else:
                _tune_threshold(rd, cand)
        g = score_candidate(cand["model_dir"], sets, ctx, state.get("task", "classification"))
        verdict = "passed" if g["passed"] else "failed: " + "; ".join(g["reasons"])
        emit("gate", f"{cand['name']}: {g['negative_flips']} flips, fixed {g['fixed']}, {verdict}",
             candidate=cand["name"], flips=g["negative_flips"], fixed=g["fixed"], passed=g["passed"])
        entries.append({"iteration": plan["iteration"], "stage": plan["stage"], "strategy": cand["name"], "threshold": cand.get("threshold"),
                        "config": cand["config"], "data_mix": cand.get("mix_composition"), "mix_file": cand.get("mix_file"), "training": cand.get("training"),
                        "model_dir": cand["model_dir"], "gate": g, "why": plan.get("why", ""), "selected": cand.get("selected")})
    return {"iterations": entries}


def _tune_threshold(rd: RunData, cand: dict) -> None:
    """Entity extraction with over-prediction: the decision threshold with the best entity F1 on the tuning split
    (trusted and fixable lines kept out of training and out of the gate's sets), saved with the model."""
    from tools.spans import entity_metrics
    from tools.tagger import decode, set_threshold, word_probs

    by_id = rd.by_id
    rows = [by_id[i] for i in rd.splits.get("tuning", [])]
    if not rows:
        return
    probs, offs, tags = word_probs(cand["model_dir"], [r.input for r in rows])
    truth = [r.label for r in rows]
    scores = {th: entity_metrics(truth, [decode(p, o, tags, th) for p, o in zip(probs, offs)])["f1"] for th in THRESHOLDS}
    best = max(scores, key=lambda th: (scores[th], th is None))
    set_threshold(cand["model_dir"], best)
    cand["threshold"] = {"chosen": best, "f1_by_threshold": {str(k): v for k, v in scores.items()}, "tuning_n": len(rows)}
    emit("gate", f"{cand['name']}: decision threshold {best} (tuning F1 {scores[best]}, argmax {scores[None]})")


THRESHOLDS = (None, 0.5, 0.3, 0.2, 0.1, 0.05)  # P("O") below which a word is tagged as an entity; None: argmax


# ---------------------------------------------------------------- cold start


def frame(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: the frozen evaluation set, the development and training splits, and the baseline."""
    from tools import evalset as es
    from tools.zero_shot import dictionary_spans, nearest_label

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    if ws.has("frame.json"):  # resumed: check the frozen set was not touched
        es.load_frozen(ctx.run_dir)
        return ws.load_json("frame.json")
    spec = state["scout"]["spec"]
    rows = lambda name: [(r["input"], r["output"], r["source"]) for r in ws.load_rows(name)]  # noqa: E731
    emit("evalset", "building the evaluation set before any training")
    if spec["kind"] == "ner":
        sp = es.build_entities(rows("pool_train.jsonl"), rows("pool_test.jsonl"), spec["labels"], seed=ctx.seed)
    else:
        sp = es.build(rows("pool_train.jsonl"), rows("pool_test.jsonl"), spec["labels"], spec["out_of_scope"], seed=ctx.seed)
    digest = es.freeze(ctx.run_dir, sp)
    ws.save_rows("dev.jsonl", [{"input": t, "output": y} for t, y, _ in sp.dev])
    ws.save_rows("train.jsonl", [{"input": t, "output": y} for t, y, _ in sp.train])
    emit("evalset", f"frozen: {sp.makeup['n']} examples ({sp.makeup['origin']}), {sp.makeup['labels_covered']} of "
         f"{sp.makeup['labels']} labels, {sp.makeup['boundary']} boundary cases, {sp.makeup['negatives']} negatives; sha256 {digest[:12]}")
    texts, truth = [r["input"] for r in sp.eval], [r["output"] for r in sp.eval]
    if spec["kind"] == "ner":
        base = predict_metrics("ner", texts, truth, dictionary_spans(texts, [(t, y) for t, y, _ in sp.train]))
        method = "the training split's entity names looked up in each input (no training)"
        emit("baseline", f"dictionary of the training split's entities: entity F1 {base['f1']}")
    else:
        base = classification_metrics(truth, nearest_label(texts, spec["labels"], ctx.base_model))
        method = "nearest label name by embedding (no training)"
        emit("baseline", f"base model, nearest label name: accuracy {base['accuracy']}")
    out = {"evalset": {**sp.makeup, "sha256": digest, "file": str(Path(ctx.run_dir) / "eval_set.jsonl"),
                       "baseline": {"method": method, "score": score_of(spec["kind"], base), **base}}}
    ws.save_json("frame.json", out)
    return out


def score(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: each candidate's development score (the search selects on it, never on the evaluation set)."""
    from tools.search import confusions

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    dev = ws.load_rows("dev.jsonl")
    texts, truth = [r["input"] for r in dev], [r["output"] for r in dev]
    kind = state.get("task", "classification")
    plan = state["plan"]
    entries = []
    for cand in plan["configs"]:
        pred = predict_any(cand["model_dir"], texts)
        m = predict_metrics(kind, texts, truth, pred)
        score = score_of(kind, m)
        emit("score", f"{cand['name']}: dev {'entity F1' if kind == 'ner' else 'accuracy'} {score} ({cand['training']['examples']} examples, "
             f"{cand['training']['seconds']} s)", candidate=cand["name"], score=score)
        entries.append({"iteration": plan["iteration"], "stage": plan["stage"], "strategy": cand["name"], "config": cand["config"],
                        "data_mix": cand.get("mix_composition"), "training": cand.get("training"), "model_dir": cand["model_dir"],
                        "score": score, "macro_f1": m.get("macro_f1"), "seconds": cand["training"]["seconds"],
                        "examples": cand["training"]["examples"],
                        "confusions": [list(c) for c in (entity_confusions(texts, truth, pred) if kind == "ner" else confusions(truth, pred))],
                        "why": plan.get("why", "")})
    return {"iterations": entries}
