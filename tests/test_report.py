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
    """The fixture run with two reviews of all 20 scored pairs imported (anne, stricter on news
    language, and ben, who scores as the judge), then `luxit report` once.

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
    for name in ("ben", "anne"):
        if name == "anne":  # stricter on news language: all six rtl pairs get LQ 1
            for r in rows:
                if judged[r["pair_id"]][S.SOURCE] == "rtl":
                    r["linguistic_quality"] = "1"
        filled = run / "review" / f"sheet-{name}.csv"
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
    # human: both reviewers' scores pooled (40). ben: the judge's bins (LQ 2/14/4); anne: the same
    # except LQ 1 on the six rtl pairs (judge LQ there: 2, 2, 1, 3, 2, 2), so LQ 7/10/3 and mean 1.8.
    # LQ pooled: 9/24/7, mean (36 + 42) / 40 = 1.95; the other criteria are ben's doubled.
    assert _cells(data["tables"]["Table 3: Human review subset (40)"]) == {
        "linguistic_quality": ["9 (22.5%)", "24 (60.0%)", "7 (17.5%)", 1.95, 2.0],
        "factual_accuracy": ["6 (15.0%)", "10 (25.0%)", "24 (60.0%)", 2.45, 3.0],
        "instruction_adherence": ["2 (5.0%)", "8 (20.0%)", "30 (75.0%)", 2.7, 3.0],
        "helpfulness_relevance": ["2 (5.0%)", "10 (25.0%)", "28 (70.0%)", 2.65, 3.0],
    }
    t3 = data["table3"]
    assert (t3["all"]["all_top"], t3["kept"]["all_top"], t3["human"]["all_top"]) == (3, 3, 5)  # anne 2 + ben 3
    assert t3["all"]["below_min"] == {"linguistic_quality": 2, "factual_accuracy": 3,
                                      "instruction_adherence": 1, "helpfulness_relevance": 1}
    assert t3["all"]["rejected"] == 6 and t3["kept"]["rejected"] == 0 and t3["human"]["rejected"] == 16  # anne 10 + ben 6
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
        ["generate", "deepseek-reasoner", 8, 9, 12000, "50.0%", 6700, 4500, 0.021, 0.005, 0.0],
        ["judge", "Qwen/Qwen3-32B", 21, 21, 14700, "0.0%", 6300, 4200, 0.0, 0.0, 0.0],
        ["judge", "gpt-5-mini", 21, 22, 14700, "50.0%", 6300, 4200, 0.0163, 0.0, 0.002],
        ["total", "", 50, 52, 41400, "32.2%", 19300, 12900, pytest.approx(0.0373), 0.005, 0.002],
    ]
    # what the run cost in all: every attempt (the rerun's earlier part included), and what the cache saved
    printed = reported[2]
    assert ("run total $0.0373 (earlier attempts $0.0050; saved by the request cache $0.0020; cached input 32.2%)"
            in " ".join(printed.split()))
    vs = {(r[0], r[1]): r[2:] for r in data["tables"]["Human review: Each reviewer vs the judge"]["rows"]}
    # anne's LQ: the 14 non-rtl pairs agree, and the one rtl pair the judge also gave a 1: 15 of 20
    assert vs[("anne", "linguistic_quality")][:2] == [20, pytest.approx(15 / 20)]
    assert vs[("ben", "linguistic_quality")][:3] == [20, 1.0, 1.0]
    assert vs[("anne", "factual_accuracy")][1] == 1.0
    between = {r[1]: r[2:] for r in data["tables"]["Human review: Between reviewers (Cohen's kappa)"]["rows"]}
    assert data["tables"]["Human review: Between reviewers (Cohen's kappa)"]["rows"][0][0] == "anne / ben"
    # ben scores as the judge, so anne against ben is anne against the judge: 15 of 20 on LQ
    assert between["linguistic_quality"][:2] == [20, pytest.approx(15 / 20)]
    assert between["factual_accuracy"][:3] == [20, 1.0, 1.0]
    alpha = {r[0]: r[1:] for r in data["tables"]["Human review: All reviewers (Krippendorff's alpha)"]["rows"]}
    assert alpha["factual_accuracy"] == [20, 1.0, 1.0]
    assert set(data["review"]["reviewers"]) == {"anne", "ben"}
    assert data["retention"] == [
        {"source": "chamber", "read": 2, "passed_filters": 1, "seeds": 1, "pairs_judged": 3, "pairs_kept": 2},
        {"source": "lbwiki", "read": 10, "passed_filters": 5, "seeds": 4, "pairs_judged": 12, "pairs_kept": 8},
        {"source": "rtl", "read": 7, "passed_filters": 3, "seeds": 3, "pairs_judged": 6, "pairs_kept": 4},
    ]


def test_markdown_json_and_pngs_are_written(reported):
    run, data, printed = reported
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    for heading in ("## Filters", "## Generation", "## Judge scores (Table 3)", "### All judged pairs (20)",
                    "### Kept pairs (14)", "### Human review subset (40)", "## Judging", "## Human review",
                    "### Between reviewers (Cohen's kappa)",
                    "## Tokens and cost", "## Plots"):
        assert heading in md
    assert "| linguistic_quality | 2 (10.0%) | 14 (70.0%) | 4 (20.0%) | 2.1 | 2 |" in md
    assert "All criteria scored 3: 3 (15.0%)." in md
    assert "![scores](scores.png)" in md and "![cost](cost.png)" in md
    assert json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))["judge"]["kept"] == 14
    assert data["plots"] == ["filters.png", "scores.png", "retention.png", "cost.png"]
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


# ---- issue 14: everything read in the filter table and plot; plots a reader can trust ------


def test_filter_table_shows_every_page_read_and_the_learned_boilerplate(tmp_path):
    from luxit_ray import runs

    run_dir = write_judged_run(tmp_path)
    run = runs.RunDir(run_dir)
    run.update_manifest(run.config(), "prepare", {
        "read": {"lbwiki": 31, "rtl": 39},
        "dropped": {"dedup": {"lbwiki": 2, "rtl": 2}, "type": {"rtl": 5}, "namespace": {"lbwiki": 5},
                    "redirect": {"lbwiki": 4}, "page_kind": {"lbwiki": 6}, "min_length": {"lbwiki": 2, "rtl": 12}},
        "kept": {"lbwiki": 12, "rtl": 20}, "seeds": {"lbwiki": 12, "rtl": 20},
        "read_detail": {"lbwiki": {"namespace 10 (Schabloun)": 2, "namespace 14 (Kategorie)": 3, "redirect": 4},
                        "rtl": {"type=comment excluded": 5}},
        "boilerplate_lines_removed": {"rtl": 19},
        "boilerplate": {"rtl": {"docs": 34, "chars": 40000, "chars_removed": 6000, "removed_share": 0.15,
                                "lines_learned": 2, "lines_removed": 19,
                                "top_lines": [{"line": "Foto: RTL Archiv", "docs": 9, "edge_share": 1.0,
                                               "shape": "fragment", "needed_share": 0.001}]}},
        "warnings": ["warning: boilerplate removal took 15.0% of rtl's characters (...)"],
        "wiki_markup_left": {"lbwiki": {"pages": 12, "with_markup": 1, "by_mark": {"''": 1}}},
    })
    report = build_report(run_dir)
    md = report.markdown.read_text(encoding="utf-8")
    assert "Kept wiki pages whose text still holds wiki markup: lbwiki 1 of 12 ({\"''\": 1})." in md
    t = report.tables["Filters (documents per source)"]
    assert t["columns"] == ["step", "lbwiki", "rtl", "total"]
    assert [r[0] for r in t["rows"]] == [
        "documents read", "dropped: type", "  of which type=comment excluded", "dropped: redirect",
        "dropped: namespace", "  of which namespace 10 (Schabloun)", "  of which namespace 14 (Kategorie)",
        "dropped: page_kind", "dropped: min_length", "dropped: dedup", "passed filters", "sampled as seeds",
        "boilerplate lines removed",
    ]
    cells = _cells(t)
    assert cells["  of which namespace 14 (Kategorie)"] == [3, 0, 3]
    assert cells["documents read"] == [31, 39, 70]
    # read = kept + every drop (the "of which" rows split a drop row, they do not add to it)
    dropped = [v for k, v in cells.items() if k.startswith("dropped: ")]
    assert [sum(col) for col in zip(*dropped, strict=True)][:2] == [31 - 12, 39 - 20]
    assert report.tables["Boilerplate: most frequent learned lines"]["rows"] == [
        ["rtl", "Foto: RTL Archiv", 9, 1.0, "fragment"]]
    assert report.lines[0].startswith("warning: boilerplate removal took 15.0%")
    assert "filters.png" in report.data["plots"]
    assert (run_dir / "report" / "filters.png").read_bytes()[:8] == PNG_MAGIC


def test_cost_axis_starts_at_zero_when_everything_is_free():
    from luxit_ray.plots import cost_figure

    fig = cost_figure([{"stage": "generate", "model": "smollm2", "prompt_tokens": 900, "completion_tokens": 300,
                        "reasoning_tokens": 0, "cost_usd": 0.0}])
    ax_cost, ax_tok = fig.axes[:2]
    assert ax_cost.get_xlim() == (0.0, 1.0)  # before: (-0.075, 0.075), negative dollars
    assert ax_tok.get_xlim()[0] == 0.0
    # a rerun answered wholly from the request cache paid no token: the axis is not 0-0.05 tokens
    fig = cost_figure([{"stage": "judge", "model": "smollm2", "prompt_tokens": 0, "cached_tokens": 0,
                        "completion_tokens": 0, "reasoning_tokens": 0, "cost_usd": 0.0}])
    assert fig.axes[1].get_xlim() == (0.0, 1.0)


def test_retention_legend_covers_no_bar_label():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from luxit_ray.plots import retention_figure

    # The tallest bar on the right (where the legend sat) is the case that overlapped before.
    fig = retention_figure([{"source": "lbwiki", "read": 10, "passed_filters": 5, "seeds": 4, "pairs_judged": 12,
                             "pairs_kept": 8},
                            {"source": "rtl", "read": 70, "passed_filters": 60, "seeds": 60, "pairs_judged": 180,
                             "pairs_kept": 170}])
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        labels = [t.get_window_extent(renderer) for t in ax.texts]
        assert labels and not any(legend.overlaps(b) for b in labels)
