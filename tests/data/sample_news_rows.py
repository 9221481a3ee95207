"""Rows of the sample RTL-style news file (written for this project; see README.md for each row's fate).

Kept apart from make_sample_corpus.py so the generator stays readable. ``ARTICLES`` are the long
Luxembourgish news articles; the generator appends the boilerplate lines named in ``BOILERPLATE``
and adds the duplicates, foreign-language, short, non-prose and comment rows.
"""

from __future__ import annotations

# Lines that recur at the end of many articles (learned and removed by the boilerplate filter).
FOTO = "Foto: RTL Archiv"
DEELEN = "Deelt dësen Artikel mat Äre Frënn op de soziale Netzwierker."
AGENCE = "(mat AFP)"

# (category_name, category_id, title, header, text, tags, boilerplate lines)
ARTICLES: list[tuple[str, int, str, str, str, list[str], list[str]]] = [
    (
        "Lëtzebuerg", 1,
        "Den Tram fiert ab Dezember bis op de Findel",
        "No laange Joren Aarbecht ass déi nei Streck vum Tram tëscht dem Kierchbierg an dem Fluchhafe bal fäerdeg.",
        "Déi lescht Schinne sinn am Summer geluecht ginn, an elo leeft d'Testphas. Wéi de Mobilitéitsminister e Mëttwoch op enger Pressekonferenz gesot huet, sollen déi éischt Passagéier am Dezember ouni ëmzeklammen vun der Stad bis op de Findel fuere kënnen.\n\n"
        "Den Trajet vum Zentrum bis bei den Terminal soll ongeféier eng Véierelstonn daueren. Den Tram fiert all fënnef Minutten, an de Stonnen, wou vill Leit ënnerwee sinn, souguer nach méi dacks. Fir d'Leit, déi um Fluchhafe schaffen, an och fir d'Reesender mat Gepäck wier dat eng grouss Erliichterung, sou de Minister.\n\n"
        "D'Aarbechte ware méi deier wéi geplangt. De Budget vum Projet ass an de leschte Joren ëm e puer Dosend Milliounen Euro geklommen, well d'Präisser vum Material an d'Salairen an d'Luucht gaange sinn. D'Oppositioun an der Chamber huet dowéinst nach eemol nogefrot, wien d'Rechnung bezilt.\n\n"
        "Wärend der Testphas kann et nach zu klenge Stéierungen am Verkéier um Kierchbierg kommen. D'Police rifft d'Chauffeuren op, besonnesch bei de Kräizunge virsiichteg ze sinn an op d'Luuchte fir den Tram opzepassen.",
        ["Tram", "Mobilitéit", "Findel"], [FOTO],
    ),
    (
        "Lëtzebuerg", 1,
        "Chamber stëmmt nei Reform vun der Wunnengsbauhëllef",
        "Mat 33 Jo-Stëmme géint 27 Nee-Stëmmen huet d'Chamber en Dënschdeg de Gesetzprojet iwwer déi nei Hëllefe fir d'Wunnen ugeholl.",
        "Mat der Reform sollen d'Famillen, déi e bescheidene Revenu hunn, méi einfach eng Subventioun kréien, wa si eng Wunneng lounen oder kafen. D'Regierung schwätzt vun enger vun de wichtegste Mesuren vun der ganzer Legislaturperiod.\n\n"
        "Wéi d'Wunnengsbauministesch an hirer Ried erkläert huet, ginn d'Grenze vum Revenu, ënnert deenen een Usproch op eng Hëllef huet, an d'Luucht gesat. Donieft gëtt d'Prozedur digital, sou datt d'Leit hiren Dossier iwwer den Internet ofginn an net méi op e Büro musse goen.\n\n"
        "D'Oppositioun huet der Regierung virgeworf, d'Problemer um Wunnengsmaart just ze verwalten an net ze léisen. Esou laang wéi net méi séier gebaut gëtt, bleiwen d'Präisser héich, huet en Deputéierte gesot. Hie bedauert, datt de Staat net méi selwer als Bauhär optrëtt an net méi bëlleg Wunnengen op de Maart bréngt.\n\n"
        "Déi nei Reegele sollen am Januar a Kraaft trieden. D'Ministère wëll an de nächste Wochen eng Informatiounscampagne starten, fir datt all d'Leit, déi Usproch hunn, och vun der Hëllef profitéieren.",
        ["Chamber", "Wunnen", "Politik"], [DEELEN],
    ),
    (
        "Lëtzebuerg", 1,
        "Staarke Wand a Reen: Bamm op der Strooss bei Miersch",
        "De Stuerm, deen an der Nuecht op en Donneschdeg iwwer d'Land gezunn ass, huet u ville Plazen Schied ugeriicht.",
        "Bis den Owend huet de Grand-Ducal Incendie et Secours CGDIS iwwer honnert Asätz gezielt. Déi meescht Uriff koumen aus dem Zentrum an aus dem Norde vum Land, wou Beem op d'Stroosse gefall sinn an Diech vun Haiser beschiedegt goufen.\n\n"
        "Bei Miersch war d'Strooss Richtung Angelsbierg e puer Stonne gespaart, well e grousse Bam iwwer béid Spueren louch. D'Pompjeeë mussten de Bam mat der Motorsee a Stécker schneiden, ier d'Strooss nees fräi war. Verletzt gouf zum Gléck keen.\n\n"
        "Och den Zuchverkéier war gestéiert: Op der Linn tëscht Ettelbréck a Clierf ass e Bam an d'Stroumleitung gefall. D'CFL hunn e Bus als Ersatz agesat, mä vill Pendler sinn trotzdeem mat Verspéidung op d'Aarbecht komm.\n\n"
        "Meteolux huet fir de Weekend nach eng giel Wetterwarnung erausginn. Et gëtt nach eemol mat Béie vu bis zu 80 Kilometer an der Stonn gerechent, an d'Leit sollen net an de Bësch spadséiere goen. Wien e Schued un sengem Haus huet, soll sech esou séier wéi méiglech mat senger Versécherung a Verbindung setzen.",
        ["Wieder", "CGDIS", "Stuerm"], [FOTO],
    ),
    (
        "Lëtzebuerg", 1,
        "Schoulufank fir méi wéi 100.000 Schüler",
        "E Méindeg an e Freideg ass fir d'Kanner an d'Jonker aus dem ganze Land déi grouss Vakanz eriwwer.",
        "Fir vill Kanner fänkt dëst Joer en neie Chapitre un: iwwer fënnefdausend Kleng ginn fir d'éischt an d'Grondschoul, an an de Lycéeë fänke Dausende vu Jonken hir éischt Klass am Secondaire un. D'Educatiounsministère schwätzt vun enger Rekordzuel vu Schüler.\n\n"
        "Eng vun den Neierunge betrëfft d'Alphabetiséierung: An e puer Schoule kënnen d'Kanner dëst Joer fir d'éischt op Franséisch amplaz op Däitsch liese léieren. D'Ministère wëll no engem Joer kucken, wéi de Projet leeft, ier e méi Schoulen an d'Land geet.\n\n"
        "D'Gewerkschafte vum Léierpersonal hu virum Schoulufank nach eemol op de Manktem un Enseignanten higewisen. A verschiddene Gemenge missten nach ëmmer Plaze mat Leit besat ginn, déi keng komplett Ausbildung als Léierin oder Léierer hunn, heescht et.\n\n"
        "D'Police rifft d'Autofuerer op, an der Géigend vun de Schoulen ganz lues ze fueren. Besonnesch an den éischte Wochen, wann d'Kanner hire Wee nach net gutt kennen, wier besonnesch vill Opmierksamkeet gefrot.",
        ["Schoul", "Educatioun"], [DEELEN],
    ),
    (
        "Economie", 3,
        "Präisser fir Wunnengen ginn nees erof",
        "Fir dat drëtt Trimester hannereneen sinn d'Präisser fir al Wunnengen zu Lëtzebuerg erofgaang, dat weisen nei Zuele vum Statec.",
        "Am Duerchschnëtt hu Keefer fir eng al Wunneng ronn sechs Prozent manner bezuelt wéi ee Joer virdrun. Bei den neie Wunnengen ass de Réckgang méi kleng, well vill Projeten nach zu de Präisser vun de leschte Jore verkaaft goufen.\n\n"
        "D'Economiste vum Statec erklären de Réckgang virun allem mat den héijen Zënsen. Vill Leit kréien vun hirer Bank keen Prêt méi, oder si musse vill méi Suen zeréckbezuelen, wéi si sech leeschte kënnen. Doduerch ginn d'Wunnengen manner séier verkaf, an d'Verkeefer mussen hir Präisser upassen.\n\n"
        "D'Promoteuren hunn de Problem, datt si bal näischt méi verkafen. Vill Chantiere sinn dowéinst gestoppt, an an der Baubranche si scho Leit hir Aarbecht lassginn. D'Federatioun vun den Entreprisë freet d'Regierung, méi séier ze handelen an de Staat sollt selwer Wunnenge kafen.\n\n"
        "Fir déi Leit, déi eng Wunneng sichen, ass d'Situatioun nach ëmmer schwiereg. Och wann d'Präisser e bëssen erofginn, bleiwen se am Verglach mat den Nopeschlänner ganz héich.",
        ["Wunnen", "Statec", "Economie"], [AGENCE],
    ),
    (
        "Kultur", 4,
        "Eng nei Ausstellung am Nationalmusée iwwer d'Réimer",
        "Vun dësem Samschdeg u weist den Nationalmusée fir Geschicht a Konscht Fonnt aus der réimescher Zäit, déi zu Lëtzebuerg entdeckt goufen.",
        "Am Mëttelpunkt vun der Ausstellung steet de grousse Mosaik vu Vichten, deen am Joer 1995 vun engem Bauer bei Aarbechten op sengem Terrain entdeckt gouf. De Mosaik weist déi néng Muse vun der griichescher Mythologie a gehéiert zu de wäertvollste Stécker vum Musée.\n\n"
        "Donieft ginn iwwer dräihonnert aner Objete gewisen: Mënzen, Geschir, Schmuck a Stécker vu Villaen, déi d'Archeologen an de leschte Joerzéngte bei Ausgruewungen am ganze Land erausgeholl hunn. Vill dovu sinn nach ni virdrun ëffentlech ze gesi gewiescht.\n\n"
        "Dem Direkter vum Musée no soll d'Ausstellung weisen, wéi d'Liewen an eiser Regioun virun zweedausend Joer ausgesinn huet. Mat Biller um Ecran a klenge Filmer kënnen d'Visiteuren zum Beispill gesinn, wéi eng réimesch Villa bei Nennig ausgesinn hätt.\n\n"
        "D'Ausstellung leeft bis Enn Mäerz vum nächste Joer. Fir Schoulklassen ginn et speziell Visitten, an de Sonndeg ass d'Entrée fir jiddereen fräi.",
        ["Musée", "Geschicht", "Kultur"], [FOTO],
    ),
    (
        "Sport", 5,
        "D'Nationalekipp gewënnt a Bosnien",
        "Lëtzebuerg huet e Samschdeg Owend zu Zenica eng wichteg Victoire an der Qualifikatioun fir d'Europameeschterschaft gefeiert.",
        "D'Roud Léiwe sinn iwwer de ganze Match ganz konzentréiert gewiescht a si mat engem Gol kuerz virun der Paus a Féierung gaang. No engem Corner huet de Verteideger de Ball mam Kapp am Gol ënnerbruecht, an d'Lëtzebuerger Fans an der Tribün hu gejubelt.\n\n"
        "An der zweeter Hallschent hunn d'Bosnier vill Drock gemaach, mä de Goalkeeper vun der Nationalekipp huet e puer Mol mat super Paraden den Ausgläich verhënnert. Zéng Minutte virum Schluss huet Lëtzebuerg dunn op 2:0 erhéicht a fir d'Decisioun gesuergt.\n\n"
        "Den Nationaltrainer war nom Match immens zefridden. Seng Spiller hätten alles ginn a genee dat gemaach, wat si sech virgeholl haten, sot hien. Mat dëser Victoire huet Lëtzebuerg nach ëmmer all Chance, fir op d'mannst um drëtte Plaz vum Grupp ofzeschléissen.\n\n"
        "De nächste Match gëtt en Dënschdeg am Stade de Luxembourg gespillt. Do ass Portugal de Géigner, an d'Tickete si säit Wochen ausverkaf.",
        ["Fussball", "Nationalekipp", "Sport"], [FOTO],
    ),
    (
        "Lëtzebuerg", 1,
        "Nei Urgence an engem Spidol am Süden",
        "D'Spideeler aus dem Süde vum Land kréien eng nei Urgence, déi am Fréijoer opmaache soll.",
        "Den neie Bau, deen d'Gesondheetsministesch e Freideg presentéiert huet, soll d'Waardezäiten an der Urgence däitlech méi kuerz maachen. Zënter Joren hunn d'Patienten am Süden iwwer laang Stonnen am Waardesall geklot, besonnesch de Weekend an an der Nuecht.\n\n"
        "An der neier Urgence gëtt et méi Plaz, méi Dokteren a méi Infirmièren, wéi d'Direktioun vum Spidol erkläert. Eng Equipe soll d'Patienten direkt bei hirer Arrivée no der Gravitéit vun hirem Fall sortéieren, sou datt déi schwéier Fäll net méi musse waarden.\n\n"
        "D'Gewerkschaften begréissen de Projet, mä si warnen och. Ouni genuch Personal bréngt och dat schéinste Gebai näischt, heescht et an engem Communiqué. Scho lo wier et immens schwiereg, fir Infirmièren a Fleegepersonal ze fannen.\n\n"
        "D'Ministère wëll dowéinst d'Formatioun am Gesondheetsberäich verbesseren a mat de Spideeler aus den Nopeschlänner méi enk zesummeschaffen.",
        ["Gesondheet", "Spidol", "Süden"], [DEELEN],
    ),
    (
        "Economie", 3,
        "Index: Nächst Tranche am Summer erwaart",
        "D'Léin an d'Pensiounen zu Lëtzebuerg sollen am Summer nees ëm zweeanhallwe Prozent an d'Luucht goen, dat mengt de Statec.",
        "Den Index gëtt ausgeléist, wann d'Präisser am Duerchschnëtt ëm zweeanhallwe Prozent geklommen sinn. An hirer neister Prognos ginn d'Economisten dervun aus, datt dat an der zweeter Hallschent vum Joer de Fall wäert sinn, well besonnesch d'Präisser vun de Liewensmëttel an de Servicer weider klammen.\n\n"
        "Fir d'Salariéen ass d'Indexatioun eng gutt Noriicht, well hir Keefkraaft domat erhale bleift. D'Patronat kritiséiert awer, datt d'Betriber doduerch nees méi Käschten hunn, a fäert, datt Lëtzebuerg am Verglach mat den Nopeschlänner manner kompetitiv gëtt.\n\n"
        "D'Gewerkschaften hunn dogéint gesot, datt den Index fir si net zur Diskussioun steet. Et ginn am Land vill Leit, déi scho lo Méi hunn, um Enn vum Mount iwwer d'Ronnen ze kommen, sou e Vertrieder vum OGBL.\n\n"
        "De Statec wëll seng Prognos am Abrëll nach eemol iwwerschaffen. Vill hänkt dovun of, wéi sech d'Präisser fir d'Energie an de nächste Méint entwéckelen.",
        ["Index", "Statec", "Léin"], [AGENCE],
    ),
    (
        "Kultur", 4,
        "Rockhal: Ausverkaaft Concert vun enger Lëtzebuerger Band",
        "Méi wéi sechsdausend Leit sinn e Freideg op Esch-Belval komm, fir eng vun de bekanntste Lëtzebuerger Bands live ze gesinn.",
        "Fir d'Band war et dee gréisste Concert vun hirer Karriär. Scho Wochen am Viraus waren all d'Tickete verkaaft, an e puer Fans hu sech moies fréi virun d'Dier gestallt, fir eng Plaz ganz no bei der Bühn ze kréien.\n\n"
        "Bal zwou Stonne laang hunn d'Museker hir bekanntste Lidder gespillt, mä och nei Stécker vun hirem nächsten Album. Virun allem d'Lidder op Lëtzebuergesch hunn d'Leit an der Hal matgesongen, an zum Schluss ass d'ganz Publikum op d'Been gesprongen.\n\n"
        "Nom Concert sot de Sänger, datt hien nach ni esou e Gefill op der Bühn hat. Si hätte jorelaang an de klenge Caféen am ganze Land gespillt, an elo stoungen si hei virun esou ville Leit, dat wier e Bild, dat si ni méi vergiesse wäerten.\n\n"
        "D'Band geet am Fréijoer op Tournée an Däitschland, an der Belsch an a Frankräich. Fir d'nächst Joer ass schonn en neie Concert zu Lëtzebuerg geplangt. D'Tickete fir dee Concert ginn ab dem nächste Méindeg am Virverkaf verkaf.",
        ["Musek", "Rockhal", "Concert"], [FOTO],
    ),
    (
        "Lëtzebuerg", 1,
        "Grousse Brand an enger Hal zu Esch",
        "An enger Lagerhal an der Industriezon vun Esch-Uelzecht ass e Sonndeg de Moien e grousse Brand ausgebrach.",
        "D'Flämme ware vu wäitem ze gesinn, an eng déck schwaarz Damppäif huet sech iwwer de Süde vum Land gezunn. D'Autoritéiten hunn d'Leit aus der Géigend opgefuerdert, hir Fënsteren zouzemaachen an net dobaussen ze bleiwen.\n\n"
        "Iwwer siechzeg Pompjeeë vu verschiddenen Zentren ware bis an de Nomëtteg am Asaz. Si konnten de Brand ënner Kontroll bréngen, ier en op d'Nopeschgebaier iwwergaang ass. D'Hal selwer ass awer komplett zerstéiert, an de Schued gëtt op e puer Milliounen Euro geschat.\n\n"
        "Verletzt gouf kee Mënsch, well um Sonndeg keen an der Hal geschafft huet. Wisou de Feier ausgebrach ass, ass nach net kloer. D'Police huet eng Enquête opgemaach, an Experte sollen an de nächsten Deeg d'Ruinnen ënnersichen.\n\n"
        "D'Ëmweltverwaltung huet d'Loft an der Regioun gemooss an eng Entwarnung ginn: et goufen an de Miessunge keng geféierlech Wäerter fonnt. D'Pompjeeë vun Esch hu sech nom Asaz bei all de Fräiwëllege bedankt, déi bis spéit am Nomëtteg gehollef hunn.",
        ["Brand", "CGDIS", "Esch"], [FOTO],
    ),
    (
        "Lëtzebuerg", 1,
        "Uni Lëtzebuerg: Fuerscher entwéckelen neien Test géint Parkinson",
        "Eng Equipe vun der Uni Lëtzebuerg huet en Test entwéckelt, mat deem d'Krankheet vu Parkinson vill méi fréi erkannt ka ginn.",
        "De Parkinson gëtt haut dacks eréischt diagnostizéiert, wann e groussen Deel vun den Nervenzellen am Gehier scho futti ass. Mat deem neien Test, deen op enger einfacher Bluttprouf baséiert, kéint d'Krankheet Joren éischter entdeckt ginn, erkläert d'Leedung vum Projet.\n\n"
        "Fir hir Etude hunn d'Fuerscher Bluttprouwe vu méi wéi dausend Leit ënnersicht, déi zënter Jore bei enger grousser Etude zu Lëtzebuerg matmaachen. D'Resultat: bei bal néng vun zéng Patienten huet den Test déi richteg Äntwert ginn.\n\n"
        "Bis den Test an de Laboe benotzt ka ginn, dauert et awer nach e puer Joer. Et brauch nach weider Etuden a méi Patienten, fir ze weisen, datt d'Resultater och an anere Länner gëllen.\n\n"
        "D'Fuerscher hoffen, datt hir Aarbecht och hëlleft, nei Medikamenter ze testen. Wann d'Krankheet méi fréi erkannt gëtt, kéint een se vläicht och méi fréi behandelen.",
        ["Fuerschung", "Uni", "Gesondheet"], [DEELEN],
    ),
    (
        "Lëtzebuerg", 1,
        "Wäilies un der Musel: d'Wënzer sinn zefridden",
        "Laanscht d'Musel ass d'Wäilies a vollem Gaang, an d'Wënzer schwätze vun engem gudde Joergang.",
        "Nom waarme Summer an dem Reen am August sinn d'Drauwe gesond a ganz séiss. Besonnesch beim Riesling an beim Pinot gris wier d'Qualitéit ausgezeechent, erkläert de President vun der Federatioun vun de Wënzer. D'Quantitéit ass dogéint e bësse méi kleng wéi d'lescht Joer.\n\n"
        "Fir d'Lies brauchen d'Betriber all Joer vill Hänn. Well ëmmer manner Leit aus der Regioun bereet sinn, fir an de Wäibierger ze schaffen, kommen vill Saisonsaarbechter aus Polen, Rumänien oder Portugal, fir d'Drauwe mat der Hand ze schneiden.\n\n"
        "D'Klimaännerung mécht de Wënzer och Suergen. D'Lies fänkt haut bal dräi Wochen éischter un wéi nach virun drësseg Joer, an e puer Wënzer planzen schonn nei Drauwesorten, déi d'Hëtzt besser verdroen.\n\n"
        "Déi éischt Wäiner vum neie Joergang sollen am Fréijoer an de Kellere verkost kënne ginn. Bis dohin ass awer nach vill Aarbecht an de Wäibierger an an de Kellere vun de Wënzer ze maachen, an d'Leit kënnen d'Drauwe bei de Wäifester am Hierscht probéieren.",
        ["Musel", "Wäin", "Landwirtschaft"], [AGENCE],
    ),
    (
        "Lëtzebuerg", 1,
        "Nei Buslinn verbënnt Norden an d'Stad",
        "Ab dem nächste Méindeg fiert eng nei Expressbuslinn vu Wolz bis an d'Stad Lëtzebuerg.",
        "D'Linn soll besonnesch de Pendler aus dem Norde vum Land hëllefen, déi all Dag an d'Stad op d'Aarbecht fueren. De Bus fiert moies an owes all hallef Stonn a mécht just e puer Arrêten, sou datt d'Rees méi séier geet wéi mam Zuch.\n\n"
        "Dem Mobilitéitsministère no ass dat eng Äntwert op d'Fuerderunge vun de Gemengen aus dem Éislek. Déi hate sech beklot, datt hir Bierger ze vill Zäit am Stau op der Nordstrooss verléieren an datt den ëffentlechen Transport net attraktiv genuch wier.\n\n"
        "Wéi all Transport zu Lëtzebuerg ass och déi nei Linn gratis. Am Bus gëtt et Wifi a Plaz fir e Vëlo. Wann d'Linn gutt ugeholl gëtt, kéinten der nach méi Bussen dobäikommen, heescht et.\n\n"
        "Fir d'Gemengen ass dat nëmmen en éischte Schrëtt. Si fuerderen, datt och d'Zuchlinn an den Norden méi séier ausgebaut gëtt. Eng Petitioun an deem Sënn gouf an e puer Wochen vu méi wéi dräidausend Leit aus der Regioun ënnerschriwwen.",
        ["Bus", "Mobilitéit", "Éislek"], [FOTO],
    ),
    (
        "Sport", 5,
        "Tour de Luxembourg: Spannend Etapp am Éislek",
        "Déi drëtt Etapp vum Tour de Luxembourg huet de Coureuren um Donneschdeg alles ofverlaangt.",
        "Op enger Streck vu bal 190 Kilometer mat ville Bierger tëscht Ettelbréck a Veianen ass d'Feld séier ausernee gefall. Eng kleng Grupp vu véier Coureuren ass scho kuerz nom Start fortgefuer an hat zäitweis méi wéi véier Minutte Virsprong.\n\n"
        "Um leschte Bierg virum Arrivée hunn déi grouss Ekippen d'Tempo awer esou staark erhéicht, datt déi Ausreisser nees agefaange goufen. Am Sprint vun enger klenger Grupp huet dunn e jonke Belsch gewonnen, virun engem Fransous an engem Hollänner.\n\n"
        "De beschte Lëtzebuerger ass op der zéngter Plaz ukomm an ass domat am Klassement no vir geklommen. Hie wier mat sengem Dag zefridden, sot hien no der Etapp, och wann d'Bee um Enn schwéier gi wieren.\n\n"
        "De Freideg steet eng Zäitfuerer op dem Programm, déi fir de Gesamtsieg wichteg kéint ginn. D'Organisateure rechne mat vill Zuschauer laanscht d'Streck. Den Depart ass um Nomëtteg zu Mamer, an d'Coureure starten een nom aneren.",
        ["Vëlo", "Tour de Luxembourg", "Sport"], [AGENCE],
    ),
    (
        "Lëtzebuerg", 1,
        "Police warnt virun Telefonsbedruch",
        "D'Police kritt an de leschte Wochen ëmmer méi Uriff vu Leit, déi vu falsche Polizisten ugeruff gi sinn.",
        "D'Bedréier ruffen dacks eeler Leit un a behaapten, datt an hirer Strooss agebrach gi wier. Fir hir Suen a Bijouen a Sécherheet ze bréngen, sollen d'Affer dës engem Polizist ginn, deen dann un d'Dier kënnt. Esou hu Leit am Land schonn Dausende vun Euro verluer.\n\n"
        "D'Police erënnert drun, datt e richtege Polizist ni um Telefon no Suen oder Wäertsaachen freet. Wien esou en Uruff kritt, soll direkt ophänken an d'Nummer 113 wielen. Dacks weist den Ecran vum Telefon souguer eng falsch Nummer vun der Police un, wat d'Leit nach méi verwiert.\n\n"
        "Besonnesch wichteg wier et, mat der Famill an den Noperen iwwer dës Method ze schwätzen, sou d'Police. Vill eeler Leit trauen sech no esou engem Fall net, iwwer dat ze schwätzen, wat hinne geschitt ass.\n\n"
        "An enger Campagne an den Zeitungen an am Radio wëll d'Police an de nächste Wochen nach méi Leit informéieren.",
        ["Police", "Bedruch", "Sécherheet"], [DEELEN],
    ),
    (
        "Lëtzebuerg", 1,
        "Baueren: Schlecht Ernte wéinst Dréchent",
        "D'Lëtzebuerger Baueren hunn dëst Joer bis zu engem Drëttel manner Geträid geernt wéi an engem normale Joer.",
        "Schold dru war de ganz dréchene Fréijoer: Vun Abrëll bis Juni huet et bal net gereent, an de Weess an d'Gier konnten net richteg wuessen. Och d'Wise fir d'Véi goufen esou dréchen, datt vill Betriber schonn am Summer d'Fudder fir de Wanter benotze missten.\n\n"
        "De Bauereverband freet elo eng Hëllef vum Staat. Vill jonk Betriber hätten an de leschte Joren a nei Maschinnen a Ställ investéiert a missten elo hir Prête bezuelen, ouni datt si genuch Recetten hunn, heescht et vum Verband.\n\n"
        "De Landwirtschaftsminister huet ugekënnegt, datt hien d'Situatioun Betrib fir Betrib analyséiere wëll. Eng Hëllef wier méiglech, mä si misst mat de Reegele vun der Europäescher Unioun konform sinn.\n\n"
        "Experte rechnen domat, datt esou dréche Joren an Zukunft méi dacks virkommen. D'Baueren missten sech drop astellen a vläicht aner Planzen ubauen. Verschidde Betriber testen dowéinst scho Soen, déi manner Waasser brauchen.",
        ["Landwirtschaft", "Dréchent", "Klima"], [FOTO],
    ),
    (
        "Welt", 2,
        "EU-Sommet zu Bréissel: Accord iwwer de Budget",
        "No zwee Deeg an enger Nuecht vun Negociatiounen hunn d'Staats- a Regierungscheffe vun der EU sech op e Budget gëeenegt.",
        "De Kompromëss gesäit méi Suen fir d'Verdeedegung an d'Fuerschung vir, mä manner fir d'Landwirtschaft an d'Regiounen. Virun allem déi Länner, déi vill an de Budget abezuelen, hate gefuerdert, datt d'Ausgabe net weider klamme sollten.\n\n"
        "De Lëtzebuerger Premierminister huet nom Sommet vun engem gudde Resultat fir Lëtzebuerg geschwat. D'Land kritt weiderhin Suen fir d'Entwécklung vun de Grenzregiounen, an d'Institutiounen, déi hire Sëtz um Kierchbierg hunn, bleiwen erhalen.\n\n"
        "D'Europaparlament muss dem Budget nach zoustëmmen. E puer Fraktiounen hu scho gesot, datt si net zefridde sinn an nach Ännerunge wëllen. Et kéint also nach e puer Méint daueren, bis de Budget definitiv ugeholl ass.\n\n"
        "D'Regierung wëll d'Chamber an der nächster Woch an enger Sëtzung iwwer d'Resultater vum Sommet informéieren. D'Deputéiert wëllen do och wëssen, wat dëse Budget fir d'Grenzregiounen a fir d'Bauere vum Land bedeit.",
        ["EU", "Bréissel", "Budget"], [AGENCE],
    ),
    (
        "Lëtzebuerg", 1,
        "Groussherzog besicht nei Schoul zu Dikrech",
        "De Groussherzog war en Dënschdeg zu Besuch am neie Lycée zu Dikrech, deen zu Ufank vum Schouljoer opgaangen ass.",
        "De Staatschef gouf vum Direkter, vun de Schüler a vun de Vertrieder vun der Gemeng empfaangen. Hien huet sech d'Klassesäll, d'Laboe fir d'Wëssenschaften an déi nei Sportshal weise gelooss a sech laang mat de Schüler ënnerhalen.\n\n"
        "D'Schoul ass ee vun de modernste Gebaier vum Land. Si gouf aus Holz gebaut, produzéiert mat Solarpanneauen op dem Daach e groussen Deel vun hirem Stroum selwer a soll esou wéineg Energie wéi méiglech verbrauchen. Iwwer aachthonnert Schüler léieren hei.\n\n"
        "Den Direkter huet betount, datt d'Schoul fir d'ganz Regioun eng grouss Chance wier. D'Jonker aus dem Norde missten elo net méi all Dag bis an d'Stad fueren, fir eng bestëmmt Formatioun ze maachen, sot hien.\n\n"
        "Zum Schluss vun der Visite hunn e puer Schüler dem Groussherzog e Lidd virgesongen, dat si fir dës Occasioun selwer geschriwwen haten. Duerno ass hie mat der Direktioun an der Kantin vun der Schoul zu Mëtteg iesse gaangen.",
        ["Groussherzog", "Schoul", "Dikrech"], [],
    ),
    (
        "Lëtzebuerg", 1,
        "Méi Leit schwätze Lëtzebuergesch",
        "Ëmmer méi Leit zu Lëtzebuerg soen, datt Lëtzebuergesch hir Haaptsprooch ass, dat weist déi leschte Vollekszielung.",
        "Och vill Leit, déi net zu Lëtzebuerg gebuer sinn, léieren d'Sprooch. D'Coursen fir Erwuessener sinn esou gefrot, datt d'Instituter vill Leit op eng Waardelëscht setze mussen. Besonnesch d'Coursen, déi een owes no der Aarbecht besiche kann, sinn dacks scho no e puer Stonnen ausgebucht.\n\n"
        "Fir d'Sproochwëssenschaftler ass dat eng gutt Noriicht. Lëtzebuergesch gouf laang just geschwat, an et war eréischt zënter dem Gesetz vun 1984 eng offiziell Sprooch vum Land. Haut gëtt et ëmmer méi geschriwwen: an de soziale Medien, a Bicher an och an der Administratioun.\n\n"
        "Trotzdeem bleift d'Situatioun komplizéiert. Op der Aarbecht gëtt vill Franséisch an Englesch geschwat, an an de Geschäfter vun der Stad gëtt een dacks net op Lëtzebuergesch zerwéiert.\n\n"
        "D'Regierung wëll mat engem neie Plang fir d'Sprooch d'Coursë weider ausbauen an d'Ortografie méi bekannt maachen. Och fir d'Kanner, déi an d'Schoul ginn, soll et méi Bicher op Lëtzebuergesch ginn.",
        ["Sprooch", "Lëtzebuergesch", "Statec"], [],
    ),
]

