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
    assert steps["read"] == {"lbwiki": 22, "rtl": 39}
    assert steps["dropped"] == {
        "type": {"rtl": 5},
        "page_kind": {"lbwiki": 6},
        "min_length": {"lbwiki": 2, "rtl": 3},
        "non_prose": {"rtl": 3},
        "langid": {"rtl": 6},
        "dedup": {"lbwiki": 2, "rtl": 2},
    }
    assert steps["kept"] == {"lbwiki": 12, "rtl": 20}
    assert steps["seeds"] == {"lbwiki": 12, "rtl": 20}
    assert steps["boilerplate_lines_removed"]["rtl"] >= 20


def test_rejects_carry_reasons_and_seeds_are_clean(prepared):
    rejects = table(prepared / "rejects").to_pylist()
    assert len(rejects) == 29
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
    assert steps["read"] == {"lbwiki": 22, "rtl": 39}
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
