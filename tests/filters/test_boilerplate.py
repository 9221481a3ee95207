"""Boilerplate lines learned per source on a real local Ray, then removed from the text."""

from __future__ import annotations

import json

import pyarrow as pa

from luxit_ray.config.prepare import BoilerplateConfig
from luxit_ray.filters import BoilerplateStage, learn_boilerplate
from luxit_ray.filters.boilerplate import (
    _CountCombiner,
    count_line_hashes,
    learn_boilerplate_local,
    line_hash,
)
from luxit_ray.schema import REJECT_SCHEMA
from tests.filters.texts import LB_POOL, LB_TRAIN, doc

PHOTO = "Foto: RTL Archiv"
SHARE = "Deelt dësen Artikel mat Äre Frënn."
AGENCY = "Quell: dpa"
THANKS = "Merci fir d'Liesen."
LONG = "Dës Zeil steet a ville Artikelen, mee si ass méi laang wéi zweehonnert Zeechen: " + "bla " * 40 + "bla."
P = [LB_POOL[i * 100 : i * 100 + 90] for i in range(7)]  # distinct prose lines


def _corpus() -> list[dict]:
    rtl = [
        doc("rtl:1", f"{PHOTO}\n\n{P[1]}\n\n{SHARE}", metadata={"type": "news"}),
        doc("rtl:2", f"Foto:  RTL  Archiv \n{P[2]}\n\n{SHARE}"),
        doc("rtl:3", f"{P[3]}\n{PHOTO}\n{AGENCY}\n{LONG}"),
        doc("rtl:4", f"{P[4]}\n\n{AGENCY}\n\n{SHARE}\n{LONG}"),
        doc("rtl:5", f"{P[5]}\n{THANKS}\n{P[6]}\n{THANKS}\n{LONG}"),
        doc("rtl:6", f"{P[6]}\n{SHARE}\n{THANKS}", metadata=None),
        # Rejected rows neither count nor get cleaned.
        doc("rtl:7", f"{AGENCY}\n{THANKS}\n{SHARE}", drop_filter="quarantine", drop_reason="bad"),
    ]
    wort = [
        doc("wort:1", f"{LB_TRAIN}\nFoto: Wort/Gerry", source="wort"),
        doc("wort:2", f"{LB_POOL}\nFoto: Wort/Gerry\n{PHOTO}", source="wort"),
        doc("wort:3", f"Foto: Wort/Gerry\n{LB_TRAIN[:300]}", source="wort"),
    ]
    # Wikipedia is not cleaned by default, however often its lines recur.
    wiki = [
        doc(f"lbwiki:{i}", f"{P[i]}\nKuckt och\nLiteratur", source="lbwiki", source_type="wikipedia")
        for i in range(4)
    ]
    return rtl + wort + wiki


def test_count_line_hashes_counts_each_line_once_per_document():
    batch = pa.Table.from_pylist(_corpus()[:7], schema=REJECT_SCHEMA)
    out = count_line_hashes(batch, ["news"], 200)
    counts = {(s, h): n for s, h, n in zip(*(out.column(c).to_pylist() for c in ("source", "line_hash", "n")), strict=True)}
    assert counts[("rtl", 0)] == 6  # live documents
    assert counts[("rtl", line_hash(PHOTO))] == 3
    assert counts[("rtl", line_hash(SHARE))] == 4
    assert counts[("rtl", line_hash(AGENCY))] == 2
    assert counts[("rtl", line_hash(THANKS))] == 2  # twice in rtl:5, once in rtl:6
    assert ("rtl", line_hash(" ".join(LONG.split()))) not in counts


