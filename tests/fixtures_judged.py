"""A small, hand-countable judged run folder for the export, review and report tests.

``write_judged_run(root)`` writes the layout the prepare/generate/judge steps produce::

    <root>/<run_id>/config.yaml  manifest.json
        seeds/ rejects/ pairs/ generate_errors/ judged/ kept/ rejected_pairs/   (+ _SUCCESS each)

Three sources: lbwiki (wikipedia, 4 seeds), rtl (news, 3 seeds, one of which failed to generate)
and chamber (text, 1 seed); 21 pairs judged by two judges (aggregate "majority", which for two
judges is the lower score). Every pair's scores are listed in ``PAIRS`` below; the numbers the
tests assert were counted by hand from this table:

- 20 pairs have scores, 1 has a judge error (both judges failed: chamber p2); 14 kept.
- Aggregates, score 1/2/3 counts: linguistic_quality 2/14/4, factual_accuracy 3/5/12,
  instruction_adherence 1/4/15, helpfulness_relevance 1/5/14; all-3 pairs: 3.
- Judges disagree on 4 of the 19 pairs that both judges scored (one pair has one failed judge).

Parquet parts are written the way Ray Data writes them: several files per folder, types inferred
per file (an all-null column in one file has the ``null`` type).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from luxit_ray import schema as S
from luxit_ray.config import job_from_dict
from luxit_ray.runs import RunDir

RUN_ID = "fixture-20250101-000000"
GEN_MODEL = "deepseek-reasoner"
GEN_SHA = hashlib.sha256(b"generate prompt v1").hexdigest()[:16]
JUDGE_SHA = hashlib.sha256(b"judge prompt v1").hexdigest()[:16]
JUDGES = (("gpt5mini", "gpt-5-mini"), ("qwen", "Qwen/Qwen3-32B"))

DOCS: list[dict[str, Any]] = [
    {
        "doc_id": "lbwiki:101", "source": "lbwiki", "source_type": "wikipedia", "date": None,
        "title": "Stauséi vun der Uewersauer", "url": "https://lb.wikipedia.org/wiki?curid=101",
        "text": (
            "De Stauséi vun der Uewersauer läit am Nordweste vu Lëtzebuerg. De Barrage bei Esch-Sauer "
            "gouf an de fofzeger Joren gebaut an huet de Séi entstoe gelooss. Haut liwwert de Séi e "
            "groussen Deel vum Drénkwaasser vum Land. Am Summer kommen vill Leit fir ze schwammen, ze "
            "segelen an ze wanderen. Well de Séi d'Drénkwaasser stellt, sinn Motorbooter net erlaabt."
        ),
    },
    {
        "doc_id": "lbwiki:102", "source": "lbwiki", "source_type": "wikipedia", "date": None,
        "title": "Veiner Schlass", "url": "https://lb.wikipedia.org/wiki?curid=102",
        "text": (
            "D'Veiner Schlass steet op engem Fiels iwwer der Stad Veianen am Our-Dall. Et gouf tëscht "
            "dem 11. an dem 14. Joerhonnert gebaut a war laang am Besëtz vun der Famill vun Nassau. Am "
            "19. Joerhonnert ass d'Schlass zerfall, well et stéckweis verkaf gouf. Zanter 1977 gehéiert "
            "et dem Staat, deen et restauréiert huet."
        ),
    },
    {
        "doc_id": "lbwiki:103", "source": "lbwiki", "source_type": "wikipedia", "date": None,
        "title": "Mëllerdall", "url": "https://lb.wikipedia.org/wiki?curid=103",
        "text": (
            "D'Mëllerdall, och Lëtzebuerger Schwäiz genannt, ass eng Regioun am Osten vum Land. Bekannt "
            "ass se fir hir Sandsteefielsen, déif Schluchten a Bëscher. De Mullerthal Trail féiert iwwer "
            "ongeféier 112 Kilometer duerch d'Regioun. Den Haaptuert ass Iechternach mat senger Basilika."
        ),
    },
    {
        "doc_id": "lbwiki:104", "source": "lbwiki", "source_type": "wikipedia", "date": None,
        "title": "Kachkéis", "url": "https://lb.wikipedia.org/wiki?curid=104",
        "text": (
            "Kachkéis ass e wäichen, gekachte Kéis, deen a Lëtzebuerg gär op Brout giess gëtt. E gëtt "
            "aus Quark gemaach, deen een reife léisst an duerno mat Botter, Mëllech a Salz erhëtzt. "
            "Dacks kënnt e Läffel Moschter derbäi. Vill Famillen maachen en nach selwer."
        ),
    },
    {
        "doc_id": "rtl:5001", "source": "rtl", "source_type": "news", "date": "2024-03-12",
        "title": "Nei Tramstatioun um Kierchbierg", "url": None,
        "text": (
            "Um Kierchbierg ass e Méindeg eng nei Tramstatioun opgaangen. D'Statioun läit beim "
            "Europäesche Geriichtshaff a soll virun allem deenen hëllefen, déi do schaffen. Den Tram "
            "fiert an de Spëtzestonnen all dräi bis véier Minutten. D'Linn soll bis 2028 weider "
            "ausgebaut ginn."
        ),
    },
    {
        "doc_id": "rtl:5002", "source": "rtl", "source_type": "news", "date": "2023-09-11",
        "title": "Schueberfouer zielt méi Visiteuren", "url": None,
        "text": (
            "D'Schueberfouer huet dëst Joer méi Visiteure gezielt wéi d'Joer virdrun. D'Organisateure "
            "schwätze vu ronn zwou Millioune Leit, déi op de Glacis komm sinn. Nei Attraktioune sinn "
            "derbäikomm, an d'Stänn mat Gebake Fësch ware gutt besicht. D'Fouer dauert all Joer "
            "ongeféier dräi Wochen am August a September."
        ),
    },
    {
        "doc_id": "rtl:5003", "source": "rtl", "source_type": "news", "date": "2024-06-01",
        "title": "Wiederbericht fir de Weekend", "url": None,
        "text": (
            "Fir de Weekend gëtt vill Reen erwaart, virun allem am Norde vum Land. Samschdes bleiwen "
            "d'Temperaturen ënner zwanzeg Grad, sonndes gëtt et e bësse méi waarm. Um Méindeg soll "
            "d'Sonn erëm méi dacks duerchkommen."
        ),
    },
    {
        "doc_id": "chamber:2019-12-05", "source": "chamber", "source_type": "text", "date": "2019-12-05",
        "title": "Debatt iwwer de gratis ëffentlechen Transport", "url": None,
        "text": (
            "An der Chamber gouf iwwer de gratis ëffentlechen Transport diskutéiert, deen ab dem "
            "1. Mäerz 2020 am ganze Land gëlle soll. D'Regierung mengt, datt esou méi Leit den Zuch an "
            "de Bus huelen. D'Oppositioun freet sech, ob d'Suen net besser an d'Infrastruktur "
            "investéiert wieren. Eng Majoritéit vun den Deputéierten huet dem Projet zougestëmmt."
        ),
    },
]

# (doc_id, pair_index, instruction, response, judge 1 scores, judge 2 scores)
# Scores are LQ FA IA HR digits; None = that judge failed on the pair.
PAIRS: list[tuple[str, int, str, str, str | None, str | None]] = [
    ("lbwiki:101", 0, "Firwat sinn um Stauséi vun der Uewersauer keng Motorbooter erlaabt?",
     "Well de Stauséi e groussen Deel vum Drénkwaasser vu Lëtzebuerg liwwert, si Motorbooter verbueden, fir d'Waasser propper ze halen.",
     "3333", "3333"),
    ("lbwiki:101", 1, "Fass an zwee Sätz zesummen, wat de Stauséi vun der Uewersauer fir d'Land bedeit.",
     "De Stauséi ass duerch de Barrage bei Esch-Sauer entstanen a liwwert vill vum Drénkwaasser vum Land.\nDonieft ass en am Summer e beléiften Uert fir ze schwammen an ze segelen.",
     "2323", "2323"),
    ("lbwiki:101", 2, "Wéi eng Fräizäitaktivitéiten ginn et um Stauséi?",
     "Um Stauséi kann een schwammen, segelen a rondrëm de Séi wanderen.",
     "2333", "3333"),
    ("lbwiki:102", 0, "Wéini gouf d'Veiner Schlass gebaut?",
     "D'Schlass gouf tëscht dem 11. an dem 14. Joerhonnert gebaut.",
     "2233", "2233"),
    ("lbwiki:102", 1, "Wem gehört das Schloss Vianden heute?",
     "Das Schloss gehört seit 1977 dem luxemburgischen Staat.",
     "1333", "1333"),
    ("lbwiki:102", 2, "Firwat ass d'Schlass am 19. Joerhonnert zerfall?",
     "D'Schlass ass duerch e grousse Brand am Joer 1950 zerstéiert ginn.",
     "2133", "2233"),
    ("lbwiki:103", 0, "Wat mécht d'Landschaft vum Mëllerdall esou besonnesch?",
     "D'Mëllerdall ass bekannt fir seng Sandsteefielsen, déif Schluchten an déck Bëscher; dofir gëtt et och Lëtzebuerger Schwäiz genannt.",
     "3333", "3333"),
    ("lbwiki:103", 1, "Wéi laang ass de Mullerthal Trail?",
     "Den Trail ass ongeféier 112 Kilometer laang.",
     "2223", None),
    ("lbwiki:103", 2, "Schreif dräi Punkten iwwer d'Geschicht vun Iechternach.",
     "Iechternach ass eng schéi Stad.",
     "2312", "2312"),
    ("lbwiki:104", 0, "Aus wat gëtt Kachkéis gemaach?",
     "Kachkéis gëtt aus reifem Quark gemaach, deen een mat Botter, Mëllech a Salz erhëtzt; dacks kënnt nach Moschter derbäi.",
     "2332", "2332"),
    ("lbwiki:104", 1, "Wéi vill Kalorien huet Kachkéis?",
     "Kachkéis huet 900 Kalorien pro Läffel.",
     "2121", "2121"),
    ("lbwiki:104", 2, "Wéi gëtt Kachkéis traditionell giess?",
     "Kachkéis gëtt gär op enger Schmier Brout giess.",
     "3333", "3332"),
    ("rtl:5001", 0, "Wou läit déi nei Tramstatioun, déi den 12. Mäerz 2024 opgaangen ass?",
     "Déi nei Statioun läit um Kierchbierg beim Europäesche Geriichtshaff.",
     "2333", "2333"),
    ("rtl:5001", 1, "Wéi dacks fiert den Tram an de Spëtzestonnen?",
     "An de Spëtzestonnen fiert den Tram all dräi bis véier Minutten.",
     "2232", "2232"),
    ("rtl:5001", 2, "Bis wann soll die Linie ausgebaut werden?",
     "Die Linie soll bis 2028 weiter ausgebaut werden.",
     "1233", "2233"),
    ("rtl:5002", 0, "Wéi vill Leit sinn dëst Joer op d'Schueberfouer komm?",
     "No den Organisateure ware ronn zwou Millioune Leit op der Schueberfouer um Glacis.",
     "3333", "3333"),
    ("rtl:5002", 1, "Wéi laang dauert d'Schueberfouer?",
     "D'Schueberfouer dauert nëmmen een eenzegen Dag am Mäerz.",
     "2132", "2132"),
    ("rtl:5002", 2, "Firwat gëllt d'Schueberfouer dëst Joer als Erfolleg? Äntwer mat zwee Sätz.",
     "D'Fouer huet méi Visiteure gezielt wéi d'Joer virdrun. Nei Attraktiounen an d'Stänn mat Gebake Fësch hunn vill Leit ugezunn.",
     "2323", "2323"),
    ("chamber:2019-12-05", 0, "Vu wéini un soll den ëffentlechen Transport gratis sinn?",
     "De gratis Transport soll ab dem 1. Mäerz 2020 am ganze Land gëllen.",
     "2333", "2333"),
    ("chamber:2019-12-05", 1, "Wat kritiséiert d'Oppositioun?",
     "D'Oppositioun freet sech, ob d'Suen net besser an den Ausbau vun der Infrastruktur investéiert wieren.",
     "2233", "2233"),
    ("chamber:2019-12-05", 2, "Wéi huet d'Chamber ofgestëmmt?",
     "Eng Majoritéit vun den Deputéierten huet dem Projet zougestëmmt.",
     None, None),
]

FAILED_DOC = "rtl:5003"

# Documents the filters dropped, per (filter, source): counts the report must reproduce.
DROPPED = {
    "min_chars": {"lbwiki": 3, "rtl": 2},
    "page_kind": {"lbwiki": 2},
    "langid": {"rtl": 1},
    "nonprose": {"rtl": 1},
    "dedup": {"chamber": 1},
}
READ = {"lbwiki": 10, "rtl": 7, "chamber": 2}
SEEDS = {"lbwiki": 4, "rtl": 3, "chamber": 1}
KEPT_DOCS = {"lbwiki": 5, "rtl": 3, "chamber": 1}


def config_dict(root: Path, generate_max_error_rate: float = 0.2, judge_max_error_rate: float = 0.1,
                export: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job config of the fixture run."""
    data: dict[str, Any] = {
        "run": {"name": "fixture", "output_dir": str(root), "run_id": RUN_ID},
        "sources": [
            {"type": "wikipedia", "name": "lbwiki", "path": "data/lbwiki.xml.bz2"},
            {"type": "news", "name": "rtl", "path": "data/rtl/*.jsonl"},
            {"type": "generic", "name": "chamber", "path": "data/chamber.jsonl", "source_type": "text"},
        ],
        "sample": {"seed": 7, "quotas": {"lbwiki": 4, "rtl": "all", "chamber": "all"}},
        "endpoints": {
            "deepseek": {"base_url": "https://api.deepseek.com/v1", "model": GEN_MODEL, "api_key_env": "DEEPSEEK_API_KEY",
                         "price_input_per_mtok": 0.55, "price_output_per_mtok": 2.19},
            "openai": {"base_url": "https://api.openai.com/v1", "model": "gpt-5-mini", "api_key_env": "OPENAI_API_KEY",
                       "price_input_per_mtok": 0.25, "price_output_per_mtok": 2.0},
            "vllm": {"base_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen3-32B"},
        },
        "generate": {"endpoint": "deepseek", "max_error_rate": generate_max_error_rate},
        "judge": {
            "judges": [{"name": "gpt5mini", "endpoint": "openai"}, {"name": "qwen", "endpoint": "vllm"}],
            "aggregate": "majority",
            "max_error_rate": judge_max_error_rate,
        },
    }
    if export is not None:
        data["export"] = export
    return data


