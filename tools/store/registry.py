"""Model registry: numbered versions that are never overwritten, a `current` pointer, rollback.

Layout under `<home>/registry/<name>/`: `versions/vNNNN/` (a plain transformers model folder plus
`pioneer.json` and the version's evaluation set), `current` (the promoted version's name) and
`history.jsonl`. Every write goes to a temporary path first and is renamed into place, so a crash
leaves either the old state or the new one, never half of a model. Writers hold the entry's lock
(`lock()`), so two runs promoting into one name take turns; a promotion carries the id of the run that
made it, so a run resumed after a crash finds its version instead of adding a second one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from tools.store.locks import file_lock
from tools.store.paths import BadName, check_name

VERSION = re.compile(r"v\d{4,}")


class RegistryError(RuntimeError):
    pass


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors")


def weights_hash(model_dir: str | Path) -> str | None:
    """SHA-256 of a model folder's weight files (None when it has none)."""
    import hashlib

    h, found = hashlib.sha256(), False
    for name in WEIGHT_FILES:
        f = Path(model_dir) / name
        if f.is_file():
            found = True
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest() if found else None


def home() -> Path:
    return Path(os.environ.get("PIONEER_HOME") or Path.home() / ".pioneer")


class Registry:
    def __init__(self, name: str, root: str | Path | None = None):
        try:
            self.name = check_name(name, "registry name")
        except BadName as e:
            raise RegistryError(str(e)) from None
        self.root = Path(root or home() / "registry") / name  # made on the first write, not by reading

    @contextmanager
    def lock(self, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """The entry's write lock: promotions, baselines and rollbacks into one name happen one at a time."""
        with file_lock(self.root / ".lock", on_wait=on_wait):
            yield

    def versions(self) -> list[str]:
        d = self.root / "versions"
        return sorted(p.name for p in d.iterdir() if p.is_dir() and VERSION.fullmatch(p.name)) if d.is_dir() else []

    def version_of(self, model_dir: str | Path) -> str | None:
        """The version whose weights are byte for byte those of `model_dir`, if any (so a run knows whether
        the model it improves is a version of this entry, whatever its folder is called)."""
        h = weights_hash(model_dir)
        for v in self.versions():
            stored = self.meta(v).get("weights_sha256") or weights_hash(self.path(v))
            if h is not None and stored == h:
                return v
        return None

    def promoted_by(self, promotion_id: str) -> str | None:
        """The version that the promotion `promotion_id` made, if it was made (a resumed run's own)."""
        for v in self.versions():
            if self.meta(v).get("promotion_id") == promotion_id:
                return v
        return None

    def current(self) -> str | None:
        p = self.root / "current"
        return p.read_text().strip() or None if p.exists() else None

    def path(self, version: str) -> Path:
        if not isinstance(version, str) or not VERSION.fullmatch(version):
            raise RegistryError(f"{version!r} is not a version name (v0000, v0001, ...)")
        p = self.root / "versions" / version
        if not p.is_dir():
            raise RegistryError(f"{self.name} has no version {version} (have: {', '.join(self.versions()) or 'none'})")
        return p

    def meta(self, version: str) -> dict:
        p = self.path(version) / "pioneer.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def eval_set(self, version: str) -> list[dict]:
        p = self.path(version) / "eval_set.jsonl"
        return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []

    def register_baseline(self, model_dir: str | Path, meta: dict) -> str | None:
        """Keep the model deployed before the first promotion as v0000, so a rollback can return to it.
        Does nothing once the entry has any version. Call it holding `lock()`, as `promote`."""
        if self.versions():
            return None
        (self.root / "versions").mkdir(parents=True, exist_ok=True)
        self._copy_in(model_dir, "v0000", {**meta, "baseline": True})
        self._set_current("v0000", "baseline")
        return "v0000"

    def promote(self, model_dir: str | Path, meta: dict, eval_rows: list[dict]) -> str:
        """Copy `model_dir` in as a new version and point `current` at it; returns the version name."""
        (self.root / "versions").mkdir(parents=True, exist_ok=True)
        nums = [int(v[1:]) for v in self.versions()]
        version = f"v{(max(nums) + 1) if nums else 1:04d}"
        self._copy_in(model_dir, version, meta, eval_rows)
        self._set_current(version, "promote")
        return version

    def _copy_in(self, model_dir: str | Path, version: str, meta: dict, eval_rows: list[dict] = ()) -> None:
        final = self.root / "versions" / version
        tmp = self.root / "versions" / f"{version}.{os.getpid()}.tmp"
        for old in (self.root / "versions").glob("*.tmp"):  # a crashed copy's leftovers (we hold the lock)
            shutil.rmtree(old, ignore_errors=True)
        try:
            shutil.copytree(model_dir, tmp, ignore=shutil.ignore_patterns("eval_set.jsonl"))
            info = {**meta, "name": self.name, "version": version, "parent_version": self.current(),
                    "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "weights_sha256": weights_hash(tmp)}
            (tmp / "pioneer.json").write_text(json.dumps(info, indent=2, default=str))
            with (tmp / "eval_set.jsonl").open("w") as fh:
                for row in eval_rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            tmp.rename(final)  # atomic; fails rather than overwrite if `final` somehow exists
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def export(self, version: str, dest: str | Path) -> Path:
        """Copy a version's model to `dest` (a run folder's `model/`), whole or not at all."""
        dest = Path(dest)
        tmp = dest.with_name(dest.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.path(version), tmp, ignore=shutil.ignore_patterns("eval_set.jsonl"))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return dest

    def rollback(self, to: str | None = None) -> str:
        """Point `current` at `to`, or at the version promoted before the current one."""
        if not self.versions():
            raise RegistryError(f"no registry entry {self.name!r} with versions under {self.root.parent}")
        with self.lock():
            return self._rollback(to)

    def _rollback(self, to: str | None) -> str:
        cur = self.current()
        if to is None:
            if cur is None:
                raise RegistryError(f"{self.name} has no promoted version to roll back from")
            parent = self.meta(cur).get("parent_version")
            if not parent:
                raise RegistryError(f"{self.name} {cur} is the first version; nothing earlier to roll back to")
            to = parent
        self.path(to)  # a version name of this entry, never a path
        self._set_current(to, "rollback")
        return to

    def _set_current(self, version: str, event: str) -> None:
        tmp = self.root / f"current.{os.getpid()}.tmp"
        tmp.write_text(version + "\n")
        os.replace(tmp, self.root / "current")
        with (self.root / "history.jsonl").open("a") as fh:
            fh.write(json.dumps({"event": event, "version": version, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