# Words changed in the near-duplicate of ARTICLES[4] (same article republished with an edit).
NEAR_DUP_OF = 4
NEAR_DUP_EDITS = [("ronn sechs Prozent", "bal sechs Prozent"), ("ganz héich", "ëmmer nach héich")]
EXACT_DUP_OF = 9

GERMAN: list[tuple[str, str, str]] = [
    (
        "Neue Tramlinie soll den Süden des Landes besser anbinden",
        "Die Regierung hat am Mittwoch die Pläne für eine Schnelltram zwischen der Hauptstadt und Esch an der Alzette vorgestellt.",
        "Die neue Verbindung soll die überlasteten Straßen im Süden entlasten und die Fahrzeit zwischen den beiden größten Städten des Landes deutlich verkürzen. Nach Angaben des Ministeriums würde die Fahrt mit der Schnelltram nur noch etwa fünfundzwanzig Minuten dauern.\n\n"
        "Die Trasse verläuft größtenteils entlang der Autobahn und soll mehrere neue Wohnviertel erschließen, die in den kommenden Jahren entstehen werden. Die Bauarbeiten könnten frühestens in drei Jahren beginnen, da zuvor noch zahlreiche Genehmigungen eingeholt werden müssen.\n\n"
        "Die Gemeinden entlang der Strecke begrüßen das Vorhaben grundsätzlich, fordern aber, bei der Planung stärker einbezogen zu werden. Einige Anwohner befürchten zudem Lärm und jahrelange Baustellen in ihrer Nachbarschaft.\n\n"
        "Die Kosten des Projekts werden derzeit auf mehr als eine Milliarde Euro geschätzt. Die Opposition kritisierte, dass die Finanzierung noch nicht geklärt sei.",
    ),
    (
        "Rekordzahl an Grenzgängern im Großherzogtum",
        "Noch nie haben so viele Menschen aus Frankreich, Belgien und Deutschland in Luxemburg gearbeitet wie im vergangenen Jahr.",
        "Nach den neuesten Zahlen der Sozialversicherung pendeln inzwischen mehr als zweihunderttausend Menschen täglich über die Grenze, um in Luxemburg zu arbeiten. Damit stellen die Grenzgänger fast die Hälfte aller Beschäftigten im Land.\n\n"
        "Die meisten von ihnen kommen aus Frankreich, gefolgt von Belgien und Deutschland. Besonders gefragt sind Arbeitskräfte im Finanzsektor, im Handel und im Gesundheitswesen, wo ohne die Pendler viele Stellen unbesetzt bleiben würden.\n\n"
        "Die Kehrseite sind die täglichen Staus auf den Autobahnen und die überfüllten Züge am Morgen und am Abend. Wirtschaftsvertreter fordern deshalb seit Jahren, die Verbindungen in die Nachbarregionen schneller auszubauen und mehr Möglichkeiten für Telearbeit zu schaffen.\n\n"
        "Die Regierung verhandelt derzeit mit den Nachbarländern über eine Ausweitung der erlaubten Tage im Homeoffice, ohne dass die Beschäftigten steuerliche Nachteile befürchten müssen.",
    ),
    (
        "Hochwasser an der Sauer: Lage entspannt sich",
        "Nach den heftigen Regenfällen der vergangenen Tage sinken die Pegelstände an Sauer und Alzette wieder.",
        "Am Wochenende waren in mehreren Ortschaften im Osten und im Zentrum des Landes Straßen und Keller überflutet worden. Die Rettungsdienste mussten mehr als zweihundert Mal ausrücken, um Wasser abzupumpen und Menschen aus ihren Häusern in Sicherheit zu bringen.\n\n"
        "Besonders betroffen war die Gegend um Echternach, wo die Sauer an mehreren Stellen über die Ufer getreten war. Die Uferpromenade und mehrere Parkplätze standen unter Wasser, und die Brücke nach Deutschland musste zeitweise gesperrt werden.\n\n"
        "Nach Angaben des Wasserwirtschaftsamtes ist die Gefahr inzwischen gebannt, doch die Aufräumarbeiten werden noch Tage dauern. Die Regierung hat angekündigt, den betroffenen Haushalten mit einer finanziellen Soforthilfe unter die Arme zu greifen.\n\n"
        "Experten warnen, dass solche Ereignisse durch den Klimawandel häufiger werden könnten, und fordern mehr Flächen, auf denen sich das Wasser ausbreiten kann.",
    ),
]

FRENCH: list[tuple[str, str, str]] = [
    (
        "Le Luxembourg accueille un sommet européen sur l'espace",
        "Des représentants de plus de vingt pays se sont réunis jeudi à Luxembourg pour discuter de l'avenir de l'exploration spatiale.",
        "Le Grand-Duché s'est positionné depuis plusieurs années comme un acteur important dans le domaine des ressources spatiales. Une agence spatiale nationale a été créée et de nombreuses entreprises du secteur ont installé leur siège dans le pays, attirées par un cadre juridique favorable.\n\n"
        "Au cours de la réunion, les participants ont notamment abordé la question de l'exploitation des ressources sur la Lune et sur les astéroïdes. Plusieurs délégations ont plaidé pour des règles internationales claires, afin d'éviter que quelques grandes puissances ne se partagent ces richesses.\n\n"
        "Le ministre de l'Économie s'est réjoui de l'intérêt croissant pour ce secteur, qui pourrait créer des centaines d'emplois qualifiés dans les prochaines années. Il a également annoncé la création d'un nouveau fonds destiné à soutenir les jeunes entreprises innovantes.\n\n"
        "Les critiques estiment toutefois que les investissements publics dans ce domaine restent risqués et que les retombées économiques concrètes se font encore attendre.",
    ),
    (
        "Hausse des prix de l'énergie: les ménages inquiets",
        "Selon une enquête publiée mardi, une majorité des résidents craignent de ne plus pouvoir payer leurs factures de chauffage cet hiver.",
        "Les prix du gaz et de l'électricité ont fortement augmenté au cours des derniers mois, et de nombreuses familles ont vu leurs acomptes mensuels doubler. Les ménages à faibles revenus sont particulièrement touchés, car l'énergie représente une part importante de leur budget.\n\n"
        "Le gouvernement a déjà mis en place plusieurs mesures pour limiter la hausse, notamment un plafonnement temporaire des prix et une aide exceptionnelle pour les familles concernées. Les associations de consommateurs jugent cependant ces mesures insuffisantes et réclament un soutien plus ciblé.\n\n"
        "Les experts recommandent aux ménages de réduire leur consommation en baissant légèrement la température dans les pièces et en vérifiant l'isolation de leur logement. Des conseillers en énergie proposent des visites gratuites pour aider les habitants à identifier les économies possibles.\n\n"
        "Le sujet sera débattu à la Chambre des députés la semaine prochaine, à la demande de plusieurs partis de l'opposition.",
    ),
    (
        "Festival de musique: une édition record à Dudelange",
        "Le festival en plein air de Dudelange a attiré ce week-end plus de trente mille visiteurs, un record depuis sa création.",
        "Pendant trois jours, une quarantaine de groupes venus du Luxembourg et de l'étranger se sont succédé sur les différentes scènes installées dans le parc de la ville. Le public, souvent venu en famille, a pu profiter d'un temps ensoleillé et d'une ambiance particulièrement détendue.\n\n"
        "Les organisateurs, pour la plupart des bénévoles, se sont montrés très satisfaits du déroulement de la manifestation. Aucun incident grave n'a été signalé, et les navettes gratuites mises en place entre la gare et le site ont permis d'éviter les embouteillages habituels.\n\n"
        "L'entrée du festival reste gratuite, une tradition à laquelle la commune tient beaucoup. Le budget est financé par des sponsors, par la vente de boissons et de repas ainsi que par une subvention du ministère de la Culture.\n\n"
        "La prochaine édition est déjà en préparation, et les organisateurs promettent de nouvelles surprises pour l'année prochaine.",
    ),
]

SHORT: list[tuple[str, str, str]] = [
    (
        "Accident op der A1: eng Persoun blesséiert",
        "E Méindeg de Moien ass et op der Autobunn A1 bei Kanech zu engem Accident komm.",
        "Zwee Autoe sinn aus nach net gekläerte Grënn zesummegestouss. Ee Chauffeur gouf liicht blesséiert an an d'Spidol bruecht. D'Autobunn war eng Stonn laang a Richtung Stad gespaart, an et huet sech e laange Stau gebilt. D'Police sicht nach Zeien, déi den Accident gesinn hunn.",
    ),
    (
        "Kierchbierg: Strooss gespaart wéinst Aarbechten",
        "Vum nächste Méindeg u gëtt d'Avenue John F. Kennedy fir zwou Wochen an enger Richtung gespaart.",
        "D'Stad Lëtzebuerg erneiert do d'Waasserleitungen. Eng Deviatioun ass ausgeschéckert, an d'Busse fueren iwwer d'Rue Alphonse Weicker.",
    ),
    (
        "Bummeleng: Kaz vun de Pompjeeë gerett",
        "Eng Kaz, déi sech op engem héije Bam verstoppt hat, gouf en Dënschdeg vun de Pompjeeë gerett.",
        "D'Déier war zënter zwee Deeg net méi vum Bam erofkomm. Mat enger laanger Leeder hunn d'Pompjeeë se erofgeholl an hirer Famill zeréckginn.",
    ),
]

RESULTS_TEXT = (
    "Hei sinn all d'Resultater vum 12. Spilldag an der BGL Ligue, mat de Goler an dem Klassement no de Matcher vum Weekend. De Swift Hesper bleift un der Spëtzt, well seng Verfolger Punkte verluer hunn.\n\n"
    "F91 Diddeleng - Progrès Nidderkuer 2:1\n"
    "Swift Hesper - Racing Lëtzebuerg 0:0\n"
    "Jeunesse Esch - Fola Esch 3:2\n"
    "Union Titus Péiteng - UNA Stroossen 1:1\n"
    "Käerjeng 97 - Victoria Rosport 2:0\n"
    "FC Wolz 71 - Mondorf-les-Bains 0:3\n"
    "Hamm Benfica - Marisca Miersch 1:2\n"
    "Rodange 91 - Schifflange 95 1:4\n\n"
    "Klassement:\n"
    "1. Swift Hesper 28 Punkten\n"
    "2. Progrès Nidderkuer 26 Punkten\n"
    "3. F91 Diddeleng 25 Punkten\n"
    "4. Racing Lëtzebuerg 21 Punkten\n"
    "5. Jeunesse Esch 19 Punkten\n"
    "6. UNA Stroossen 18 Punkten\n"
    "7. Victoria Rosport 16 Punkten\n"
    "8. Käerjeng 97 15 Punkten\n"
    "9. Mondorf-les-Bains 14 Punkten\n"
    "10. Union Titus Péiteng 13 Punkten\n"
    "11. Fola Esch 11 Punkten\n"
    "12. Marisca Miersch 10 Punkten\n"
    "13. Schifflange 95 8 Punkten\n"
    "14. Hamm Benfica 7 Punkten\n\n"
    "De nächste Spilldag gëtt de Weekend vum 2. an 3. Dezember gespillt. Déi meescht Matcher fänken e Sonndeg um 15 Auer un, an d'Ekippe vun uewen am Klassement spillen all dobaussen. Fir d'Veräiner vun ënnen ass et eng wichteg Woch, well si dréngend Punkte brauchen, wa si net an déi zweet Divisioun wëllen erofgoen. Mir wäerten Iech wéi all Woch iwwer all d'Resultater an d'Goler informéieren."
)

PROGRAMM_TEXT = (
    "Wat ass de Weekend lass zu Lëtzebuerg? Hei ass eisen Iwwerbléck mat de Concerten, Mäert an Ausstellungen am ganze Land.\n\n"
    "Freideg, 8. Dezember\n"
    "18.00 Auer: Chrëschtmaart an der Stad\n"
    "19.30 Auer: OPL an der Philharmonie\n"
    "20.00 Auer: Theater am Kapuzinertheater\n"
    "21.00 Auer: Jazz am Melusina\n\n"
    "Samschdeg, 9. Dezember\n"
    "10.00 Auer: Wanterfest zu Veianen\n"
    "14.00 Auer: Atelier fir Kanner am Mudam\n"
    "15.00 Auer: Chrëschtmaart zu Esch\n"
    "17.00 Auer: Kleeschen zu Ettelbréck\n"
    "20.30 Auer: Bal zu Neimënster\n\n"
    "Sonndeg, 10. Dezember\n"
    "11.00 Auer: Matinée an der Rockhal\n"
    "14.30 Auer: Visite zu Bourscheid\n"
    "16.00 Auer: Chorconcert\n"
    "18.00 Auer: Film am Ciné Utopia\n\n"
    "Méi Informatiounen iwwer all d'Evenementer fannt Dir op de Säite vun de Gemengen an de Veranstalter. Well um Weekend vill Leit ënnerwee sinn, gëtt geroden, mam Bus oder mam Zuch ze fueren, an net ze vergiessen, datt den ëffentlechen Transport am ganze Land gratis ass."
)

