"""Job config: validation before Ray starts, every problem at once with its key path, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from luxit_ray.config import load_job
from luxit_ray.config.base import apply_overrides, config_hash, parse_override
from luxit_ray.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_quickstart_job_validates_with_paper_defaults():
    cfg = load_job(ROOT / "jobs" / "quickstart.yaml")
    assert cfg.filters.min_chars == 750
    assert [s.name for s in cfg.sources] == ["lbwiki", "rtl"]
    assert cfg.filters.langid.label == "__label__lb"


def test_dotted_override_changes_the_value():
    cfg = load_job(ROOT / "jobs" / "quickstart.yaml", ["filters.min_chars=1000", "sample.quotas.rtl=5"])
    assert cfg.filters.min_chars == 1000
    assert cfg.sample.quotas["rtl"] == 5


def test_block_size_is_validated_and_reaches_ray_data(ray_local, tmp_path):
    from luxit_ray import runs

    ctx = ray_local.data.DataContext.get_current()
    cfg = load_job(ROOT / "jobs" / "quickstart.yaml", ["run.ray.max_block_mb=16"])
    try:
        runs.init_ray(cfg)
        assert ctx.target_max_block_size == 16 * 1024 * 1024
        assert ctx.use_datasource_v2 is False
    finally:
        ctx.target_max_block_size = 8 * 1024 * 1024
    assert load_job(ROOT / "jobs" / "quickstart.yaml").run.ray.max_block_mb == 8
    with pytest.raises(ConfigError, match="run.ray.max_block_mb"):
        load_job(ROOT / "jobs" / "quickstart.yaml", ["run.ray.max_block_mb=0"])


def test_override_into_a_list_item():
    cfg = load_job(ROOT / "jobs" / "quickstart.yaml", ["sources.1.path=/data/rtl.jsonl"])
    assert cfg.sources[1].path == "/data/rtl.jsonl"


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    path = write(
        tmp_path,
        """
run: {on_bad_input: ignore}
sources:
  - {type: news, name: rtl}
filters: {min_chars: -5, langid: {threshold: 1.5}, colour: blue}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_job(path)
    msg = str(info.value)
    assert "run.on_bad_input" in msg
    assert "sources.0.news.path: Field required" in msg
    assert "filters.min_chars" in msg and "(got -5)" in msg
    assert "filters.langid.threshold" in msg
    assert "filters.colour: unknown key" in msg
    assert len(info.value.problems) == 5


def test_unknown_endpoint_and_quota_source_are_named(tmp_path):
    path = write(
        tmp_path,
        """
sources: [{type: news, name: rtl, path: x.jsonl}]
sample: {quotas: {wiki: 10}}
endpoints: {local: {base_url: "http://127.0.0.1:8000/v1", model: m}}
generate: {endpoint: deepseek}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_job(path)
    msg = str(info.value)
    assert "sample.quotas: unknown source(s) ['wiki']" in msg
    assert "generate.endpoint: 'deepseek' is not under endpoints (['local'])" in msg


def test_api_key_pasted_instead_of_a_name_is_refused_without_echoing_it(tmp_path):
    secret = "sk-abc123-very-secret"
    path = write(
        tmp_path,
        f"""
endpoints: {{x: {{base_url: "http://h/v1", model: m, api_key_env: "{secret}"}}}}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_job(path)
    assert "endpoints.x.api_key_env" in str(info.value)
    assert secret not in str(info.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "run:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_job(path)
    assert "line 3" in str(info.value) or "line 2" in str(info.value)
    assert str(path) in str(info.value)


def test_override_parsing():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("x.y=[1, 2]") == (["x", "y"], [1, 2])
    with pytest.raises(ConfigError):
        parse_override("nokey")
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_config_hash_is_stable_and_sensitive():
    a = load_job(ROOT / "jobs" / "quickstart.yaml")
    b = load_job(ROOT / "jobs" / "quickstart.yaml")
    c = load_job(ROOT / "jobs" / "quickstart.yaml", ["filters.min_chars=800"])
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(c)
