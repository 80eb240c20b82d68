"""Curriculum synthesizer: the training mix for each planned configuration, from trusted data only.

Without a chat model it invents no text (retrieval and label-preserving perturbations). With one, it adds
paraphrases of each fixable failure pattern, generated once per run and reused on resume.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import run_data, settings
from graph.context import Context
from graph.state import State
from tools import kinds
from tools.chat import get_chat_model, paraphrase
from tools.store.artifacts import DEV, PARAPHRASES, TRAIN, mix_composition, mix_file
from tools.store.workspace import Workspace


def synthesize(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    rd = run_data(state, ctx)
    kind = kinds.get(state.get("task"))
    plan = state["plan"]
    # the tuning split chooses interpolation weights (and a tagger's threshold), so it stays out of training until
    # the final refit, which keeps its selection's choice and trains on the tuning split too. The held-out failures
    # never train: the gate's net-gain rule and the report's headline are measured on them (`kept_out`).
    out = kept_out(rd.splits, plan["stage"] == "final")
    extra = _paraphrases(ctx, rd.ws, rd.records, rd.triage, out) if kind.takes_paraphrases else []
    return mixes(rd.ws, plan, kind.mix_maker(rd, out, ctx.seed + plan["iteration"], extra))


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
        name, made_of = mix_file(plan["iteration"], cand["name"]), mix_composition(plan["iteration"], cand["name"])
        if ws.has(made_of):  # resumed: this mix was already built
            comp = ws.read(made_of)
        else:
            rows, comp = make(cand)
            ws.write(name, rows)
            ws.write(made_of, comp)
        emit("curriculum", f"{cand['name']}: {say(comp)}")
        out.append({**cand, "mix_file": str(ws.path(name)), "mix_composition": comp})
    return {"plan": {**plan, "configs": out}}


def _paraphrases(ctx: Context, ws: Workspace, records, tri: dict, held: set) -> list[dict]:
    """Chat-model paraphrases of the fixable failure patterns (none without a chat model)."""
    chat = get_chat_model(ctx.chat_model, ctx.chat_base_url)
    if chat is None:
        return []
    if ws.has(PARAPHRASES):
        rows = ws.read(PARAPHRASES)
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
        ws.write(PARAPHRASES, rows)
        emit("curriculum", f"{len(rows)} paraphrases from the chat model")
    # a paraphrase must not copy an evaluation input
    known = {" ".join(r.input.lower().split()) for r in records}
    return [r for r in rows if " ".join(r["input"].lower().split()) not in known]


def cold_mix(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: each configuration's training set, from the training split (and the development split, for
    the final refit) and its data spec."""
    from tools.coldstart.search import training_rows

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    train = [(r["input"], r["output"]) for r in ws.read(TRAIN)]
    plan = state["plan"]

    def make(cand: dict) -> tuple[list[dict], dict]:
        src = train + ([(r["input"], r["output"]) for r in ws.read(DEV)] if cand["config"]["data"].get("with_dev") else [])
        rows = training_rows(src, cand["config"]["data"], seed=ctx.seed + plan["iteration"], order_seed=ctx.seed)
        return [{"input": t, "output": y} for t, y in rows], {"composition": {**cand["config"]["data"], "examples": len(rows)}}

    return mixes(ws, plan, make, say=lambda comp: f"{comp['composition']['examples']} training examples")
