"""The `pioneer` command: parses settings into a Context, compiles the graph with a SQLite checkpointer
in the run folder, streams progress, and maps outcomes to exit codes (0 done, 2 bad input, 1 internal).

Settings come from the command line, then environment variables PIONEER_<OPTION>, then a --config JSON
file, then the defaults shown in --help.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_AWAITING_APPROVAL = 0, 1, 2, 3

# option -> (Context field, help); shared by `improve` and `demo`. Defaults are the Context's own.
RUN_OPTIONS = {
    "base": ("base_model", "model every retrain starts from"),
    "gate": ("gate", "regression gate: 'churn' (max-flips on stable passes, flips not above expected churn, fixes "
                     "significantly above flips) or 'absolute' (max-flips on all passes, min-fixed)"),
    "gate_alpha": ("gate_alpha", "level of the churn gate's one-sided tests"),
    "max_flips": ("max_flips", "regression gate: most negative flips allowed (churn gate: on stable passes)"),
    "min_fixed": ("min_fixed", "regression gate ('absolute'): least share of held-out failures fixed"),
    "label_tolerance": ("label_tolerance", "regression gate: largest per-label recall drop allowed"),
    "max_iterations": ("max_iterations", "training iterations at most"),
    "budget_minutes": ("budget_minutes", "stop iterating after this many minutes"),
    "epochs": ("epochs", "epochs of the warm starts from the deployed model (the first configurations)"),
    "learning_rate": ("learning_rate", "learning rate of the gentle warm start (the bold one doubles it)"),
    "chat_model": ("chat_model", "chat model for the agents, e.g. openai:gpt-4.1-mini (default: none, deterministic methods)"),
    "chat_base_url": ("chat_base_url", "OpenAI-compatible endpoint for --chat-model"),
    "name": ("registry_name", "registry entry to promote into (default: from the deployed model; cold start: from the data's name)"),
    "home": ("home", "pioneer home for the registry and memory (default: $PIONEER_HOME or ~/.pioneer)"),
    "seed": ("seed", "random seed"),
    "require_approval": ("require_approval", "pause before promotion until a person approves (pioneer approve RUN_DIR)"),
}
# cold start only (`pioneer new`)
COLD_OPTIONS = {
    "target": ("target", "stop searching at this development score"),
    "catalog": ("catalog", "folder of datasets (one sub-folder each, with a card) the data scout may use (default: none)"),
}
ALL_OPTIONS = {**RUN_OPTIONS, **COLD_OPTIONS}
# what `pioneer new` takes: the gate, the warm starts' epochs and learning rate, and approval are production's
NEW_OPTIONS = {k: v for k, v in ALL_OPTIONS.items()
               if k not in ("gate", "gate_alpha", "max_flips", "min_fixed", "label_tolerance", "epochs", "learning_rate", "require_approval")}


def _default(opt: str):
    from graph.context import FIELDS

    return FIELDS[ALL_OPTIONS[opt][0]].default


def _setting_type(opt: str):
    """An argparse type that parses and checks the option's Context field (type, range, name)."""
    from graph.context import SettingError, parse_value

    def parse(raw: str):
        try:
            return parse_value(ALL_OPTIONS[opt][0], raw)
        except SettingError as e:
            raise argparse.ArgumentTypeError(str(e).replace("setting ", "", 1)) from None

    parse.__name__ = opt  # argparse names the option's type in its message
    return parse


