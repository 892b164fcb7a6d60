"""Lazy package exports: names resolved on first access, so importing a package
(e.g. to read an algorithm's ``spec.py`` while parsing a config) does not import
torch or RLlib."""

from __future__ import annotations

import importlib
from typing import Callable, Dict


def lazy_getattr(exports: Dict[str, str]) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for ``{name: module path}``."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(name)

    return __getattr__
