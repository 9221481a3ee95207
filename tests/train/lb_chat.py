"""A tiny Luxembourgish instruction dataset, written for these tests, in the export's columns.

``write_parquet`` writes it with the columns the export step produces (``instruction``,
``response``, ``conversations`` in ShareGPT form, ``source_type``, ``split``). Answers are short so
that a SmolLM2 conversation stays under 128 tokens and CPU steps stay cheap. The committed
``tests/train/data/lb_chat.parquet`` (used by jobs/train-smoke.yaml) is this module's output:
``python tests/train/lb_chat.py`` rewrites it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PAIRS = [
    ("Wat ass d'Haaptstad vu Lëtzebuerg?", "D'Haaptstad ass d'Stad Lëtzebuerg."),
    ("Wéi eng Sprooche schwätzt een zu Lëtzebuerg?", "Lëtzebuergesch, Franséisch an Däitsch."),
    ("Wéi heescht de Floss, deen duerch Réimech fléisst?", "Dat ass d'Musel."),
    ("Wou läit d'Éislek?", "D'Éislek läit am Norde vum Land."),
    ("Wat ass d'Schueberfouer?", "Eng grouss Kiermes an der Stad, all Joer am August."),
    ("Wéi seet een 'merci' op Lëtzebuergesch?", "Een seet 'merci' oder 'villmools merci'."),
    ("Wéi vill Kantone huet Lëtzebuerg?", "Lëtzebuerg huet zwielef Kantonen."),
    ("Wat ass Kachkéis?", "E mëllen, fléissege Kéis, deen een op d'Brout schmiert."),
    ("Wien ass de Staatschef vu Lëtzebuerg?", "De Grand-Duc ass de Staatschef."),
    ("Wéi eng Faarwen huet de Fändel?", "Rout, wäiss a bloo."),
    ("Wat ass d'Oktav?", "Eng Wallfahrt an der Stad zu Éiere vun der Muttergottes."),
    ("Wou ass den héchste Punkt vum Land?", "D'Kneiff bei Huldang, am Norden."),
    ("Wat ass Gromperekichelcher?", "Frittéiert Kichelcher aus gerappte Gromperen."),
    ("Wéi heescht d'Nationalhymn?", "Si heescht 'Ons Heemecht'."),
    ("Wat mécht d'Chamber?", "D'Chamber stëmmt d'Gesetzer of."),
    ("Wéi eng Stad läit am Süde vum Land?", "Esch-Uelzecht läit am Süden."),
    ("Wat ass Bréissel?", "Bréissel ass d'Haaptstad vun der Belsch."),
    ("Wéini ass den Nationalfeierdag?", "Den Nationalfeierdag ass den 23. Juni."),
    ("Wat gëtt un der Musel ugebaut?", "Wäi, virun allem Rivaner a Riesling."),
    ("Wat fënnt een um Kierchbierg?", "Europäesch Institutiounen, Banken an d'Philharmonie."),
    ("Wat ass d'Mëllerdall?", "Eng Regioun mat Fielsen a Bëscher, Klengt Schwäiz genannt."),
    ("Wéi kënnt een zu Lëtzebuerg gratis mam Bus fueren?", "Den ëffentlechen Transport ass zënter 2020 gratis."),
    ("Wat ass en 'Hämmelsmarsch'?", "Musek mat Hämmel, déi op der Kiermes duerch d'Stroosse gëtt."),
    ("Wéi eng Währung huet Lëtzebuerg?", "Lëtzebuerg bezillt mam Euro."),
]


def rows() -> list[dict]:
    """The dataset as export-style rows; every fourth pair is in the validation split."""
    out = []
    for i, (q, a) in enumerate(PAIRS):
        out.append(
            {
                "instruction": q,
                "response": a,
                "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}],
                "source_type": "wikipedia" if i % 2 else "news",
                "split": "validation" if i % 4 == 3 else "train",
            }
        )
    return out


def write_parquet(
    path: str | Path, extra_rows: list[dict] | None = None, with_split: bool = True, base: list[dict] | None = None
) -> Path:
    """Write the dataset (or ``base`` rows) plus ``extra_rows`` as one Parquet file; return its path."""
    data = (rows() if base is None else base) + list(extra_rows or [])
    if not with_split:
        for r in data:
            r.pop("split", None)
    conv_type = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
    fields = [
        ("instruction", pa.string()),
        ("response", pa.string()),
        ("conversations", conv_type),
        ("source_type", pa.string()),
    ]
    if with_split:
        fields.append(("split", pa.string()))
    table = pa.Table.from_pylist(data, schema=pa.schema(fields))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


if __name__ == "__main__":
    print(write_parquet(Path(__file__).parent / "data" / "lb_chat.parquet"))
