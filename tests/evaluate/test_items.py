"""Exam and task files: formats, normalisation, and row-numbered errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luxit_ray.config.evaluate import ClassificationTaskConfig, ExamConfig, PromptConfig
from luxit_ray.errors import InputError
from luxit_ray.evaluate.items import load_exam, load_task, normalise_answer

from .conftest import TOPIC_LABELS

PROMPT = PromptConfig(passage_heading="Text:", question_heading="Fro:", options_heading="Méiglechkeeten:")


def _rows(exam_path: Path) -> list[dict]:
    return [json.loads(line) for line in exam_path.read_text(encoding="utf-8").splitlines()]


def test_sample_exam_loads(exam_path: Path) -> None:
    items = load_exam(ExamConfig(name="sample", path=str(exam_path)), PROMPT)
    assert len(items) == 32
    assert [sum(1 for it in items if it.level == lv) for lv in ["A1", "A2", "B1", "B2", "C1", "C2"]] == [6, 5, 5, 5, 6, 5]
    assert {it.category for it in items} == {"vocabulary", "grammar", "reading", "listening"}
    assert [sum(1 for it in items if it.answer_letter == x) for x in "ABCD"] == [8, 8, 8, 8]
    reading = next(it for it in items if it.id == "a1-rea-2")
    assert reading.choices == ("Richteg", "Falsch", "Dat steet net am Text")
    assert reading.answer == 1
    assert reading.body == (
        "Text:\nEch heeschen Anna. Ech sinn 25 Joer al a wunnen zu Esch-Uelzecht. Ech schaffen an enger "
        "Bäckerei. Samschdes spillen ech Tennis mat menger Schwëster.\n\n"
        "Fro:\nD'Anna spillt samschdes Fussball.\n\n"
        "Méiglechkeeten:\nA. Richteg\nB. Falsch\nC. Dat steet net am Text"
    )
    assert reading.origin.endswith("exam.jsonl:line 5")


def test_csv_and_parquet_give_the_same_items(exam_path: Path, tmp_path: Path) -> None:
    rows = _rows(exam_path)
    # CSV with choice_a..choice_f columns and 1-based integer answers.
    csv_path = tmp_path / "exam.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        cols = ["id", "level", "category", "passage", "question", *[f"choice_{c}" for c in "abcdef"], "answer"]
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            cells = {f"choice_{c}": (r["choices"][i] if i < len(r["choices"]) else "") for i, c in enumerate("abcdef")}
            w.writerow({**{k: r.get(k, "") for k in ("id", "level", "category", "passage", "question")}, **cells,
                        "answer": "ABCDEF".index(r["answer"]) + 1})
    # Parquet with a list column and lower-case letters.
    pq_path = tmp_path / "exam.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "passage": r.get("passage"), "answer": r["answer"].lower()} for r in rows]), pq_path)
    ref = load_exam(ExamConfig(path=str(exam_path)), PROMPT)
    from_csv = load_exam(ExamConfig(path=str(csv_path), index_base=1), PROMPT)
    from_pq = load_exam(ExamConfig(path=str(pq_path)), PROMPT)
    strip = lambda items: [(i.id, i.level, i.category, i.choices, i.answer, i.body) for i in items]  # noqa: E731
    assert strip(from_csv) == strip(ref)
    assert strip(from_pq) == strip(ref)
    assert from_pq[3].origin.endswith("exam.parquet:row 4")


def test_csv_choices_as_json_list_and_multiline_cells(tmp_path: Path) -> None:
    p = tmp_path / "exam.csv"
    p.write_text(
        'id,level,category,passage,question,choices,answer\n'
        'q1,a1,Reading,"Zeil eent\nZeil zwee",Wéi vill Zeile sinn et?,"[""eng"", ""zwou""]",b\n'
        'q2,B2,grammar,,"Wéi eng Form passt? Si ___ krank.","[""ass"", ""sinn"", ""bass""]",0\n',
        encoding="utf-8",
    )
    items = load_exam(ExamConfig(path=str(p)), PROMPT)
    assert [(i.id, i.level, i.category, i.choices, i.answer) for i in items] == [
        ("q1", "A1", "reading", ("eng", "zwou"), 1),
        ("q2", "B2", "grammar", ("ass", "sinn", "bass"), 0),
    ]
    assert items[1].origin.endswith("exam.csv:line 4")  # q1 spans lines 2-3


@pytest.mark.parametrize(
    ("value", "n", "base", "expected"),
    [("B", 4, 0, 1), ("c", 4, 0, 2), ("(D)", 4, 0, 3), ("A)", 2, 0, 0), (2, 4, 0, 2), ("3", 4, 1, 2), (1.0, 3, 0, 1)],
)
def test_normalise_answer(value, n, base, expected) -> None:
    assert normalise_answer(value, n, base) == expected


@pytest.mark.parametrize(
    ("value", "n", "base", "message"),
    [
        ("E", 4, 0, "answer: 'E' is not one of A, B, C, D"),
        (4, 4, 0, "answer: index 4 out of range 0..3"),
        (0, 4, 1, "answer: index 0 out of range 1..4"),
        ("", 4, 0, "answer: missing or empty"),
        ("Kanner", 4, 0, "answer: 'Kanner' is neither a letter (A, B, C, D) nor an index"),
    ],
)
def test_bad_answers(value, n, base, message) -> None:
    with pytest.raises(ValueError) as err:
        normalise_answer(value, n, base)
    assert str(err.value) == message


def test_malformed_rows_are_named_by_line(tmp_path: Path) -> None:
    good = {"id": "ok", "level": "A1", "category": "grammar", "question": "Fro?", "choices": ["jo", "nee"], "answer": "A"}
    rows = [
        good,
        {**good, "id": "x1", "level": "D1"},
        {**good, "id": "x2", "choices": ["jo"]},
        {**good, "id": "x3", "answer": "C"},
        {**good, "id": "ok"},
        {**good, "id": "x5", "question": "  "},
        {**good, "id": "x6", "choices": ["jo", "jo"]},
        {**good, "id": "x7", "choices": ["a", "b", "c", "d", "e", "f", "g"]},
        {**good, "id": "x8", "category": None},
    ]
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_exam(ExamConfig(path=str(p)), PROMPT)
    exc = err.value
    assert exc.path == str(p)
    assert exc.where == "line 2"
    assert exc.reason == (
        "level: 'D1' is not one of A1, A2, B1, B2, C1, C2 (and 7 more bad row(s): "
        "line 3: choices: 1 given, need 2 to 6; "
        "line 4: answer: 'C' is not one of A, B; "
        "line 5: id: 'ok' repeats (line 1); "
        "line 6: question: missing or empty; "
        "line 7: choices: options repeat; "
        "line 8: choices: 7 given, need 2 to 6; "
        "line 9: category: missing or empty)"
    )


def test_csv_errors_name_the_file_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(
        "id,level,category,question,choice_a,choice_b,choice_c,answer\n"
        "q1,A1,grammar,Fro?,jo,nee,,B\n"
        "q2,A1,grammar,Fro?,jo,,vläicht,A\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        load_exam(ExamConfig(path=str(p)), PROMPT)
    assert str(err.value) == f"{p}:line 3: choices: choice_b empty before a later choice"


def test_broken_json_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "q1"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_exam(ExamConfig(path=str(p)), PROMPT)
    assert err.value.where == "line 2"
    assert err.value.reason.startswith("invalid JSON")


def test_topic_task_loads_with_declared_labels(topic_path: Path) -> None:
    cfg = ClassificationTaskConfig(name="topic", path=str(topic_path), labels=TOPIC_LABELS,
                                   question="Iwwer wéi en Thema geet dësen Artikel?", text_heading="Artikel:")
    items = load_task(cfg, PROMPT)
    assert len(items) == 20
    assert [it.answer for it in items] == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    assert items[0].body == (
        "Artikel:\nD'Chamber huet e Mëttwoch de Budget fir d'nächst Joer mat 31 géint 29 Stëmmen ugeholl.\n\n"
        "Fro:\nIwwer wéi en Thema geet dësen Artikel?\n\n"
        "Méiglechkeeten:\nA. Politik\nB. Sport\nC. Kultur\nD. Wirtschaft"
    )


def test_task_labels_from_file_and_bad_labels(tmp_path: Path) -> None:
    p = tmp_path / "rte.jsonl"
    rows = [
        {"id": 1, "text": "Hien ass gëschter op Paräis gefuer.", "text_pair": "Hien ass gereest.", "label": "jo"},
        {"id": 2, "text": "Et reent.", "text_pair": "D'Sonn schéngt.", "label": "nee"},
    ]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    items = load_task(ClassificationTaskConfig(name="rte", path=str(p), pair_heading="Hypothes:"), PROMPT)
    assert [(it.id, it.choices, it.answer) for it in items] == [("1", ("jo", "nee"), 0), ("2", ("jo", "nee"), 1)]
    assert "Hypothes:\nHien ass gereest." in items[0].body
    with pytest.raises(InputError) as err:
        load_task(ClassificationTaskConfig(name="rte", path=str(p), labels=["jo", "neen"]), PROMPT)
    assert str(err.value) == f"{p}:line 2: label: 'nee' is not one of ['jo', 'neen']"
    p.write_text(json.dumps({"id": 1, "task": "sentiment", "text": "Gutt.", "label": "jo"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_task(ClassificationTaskConfig(name="rte", path=str(p), labels=["jo", "nee"]), PROMPT)
    assert str(err.value) == f"{p}:line 1: task: 'sentiment' is not the configured task 'rte'"
