"""Every filter, in FILTER_ORDER, on the bundled RTL sample (fates from tests/data/README.md)."""

from __future__ import annotations

import json

import pyarrow as pa

from luxit_ray.config.prepare import FiltersConfig, NewsSourceConfig
from luxit_ray.filters import BoilerplateStage, FilterStage, count_drops, find_duplicates
from luxit_ray.filters.boilerplate import learn_boilerplate_local
from luxit_ray.filters.dedup import apply_drops, compute_signatures
from luxit_ray.schema import REJECT_SCHEMA
from luxit_ray.sources.news import iter_news


def _rtl(data_dir) -> pa.Table:
    path = str(data_dir / "rtl-sample.jsonl")
    rows = list(iter_news(path, NewsSourceConfig(name="rtl", path=path), "quarantine"))
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)


def _line(doc_id: str) -> int:
    return int(doc_id.split(":")[1]) - 2100000


def test_rtl_sample_fates(data_dir):
    cfg = FiltersConfig()
    table = _rtl(data_dir)
    assert table.num_rows == 39

    lines = learn_boilerplate_local(table, cfg.boilerplate)
    assert lines == {
        "rtl": [
            "Foto: RTL Archiv",
            "(mat AFP)",
            "Deelt dësen Artikel mat Äre Frënn op de soziale Netzwierker.",
        ]
    }
    table = BoilerplateStage(lines)(table)
    removed = {
        _line(d): json.loads(m).get("boilerplate_lines_removed", 0)
        for d, m in zip(table.column("doc_id").to_pylist(), table.column("metadata").to_pylist(), strict=True)
    }
    assert sorted(k for k, n in removed.items() if n) == [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21, 22,
    ]
    assert set(removed.values()) == {0, 1}

    table = FilterStage(cfg.model_dump(mode="json"))(table)
    sigs = compute_signatures(table, cfg.dedup.num_perm, cfg.dedup.shingle_words)
    drops = find_duplicates(sigs, cfg.dedup)
    assert drops == {
        "rtl:2100021": "near_duplicate: ~0.91 of rtl:2100005",
        "rtl:2100022": "duplicate: exact of rtl:2100010",
    }
    ids = sorted(drops)
    table = apply_drops(table, pa.table({"doc_id": ids, "drop_reason": [drops[i] for i in ids]}))

    fates = {
        _line(d): f
        for d, f in zip(table.column("doc_id").to_pylist(), table.column("drop_filter").to_pylist(), strict=True)
    }
    assert fates == {
        **{n: None for n in range(1, 21)},
        21: "dedup",
        22: "dedup",
        **{n: "langid" for n in range(23, 29)},
        **{n: "min_length" for n in range(29, 32)},
        **{n: "non_prose" for n in range(32, 35)},
        **{n: "type" for n in range(35, 40)},
    }
    reasons = dict(zip(map(_line, table.column("doc_id").to_pylist()), table.column("drop_reason").to_pylist(), strict=True))
    assert [reasons[n].split(" ")[1] for n in range(23, 29)] == ["__label__de"] * 3 + ["__label__fr"] * 3
    assert [reasons[n] for n in range(32, 35)] == [
        "non_prose: title keyword 'Resultater'",
        "non_prose: title keyword 'Programm'",
        "non_prose: title keyword 'Liveticker'",
    ]
    assert count_drops(table) == {
        "dedup": {"rtl": 2},
        "kept": {"rtl": 20},
        "langid": {"rtl": 6},
        "min_length": {"rtl": 3},
        "non_prose": {"rtl": 3},
        "type": {"rtl": 5},
    }


def test_screen_stage_is_the_three_stages_in_one(data_dir):
    # ScreenStage gives what boilerplate -> row filters -> add_signatures give one by one.
    from luxit_ray.filters import ScreenStage, add_signatures

    cfg = FiltersConfig()
    table = _rtl(data_dir)
    lines = learn_boilerplate_local(table, cfg.boilerplate)
    stage = ScreenStage(cfg.model_dump(mode="json"), lines)
    got = stage(table)
    want = add_signatures(
        FilterStage(cfg.model_dump(mode="json"))(BoilerplateStage(lines)(table)),
        cfg.dedup.num_perm,
        cfg.dedup.shingle_words,
    )
    assert got.equals(want)
    assert dict(stage.boilerplate.counts) == {"rows": 39, "changed": 20, "lines_removed": 20}
    assert stage.filters.counts["kept"] == 22
    assert got.column("signature").null_count == 39 - 22
    off = FiltersConfig.model_validate({"boilerplate": {"enabled": False}})
    assert ScreenStage(off.model_dump(mode="json"), lines).boilerplate is None
