"""What an HTTP request may ask, checked: a run's inputs of either mode (every path under the data roots) and
its settings (Context fields but those the server owns). PathNotAllowed is the server's 403, BadInput and
other ValueErrors its 400."""

from __future__ import annotations

from pathlib import Path

from graph.context import COLD_START, FIELDS, PRODUCTION, settable
from graph.service import BadInput, check_cold_start, check_production
from tools.store.paths import PathNotAllowed, under_roots

PATH_FIELDS = ("model", "logs", "train_data")  # production inputs that name a file or folder
LIST_PATH_FIELDS = ("data",)  # cold start: the user's data files or folders
PATH_SETTINGS = ("catalog",)  # settings that name a folder
# where runs write, and where their data and models may be sent: a request naming a tracking server (a file: URI is
# a folder anywhere) or a Ray cluster could write or ship them elsewhere; the server's own environment sets those
OWNED_BY_SERVER = ("run_dir", "home", "tracking_uri", "ray_address")


def check_settings(settings) -> dict:
    """Run settings from a request: Context fields (not those the server owns: OWNED_BY_SERVER), each of its
    type and within its limits; SettingError (a ValueError) naming the setting otherwise."""
    from graph.context import check_settings as check

    return check(settings, allowed=set(FIELDS) - set(OWNED_BY_SERVER))


FIELDS_OF = {PRODUCTION: {"model", "logs", "train_data", "skip_bad_lines"}, COLD_START: {"description", "data", "labels", "kind"}}


def resolve_input_paths(inputs: dict, roots: list[Path]) -> dict:
    """Graph inputs with their paths (`model`, `logs`, `train_data`, each of `data`) resolved under `roots`."""
    out = dict(inputs)
    for k in PATH_FIELDS:
        if out.get(k) is not None:
            out[k] = str(under_roots(out[k], roots))
    for k in LIST_PATH_FIELDS:
        if out.get(k) is not None:
            if not isinstance(out[k], list):
                raise PathNotAllowed(f"{k}: expected a list of paths, not {type(out[k]).__name__}")
            out[k] = [str(under_roots(v, roots)) for v in out[k]]
    return out


def run_settings(raw: dict, roots: list[Path]) -> dict:
    """Checked run settings; a base model given as a path, and the catalog, must lie under the data roots too."""
    out = check_settings(raw)
    base = out.get("base_model")
    if base and base not in ("minilm", "smollm2"):  # the embedded defaults are names, anything else a path
        out["base_model"] = str(under_roots(base, roots))  # PathNotAllowed is a ValueError
    for k in PATH_SETTINGS:
        if out.get(k):
            out[k] = str(under_roots(out[k], roots))
    return out


def run_request(body: dict, roots: list[Path]) -> tuple[str, dict, dict]:
    """A POST /runs body as (mode, inputs, settings), checked as the CLI checks its commands:
    production {model, logs, train_data?, skip_bad_lines?, settings?}, or
    {"mode": "cold_start", description, data?, labels?, kind?, settings?}."""
    mode = body.get("mode", PRODUCTION)
    if mode not in FIELDS_OF:
        raise BadInput(f"mode {mode!r} is not one of {', '.join(FIELDS_OF)}")
    unknown = set(body) - FIELDS_OF[mode] - {"mode", "settings"}
    if unknown:
        raise BadInput(f"unknown fields for a {mode} run: {', '.join(sorted(unknown))}")
    if mode == PRODUCTION:
        for k in ("model", "logs"):
            if body.get(k) is None:
                raise BadInput(f"missing field {k!r}")
        inputs = {"model": body["model"], "logs": body["logs"], "train_data": body.get("train_data"),
                  "skip_bad_lines": bool(body.get("skip_bad_lines", False))}
    else:
        inputs = {"description": body.get("description"), "data": body.get("data") or [], "labels": body.get("labels"), "kind": body.get("kind")}
    inputs = resolve_input_paths(inputs, roots)
    raw = body.get("settings") or {}
    other = sorted(set(raw) & set(FIELDS) - set(settable(mode)) - set(OWNED_BY_SERVER)) if isinstance(raw, dict) else []
    if other:
        raise BadInput(f"setting(s) {', '.join(other)} are not taken by a {mode} run (it takes: {', '.join(settable(mode))})")
    settings = run_settings(raw, roots)
    if mode == PRODUCTION:
        check_production(inputs)
    else:
        check_cold_start(inputs, settings)
    return mode, inputs, settings
