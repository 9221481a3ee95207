"""FilterStage on Arrow batches, the fixed filter order, and local drop counts."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from luxit_ray.config.prepare import FiltersConfig
from luxit_ray.filters import (
    FILTER_ORDER,
    FilterStage,
    build_row_filters,
    count_drops,
)
from luxit_ray.schema import REJECT_SCHEMA
from tests.filters.texts import DE_POOL, FR_POOL, LB_POOL, LB_TRAIN, doc

TICKER = "\n".join(
    [LB_POOL[:120]]
    + [f"1{h}:0{h} Update {h}: {LB_TRAIN[h * 40 : h * 40 + 60]}" for h in range(6)]
    + [LB_TRAIN]
)


def _batch() -> pa.Table:
    rows = [
        doc("lbwiki:1", LB_POOL, source="lbwiki", source_type="wikipedia", page_kind="list"),
        doc("lbwiki:2", LB_TRAIN, source="lbwiki", source_type="wikipedia", page_kind="article"),
        doc("lbwiki:3", DE_POOL, source="lbwiki", source_type="wikipedia", page_kind="article"),
        doc("rtl:1", LB_POOL),
        doc("rtl:2", "Kuerz Meldung."),
        doc("rtl:3", DE_POOL + " " + DE_POOL),
        doc("rtl:4", FR_POOL + " " + FR_POOL),
        doc("rtl:5", TICKER),
        doc("rtl:6", LB_TRAIN, title="Resultater: Tirage vum Lotto"),
        doc("rtl:7", "Kuerz op Däitsch: Das ist kurz."),
        doc("rtl:8", DE_POOL, drop_filter="quarantine", drop_reason="invalid_utf8: byte 17"),
    ]
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


def _cfg(**kw) -> dict:
    return FiltersConfig(min_chars=500, **kw).model_dump()


def test_filter_order_constants():
    assert FILTER_ORDER == ("page_kind", "boilerplate", "min_length", "non_prose", "langid", "dedup")
    names = [f.name for f in build_row_filters(FiltersConfig())]
    assert names == ["page_kind", "min_length", "non_prose", "langid"]
    off = FiltersConfig.model_validate(
        {"drop_page_kinds": [], "langid": {"enabled": False}, "nonprose": {"enabled": False}}
    )
    assert [f.name for f in build_row_filters(off)] == ["min_length"]
    assert [f.name for f in build_row_filters(FiltersConfig(), ["langid", "page_kind"])] == [
        "page_kind",
        "langid",
    ]
    with pytest.raises(ValueError, match="unknown row filter"):
        build_row_filters(FiltersConfig(), ["dedup"])


def test_filter_stage_marks_first_rejection_and_keeps_rejected_rows():
    stage = FilterStage(_cfg())
    out = stage(_batch())
    assert out.schema == REJECT_SCHEMA
    assert out.column("text").to_pylist() == _batch().column("text").to_pylist()
    got = dict(zip(out.column("doc_id").to_pylist(), out.column("drop_reason").to_pylist(), strict=True))
    assert got == {
        "lbwiki:1": "page_kind: list",
        "lbwiki:2": None,
        "lbwiki:3": None,  # wiki is not language-checked by default
        "rtl:1": None,
        "rtl:2": "too_short: 14 < 500 chars",
        "rtl:3": "langid: __label__de 0.99 (want __label__lb >= 0.5, got 0.00)",
        "rtl:4": "langid: __label__fr 0.99 (want __label__lb >= 0.5, got 0.00)",
        "rtl:5": "non_prose: 75% lines start with a time",
        "rtl:6": "non_prose: title keyword 'Resultater'",
        "rtl:7": "too_short: 31 < 500 chars",  # min_length runs before langid
        "rtl:8": "invalid_utf8: byte 17",
    }
    assert out.column("drop_filter").to_pylist() == [
        "page_kind", None, None, None, "min_length", "langid", "langid", "non_prose", "non_prose",
        "min_length", "quarantine",
    ]
    assert dict(stage.counts) == {
        "rows": 11, "kept": 3, "page_kind": 1, "min_length": 2, "langid": 2, "non_prose": 2,
    }
    assert count_drops(out) == {
        "kept": {"lbwiki": 2, "rtl": 1},
        "langid": {"rtl": 2},
        "min_length": {"rtl": 2},
        "non_prose": {"rtl": 2},
        "page_kind": {"lbwiki": 1},
        "quarantine": {"rtl": 1},
    }


def test_filter_stage_subset_pickles_and_accepts_pandas_without_drop_columns():
    stage = FilterStage(_cfg(), names=["page_kind"])
    stage = pickle.loads(pickle.dumps(stage))
    docs = _batch().drop_columns(["drop_filter", "drop_reason"]).slice(0, 4)
    out = stage(docs.to_pandas())
    assert out.column_names == REJECT_SCHEMA.names
    assert out.column("drop_filter").to_pylist() == ["page_kind", None, None, None]
    assert out.column("drop_reason").type == pa.string()


def test_filter_stage_names_missing_columns():
    stage = FilterStage(_cfg())
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['page_kind', 'title'\]"):
        stage(_batch().drop_columns(["page_kind", "title"]))


def test_filter_stage_records_a_failing_filter_on_the_row():
    stage = FilterStage(_cfg(), names=["min_length"])

    def broken(row):
        raise RuntimeError("boom")

    broken.name = "broken"
    broken.columns = ("text",)
    stage.filters.insert(0, broken)
    out = stage(_batch().slice(3, 2))
    assert out.column("drop_filter").to_pylist() == ["broken", "broken"]
    assert out.column("drop_reason").to_pylist() == ["error: RuntimeError: boom"] * 2
