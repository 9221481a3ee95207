"""Train storage helpers work the same on local paths and on pyarrow URIs."""

from __future__ import annotations

from luxit_ray import storage


def test_json_round_trip_and_copy_over_uris(tmp_path):
    base = f"file://{tmp_path}/store"
    target = storage.join(base, "run-1", "model", "result.json")
    assert target == f"file://{tmp_path}/store/run-1/model/result.json"
    assert storage.read_json(target) is None and not storage.exists(target)
    storage.write_json(target, {"status": "done", "loss": 1.5, "name": "Lëtzebuerg"})
    assert storage.read_json(target) == {"status": "done", "loss": 1.5, "name": "Lëtzebuerg"}
    assert (tmp_path / "store" / "run-1" / "model" / "result.json").is_file()

    src = tmp_path / "adapter"
    (src / "sub").mkdir(parents=True)
    (src / "adapter_config.json").write_text("{}")
    (src / "sub" / "w.bin").write_bytes(b"\x00\x01")
    dst = storage.join(base, "run-1", "model", "adapter")
    storage.copy_dir(str(src), dst)
    storage.copy_dir(str(src), dst)  # replacing an existing copy
    copied = tmp_path / "store" / "run-1" / "model" / "adapter"
    assert sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()) == [
        "adapter_config.json", "sub/w.bin"
    ]
    # A local-filesystem URI needs no copy.
    assert storage.local_copy(dst, str(tmp_path / "unused")) == str(copied)
    storage.write_text(storage.join(base, "notes.md"), "# Resultater\n")
    assert (tmp_path / "store" / "notes.md").read_text() == "# Resultater\n"


def test_join_keeps_a_uris_query_at_the_end():
    # pyarrow takes filesystem options in the query: a part joined after it broke the path
    assert storage.join("s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http", "run-1", "/m/") == (
        "s3://bucket/runs/run-1/m?endpoint_override=127.0.0.1:9000&scheme=http")
    assert storage.join("s3://bucket/runs/", "a") == "s3://bucket/runs/a"
    assert storage.join("/tmp/x?y", "a") == "/tmp/x?y/a"  # a local path has no query
