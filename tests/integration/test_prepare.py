"""`luxit prepare` on the bundled sample corpus, on a real local Ray: exact counts per filter and
per source (the intended fate of every page and row is listed in tests/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from luxit_ray import cli
from luxit_ray.config import load_job

ROOT = Path(__file__).resolve().parents[2]


def table(path: Path):
    return pads.dataset(str(path), format="parquet").to_table()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, ray_local):
    out = tmp_path_factory.mktemp("runs")
    rc = cli.main(["prepare", str(ROOT / "jobs/quickstart.yaml"), f"run.output_dir={out}", "run.run_id=t1"])
    assert rc == 0
    return out / "t1"


def test_manifest_counts_every_filter_per_source(prepared):
    steps = json.loads((prepared / "manifest.json").read_text())["steps"]["prepare"]
    # Every page read counts: 22 in ns 0, plus 4 redirects and 5 pages in other namespaces.
    assert steps["read"] == {"lbwiki": 31, "rtl": 39}
    assert steps["dropped"] == {
        "type": {"rtl": 5},
        "redirect": {"lbwiki": 4},
        "namespace": {"lbwiki": 5},
        "page_kind": {"lbwiki": 6},
        "min_length": {"lbwiki": 2, "rtl": 3},
        "non_prose": {"rtl": 3},
        "langid": {"rtl": 6},
        "dedup": {"lbwiki": 2, "rtl": 2},
    }
    assert steps["kept"] == {"lbwiki": 12, "rtl": 20}
    assert steps["seeds"] == {"lbwiki": 12, "rtl": 20}
    assert steps["boilerplate_lines_removed"]["rtl"] >= 20
    assert steps["read_detail"] == {
        "lbwiki": {"namespace 10 (Schabloun)": 2, "namespace 14 (Kategorie)": 1, "namespace 6 (Fichier)": 1,
                   "namespace 828 (Modul)": 1, "redirect": 4},
        "rtl": {"type=comment excluded": 5},
    }
    # read = kept + every drop reason, per source
    for src, n in steps["read"].items():
        assert n == steps["kept"][src] + sum(per.get(src, 0) for per in steps["dropped"].values())
    assert steps["unaccounted"] == {}
    assert steps["wiki_markup_left"] == {"lbwiki": {"pages": 12, "with_markup": 0, "by_mark": {}}}
    bp = steps["boilerplate"]["rtl"]
    assert bp["docs"] == 34 and bp["lines_learned"] == 3 and bp["lines_removed"] == steps["boilerplate_lines_removed"]["rtl"]
    assert [t["line"] for t in bp["top_lines"]] == [
        "Foto: RTL Archiv", "(mat AFP)", "Deelt dësen Artikel mat Äre Frënn op de soziale Netzwierker."]
    assert [t["docs"] for t in bp["top_lines"]] == [9, 6, 5]
    assert 0 < bp["removed_share"] < 0.1 and steps["warnings"] == []


def test_rejects_carry_reasons_and_seeds_are_clean(prepared):
    rejects = table(prepared / "rejects").to_pylist()
    assert len(rejects) == 38
    assert all(r["drop_reason"] for r in rejects)
    by_id = {r["doc_id"]: r for r in rejects}
    german = [r for r in rejects if r["drop_filter"] == "langid"]
    assert len(german) == 6 and all("__label__lb" in r["drop_reason"] for r in german)
    assert any(r["drop_reason"].startswith("page_kind: list") for r in by_id.values())
    seeds = table(prepared / "seeds")
    assert seeds.num_rows == 32
    assert "drop_reason" not in seeds.column_names
    texts = seeds.column("text").to_pylist()
    assert not any("Deelt dësen Artikel" in t for t in texts)  # boilerplate removed
    assert len(set(seeds.column("doc_id").to_pylist())) == 32
    assert (prepared / "seeds" / "_SUCCESS").is_file()


def test_quota_and_rerun_skip(tmp_path, ray_local):
    cfg_args = [str(ROOT / "jobs/quickstart.yaml"), f"run.output_dir={tmp_path}", "run.run_id=q",
                "sample.quotas.rtl=5", "sample.quotas.lbwiki=3"]
    assert cli.main(["prepare", *cfg_args]) == 0
    first = sorted(table(tmp_path / "q" / "seeds").column("doc_id").to_pylist())
    assert len(first) == 8
    mtime = (tmp_path / "q" / "seeds" / "_SUCCESS").stat().st_mtime
    assert cli.main(["prepare", *cfg_args]) == 0  # finished: skipped, same seeds
    assert (tmp_path / "q" / "seeds" / "_SUCCESS").stat().st_mtime == mtime
    assert sorted(table(tmp_path / "q" / "seeds").column("doc_id").to_pylist()) == first


def test_resume_after_filters_does_not_filter_again(tmp_path, ray_local, monkeypatch):
    # The row filters (boilerplate, fastText) run once: dedup reads their written output, and a
    # rerun after a crash in dedup starts from it. Proof: the rerun succeeds with the parsed
    # documents gone, and gives the counts of an uninterrupted run.
    from luxit_ray import filters

    args = ["prepare", str(ROOT / "jobs/quickstart.yaml"), f"run.output_dir={tmp_path}", "run.run_id=r"]
    real_dedup = filters.dedup_signed

    def crash(ds, cfg):
        raise RuntimeError("node lost during dedup")

    monkeypatch.setattr(filters, "dedup_signed", crash)
    with pytest.raises(RuntimeError, match="node lost"):
        cli.main(args)
    run = tmp_path / "r"
    assert (run / "_screened" / "_SUCCESS").is_file() and not (run / "filtered").exists()
    for f in (run / "documents").glob("*.parquet"):
        f.unlink()
    monkeypatch.setattr(filters, "dedup_signed", real_dedup)
    assert cli.main(args) == 0
    steps = json.loads((run / "manifest.json").read_text())["steps"]["prepare"]
    assert steps["read"] == {"lbwiki": 31, "rtl": 39}
    assert steps["dropped"]["dedup"] == {"lbwiki": 2, "rtl": 2}
    assert steps["seeds"] == {"lbwiki": 12, "rtl": 20}
    assert not (run / "_screened").exists()  # temporary: removed once filtered/ is written
    # The rerun timed only the steps it ran: no read, no boilerplate learning, no screening.
    assert list(steps["step_s"]) == ["dedup", "write_filtered", "write_rejects", "sample", "write_seeds"]


def test_bad_input_fail_mode_is_one_clear_line(tmp_path, ray_local, capsys):
    job = tmp_path / "job.yaml"
    bad = ROOT / "tests/data/bad/rtl-bad.jsonl"
    job.write_text(
        f"run: {{on_bad_input: fail, output_dir: {tmp_path}}}\n"
        f"sources: [{{type: news, name: rtl, path: {bad}}}]\n",
        encoding="utf-8",
    )
    assert cli.main(["prepare", str(job)]) == 2
    err = capsys.readouterr().err
    assert "rtl-bad.jsonl:line 2: malformed JSON" in err
    assert "Traceback" not in err


def test_quickstart_config_is_the_one_the_test_uses():
    assert load_job(ROOT / "jobs/quickstart.yaml").filters.min_chars == 750


def test_io_tasks_take_half_a_cpu_only_beside_one_cpu_nodes(monkeypatch):
    # Half-CPU screening actors spread over 1-CPU nodes leave no node a whole CPU: the read and
    # write tasks then take half a CPU too (the two-node submit test hung before).
    import ray

    from luxit_ray import pipeline

    def nodes(*cpus):
        return lambda: [{"Alive": True, "Resources": {"CPU": c}} for c in cpus] + [
            {"Alive": False, "Resources": {"CPU": 1.0}}
        ]

    monkeypatch.setattr(ray, "nodes", nodes(1.0, 1.0))
    assert pipeline._io_task_cpus() == pipeline.ACTOR_CPUS
    monkeypatch.setattr(ray, "nodes", nodes(2.0, 16.0))
    assert pipeline._io_task_cpus() is None  # a dead 1-CPU node does not count
    monkeypatch.setattr(ray, "nodes", nodes(0.0, 4.0))  # a GPU-only or head node with no CPU
    assert pipeline._io_task_cpus() is None


# ---- a corpus without ids, 2% exact duplicates, several files and blocks ------------------


def write_job(tmp_path: Path, path: str, on_bad_input: str = "fail", **filters) -> Path:
    job = tmp_path / "job.yaml"
    job.write_text(json.dumps({
        "run": {"name": "dups", "on_bad_input": on_bad_input, "output_dir": str(tmp_path / "runs"), "run_id": "d"},
        "sources": [{"type": "news", "name": "rtl", "path": path}],
        "filters": filters,
        "sample": {"seed": 1, "quotas": {"rtl": "all"}},
    }), encoding="utf-8")
    return job


def test_news_without_ids_and_exact_duplicates_prepares(tmp_path, ray_local, capsys):
    # Before: every copy got rtl:<sha256(text)[:16]>, and prepare stopped after filtering
    # everything with "<documents>:doc_id: N doc_id(s) occur more than once".
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.synthetic_corpus import write_news_files

    files = write_news_files(tmp_path / "corpus", n_files=3, per_file=1200, seed=3, id_column=False)
    records = [(f.name, i + 1, json.loads(line)) for f in files
               for i, line in enumerate(f.read_text(encoding="utf-8").splitlines())]
    assert len(records) == 3600 and not any("article_id" in r for _, _, r in records)
    job = write_job(tmp_path, str(tmp_path / "corpus" / "news-*.jsonl"))
    assert cli.main(["prepare", str(job)]) == 0
    run = tmp_path / "runs" / "d"
    steps = json.loads((run / "manifest.json").read_text())["steps"]["prepare"]
    comments = sum(1 for _, _, r in records if r["type"] == "comment")
    assert steps["read"] == {"rtl": 3600}
    assert steps["read_detail"] == {"rtl": {"type=comment excluded": comments}}
    assert steps["kept"]["rtl"] + sum(per["rtl"] for per in steps["dropped"].values()) == 3600
    assert steps["unaccounted"] == {}
    rejects = table(run / "rejects").to_pylist()
    seeds = table(run / "seeds")
    kept_ids = set(seeds.column("doc_id").to_pylist())
    assert len(kept_ids) == steps["kept"]["rtl"]
    # Every exact duplicate names the first copy in file order, which went on to dedup...
    first_of: dict[tuple, str] = {}
    first_copy: dict[str, str] = {}  # a later copy's doc id -> its first copy's
    for name, pos, rec in records:
        doc_id = f"rtl:{name}:{pos:08d}"
        first = first_of.setdefault((rec["type"], rec["header"], rec["text"]), doc_id)
        if first != doc_id:
            first_copy[doc_id] = first
    exact = {r["doc_id"]: r["drop_reason"].removeprefix("duplicate: exact of ") for r in rejects
             if (r["drop_reason"] or "").startswith("duplicate: exact of ")}
    assert all(first_copy[d] == kept for d, kept in exact.items())
    # ...and they are all the later copies whose first copy reached dedup.
    before_dedup = {r["doc_id"] for r in rejects if r["drop_filter"] != "dedup"}
    expected = sum(1 for d, first in first_copy.items() if first not in before_dedup)
    assert set(exact) <= set(first_copy) and {d for d in kept_ids if d in first_copy} == set()
    assert expected >= 40 and len(exact) == expected
    assert {d.split(":")[1] for d in exact} == {"news-00.jsonl", "news-01.jsonl", "news-02.jsonl"}
    pairs = [(d.split(":")[1:], exact[d].split(":")[1:]) for d in exact]
    assert any(a[0] != b[0] for a, b in pairs)  # across files
    assert any(a[0] == b[0] for a, b in pairs)  # within a file
    # across read blocks (1,000 rows each): the copy and the one kept in different blocks of one file
    assert any(a[0] == b[0] and (int(a[1]) - 1) // 1000 != (int(b[1]) - 1) // 1000 for a, b in pairs)


def test_repeated_native_ids_fail_in_one_line_or_are_quarantined(tmp_path, ray_local, capsys):
    rec = {"type": "news", "title": "T", "header": "H.", "text": "Eng Noriicht. " * 80}
    lines = [{**rec, "article_id": 7}, {**rec, "article_id": 8, "text": "Eng aner Noriicht. " * 60},
             {**rec, "article_id": 7, "text": "Nach eng. " * 90}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    job = write_job(tmp_path, str(tmp_path / "a.jsonl"), langid={"enabled": False})
    assert cli.main(["prepare", str(job)]) == 2
    err = capsys.readouterr().err
    assert "a.jsonl:line 3: doc_id 'rtl:7' occurs more than once (first at a.jsonl:line 1)" in err
    assert "Traceback" not in err and not (tmp_path / "runs" / "d" / "filtered").exists()
    job = write_job(tmp_path, str(tmp_path / "a.jsonl"), on_bad_input="quarantine", langid={"enabled": False})
    import shutil

    shutil.rmtree(tmp_path / "runs")
    assert cli.main(["prepare", str(job)]) == 0
    steps = json.loads((tmp_path / "runs" / "d" / "manifest.json").read_text())["steps"]["prepare"]
    assert steps["dropped"] == {"input": {"rtl": 1}} and steps["kept"] == {"rtl": 2}
    (bad,) = table(tmp_path / "runs" / "d" / "rejects").to_pylist()
    assert bad["drop_reason"] == "a.jsonl:line 3: doc_id 'rtl:7' occurs more than once (first at a.jsonl:line 1)"


def test_closing_table_has_a_row_per_drop_and_adds_up(tmp_path):
    from luxit_ray import pipeline, runs

    counts = {
        "read": {"lbwiki": 31, "rtl": 39}, "kept": {"lbwiki": 12, "rtl": 20}, "seeds": {"lbwiki": 12, "rtl": 5},
        "dropped": {"dedup": {"lbwiki": 2, "rtl": 2}, "namespace": {"lbwiki": 5}, "redirect": {"lbwiki": 4},
                    "type": {"rtl": 5}, "page_kind": {"lbwiki": 6}, "min_length": {"lbwiki": 2, "rtl": 3},
                    "langid": {"rtl": 9}},
        "read_detail": {"lbwiki": {"namespace 10 (Schabloun)": 3, "namespace 14 (Kategorie)": 2, "redirect": 4},
                        "rtl": {"type=comment excluded": 5}},
        "warnings": ["warning: boilerplate removal took 12.0% of rtl's characters (...)"],
    }
    summary = pipeline._prepare_summary(runs.RunDir(tmp_path), counts)
    table = summary["tables"]["prepare: documents per filter and source"]
    assert table["columns"] == ["step", "lbwiki", "rtl", "total"]
    assert table["rows"] == [
        ["read", 31, 39, 70], ["-type", 0, 5, 5], ["  type=comment excluded", 0, 5, 5], ["-redirect", 4, 0, 4],
        ["-namespace", 5, 0, 5], ["  namespace 10 (Schabloun)", 3, 0, 3], ["  namespace 14 (Kategorie)", 2, 0, 2],
        ["-page_kind", 6, 0, 6], ["-min_length", 2, 3, 5], ["-langid", 0, 9, 9], ["-dedup", 2, 2, 4],
        ["kept", 12, 20, 32], ["seeds", 12, 5, 17],
    ]
    drops = [r for r in table["rows"] if r[0].startswith("-")]
    assert [sum(col) for col in zip(*[r[1:] for r in drops], strict=True)] == [31 - 12, 39 - 20, 70 - 32]
    assert summary["lines"][0].startswith("warning: boilerplate removal took 12.0%")


def test_boilerplate_warning_is_one_line_naming_the_keys():
    from luxit_ray import pipeline

    learned = {"docs": {"rtl": 100, "wort": 50}, "chars": {"rtl": 200_000, "wort": 100_000},
               "learned": {"rtl": 40, "wort": 1}, "top_lines": {"rtl": [{"line": "Foto: RTL", "docs": 90}], "wort": []}}
    summary, warnings = pipeline._boilerplate_summary(learned, {"rtl": 900, "wort": 3}, {"rtl": 30_000, "wort": 120}, 0.1)
    assert summary["rtl"] == {"docs": 100, "chars": 200_000, "chars_removed": 30_000, "removed_share": 0.15,
                              "lines_learned": 40, "lines_removed": 900, "top_lines": [{"line": "Foto: RTL", "docs": 90}]}
    assert summary["wort"]["removed_share"] == 0.0012
    assert warnings == [
        "warning: boilerplate removal took 15.0% of rtl's characters (over filters.boilerplate.max_removed_share=0.1); "
        "if real sentences went, raise filters.boilerplate.min_doc_fraction or sentence_doc_fraction "
        "(learned lines: manifest.json)"
    ]
