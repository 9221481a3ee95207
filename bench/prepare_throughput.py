"""Throughput and peak memory of the whole preparation step (read -> filters -> dedup -> sample).

Generates synthetic corpora (default: 200k news articles + an 80k-page lbwiki dump), runs
`luxit prepare` on the embedded local Ray and prints documents/s, the seconds of each step, and
the peak memory of the driver plus every Ray worker (PSS and RSS, see PeakMemory). Run it at two
sizes (--news/--wiki) to see how memory grows with the corpus.

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
from synthetic_corpus import write_news, write_news_files, write_wiki  # noqa: E402


class PeakMemory:
    """Samples the memory of this process and all its descendants (Ray's workers) every 0.5 s.

    Two sums: RSS, which counts a shared page (Ray's object store is shared memory mapped into
    every worker that reads a block) once per process that maps it, and PSS (Linux), which
    splits each shared page among the processes that map it, so its sum is the memory the job
    really holds. ``driver`` is the PSS of this process alone (it holds the dedup signatures
    and the sampling keys).
    """

    def __init__(self) -> None:
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_driver = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            rss = pss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    info = p.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                own = getattr(info, "pss", info.rss)
                pss += own
                if p.pid == me.pid:
                    self.peak_driver = max(self.peak_driver, own)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(0.5)

    def __enter__(self) -> PeakMemory:
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
    ap.add_argument("--no-ids", action="store_true",
                    help="news without an id column, in 4 files, with --dup-share exact copies (syndication)")
    ap.add_argument("--dup-share", type=float, default=0.02, help="share of exact copies with --no-ids")
    args = ap.parse_args()

    from luxit_ray import pipeline
    from luxit_ray.config import job_from_dict

    work = args.workdir or Path(tempfile.mkdtemp(prefix="luxit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    news, wiki = work / f"news-{args.news}.jsonl", work / f"lbwiki-{args.wiki}.xml.bz2"
    t = time.monotonic()
    if args.no_ids:
        folder = work / f"news-noid-{args.news}-{args.dup_share:g}"
        if not folder.exists():
            write_news_files(folder, 4, args.news // 4, id_column=False, dup_share=args.dup_share)
        news = folder / "news-*.jsonl"
    elif not news.exists():
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
    with PeakMemory() as mem:
        t = time.monotonic()
        summary = pipeline.run_prepare(cfg)
        wall = time.monotonic() - t
    manifest = json.loads((Path(summary["run_dir"]) / "manifest.json").read_text())["steps"]["prepare"]
    read = sum(manifest["read"].values())
    figures = {
        "machine": f"{platform.node()} {psutil.cpu_count()} CPUs {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "news": args.news, "wiki_pages": args.wiki, "documents_read": read,
        "seeds": sum(manifest["seeds"].values()), "wall_s": round(wall, 1),
        "docs_per_s": round(read / wall, 1), "peak_pss_gib": round(mem.peak_pss / 2**30, 2),
        "peak_rss_gib": round(mem.peak_rss / 2**30, 2), "peak_driver_pss_gib": round(mem.peak_driver / 2**30, 2),
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
