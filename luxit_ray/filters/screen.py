"""ScreenStage: boilerplate removal, the row filters and dedup signatures in one pass.

The three are per-document work on the same text, so preparation runs them in one actor (one
``map_batches``) instead of three: each batch crosses the object store once, fastText is loaded
once per actor, and deduplication afterwards reads only the small signature columns instead of
every text again (see :func:`luxit_ray.filters.dedup.dedup_signed`)::

    ds.map_batches(
        ScreenStage,
        fn_constructor_kwargs={"filters_cfg": cfg.filters.model_dump(mode="json"),
                               "lines_by_source": learn_boilerplate(ds, cfg.filters.boilerplate)},
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cpus),
    )

Output columns: the input columns (text cleaned, drop_filter / drop_reason set as
:class:`~luxit_ray.filters.stage.FilterStage` does) plus ``exact_key`` and ``signature``
(null on rejected rows, and on every row when that kind of deduplication is off).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from luxit_ray.config.prepare import FiltersConfig
from luxit_ray.filters.boilerplate import BoilerplateStage
from luxit_ray.filters.dedup import add_signatures
from luxit_ray.filters.stage import FilterStage


class ScreenStage:
    """Boilerplate removal -> row filters -> exact key and MinHash signature, per batch.

    One row in, one row out. The parts keep their own ``counts`` (``boilerplate.counts``,
    ``filters.counts``).
    """

    def __init__(self, filters_cfg: dict[str, Any], lines_by_source: dict[str, list[str]] | None = None) -> None:
        """Build the parts once per actor.

        Args:
            filters_cfg: ``FiltersConfig.model_dump()`` (a plain dict pickles cheaply).
            lines_by_source: learned boilerplate (``learn_boilerplate``); None or empty removes
                nothing.
        """
        cfg = FiltersConfig.model_validate(filters_cfg)
        self.boilerplate = BoilerplateStage(lines_by_source or {}) if cfg.boilerplate.enabled else None
        self.filters = FilterStage(filters_cfg)
        self.dedup = cfg.dedup

    def __call__(self, batch: Any) -> pa.Table:
        table = self.boilerplate(batch) if self.boilerplate is not None else batch
        table = self.filters(table)
        d = self.dedup
        return add_signatures(table, d.num_perm, d.shingle_words, exact=d.exact, near=d.near)
