"""Our errors survive pickling, as they must when Ray carries them from a task to the driver."""

from __future__ import annotations

import pickle

from luxit_ray.errors import ConfigError, InputError


def test_input_error_round_trips_through_pickle_with_its_fields():
    err = pickle.loads(pickle.dumps(InputError("rtl.jsonl", "line 17", "malformed JSON")))
    assert isinstance(err, InputError)
    assert (err.path, err.where, err.reason) == ("rtl.jsonl", "line 17", "malformed JSON")
    assert str(err) == "rtl.jsonl:line 17: malformed JSON"


def test_config_error_round_trips_through_pickle_with_every_problem():
    err = pickle.loads(pickle.dumps(ConfigError(["a.b: bad", "c: unknown key"], source="job.yaml")))
    assert err.problems == ["a.b: bad", "c: unknown key"]
    assert str(err).startswith("job.yaml: 2 problem(s)")


def test_unwrap_ray_error_has_one_home():
    from luxit_ray import errors, llm, sources

    assert llm.unwrap_ray_error is sources.unwrap_ray_error is errors.unwrap_ray_error


def test_unwrap_ray_error_recovers_ours_from_remote_traceback_text():
    from luxit_ray.errors import InputError, unwrap_ray_error

    remote = RuntimeError("Traceback (most recent call last):\n  ...\nluxit_ray.errors.InputError: news.jsonl: line 7: not JSON")
    err = unwrap_ray_error(remote)
    assert type(err) is InputError and str(err) == "news.jsonl: line 7: not JSON"
    other = ValueError("no luxit error here")
    assert unwrap_ray_error(other) is other
