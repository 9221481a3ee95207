"""The Latxa-style grid (exact variant names and parts), job-level checks, `train.only` with variant
names, and mixture data in training (origins counted per split, raw text as language modelling)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luxit_ray.config import job_from_dict
from luxit_ray.config.mixture import GridConfig, MixtureConfig
from luxit_ray.config.train import ModelRecipe
from luxit_ray.errors import ConfigError
from luxit_ray.train.data import TEXT_ROLE, encode_text, load_chat_data, tokenize_conversations
from luxit_ray.train.grid import expand_grid, plan_grid

RECIPE = {"path": "smollm2", "family": "chatml", "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]},
          "batch_size": 1, "per_device_batch_size": 1, "learning_rate": 1e-3}
LATXA_PARTS = [{"name": "corpus", "kind": "text", "path": "c", "count": 1},
               {"name": "target", "path": "t", "count": 1}, {"name": "english", "path": "e", "count": 1}]


def _recipes(*names):
    return [ModelRecipe.model_validate({**RECIPE, "name": n}) for n in names]


def test_latxa_grid_all_subsets_named_like_latxa():
    mixture = MixtureConfig.model_validate({"parts": LATXA_PARTS})
    grid = GridConfig(mixture="m", backbones=["llama", "latxa", "llama-instruct"])
    variants = expand_grid(grid, mixture, _recipes("llama", "latxa", "llama-instruct"))
    # Every subset with an instructions part (the corpus alone is not an instructed model): 6 per backbone.
    assert [v.name for v in variants] == [
        "exp_0_001", "exp_0_010", "exp_0_011", "exp_0_101", "exp_0_110", "exp_0_111",
        "exp_1_001", "exp_1_010", "exp_1_011", "exp_1_101", "exp_1_110", "exp_1_111",
        "exp_2_001", "exp_2_010", "exp_2_011", "exp_2_101", "exp_2_110", "exp_2_111"]
    v = next(v for v in variants if v.name == "exp_2_101")
    assert (v.backbone, v.code, v.parts, v.bits) == ("llama-instruct", 2, ("corpus", "english"), "101")


def test_grid_listed_variants_and_problems():
    mixture = MixtureConfig.model_validate({"parts": LATXA_PARTS})
    grid = GridConfig(mixture="m", backbones=["b"], variants=[["english", "corpus"], ["target"]], prefix="lb")
    assert [(v.name, v.parts) for v in expand_grid(grid, mixture, _recipes("b"))] == [
        ("lb_0_010", ("target",)), ("lb_0_101", ("corpus", "english"))]
    bad = GridConfig(mixture="m", backbones=["b", "nope"], variants=[["x"], ["target"], ["target"]])
    with pytest.raises(ConfigError, match="nope"):
        expand_grid(bad, mixture, _recipes("b"))
    with pytest.raises(ConfigError) as exc:
        expand_grid(bad.model_copy(update={"backbones": ["b"]}), mixture, _recipes("b"))
    assert "unknown part(s) ['x']" in str(exc.value) and "repeated subset(s) [['target']]" in str(exc.value)


def test_job_cross_checks_name_the_grid_problems():
    with pytest.raises(ConfigError) as exc:
        job_from_dict({"train": {"models": [{**RECIPE, "name": "a"}],
                                 "grid": {"mixture": "missing", "backbones": ["a", "b"]}},
                       "magpie": {"endpoint": "nowhere", "family": "chatml"}})
    text = str(exc.value)
    assert "train.grid.mixture: 'missing' is not under mixtures" in text
    assert "train.grid.backbones: ['b'] are not under train.models" in text
    assert "magpie.endpoint: 'nowhere' is not under endpoints" in text


def _two_part_job(tmp_path, **train):
    """A grid of backbones a, b over a text part and an instructions part (variants 01 and 11)."""
    pq.write_table(pa.table({"text": ["Eng Kéier war et eng Stad."]}), tmp_path / "corpus.parquet")
    pq.write_table(pa.table({"instruction": ["Moien?"], "response": ["Moien!"]}), tmp_path / "lb.parquet")
    parts = [{"name": "corpus", "kind": "text", "path": str(tmp_path / "corpus.parquet"), "count": 1},
             {"name": "target", "path": str(tmp_path / "lb.parquet"), "count": 1}]
    return job_from_dict({"mixtures": {"m": {"parts": parts}},
                          "train": {"models": [{**RECIPE, "name": "a"}, {**RECIPE, "name": "b"},
                                               {**RECIPE, "name": "c"}],
                                    "grid": {"mixture": "m", "backbones": ["a", "b"]}, **train}})


def test_plan_grid_writes_one_mixture_per_subset(tmp_path):
    cfg = _two_part_job(tmp_path)
    recipes, folders, variants = plan_grid(cfg, tmp_path / "run")
    assert [r.name for r in recipes] == ["exp_0_01", "exp_0_11", "exp_1_01", "exp_1_11"]
    assert folders["exp_0_11"] == folders["exp_1_11"] == str((tmp_path / "run" / "mixture-m-11").resolve())
    data = load_chat_data(folders["exp_0_11"])
    assert data.counts()["origins"] == {"train": {"corpus": 1, "target": 1}, "validation": {}}
    assert sorted(c[0]["role"] for c in data.train) == [TEXT_ROLE, "user"]


def test_raw_text_is_language_modelling():
    from transformers import AutoTokenizer

    from luxit_ray.models import resolve_model_path

    tok = AutoTokenizer.from_pretrained(str(resolve_model_path("smollm2")))
    text = "D'Musel fléisst laanscht Réimech."
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    [ex] = encode_text(tok, text, 64)
    assert ex.input_ids == ids and ex.labels == ids  # every token trained, no template
    windows = encode_text(tok, text, 4)
    assert [w.input_ids for w in windows] == [ids[i:i + 4] for i in range(0, len(ids), 4) if len(ids[i:i + 4]) > 1]
    done = tokenize_conversations(tok, [[{"role": TEXT_ROLE, "content": text}]], "chatml", False, 64)
    assert (len(done.examples), done.tokens, done.label_tokens) == (1, len(ids), len(ids))


def test_only_trains_the_named_variants(tmp_path):
    cfg = _two_part_job(tmp_path, only=["exp_1_11"])
    assert [m.name for m in cfg.train.selected()] == ["b"]  # the storage check looks at b's model path
    recipes, folders, variants = plan_grid(cfg, tmp_path / "run")
    assert [r.name for r in recipes] == ["exp_1_11"] and [v.name for v in variants] == ["exp_1_11"]
    assert recipes[0].model_dump(exclude={"name"}) == cfg.train.models[1].model_dump(exclude={"name"})
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["mixture-m-11"]  # only its mixture is drawn
    # A backbone's name picks all its variants; names may mix.
    cfg = _two_part_job(tmp_path, only=["a", "exp_1_01"])
    assert [m.name for m in cfg.train.selected()] == ["a", "b"]
    assert [r.name for r in plan_grid(cfg, tmp_path / "run2")[0]] == ["exp_0_01", "exp_0_11", "exp_1_01"]


def test_only_refuses_names_outside_the_grid(tmp_path):
    # Before Ray starts, the config alone refuses names of no grid shape (the mixture decides the rest)...
    with pytest.raises(ConfigError) as exc:
        _two_part_job(tmp_path, only=["nope", "c", "exp_2_01", "exp_0_1x", "exp_0_01"])
    assert exc.value.problems == [
        "train: Value error, only: ['nope', 'c', 'exp_2_01', 'exp_0_1x'] are neither grid backbones (['a', 'b']) nor "
        "variant names exp_<backbone code 0-1>_<one 0/1 per part of mixture 'm'> (e.g. exp_0_101)"]
    # ... and the job, knowing the mixture's parts, refuses a subset the grid does not train (10:
    # the corpus alone), listing the names it would accept: before Ray starts.
    expected = ("train.only: ['exp_0_10', 'exp_0_011'] are neither variants of the grid nor its backbones; variants: "
                "['exp_0_01', 'exp_0_11', 'exp_1_01', 'exp_1_11']; backbones: ['a', 'b']")
    with pytest.raises(ConfigError) as exc:
        _two_part_job(tmp_path, only=["exp_0_10", "exp_0_01", "exp_0_011"])
    assert exc.value.problems == [f"<root>: Value error, {expected}"]
    # Planning checks again, before any mixture is written (a config changed after validation).
    cfg = _two_part_job(tmp_path)
    cfg.train.only = ["exp_0_10", "exp_0_01", "exp_0_011"]
    with pytest.raises(ConfigError) as exc:
        plan_grid(cfg, tmp_path / "run")
    assert exc.value.problems == [expected]
    assert not (tmp_path / "run").exists()
    # Without a grid, `only` names models as before.
    with pytest.raises(ConfigError, match=r"only: unknown model\(s\) \['exp_0_01'\]; models are \['a'\]"):
        job_from_dict({"train": {"models": [{**RECIPE, "name": "a"}], "only": ["exp_0_01"]}})
