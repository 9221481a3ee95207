"""The grid section of the evaluation report: variants side by side from the files a run holds
(evaluation/report.json, glue/llm/report.json, arena/votes.jsonl), part effects on matched pairs,
arena ratings only where votes exist, and the report files rewritten with the section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from luxit_ray.config import job_from_dict
from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.errors import LuxitError
from luxit_ray.evaluate import glue_runner
from luxit_ray.evaluate import report as report_mod
from luxit_ray.evaluate.grid_report import write_grid_report
from luxit_ray.evaluate.items import EvalItem
from luxit_ray.runs import RunDir

RECIPE = {"path": "smollm2", "family": "chatml", "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]},
          "batch_size": 1, "per_device_batch_size": 1, "learning_rate": 1e-3}
PARTS = [{"name": "corpus", "kind": "text", "path": "c", "count": 1},
         {"name": "lb", "path": "t", "count": 1}, {"name": "en", "path": "e", "count": 1}]
SCORERS = ["loglik", "generative"]
# Exam answers right out of 4, per scorer; "tuned-a" is exp_0_110 through its adapter's folder.
EXAM_RIGHT = {"instruct": (4, 4), "exp_0_010": (1, 0), "tuned-a": (3, 2), "exp_0_011": (2, 1),
              "exp_1_010": (2, 2), "exp_1_110": (4, 3)}
TOPIC_RIGHT = {"instruct": True, "exp_0_010": False, "tuned-a": True, "exp_0_011": True, "exp_1_010": True,
               "exp_1_110": True}
TOPIC = ("Sport", "Politik")


def _job(tmp_path: Path):
    return job_from_dict({
        "run": {"name": "grid", "output_dir": str(tmp_path / "runs"), "run_id": "grid-1"},
        "mixtures": {"lb-en": {"parts": PARTS}},
        "train": {"models": [{**RECIPE, "name": "base"}, {**RECIPE, "name": "inst"}],
                  "grid": {"mixture": "lb-en", "backbones": ["base", "inst"]}},
    })


def _evaluation_report() -> dict:
    """What `luxit evaluate` writes, built by its own report builder from per-sample records."""
    exam = [EvalItem("exam", "exam", str(i), "A1", "vocab", ("a", "b"), 0, "", f"exam.jsonl:line {i}") for i in range(4)]
    topic = [EvalItem("topic", "classification", str(i), None, None, TOPIC, i, "", f"topic.jsonl:line {i}")
             for i in range(2)]
    records = []
    for model, right in EXAM_RIGHT.items():
        for scorer, k in zip(SCORERS, right, strict=True):
            records += [{"scorer": scorer, "model": model, "source": "exam", "level": "A1", "category": "vocab",
                         "outcome": "correct" if i < k else "wrong"} for i in range(4)]
            records += [{"scorer": scorer, "model": model, "source": "topic", "answer_index": it.answer,
                         "predicted_index": it.answer if TOPIC_RIGHT[model] else 1 - it.answer,
                         "outcome": "correct" if TOPIC_RIGHT[model] else "wrong"} for it in topic]
    models = [{"name": "instruct", "group": "instruct", "path": "m"}]
    models += [{"name": n, "group": "fine-tuned", "path": "m", "compare_to": "instruct",
                "adapter": "/shared/train/exp_0_110/adapter" if n == "tuned-a" else f"/shared/train/{n}/adapter"}
               for n in EXAM_RIGHT if n != "instruct"]
    settings = {"scorers": SCORERS, "length_norm": "char", "max_new_tokens": 8, "exam": {"levels": ["A1"]}}
    return report_mod.build_report(records, models, [*exam, *topic], settings)


def _glue_report() -> dict:
    """What `luxit evaluate-glue` writes: exp_0_010 right on both rows, tuned-a wrong on both."""
    task = GlueTaskConfig(name="sentiment", kind="sequence", test="s.jsonl", labels=["pos", "neg"], description="d")
    preds = {"instruct": ["pos", "neg"], "exp_0_010": ["pos", "neg"], "tuned-a": ["neg", "pos"]}
    records = [{"model": m, "task": "sentiment", "gold": g, "predicted": p, "note": "ok"}
               for m, ps in preds.items() for g, p in zip(["pos", "neg"], ps, strict=True)]
    return glue_runner.build_report(records, [task], list(preds), "drop", False)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder laid out as the commands leave it: config.yaml, evaluation/, glue/llm/."""
    path = RunDir.create(_job(tmp_path)).path
    (path / "evaluation").mkdir()
    (path / "evaluation" / "report.json").write_text(json.dumps(_evaluation_report()), encoding="utf-8")
    (path / "glue" / "llm").mkdir(parents=True)
    (path / "glue" / "llm" / "report.json").write_text(json.dumps(_glue_report()), encoding="utf-8")
    return path


