"""The blind model arena: answers generated ahead of time, pairwise votes, Bradley-Terry ranks.

Flow (all files under ``RUN_DIR/arena/``)::

    luxit arena generate RUN_DIR --model base=vllm --model tuned=vllm:luxit-lora   # answers, paid once
    luxit arena serve RUN_DIR                                                    # people vote
    luxit arena report RUN_DIR                                                   # ranks, tables, PNGs
    luxit arena export RUN_DIR                                                   # DPO preferences

    prompts.jsonl     prompt_id, prompt, origin (the export's validation split, or a prompt file)
    answers.jsonl     answer_id, prompt_id, model, served_model, base_url, system, sampling, text,
                      error, usage; every answer ever generated (votes point at answer ids)
    generation.jsonl  one line per ``generate``: time, system prompt, each model's sampling
    votes.jsonl       append-only, fsync'd votes and undo records (see ``votes``)
    report/           arena.md, arena.json, bt_scores.png, win_rate.png
    preferences/      preferences.parquet and preferences.jsonl (prompt, chosen, rejected, counts)

One concept per module: ``files`` (paths, constants), ``prompts``, ``answers`` (generation),
``votes`` (the store and the log), ``ratings`` (Bradley-Terry with a prior), ``tables`` (win
rates, pair counts, position bias), ``agreement`` (between voters), ``plots``, ``report``,
``preferences`` (the DPO export). The names below are the package's public face.
"""

from luxit_ray.arena.agreement import voter_agreement
from luxit_ray.arena.answers import ArenaGeneration, ArenaModel, generate_answers, parse_model_spec
from luxit_ray.arena.files import (
    ANSWERS_FILE,
    ARENA,
    ASPECTS,
    CHOICES,
    ELO_BASE,
    ELO_SCALE,
    GENERATION_FILE,
    PREFERENCES_DIR,
    PROMPTS_FILE,
    REPORT_DIR,
    VOTES_FILE,
    arena_dir,
    read_jsonl,
)
from luxit_ray.arena.preferences import (
    PREFERENCE_COLUMNS,
    PreferenceExport,
    export_preferences,
    resolve,
)
from luxit_ray.arena.prompts import load_prompts
from luxit_ray.arena.ratings import (
    PRIOR_SD,
    elo_intervals,
    fit_bradley_terry,
    outcomes,
    posterior,
    to_elo,
)
from luxit_ray.arena.report import ArenaReport, arena_report, render_report_md
from luxit_ray.arena.tables import pair_counts, position_bias, wilson_interval, win_matrix
from luxit_ray.arena.votes import ArenaStore, active_votes, battle_key, read_votes, winner

__all__ = [
    "ANSWERS_FILE", "ARENA", "ASPECTS", "CHOICES", "ELO_BASE", "ELO_SCALE", "GENERATION_FILE", "PREFERENCES_DIR",
    "PREFERENCE_COLUMNS", "PRIOR_SD", "PROMPTS_FILE", "REPORT_DIR", "VOTES_FILE", "ArenaGeneration", "ArenaModel",
    "ArenaReport", "ArenaStore", "PreferenceExport", "active_votes", "arena_dir", "arena_report", "battle_key",
    "elo_intervals", "export_preferences", "fit_bradley_terry", "generate_answers", "load_prompts", "outcomes",
    "pair_counts", "parse_model_spec", "position_bias", "posterior", "read_jsonl", "read_votes", "render_report_md",
    "resolve", "to_elo", "voter_agreement", "wilson_interval", "win_matrix", "winner",
]