def _setup_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import warnings

    warnings.filterwarnings("ignore", message=".*config_schema.*")
    for name in ("transformers", "httpx", "chromadb", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _add_run_options(p: argparse.ArgumentParser, options: dict = RUN_OPTIONS) -> None:
    for opt, (_f, help_) in options.items():
        default = _default(opt)
        if isinstance(default, bool):
            p.add_argument("--" + opt.replace("_", "-"), action="store_const", const=True, default=None, help=f"{help_} (default: off)")
            continue
        said = "(default:" in help_
        p.add_argument("--" + opt.replace("_", "-"), type=_setting_type(opt), default=None, help=help_ if said else f"{help_} (default: {default})")
    p.add_argument("--database-url", help="checkpoint database: a postgres:// URL (default: $PIONEER_DATABASE_URL, "
                                          "else checkpoints.sqlite in the run folder)")
    p.add_argument("--config", help="JSON file of settings (keys as the long options, with underscores)")
    p.add_argument("--quiet", action="store_true", help="print only the result")


def _int_in(lo: int, hi: int):
    def parse(raw: str) -> int:
        try:
            v = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, not {raw!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is out of range (allowed: from {lo} to {hi})")
        return v

    parse.__name__ = "integer"
    return parse


def resolve(args: argparse.Namespace, options: dict) -> dict:
    """Command line, then PIONEER_* environment, then --config file, then defaults; every value checked
    against its Context field, and a --config key that is no option of this command is an error."""
    from graph.context import SettingError, check_value, parse_value

    cfg = {}
    if getattr(args, "config", None):
        try:
            cfg = json.loads(Path(args.config).read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadInput(f"{args.config}: cannot read settings ({e})") from None
        if not isinstance(cfg, dict):
            raise BadInput(f"{args.config}: settings must be a JSON object of option: value")
        by_field = {f: o for o, (f, _) in options.items()}
        cfg = {by_field.get(k, k): v for k, v in cfg.items()}  # Context field names work as keys too
        unknown = sorted(set(cfg) - set(options))
        if unknown:
            raise BadInput(f"{args.config}: unknown setting(s) {', '.join(map(repr, unknown))} for pioneer {args.cmd} "
                           f"(known: {', '.join(sorted(options))})")
    out = {}
    try:
        for opt in options:
            field_name, v = options[opt][0], getattr(args, opt, None)
            env = f"PIONEER_{opt.upper()}"
            if v is None and os.environ.get(env, "") != "":
                v = parse_value(field_name, os.environ[env], f"{env}: ")
            if v is None and opt in cfg:
                v = check_value(field_name, cfg[opt], f"{args.config}: ")
            out[opt] = _default(opt) if v is None else v
    except SettingError as e:
        raise BadInput(str(e)) from None
    return out


class BadInput(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pioneer", description="Keep small language models good at their job.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("improve", help="production mode: improve a deployed model from its judged logs")
    p.add_argument("--model", required=True, help="deployed model folder (transformers, with id2label)")
    p.add_argument("--logs", required=True, help="inference logs, JSONL")
    p.add_argument("--train-data", help="the deployed model's training data (JSONL or CSV), for replay (default: the parent_data.jsonl that a model pioneer promoted carries, else none)")
    p.add_argument("--out", help="run folder (default: runs/<timestamp>; an unfinished run of the same inputs is resumed)")
    p.add_argument("--skip-bad-lines", action="store_true", help="skip invalid log lines (counted in the report) instead of refusing to start")
    _add_run_options(p)

    p = sub.add_parser("new", help="cold-start mode: from a task description (and any data) to a trained model")
    p.add_argument("description", help='the task in a sentence, e.g. "classify banking customer questions by intent"')
    p.add_argument("--data", nargs="+", default=[], help="your data: files or folders (JSONL, CSV, CoNLL columns, seq.in + label, label-first lines)")
    p.add_argument("--labels", nargs="+", help="the label set (default: the labels found in the data)")
    p.add_argument("--kind", choices=["classification", "ner", "generation"], help="the task kind (default: from the data, else the description)")
    p.add_argument("--out", help="run folder (default: runs/<timestamp>; an unfinished run of the same inputs is resumed)")
    _add_run_options(p, NEW_OPTIONS)

    p = sub.add_parser("demo", help="the main job on the embedded defaults: build a small deployment, improve it, print the report")
    p.add_argument("--out", help="run folder (default: runs/demo-<timestamp>)")
    _add_run_options(p)

    p = sub.add_parser("approve", help="answer a run that waits for approval before promotion (--require-approval)")
    p.add_argument("run_dir", help="the run folder")
    p.add_argument("--reject", action="store_true", help="keep the deployed model (default: approve the promotion)")
    p.add_argument("--note", help="why, kept in the report")
    p.add_argument("--by", help="who decides (default: the user name)")
    p.add_argument("--database-url", help="the run's Postgres URL, when it checkpoints there (default: $PIONEER_DATABASE_URL)")
    p.add_argument("--quiet", action="store_true", help="print only the result")

    p = sub.add_parser("serve", help="the HTTP endpoint: LangServe routes under /pioneer, background runs, approvals")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_int_in(1, 65535), default=8000, help="port (default: 8000)")
    p.add_argument("--data-root", action="append", help="a folder whose files requests may name (repeat; default: "
                                                        "$PIONEER_DATA_ROOTS, separated by ':', else the current folder)")
    p.add_argument("--state-dir", default="runs/server", help="run folders and checkpoints (default: runs/server)")
    p.add_argument("--database-url", help="Postgres URL for checkpoints (default: $PIONEER_DATABASE_URL, else SQLite in --state-dir)")
    p.add_argument("--home", help="pioneer home for the registry and memory (default: $PIONEER_HOME or ~/.pioneer)")
    p.add_argument("--workers", type=_int_in(1, 64), default=2, help="runs trained at the same time (default: 2)")
    p.add_argument("--max-body-bytes", type=_int_in(1024, 1 << 30), default=1_000_000, help="largest request body (default: 1000000)")
    p.add_argument("--no-auth", action="store_true", help="serve without an API key; only on a loopback address")

    p = sub.add_parser("bench", help="benchmarks: `pioneer bench adaptft --help`, `pioneer bench coldstart --help`, "
                                     "`pioneer bench entities --help`", add_help=False)
    p.add_argument("name", choices=["adaptft", "coldstart", "entities"], help="the benchmark")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="its options")

    p = sub.add_parser("predict", help="write one JSONL prediction a line")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True, help="JSONL with an 'input' field (and optional 'id'), or a .txt file, one input a line")
    p.add_argument("--output", help="output file (default: standard output)")

    p = sub.add_parser("eval", help="print a model's metrics on labelled examples as JSON")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="examples, JSONL or CSV with input and output")

    p = sub.add_parser("rollback", help="point a registry entry's current version back")
    p.add_argument("--name", required=True, help="registry entry")
    p.add_argument("--to", help="version to make current (default: the one before the current)")
    p.add_argument("--home", help="pioneer home (default: $PIONEER_HOME or ~/.pioneer)")

    p = sub.add_parser("registry", help="list a registry entry's versions")
    p.add_argument("--name", required=True)
    p.add_argument("--home", help="pioneer home (default: $PIONEER_HOME or ~/.pioneer)")

    args = ap.parse_args(argv)
    _setup_env()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        code = {"improve": cmd_improve, "new": cmd_new, "demo": cmd_demo, "approve": cmd_approve, "serve": cmd_serve, "bench": cmd_bench, "predict": cmd_predict, "eval": cmd_eval,
                "rollback": cmd_rollback, "registry": cmd_registry}[args.cmd](args)
        sys.stdout.flush()  # here, so that a closed pipe is met below and not at the interpreter's exit
        return code
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERNAL
    except BrokenPipeError:  # `pioneer eval ... | head`: the reader has gone; stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush does not fail again
        return EXIT_OK
    except Exception as e:  # noqa: BLE001 - an internal error: say so, keep the run folder for a resume
        from tools.data import DataError
        from tools.taskspec import TaskError

        if isinstance(e, (DataError, TaskError)):  # bad input found inside a run (cold start's data scout)
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        import traceback

        traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e}\nthe run folder is kept; the same command resumes it", file=sys.stderr)
        return EXIT_INTERNAL


