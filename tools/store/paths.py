"""Keeping names and paths that users and clients give inside the folders they belong to: request paths
under the data roots a server was told it may read, registry names, versions and thread ids as plain names
(never a path), run folders under their root."""

from __future__ import annotations

import re
from pathlib import Path


class PathNotAllowed(ValueError):
    pass


class BadName(ValueError):
    pass


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_name(name: object, what: str) -> str:
    """`name` when it is a plain name (no separator, no '..', nothing a path could be made of), else BadName."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise BadName(f"{what} {name!r} is not a valid name ({NAME_RULE})")
    return name


def as_name(text: str, fallback: str = "model") -> str:
    """A valid name made from `text` (a folder's name, say): other characters become '-'."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:100].replace("..", ".")
    return out or fallback


def folder_name(key: str) -> str:
    """A folder name for any key (a thread id, say): the key itself when it is a valid name, else a valid name
    made from it plus a short hash of it, so that two keys never share a folder and none leads out of it."""
    import hashlib

    try:
        return check_name(key, "key")
    except BadName:
        return f"{as_name(key, 'thread')[:80]}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def under_roots(path: str, roots: list[Path]) -> Path:
    """`path` resolved (symlinks followed, `..` removed), or PathNotAllowed when it lies outside every root.
    A relative path is taken relative to the first root."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise PathNotAllowed(f"not a path: {path!r}")
    if not roots:
        raise PathNotAllowed("no data roots are configured")
    p = Path(path)
    real = (p if p.is_absolute() else roots[0] / p).resolve()
    for root in roots:
        if real.is_relative_to(root.resolve()):
            return real
    raise PathNotAllowed(f"{path}: outside the data roots ({', '.join(str(r) for r in roots)})")


def child(root: str | Path, name: str, what: str) -> Path:
    """`root/name` for a valid `name`, checked once more to lie inside `root` after resolving links."""
    root = Path(root).resolve()
    p = (root / check_name(name, what)).resolve()
    if not p.is_relative_to(root) or p == root:
        raise BadName(f"{what} {name!r} leads outside {root}")
    return p
