"""The commands that use a model or the registry without running the graph: predict, eval, rollback, registry."""

from __future__ import annotations

import json
from pathlib import Path

from graph.service import EXIT_OK, BadInput


def read_inputs(path: str) -> list[dict]:
    from tools.store.data import INPUT_SHAPE, DataError, _objects, input_text

    p = Path(path)
    if p.suffix.lower() == ".txt":
        if not p.exists():
            raise BadInput(f"{p}: no such file")
        return [{"input": l} for l in p.read_text(encoding="utf-8").splitlines() if l.strip()]
    try:
        rows = _objects(p)
    except DataError as e:
        raise BadInput(str(e)) from None
    out = []
    for n, obj in rows:
        text = input_text(obj.get("input"))
        if text is None:
            raise BadInput(f"{p}:{n}: missing field 'input' ({INPUT_SHAPE})")
        out.append({**{k: obj[k] for k in ("id",) if k in obj}, "input": text})
    return out


def cmd_predict(args) -> int:
    from agents.data_scout import check_model
    from tools.models.predict import model_task, predict
    from tools.store.data import DataError

    try:
        check_model(args.model, model_task(args.model) if Path(args.model, "config.json").exists() else "classification")
    except DataError as e:
        raise BadInput(str(e)) from None
    rows = read_inputs(args.input)
    out = Path(args.output) if args.output else None
    if out and not out.parent.is_dir():
        raise BadInput(f"--output {out}: no folder {out.parent} to write into")
    if out and out.is_dir():
        raise BadInput(f"--output {out}: is a folder, expected a file name")
    preds = [{**r, "prediction": p} for r, p in zip(rows, predict(args.model, [r["input"] for r in rows]))]
    if out:
        from tools.store.data import write_jsonl

        write_jsonl(out, preds)  # whole or not at all
    else:
        print("\n".join(json.dumps(r, ensure_ascii=False) for r in preds))
    return EXIT_OK


def cmd_eval(args) -> int:
    from agents.data_scout import check_model
    from tools.models.predict import metrics, model_task, predict
    from tools.store.data import DataError, load_examples

    try:
        task = model_task(args.model) if Path(args.model, "config.json").exists() else "classification"
        check_model(args.model, task)
        data = load_examples(args.data, task=task)
    except DataError as e:
        raise BadInput(str(e)) from None
    preds = predict(args.model, [e.input for e in data])
    print(json.dumps(metrics(task, [e.input for e in data], [e.output for e in data], preds), indent=2))
    return EXIT_OK


def cmd_rollback(args) -> int:
    from tools.store.registry import Registry, RegistryError

    try:
        reg = Registry(args.name, Path(args.home) / "registry" if args.home else None)
        v = reg.rollback(args.to)
    except RegistryError as e:
        raise BadInput(str(e)) from None
    print(f"{args.name}: current is now {v} ({reg.path(v)})")
    from tools.store.tracking import move_champion, tracking_uri

    uri = tracking_uri(args.tracking_uri)
    if uri:  # the registry has rolled back whatever MLflow says: a failure here is reported, not an error
        try:
            mv = move_champion(uri, args.name, v)
            print(f"MLflow {uri}: alias champion " + (f"on version {mv}" if mv else f"removed ({v} was never registered there)"))
        except Exception as e:
            print(f"MLflow {uri}: alias not moved ({type(e).__name__}: {e})")
    return EXIT_OK


def cmd_registry(args) -> int:
    from tools.store.registry import Registry, RegistryError

    try:
        reg = Registry(args.name, Path(args.home) / "registry" if args.home else None)
    except RegistryError as e:
        raise BadInput(str(e)) from None
    cur = reg.current()
    for v in reg.versions():
        m = reg.meta(v)
        print(f"{'*' if v == cur else ' '} {v}  {m.get('promoted_at')}  {m.get('strategy')}  flips {m.get('gate', {}).get('negative_flips')}")
    if not reg.versions():
        print(f"{args.name}: no versions")
    return EXIT_OK
