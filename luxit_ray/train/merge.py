"""Merge a trained LoRA adapter into its base model and save a standalone model folder.

The result loads (and serves, e.g. with vLLM) like any local model: weights, the tokenizer the
adapter was trained with (pad token and chat template included), and ``luxit_train.json`` so
evaluation still knows the template family and thinking mode.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from luxit_ray import storage
from luxit_ray.errors import LuxitError
from luxit_ray.train.loop import SETUP_FILE

log = logging.getLogger(__name__)


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model folder an adapter was trained on (from luxit_train.json, else adapter_config.json).

    Raises:
        LuxitError: the folder is not a LoRA adapter.
    """
    d = Path(adapter_dir)
    setup = d / SETUP_FILE
    if setup.is_file():
        return json.loads(setup.read_text(encoding="utf-8"))["base_model"]
    cfg = d / "adapter_config.json"
    if not cfg.is_file():
        raise LuxitError(f"{d}: not a LoRA adapter folder (no adapter_config.json)")
    base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise LuxitError(f"{cfg}: names no base model; pass --base")
    return base


def merge_adapter(adapter: str, out: str, base: str | None = None) -> str:
    """Merge ``adapter`` (local folder or URI) into its base model and save it to ``out``.

    Args:
        adapter: Adapter folder (adapter_config.json + weights), local or a pyarrow URI.
        out: Output folder (local or URI); replaced if it exists.
        base: Base model folder; default: the one the adapter records.

    Returns:
        ``out``.

    Raises:
        LuxitError: not an adapter, or the base model folder is missing.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from luxit_ray.models import resolve_model_path

    scratch = Path(tempfile.mkdtemp(prefix="luxit-merge-"))
    try:
        local_adapter = storage.local_copy(adapter, str(scratch / "adapter"))
        base_path = resolve_model_path(base or adapter_base_model(local_adapter))
        log.info("merging %s into %s", adapter, base_path)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto")
        merged = PeftModel.from_pretrained(model, local_adapter).merge_and_unload()
        target = scratch / "merged"
        merged.save_pretrained(target)
        tok_dir = local_adapter if (Path(local_adapter) / "tokenizer_config.json").is_file() else base_path
        AutoTokenizer.from_pretrained(tok_dir).save_pretrained(target)
        if (Path(local_adapter) / SETUP_FILE).is_file():
            shutil.copy(Path(local_adapter) / SETUP_FILE, target / SETUP_FILE)
        _, out_path = storage.resolve(out)
        if "://" in out:
            storage.copy_dir(str(target), out)
        else:
            if os.path.exists(out_path):
                shutil.rmtree(out_path)
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), out_path)
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