# ---------------------------------------------------------------- production mode


def _validate(model: str, logs: str, train_data: str | None, skip_bad: bool) -> None:
    """Refuse bad input before any run folder exists."""
    from agents.data_scout import validate_inputs
    from tools.data import DataError

    try:
        validate_inputs(model, logs, train_data, skip_bad)
    except DataError as e:
        raise BadInput(str(e)) from None


def _run_key(inputs: dict, settings: dict) -> str:
    parts = []
    for k in ("model", "logs", "train_data", "data"):
        for v in (inputs.get(k) if isinstance(inputs.get(k), list) else [inputs.get(k)]):
            if v:
                st = Path(v).stat()
                parts.append(f"{Path(v).resolve()}:{st.st_size}:{int(st.st_mtime)}")
    parts.append(json.dumps({k: inputs.get(k) for k in ("description", "labels", "kind")}, sort_keys=True))
    parts.append(json.dumps(settings, sort_keys=True))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _find_unfinished(key: str, runs: Path) -> Path | None:
    if not runs.exists():
        return None
    for d in sorted(runs.iterdir(), reverse=True):
        meta = d / "run.json"
        if meta.exists():
            try:
                m = json.loads(meta.read_text())
            except json.JSONDecodeError:
                continue
            if m.get("key") == key and m.get("status") != "finished":
                return d
    return None


