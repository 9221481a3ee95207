"""The one Markdown-table formatter and JSON Lines reader/writer (luxit_ray.textio)."""

from __future__ import annotations

import pytest

from luxit_ray.errors import InputError
from luxit_ray.textio import iter_jsonl, markdown_table, read_jsonl, write_jsonl


def test_markdown_table_aligns_numbers_and_escapes_cells():
    out = markdown_table(["source", "read", "share"], [["rtl|news", 1200, 0.98765], ["lb\nwiki", None, 0.5]])
    assert out == ("| source | read | share |\n"
                   "|---|---:|---:|\n"
                   "| rtl\\|news | 1200 | 0.9877 |\n"
                   "| lb wiki |  | 0.5 |")
    assert markdown_table(["x"], [[2.0 / 3]], float_format=".2f", right_align=[False]) == "| x |\n|---|\n| 0.67 |"


def test_jsonl_round_trip_keeps_non_ascii_and_replaces_whole(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("old content\n", encoding="utf-8")
    assert write_jsonl(p, ({"text": f"Äntwert {i}"} for i in range(3))) == 3
    assert p.read_text(encoding="utf-8") == '{"text": "Äntwert 0"}\n{"text": "Äntwert 1"}\n{"text": "Äntwert 2"}\n'
    assert read_jsonl(p) == [{"text": "Äntwert 0"}, {"text": "Äntwert 1"}, {"text": "Äntwert 2"}]
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_jsonl_lines_name_file_and_line(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2\n', encoding="utf-8")
    assert next(iter_jsonl(p)) == (1, {"a": 1})
    with pytest.raises(InputError, match=r"b\.jsonl:line 3: invalid JSON: Expecting"):
        read_jsonl(p)
    p.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"b\.jsonl:line 2: expected a JSON object"):
        read_jsonl(p)
