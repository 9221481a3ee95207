"""Mixtures: exact counts by count and by share, origins in the table and the card, every input format."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luxit_ray import schema as S
from luxit_ray.config.mixture import MixtureConfig
from luxit_ray.dataset.mixture import build_mixture, export_mixture, part_counts
from luxit_ray.errors import ConfigError


def _mix(**kw) -> MixtureConfig:
    return MixtureConfig.model_validate(kw)


def test_part_counts_by_count_and_all():
    cfg = _mix(parts=[{"name": "luxit", "path": "x", "count": 5}, {"name": "corpus", "kind": "text", "path": "y",
                                                                     "count": "all"}])
    assert part_counts(cfg, {"luxit": 9, "corpus": 4}) == {"luxit": 5, "corpus": 4}


def test_part_counts_by_share_largest_remainder():
    cfg = _mix(total=7, parts=[{"name": "a", "path": "x", "share": 0.5}, {"name": "b", "path": "x", "share": 0.3},
                               {"name": "c", "path": "x", "share": 0.2}])
    # 3.5, 2.1, 1.4 -> floors 3, 2, 1; the one row left goes to the largest remainder (a).
    assert part_counts(cfg, {"a": 10, "b": 10, "c": 10}) == {"a": 4, "b": 2, "c": 1}
    assert part_counts(cfg, {"a": 10, "b": 10, "c": 10}, parts=["b", "c"]) == {"b": 2, "c": 1}
    cfg = _mix(total=10, parts=[{"name": "a", "path": "x", "share": 0.25}, {"name": "b", "path": "x", "count": 3}])
    assert part_counts(cfg, {"a": 10, "b": 10}) == {"a": 3, "b": 3}  # 2.5 rounds half up


def test_short_part_fails_or_takes_all():
    parts = [{"name": "a", "path": "x", "count": 5}]
    with pytest.raises(ConfigError, match="asks for 5 rows, x has 3 usable"):
        part_counts(_mix(parts=parts), {"a": 3})
    assert part_counts(_mix(parts=parts, on_short="all"), {"a": 3}) == {"a": 3}


def test_config_problems_at_once():
    with pytest.raises(ValueError) as exc:
        _mix(parts=[{"name": "a", "path": "x", "share": 0.7}, {"name": "a", "path": "x", "share": 0.6}])
    text = str(exc.value)
    assert "repeated: ['a']" in text and "total: needed" in text and "add up to 1.3 > 1" in text


def _write_inputs(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    pq.write_table(pa.table({S.INSTRUCTION: [f"Fro {i}" for i in range(6)], S.RESPONSE: [f"Äntwert {i}" for i in range(6)]}),
                   export / "train-00000.parquet")
    (export / "README.md").write_text("card")  # not data: left alone
    english = tmp_path / "english.jsonl"
    rows = [{"conversations": [{"from": "human", "value": f"Q{i}"}, {"from": "gpt", "value": f"A{i}"}]} for i in range(4)]
    rows.append({"conversations": [{"from": "human", "value": "no answer"}]})  # left out: no assistant turn
    english.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    msgs = tmp_path / "messages.jsonl"
    msgs.write_text(json.dumps({"messages": [{"role": "user", "content": "Moien"}, {"role": "assistant", "content": "Salut"}]}) + "\n")
    corpus = tmp_path / "seeds"
    corpus.mkdir()
    pq.write_table(pa.table({S.DOC_ID: ["d1", "d2", "d3"], S.TEXT: ["Den éischten Text.", "", "Den drëtten Text."]}),
                   corpus / "part-0.parquet")
    return export, english, msgs, corpus


def test_build_mixture_origins_and_splits(tmp_path):
    export, english, msgs, corpus = _write_inputs(tmp_path)
    cfg = _mix(seed=3, validation_fraction=0.25, parts=[
        {"name": "corpus", "kind": "text", "path": str(corpus), "count": "all"},
        {"name": "luxit", "path": str(export), "count": 4},
        {"name": "english", "path": str(english), "count": 4},
        {"name": "chat", "path": str(msgs), "count": 1}])
    mix = build_mixture("m", cfg)
    assert mix.counts() == {"corpus": {"train": 2, "validation": 0}, "luxit": {"train": 3, "validation": 1},
                            "english": {"train": 3, "validation": 1}, "chat": {"train": 1, "validation": 0}}
    assert mix.parts["english"]["left_out"] == {"no_user_turn": 1}
    assert mix.parts["corpus"]["left_out"] == {"no_text": 1}
    rows = mix.table.to_pylist()
    text_rows = [r for r in rows if r["origin"] == "corpus"]
    assert sorted(r[S.TEXT] for r in text_rows) == ["Den drëtten Text.", "Den éischten Text."]
    assert all(r["kind"] == "text" and r[S.MESSAGES] is None for r in text_rows)
    eng = [r for r in rows if r["origin"] == "english"]
    assert all(r[S.MESSAGES][0]["role"] == "user" and r[S.MESSAGES][1]["role"] == "assistant" for r in eng)
    # Reproducible: the same seed draws the same rows.
    assert build_mixture("m", cfg).table.equals(mix.table)
    sub = build_mixture("m", cfg, parts=["luxit", "english"])
    assert sub.counts() == {"luxit": {"train": 3, "validation": 1}, "english": {"train": 3, "validation": 1}}
    assert sub.table.filter(pa.compute.equal(sub.table["origin"], "luxit")).equals(
        mix.table.filter(pa.compute.equal(mix.table["origin"], "luxit")))


def test_export_mixture_writes_card_and_counts(tmp_path):
    export, english, _, corpus = _write_inputs(tmp_path)
    cfg = _mix(total=6, parts=[{"name": "luxit", "path": str(export), "share": 0.5},
                               {"name": "english", "path": str(english), "share": 0.5}])
    folder = export_mixture(tmp_path / "run", "lb-en", cfg, licence="CC-BY-4.0")
    assert folder.name == "mixture-lb-en"
    doc = json.loads((folder / "mixture.json").read_text())
    assert doc["rows"] == 6 and doc["counts"] == {"luxit": {"train": 3, "validation": 0},
                                                  "english": {"train": 3, "validation": 0}}
    card = (folder / "README.md").read_text()
    assert "license: CC-BY-4.0" in card
    assert f"| luxit | instructions | `{export}` | 6 | 3 | 3 | 0 | share 0.5 of 6 |" in card
    assert f"| english | instructions | `{english}` | 4 | 3 | 3 | 0 | share 0.5 of 6 |" in card
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "_SUCCESS", "mixture.json", "train-00000.parquet"]
