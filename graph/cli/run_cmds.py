"""The commands that run the graph: improve (production), new (cold start), demo, approve; serve and bench."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from graph.cli import show
from graph.cli.options import resolve
from graph.context import COLD_START, PRODUCTION
from graph.runs import AWAITING_APPROVAL
from graph.service import EXIT_AWAITING_APPROVAL, EXIT_BAD_INPUT, EXIT_OK, BadInput


def database_url(args) -> str | None:
    return getattr(args, "database_url", None) or os.environ.get("PIONEER_DATABASE_URL") or None


def run(inputs: dict, settings: dict, out: str | None, args, mode: str = PRODUCTION) -> tuple[int, Path]:
    """Start or resume a run through the service, printing as the CLI does; (exit status, run folder)."""
    from graph import service

    status, run_dir = service.start(inputs, settings, out, mode=mode, database_url=database_url(args),
                                    on_event=None if args.quiet else show.progress_printer(), say=show.say, ask=_asker(args.quiet))
    return _exit(status, run_dir), run_dir


def _asker(quiet: bool):
    """The service's `ask`: the request is shown always; asked only at a terminal, and not when quiet."""
    return show.asker(sys.stdin.isatty() and not quiet)


def _exit(status: str, run_dir: Path) -> int:
    if status == AWAITING_APPROVAL:
        show.waiting(run_dir)
        return EXIT_AWAITING_APPROVAL
    return EXIT_OK


def cmd_improve(args) -> int:
    from graph.service import check_production

    settings = resolve(args, PRODUCTION)
    given = {"model": args.model, "logs": args.logs, "train_data": args.train_data, "skip_bad_lines": bool(args.skip_bad_lines)}
    check_production(given)  # errors name the files as the user wrote them
    inputs = {**given, **{k: str(Path(given[k]).resolve()) for k in ("model", "logs", "train_data") if given[k]}}
    code, run_dir = run(inputs, settings, args.out, args)
    if code == EXIT_OK:
        show.result(run_dir)
    return code


def cmd_new(args) -> int:
    from graph.service import check_cold_start, report

    settings = resolve(args, COLD_START)
    given = {"description": args.description, "data": args.data, "labels": args.labels, "kind": args.kind}
    check_cold_start(given, settings)  # errors name the files as the user wrote them
    inputs = {**given, "data": [str(Path(d).resolve()) for d in args.data]}
    code, run_dir = run(inputs, settings, args.out, args, mode=COLD_START)
    if code == EXIT_OK:
        rep = report(run_dir)
        print(f"\n{rep['outcome']}")
        show.where(run_dir, rep)
    return code


def cmd_demo(args) -> int:
    from graph.service import report
    from tools.fixtures.demo import build_demo, score_demo

    settings = resolve(args, PRODUCTION)
    run_dir = Path(args.out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    dep = run_dir / "deployment"
    print("building the demo deployment (a small intent task, a weak deployed model, a day of judged traffic)...", file=sys.stderr)
    info = build_demo(dep, seed=settings["seed"], base=settings["base_model"] if settings["base_model"] != "minilm" else None)
    print(f"  {info['logs']} logs, {info['failures']} judged failures ({info['wrong_rate']:.0%} of corrections wrong, "
          f"{info['poison_rate']:.0%} of lines poisoned), {info['test']} held-out test examples", file=sys.stderr)
    inputs = {"model": str((dep / "deployed").resolve()), "logs": str((dep / "logs.jsonl").resolve()),
              "train_data": str((dep / "parent.jsonl").resolve()), "skip_bad_lines": False}
    if settings["home"] is None:
        settings["home"] = str(run_dir / "home")  # the demo keeps its registry and memory to itself
    code, run_dir = run(inputs, settings, str(run_dir / "run"), args)
    if code == EXIT_OK:
        show.result(run_dir)
        rep = report(run_dir)
        show.demo_truth(score_demo(dep, rep.get("model_dir"), {e["id"] for e in rep.get("excluded", []) if e["category"] in ("noise", "poison")}))
    return code


def cmd_approve(args) -> int:
    from graph import service

    run_dir = Path(args.run_dir)
    decision = {"decision": "reject" if args.reject else "approve", "note": args.note or "", "by": args.by or show.user()}
    status = service.answer(run_dir, decision, database_url(args), None if args.quiet else show.progress_printer(), _asker(args.quiet))
    code = _exit(status, run_dir)
    if code == EXIT_OK:
        show.result(run_dir)
    return code


def cmd_bench(args) -> int:
    """A benchmark registered under the `pioneer.benchmarks` entry points (evals/ registers its own): graph/
    never imports the benchmarks, which import graph/."""
    from importlib.metadata import entry_points

    found = {e.name: e for e in entry_points(group="pioneer.benchmarks")}
    if args.name not in found:
        raise BadInput(f"no benchmark {args.name!r} installed (installed: {', '.join(sorted(found)) or 'none'}); "
                       "benchmarks come with an editable install of this repository")
    try:
        return found[args.name].load()(args.rest)
    except SystemExit as e:  # argparse's own exits carry a code; a missing data folder carries its message
        if isinstance(e.code, str):
            raise BadInput(e.code) from None
        return EXIT_BAD_INPUT if e.code else EXIT_OK


def cmd_serve(args) -> int:
    from graph.server import ServerSettings, create_app, is_loopback

    key = os.environ.get("PIONEER_API_KEY") or None
    if not key and not args.no_auth:
        raise BadInput("set PIONEER_API_KEY (clients send it in the X-API-Key header), or pass --no-auth on a loopback address")
    if not key and not is_loopback(args.host):
        raise BadInput(f"--no-auth is allowed only on a loopback address, not {args.host}; set PIONEER_API_KEY")
    roots = args.data_root or [r for r in os.environ.get("PIONEER_DATA_ROOTS", "").split(os.pathsep) if r] or [os.getcwd()]
    missing = [r for r in roots if not Path(r).is_dir()]
    if missing:
        raise BadInput(f"data root is not a folder: {', '.join(missing)}")
    settings = ServerSettings(state_dir=Path(args.state_dir), data_roots=[Path(r) for r in roots], api_key=key,
                              database_url=database_url(args), max_body_bytes=args.max_body_bytes, workers=args.workers,
                              home=args.home)
    import uvicorn

    app = create_app(settings)
    print(f"pioneer serve on http://{args.host}:{args.port} (LangServe at /pioneer, runs at /runs, approvals at /approvals); "
          f"data roots: {', '.join(str(r) for r in settings.data_roots)}; "
          f"{'API key required' if key else 'no API key (loopback only)'}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK
