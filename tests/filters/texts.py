"""Short test documents written for these tests (Luxembourgish, German, French)."""

from __future__ import annotations

import json
from typing import Any

LB_POOL = (
    "De Gemengerot vun Esch-Uelzecht huet e Méindeg den Owend decidéiert, datt d'Schwämm am "
    "Stadpark bis Enn vum Joer nees opgeet. D'Renovatioun huet méi laang gedauert wéi geplangt, "
    "well beim Ofrappe vum ale Buedem Schied un de Waasserleitunge fonnt gi war. De "
    "Buergermeeschter sot, et wier him wichteg, datt d'Kanner aus der Stad erëm eng Plaz hunn, "
    "wou se schwamme léiere kënnen. D'Oppositioun huet awer kritiséiert, datt d'Käschte vu "
    "ronn véier Milliounen Euro op sechs Milliounen an d'Luucht gaange sinn, ouni datt de "
    "Gemengerot fréi genuch informéiert gouf. Déi nei Schwämm kritt och eng Sauna an e klengt "
    "Becken fir d'Bëbeeën, an de Parking hannert dem Gebai gëtt mat Luedstatioune fir "
    "Elektroautoen ausgestatt."
)

LB_TRAIN = (
    "Vun nächster Woch u fiert den Tram an der Stad Lëtzebuerg owes méi laang. Wéi de "
    "Mobilitéitsminister e Mëttwoch erkläert huet, gëtt de leschten Tram vum Findel op "
    "d'Cloche d'Or eng Stonn méi spéit ofgefäerdegt, fir datt d'Leit, déi am Theater oder am "
    "Kino waren, nach bequem heemkommen. D'Tester vum leschte Summer hätte gewisen, datt vill "
    "méi Passagéier wéi erwaart déi spéit Verbindunge genotzt hätten. Gläichzäiteg sollen "
    "d'Bussen aus dem Norde vum Land besser op den Tram ofgestëmmt ginn, esou datt keen "
    "zéng Minutten an der Keelt op d'Korrespondenz muss waarden. D'Gewerkschafte froen "
    "allerdéngs, wou dat zousätzlecht Personal dofir soll hierkommen."
)

DE_POOL = (
    "Der Gemeinderat der Stadt Trier hat am Montagabend beschlossen, dass das Hallenbad im "
    "Stadtpark bis zum Jahresende wieder öffnen soll. Die Sanierung hatte länger gedauert als "
    "geplant, weil beim Abriss des alten Bodens Schäden an den Wasserleitungen entdeckt worden "
    "waren. Der Oberbürgermeister erklärte, es sei ihm wichtig, dass die Kinder der Stadt "
    "wieder einen Ort hätten, an dem sie schwimmen lernen können. Die Opposition kritisierte "
    "jedoch, dass die Kosten von ursprünglich rund vier Millionen Euro auf sechs Millionen "
    "gestiegen seien, ohne dass der Rat rechtzeitig informiert worden sei."
)

FR_POOL = (
    "Le conseil communal de Differdange a décidé lundi soir que la piscine du parc municipal "
    "rouvrira ses portes avant la fin de l'année. Les travaux de rénovation ont duré plus "
    "longtemps que prévu, car des dégâts sur les conduites d'eau avaient été découverts lors de "
    "la démolition de l'ancien sol. Le bourgmestre a souligné qu'il tenait à ce que les enfants "
    "de la ville retrouvent un lieu où apprendre à nager. L'opposition a toutefois regretté que "
    "le coût, estimé au départ à quatre millions d'euros, ait grimpé à six millions sans que le "
    "conseil en soit informé à temps."
)


def doc(
    doc_id: str,
    text: str | None,
    *,
    source: str = "rtl",
    source_type: str = "news",
    title: str | None = "Titel",
    page_kind: str | None = None,
    metadata: dict[str, Any] | None = None,
    drop_filter: str | None = None,
    drop_reason: str | None = None,
) -> dict[str, Any]:
    """One row with every column of REJECT_SCHEMA."""
    return {
        "doc_id": doc_id,
        "source": source,
        "source_type": source_type,
        "title": title,
        "text": text,
        "date": "2024-05-06",
        "url": f"https://example.lu/{doc_id}",
        "page_kind": page_kind,
        "metadata": json.dumps(metadata or {}),
        "origin": f"test.jsonl:{doc_id}",
        "drop_filter": drop_filter,
        "drop_reason": drop_reason,
    }