def _vote(i: int, a: str, b: str, overall: str) -> dict:
    return {"vote_id": f"v{i}", "voter": "anne", "time": "2026-01-01T00:00:00.000+00:00", "prompt_id": f"p{i}",
            "answer_a": f"{a}-{i}", "answer_b": f"{b}-{i}", "model_a": a, "model_b": b,
            "content": overall, "language": overall, "overall": overall, "comment": None}


def test_grid_table_rows_effects_and_markdown(run: Path) -> None:
    summary = write_grid_report(run)
    grid = summary["grid"]
    assert [m["key"] for m in grid["metrics"]] == [
        "exam/loglik", "exam/generative", "task/topic/loglik", "task/topic/generative", "glue/sentiment"]
    rows = [(r["variant"], r["backbone"], r["bits"], [p for p, used in r["parts"].items() if used],
             r["models"], r["scores"], r["arena"]) for r in grid["rows"]]
    assert rows == [
        ("exp_0_010", "base", "010", ["lb"], {"evaluate": "exp_0_010", "glue": "exp_0_010", "arena": None},
         {"exam/loglik": 0.25, "exam/generative": 0.0, "task/topic/loglik": 0.0, "task/topic/generative": 0.0,
          "glue/sentiment": 1.0}, None),
        ("exp_0_011", "base", "011", ["lb", "en"], {"evaluate": "exp_0_011", "glue": None, "arena": None},
         {"exam/loglik": 0.5, "exam/generative": 0.25, "task/topic/loglik": 1.0, "task/topic/generative": 1.0,
          "glue/sentiment": None}, None),
        ("exp_0_110", "base", "110", ["corpus", "lb"], {"evaluate": "tuned-a", "glue": "tuned-a", "arena": None},
         {"exam/loglik": 0.75, "exam/generative": 0.5, "task/topic/loglik": 1.0, "task/topic/generative": 1.0,
          "glue/sentiment": 0.0}, None),
        ("exp_1_010", "inst", "010", ["lb"], {"evaluate": "exp_1_010", "glue": None, "arena": None},
         {"exam/loglik": 0.5, "exam/generative": 0.5, "task/topic/loglik": 1.0, "task/topic/generative": 1.0,
          "glue/sentiment": None}, None),
        ("exp_1_110", "inst", "110", ["corpus", "lb"], {"evaluate": "exp_1_110", "glue": None, "arena": None},
         {"exam/loglik": 1.0, "exam/generative": 0.75, "task/topic/loglik": 1.0, "task/topic/generative": 1.0,
          "glue/sentiment": None}, None),
    ]
    assert grid["not_evaluated"] == ["exp_0_001", "exp_0_101", "exp_0_111", "exp_1_001", "exp_1_011", "exp_1_101",
                                     "exp_1_111"]
    assert grid["arena_votes"] == 0
    effects = {p: {k: (e["mean_diff"], e["n"]) for k, e in by_key.items()} for p, by_key in grid["part_effects"].items()}
    # corpus: exp_0_010 -> exp_0_110 and exp_1_010 -> exp_1_110; en: exp_0_010 -> exp_0_011 only; lb: no pair
    # (the variants without lb, 001 and 101, were not evaluated).
    assert effects == {
        "corpus": {"exam/loglik": (0.5, 2), "exam/generative": (0.375, 2), "task/topic/loglik": (0.5, 2),
                   "task/topic/generative": (0.5, 2), "glue/sentiment": (-1.0, 1)},
        "lb": {},
        "en": {"exam/loglik": (0.25, 1), "exam/generative": (0.25, 1), "task/topic/loglik": (1.0, 1),
               "task/topic/generative": (1.0, 1)},
    }
    assert grid["part_effects"]["corpus"]["exam/loglik"]["pairs"] == [["exp_0_010", "exp_0_110"],
                                                                       ["exp_1_010", "exp_1_110"]]

    md = (run / "evaluation" / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Evaluation report\n")
    section = md[md.index("## Grid variants"):].splitlines()
    assert section == [
        "## Grid variants (mixture `lb-en`)",
        "",
        "One row per variant, sorted by backbone code, then bits; ✓ marks the mixture parts it trained on. "
        "Exam: accuracy (%); tasks: macro-F1 (%).",
        "",
        "| variant | backbone | corpus | lb | en | exam log-likelihood | exam generative | topic macro-F1 log-likelihood "
        "| topic macro-F1 generative | sentiment macro-F1 prompted |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|",
        "| exp_0_010 | base |  | ✓ |  | 25.0 | 0.0 | 0.0 | 0.0 | 100.0 |",
        "| exp_0_011 | base |  | ✓ | ✓ | 50.0 | 25.0 | 100.0 | 100.0 | - |",
        "| exp_0_110 | base | ✓ | ✓ |  | 75.0 | 50.0 | 100.0 | 100.0 | 0.0 |",
        "| exp_1_010 | inst |  | ✓ |  | 50.0 | 50.0 | 100.0 | 100.0 | - |",
        "| exp_1_110 | inst | ✓ | ✓ |  | 100.0 | 75.0 | 100.0 | 100.0 | - |",
        "",
        "Not evaluated: exp_0_001, exp_0_101, exp_0_111, exp_1_001, exp_1_011, exp_1_101, exp_1_111.",
        "",
        "### What each part adds",
        "",
        "Score with the part minus score without it, for two variants of one backbone that differ only in that "
        "part, averaged over every such pair (points; Elo points for the arena; pairs in brackets).",
        "",
        "| part | exam log-likelihood | exam generative | topic macro-F1 log-likelihood | topic macro-F1 generative "
        "| sentiment macro-F1 prompted |",
        "|---|---:|---:|---:|---:|---:|",
        "| corpus | +50.0 (2) | +37.5 (2) | +50.0 (2) | +50.0 (2) | -100.0 (1) |",
        "| lb | - | - | - | - | - |",
        "| en | +25.0 (1) | +25.0 (1) | +100.0 (1) | +100.0 (1) | - |",
    ]
    # The JSON summary keeps the evaluation report as it was, with the section under "grid".
    saved = json.loads((run / "evaluation" / "report.json").read_text(encoding="utf-8"))
    assert saved["grid"] == json.loads(json.dumps(grid))
    assert saved["exam"] == json.loads(json.dumps(_evaluation_report()["exam"]))
    # A rerun replaces the section instead of adding a second one.
    write_grid_report(run)
    assert (run / "evaluation" / "report.md").read_text(encoding="utf-8").count("## Grid variants") == 1
    assert summary["tables"]["Grid variants (mixture lb-en)"]["rows"][2] == [
        "exp_0_110", "base", "✓", "✓", "", "75.0", "50.0", "100.0", "100.0", "0.0"]


def test_arena_ratings_appear_only_with_votes(run: Path) -> None:
    from luxit_ray.arena.report import arena_report
    from luxit_ray.web.store import AppendLog

    without = write_grid_report(run)["grid"]
    assert "arena" not in [m["key"] for m in without["metrics"]]
    assert "Arena" not in (run / "evaluation" / "report.md").read_text(encoding="utf-8")

    # tuned-a (exp_0_110 in the evaluation) beats exp_0_010 and the instruct model; one tie.
    log = AppendLog(run / "arena" / "votes.jsonl")
    for i, (a, b, overall) in enumerate([("exp_0_010", "tuned-a", "b"), ("tuned-a", "instruct", "a"),
                                         ("exp_0_010", "instruct", "tie")]):
        log.append(_vote(i, a, b, overall))
    grid = write_grid_report(run)["grid"]
    assert grid["metrics"][-1] == {"key": "arena", "title": "arena Elo (95% interval)", "source": "arena", "unit": "elo"}
    assert grid["arena_votes"] == 3
    # The same figures as `luxit arena report`, for the variants that got votes and for no other.
    expected = arena_report(run).scores["overall"]
    arena = {r["variant"]: (r["models"]["arena"], r["arena"]) for r in grid["rows"]}
    assert arena == {"exp_0_010": ("exp_0_010", expected["exp_0_010"]), "exp_0_011": (None, None),
                     "exp_0_110": ("tuned-a", expected["tuned-a"]), "exp_1_010": (None, None),
                     "exp_1_110": (None, None)}
    assert expected["tuned-a"]["elo"] > 1000.0 > expected["exp_0_010"]["elo"]
    corpus = grid["part_effects"]["corpus"]["arena"]
    assert (corpus["n"], corpus["pairs"]) == (1, [["exp_0_010", "exp_0_110"]])
    assert corpus["mean_diff"] == expected["tuned-a"]["elo"] - expected["exp_0_010"]["elo"]
    md = (run / "evaluation" / "report.md").read_text(encoding="utf-8")
    t = expected["tuned-a"]
    assert "fitted on all 3 votes." in md
    assert f"| exp_0_110 | base | ✓ | ✓ |  | 75.0 | 50.0 | 100.0 | 100.0 | 0.0 | {t['elo']:.1f} ({t['low']:.1f} to {t['high']:.1f}) |" in md
    assert "| exp_0_011 | base |  | ✓ | ✓ | 50.0 | 25.0 | 100.0 | 100.0 | - | - |" in md


def test_grid_report_from_the_job_and_its_errors(run: Path, tmp_path: Path) -> None:
    from luxit_ray.cli import main

    # A later command saved a job without the grid in the run: --job names the training job.
    cfg = _job(tmp_path)
    plain = job_from_dict({"run": {"name": "grid", "output_dir": str(tmp_path / "runs"), "run_id": "grid-1"}})
    RunDir.create(plain)
    with pytest.raises(LuxitError, match="has no train.grid .* pass the training job with --job"):
        write_grid_report(run)
    assert [r["variant"] for r in write_grid_report(run, cfg)["grid"]["rows"]][:2] == ["exp_0_010", "exp_0_011"]
    job = tmp_path / "grid.yaml"
    job.write_text(json.dumps(cfg.model_dump(mode="json")), encoding="utf-8")
    assert main(["report-grid", str(run), "--job", str(job)]) == 0
    assert main(["report-grid", str(run)]) == 2  # one red line, no traceback

    # Nothing evaluated yet, and evaluated models that are no variant.
    empty = RunDir.create(cfg.model_copy(update={"run": cfg.run.model_copy(update={"run_id": "grid-2"})})).path
    with pytest.raises(LuxitError, match="nothing evaluated in .* yet"):
        write_grid_report(empty)
    (empty / "evaluation").mkdir()
    other = _evaluation_report()
    other["models"] = [m | {"name": f"m{i}", "adapter": None} for i, m in enumerate(other["models"])]
    (empty / "evaluation" / "report.json").write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(LuxitError, match="no evaluated model in .* is a variant of the grid"):
        write_grid_report(empty)


def test_luxit_evaluate_writes_the_grid_section_itself(tmp_path: Path, exam_path: Path) -> None:
    """`luxit evaluate` on a job with a grid adds the variants' table without a second command."""
    from luxit_ray.evaluate.runner import load_items, run_evaluate
    from tests.evaluate.scripted import ScriptedBackend

    data = _job(tmp_path).model_dump(mode="json", exclude_none=True)
    data["evaluate"] = {"exam": {"name": "sample", "path": str(exam_path)}, "scorers": ["generative"],
                        "models": [{"name": n, "path": "m", "group": "fine-tuned"} for n in ("exp_0_010", "exp_1_010")]}
    cfg = job_from_dict(data)
    items = load_items(cfg.evaluate)

    def build(spec, settings):  # exp_1_010 knows every answer, exp_0_010 none
        right = spec["name"] == "exp_1_010"
        return ScriptedBackend(items, reply=lambda it: it.answer_letter if right else "Keng Ahnung.")

    out = run_evaluate(cfg, backend_factory=build)
    report = json.loads((tmp_path / "runs" / "grid-1" / "evaluation" / "report.json").read_text(encoding="utf-8"))
    assert "grid" in report
    md = (tmp_path / "runs" / "grid-1" / "evaluation" / "report.md").read_text(encoding="utf-8")
    assert "| exp_0_010 | base |  | ✓ |  | 0.0 |\n| exp_1_010 | inst |  | ✓ |  | 100.0 |" in md
    assert "Not evaluated: exp_0_001, exp_0_011" in md
    assert out["tables"] and any("grid" in line or "variant" in line for line in out["lines"])