def test_learn_boilerplate_thresholds_locally():
    table = pa.Table.from_pylist(_corpus(), schema=REJECT_SCHEMA)
    learned = learn_boilerplate_local(table, BoilerplateConfig(min_docs=3, min_doc_fraction=0.5))
    assert learned == {"rtl": [SHARE, PHOTO], "wort": ["Foto: Wort/Gerry"]}
    # A higher share keeps only the line found in 4 of rtl's 6 live documents.
    learned = learn_boilerplate_local(table, BoilerplateConfig(min_docs=3, min_doc_fraction=0.6))
    assert learned == {"rtl": [SHARE], "wort": ["Foto: Wort/Gerry"]}
    # wort has 3 documents: min_docs=4 leaves it without boilerplate.
    learned = learn_boilerplate_local(table, BoilerplateConfig(min_docs=4, min_doc_fraction=0.0))
    assert learned == {"rtl": [SHARE], "wort": []}
    # Longer lines are never boilerplate, and Wikipedia is cleaned only when asked for.
    cfg = BoilerplateConfig(min_docs=3, min_doc_fraction=0.0, max_line_chars=500, source_types=["wikipedia"])
    assert learn_boilerplate_local(table, cfg) == {"lbwiki": ["Kuckt och", "Literatur"]}
    assert learn_boilerplate_local(table, BoilerplateConfig(enabled=False)) == {}


def test_learn_boilerplate_on_ray(ray_local):
    table = pa.Table.from_pylist(_corpus(), schema=REJECT_SCHEMA)
    ds = ray_local.data.from_arrow(table).repartition(3)
    cfg = BoilerplateConfig(min_docs=3, min_doc_fraction=0.5)
    assert learn_boilerplate(ds, cfg) == {"rtl": [SHARE, PHOTO], "wort": ["Foto: Wort/Gerry"]}


def test_count_combiner_sums_across_compactions():
    # Counts arriving block by block and compacted every few rows sum to the one-batch counts.
    table = pa.Table.from_pylist(_corpus(), schema=REJECT_SCHEMA)
    whole = count_line_hashes(table, ["news"], 200)
    combiner = _CountCombiner(compact_rows=3)
    for i in range(table.num_rows):
        combiner.add(count_line_hashes(table.slice(i, 1), ["news"], 200))
    got = combiner.result().sort_by([("source", "ascending"), ("line_hash", "ascending")])
    assert got.equals(whole.sort_by([("source", "ascending"), ("line_hash", "ascending")]))
    assert _CountCombiner().result().num_rows == 0


def test_boilerplate_stage_removes_lines_and_records_the_count():
    stage = BoilerplateStage({"rtl": [SHARE, PHOTO], "wort": ["Foto: Wort/Gerry"]})
    batch = pa.Table.from_pylist(_corpus(), schema=REJECT_SCHEMA)
    out = stage(batch)
    assert out.schema == REJECT_SCHEMA
    text = dict(zip(out.column("doc_id").to_pylist(), out.column("text").to_pylist(), strict=True))
    meta = dict(zip(out.column("doc_id").to_pylist(), out.column("metadata").to_pylist(), strict=True))
    assert text["rtl:1"] == P[1]
    # PHOTO (16) + SHARE (34) and the blank lines around them (4).
    assert json.loads(meta["rtl:1"]) == {"type": "news", "boilerplate_lines_removed": 2, "boilerplate_chars_removed": 54}
    assert text["rtl:2"] == P[2]
    assert text["rtl:3"] == f"{P[3]}\n{AGENCY}\n{LONG}"
    assert json.loads(meta["rtl:3"]) == {"boilerplate_lines_removed": 1, "boilerplate_chars_removed": 17}
    assert text["rtl:4"] == f"{P[4]}\n\n{AGENCY}\n\n{LONG}"
    assert text["rtl:5"] == f"{P[5]}\n{THANKS}\n{P[6]}\n{THANKS}\n{LONG}"
    assert json.loads(meta["rtl:5"]) == {}
    assert text["rtl:6"] == f"{P[6]}\n{THANKS}"
    assert text["rtl:7"] == f"{AGENCY}\n{THANKS}\n{SHARE}"  # rejected: untouched
    assert text["wort:2"] == f"{LB_POOL}\n{PHOTO}"  # rtl's line is not wort's
    assert text["lbwiki:0"] == f"{P[0]}\nKuckt och\nLiteratur"
    assert dict(stage.counts) == {"rows": 14, "changed": 8, "lines_removed": 10}
