"""Data scout. In production mode: ingest and validate the logs, the deployed model and its parent data.
In cold-start mode: understand the task, find and rank data sources, and pool their examples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from langgraph.runtime import Runtime

from agents.progress import emit
from graph.context import Context
from graph.state import State
from tools import kinds
from tools.production.lineage import parent_data_of
from tools.store.artifacts import HUB, POOL_TEST, POOL_TRAIN, SCOUT
from tools.store.data import DataError, load_examples, load_logs
from tools.store.workspace import Workspace


def check_model(model_dir: str, task: str = "classification") -> list[str]:
    """The deployed model's labels (for entities: its entity types); DataError when the folder is not a model
    for the task."""
    p = Path(model_dir)
    if not (p / "config.json").exists():
        raise DataError(p, 0, "not a model folder (no config.json)")
    return kinds.get(task).check_model(p)


def _load(logs: str, skip_bad: bool):
    """The logs, checked against the task their predictions imply (classification or entity extraction)."""
    loaded = load_logs(logs, task="detect", skip_bad=skip_bad)
    served = [n for n in kinds.names() if "production" in kinds.get(n).modes]
    if loaded.task not in served:
        raise DataError(logs, 0, f"these logs are {loaded.task} (their predictions' shape), which production mode does not "
                                 f"serve yet ({', '.join(served)} so far)")
    return loaded


def validate_inputs(model: str, logs: str, train_data: str | None, skip_bad: bool = False) -> str:
    """Check a production run's inputs before anything is written; the task, or DataError naming file, line
    and reason."""
    task = _load(logs, skip_bad).task
    check_model(model, task)
    if train_data:
        load_examples(train_data, task=task)
    return task


def ingest(state: State, runtime: Runtime[Context]) -> dict:
    loaded = _load(state["logs"], bool(state.get("skip_bad_lines")))
    task, records = loaded.task, loaded.records
    labels = check_model(state["model"], task)
    train_data = state.get("train_data")
    lineage = None if train_data else parent_data_of(state["model"])
    if lineage:  # a model pioneer promoted carries the curated data it came from
        train_data = str(lineage.resolve())
        emit("ingest", f"no parent data given: using the deployed model's lineage ({lineage})")
    parent = load_examples(train_data, task=task) if train_data else []
    corrected = [r.correction for r in records if r.verdict == "fail" and r.correction is not None]
    kind = kinds.get(task)
    new = Counter(label for c in corrected if c for label in kind.labels_of(c) if label not in labels)  # an empty span list teaches none
    info = {
        "logs": len(records),
        "passed": sum(r.verdict == "pass" for r in records),
        "failed": sum(r.verdict == "fail" for r in records),
        "failed_without_correction": sum(r.verdict == "fail" and r.correction is None for r in records),
        "parent_examples": len(parent),
        "deployed_labels": len(labels),
        "new_labels": dict(new),
        "skipped_lines": [str(e) for e in loaded.skipped],
    }
    emit("ingest", f"{info['logs']} logs ({info['failed']} failed), {len(parent)} parent examples, {len(labels)} {kind.noun}"
         + (f", {len(loaded.skipped)} bad lines skipped" if loaded.skipped else ""))
    info["parent_from_lineage"] = bool(lineage)
    info["registry"] = _registry_entry(state, runtime)
    return {"task": task, "labels": labels, "ingest": info, "train_data": train_data}


def _registry_entry(state: State, runtime: Runtime[Context]) -> dict:
    """The registry entry this run promotes into, and which of its versions the deployed model is (by the
    weights' content hash). An entry that has versions, none of them the deployed model, belongs to another
    deployment: its ratchet would compare two different models' worlds, so the run refuses (exit 2)."""
    from agents.run_data import registry_for, settings

    reg = registry_for(state, settings(runtime))
    versions = reg.versions()
    match = reg.version_of(state["model"]) if versions else None
    if versions and match is None:
        raise DataError(state["model"], 0, f"this model is none of the versions of registry entry '{reg.name}' "
                                           f"({', '.join(versions)}; compared by the weights' content hash): that entry belongs to "
                                           "another deployment. Promote into a new entry with --name NAME")
    emit("ingest", f"registry entry {reg.name}: " + (f"the deployed model is its {match}" if match else "new"))
    return {"name": reg.name, "deployed_version": match}


def scout(state: State, runtime: Runtime[Context]) -> dict:
    """Cold start: the task spec, the sources ranked by relevance, and the pooled examples (work/pool_*.jsonl)."""
    from agents.run_data import settings
    from tools.chat import get_chat_model
    from tools.coldstart import scout as sc
    from tools.coldstart.taskspec import infer_task

    ctx = settings(runtime)
    ws = Workspace(ctx.run_dir)
    if ws.has(SCOUT):  # resumed: the pool is on disk
        return ws.read(SCOUT)["state"]
    user = [sc.Candidate(sc.load_source(p), "user") for p in state.get("data") or []]
    cat, notes = sc.catalog(ctx.catalog)
    hub_ok, hub_note = sc.hub_status()
    hub = []
    if hub_ok and not user:  # the user's own data comes first; the hub is searched when there is none
        hub, more = sc.hub_candidates(state["description"], ws.path(HUB))
        notes += more
        hub_note += f"; {len(hub)} dataset(s) fetched"
    emit("scout", f"{len(user)} source(s) of yours, {len(cat)} in the catalog, {len(hub)} from the hub; {hub_note}")
    ranked = sc.rank(state["description"], user + cat + hub)
    # the spec comes from the user's data, else from the most relevant catalog dataset
    basis = user or [c for c in ranked if c.relevance >= sc.MIN_RELEVANCE][:1]
    source_kinds = [c.source.kind for c in basis]
    data_labels = sorted({l for c in basis for l in c.source.labels})
    chat = get_chat_model(ctx.chat_model, ctx.chat_base_url)
    spec = infer_task(state["description"], source_kinds, data_labels, state.get("labels"), state.get("kind"), chat)
    used = sc.choose(spec, ranked)
    if not used and chat is not None and spec.kind in kinds.names() and kinds.get(spec.kind).chat_writes_examples:
        teacher = _synthesize(chat, ctx.chat_model, spec)
        ranked.append(teacher)
        used = [teacher]
    if not used:
        best = f"; the closest catalog dataset, {ranked[0].source.name}, scored {ranked[0].relevance:.2f} (needs {sc.MIN_RELEVANCE})" if cat else ""
        raise DataError("--data", 0, "no training data for this task: pass --data FILE|DIR with labelled examples, or --catalog DIR "
                                     f"holding a relevant dataset, or --chat-model to synthesize examples{best}; {hub_note}")
    if spec.kind not in kinds.names() or "cold_start" not in kinds.get(spec.kind).modes:
        served = [n for n in kinds.names() if "cold_start" in kinds.get(n).modes]
        raise DataError("--data", 0, f"cold start trains {', '.join(served)} models so far; this task is {spec.kind} "
                                     f"({spec.kind} is not supported in cold-start mode yet)")
    pool = sc.build_pool(spec, used)
    if not pool.train:
        raise DataError(used[0].source.path, 0, f"nothing to train on: all {len(pool.test)} usable examples are in a test split "
                                                "(a file or folder named test); pass training data beside it")
    spec.metric, spec.metric_why = kinds.get(spec.kind).choose_metric(spec.description, [y for _, y, _ in pool.train + pool.test])
    ws.write(POOL_TRAIN, [{"input": t, "output": y, "source": s} for t, y, s in pool.train])
    ws.write(POOL_TEST, [{"input": t, "output": y, "source": s} for t, y, s in pool.test])
    info = {"spec": spec.to_dict(), "sources": [c.summary() for c in ranked], "notes": notes, "hub": hub_note,
            "registry_name": _slug(used[0].source.name if used[0].origin != "teacher" else spec.description),
            "pool": {"train": len(pool.train), "test": len(pool.test), "dropped": pool.dropped}}
    emit("scout", f"task: {spec.kind}, " + (f"{len(spec.labels)} labels, " if spec.labels else "") + f"metric {spec.metric} ({spec.decided_by}); using "
         + ", ".join(f"{c.source.name} ({c.why})" for c in used) + f"; pool {len(pool.train)} + {len(pool.test)} test")
    out = {"task": spec.kind, "labels": spec.labels, "scout": info}
    ws.write(SCOUT, {"state": out})
    return out


def _synthesize(chat, model_name: str, spec, per_label: int = 30):
    """A source written by the teacher chat model: `per_label` inputs for each label."""
    from tools.chat import synthesize
    from tools.coldstart.scout import Candidate
    from tools.coldstart.sources import Source
    from tools.store.data import Example

    rows, n = [], 0
    for label in spec.labels:
        try:
            texts = synthesize(chat, spec.description, label, per_label)
        except Exception as e:  # noqa: BLE001 - without the teacher there is no data: say why
            raise DataError("--chat-model", 0, f"the teacher chat model failed ({type(e).__name__}: {e}); "
                                               "pass --data with labelled examples instead") from None
        for t in texts:
            n += 1
            rows.append(Example(t, label, n))
    emit("scout", f"the teacher ({model_name}) wrote {len(rows)} examples for {len(spec.labels)} labels")
    src = Source(f"teacher:{model_name}", "chat model", "synthesized", {"all": rows}, card=spec.description)
    return Candidate(src, "teacher", relevance=1.0, used=True, why="synthesized by the teacher chat model", mapped=len(rows))


def _slug(text: str) -> str:
    """A registry name from a dataset's name or a description: lower-case words joined by dashes."""
    import re

    words = re.findall(r"[a-z0-9]+", text.lower().split("/")[-1])
    return "-".join(words[:5]) or "cold-start"
