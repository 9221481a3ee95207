"""The run report: exact counts in every table cell, the human block, partial runs, the CLI."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from luxit_ray import schema as S
from luxit_ray.cli import main
from luxit_ray.report import build_report
from luxit_ray.review import SHEET_COLUMNS, export_review_sheet, import_review_sheet
from tests.fixtures_judged import judged_rows, write_judged_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Path, dict, str]:
    """The fixture run with a review of all 20 scored pairs imported, then `luxit report` once.

    Returns the run folder, report.json and what the command printed.
    """
    run = write_judged_run(tmp_path_factory.mktemp("report"))
    sheet = export_review_sheet(run, n=20, seed=4)
    judged = {r[S.PAIR_ID]: r for r in judged_rows()}
    with sheet.csv_path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        j = judged[r["pair_id"]]
        r.update({c: str(int(j[S.score_column(c)])) for c in S.CRITERIA})
        if j[S.SOURCE] == "rtl":  # the human is stricter on news language: all six rtl pairs get LQ 1
            r["linguistic_quality"] = "1"
    filled = run / "review" / "filled.csv"
    with filled.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SHEET_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    import_review_sheet(run, filled)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(run)]) == 0
    data = json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))
    return run, data, out.getvalue()


def _cells(table: dict) -> dict[str, list]:
    return {row[0]: row[1:] for row in table["rows"]}


def test_filter_table_cells(reported):
    _, data, _ = reported
    t = data["tables"]["Filters (documents per source)"]
    assert t["columns"] == ["step", "chamber", "lbwiki", "rtl", "total"]
    assert _cells(t) == {
        "documents read": [2, 10, 7, 19],
        "dropped: min_chars": [0, 3, 2, 5],
        "dropped: page_kind": [0, 2, 0, 2],
        "dropped: langid": [0, 0, 1, 1],
        "dropped: nonprose": [0, 0, 1, 1],
        "dropped: dedup": [1, 0, 0, 1],
        "passed filters": [1, 5, 3, 9],
        "sampled as seeds": [1, 4, 3, 8],
        "boilerplate lines removed": [0, 0, 5, 5],
    }


def test_table3_blocks_cells(reported):
    _, data, _ = reported
    cols = ["criterion", "score 1", "score 2", "score 3", "mean", "median"]
    all_ = data["tables"]["Table 3: All judged pairs (20)"]
    assert all_["columns"] == cols
    assert _cells(all_) == {
        "linguistic_quality": ["2 (10.0%)", "14 (70.0%)", "4 (20.0%)", 2.1, 2.0],
        "factual_accuracy": ["3 (15.0%)", "5 (25.0%)", "12 (60.0%)", 2.45, 3.0],
        "instruction_adherence": ["1 (5.0%)", "4 (20.0%)", "15 (75.0%)", 2.7, 3.0],
        "helpfulness_relevance": ["1 (5.0%)", "5 (25.0%)", "14 (70.0%)", 2.65, 3.0],
    }
    assert _cells(data["tables"]["Table 3: Kept pairs (14)"]) == {
        "linguistic_quality": ["0 (0.0%)", "10 (71.4%)", "4 (28.6%)", 2.29, 2.0],
        "factual_accuracy": ["0 (0.0%)", "4 (28.6%)", "10 (71.4%)", 2.71, 3.0],
        "instruction_adherence": ["0 (0.0%)", "3 (21.4%)", "11 (78.6%)", 2.79, 3.0],
        "helpfulness_relevance": ["0 (0.0%)", "3 (21.4%)", "11 (78.6%)", 2.79, 3.0],
    }
    # human: the judge's scores except LQ 1 on the six rtl pairs (judge LQ there: 2, 2, 1, 3, 2, 2)
    assert _cells(data["tables"]["Table 3: Human review subset (20)"]) == {
        "linguistic_quality": ["7 (35.0%)", "10 (50.0%)", "3 (15.0%)", 1.8, 2.0],
        "factual_accuracy": ["3 (15.0%)", "5 (25.0%)", "12 (60.0%)", 2.45, 3.0],
        "instruction_adherence": ["1 (5.0%)", "4 (20.0%)", "15 (75.0%)", 2.7, 3.0],
        "helpfulness_relevance": ["1 (5.0%)", "5 (25.0%)", "14 (70.0%)", 2.65, 3.0],
    }
    t3 = data["table3"]
    assert (t3["all"]["all_top"], t3["kept"]["all_top"], t3["human"]["all_top"]) == (3, 3, 2)
    assert t3["all"]["below_min"] == {"linguistic_quality": 2, "factual_accuracy": 3,
                                      "instruction_adherence": 1, "helpfulness_relevance": 1}
    assert t3["all"]["rejected"] == 6 and t3["kept"]["rejected"] == 0 and t3["human"]["rejected"] == 10
    assert t3["all"]["criteria"]["factual_accuracy"]["mean"] == pytest.approx(2.45)


def test_judging_generation_cost_and_review_cells(reported):
    _, data, _ = reported
    assert _cells(data["tables"]["Judging"]) == {
        "pairs judged": [21], "pairs kept": ["14 (66.7%)"], "pairs rejected": ["7 (33.3%)"],
        "pairs without scores (judge error)": [1], "judge calls": [42], "judge calls failed": ["3 (7.1%)"],
        "judge parse errors": ["3 (7.1%)"], "judge calls failed: parse": [3],
        "pairs where judges disagree": ["4 of 19 (21.1%)"],
        "disagree on linguistic_quality": [2], "disagree on factual_accuracy": [1],
        "disagree on instruction_adherence": [0], "disagree on helpfulness_relevance": [1],
    }
    assert data["judge"]["by_judge"] == {"gpt5mini": {"calls": 21, "failed": 1}, "qwen": {"calls": 21, "failed": 2}}
    assert _cells(data["tables"]["Generation"]) == {
        "seeds": [8], "pairs generated": [21], "seeds with an error": ["1 (12.5%)"], "error: parse": ["1 (12.5%)"],
        "cache hits": [0], "retries": [2], "wall time (s)": [42.5],
    }
    assert data["generate"]["parse_error_rate"] == pytest.approx(1 / 8)
    cost = data["tables"]["Tokens and cost"]
    assert cost["rows"] == [
        ["generate", "deepseek-reasoner", 8, 12000, 6700, 4500, 0.021],
        ["judge", "Qwen/Qwen3-32B", 21, 14700, 6300, 4200, 0.0],
        ["judge", "gpt-5-mini", 21, 14700, 6300, 4200, 0.0163],
        ["total", "", 50, 41400, 19300, 12900, pytest.approx(0.0373)],
    ]
    review = _cells(data["tables"]["Human vs judge"])
    # LQ: the 14 non-rtl pairs agree, and the one rtl pair the judge also gave a 1: 15 of 20
    assert review["linguistic_quality"][:2] == [20, pytest.approx(15 / 20)]
    assert review["linguistic_quality"][4:6] == [7, 2]
    assert review["factual_accuracy"][1] == 1.0
    assert data["retention"] == [
        {"source": "chamber", "read": 2, "passed_filters": 1, "seeds": 1, "pairs_judged": 3, "pairs_kept": 2},
        {"source": "lbwiki", "read": 10, "passed_filters": 5, "seeds": 4, "pairs_judged": 12, "pairs_kept": 8},
        {"source": "rtl", "read": 7, "passed_filters": 3, "seeds": 3, "pairs_judged": 6, "pairs_kept": 4},
    ]


def test_markdown_json_and_pngs_are_written(reported):
    run, data, printed = reported
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    for heading in ("## Filters", "## Generation", "## Judge scores (Table 3)", "### All judged pairs (20)",
                    "### Kept pairs (14)", "### Human review subset (20)", "## Judging", "## Human review vs judge",
                    "## Tokens and cost", "## Plots"):
        assert heading in md
    assert "| linguistic_quality | 2 (10.0%) | 14 (70.0%) | 4 (20.0%) | 2.1 | 2 |" in md
    assert "All criteria scored 3: 3 (15.0%)." in md
    assert "![scores](scores.png)" in md and "![cost](cost.png)" in md
    assert json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))["judge"]["kept"] == 14
    assert data["plots"] == ["scores.png", "retention.png", "cost.png"]
    for name in data["plots"]:
        png = run / "report" / name
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000
    # `luxit report` printed the tables.
    assert "Table 3: All judged pairs (20)" in printed and "Tokens and cost" in printed
    assert "kept 14 (66.7%) of 21 judged pairs" in printed


def test_report_on_a_run_that_stopped_after_prepare(tmp_path: Path):
    run = write_judged_run(tmp_path)
    for sub in ("pairs", "generate_errors", "judged", "kept", "rejected_pairs"):
        shutil.rmtree(run / sub)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["steps"] = {}  # no counts at all: the filter table comes from rejects/ and seeds/
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    rep = build_report(run)
    assert list(rep.tables) == ["Filters (documents per source)"]
    assert _cells(rep.tables["Filters (documents per source)"]) == {
        "dropped: dedup": [1, 0, 0, 1], "dropped: langid": [0, 0, 1, 1], "dropped: min_chars": [0, 3, 2, 5],
        "dropped: nonprose": [0, 0, 1, 1], "dropped: page_kind": [0, 2, 0, 2], "sampled as seeds": [1, 4, 3, 8],
    }
    assert [p.name for p in rep.plots] == ["retention.png"]
    assert "Table 3" not in (run / "report" / "report.md").read_text(encoding="utf-8")


def test_cli_report_on_a_missing_run_is_one_red_line(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and len(err.strip().splitlines()) == 1
