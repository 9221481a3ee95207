"""Repeated native doc ids: one clear error (fail) or the later copies quarantined."""

from __future__ import annotations

import pyarrow as pa
import pytest

from luxit_ray import schema
from luxit_ray.errors import InputError
from luxit_ray.sources import check_doc_ids, quarantine_at, repeated_ids


def docs(rows):
    return pa.table({
        schema.DOC_ID: [r[0] for r in rows],
        schema.ORIGIN: [r[1] for r in rows],
        schema.DROP_FILTER: [r[2] if len(r) > 2 else None for r in rows],
        schema.DROP_REASON: [("x" if len(r) > 2 and r[2] else None) for r in rows],
    })


ROWS = [
    ("rtl:7", "b.jsonl:line 10"),
    ("rtl:7", "a.jsonl:line 9"),
    ("rtl:8", "a.jsonl:line 2"),
    ("rtl:7", "a.jsonl:line 10"),  # line 10 comes after line 9 (positions compare as numbers)
    ("rtl:9", "a.jsonl:line 3"),
    ("rtl:9", "a.jsonl:line 4", "type"),  # set aside by the reader: not compared
]


def test_repeats_are_listed_in_file_order_with_the_first_copy():
    assert repeated_ids(docs(ROWS)) == [
        ("rtl:7", "a.jsonl:line 10", "a.jsonl:line 9"),
        ("rtl:7", "b.jsonl:line 10", "a.jsonl:line 9"),
    ]


def test_fail_mode_is_one_line_naming_file_position_and_first_copy():
    with pytest.raises(InputError) as err:
        check_doc_ids(docs(ROWS), "fail")
    assert str(err.value) == (
        "a.jsonl:line 10: doc_id 'rtl:7' occurs more than once (first at a.jsonl:line 9); 2 repeated id(s) in all "
        "(run.on_bad_input=quarantine sets the later copies aside)"
    )
    assert "\n" not in str(err.value)


def test_quarantine_mode_sets_the_later_copies_aside():
    table = docs(ROWS)
    drops = check_doc_ids(table, "quarantine")
    assert drops.to_pylist() == [
        {"origin": "a.jsonl:line 10", "drop_reason": "a.jsonl:line 10: doc_id 'rtl:7' occurs more than once (first at a.jsonl:line 9)"},
        {"origin": "b.jsonl:line 10", "drop_reason": "b.jsonl:line 10: doc_id 'rtl:7' occurs more than once (first at a.jsonl:line 9)"},
    ]
    out = quarantine_at(table, drops)
    got = [(r[schema.ORIGIN], r[schema.DROP_FILTER]) for r in out.to_pylist()]
    assert got == [("b.jsonl:line 10", "input"), ("a.jsonl:line 9", None), ("a.jsonl:line 2", None),
                   ("a.jsonl:line 10", "input"), ("a.jsonl:line 3", None), ("a.jsonl:line 4", "type")]
    assert repeated_ids(out) == []


def test_unique_ids_pass():
    assert check_doc_ids(docs([("a:1", "f:line 1"), ("a:2", "f:line 2")]), "fail").num_rows == 0
