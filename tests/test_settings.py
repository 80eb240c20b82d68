"""The Context is the one spelling of every setting: each field a mode takes can be set by its command-line
option, its PIONEER_* variable and a --config key, and (but the two the server owns) by the HTTP server."""

from __future__ import annotations

import json

import pytest

from graph.context import FIELDS, MODES, flag_of, kind_of, settable


def _other_value(name: str):
    """A valid value of the field that is not its default."""
    f, typ = FIELDS[name], kind_of(name)
    meta = f.metadata
    if typ is bool:
        return not f.default
    if "choices" in meta:
        return next((c for c in meta["choices"] if c != f.default), f.default)  # a single choice: the default itself
    if typ is int:
        return min(f.default + 1, meta.get("max", f.default + 1))
    if typ is float:
        lo, hi = meta.get("min", 0.0), meta["max"] if "max" in meta else f.default * 2 + 1
        return round((lo + hi) / 2, 6) if (lo + hi) / 2 != f.default else round((lo + f.default) / 2, 6)
    if meta.get("url"):
        return "http://127.0.0.1:9/v1"
    return "entry-one" if meta.get("name") else "some-value"


def _text(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


@pytest.mark.parametrize("mode", MODES)
def test_every_setting_of_a_mode_is_an_option_a_variable_and_a_config_key(mode, tmp_path, monkeypatch):
    from graph.cli import parser
    from graph.cli.options import resolve

    cmd = {"production": ["improve", "--model", "m", "--logs", "l"], "cold_start": ["new", "a task"]}[mode]
    names = settable(mode)
    assert names, mode
    for name in names:
        want = _other_value(name)
        opt = "--" + flag_of(name).replace("_", "-")
        argv = [*cmd, opt] if kind_of(name) is bool and want else [*cmd, "--no-" + opt[2:]] if kind_of(name) is bool else [*cmd, opt, _text(want)]
        args = parser().parse_args(argv)
        assert resolve(args, mode)[name] == want, (name, "flag")

        monkeypatch.setenv(f"PIONEER_{flag_of(name).upper()}", _text(want))
        assert resolve(parser().parse_args(cmd), mode)[name] == want, (name, "environment")
        monkeypatch.delenv(f"PIONEER_{flag_of(name).upper()}")

        cfg = tmp_path / f"{name}.json"
        cfg.write_text(json.dumps({name: want}))
        assert resolve(parser().parse_args([*cmd, "--config", str(cfg)]), mode)[name] == want, (name, "config")
        assert resolve(parser().parse_args(cmd), mode)[name] == FIELDS[name].default, (name, "default")


def test_every_setting_reaches_some_way_in():
    """No field is left without a way in: each is an option of some mode or a server setting (run_dir is --out)."""
    from graph.requests import OWNED_BY_SERVER, check_settings

    on_cli = {n for m in MODES for n in settable(m)}
    assert set(FIELDS) - on_cli == {"run_dir"}
    served = {n: _other_value(n) for n in FIELDS if n not in OWNED_BY_SERVER}
    assert check_settings(served) == served


def test_an_unknown_option_or_a_setting_of_the_other_mode_is_refused(capsys):
    from graph.cli import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["new", "a task", "--max-flips", "3"])  # the gate is production's
    with pytest.raises(SystemExit):
        parser().parse_args(["improve", "--model", "m", "--logs", "l", "--target", "0.5"])  # cold start's
    assert "--target" in capsys.readouterr().err