def run_production(inputs: dict, settings: dict, out: str | None, quiet: bool = False,
                   database_url: str | None = None, mode: str = "production") -> tuple[int, Path]:
    """Start or resume a run (production mode unless `mode` says cold_start); returns the exit status and
    the run folder."""
    from graph.runs import is_postgres
    from tools.data import write_json

    key = _run_key(inputs, settings)
    if out:
        run_dir = Path(out)
    else:
        run_dir = _find_unfinished(key, Path("runs")) or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    meta_file = run_dir / "run.json"
    resumed = meta_file.exists()
    meta = {"key": key, "mode": mode, "inputs": inputs, "settings": settings, "thread": f"run-{key}-{run_dir.name}",
            "database": "postgres" if is_postgres(database_url) else str(run_dir / "checkpoints.sqlite")}
    if resumed:
        meta = json.loads(meta_file.read_text())
        if meta.get("key") != key:
            raise BadInput(f"{run_dir} holds a run with other inputs or settings; choose another --out")
        if meta.get("status") == "finished":
            print(f"{run_dir} already finished; see {run_dir / 'report.md'}", file=sys.stderr)
            return EXIT_OK, run_dir
    fresh = not run_dir.exists()
    with _holding(run_dir):
        try:
            write_json(meta_file, {**meta, "status": "running"})
            if not quiet:
                print(f"{'resuming' if resumed else 'run folder'}: {run_dir}", file=sys.stderr)
            return _drive(run_dir, meta, None if resumed else {"mode": mode, **inputs}, quiet, database_url), run_dir
        except Exception as e:
            from tools.data import DataError
            from tools.taskspec import TaskError

            if fresh and isinstance(e, (BadInput, DataError, TaskError)):  # bad input found inside the run: leave nothing
                import shutil

                shutil.rmtree(run_dir, ignore_errors=True)
            raise


@contextmanager
def _holding(run_dir: Path):
    """The run folder's lock for this process: a second process on the same folder is refused (exit 2)."""
    from tools.locks import Busy, hold_run_folder

    try:
        with hold_run_folder(run_dir):
            yield
    except Busy as e:
        raise BadInput(f"{run_dir} is in use by {e.holder or 'another process'}: that run is going; "
                       "wait for it to end (then the same command reports or resumes it), or choose another --out") from None


def _database(meta: dict, run_dir: Path, database_url: str | None) -> str:
    if meta.get("database") == "postgres":
        url = database_url or os.environ.get("PIONEER_DATABASE_URL")
        if not url:
            raise BadInput("this run checkpoints to Postgres: give --database-url or set PIONEER_DATABASE_URL")
        return url
    return meta.get("database") or str(run_dir / "checkpoints.sqlite")


