"""The job's shared actors (rate limiters, the accountant) live on the driver's node, where a
worker node's loss cannot take them, and restart when their own process dies."""

from __future__ import annotations

import pytest

from luxit_ray.llm import get_accountant, get_rate_limiter, named


@pytest.fixture
def created(monkeypatch):
    """Record the options every shared actor is created with."""
    seen: dict[str, dict] = {}
    real = named.shared_actor

    def spy(actor_cls, name, *args, **options):
        class Recording:
            @staticmethod
            def options(**opts):
                seen[name] = opts
                return actor_cls.options(**opts)

        return real(Recording, name, *args, **options)

    monkeypatch.setattr(named, "shared_actor", spy)
    return seen


def _node_of(actor) -> str:
    import ray

    return ray.get(actor.__ray_call__.remote(lambda _self: ray.get_runtime_context().get_node_id()))


def test_shared_actors_are_pinned_to_the_driver_node_and_restart(ray_local, created):
    ray = ray_local
    driver_node = ray.get_runtime_context().get_node_id()
    limiter = get_rate_limiter("placement-test", 600, None)
    accountant = get_accountant("placement-test-run")
    assert set(created) == {"luxit-rate-limiter:placement-test", "luxit-accountant:placement-test-run"}
    for opts in created.values():
        strategy = opts["scheduling_strategy"]
        assert (type(strategy).__name__, strategy.node_id, strategy.soft) == (
            "NodeAffinitySchedulingStrategy", driver_node, False)
        assert (opts["max_restarts"], opts["max_task_retries"]) == (-1, -1)
    assert _node_of(limiter._backend) == driver_node
    assert _node_of(accountant._backend) == driver_node


def test_an_actor_process_that_dies_comes_back(ray_local):
    ray = ray_local
    limiter = get_rate_limiter("restart-test", 600, None)
    assert tuple(ray.get(limiter._backend.limits.remote())) == (600, None)
    ray.kill(limiter._backend, no_restart=False)
    # The call waits for the restarted actor instead of failing with ActorDiedError.
    assert tuple(ray.get(limiter._backend.limits.remote(), timeout=120)) == (600, None)


def test_no_pinning_inside_a_task(ray_local):
    ray = ray_local

    @ray.remote(num_cpus=0)
    def strategy_here():
        return named.driver_node_strategy()

    assert ray.get(strategy_here.remote()) is None
    assert named.driver_node_strategy().node_id == ray.get_runtime_context().get_node_id()
