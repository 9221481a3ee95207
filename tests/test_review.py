"""Human review round-trip: seeded stratified sheet out, validated scores in, agreement by hand."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from luxit_ray import schema as S
from luxit_ray.cli import main
from luxit_ray.errors import InputError, LuxitError
from luxit_ray.review import (
    SHEET_COLUMNS,
    cohen_kappa,
    confusion_matrix,
    export_review_sheet,
    import_review_sheet,
    krippendorff_alpha,
    proportional_allocation,
)
from tests.fixtures_judged import judged_rows, write_judged_run

JUDGED = {r[S.PAIR_ID]: r for r in judged_rows()}


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return write_judged_run(tmp_path)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SHEET_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def test_kappa_by_hand():
    # human a, judge b, 10 items. Confusion (rows a, cols b): [[1,1,0],[0,2,1],[0,1,4]].
    a = [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    b = [1, 2, 2, 2, 3, 3, 3, 3, 2, 3]
    assert confusion_matrix(a, b) == [[1, 1, 0], [0, 2, 1], [0, 1, 4]]
    # p_o = 7/10; marginals a = (.2, .3, .5), b = (.1, .4, .5); p_e = .02 + .12 + .25 = .39
    assert cohen_kappa(a, b) == pytest.approx((0.7 - 0.39) / (1 - 0.39))  # = 31/61
    assert cohen_kappa(a, b) == pytest.approx(31 / 61)
    # quadratic weights 0, 1/4, 1: observed 3 cells off by one -> .075; expected .265 -> 1 - .075/.265
    assert cohen_kappa(a, b, weights="quadratic") == pytest.approx(38 / 53)
    assert cohen_kappa([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert cohen_kappa([3, 3, 3], [3, 3, 3]) is None  # chance agreement already total
    assert cohen_kappa([], []) is None
    # Two raters who always swap 1 and 3 disagree maximally under quadratic weights.
    assert cohen_kappa([1, 3, 1, 3], [3, 1, 3, 1], weights="quadratic") == pytest.approx(-1.0)


def test_kappa_is_exactly_zero_at_chance_agreement():
    # Found on the quickstart run: human (3, 2, 3) against the judge (2, 1, 3) on
    # instruction_adherence. p_o = 1/3; marginals (0, 1/3, 2/3) and (1/3, 1/3, 1/3): p_e = 1/3,
    # kappa = 0. In floats it came out 1.1e-16 and the import table printed "1.11e-16".
    assert cohen_kappa([3, 2, 3], [2, 1, 3]) == 0.0
    assert cohen_kappa([3, 2, 3], [2.0, 1.0, 3.0]) == 0.0  # judge scores are floats in Parquet
    # Quadratic: observed disagreement 2 * (1/2)^2 / 3 = 1/6 against the expected 1/3.
    assert cohen_kappa([1, 2, 3], [2, 1, 3], weights="quadratic") == pytest.approx(0.5)
    assert cohen_kappa([1, 3], [3, 1], weights="quadratic") == -1.0


def test_proportional_allocation_is_exact():
    assert proportional_allocation({"lbwiki": 12, "rtl": 6, "chamber": 2}, 7) == {"lbwiki": 4, "rtl": 2, "chamber": 1}
    assert proportional_allocation({"lbwiki": 12, "rtl": 6, "chamber": 2}, 10) == {"lbwiki": 6, "rtl": 3, "chamber": 1}
    sizes = {"a": 9000, "b": 13390, "c": 7}
    for n in (1, 7, 100, 999):
        alloc = proportional_allocation(sizes, n)
        assert sum(alloc.values()) == n
        assert all(abs(alloc[k] - n * v / sum(sizes.values())) < 1 for k, v in sizes.items())


def test_sheet_is_seeded_stratified_and_hides_the_judge(run_dir: Path, tmp_path: Path):
    sheet = export_review_sheet(run_dir, n=7, seed=5)
    rows = _read_csv(sheet.csv_path)
    assert list(rows[0]) == SHEET_COLUMNS
    assert [r["review_id"] for r in rows] == [f"R{i:03d}" for i in range(1, 8)]
    assert Counter(JUDGED[r["pair_id"]][S.SOURCE] for r in rows) == {"lbwiki": 4, "rtl": 2, "chamber": 1}
    assert sheet.strata == {"lbwiki": {"population": 12, "sampled": 4}, "rtl": {"population": 6, "sampled": 2},
                            "chamber": {"population": 2, "sampled": 1}}
    assert sheet.excluded_unscored == 1
    for r in rows:
        assert all(r[c] == "" for c in (*S.CRITERIA, "comment"))
        assert r["instruction"] == JUDGED[r["pair_id"]][S.INSTRUCTION]
    text = sheet.csv_path.read_text(encoding="utf-8-sig") + sheet.jsonl_path.read_text(encoding="utf-8")
    assert "score" not in text and "keep" not in text and "gpt-5-mini" not in text
    jsonl = [json.loads(x) for x in sheet.jsonl_path.read_text(encoding="utf-8").splitlines()]
    assert [j["pair_id"] for j in jsonl] == [r["pair_id"] for r in rows]
    key = json.loads(sheet.key_path.read_text(encoding="utf-8"))
    assert [it["scores"]["linguistic_quality"] for it in key["items"]] == [
        JUDGED[r["pair_id"]][S.score_column("linguistic_quality")] for r in rows]

    with pytest.raises(LuxitError, match="pass --force"):
        export_review_sheet(run_dir, n=7, seed=5)
    again = export_review_sheet(run_dir, n=7, seed=5, force=True)
    assert [r["pair_id"] for r in _read_csv(again.csv_path)] == [r["pair_id"] for r in rows]
    other = export_review_sheet(run_dir, n=7, seed=6, out=tmp_path / "elsewhere", force=True)
    assert other.csv_path.parent == tmp_path / "elsewhere"
    assert [r["pair_id"] for r in _read_csv(other.csv_path)] != [r["pair_id"] for r in rows]
    # Asking for more than exists takes every pair that has judge scores, never the failed one.
    everything = export_review_sheet(run_dir, n=100, seed=0, force=True)
    assert everything.n == 20 and everything.n_requested == 100
    failed = next(pid for pid, r in JUDGED.items() if r[S.JUDGE_ERROR])
    assert failed not in {r["pair_id"] for r in _read_csv(everything.csv_path)}


def _fill_like_judge_but_harsher(sheet_rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Human = the judge's aggregate everywhere, except a 1 for linguistic quality on the two
    all-3 Wikipedia pairs (Stauséi p0 and Mëllerdall p0)."""
    harsh = {"Firwat sinn um Stauséi vun der Uewersauer keng Motorbooter erlaabt?",
             "Wat mécht d'Landschaft vum Mëllerdall esou besonnesch?"}
    out = []
    for r in sheet_rows:
        j = JUDGED[r["pair_id"]]
        filled = dict(r, **{c: str(int(j[S.score_column(c)])) for c in S.CRITERIA})
        if j[S.INSTRUCTION] in harsh:
            filled["linguistic_quality"] = "1"
            filled["comment"] = "Klengt wéi iwwersat."
        out.append(filled)
    return out


