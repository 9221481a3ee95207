"""The evaluation report: Table 4 layout per scorer, categories, invalid rates, deltas, tasks.

:func:`build_report` turns per-sample records into one JSON-able dict; :func:`render_markdown`,
:func:`plot_report` and :func:`summary_tables` present that dict (Markdown file, PNG chart, the
rows the CLI prints). Accuracies are fractions in the JSON and percentages elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from luxit_ray.config.evaluate import GROUPS
from luxit_ray.evaluate import metrics
from luxit_ray.evaluate.items import KIND_CLASSIFICATION, KIND_EXAM, EvalItem
from luxit_ray.evaluate.scorers import GENERATIVE, LOGLIK
from luxit_ray.textio import markdown_table

log = logging.getLogger(__name__)

OVERALL = metrics.OVERALL
GROUP_TITLES = {"base": "Base models", "instruct": "Instruct models", "fine-tuned": "Fine-tuned models"}
SCORER_TITLES = {LOGLIK: "log-likelihood", GENERATIVE: "generative"}


def ordered_models(models: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Models grouped base, instruct, fine-tuned; config order within a group."""
    return [m for g in GROUPS for m in models if m["group"] == g]


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def build_report(
    records: Sequence[dict[str, Any]],
    models: Sequence[dict[str, Any]],
    items: Sequence[EvalItem],
    settings: dict[str, Any],
    held_out: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Aggregate per-sample records (each with a ``model`` key) into the report dict.

    ``held_out``: per fine-tuned model, training's validation loss before and after fine-tuning
    (:func:`~luxit_ray.evaluate.runner.held_out_losses`), shown beside Table 4.
    """
    scorers = list(settings["scorers"])
    models = ordered_models(models)
    names = [m["name"] for m in models]
    report: dict[str, Any] = {
        "scorers": scorers,
        "length_norm": settings["length_norm"],
        "max_new_tokens": settings["max_new_tokens"],
        "models": [
            {k: m.get(k) for k in ("name", "group", "path", "adapter", "compare_to", "backend")} for m in models
        ],
        "exam": None,
        "tasks": {},
        "held_out_loss": dict(held_out or {}),
    }

    def select(scorer: str, model: str, source: str) -> list[dict[str, Any]]:
        return [r for r in records if r["scorer"] == scorer and r["model"] == model and r["source"] == source]

    exam_items = [it for it in items if it.kind == KIND_EXAM]
    if exam_items:
        exam_name = exam_items[0].source
        levels = settings["exam"]["levels"] if settings.get("exam") else sorted({it.level for it in exam_items})
        levels = [lv for lv in levels if any(it.level == lv for it in exam_items)]
        categories = list(dict.fromkeys(it.category for it in exam_items))
        exam: dict[str, Any] = {
            "name": exam_name,
            "levels": levels,
            "categories": categories,
            "n_items": len(exam_items),
            "items_per_level": {lv: sum(1 for it in exam_items if it.level == lv) for lv in levels},
            "items_per_category": {c: sum(1 for it in exam_items if it.category == c) for c in categories},
            "accuracy": {},
            "invalid_rate": {},
            "category_accuracy": {},
            "outcomes": {},
            "deltas": {},
        }
        for scorer in scorers:
            acc, inv, cat, out, delta = {}, {}, {}, {}, {}
            for name in names:
                recs = select(scorer, name, exam_name)
                acc[name] = metrics.by_key(recs, "level", levels)
                inv[name] = metrics.by_key(recs, "level", levels, metrics.invalid_rate)
                cat[name] = metrics.by_key(recs, "category", categories)
                out[name] = metrics.counts(recs)
            for m in models:
                ref = m.get("compare_to")
                if ref:
                    delta[m["name"]] = {"compare_to": ref} | {
                        k: _delta(acc[m["name"]][k], acc[ref][k]) for k in [*levels, OVERALL]
                    }
            exam["accuracy"][scorer] = acc
            exam["invalid_rate"][scorer] = inv
            exam["category_accuracy"][scorer] = cat
            exam["outcomes"][scorer] = out
            exam["deltas"][scorer] = delta
        report["exam"] = exam

    task_names = list(dict.fromkeys(it.source for it in items if it.kind == KIND_CLASSIFICATION))
    for task in task_names:
        task_items = [it for it in items if it.source == task]
        labels = list(task_items[0].choices)
        entry: dict[str, Any] = {"labels": labels, "n_items": len(task_items), "results": {}, "deltas": {}}
        for scorer in scorers:
            res = {name: metrics.classification_metrics(select(scorer, name, task), labels) for name in names}
            entry["results"][scorer] = res
            entry["deltas"][scorer] = {
                m["name"]: {
                    "compare_to": m["compare_to"],
                    "accuracy": _delta(res[m["name"]]["accuracy"], res[m["compare_to"]]["accuracy"]),
                    "macro_f1": _delta(res[m["name"]]["macro_f1"], res[m["compare_to"]]["macro_f1"]),
                }
                for m in models
                if m.get("compare_to")
            }
        report["tasks"][task] = entry
    return report


# ---- presentation ------------------------------------------------------------------------


def pct(value: float | None, signed: bool = False) -> str:
    """A fraction as a percentage with one decimal ('-' for None)."""
    if value is None:
        return "-"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Table 4 layout: model names left, percentages right."""
    return markdown_table(header, rows, right_align=[i > 0 for i in range(len(header))]).split("\n")

def _grouped_rows(report: dict[str, Any], table: dict[str, dict[str, Any]], keys: list[str], signed: bool = False) -> list[list[str]]:
    rows: list[list[str]] = []
    for group in GROUPS:
        members = [m["name"] for m in report["models"] if m["group"] == group and m["name"] in table]
        if not members:
            continue
        rows.append([f"**{GROUP_TITLES[group]}**"] + [""] * len(keys))
        rows += [[name] + [pct(table[name].get(k), signed) for k in keys] for name in members]
    return rows


def describe_scorers(report: dict[str, Any]) -> list[str]:
    """One line per scorer saying exactly how it scores."""
    norm = {"char": "per character of the option text (lm-eval's acc_norm)", "token": "per token of the option", "none": "not normalised"}
    lines = []
    if LOGLIK in report["scorers"]:
        lines.append(
            f"- **log-likelihood**: each option's text is scored as the answer after the chat-formatted question; "
            f"log-probability {norm[report['length_norm']]}; highest wins."
        )
    if GENERATIVE in report["scorers"]:
        lines.append(
            f"- **generative**: chat template, instruction to answer with one letter, greedy decoding "
            f"(at most {report['max_new_tokens']} new tokens), `<think>` blocks stripped; an output with no "
            f"parsable option letter is *invalid* (counted apart from wrong, and not correct)."
        )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    out = ["# Evaluation report", "", *describe_scorers(report), ""]
    exam = report.get("exam")
    if exam:
        levels, cats = exam["levels"], exam["categories"]
        per_level = ", ".join(f"{lv}: {n}" for lv, n in exam["items_per_level"].items())
        out += [f"## Exam `{exam['name']}` ({exam['n_items']} questions; {per_level})", ""]
        for scorer in report["scorers"]:
            title = SCORER_TITLES[scorer]
            out += [f"### Accuracy by level, {title} scorer (%)", ""]
            out += _md_table(["Model", *levels, "Overall"], _grouped_rows(report, exam["accuracy"][scorer], [*levels, OVERALL]))
            out.append("")
            if scorer == GENERATIVE or any(v[OVERALL] for v in exam["invalid_rate"][scorer].values()):
                out += [f"### Invalid outputs by level, {title} scorer (%)", ""]
                out += _md_table(["Model", *levels, "Overall"], _grouped_rows(report, exam["invalid_rate"][scorer], [*levels, OVERALL]))
                out.append("")
            out += [f"### Accuracy by category, {title} scorer (%)", ""]
            out += _md_table(["Model", *cats, "Overall"], _grouped_rows(report, exam["category_accuracy"][scorer], [*cats, OVERALL]))
            out.append("")
            deltas = exam["deltas"][scorer]
            if deltas:
                out += [f"### Deltas (model minus its `compare_to`), {title} scorer (points)", ""]
                rows = [
                    [f"{name} − {d['compare_to']}"] + [pct(d[k], signed=True) for k in [*levels, OVERALL]]
                    for name, d in deltas.items()
                ]
                out += _md_table(["Model", *levels, "Overall"], rows)
                out.append("")
    out += held_out_markdown(report.get("held_out_loss") or {})
    for task, entry in report["tasks"].items():
        out += [f"## Task `{task}` ({entry['n_items']} items; labels: {', '.join(entry['labels'])})", ""]
        for scorer in report["scorers"]:
            res = entry["results"][scorer]
            header = ["Model", "Accuracy", "Macro-F1", "Invalid", *[f"F1 {lab}" for lab in entry["labels"]]]
            rows = []
            for m in report["models"]:
                r = res[m["name"]]
                rows.append(
                    [m["name"], pct(r["accuracy"]), pct(r["macro_f1"]), pct(r["invalid_rate"])]
                    + [pct(r["per_class"][lab]["f1"]) for lab in entry["labels"]]
                )
            out += [f"### {SCORER_TITLES[scorer]} scorer (%)", "", *_md_table(header, rows), ""]
            for name, d in entry["deltas"][scorer].items():
                out.append(
                    f"- {name} − {d['compare_to']}: accuracy {pct(d['accuracy'], True)}, macro-F1 {pct(d['macro_f1'], True)} points"
                )
            if entry["deltas"][scorer]:
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def _loss(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def held_out_rows(held_out: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """One row per fine-tuned model: name, examples, label tokens, steps, before, after, change."""
    rows = []
    for name, h in held_out.items():
        change = None if h.get("before") is None or h.get("after") is None else h["after"] - h["before"]
        rows.append([name, h.get("examples"), h.get("label_tokens"), h.get("steps"), h.get("before"), h.get("after"), change])
    return rows


HELD_OUT_COLUMNS = ["model", "validation examples", "label tokens", "steps", "loss before", "loss after", "change"]


def held_out_markdown(held_out: dict[str, dict[str, Any]]) -> list[str]:
    """The held-out loss section (empty without fine-tuned models that recorded one)."""
    if not held_out:
        return []
    rows = [[r[0], str(r[1]), str(r[2]), str(r[3]), _loss(r[4]), _loss(r[5]), _loss(r[6], True)]
            for r in held_out_rows(held_out)]
    return [
        "## Held-out loss of the fine-tuned models (training's validation split)", "",
        "Mean token cross-entropy on the same validation conversations, tokens and assistant-only label masks "
        "as training, before the first update (the untrained LoRA: the base model) and after the last.", "",
        *_md_table(HELD_OUT_COLUMNS, rows), "",
    ]


def plot_report(report: dict[str, Any], path: str | Path) -> Path | None:
    """Grouped bar charts (accuracy per level per scorer, invalid rate, task macro-F1) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, list[str], dict[str, dict[str, Any]], str]] = []
    exam = report.get("exam")
    if exam:
        keys = [*exam["levels"], OVERALL]
        for scorer in report["scorers"]:
            panels.append((f"Exam accuracy, {SCORER_TITLES[scorer]} scorer", keys, exam["accuracy"][scorer], "accuracy (%)"))
        if GENERATIVE in report["scorers"]:
            panels.append(("Exam invalid outputs, generative scorer", keys, exam["invalid_rate"][GENERATIVE], "invalid outputs (%)"))
    if report["tasks"]:
        for scorer in report["scorers"]:
            table = {
                m["name"]: {t: e["results"][scorer][m["name"]]["macro_f1"] for t, e in report["tasks"].items()}
                for m in report["models"]
            }
            panels.append((f"Tasks macro-F1, {SCORER_TITLES[scorer]} scorer", list(report["tasks"]), table, "macro-F1 (%)"))
    if not panels:
        return None
    names = [m["name"] for m in report["models"]]
    labels = [f"{m['name']} ({m['group']})" for m in report["models"]]
    ncols = 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(7 * ncols, 3.6 * nrows + 0.9), squeeze=False)
    width = 0.8 / max(1, len(names))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, keys, table, ylabel) in zip(axes.flat, panels, strict=False):
        for j, (name, label) in enumerate(zip(names, labels, strict=True)):
            values = [(table[name].get(k) or 0.0) * 100 for k in keys]
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(keys))]
            ax.bar(xs, values, width, label=label, color=colors[j % len(colors)])
        ax.set_xticks(range(len(keys)), [k if k != OVERALL else "Overall" for k in keys])
        ax.set_xlim(-0.6, len(keys) - 0.4)
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.set_xlabel("level" if keys and keys[-1] == OVERALL else "task")
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, legend_labels = axes.flat[0].get_legend_handles_labels()
    # One legend for all panels, above them, so no bar is hidden behind it.
    fig.legend(handles, legend_labels, loc="upper center", ncol=min(len(names), 4), bbox_to_anchor=(0.5, 0.965), frameon=False)
    fig.suptitle("Evaluation by model (group in brackets: base / instruct / fine-tuned)")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def summary_tables(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tables for the CLI: ``{title: {"columns": [...], "rows": [...]}}`` (percentages)."""
    tables: dict[str, dict[str, Any]] = {}

    def num(v: float | None) -> float | None:
        return None if v is None else round(v * 100, 1)

    exam = report.get("exam")
    if exam:
        keys = [*exam["levels"], OVERALL]
        for scorer in report["scorers"]:
            rows = [
                [m["group"], m["name"], *[num(exam["accuracy"][scorer][m["name"]][k]) for k in keys],
                 num(exam["invalid_rate"][scorer][m["name"]][OVERALL])]
                for m in report["models"]
            ]
            tables[f"Exam {exam['name']}: accuracy %, {SCORER_TITLES[scorer]} scorer"] = {
                "columns": ["group", "model", *keys[:-1], "overall", "invalid %"], "rows": rows,
            }
            if exam["deltas"][scorer]:
                tables[f"Deltas (points), {SCORER_TITLES[scorer]} scorer"] = {
                    "columns": ["model", "compare_to", *keys[:-1], "overall"],
                    "rows": [[n, d["compare_to"], *[num(d[k]) for k in keys]] for n, d in exam["deltas"][scorer].items()],
                }
    if report.get("held_out_loss"):
        rows = [[r[0], r[1], r[2], r[3], *(None if v is None else round(v, 4) for v in r[4:])]
                for r in held_out_rows(report["held_out_loss"])]
        tables["Held-out loss (validation split)"] = {"columns": HELD_OUT_COLUMNS, "rows": rows}
    if report["tasks"]:
        rows = []
        for task, entry in report["tasks"].items():
            for scorer in report["scorers"]:
                for m in report["models"]:
                    r = entry["results"][scorer][m["name"]]
                    rows.append([task, SCORER_TITLES[scorer], m["name"], num(r["accuracy"]), num(r["macro_f1"]), num(r["invalid_rate"])])
        tables["Tasks (%)"] = {"columns": ["task", "scorer", "model", "accuracy", "macro-F1", "invalid"], "rows": rows}
    return tables