def _drive(run_dir: Path, meta: dict, payload, quiet: bool, database_url: str | None) -> int:
    """Run (or resume, or answer) the thread to its end or to an approval; ask at a terminal, else exit 3."""
    from graph.context import Context
    from graph.runs import AWAITING_APPROVAL, checkpointer, compiled, config_for, drive, pending_request
    from langgraph.types import Command
    from tools.data import write_json

    ctx = Context(run_dir=str(run_dir), **{ALL_OPTIONS[k][0]: v for k, v in meta["settings"].items() if k in ALL_OPTIONS and v is not None})
    mode = meta.get("mode", "production")
    config = config_for(meta.get("thread", "run"))
    with checkpointer(_database(meta, run_dir, database_url)) as saver:
        g = compiled(saver)
        status = drive(g, payload, config, ctx, None if quiet else _progress_printer(), start={"mode": mode, **meta["inputs"]})
        while status == AWAITING_APPROVAL:
            request = pending_request(g, config)
            _print_request(request, run_dir)
            answer = _ask() if sys.stdin.isatty() and not quiet else None
            if answer is None:
                write_json(run_dir / "run.json", {**meta, "status": AWAITING_APPROVAL})
                print(f"\nwaiting for approval. Answer with:\n  pioneer approve {run_dir}            (promote)\n"
                      f"  pioneer approve {run_dir} --reject   (keep the deployed model)", file=sys.stderr)
                return EXIT_AWAITING_APPROVAL
            status = drive(g, Command(resume=answer), config, ctx, None if quiet else _progress_printer())
    write_json(run_dir / "run.json", {**meta, "status": status})
    return EXIT_OK


def _progress_printer():
    t0, last = time.time(), [0.0]

    def show(chunk: dict) -> None:
        if chunk.get("stage") == "train" and "step" in chunk and chunk.get("step") != chunk.get("total"):
            if time.time() - last[0] < 5:
                return
            last[0] = time.time()
        print(f"[{time.time() - t0:6.0f}s] {chunk.get('stage'):>10}  {chunk.get('message')}", file=sys.stderr, flush=True)

    return show


def _print_request(req: dict, run_dir: Path) -> None:
    g = req["gate"]
    print(f"\n{run_dir}: {req['candidate']} passed the gate and waits for approval", file=sys.stderr)
    from tools.gate import describe

    print(f"  {describe(g)}; held-out failures fixed {g['fixed']}", file=sys.stderr)
    for name, sl in (g.get("slices") or {}).items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sl.items() if not isinstance(v, (dict, list))), file=sys.stderr)
    for ex in req.get("flip_examples", []):
        print(f"  flip: {ex['input'][:70]!r}: {ex['label']} -> {ex['now']}", file=sys.stderr)
    if req.get("error"):
        print(f"  ({req['error']})", file=sys.stderr)


def _ask() -> dict | None:
    try:
        a = input("approve or reject? [approve/reject, empty: decide later] ").strip().lower()
    except EOFError:
        return None
    if a not in ("approve", "reject", "a", "r"):
        return None
    note = input("note (optional): ").strip()
    return {"decision": "approve" if a.startswith("a") else "reject", "note": note, "by": _user()}


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return ""


def _print_result(run_dir: Path) -> None:
    from tools.report import summary_table

    rep = json.loads((run_dir / "report.json").read_text())
    print(f"\n{rep['outcome']}")
    rows = summary_table(rep)
    w = max(len(label) for label, _, _ in rows)
    print(f"{'':{w}} {'deployed':>10} {'promoted':>10}")
    for label, b, f in rows:
        print(f"{label:{w}} {b:>10} {f:>10}")
    g = rep.get("gate") or {}
    if g:
        from tools.gate import describe

        print(f"gate: {describe(g)}")
    ex = rep.get("excluded") or []
    if ex:
        from collections import Counter

        print("excluded: " + ", ".join(f"{k} {v}" for k, v in Counter(f"{e['category']}/{e['reason']}" for e in ex).most_common()))
    if rep.get("memory", {}).get("used"):
        print(f"memory: started from {rep['memory']['strategy']} ({rep['memory']['matches']} similar past patterns)")
    print(f"report: {run_dir / 'report.md'}" + (f"\nmodel:  {rep['model_dir']}" if rep.get("model_dir") else ""))