def test_import_computes_agreement_against_hand_counts(run_dir: Path, tmp_path: Path):
    sheet = export_review_sheet(run_dir, n=20, seed=1)  # the whole population of scored pairs
    filled = _write_csv(tmp_path / "filled.csv", _fill_like_judge_but_harsher(_read_csv(sheet.csv_path)))
    res = import_review_sheet(run_dir, filled)
    assert (res.reviewed, res.skipped_empty, res.not_in_sheet) == (20, 0, 0)
    lq = res.criteria["linguistic_quality"]
    # judge LQ bins 1/2/3 = 2/14/4; the human moved two 3s to 1.
    assert lq["confusion"] == [[2, 0, 2], [0, 14, 0], [0, 0, 2]]
    assert lq["exact_agreement"] == pytest.approx(18 / 20)
    # p_o = .9, human (.2,.7,.1), judge (.1,.7,.2): p_e = .53 -> kappa = .37/.47
    assert lq["cohen_kappa"] == pytest.approx(37 / 47)
    # quadratic: observed .1 (two cells two apart), expected .155 -> 1 - .1/.155 = 11/31
    assert lq["quadratic_kappa"] == pytest.approx(11 / 31)
    assert (lq["human_score1"], lq["judge_score1"]) == (4, 2)
    for c in ("factual_accuracy", "instruction_adherence", "helpfulness_relevance"):
        assert res.criteria[c]["exact_agreement"] == 1.0 and res.criteria[c]["cohen_kappa"] == pytest.approx(1.0)
    assert res.criteria["factual_accuracy"]["confusion"] == [[3, 0, 0], [0, 5, 0], [0, 0, 12]]
    assert res.human_rejects_more == ["linguistic_quality"]
    assert res.keep == {"n": 20, "human_kept": 12, "judge_kept": 14, "agree": 18,
                        "judge_kept_human_rejected": 2, "judge_rejected_human_kept": 0}
    stored = json.loads(res.json_path.read_text(encoding="utf-8"))
    assert stored["criteria"]["linguistic_quality"]["confusion"] == lq["confusion"]
    assert sum(1 for r in stored["rows"] if r["comment"] == "Klengt wéi iwwersat.") == 2
    md = res.md_path.read_text(encoding="utf-8")
    assert "| linguistic_quality | 20 | 0.900 | 0.787 | 0.355 | 4 | 2 |" in md
    assert "Human rejected (score 1) more often than the judge on: linguistic_quality." in md


