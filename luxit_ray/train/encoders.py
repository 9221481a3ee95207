"""`luxit finetune-encoders`: encoders fine-tuned on ltzGLUE-style tasks on Ray Train, per seed.

Follows ltzGLUE (Plum et al. 2026): every encoder (any Hugging Face encoder folder or hub id:
mBERT, mmBERT, XLM-R, LuxemBERT, ltz-E1, ...) is fine-tuned on every task once per seed, and the
scores are reported as mean and standard deviation over the seeds (sample standard deviation,
n - 1). Sequence tasks put a classification head on the encoder; token tasks a tagging head whose
label is the BIO tag of each word's first sub-word (the other sub-words are ignored by the loss,
and a word cut off by ``max_length`` is predicted ``O``). Scores: macro-F1 over the labels for
sequence tasks, entity-level micro- and macro-F1 (seqeval's definition) for token tasks, on the
validation and test splits.

Class-balanced loss (Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of
Samples"): the cross-entropy of class c is weighted by (1 - beta) / (1 - beta^n_c), n_c its count
in the training split (for token tasks: the words' tags), scaled so that the weights of
the classes present sum to their number; a class absent from training gets weight 0. ltzGLUE uses
beta 0.99 on its imbalanced tasks (sentiment, acceptability).

Each (encoder, task, seed) is one Ray Train ``TorchTrainer`` trial (``num_workers`` data-parallel
workers); trials run concurrently. Rank 0 reports its scores with a small checkpoint holding
``scores.json``. A failed trial is a row with its error, not a dead sweep.

Outputs under ``<run>/glue/encoders/``: ``trials.jsonl`` (one row per trial), ``results.json``
and ``results.md`` (mean and standard deviation per encoder and task).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from luxit_ray.config import JobConfig
from luxit_ray.config.glue import EncoderSweepConfig, GlueTaskConfig
from luxit_ray.errors import ConfigError, LuxitError
from luxit_ray.f1 import bio_tags, class_f1, entity_f1
from luxit_ray.glue_data import load_split
from luxit_ray.textio import markdown_table, write_jsonl

log = logging.getLogger(__name__)

STEP = "glue_encoders"
SCORES_FILE = "scores.json"
IGNORE = -100
METRICS = ("val_macro_f1", "test_macro_f1", "val_micro_f1", "test_micro_f1")
COLUMNS = ["model", "task", "seeds", "test_macro_f1", "test_macro_f1_std", "val_macro_f1", "val_macro_f1_std",
           "test_micro_f1", "failed"]


# ---- pure pieces ---------------------------------------------------------------------------


def class_balanced_weights(counts: Sequence[int], beta: float) -> list[float]:
    """Cui et al.'s class weights from per-class counts (see the module docstring)."""
    raw = [(1 - beta) / (1 - beta**n) if n > 0 else 0.0 for n in counts]
    present = sum(1 for n in counts if n > 0)
    total = sum(raw)
    return [w * present / total for w in raw] if total else [0.0 for _ in counts]


def label_space(task: GlueTaskConfig) -> list[str]:
    """The classes the head predicts: the labels, or the BIO tags of the entity types."""
    return list(task.labels) if task.kind == "sequence" else bio_tags(task.labels)


def label_counts(task: GlueTaskConfig, rows: list[dict[str, Any]]) -> list[int]:
    """Per class of :func:`label_space`: its count in ``rows`` (tags of every word for token tasks)."""
    space = label_space(task)
    counts = dict.fromkeys(space, 0)
    for r in rows:
        for lab in ([r["label"]] if task.kind == "sequence" else r["tags"]):
            counts[lab] += 1
    return [counts[s] for s in space]


def resolve_model_path(path: str, models_root: str | None) -> str:
    """A relative path found under ``models_root`` wins; otherwise the path (a folder or a hub id)."""
    if models_root and not Path(path).is_absolute() and (Path(models_root) / path).is_dir():
        return str(Path(models_root) / path)
    return path


