"""`luxit evaluate` and `luxit export-lm-eval` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from luxit_ray.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_names_the_bad_row_and_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "exam.jsonl"
    row = {"id": "q1", "level": "A1", "category": "grammar", "question": "Fro?", "choices": ["jo", "nee"], "answer": "A"}
    bad.write_text(json.dumps(row) + "\n" + json.dumps({**row, "id": "q2", "answer": "Z"}) + "\n", encoding="utf-8")
    code = main([
        "evaluate", str(ROOT / "jobs" / "eval-smoke.yaml"), f"evaluate.exam.path={bad}",
        f"run.output_dir={tmp_path / 'runs'}", "evaluate.tasks=[]",
    ])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{bad}:line 2: answer: 'Z' is not one of A, B" in err
    assert not (tmp_path / "runs").exists()  # refused before a run folder or a model was touched


def test_export_lm_eval_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "tasks"
    code = main(["export-lm-eval", str(ROOT / "jobs" / "eval-smoke.yaml"),
                 f"evaluate.exam.path={ROOT / 'tests/data/exam/exam.jsonl'}",
                 f"evaluate.tasks.0.path={ROOT / 'tests/data/exam/topic.jsonl'}", "--out", str(out)])
    assert code == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "--tasks luxit_sample-exam,luxit_topic" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["utils.py", "runs.json", "luxit_sample-exam.yaml", "luxit_topic.yaml", "luxit_topic.jsonl"]
        + [f"luxit_sample-exam_{lv}.{ext}" for lv in ("a1", "a2", "b1", "b2", "c1", "c2") for ext in ("yaml", "jsonl")]
    )
    first = json.loads((out / "luxit_sample-exam_a1.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["query"].endswith("Äntwert mat der richteger Méiglechkeet.")
    assert first["query_plain"].endswith("Äntwert mat der richteger Méiglechkeet.\n\nÄntwert:")
    assert (first["choices"], first["gold"]) == (["laang", "schéin", "kleng", "al"], 2)