def test_semicolon_csv_from_a_european_spreadsheet_imports(run_dir: Path, tmp_path: Path):
    sheet = export_review_sheet(run_dir, n=5, seed=9)
    rows = _fill_like_judge_but_harsher(_read_csv(sheet.csv_path))
    path = tmp_path / "excel.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SHEET_COLUMNS, delimiter=";")
        w.writeheader()
        w.writerows(rows)
    res = import_review_sheet(run_dir, path)
    assert res.reviewed == 5
    assert [r["pair_id"] for r in res.rows] == [r["pair_id"] for r in rows]


def test_jsonl_sheet_with_empty_rows_is_counted(run_dir: Path, tmp_path: Path):
    sheet = export_review_sheet(run_dir, n=5, seed=2)
    rows = [json.loads(x) for x in sheet.jsonl_path.read_text(encoding="utf-8").splitlines()]
    for r in rows[:3]:
        j = JUDGED[r["pair_id"]]
        r.update({c: int(j[S.score_column(c)]) for c in S.CRITERIA})
    rows[1]["factual_accuracy"] = str(  # strings of digits are fine too
        int(JUDGED[rows[1]["pair_id"]][S.score_column("factual_accuracy")])
    )
    path = tmp_path / "filled.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:4]) + "\n", encoding="utf-8")
    res = import_review_sheet(run_dir, path)
    assert (res.reviewed, res.skipped_empty, res.not_in_sheet) == (3, 1, 1)
    assert all(m["exact_agreement"] == 1.0 for m in res.criteria.values())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"factual_accuracy": "4"}, "row 5, column factual_accuracy: '4' is not one of 1, 2, 3"),
        ({"linguistic_quality": "2.5"}, "row 5, column linguistic_quality: '2.5' is not one of 1, 2, 3"),
        ({"helpfulness_relevance": "gutt"}, "row 5, column helpfulness_relevance: 'gutt' is not one of 1, 2, 3"),
        ({"instruction_adherence": ""}, "row 5, column instruction_adherence: empty while other criteria of this row are filled"),
        ({"review_id": "R999"}, "row 5, column review_id: 'R999' is not in the review key"),
        ({"pair_id": "0000"}, "row 5, column pair_id: '0000' does not match"),
    ],
)
def test_a_malformed_cell_gives_one_line_naming_row_and_column(run_dir: Path, tmp_path: Path, edit, message):
    sheet = export_review_sheet(run_dir, n=6, seed=0)
    rows = _fill_like_judge_but_harsher(_read_csv(sheet.csv_path))
    rows[3].update(edit)  # the 4th data row is spreadsheet row 5 (the header is row 1)
    path = _write_csv(tmp_path / "review.csv", rows)
    with pytest.raises(InputError) as err:
        import_review_sheet(run_dir, path)
    text = str(err.value)
    assert text.startswith(f"{path}:{message}")
    assert "\n" not in text


