"""Late imports: names resolved on first use, so importing a package (e.g. to
read an algorithm's ``spec.py`` while parsing a config) does not import torch or
RLlib."""

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


def deferred(path: str) -> Callable[..., object]:
    """A callable for ``"package.module:name"`` that imports the module on its first
    call and forwards the call (e.g. a config class an ``AlgorithmSpec`` builds)."""
    module, name = path.split(":")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__qualname__ = call.__name__ = name
    return call