def cmd_improve(args) -> int:
    settings = resolve(args, RUN_OPTIONS)
    _validate(args.model, args.logs, args.train_data, args.skip_bad_lines)
    inputs = {"model": str(Path(args.model).resolve()), "logs": str(Path(args.logs).resolve()),
              "train_data": str(Path(args.train_data).resolve()) if args.train_data else None,
              "skip_bad_lines": bool(args.skip_bad_lines)}
    code, run_dir = run_production(inputs, settings, args.out, args.quiet, _database_url(args))
    if code == EXIT_OK:
        _print_result(run_dir)
    return code


def cmd_new(args) -> int:
    from tools.data import DataError
    from tools.sources import load_source

    settings = resolve(args, NEW_OPTIONS)
    from tools.scout import hub_status

    hub_ok, hub_note = (False, "") if args.data or settings["catalog"] or settings["chat_model"] else hub_status()
    if not args.data and not settings["catalog"] and not settings["chat_model"] and not hub_ok:
        raise BadInput("no data source for this task: pass --data FILE|DIR with labelled examples (JSONL, CSV, CoNLL, ...), "
                       "or --catalog DIR with datasets that have a card, or --chat-model to synthesize examples; "
                       + hub_note)
    for d in args.data:  # refuse unreadable data before any run folder exists
        try:
            load_source(d)
        except DataError as e:
            raise BadInput(str(e)) from None
    inputs = {"description": args.description, "data": [str(Path(d).resolve()) for d in args.data],
              "labels": args.labels, "kind": args.kind}
    code, run_dir = run_production(inputs, settings, args.out, args.quiet, _database_url(args), mode="cold_start")
    if code == EXIT_OK:
        rep = json.loads((run_dir / "report.json").read_text())
        print(f"\n{rep['outcome']}")
        print(f"report: {run_dir / 'report.md'}" + (f"\nmodel:  {rep['model_dir']}" if rep.get("model_dir") else ""))
    return code


