"""How much of the judge's prompt a prefix cache serves: the old layout against the new one, on the
real vLLM server (SmolLM2-135M-Instruct on CPU, prefix caching on, ``--enable-prompt-tokens-details``).

The same seeds and pairs are judged twice by :class:`~luxit_ray.stages.judge.JudgeStage`, once with
the judge prompt as it was (``bench/prompts/judge-old-layout.jinja``: the pair before the rubric)
and once with ``prompts/judge.jinja`` (role, rubric and answer format first, then the seed's
source, then the pair). The server's prefix cache is emptied before each layout
(``POST /reset_prefix_cache``, a development endpoint of vLLM's server) so neither inherits the
other's blocks. Reported per layout and per in-flight count: the prompt tokens vLLM counted, the
part it read from its cache (``usage.prompt_tokens_details.cached_tokens``, whole KV blocks), and
that share. The judge's answers are not the point (``max_tokens`` is small).

Seeds: the RTL sample of tests/data (news written for this project in Luxembourgish), cut to
``--source-chars``; three pairs per seed, written from the seed's title and sentences.

Usage::

    python bench/judge_prefix_cache.py                    # 24 seeds, in flight 1 and 8
    python bench/judge_prefix_cache.py --seeds 12 --json docs/bench/judge-prefix-cache.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from luxit_ray import schema as S  # noqa: E402
from luxit_ray.prompts import PromptTemplate, load_prompt  # noqa: E402

OLD_LAYOUT = ROOT / "bench" / "prompts" / "judge-old-layout.jinja"
SAMPLE = ROOT / "tests" / "data" / "rtl-sample.jsonl"


def seeds_and_pairs(n_seeds: int, source_chars: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Pair rows (three per seed, the seed's rows next to each other as generate writes them) and
    the seed texts by doc id."""
    rows, texts = [], {}
    with SAMPLE.open(encoding="utf-8") as f:
        articles = [json.loads(line) for line in f if line.strip()]
    for a in articles[:n_seeds]:
        doc = f"rtl:{a['article_id']}"
        text = "\n\n".join(p for p in (a.get("header"), a.get("text")) if p)[:source_chars]
        texts[doc] = text
        sentences = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.strip()) > 20] or [text[:200]]
        asks = (f"Wat ass d'Haaptaussoe vum Artikel „{a['title']}“?",
                f"Resuméiert a zwee Sätz, wat am Artikel „{a['title']}“ steet.",
                f"Wéi eng Zuelen oder Datumer ginn am Artikel „{a['title']}“ genannt?")
        for i, ask in enumerate(asks):
            row = {k: None for k in S.PAIR_SCHEMA.names}
            row.update({S.PAIR_ID: f"{doc}:{i}", S.DOC_ID: doc, S.SOURCE: "rtl", S.SOURCE_TYPE: "news",
                        S.TITLE: a["title"], S.DATE: a.get("public_date"), S.PAIR_INDEX: i, S.INSTRUCTION: ask,
                        S.RESPONSE: ". ".join(sentences[i % len(sentences):][:2]) + ".", S.MODEL: "bench",
                        S.PROMPT_SHA: "bench", S.USAGE: "{}", S.CACHE_HIT: False})
            rows.append(row)
    return rows, texts


def reset_prefix_cache(base_url: str) -> bool:
    """Empty the server's prefix cache; False where the server does not offer it."""
    root = base_url.rsplit("/v1", 1)[0]
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{root}/reset_prefix_cache", method="POST"), timeout=30):
            return True
    except OSError:
        return False


def judge_once(handle: Any, template: PromptTemplate, rows: list[dict[str, Any]], texts: dict[str, str],
               in_flight: int) -> dict[str, Any]:
    import pyarrow as pa

    from luxit_ray.serve import endpoint_for
    from luxit_ray.stages.judge import JudgeStage

    ep = endpoint_for(handle, max_in_flight=in_flight, structured_output="none",
                      sampling={"temperature": 0.0, "max_tokens": 8})
    stage = JudgeStage(judges=[{"name": "smollm2", "endpoint_name": "local", "endpoint": ep,
                                "prompt_name": template.name, "prompt_source": template.source}],
                       language="Luxembourgish", source_texts=texts, max_source_chars=100_000)
    t0 = time.monotonic()
    try:
        out = stage.process(pa.Table.from_pylist(rows, schema=S.PAIR_SCHEMA)).to_pylist()
    finally:
        stage.close()
    prompt = cached = requests = 0
    for r in out:
        for j in json.loads(r[S.JUDGEMENTS]):
            u = j["usage"]
            prompt += u["prompt_tokens"]
            cached += u["cached_tokens"]
            requests += 1
    return {"requests": requests, "prompt_tokens": prompt, "cached_tokens": cached,
            "cached_share": round(cached / prompt, 4) if prompt else None,
            "prompt_tokens_per_request": round(prompt / requests, 1) if requests else None,
            "wall_s": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=24, help="seeds (three pairs each)")
    ap.add_argument("--source-chars", type=int, default=2500, help="seed text cut (SmolLM2's context is 4,096 here)")
    ap.add_argument("--in-flight", default="1,8", help="in-flight counts to measure, comma separated")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)

    from luxit_ray.config.serve import ServeConfig
    from luxit_ray.serve import local_server

    rows, texts = seeds_and_pairs(args.seeds, args.source_chars)
    layouts = {"old": PromptTemplate(name="judge", source=OLD_LAYOUT.read_text(encoding="utf-8")),
               "new": load_prompt("judge")}
    cfg = ServeConfig(port=0, max_model_len=4096, startup_timeout_s=900,
                      extra_args=["--enable-prefix-caching", "--enable-prompt-tokens-details"],
                      env={"VLLM_SERVER_DEV_MODE": "1"})
    results: dict[str, Any] = {"seeds": args.seeds, "pairs": len(rows), "source_chars": args.source_chars,
                               "model": "SmolLM2-135M-Instruct (vLLM CPU)", "runs": []}
    with local_server(cfg) as handle:
        for in_flight in (int(x) for x in args.in_flight.split(",")):
            for name, template in layouts.items():
                reset = reset_prefix_cache(handle.base_url)
                fig = judge_once(handle, template, rows, texts, in_flight)
                fig.update(layout=name, in_flight=in_flight, prompt_sha=template.sha, cache_reset=reset)
                results["runs"].append(fig)
                print(f"in flight {in_flight:>2} layout {name}: {fig['requests']} requests, "
                      f"{fig['prompt_tokens_per_request']} prompt tokens each, cached {fig['cached_tokens']:,} of "
                      f"{fig['prompt_tokens']:,} ({fig['cached_share']:.1%}), {fig['wall_s']} s"
                      + ("" if reset else " (prefix cache not reset: the server did not offer it)"), flush=True)
    results["machine"] = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end"
    results["date"] = time.strftime("%Y-%m-%d")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