def _usage(prompt: int, completion: int, reasoning: int) -> str:
    return json.dumps({"prompt_tokens": prompt, "completion_tokens": completion,
                       "reasoning_tokens": reasoning, "retries": 0, "cache_hit": False})


def _write_parts(folder: Path, rows: list[dict[str, Any]], schema: pa.Schema, parts: int = 2) -> None:
    """Write rows as ``parts`` files with per-file inferred types, then the _SUCCESS marker."""
    folder.mkdir(parents=True, exist_ok=True)
    if not rows:
        pq.write_table(schema.empty_table(), folder / "part-00000.parquet")
    size = max(1, -(-len(rows) // parts))
    for i in range(0, len(rows), size):
        chunk = rows[i:i + size]
        cols = {name: [r.get(name) for r in chunk] for name in schema.names}
        # Inferred per file, like Ray blocks: an all-null column becomes the null type.
        table = pa.table({k: pa.array(v) for k, v in cols.items()})
        pq.write_table(table, folder / f"part-{i // size:05d}.parquet")
    (folder / "_SUCCESS").write_text(json.dumps({"rows": len(rows)}), encoding="utf-8")


def _aggregate(s1: str | None, s2: str | None) -> dict[str, float] | None:
    scored = [s for s in (s1, s2) if s is not None]
    if not scored:
        return None
    # majority of two = the lower score (ties go down)
    return {c: float(min(int(s[i]) for s in scored)) for i, c in enumerate(S.CRITERIA)}


def judged_rows() -> list[dict[str, Any]]:
    """Every judged pair as a JUDGED_SCHEMA row."""
    docs = {d["doc_id"]: d for d in DOCS}
    rows = []
    for doc_id, idx, ins, resp, s1, s2 in PAIRS:
        d = docs[doc_id]
        pair_id = hashlib.sha256(f"{doc_id}#{idx}".encode()).hexdigest()[:16]
        judgements = []
        for (name, model), s in zip(JUDGES, (s1, s2), strict=True):
            scores = {c: int(s[i]) for i, c in enumerate(S.CRITERIA)} if s else None
            judgements.append({
                "judge": name, "model": model, "prompt_sha": JUDGE_SHA, "scores": scores,
                "raw_output": json.dumps(scores) if scores else "Ech kann dat net bewäerten.",
                "reasoning": None,
                "usage": {"prompt_tokens": 700, "completion_tokens": 300, "reasoning_tokens": 200},
                "error": None if scores else "parse: no JSON object in the output",
                "error_kind": None if scores else "parse",
            })
        agg = _aggregate(s1, s2)
        row = {
            S.PAIR_ID: pair_id, S.DOC_ID: doc_id, S.SOURCE: d["source"], S.SOURCE_TYPE: d["source_type"],
            S.TITLE: d["title"], S.URL: d["url"], S.DATE: d["date"], S.PAIR_INDEX: idx,
            S.INSTRUCTION: ins, S.RESPONSE: resp, S.PROMPT_NAME: "generate", S.PROMPT_SHA: GEN_SHA,
            S.MODEL: GEN_MODEL, S.ENDPOINT: "deepseek",
            S.RAW_OUTPUT: json.dumps([{"instruction": ins, "response": resp}], ensure_ascii=False),
            S.REASONING: None, S.USAGE: _usage(1500, 900, 600), S.CACHE_HIT: False,
            S.ERROR: None, S.ERROR_KIND: None,
            S.JUDGEMENTS: json.dumps(judgements, ensure_ascii=False),
        }
        if agg is None:
            row.update({c: None for c in S.SCORE_COLUMNS})
            row.update({S.KEEP: False, S.KEEP_REASON: "judge_error", S.JUDGE_ERROR: "all judges failed"})
        else:
            for c in S.CRITERIA:
                row[S.score_column(c)] = agg[c]
            low = [f"{c}={agg[c]:g} < 2" for c in S.CRITERIA if agg[c] < 2]
            row.update({S.KEEP: not low, S.KEEP_REASON: "; ".join(low) or None, S.JUDGE_ERROR: None})
        rows.append(row)
    return rows


def write_judged_run(root: Path, *, generate_max_error_rate: float = 0.2, judge_max_error_rate: float = 0.1,
                     export: dict[str, Any] | None = None) -> Path:
    """Write the fixture run under ``root`` and return its folder."""
    cfg = job_from_dict(config_dict(root, generate_max_error_rate, judge_max_error_rate, export))
    run = RunDir.create(cfg)
    seeds = [{**d, S.PAGE_KIND: "article" if d["source_type"] == "wikipedia" else None,
              S.METADATA: "{}", S.ORIGIN: f"{d['source']}.src:{i + 1}"} for i, d in enumerate(DOCS)]
    _write_parts(run.sub("seeds"), seeds, S.DOCUMENT_SCHEMA)
    rejects = []
    for filt, per in DROPPED.items():
        for src, n in per.items():
            for k in range(n):
                rejects.append({
                    S.DOC_ID: f"{src}:drop-{filt}-{k}", S.SOURCE: src,
                    S.SOURCE_TYPE: {"lbwiki": "wikipedia", "rtl": "news", "chamber": "text"}[src],
                    S.TITLE: f"Ofgeluechten Text {k}", S.TEXT: "Kuerzen Text.", S.DATE: None, S.URL: None,
                    S.PAGE_KIND: None, S.METADATA: "{}", S.ORIGIN: f"{src}.src:{100 + k}",
                    S.DROP_FILTER: filt, S.DROP_REASON: f"{filt}: fixture",
                })
    _write_parts(run.sub("rejects"), rejects, S.REJECT_SCHEMA)

    judged = judged_rows()
    pair_rows = [{k: r[k] for k in S.PAIR_SCHEMA.names} for r in judged]
    _write_parts(run.sub("pairs"), pair_rows, S.PAIR_SCHEMA)
    failed = next(d for d in DOCS if d["doc_id"] == FAILED_DOC)
    _write_parts(run.sub("generate_errors"), [{
        S.PAIR_ID: None, S.DOC_ID: FAILED_DOC, S.SOURCE: failed["source"], S.SOURCE_TYPE: failed["source_type"],
        S.TITLE: failed["title"], S.URL: None, S.DATE: failed["date"], S.PAIR_INDEX: -1,
        S.INSTRUCTION: None, S.RESPONSE: None, S.PROMPT_NAME: "generate", S.PROMPT_SHA: GEN_SHA,
        S.MODEL: GEN_MODEL, S.ENDPOINT: "deepseek", S.RAW_OUTPUT: "Hei sinn dräi Beispiller: ...",
        S.REASONING: None, S.USAGE: _usage(1500, 400, 300), S.CACHE_HIT: False,
        S.ERROR: "parse: expected a JSON array", S.ERROR_KIND: "parse",
    }], S.PAIR_SCHEMA, parts=1)
    _write_parts(run.sub("judged"), judged, S.JUDGED_SCHEMA, parts=3)
    _write_parts(run.sub("kept"), [r for r in judged if r[S.KEEP]], S.JUDGED_SCHEMA)
    _write_parts(run.sub("rejected_pairs"), [r for r in judged if not r[S.KEEP]], S.JUDGED_SCHEMA)

    run.update_manifest(cfg, "prepare", {
        "read": READ, "dropped": DROPPED, "kept": KEPT_DOCS, "seeds": SEEDS,
        "boilerplate_lines_removed": {"rtl": 5},
    })
    run.update_manifest(cfg, "generate", {
        "seeds": 8, "pairs": 21, "seeds_with_error": 1, "errors": {"parse": 1}, "cache_hits": 0, "retries": 2,
        # a rerun: part of the cost was paid by the first attempt; half the input read from the provider's cache
        "usage": {GEN_MODEL: {"requests": 8, "sends": 9, "prompt_tokens": 12000, "cached_tokens": 6000,
                              "completion_tokens": 6700, "reasoning_tokens": 4500, "cost_usd": 0.021,
                              "cost_this_attempt_usd": 0.016, "cost_earlier_attempts_usd": 0.005, "saved_usd": 0.0,
                              "cached_input_share": 0.5}},
        "wall_s": 42.5,
    })
    run.update_manifest(cfg, "judge", {
        "pairs": 21, "kept": 14, "rejected": 7, "judge_errors": 1,
        "usage": {"gpt-5-mini": {"requests": 21, "sends": 22, "prompt_tokens": 14700, "cached_tokens": 7350,
                                 "completion_tokens": 6300, "reasoning_tokens": 4200, "cost_usd": 0.0163,
                                 "cost_earlier_attempts_usd": 0.0, "saved_usd": 0.002, "cached_input_share": 0.5},
                  "Qwen/Qwen3-32B": {"requests": 21, "sends": 21, "prompt_tokens": 14700, "cached_tokens": 0,
                                     "completion_tokens": 6300, "reasoning_tokens": 4200, "cost_usd": 0.0,
                                     "cached_input_share": 0.0}},
        "wall_s": 12.0,
    })
    return run.path
