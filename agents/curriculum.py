"""Curriculum synthesizer: the training mix for each planned configuration, from trusted data only.

Without a chat model it invents no text (retrieval and label-preserving perturbations). With one, it adds
paraphrases of each fixable failure pattern, generated once per run and reused on resume.
"""

from __future__ import annotations

import numpy as np
from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import run_data, settings
from graph.context import Context
from graph.state import State
from tools.chat import get_chat_model, paraphrase
from tools.curriculum import Item, MixSpec, build_mix
from tools.workspace import Workspace


def synthesize(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    rd = run_data(state, ctx)
    if state.get("task") == "ner":
        return _entity_mixes(state, ctx, rd)
    ws, records, parent, tri, splits = rd.ws, rd.records, rd.parent, rd.triage, rd.splits
    plan = state["plan"]
    final = plan["stage"] == "final"
    # the tuning split chooses interpolation weights (and a tagger's threshold), so it stays out of training until
    # the final refit, which keeps its selection's choice and trains on the tuning split too. The held-out failures
    # never train: the gate's net-gain rule and the report's headline are measured on them (`kept_out`).
    out = kept_out(splits, final)
    idx = {r.id: i for i, r in enumerate(records)}
    log_emb = np.load(ws.path("log_emb.npy"))
    parent_emb = np.load(ws.path("parent_emb.npy"))

    gold_ids = [r.id for r in records if tri[r.id]["category"] == "fixable" and r.id not in out]
    gold = [Item(records[idx[i]].input, records[idx[i]].correction, "gold", i) for i in gold_ids]
    trusted_ids = [r.id for r in records if tri[r.id]["category"] == "trusted" and r.id not in out]
    trusted = [Item(records[idx[i]].input, records[idx[i]].prediction, "retained", i) for i in trusted_ids]
    trusted += [Item(e.input, e.output, "replay", f"parent:{e.line}") for e in parent]
    trusted_emb = np.concatenate([log_emb[[idx[i] for i in trusted_ids]].reshape(-1, log_emb.shape[1]), parent_emb])
    eval_ids = sorted(out)  # no mix holds a near-copy of what evaluates it
    eval_emb = log_emb[[idx[i] for i in eval_ids]] if eval_ids else np.zeros((0, log_emb.shape[1]), np.float32)
    extra = _paraphrases(ctx, ws, records, tri, out)

    def make(cand: dict) -> tuple[list[dict], dict]:
        mix = build_mix(gold, log_emb[[idx[i] for i in gold_ids]], trusted, trusted_emb, eval_emb,
                        MixSpec(**cand["config"]["mix"]), seed=ctx.seed + plan["iteration"], paraphrases=extra)
        rows = [{"input": it.text, "output": it.label, "source": it.source, "ref": it.ref} for it in mix.items]
        return rows, {"composition": mix.composition, "dropped": mix.dropped}

    return mixes(ws, plan, make)


def kept_out(splits: dict, final: bool) -> set[str]:
    """Log ids no mix may hold, for every task kind: the regression set and the held-out failures always (the gate's
    flips and net gain, and the report's headline, are measured on them), the tuning split until the final refit
    (it chose the selection's interpolation weight or tagger threshold, which the refit keeps)."""
    out = set(splits["regression"]) | set(splits["held_out_failures"])
    return out if final else out | set(splits.get("tuning", []))


def mixes(ws: Workspace, plan: dict, make, say=None) -> dict:
    """Each planned configuration's training mix, built once by `make(cand) -> (rows, composition)` and
    written to the run folder (its .json last, so a resumed run reuses only finished mixes)."""
    say = say or (lambda comp: ", ".join(f"{k} {v}" for k, v in comp["composition"].items()))
    out = []
    for cand in plan["configs"]:
        name = f"mix-{plan['iteration']}-{cand['name']}.jsonl"
        if ws.has(name + ".json"):  # resumed: this mix was already built
            comp = ws.load_json(name + ".json")
        else:
            rows, comp = make(cand)
            ws.save_rows(name, rows)
            ws.save_json(name + ".json", comp)
        emit("curriculum", f"{cand['name']}: {say(comp)}")
        out.append({**cand, "mix_file": str(ws.path(name)), "mix_composition": comp})
    return {"plan": {**plan, "configs": out}}


def _entity_mixes(state: State, ctx: Context, rd) -> dict:
    """Entity extraction: gold corrections, hard negatives for the falsely predicted surfaces, retained passes and
    parent data; nothing from the regression set or the held-out failures, and the tuning split in the refit only
    (`kept_out`)."""
    from collections import Counter

    from tools.entities import build_mix
    from tools.spans import errors

    ws, plan = rd.ws, state["plan"]
    final = plan["stage"] == "final"
    out = kept_out(rd.splits, final)
    gold = [(r.input, r.correction, r.id) for r in rd.records if rd.category(r.id) == "fixable" and r.id not in out]
    trusted = [(r.input, r.prediction, r.id) for r in rd.records if rd.category(r.id) == "trusted" and r.id not in out]
    trusted += [(e.input, e.output, f"parent:{e.line}") for e in rd.parent]
    by_id = rd.by_id
    false = Counter(e["text"].lower() for t, c, i in gold for e in errors(t, c, by_id[i].prediction) if e["kind"] == "false_positive")
    norm = lambda t: " ".join(t.lower().split())  # noqa: E731
    exclude = {norm(by_id[i].input) for i in out}
    def make(cand: dict) -> tuple[list[dict], dict]:
        m = cand["config"]["mix"]
        mix = build_mix(gold, trusted, [w for w, _ in false.most_common()], m["gold_repeat"], m["hard_negatives"], m["replay_fraction"],
                        exclude, seed=ctx.seed + plan["iteration"])
        return mix.rows, {"composition": mix.composition, "dropped": {}}

    return mixes(ws, plan, make)


def _paraphrases(ctx: Context, ws: Workspace, records, tri: dict, held: set) -> list[Item]:
    """Chat-model paraphrases of the fixable failure patterns (none without a chat model)."""
    chat = get_chat_model(ctx.chat_model, ctx.chat_base_url)
    if chat is None:
        return []
    if ws.has("paraphrases.jsonl"):
        rows = ws.load_rows("paraphrases.jsonl")
    else:
        rows = []
        by_label: dict[str, list[str]] = {}
        for r in records:
            if tri[r.id]["category"] == "fixable" and r.id not in held:
                by_label.setdefault(r.correction, []).append(r.input)
        for label, examples in sorted(by_label.items(), key=lambda kv: -len(kv[1]))[:20]:
            try:
                for text in paraphrase(chat, examples, label, n=min(10, 2 * len(examples))):
                    rows.append({"input": text, "output": label})
            except Exception as e:  # noqa: BLE001 - paraphrases are an extra, the mix stands without them
                emit("curriculum", f"chat model failed ({type(e).__name__}: {e}); continuing without paraphrases")
                break
        ws.save_rows("paraphrases.jsonl", rows)
        emit("curriculum", f"{len(rows)} paraphrases from the chat model")
    # a paraphrase must not copy an evaluation input
    known = {" ".join(r.input.lower().split()) for r in records}
    return [Item(r["input"], r["output"], "paraphrase") for r in rows if " ".join(r["input"].lower().split()) not in known]


def cold_mix(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: each configuration's training set, from the training split (and the development split, for
    the final refit) and its data spec."""
    from tools.search import training_rows

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    train = [(r["input"], r["output"]) for r in ws.load_rows("train.jsonl")]
    plan = state["plan"]

    def make(cand: dict) -> tuple[list[dict], dict]:
        src = train + ([(r["input"], r["output"]) for r in ws.load_rows("dev.jsonl")] if cand["config"]["data"].get("with_dev") else [])
        rows = training_rows(src, cand["config"]["data"], seed=ctx.seed + plan["iteration"])
        return [{"input": t, "output": y} for t, y in rows], {"composition": {"examples": len(rows), **cand["config"]["data"]}}

    return mixes(ws, plan, make, say=lambda comp: f"{comp['composition']['examples']} training examples")
