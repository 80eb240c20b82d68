"""Keeping request paths inside the folders a server was told it may read."""

from __future__ import annotations

from pathlib import Path


class PathNotAllowed(ValueError):
    pass


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
