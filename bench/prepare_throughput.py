"""Throughput and peak memory of the whole preparation step (read -> filters -> dedup -> sample).

Generates synthetic corpora (default: 200k news articles + an 80k-page lbwiki dump), runs
`luxit prepare` on the embedded local Ray and prints documents/s and the peak resident memory of
the driver plus every Ray worker. Run it at two sizes (--scale) to see that memory does not grow
with the corpus.

    .venv/bin/python bench/prepare_throughput.py                 # 200k news + 80k wiki
    .venv/bin/python bench/prepare_throughput.py --news 20000 --wiki 8000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_corpus import write_news, write_wiki  # noqa: E402


class PeakRss:
    """Samples the RSS of this process and all its descendants (Ray's workers) every 0.5 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.5)

    def __enter__(self) -> PeakRss:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--news", type=int, default=200_000, help="synthetic news articles")
    ap.add_argument("--wiki", type=int, default=80_000, help="synthetic wiki pages")
    ap.add_argument("--workdir", type=Path, default=None, help="keep corpora and run here")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()

    from luxit_ray import pipeline
    from luxit_ray.config import job_from_dict

    work = args.workdir or Path(tempfile.mkdtemp(prefix="luxit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    news, wiki = work / f"news-{args.news}.jsonl", work / f"lbwiki-{args.wiki}.xml.bz2"
    t = time.monotonic()
    if not news.exists():
        write_news(news, args.news)
    if not wiki.exists():
        write_wiki(wiki, args.wiki)
    gen_s = time.monotonic() - t
    cfg = job_from_dict({
        "run": {"name": "bench", "output_dir": str(work / "runs"), "ray": {"num_cpus": 2}},
        "sources": [
            {"type": "wikipedia", "name": "lbwiki", "path": str(wiki)},
            {"type": "news", "name": "rtl", "path": str(news)},
        ],
    })
    with PeakRss() as mem:
        t = time.monotonic()
        summary = pipeline.run_prepare(cfg)
        wall = time.monotonic() - t
    manifest = json.loads((Path(summary["run_dir"]) / "manifest.json").read_text())["steps"]["prepare"]
    read = sum(manifest["read"].values())
    figures = {
        "machine": f"{platform.node()} {psutil.cpu_count()} CPUs {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "news": args.news, "wiki_pages": args.wiki, "documents_read": read,
        "seeds": sum(manifest["seeds"].values()), "wall_s": round(wall, 1),
        "docs_per_s": round(read / wall, 1), "peak_rss_gib": round(mem.peak / 2**30, 2),
        "projected_385k_min": round(385_000 / (read / wall) / 60, 1), "corpus_generation_s": round(gen_s, 1),
        "dropped": manifest["dropped"],
        "step_s": manifest.get("step_s", {}),
    }
    for k, v in figures.items():
        print(f"{k:>22}: {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
