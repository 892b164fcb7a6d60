"""Strict parsing of nested dataclasses from YAML data, and the checks on single values.

``parse(cls, data, path)`` turns plain dicts/lists into dataclass instances and
raises :class:`ConfigError` naming the key path and what is allowed on the
first unknown key, wrong type or value outside a field's ``choices`` or bounds.

A field's allowed values are declared once, as metadata (:func:`choices`,
:func:`bounded`); :func:`check_fields` holds any object with those attributes
(e.g. an ``AlgorithmConfig``) against the same declarations, so a value is
checked the same way from YAML and from Python.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, List, Union


class ConfigError(ValueError):
    """A configuration problem, with the dotted key path where it occurred."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


def choices(*values, default=dataclasses.MISSING, **kw):
    """A dataclass field whose value must be one of ``values``."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"choices": values}, **kw)
    return dataclasses.field(default=default, metadata={"choices": values}, **kw)


def bounded(default, *, ge=None, gt=None, le=None, lt=None, **kw):
    """A numeric dataclass field with bounds (``ge``: >=, ``gt``: >, ``le``: <=, ``lt``: <);
    None stays allowed for an Optional field."""
    return dataclasses.field(default=default, metadata={"bounds": (ge, gt, le, lt)}, **kw)


def any_number(default, **kw):
    """A numeric field that takes any value (a threshold on returns, say): declared
    so, for the check that every numeric field says what it allows."""
    return dataclasses.field(default=default, metadata={"any_number": True}, **kw)


def free_text(default, **kw):
    """A string field that is not an enumeration (a name, a metric): declared so."""
    return dataclasses.field(default=default, metadata={"free_text": True}, **kw)


def _bounds_text(ge, gt, le, lt) -> str:
    lo = f"[{ge}" if ge is not None else f"({gt}" if gt is not None else None
    hi = f"{le}]" if le is not None else f"{lt})" if lt is not None else None
    if lo and hi:
        return f"must be in {lo}, {hi}"
    if lo:
        return f"must be >= {ge}" if ge is not None else f"must be > {gt}"
    return f"must be <= {le}" if le is not None else f"must be < {lt}"


def field_problem(f: dataclasses.Field, value) -> str | None:
    """What is wrong with ``value`` for field ``f`` by its declared choices or
    bounds, or None."""
    allowed = f.metadata.get("choices")
    if allowed is not None and value not in allowed:
        return f"unknown value {value!r}; allowed: {', '.join(map(str, allowed))}"
    bounds = f.metadata.get("bounds")
    if bounds is not None and value is not None:
        ge, gt, le, lt = bounds
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {value!r}"
        if ((ge is not None and not value >= ge) or (gt is not None and not value > gt)
                or (le is not None and not value <= le) or (lt is not None and not value < lt)):
            return f"{_bounds_text(ge, gt, le, lt)}, got {value!r}"
    return None


def check_fields(obj, cls, path: str) -> None:
    """Holds ``obj``'s attributes named like ``cls``'s fields against their
    declared choices and bounds; raises :class:`ConfigError` at ``path.<field>``."""
    for f in dataclasses.fields(cls):
        problem = field_problem(f, getattr(obj, f.name))
        if problem:
            raise ConfigError(_join(path, f.name), problem)


def check_mapping(data: Dict[str, Any], cls, path: str) -> None:
    """:func:`check_fields` for the keys of a mapping that are fields of ``cls``
    (a module's ``model_config``: other keys are left to their readers)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key in fields:
            problem = field_problem(fields[key], value)
            if problem:
                raise ConfigError(_join(path, key), problem)


def _type_name(t) -> str:
    origin = typing.get_origin(t)
    if origin is Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin in (list, List):
        (a,) = typing.get_args(t) or (Any,)
        return f"list of {_type_name(a)}"
    if origin in (dict, Dict):
        return "mapping"
    if dataclasses.is_dataclass(t):
        return "mapping"
    return getattr(t, "__name__", str(t))


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def parse_value(t, value, path: str):
    origin = typing.get_origin(t)
    if t is Any:
        return value
    if origin is Union:
        args = typing.get_args(t)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(a, value, path)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(path, f"expected {_type_name(t)}, got {value!r}")
    if dataclasses.is_dataclass(t):
        return parse(t, value, path)
    if origin in (list, List):
        (a,) = typing.get_args(t) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(path, f"expected {_type_name(t)}, got {value!r}")
        return [parse_value(a, v, _join(path, i)) for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {value!r}")
        kt, vt = typing.get_args(t) or (str, Any)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(_join(path, k), "keys must be strings")
            out[k] = parse_value(vt, v, _join(path, k))
        return out
    if t is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}")
        return value
    if t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        return value
    if t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML 1.1 reads 1e-4 (no dot) as a string: accept numeric strings.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(path, f"expected a number, got {value!r}")
        return float(value)
    if t is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"schema: unsupported annotation {t!r} at {path}")


def parse(cls, data, path: str = ""):
    """Builds dataclass ``cls`` from ``data``, strictly (see module docstring)."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(
            _join(path, unknown[0]),
            f"unknown key; allowed: {', '.join(fields)}",
        )
    kwargs = {}
    for name, f in fields.items():
        p = _join(path, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(p, "missing required key")
            continue
        v = parse_value(hints[name], data[name], p)
        problem = field_problem(f, v)
        if problem:
            raise ConfigError(p, problem)
        kwargs[name] = v
    return cls(**kwargs)


def set_path(data: Dict[str, Any], dotted: str, value: Any) -> None:
    """Sets ``data[a][b][c] = value`` for ``dotted = "a.b.c"``, creating mappings."""
    keys = dotted.split(".")
    d = data
    for i, k in enumerate(keys[:-1]):
        nxt = d.get(k)
        if nxt is None:
            nxt = d[k] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(".".join(keys[: i + 1]), f"is not a mapping, cannot set {dotted}")
        d = nxt
    d[keys[-1]] = value


def to_plain(obj) -> Any:
    """Dataclasses → plain dicts/lists (for YAML dumps)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
