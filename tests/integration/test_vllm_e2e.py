"""generate -> judge end to end against the real vLLM server (SmolLM2 on CPU, JSON-schema
outputs) on three seed articles, through the real pipeline on the embedded Ray.

SmolLM2-135M is tiny: its Luxembourgish is poor and it may run out of tokens, so the test asserts
accounting and structure, not quality: every seed comes out as pairs or as error rows with a
reason, pair ids are unique, every judged pair has four scores in 1-3 or a judge error, and kept
plus rejected pairs are exactly the judged ones.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import yaml

from luxit_ray import pipeline, runs
from luxit_ray import schema as S
from luxit_ray.config import load_job

pytestmark = pytest.mark.slow

SEEDS = [
    {
        S.DOC_ID: "lbwiki:101", S.SOURCE: "lbwiki", S.SOURCE_TYPE: "wikipedia", S.TITLE: "Musel",
        S.DATE: None, S.URL: "https://lb.wikipedia.org/wiki?curid=101", S.PAGE_KIND: "article",
        S.TEXT: (
            "D'Musel ass e Floss, deen a Frankräich an de Vogesen entsprängt an no ongeféier 544 "
            "Kilometer zu Koblenz an de Rhäi fléisst. Op enger laanger Streck bilt si d'Grenz "
            "tëscht Lëtzebuerg an Däitschland.\n\nLaanscht d'Lëtzebuerger Musel leien d'Wäibaudierfer "
            "vun der Regioun, ënner anerem Réimech, Wormer a Greiwemaacher. Op den Hängen iwwer dem "
            "Floss gëtt zënter der Réimerzäit Wäin ugebaut; haut si virun allem Rivaner, Auxerrois, "
            "Riesling a Pinot Gris bekannt. De Crémant de Luxembourg gëtt och aus Drauwe vun der "
            "Musel gemaach.\n\nZënter 1964 ass d'Musel kanaliséiert, sou datt grouss Schëffer bis "
            "op Metz an Nanzeg fuere kënnen. Zu Schengen, um Dräilännereck, gouf 1985 den Accord "
            "ënnerschriwwen, deen d'Grenzkontrollen an Europa ofgeschaaft huet."
        ),
    },
    {
        S.DOC_ID: "rtl:2200001", S.SOURCE: "rtl", S.SOURCE_TYPE: "news",
        S.TITLE: "Neie Vëlospist tëscht Ettelbréck an Dikrech op", S.DATE: "2024-05-14T09:30:00",
        S.URL: None, S.PAGE_KIND: None,
        S.TEXT: (
            "Nëmmen dräi Méint nom Start vun de Bauaarbechten ass e Méindeg déi nei Vëlospist "
            "tëscht Ettelbréck an Dikrech opgaange. Déi véier Kilometer laang Streck féiert "
            "laanscht d'Sauer a gouf esou geplangt, datt Vëlosfuerer a Foussgänger net méi op der "
            "Haaptstrooss musse fueren.\n\nD'Aarbechte kaschte ronn 3,5 Milliounen Euro. Laut dem "
            "Mobilitéitsministère sollen nach dëst Joer Luuchten an e puer Bänken dobäikommen. Eng "
            "Zuel vu Pendler hätt scho gefrot, fir d'Pist och am Wanter ze botzen, sot de "
            "Buergermeeschter vun Dikrech.\n\nD'Strooss gëtt och vun de Schoulkanner benotzt, déi "
            "an de Lycée op Dikrech ginn. D'Gemeng plangt eng zweet Etapp bis op Bettenduerf."
        ),
    },
    {
        S.DOC_ID: "lbwiki:102", S.SOURCE: "lbwiki", S.SOURCE_TYPE: "wikipedia", S.TITLE: "Schlass Veianen",
        S.DATE: None, S.URL: "https://lb.wikipedia.org/wiki?curid=102", S.PAGE_KIND: "article",
        S.TEXT: (
            "D'Schlass Veianen steet op engem Fiels iwwer der Our am Norde vu Lëtzebuerg. Et gouf "
            "tëscht dem 11. an dem 14. Joerhonnert op de Fundamenter vun enger réimescher "
            "Festung gebaut a gehéiert zu de gréisste Buergen aus där Zäit westlech vum Rhäi.\n\n"
            "Am 19. Joerhonnert gouf d'Schlass verkaf an deelweis ofgerappt, sou datt nëmmen nach "
            "eng Ruin iwwreg war. 1977 ass et an d'Hänn vum Lëtzebuerger Staat komm, deen et an "
            "de Jore duerno restauréiert huet. Haut ass et e Muséessite, deen all Joer vu ville "
            "Leit besicht gëtt.\n\nDe Victor Hugo huet 1871 e puer Méint zu Veianen gewunnt; säin "
            "Haus bei der Bréck iwwer d'Our ass haut e Musée."
        ),
    },
]


def write_seeds(run_dir) -> None:
    folder = run_dir / runs.SEEDS
    folder.mkdir(parents=True)
    rows = [{**r, S.METADATA: "{}", S.ORIGIN: f"e2e:{i + 1}"} for i, r in enumerate(SEEDS)]
    pq.write_table(pa.Table.from_pylist(rows, schema=S.DOCUMENT_SCHEMA), folder / "part-0.parquet")
    (folder / runs.MARKER).write_text("{}", encoding="utf-8")


def read(folder) -> list[dict]:
    return pads.dataset(str(folder), format="parquet").to_table().to_pylist() if folder.is_dir() else []


def test_generate_and_judge_against_real_vllm(ray_local, vllm_server, tmp_path):
    endpoint = vllm_server.endpoint(max_in_flight=8, timeout_s=600, max_retries=1,
                                    sampling={"temperature": 0.3, "max_tokens": 600})
    job = {
        "run": {"name": "e2e", "output_dir": str(tmp_path / "runs"), "run_id": "e2e-1"},
        "endpoints": {"local": endpoint.model_dump(mode="json")},
        "cache": {"uri": str(tmp_path / "cache")},
        # Tiny model: any error rate is accepted, the test checks that each one is accounted for.
        "generate": {"endpoint": "local", "batch_size": 3, "max_error_rate": 1.0},
        "judge": {"judges": [{"name": "smol", "endpoint": "local"}], "batch_size": 16, "max_error_rate": 1.0},
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    run_dir = tmp_path / "runs" / "e2e-1"
    write_seeds(run_dir)

    pipeline.run_generate(load_job(path))
    pairs = read(run_dir / runs.PAIRS)
    errors = read(run_dir / runs.GENERATE_ERRORS)
    seed_ids = {r[S.DOC_ID] for r in SEEDS}
    # every seed is accounted for: pairs, or error rows with a kind and a reason
    assert {r[S.DOC_ID] for r in pairs} | {r[S.DOC_ID] for r in errors} == seed_ids
    ids = [r[S.PAIR_ID] for r in pairs + errors]
    assert len(ids) == len(set(ids))
    for r in pairs:
        assert r[S.ERROR] is None and r[S.INSTRUCTION].strip() and r[S.RESPONSE].strip()
        assert r[S.MODEL] == "smollm2" and r[S.PROMPT_SHA] and 0 <= r[S.PAIR_INDEX] < 3
        assert json.loads(r[S.RAW_OUTPUT])["pairs"]  # JSON-schema mode: the raw answer is JSON
    for r in errors:
        assert r[S.ERROR_KIND] and r[S.ERROR].startswith(r[S.ERROR_KIND])
        if r[S.ERROR_KIND] in ("parse", "schema", "length", "count"):
            assert r[S.RAW_OUTPUT] is not None  # the raw answer is kept beside the reason
    manifest = runs.RunDir(run_dir).manifest()["steps"]["generate"]
    assert (manifest["seeds"], manifest["seeds_accounted"], manifest["pairs"]) == (3, 3, len(pairs))
    assert manifest["duplicate_pair_ids"] == 0
    usage = manifest["usage"]["smollm2"]
    assert usage["requests"] == 3 and usage["prompt_tokens"] > 3 * 500 and usage["completion_tokens"] > 0

    if not pairs:
        pytest.fail(f"SmolLM2 produced no pair at all; errors: {[r[S.ERROR][:200] for r in errors]}")
    pipeline.run_judge(load_job(path))
    judged = read(run_dir / runs.JUDGED)
    kept = read(run_dir / runs.KEPT)
    rejected = read(run_dir / runs.REJECTED_PAIRS)
    assert sorted(r[S.PAIR_ID] for r in judged) == sorted(r[S.PAIR_ID] for r in pairs)
    assert sorted(r[S.PAIR_ID] for r in kept + rejected) == sorted(r[S.PAIR_ID] for r in judged)
    for r in judged:
        scores = [r[S.score_column(c)] for c in S.CRITERIA]
        if r[S.JUDGE_ERROR] is None:
            assert all(s in (1.0, 2.0, 3.0) for s in scores), scores
            assert r[S.KEEP] == all(s >= 2 for s in scores)
            assert (r[S.KEEP_REASON] is None) == r[S.KEEP]
        else:
            assert r[S.KEEP] is False and r[S.KEEP_REASON] == "judge_error"
        verdicts = json.loads(r[S.JUDGEMENTS])
        assert [v["judge"] for v in verdicts] == ["smol"]
    jm = runs.RunDir(run_dir).manifest()["steps"]["judge"]
    assert (jm["pairs"], jm["kept"], jm["rejected"]) == (len(judged), len(kept), len(rejected))
