from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from batcli.config import dump_yaml, from_dict, load_config
from batcli.errors import UsageError


@dataclass
class Inner:
    rate: float = field(default=0.5, metadata={"range": (0, 1)})
    span: tuple[float, float] = field(default=(1.0, 2.0), metadata={"range": (0, 10)})


@dataclass
class Outer:
    name: str = "x"
    count: int = field(default=3, metadata={"range": (0, 100)})
    mode: Literal["a", "b"] = "a"
    path: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_values():
    config = from_dict(Outer, {"count": 7, "inner": {"span": [2, 5]}})
    assert config.count == 7 and config.inner.span == (2.0, 5.0) and config.inner.rate == 0.5


@pytest.mark.parametrize(
    "data, key",
    [
        ({"cont": 1}, "cont"),
        ({"inner": {"rat": 1}}, "inner.rat"),
        ({"count": "many"}, "count"),
        ({"count": 1.5}, "count"),
        ({"count": True}, "count"),
        ({"mode": "c"}, "mode"),
        ({"inner": {"rate": 2}}, "inner.rate"),
        ({"inner": {"span": [5, 1]}}, "inner.span"),
        ({"inner": {"span": [1, 2, 3]}}, "inner.span"),
        ({"tags": "solo"}, "tags"),
    ],
)
def test_bad_values_name_their_key(data, key):
    with pytest.raises(UsageError, match=rf"\b{key}\b"):
        from_dict(Outer, data)


def test_yaml_file_errors_give_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: y\ninner:\n  rate: 0.2\n  spam: 1\n")
    with pytest.raises(UsageError, match=r"c\.yaml:4: inner\.spam: unknown key"):
        load_config(Outer, "nostage", str(path))


def test_overrides_win_over_the_file_and_parse_as_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("count: 4\ninner:\n  rate: 0.2\n")
    config = load_config(Outer, "nostage", str(path), ["inner.rate=0.9", "tags=[p, q]", "path=null"])
    assert config.count == 4 and config.inner.rate == 0.9 and config.tags == ["p", "q"] and config.path is None
    with pytest.raises(UsageError, match="--set: inner.rate"):
        load_config(Outer, "nostage", str(path), ["inner.rate=7"])
    with pytest.raises(UsageError, match="key.sub=value"):
        load_config(Outer, "nostage", None, ["count"])


def test_missing_file_and_invalid_yaml(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_config(Outer, "nostage", str(tmp_path / "absent.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(UsageError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_config(Outer, "nostage", str(bad))


def test_dump_round_trips(tmp_path):
    config = from_dict(Outer, {"count": 9, "tags": ["t"], "inner": {"span": [0.5, 3]}})
    path = tmp_path / "dump.yaml"
    path.write_text(dump_yaml(config))
    assert load_config(Outer, "nostage", str(path)) == config


def test_builtin_presets_load():
    from batcli.sim.simulate import SimulateConfig

    config = load_config(SimulateConfig, "simulate", "tiny")
    assert config.duration_s == 4.0