def test_sheet_problems_outside_cells(run_dir: Path, tmp_path: Path):
    sheet = export_review_sheet(run_dir, n=4, seed=0)
    rows = _read_csv(sheet.csv_path)
    path = tmp_path / "cut.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[c for c in SHEET_COLUMNS if c != "helpfulness_relevance"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(InputError, match=r"cut.csv:header: missing column\(s\) helpfulness_relevance"):
        import_review_sheet(run_dir, path)
    dup = _write_csv(tmp_path / "dup.csv", [rows[0], rows[1], rows[0]])
    with pytest.raises(InputError, match="row 4, column review_id: 'R001' repeats row 2"):
        import_review_sheet(run_dir, dup)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"review_id": "R001"}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl:line 2: invalid JSON"):
        import_review_sheet(run_dir, bad)
    bad.write_text('{"review_id": "R001"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:line 1: missing column\(s\) pair_id, linguistic_quality"):
        import_review_sheet(run_dir, bad)
    with pytest.raises(InputError, match="unknown sheet format '.xlsx'"):
        (tmp_path / "s.xlsx").write_text("x", encoding="utf-8")
        import_review_sheet(run_dir, tmp_path / "s.xlsx")


def test_cli_review_round_trip(run_dir: Path, tmp_path: Path, capsys):
    assert main(["review", "export", str(run_dir), "--n", "6", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Review sample" in out and "review_sheet.csv" in out
    rows = _fill_like_judge_but_harsher(_read_csv(run_dir / "review" / "review_sheet.csv"))
    good = _write_csv(tmp_path / "good.csv", rows)
    assert main(["review", "import", str(run_dir), str(good)]) == 0
    assert "Human vs judge" in capsys.readouterr().out
    assert (run_dir / "review" / "agreement.json").is_file() and (run_dir / "review" / "agreement.md").is_file()
    rows[0]["factual_accuracy"] = "0"
    bad = _write_csv(tmp_path / "bad.csv", rows)
    assert main(["review", "import", str(run_dir), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 2, column factual_accuracy: '0' is not one of 1, 2, 3" in " ".join(err.split())


def test_krippendorff_alpha_by_hand():
    # Units (1,1), (2,2), (1,2): coincidences o11 = 2, o22 = 2, o12 = o21 = 1; n1 = n2 = 3, n = 6.
    # D_o = 2/6, D_e = 2 * 3 * 3 / (6 * 5) = 3/5, alpha = 1 - (1/3) / (3/5) = 4/9.
    assert krippendorff_alpha([[1, 1], [2, 2], [1, 2], [3]]) == pytest.approx(4 / 9)
    # Interval: d(1, 2) = 1, the same here; with (1, 3) instead d = 4 on both sides: also 4/9.
    assert krippendorff_alpha([[1, 1], [3, 3], [1, 3]], "interval") == pytest.approx(4 / 9)
    assert krippendorff_alpha([[2, 2], [2, 2]]) is None  # one value only
    assert krippendorff_alpha([[1], [2]]) is None  # no unit with two ratings


def test_every_reviewer_is_kept(run_dir: Path, tmp_path: Path):
    sheet = export_review_sheet(run_dir, n=6, seed=3)
    rows = _fill_like_judge_but_harsher(_read_csv(sheet.csv_path))
    import_review_sheet(run_dir, _write_csv(tmp_path / "sheet-Anne.csv", rows))
    ben = [dict(r, linguistic_quality="3") for r in rows]
    import_review_sheet(run_dir, _write_csv(tmp_path / "ben.csv", ben))
    import_review_sheet(run_dir, _write_csv(tmp_path / "sheet-anne.csv", rows))  # anne again: replaces anne's only
    stored = sorted(p.name for p in (run_dir / "review" / "agreement").iterdir())
    assert stored == ["anne.json", "anne.md", "ben.json", "ben.md"]
    combined = json.loads((run_dir / "review" / "agreement.json").read_text(encoding="utf-8"))
    assert sorted(combined["reviewers"]) == ["anne", "ben"] and len(combined["rows"]) == 12
    pair = combined["between_reviewers"]["pairs"][0]
    assert (pair["reviewers"], pair["n"]) == (["anne", "ben"], 6)
    assert pair["criteria"]["factual_accuracy"]["exact_agreement"] == 1.0
    assert combined["between_reviewers"]["all"]["factual_accuracy"]["pairs"] == 6
    md = (run_dir / "review" / "agreement.md").read_text(encoding="utf-8")
    assert "## Between reviewers (Cohen's kappa)" in md and "| anne / ben | factual_accuracy | 6 | 1.000 |" in md
    two = [dict(r, reviewer="x" if k else "y") for k, r in enumerate(rows)]
    jl = tmp_path / "two.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in two), encoding="utf-8")
    with pytest.raises(InputError, match="holds several reviewers \\(x, y\\): one sheet per reviewer"):
        import_review_sheet(run_dir, jl)
