import json

import pytest

from batcli.errors import BatError
from batcli.records import load_jsonl, read_jsonl, write_jsonl


def test_round_trip_keeps_order_and_unicode(tmp_path):
    records = [{"b": 1, "a": "Straße"}, {"x": [1.5, None]}]
    path = tmp_path / "r.jsonl"
    assert write_jsonl(records, path) == 2
    assert load_jsonl(path) == records
    assert "Straße" in path.read_text(encoding="utf-8")


def test_bad_line_is_named_by_file_and_number(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(BatError, match=r"r\.jsonl:3: not valid JSON"):
        load_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(BatError, match=r"r\.jsonl:2: expected a JSON object"):
        load_jsonl(path)


def test_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert [number for number, _ in read_jsonl(path)] == [1, 3]


def test_stdin_and_stdout(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"audio": "a.wav"}\n'))
    assert load_jsonl("-") == [{"audio": "a.wav"}]
    write_jsonl([{"k": 1}])
    assert json.loads(capsys.readouterr().out) == {"k": 1}


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "r.jsonl"

    def records():
        yield {"a": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(records(), path)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(BatError, match="cannot read"):
        load_jsonl(tmp_path / "absent.jsonl")
