"""Run settings: one typed dataclass, passed to the graph as `context=` (Studio renders it as a form).

The Context is the one spelling of every setting. Each field says its type by its default, and in its
metadata its help (`description`), its limits (`min`, `max`, `choices`, `name`, `url`, `nonempty`), its `type`
where the default is None, the modes
that take it (`modes`: production, cold_start) and, where today's command-line option is spelled otherwise,
that `flag` (`base_model` is `--base`), and `env`, a variable of another tool it also reads (`RAY_ADDRESS`). The
CLI's options, `PIONEER_*` variables, `--config` keys and the HTTP server's settings are all derived from these
fields, so a new setting is one field here. A Context is checked
when it is made, whichever way it came in, so a bad value stops a run before it starts, naming the setting.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Annotated, Any

from tools.backends.base import names as backend_names
from tools.gate import POLICIES


class SettingError(ValueError):
    pass


PRODUCTION, COLD_START = "production", "cold_start"
MODES = (PRODUCTION, COLD_START)


def _f(default, description: str, modes: tuple[str, ...] = MODES, **meta) -> Any:
    """A setting: its default, its help, the modes that take it, and its limits (and `flag`, `cli`) in `meta`."""
    return field(default=default, metadata={"description": description, "modes": modes, **meta})


P = (PRODUCTION,)  # production only


@dataclass(kw_only=True)
class Context:
    run_dir: str = _f("", "Run folder: work files, candidates, report. Empty: runs/<thread id>.", cli=False)  # the CLI's --out
    base_model: str = _f("minilm", "Model every retrain starts from (never the deployed checkpoint). 'minilm' is each kind's embedded "
                                   "default: all-MiniLM-L6-v2 for labels and entities, SmolLM2-135M-Instruct ('smollm2') for generation.",
                         nonempty=True, flag="base")
    chat_model: Annotated[str | None, {"__template_metadata__": {"kind": "llm"}}] = _f(
        None, "Chat model for the agents, e.g. 'openai:gpt-4.1-mini'. None: deterministic methods only.")
    chat_base_url: str | None = _f(None, "OpenAI-compatible endpoint serving `chat_model`.", url=True)
    gate: str = _f("churn", "Regression gate: 'churn' tells churn from regression (max_flips on stable passes, flips not above "
                             "expected churn, fixes significantly above flips); 'absolute' counts every flip against max_flips.",
                   P, choices=tuple(POLICIES))
    gate_alpha: float = _f(0.05, "Regression gate ('churn'): level of its one-sided tests.", P, min=0.0001, max=0.5)
    max_flips: int = _f(2, "Regression gate: most negative flips allowed (on stable passes; 'absolute': on all).", P, min=0)
    min_fixed: float = _f(0.5, "Regression gate ('absolute'): least share of held-out failures fixed.", P, min=0.0, max=1.0)
    label_tolerance: float = _f(0.15, "Regression gate: largest per-label recall drop allowed.", P, min=0.0, max=1.0)
    max_iterations: int = _f(3, "Training iterations at most (two or more configurations each).", min=1, max=100)
    budget_minutes: float = _f(15.0, "Stop iterating when this much time has passed.", min=0.1, max=7 * 24 * 60)
    regression_size: int = _f(600, "Passed logs held out as the regression set (at most).", P, min=1)
    holdout_failures: float = _f(0.15, "Share of fixable failures held out to measure generalisation (at least 12, at most half, for the net-gain rule).", P, min=0.0, max=0.9)
    epochs: int = _f(3, "Production: epochs of the warm starts from the deployed model (the first configurations).", P, min=1, max=1000)
    learning_rate: float = _f(1e-4, "Production: learning rate of the gentle warm start (the bold one doubles it).", P, min=1e-8, max=1.0)
    registry_name: str | None = _f(None, "Registry entry to promote into (default: from the deployed model; cold start: from the data's name).",
                                 name=True, flag="name")
    home: str | None = _f(None, "Pioneer home (registry, memory). Default $PIONEER_HOME or ~/.pioneer.")
    require_approval: bool = _f(False, "Pause before promotion until a person approves (interrupt; resume with 'approve' or 'reject').", P)
    use_memory: bool = _f(True, "Look up and record failure patterns in the long-term memory.")
    target: float | None = _f(None, "Cold start: the development score at which the search may stop (once an iteration gains little). "
                                    "None: set by the baseline survey (a linear probe on frozen embeddings; the paper's 0.96 for "
                                    "kinds with no probe).", (COLD_START,), min=0.0, max=1.0, type=float)
    catalog: str | None = _f(None, "Cold start: a folder of datasets (one sub-folder each, with a card) the data scout may use.", (COLD_START,))
    backend: str = _f("local", "Where candidates train: 'local' trains them in this process, one after another; 'ray' trains an "
                               "iteration's candidates side by side as Ray tasks (the run folder on storage the workers share).",
                      choices=tuple(backend_names()))
    ray_address: str | None = _f(None, "Ray cluster to train on with --backend ray (host:port, or 'auto'). None: $RAY_ADDRESS, else "
                                       "a Ray started for the run.", env="RAY_ADDRESS")
    tracking_uri: str | None = _f(None, "MLflow tracking server: each run logs its settings, curves, gate figures and report there, "
                                        "and each promotion registers a model version (alias 'champion'). None: $MLFLOW_TRACKING_URI, "
                                        "else no tracking.", env="MLFLOW_TRACKING_URI")
    seed: int = _f(0, "Random seed.", min=0, max=2**32 - 1)

    def __post_init__(self) -> None:
        for f in fields(self):
            check_value(f.name, getattr(self, f.name))


FIELDS = {f.name: f for f in fields(Context)}


def flag_of(name: str) -> str:
    """The command-line spelling of a setting (`--<flag>` with dashes, `PIONEER_<FLAG>`): its `flag`, else its name."""
    return FIELDS[name].metadata.get("flag", name)


ALIASES = {flag_of(n): n for n in FIELDS if flag_of(n) != n}  # today's option names that differ from the field's


def field_for(key: str) -> str:
    """The field a settings key names: a field's name, or its flag (`base` is `base_model`); unknown keys unchanged."""
    return ALIASES.get(key, key)


