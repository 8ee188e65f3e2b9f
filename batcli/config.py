"""Configs: nested dataclasses filled from YAML presets, YAML files and `--set key.sub=value`.

Each stage declares its config as dataclasses whose fields carry `metadata={"help": ...}` and,
for numbers, `"range": (low, high)`. This module only loads, merges, checks and dumps them, so an
unknown key, a wrong type or an out-of-range value is reported with the key (and the file line
where there is one) before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from .errors import UsageError

T = TypeVar("T")
PRESETS_PACKAGE = "batcli.presets"


def preset_names(stage: str) -> list[str]:
    """Built-in presets of a stage, shipped as `batcli/presets/<stage>/<name>.yaml`."""
    folder = resources.files(PRESETS_PACKAGE) / stage
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(cls: type[T], stage: str, source: str | None, overrides: list[str] = ()) -> T:
    """Build `cls` from its defaults, then a preset name or YAML file, then `key.sub=value` overrides."""
    data: dict = {}
    lines: dict[str, str] = {}
    if source:
        if source in preset_names(stage):
            tree, where = _read_yaml(resources.files(PRESETS_PACKAGE) / stage / f"{source}.yaml", f"preset {stage}/{source}")
        else:
            path = Path(source)
            if not path.is_file():
                known = ", ".join(preset_names(stage)) or "none"
                raise UsageError(f"config {source}: no such file, nor a built-in preset (presets: {known})")
            tree, where = _read_yaml(path, str(path))
        _merge(data, tree)
        lines.update(where)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item}: expected key.sub=value")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        _merge(data, _nest(key.strip().split("."), value))
        lines[key.strip()] = "--set"
    return from_dict(cls, data, lines)


def from_dict(cls: type[T], data: dict, lines: dict[str, str] | None = None, prefix: str = "") -> T:
    """Check `data` against the dataclass `cls` and build it; errors name the dotted key."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise UsageError(_where(prefix.rstrip("."), lines) + f"expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise UsageError(_where(prefix + str(key), lines) + f"unknown key; known keys: {', '.join(fields)}")
    values = {}
    for name, field in fields.items():
        if name not in data:
            continue
        key = prefix + name
        values[name] = _convert(hints[name], data[name], key, lines)
        bounds = field.metadata.get("range")
        if bounds is not None:
            _check_range(values[name], bounds, key, lines)
    return cls(**values)


def to_dict(config) -> dict:
    """A plain, YAML-ready dict of a config (tuples as lists)."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def dump_yaml(config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)


def _read_yaml(path, name: str) -> tuple[dict, dict[str, str]]:
    """Parse YAML, keeping the line of every dotted key for error messages."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        tree = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}" if mark else ""
        raise UsageError(f"{name}{at}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if tree is None:
        return {}, {}
    if not isinstance(tree, dict):
        raise UsageError(f"{name}: expected a mapping of config keys at the top level")
    where: dict[str, str] = {}

    def walk(n, prefix):
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                key = prefix + str(key_node.value)
                where[key] = f"{name}:{key_node.start_mark.line + 1}"
                walk(value_node, key + ".")

    walk(node, "")
    return tree, where


def _nest(keys: list[str], value) -> dict:
    return {keys[0]: _nest(keys[1:], value) if len(keys) > 1 else value}


def _merge(base: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _where(key: str, lines: dict[str, str]) -> str:
    origin = lines.get(key)
    return f"{origin}: {key}: " if origin else f"config key {key}: "


def _convert(hint, value, key: str, lines: dict[str, str]):
    """Coerce a YAML value to the annotated type, or raise a UsageError naming the key."""
    fail = lambda what: UsageError(_where(key, lines) + f"expected {what}, got {value!r}")  # noqa: E731
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, lines, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key, lines)
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(map(str, args)))
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin is tuple and Ellipsis not in args:
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} values")
            return tuple(_convert(a, v, f"{key}[{i}]", lines) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        converted = [_convert(item, v, f"{key}[{i}]", lines) for i, v in enumerate(value)]
        return tuple(converted) if origin is tuple else converted
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        key_type, value_type = args
        return {_convert(key_type, k, key, lines): _convert(value_type, v, f"{key}.{k}", lines) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    raise TypeError(f"config type {hint} of {key} is not supported")


def _check_range(value, bounds, key: str, lines: dict[str, str]) -> None:
    low, high = bounds
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if item is None or not isinstance(item, (int, float)):
            continue
        if (low is not None and item < low) or (high is not None and item > high):
            raise UsageError(_where(key, lines) + f"{value!r} is out of range [{low}, {high}]")
    # By convention a pair of numbers in a config is a [low, high] range.
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        if value[0] > value[1]:
            raise UsageError(_where(key, lines) + f"range {list(value)} has its low end above its high end")