TICKER_TEXT = (
    "Mir begleeden de Walowend live an hei fannt Dir all d'Resultater an d'Reaktiounen aus de Parteien.\n\n"
    "18.00 Auer: D'Wahlbüroe sinn zou.\n"
    "18.12 Auer: Éischt Zuele sinn do.\n"
    "18.25 Auer: Am Süde gëtt gezielt.\n"
    "18.40 Auer: Tendenz am Zentrum.\n"
    "18.55 Auer: D'CSV ass zefridden.\n"
    "19.05 Auer: Den Nordbezierk ass komplett.\n"
    "19.20 Auer: D'Gréng verléiere Stëmmen.\n"
    "19.35 Auer: De Premier schwätzt.\n"
    "19.50 Auer: Den Osten ass och fäerdeg.\n"
    "20.10 Auer: D'LSAP hält hir Sëtz.\n"
    "20.25 Auer: D'ADR gewënnt e Sëtz.\n"
    "20.40 Auer: Piraten: e Sëtz méi.\n"
    "21.00 Auer: Déi Lénk bleiwe stabil.\n"
    "21.15 Auer: Alles ass ausgezielt.\n"
    "21.30 Auer: D'Sëtz am Iwwerbléck.\n"
    "21.45 Auer: Merci fir d'Nolauschteren!\n\n"
    "Eng ausféierlech Analys vun de Resultater fannt Dir muer de Moien op eiser Säit. Do erkläre mir och, wéi eng Parteie mateneen iwwer eng nei Regierung schwätze kéinten a wéini déi éischt Gespréicher ufänken."
)

NONPROSE: list[tuple[str, int, str, str, str]] = [
    ("Sport", 5, "Resultater BGL Ligue: 12. Spilldag", "D'Resultater an de Klassement vum Weekend.", RESULTS_TEXT),
    ("Kultur", 4, "Programm fir de Weekend: Wat ass lass?", "Concerten, Mäert an Ausstellungen.", PROGRAMM_TEXT),
    ("Lëtzebuerg", 1, "Liveticker: De Walowend am Iwwerbléck", "All d'Resultater an Direkt.", TICKER_TEXT),
]

COMMENTS: list[str] = [
    "Endlech! Ech waarden zënter Joren op den Tram bis op de Findel.",
    "Dat ass alles vill ze deier, an um Enn bezuele mir dat.",
    "Super Match, Bravo un d'Roud Léiwen!",
    "Firwat gëtt net méi fir d'Leit am Norde gemaach?",
    "Ech hu leschte Mount och esou en Uruff kritt. Passt op!",
]