def settable(mode: str) -> list[str]:
    """The fields a run of `mode` takes from the command line, the environment and a config file, in field order."""
    return [n for n, f in FIELDS.items() if f.metadata.get("cli", True) and mode in f.metadata["modes"]]


def kind_of(name: str) -> type:
    """The Python type a setting takes: its `type`, else its default's, or str where the default is None."""
    if "type" in FIELDS[name].metadata:
        return FIELDS[name].metadata["type"]
    d = FIELDS[name].default
    return str if d is None or d is MISSING else type(d)


def check_value(name: str, value: Any, where: str = "") -> Any:
    """`value` when it is a valid `name` setting, else SettingError naming it, its limits and `where` it came from."""
    from tools.store.paths import BadName, check_name

    if name not in FIELDS:
        raise SettingError(f"{where}unknown setting {name!r} (known: {', '.join(FIELDS)})")
    f, typ, label = FIELDS[name], kind_of(name), f"{where}setting {name!r}"
    meta = f.metadata
    if value is None:
        if f.default is None:
            return None
        raise SettingError(f"{label}: expected {typ.__name__}, got None")
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, str) and "\x00" not in value
    if not ok:
        raise SettingError(f"{label}: expected {'a finite number' if typ is float else typ.__name__}, got {value!r}")
    if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
        lo, hi = meta.get("min"), meta.get("max")
        span = f"from {lo} to {hi}" if lo is not None and hi is not None else f"at least {lo}" if lo is not None else f"at most {hi}"
        raise SettingError(f"{label}: {value!r} is out of range (allowed: {span})")
    if "choices" in meta and value not in meta["choices"]:
        raise SettingError(f"{label}: {value!r} is not one of {', '.join(meta['choices'])}")
    if meta.get("nonempty") and not value.strip():
        raise SettingError(f"{label}: must not be empty")
    if meta.get("url") and not value.startswith(("http://", "https://")):
        raise SettingError(f"{label}: {value!r} is not an http(s) URL")
    if meta.get("name"):
        try:
            check_name(value, "registry name")
        except BadName as e:
            raise SettingError(f"{label}: {e}") from None
    return value


def parse_value(name: str, raw: str, where: str = "") -> Any:
    """A setting from text (a flag, an environment variable), typed and checked."""
    typ = kind_of(name)
    if typ is bool:
        low = raw.strip().lower()
        if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise SettingError(f"{where}setting {name!r}: expected true or false, not {raw!r}")
        return check_value(name, low in ("1", "true", "yes", "on"), where)
    if typ in (int, float):
        try:
            value = typ(raw.strip())
        except ValueError:
            raise SettingError(f"{where}setting {name!r}: expected {'an integer' if typ is int else 'a number'}, not {raw!r}") from None
        return check_value(name, value, where)
    return check_value(name, raw, where)


def check_settings(raw: Any, allowed: set[str] | None = None, where: str = "") -> dict:
    """A mapping of settings, every key a Context field (within `allowed` when given) and every value valid."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingError(f"{where}settings must be an object of name: value, not {type(raw).__name__}")
    for k, v in raw.items():
        if allowed is not None and k not in allowed and k in FIELDS:
            raise SettingError(f"{where}setting {k!r} is not accepted here: the server chooses it")
        check_value(k, v, where)
    return dict(raw)