def encode(tokenizer: Any, task: GlueTaskConfig, rows: list[dict[str, Any]], max_length: int) -> list[dict[str, list[int]]]:
    """Token ids, attention mask and labels per row (token tasks: the first sub-word of each word)."""
    space = {lab: i for i, lab in enumerate(label_space(task))}
    out = []
    for r in rows:
        if task.kind == "sequence":
            enc = tokenizer(r["text"], r.get("text_pair"), truncation=True, max_length=max_length)
            labels: Any = space[r["label"]]
        else:
            enc = tokenizer(r["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            labels, prev = [], None
            for w in enc.word_ids():
                labels.append(space[r["tags"][w]] if w is not None and w != prev else IGNORE)
                prev = w
        out.append({"input_ids": list(enc["input_ids"]), "attention_mask": list(enc["attention_mask"]), "labels": labels})
    return out


def word_predictions(word_ids: Sequence[int | None], token_preds: Sequence[int], n_words: int, space: list[str]) -> list[str]:
    """Each word's tag from its first sub-word; words past the truncation get ``O``."""
    tags = ["O"] * n_words
    prev = None
    for w, p in zip(word_ids, token_preds, strict=True):
        if w is not None and w != prev:
            tags[w] = space[p]
        prev = w
    return tags


def scores(task: GlueTaskConfig, rows: list[dict[str, Any]], preds: list[Any]) -> dict[str, float | None]:
    """macro-F1 (and for token tasks entity micro-F1) of predictions against the rows' gold."""
    if task.kind == "sequence":
        return {"macro_f1": class_f1([r["label"] for r in rows], preds, task.labels)["macro_f1"], "micro_f1": None}
    m = entity_f1([r["tags"] for r in rows], preds)
    return {"macro_f1": m["macro_f1"], "micro_f1": m["micro"]["f1"]}


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0.0 for one value, None for none)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(trials: list[dict[str, Any]], models: list[str], tasks: list[str]) -> list[dict[str, Any]]:
    """One row per encoder and task: mean and standard deviation of each score over the seeds that finished."""
    rows = []
    for m in models:
        for t in tasks:
            mine = [r for r in trials if r["model"] == m and r["task"] == t]
            ok = [r for r in mine if r["status"] == "done"]
            row: dict[str, Any] = {"model": m, "task": t, "seeds": [r["seed"] for r in ok], "failed": len(mine) - len(ok)}
            for k in METRICS:
                vals = [r[k] for r in ok if r.get(k) is not None]
                row[k], row[f"{k}_std"] = mean_std(vals)
            rows.append(row)
    return rows


# ---- the trial -----------------------------------------------------------------------------


class _Rows:
    def __init__(self, examples: list[dict[str, Any]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.examples[i]


def _collate(pad_id: int, batch: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    width = max(len(b["input_ids"]) for b in batch)
    ids = [b["input_ids"] + [pad_id] * (width - len(b["input_ids"])) for b in batch]
    mask = [b["attention_mask"] + [0] * (width - len(b["attention_mask"])) for b in batch]
    out = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
    if isinstance(batch[0]["labels"], list):
        out["labels"] = torch.tensor([b["labels"] + [IGNORE] * (width - len(b["labels"])) for b in batch])
    else:
        out["labels"] = torch.tensor([b["labels"] for b in batch])
    return out


def load_tokenizer(path: str, kind: str) -> Any:
    """The encoder's tokenizer; byte-level BPE ones get ``add_prefix_space`` for pre-split words."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if kind == "token":
        try:
            tok(["a", "b"], is_split_into_words=True)
        except (ValueError, TypeError):
            tok = AutoTokenizer.from_pretrained(path, add_prefix_space=True)
    return tok


def fit_and_score(config: dict[str, Any], prepare: Any = None) -> dict[str, Any]:
    """Fine-tune one encoder on one task with one seed and score it on validation and test.

    Args:
        config: ``model_path``, ``task`` (dump), ``hp`` (``glue.encoders`` dump), ``seed``,
            ``data`` ({split: rows}), ``weights`` (class weights or None).
        prepare: ``(prepare_model, prepare_data_loader, device)`` from Ray Train; None runs in
            this process on the CPU (tests).
    """
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        get_linear_schedule_with_warmup,
        set_seed,
    )

    task = GlueTaskConfig.model_validate(config["task"])
    hp = EncoderSweepConfig.model_validate(config["hp"])
    seed = int(config["seed"])
    random.seed(seed)
    np.random.seed(seed)
    set_seed(seed)
    space = label_space(task)
    tok = load_tokenizer(config["model_path"], task.kind)
    cls = AutoModelForSequenceClassification if task.kind == "sequence" else AutoModelForTokenClassification
    model = cls.from_pretrained(
        config["model_path"], num_labels=len(space), id2label=dict(enumerate(space)),
        label2id={s: i for i, s in enumerate(space)}, ignore_mismatched_sizes=True,
    )
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    data = config["data"]
    train = encode(tok, task, data["train"], hp.max_length)
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(_Rows(train), batch_size=hp.batch_size, shuffle=True, generator=gen,
                                         collate_fn=lambda b: _collate(pad_id, b))
    device = torch.device("cpu")
    if prepare is not None:
        prepare_model, prepare_loader, device = prepare
        model = prepare_model(model)
        loader = prepare_loader(loader)
    else:
        model.to(device)
    steps = int(hp.epochs * len(loader) + 0.999999)
    if hp.max_steps is not None:
        steps = min(steps, hp.max_steps)
    optim = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    sched = get_linear_schedule_with_warmup(optim, int(hp.warmup_ratio * steps), steps)
    weight = torch.tensor(config["weights"], dtype=torch.float32, device=device) if config.get("weights") else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE)
    model.train()
    step, losses, started = 0, [], time.time()
    while step < steps:
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = loss_fn(logits.reshape(-1, len(space)), batch["labels"].reshape(-1))
            loss.backward()
            optim.step()
            sched.step()
            optim.zero_grad()
            losses.append(float(loss.detach()))
            step += 1
            if step >= steps:
                break
    train_s = time.time() - started
    net = getattr(model, "module", model)
    net.eval()
    out: dict[str, Any] = {"steps": step, "first_loss": losses[0] if losses else None,
                           "last_loss": losses[-1] if losses else None, "train_s": round(train_s, 2)}
    for split, key in (("validation", "val"), ("test", "test")):
        rows = data.get(split)
        if not rows:
            out[f"{key}_macro_f1"] = out[f"{key}_micro_f1"] = None
            continue
        preds = _predict(net, tok, task, rows, hp, device, pad_id, space)
        s = scores(task, rows, preds)
        out[f"{key}_macro_f1"], out[f"{key}_micro_f1"] = s["macro_f1"], s["micro_f1"]
    return out


def _predict(net: Any, tok: Any, task: GlueTaskConfig, rows: list[dict[str, Any]], hp: EncoderSweepConfig,
             device: Any, pad_id: int, space: list[str]) -> list[Any]:
    import torch

    enc = encode(tok, task, rows, hp.max_length)
    preds: list[Any] = []
    with torch.no_grad():
        for i in range(0, len(enc), hp.batch_size):
            chunk = enc[i : i + hp.batch_size]
            batch = _collate(pad_id, chunk)
            logits = net(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
            best = logits.argmax(-1).cpu().tolist()
            for k, b in enumerate(best):
                row = rows[i + k]
                if task.kind == "sequence":
                    preds.append(space[b])
                else:
                    word_ids = tok(row["tokens"], is_split_into_words=True, truncation=True, max_length=hp.max_length).word_ids()
                    preds.append(word_predictions(word_ids, b[: len(word_ids)], len(row["tokens"]), space))
    return preds


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The Ray Train worker: fit and score, rank 0 reports the scores in a checkpoint."""
    import ray
    import ray.train
    import torch
    from ray.train.torch import get_device, prepare_data_loader, prepare_model

    torch.set_num_threads(max(1, int(config["hp"]["cpus_per_worker"])))
    config = {**config, "data": ray.get(config["data_ref"])}
    result = fit_and_score(config, (prepare_model, prepare_data_loader, get_device()))
    if ray.train.get_context().get_world_rank() == 0:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / SCORES_FILE).write_text(json.dumps(result), encoding="utf-8")
            ray.train.report(result, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report(result)


def run_trial(model: str, model_path: str, task: GlueTaskConfig, seed: int, hp: EncoderSweepConfig, data_ref: Any,
              weights: list[float] | None, storage_root: str) -> dict[str, Any]:
    """One (encoder, task, seed) as a TorchTrainer; its row, with the error when it failed."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    name = f"{model}-{task.name}-seed{seed}"
    row: dict[str, Any] = {"model": model, "task": task.name, "seed": seed, "status": "failed", "error": None}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"model_path": model_path, "task": task.model_dump(mode="json"), "hp": hp.model_dump(mode="json"),
                           "seed": seed, "data_ref": data_ref, "weights": weights},
        scaling_config=ScalingConfig(num_workers=hp.num_workers, use_gpu=hp.use_gpu,
                                     resources_per_worker={"CPU": hp.cpus_per_worker, **({"GPU": 1} if hp.use_gpu else {})}),
        run_config=RunConfig(name=name, storage_path=storage_root),
    )
    t0 = time.time()
    try:
        result = trainer.fit()
        ckpt = result.checkpoint
        if ckpt is None:
            raise LuxitError("the trial ended without scores")
        with ckpt.filesystem.open_input_stream(f"{ckpt.path.rstrip('/')}/{SCORES_FILE}") as f:
            row.update(json.loads(f.read().decode("utf-8")))
        row["status"] = "done"
    except Exception as exc:  # recorded on the row: one trial's failure must not stop the sweep
        from luxit_ray.train.sweep import _error_text

        row["error"] = _error_text(exc)
        log.error("%s failed: %s", name, row["error"])
    row["wall_s"] = round(time.time() - t0, 1)
    return row


def run_encoders(cfg: JobConfig) -> dict[str, Any]:
    """Fine-tune every encoder on every selected task once per seed; write and return the results.

    Raises:
        ConfigError: no ``glue.encoders`` section.
        InputError: a bad task row (before Ray starts).
    """
    import ray

    from luxit_ray.runs import RunDir, init_ray

    if cfg.glue is None or cfg.glue.encoders is None:
        raise ConfigError(["glue.encoders: the section is missing"], source="job")
    hp = cfg.glue.encoders
    tasks = cfg.glue.selected_tasks(hp.tasks)
    data = {t.name: {s: load_split(t, s) for s in ("train", "validation", "test") if getattr(t, s)} for t in tasks}
    weights: dict[str, list[float] | None] = {}
    for t in tasks:
        balanced = hp.class_balanced if t.class_balanced is None else t.class_balanced
        weights[t.name] = class_balanced_weights(label_counts(t, data[t.name]["train"]), hp.beta) if balanced else None

    run = RunDir.create(cfg)
    out_dir = run.sub("glue") / "encoders"
    out_dir.mkdir(parents=True, exist_ok=True)
    storage_root = str((out_dir / "ray").resolve())
    init_ray(cfg)
    refs = {name: ray.put(d) for name, d in data.items()}
    plan = [(m, t, s) for m in hp.models for t in tasks for s in hp.seeds]
    started = time.time()
    trials: list[dict[str, Any]] = []
    with cf.ThreadPoolExecutor(max_workers=hp.max_concurrent or len(plan), thread_name_prefix="luxit-enc") as pool:
        futures = [pool.submit(run_trial, m.name, resolve_model_path(m.path, hp.models_root), t, s, hp, refs[t.name],
                               weights[t.name], storage_root) for m, t, s in plan]
        trials = [f.result() for f in futures]
    wall = time.time() - started
    write_jsonl(out_dir / "trials.jsonl", trials)
    rows = aggregate(trials, [m.name for m in hp.models], [t.name for t in tasks])
    doc = {"run_id": run.run_id, "wall_s": round(wall, 1), "class_weights": weights, "rows": rows}
    (out_dir / "results.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    table = [[r[c] if c != "seeds" else len(r["seeds"]) for c in COLUMNS] for r in rows]
    (out_dir / "results.md").write_text(
        "# Encoders on ltzGLUE-style tasks\n\nMean and sample standard deviation over seeds "
        f"{hp.seeds}; macro-F1 (token tasks: entity-level, seqeval).\n\n" + markdown_table(COLUMNS, table) + "\n",
        encoding="utf-8")
    failed = [f"{r['model']}-{r['task']}-seed{r['seed']}" for r in trials if r["status"] != "done"]
    run.update_manifest(cfg, STEP, {"trials": len(trials), "failed": len(failed), "wall_s": round(wall, 1)})
    lines = [f"results: {out_dir / 'results.md'}", f"trials: {out_dir / 'trials.jsonl'}"]
    lines += [f"[red]{r['model']}-{r['task']}-seed{r['seed']} failed:[/red] {r['error']}" for r in trials if r["error"]]
    return {"tables": {"Encoders (mean, std over seeds)": {"columns": COLUMNS, "rows": table}}, "lines": lines,
            "rows": rows, "trials": trials, "failed": failed, "run_dir": str(run.path)}