def cmd_demo(args) -> int:
    from tools.demo import build_demo

    settings = resolve(args, RUN_OPTIONS)
    run_dir = Path(args.out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    dep = run_dir / "deployment"
    print("building the demo deployment (a small intent task, a weak deployed model, a day of judged traffic)...", file=sys.stderr)
    info = build_demo(dep, seed=settings["seed"], base=settings["base"] if settings["base"] != "minilm" else None)
    print(f"  {info['logs']} logs, {info['failures']} judged failures ({info['wrong_rate']:.0%} of corrections wrong, "
          f"{info['poison_rate']:.0%} of lines poisoned), {info['test']} held-out test examples", file=sys.stderr)
    inputs = {"model": str((dep / "deployed").resolve()), "logs": str((dep / "logs.jsonl").resolve()),
              "train_data": str((dep / "parent.jsonl").resolve()), "skip_bad_lines": False}
    if settings["home"] is None:
        settings["home"] = str(run_dir / "home")  # the demo keeps its registry and memory to itself
    code, run_dir = run_production(inputs, settings, str(run_dir / "run"), args.quiet, _database_url(args))
    if code == EXIT_OK:
        _print_result(run_dir)
        _print_demo_test(dep, run_dir)
    return code


def _database_url(args) -> str | None:
    return getattr(args, "database_url", None) or os.environ.get("PIONEER_DATABASE_URL") or None


def cmd_bench(args) -> int:
    if args.name == "coldstart":
        from evals.coldstart_bench import main as bench
    elif args.name == "entities":
        from evals.entity_bench import main as bench
    else:
        from evals.adaptft.runner import main as bench

    try:
        return bench(args.rest)
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
                              database_url=_database_url(args), max_body_bytes=args.max_body_bytes, workers=args.workers,
                              home=args.home)
    import uvicorn

    app = create_app(settings)
    print(f"pioneer serve on http://{args.host}:{args.port} (LangServe at /pioneer, runs at /runs, approvals at /approvals); "
          f"data roots: {', '.join(str(r) for r in settings.data_roots)}; "
          f"{'API key required' if key else 'no API key (loopback only)'}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


def cmd_approve(args) -> int:
    from langgraph.types import Command

    run_dir = Path(args.run_dir)
    meta_file = run_dir / "run.json"
    if not meta_file.exists():
        raise BadInput(f"{run_dir}: not a run folder (no run.json)")
    with _holding(run_dir):
        meta = json.loads(meta_file.read_text())
        if meta.get("status") != "awaiting_approval":
            raise BadInput(f"{run_dir}: no approval pending (the run is {meta.get('status')})")
        answer = {"decision": "reject" if args.reject else "approve", "note": args.note or "", "by": args.by or _user()}
        code = _drive(run_dir, meta, Command(resume=answer), args.quiet, _database_url(args))
    if code == EXIT_OK:
        _print_result(run_dir)
    return code


def _print_demo_test(dep: Path, run_dir: Path) -> None:
    """The demo knows the truth: score both models on its held-out test set and the triage on its key."""
    from evals.scorers import test_scores, triage_scores
    from tools.classifier import predict
    from tools.data import read_jsonl

    rep = json.loads((run_dir / "report.json").read_text())
    test = read_jsonl(dep / "test.jsonl")
    x, y = [r["input"] for r in test], [r["output"] for r in test]
    before = predict(dep / "deployed", x)
    line = f"\nheld-out test ({len(y)} examples no log came from): deployed {test_scores(y, before, before)['test_accuracy']:.3f}"
    if rep.get("model_dir"):
        after = test_scores(y, before, predict(rep["model_dir"], x))
        line += f" -> promoted {after['test_accuracy']:.3f}, {after['test_flips']} negative flips"
    print(line)
    key = {k["id"]: k for k in read_jsonl(dep / "key.jsonl")}
    t = triage_scores(key, {e["id"] for e in rep.get("excluded", []) if e["category"] in ("noise", "poison")})
    if t["bad_lines"]:
        print(f"triage against the answer key: {t['bad_excluded']} of {t['bad_lines']} noisy or poisoned lines excluded, "
              f"{t['clean_excluded']} clean lines excluded by mistake")


# ---------------------------------------------------------------- model utilities


def _read_inputs(path: str) -> list[dict]:
    from tools.data import DataError, _objects

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
        if not isinstance(obj.get("input"), str):
            raise BadInput(f"{p}:{n}: missing field 'input' (a string)")
        out.append({k: obj[k] for k in ("id", "input") if k in obj})
    return out


def cmd_predict(args) -> int:
    from agents.data_scout import check_model
    from tools.data import DataError
    from tools.predict import model_task, predict

    try:
        check_model(args.model, model_task(args.model) if Path(args.model, "config.json").exists() else "classification")
    except DataError as e:
        raise BadInput(str(e)) from None
    rows = _read_inputs(args.input)
    out = Path(args.output) if args.output else None
    if out and not out.parent.is_dir():
        raise BadInput(f"--output {out}: no folder {out.parent} to write into")
    if out and out.is_dir():
        raise BadInput(f"--output {out}: is a folder, expected a file name")
    preds = [{**r, "prediction": p} for r, p in zip(rows, predict(args.model, [r["input"] for r in rows]))]
    if out:
        from tools.data import write_jsonl

        write_jsonl(out, preds)  # whole or not at all
    else:
        print("\n".join(json.dumps(r, ensure_ascii=False) for r in preds))
    return EXIT_OK


def cmd_eval(args) -> int:
    from agents.data_scout import check_model
    from tools.data import DataError, load_examples
    from tools.predict import metrics, model_task, predict

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
    from tools.registry import Registry, RegistryError

    try:
        reg = Registry(args.name, Path(args.home) / "registry" if args.home else None)
        v = reg.rollback(args.to)
    except RegistryError as e:
        raise BadInput(str(e)) from None
    print(f"{args.name}: current is now {v} ({reg.path(v)})")
    return EXIT_OK


def cmd_registry(args) -> int:
    from tools.registry import Registry, RegistryError

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


if __name__ == "__main__":
    sys.exit(main())
