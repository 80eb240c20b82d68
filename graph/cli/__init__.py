"""The `pioneer` command: the parser (run settings derived from the Context, `graph/cli/options.py`), the
dispatch to the commands (`run_cmds.py`: improve, new, demo, approve, serve, bench; `model_cmds.py`: predict,
eval, rollback, registry), and the contract's exit statuses (0 done, 1 internal error, 2 bad input, 3 waiting
for approval). Runs go through the run service (`graph/service.py`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from graph.context import COLD_START, PRODUCTION
from graph.service import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, BadInput, known_kinds, setup_env

__all__ = ["main", "parser", "BadInput"]

RESUMES = "run folder (default: runs/<timestamp>; an unfinished run of the same inputs is resumed)"
HOME = "pioneer home (default: $PIONEER_HOME or ~/.pioneer)"


def parser() -> argparse.ArgumentParser:
    from graph.cli.options import add_run_options, int_in

    ap = argparse.ArgumentParser(prog="pioneer", description="Keep small language models good at their job.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("improve", help="production mode: improve a deployed model from its judged logs")
    p.add_argument("--model", required=True, help="deployed model folder (transformers, with id2label)")
    p.add_argument("--logs", required=True, help="inference logs, JSONL")
    p.add_argument("--train-data", help="the deployed model's training data (JSONL or CSV), for replay (default: the parent_data.jsonl that a model pioneer promoted carries, else none)")
    p.add_argument("--out", help=RESUMES)
    p.add_argument("--skip-bad-lines", action="store_true", help="skip invalid log lines (counted in the report) instead of refusing to start")
    add_run_options(p, PRODUCTION)

    p = sub.add_parser("new", help="cold-start mode: from a task description (and any data) to a trained model")
    p.add_argument("description", help='the task in a sentence, e.g. "classify banking customer questions by intent"')
    p.add_argument("--data", nargs="+", default=[], help="your data: files or folders (JSONL, CSV, CoNLL columns, seq.in + label, label-first lines)")
    p.add_argument("--labels", nargs="+", help="the label set (default: the labels found in the data)")
    p.add_argument("--kind", choices=known_kinds(), help="the task kind (default: from the data, else the description)")
    p.add_argument("--out", help=RESUMES)
    add_run_options(p, COLD_START)

    p = sub.add_parser("demo", help="the main job on the embedded defaults: build a small deployment, improve it, print the report")
    p.add_argument("--out", help="run folder (default: runs/demo-<timestamp>)")
    add_run_options(p, PRODUCTION)

    p = sub.add_parser("approve", help="answer a run that waits for approval before promotion (--require-approval)")
    p.add_argument("run_dir", help="the run folder")
    p.add_argument("--reject", action="store_true", help="keep the deployed model (default: approve the promotion)")
    p.add_argument("--note", help="why, kept in the report")
    p.add_argument("--by", help="who decides (default: the user name)")
    p.add_argument("--database-url", help="the run's Postgres URL, when it checkpoints there (default: $PIONEER_DATABASE_URL)")
    p.add_argument("--quiet", action="store_true", help="print only the result")

    p = sub.add_parser("serve", help="the HTTP endpoint: LangServe routes under /pioneer, background runs, approvals")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int_in(1, 65535), default=8000, help="port (default: 8000)")
    p.add_argument("--data-root", action="append", help="a folder whose files requests may name (repeat; default: "
                                                       "$PIONEER_DATA_ROOTS, else the current folder)")
    p.add_argument("--state-dir", default="runs/server", help="run folders and checkpoints (default: runs/server)")
    p.add_argument("--database-url", help="Postgres URL for checkpoints (default: $PIONEER_DATABASE_URL, else SQLite in --state-dir)")
    p.add_argument("--home", help=HOME + " for the registry and memory")
    p.add_argument("--workers", type=int_in(1, 64), default=2, help="runs trained at the same time (default: 2)")
    p.add_argument("--max-body-bytes", type=int_in(1024, 1 << 30), default=1_000_000, help="largest request body (default: 1000000)")
    p.add_argument("--no-auth", action="store_true", help="serve without an API key; only on a loopback address")

    p = sub.add_parser("bench", help="benchmarks: `pioneer bench adaptft --help`, `pioneer bench coldstart --help`, "
                                     "`pioneer bench entities --help`, `pioneer bench production --help`")
    p.add_argument("name", help="the benchmark (adaptft, coldstart, entities, production)")
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
    p.add_argument("--home", help=HOME)
    p.add_argument("--tracking-uri", help="MLflow server whose 'champion' alias follows (default: $MLFLOW_TRACKING_URI)")

    p = sub.add_parser("registry", help="list a registry entry's versions")
    p.add_argument("--name", required=True)
    p.add_argument("--home", help=HOME)
    return ap


def main(argv: list[str] | None = None) -> int:
    from graph.cli import model_cmds, run_cmds

    args = parser().parse_args(argv)
    setup_env()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    commands = {"improve": run_cmds.cmd_improve, "new": run_cmds.cmd_new, "demo": run_cmds.cmd_demo, "approve": run_cmds.cmd_approve,
                "serve": run_cmds.cmd_serve, "bench": run_cmds.cmd_bench, "predict": model_cmds.cmd_predict,
                "eval": model_cmds.cmd_eval, "rollback": model_cmds.cmd_rollback, "registry": model_cmds.cmd_registry}
    try:
        code = commands[args.cmd](args)
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
        from tools.coldstart.taskspec import TaskError
        from tools.store.data import DataError

        if isinstance(e, (DataError, TaskError)):  # bad input found inside a run (cold start's data scout)
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        import traceback

        traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e}\nthe run folder is kept; the same command resumes it", file=sys.stderr)
        return EXIT_INTERNAL
