"""Run settings on the command line, derived from the Context's fields: one option per field a mode takes
(`--max-flips` for `max_flips`, or the field's `flag`: `--base` for `base_model`), its help and default from the
field. A value comes from the command line, then `PIONEER_<OPTION>` (or `PIONEER_<FIELD>`), then `--config`
(keys: field names or options with underscores), then the Context's default; each is checked against its field."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from graph.context import FIELDS, SettingError, check_value, field_for, flag_of, kind_of, parse_value, settable
from graph.service import BadInput


def _typed(name: str):
    """An argparse type that parses and checks the field's value (type, range, name)."""

    def parse(raw: str):
        try:
            return parse_value(name, raw)
        except SettingError as e:
            raise argparse.ArgumentTypeError(str(e).replace("setting ", "", 1)) from None

    parse.__name__ = flag_of(name)  # argparse names the option's type in its message
    return parse


def add_run_options(p: argparse.ArgumentParser, mode: str) -> None:
    """The options of every setting that `mode` takes, and the run options that are no setting."""
    for name in settable(mode):
        f, opt = FIELDS[name], "--" + flag_of(name).replace("_", "-")
        help_ = f.metadata["description"].rstrip(".")
        if kind_of(name) is bool:  # --x / --no-x; unset (None) lets the environment and the config file speak
            p.add_argument(opt, dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{help_} (default: {'on' if f.default else 'off'})")
            continue
        shown = "none" if f.default is None else f.default
        p.add_argument(opt, dest=name, type=_typed(name), default=None, metavar=flag_of(name).upper(),
                       help=help_ if "(default" in help_ or "Default" in help_ else f"{help_} (default: {shown})")
    p.add_argument("--database-url", help="checkpoint database: a postgres:// URL (default: $PIONEER_DATABASE_URL, "
                                          "else checkpoints.sqlite in the run folder)")
    p.add_argument("--config", help="JSON file of settings (keys: setting names, or the long options with underscores)")
    p.add_argument("--quiet", action="store_true", help="print only the result")


def int_in(lo: int, hi: int):
    """An argparse type: an integer from `lo` to `hi`."""

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


def _env(name: str) -> tuple[str, str] | None:
    """The environment variable that sets `name`, and its text: PIONEER_<OPTION>, else PIONEER_<FIELD>, else the
    other tool's own variable the setting names (`RAY_ADDRESS`, `MLFLOW_TRACKING_URI`)."""
    for var in dict.fromkeys((f"PIONEER_{flag_of(name).upper()}", f"PIONEER_{name.upper()}", FIELDS[name].metadata.get("env"))):
        if var is None:
            continue
        if os.environ.get(var, "") != "":
            return var, os.environ[var]
    return None


def resolve(args: argparse.Namespace, mode: str) -> dict:
    """Every setting `mode` takes, by field name: command line, then environment, then --config, then the
    default; a --config key that is no setting of this command is an error."""
    names = settable(mode)
    cfg = {}
    if getattr(args, "config", None):
        try:
            cfg = json.loads(Path(args.config).read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadInput(f"{args.config}: cannot read settings ({e})") from None
        if not isinstance(cfg, dict):
            raise BadInput(f"{args.config}: settings must be a JSON object of setting: value")
        cfg = {field_for(k): v for k, v in cfg.items()}
        unknown = sorted(set(cfg) - set(names))
        if unknown:
            raise BadInput(f"{args.config}: unknown setting(s) {', '.join(map(repr, unknown))} for pioneer {args.cmd} "
                           f"(known: {', '.join(names)})")
    out = {}
    try:
        for name in names:
            v = getattr(args, name, None)
            env = _env(name) if v is None else None
            if env:
                v = parse_value(name, env[1], f"{env[0]}: ")
            if v is None and name in cfg:
                v = check_value(name, cfg[name], f"{args.config}: ")
            out[name] = FIELDS[name].default if v is None else v
    except SettingError as e:
        raise BadInput(str(e)) from None
    return out
