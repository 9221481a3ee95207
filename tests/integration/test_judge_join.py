"""``luxit judge`` alone joins the pairs with their seeds' texts in Ray Data, sized from the files.

Seeds of one large file and many small ones made Ray extrapolate the seed texts from the first
file it read (4.3 GiB estimated for 70 MB in the benchmark) and reserve a node's whole memory for
the join's aggregator: the reads got no budget and the step never started. The aggregators are
now sized from both sides' sizes, read from the Parquet footers.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq

from luxit_ray import runs
from luxit_ray import schema as S
from luxit_ray.config import job_from_dict
from luxit_ray.steps.judge import JOIN_AGGREGATOR_CPUS, JOIN_PARTITION_BYTES, JudgeStep

WORDS = "D'Uelzecht fléisst duerch d'Stad, an d'Bierger trëppelen den Owend laanscht d'Waasser."


def _seed(i: int) -> dict:
    return {S.DOC_ID: f"t:{i}", S.SOURCE: "t", S.SOURCE_TYPE: "news", S.TITLE: f"Artikel {i}",
            S.TEXT: f"{i}: " + WORDS * (3 + i % 5), S.DATE: None, S.URL: None, S.PAGE_KIND: None,
            S.METADATA: "{}", S.ORIGIN: f"t:{i}"}


def _write(folder, name, rows, schema, compression="snappy") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name, compression=compression)


def test_data_bytes_is_the_uncompressed_size_whatever_the_codec(tmp_path):
    rows = [_seed(i) for i in range(300)]
    for codec in ("zstd", "none"):
        _write(tmp_path / codec / runs.SEEDS, "a.parquet", rows, S.DOCUMENT_SCHEMA, codec)
    packed, plain = runs.RunDir(tmp_path / "zstd"), runs.RunDir(tmp_path / "none")
    assert packed.size_bytes(runs.SEEDS) < plain.size_bytes(runs.SEEDS) / 3  # the texts repeat
    # the same up to the page headers' own bytes (their varints record the compressed sizes)
    assert abs(packed.data_bytes(runs.SEEDS) - plain.data_bytes(runs.SEEDS)) < 64
    text = sum(len(r[S.TEXT].encode()) for r in rows)
    # the text column holds every byte of the texts plus a 4-byte length per value (and page headers)
    assert text < packed.data_bytes(runs.SEEDS, [S.TEXT]) < text + 8 * len(rows) + 1024
    assert packed.data_bytes(runs.SEEDS, [S.TEXT]) < packed.data_bytes(runs.SEEDS, [S.DOC_ID, S.TEXT])
    assert packed.data_bytes("absent") == 0


def test_judge_alone_joins_skewed_seed_files_with_the_size_read_from_the_footers(ray_local, tmp_path):
    run_dir = tmp_path / "runs" / "r-1"
    seeds = [_seed(i) for i in range(400)]
    _write(run_dir / runs.SEEDS, "big.parquet", seeds[:320], S.DOCUMENT_SCHEMA)
    for k in range(16):  # one large file and many small ones: the layout that stalled the join
        _write(run_dir / runs.SEEDS, f"small-{k:02d}.parquet", seeds[320 + 5 * k: 325 + 5 * k], S.DOCUMENT_SCHEMA)
    pairs = [{S.PAIR_ID: f"t:{i}#{j}", S.DOC_ID: f"t:{i}", S.INSTRUCTION: f"Fro {j}?", S.RESPONSE: "Äntwert."}
             for i in range(400) for j in range(2)]
    _write(run_dir / runs.PAIRS, "p.parquet", [{k: p.get(k) for k in S.PAIR_SCHEMA.names} for p in pairs],
           S.PAIR_SCHEMA)
    cfg = job_from_dict({
        "run": {"name": "t", "output_dir": str(tmp_path / "runs"), "run_id": "r-1"},
        "endpoints": {"j": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}},
        "judge": {"judges": [{"name": "j", "endpoint": "j"}]},
    }, source="test")
    run = runs.RunDir(run_dir)

    ds = JudgeStep(cfg).source(run)

    join = ds._logical_plan.dag
    both = run.data_bytes(runs.SEEDS, [S.DOC_ID, S.TEXT]) + run.data_bytes(runs.PAIRS)
    assert type(join).__name__ == "Join" and join.num_outputs == 1 and both < JOIN_PARTITION_BYTES
    assert join.aggregator_ray_remote_args == {"num_cpus": JOIN_AGGREGATOR_CPUS, "memory": 4 * math.ceil(both / 1)}
    rows = ds.to_pandas()
    assert len(rows) == 800
    by_id = {s[S.DOC_ID]: s[S.TEXT] for s in seeds}
    assert all(r[S.TEXT] == by_id[r[S.DOC_ID]] for _, r in rows.iterrows())
