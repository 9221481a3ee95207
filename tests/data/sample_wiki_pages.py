"""Wikitext of the sample lbwiki dump (written for this project; see README.md for each page's fate).

Kept apart from make_sample_corpus.py so the generator stays readable. Every page is a dict with
``id``, ``ns``, ``title``, ``text`` and optionally ``redirect`` (the ``<redirect title>`` element).
"""

from __future__ import annotations

# --- 12 normal articles (kept) ------------------------------------------------------------

ETTELBRECK = """{{Infobox Gemeng
| Numm = Ettelbréck
| Kanton = Dikrech
| Fläch = 15,18
| Awunner = 10.000
| Wopen = Wopen Ettelbreck.svg
}}
'''Ettelbréck''' ass eng [[Stad]] an eng [[Gemeng (Lëtzebuerg)|Gemeng]] am [[Kanton Dikrech]], am Zentrum vum [[Groussherzogtum Lëtzebuerg]]. D'Stad läit do, wou d'[[Alzette|Uelzecht]] an d'[[Sauer]] zesummefléissen, an si gëtt dowéinst dacks als d'Paart zum [[Éislek]] bezeechent.<ref>{{Cite web|url=https://www.ettelbruck.lu|titel=Gemeng Ettelbréck}}</ref>

== Geographie ==
[[Fichier:Ettelbreck Gare.jpg|thumb|250px|D'Gare vun Ettelbréck]]
D'Gemeng besteet aus der Stad selwer an aus den Uertschaften [[Warken]] a [[Grentzingen]]. Am Norden an am Oste vun der Stad ginn d'Hiwwele vum Éislek lues a lues méi héich, am Süde fänkt de fruchtbare [[Gutland]] un. Zesumme mat [[Dikrech]] an de Gemengen derronderëm gehéiert Ettelbréck zu der [[Nordstad]], déi vum Staat als drëtte Pol vun der Entwécklung vum Land virgesi gëtt.

== Geschicht ==
Am Mëttelalter war Ettelbréck e klengt Bauerenduerf un enger wichteger Fuert iwwer d'Sauer. D'Duerf ass am Joer 1780 vun engem grousse Brand bal ganz zerstéiert ginn. Am 19. Joerhonnert huet d'[[Eisebunn]] alles geännert: mat der Linn vun der Stad Lëtzebuerg an den Norden ass Ettelbréck e Kräizungspunkt ginn, an de Maart an d'Geschäfter hu sech séier entwéckelt. Am [[Zweete Weltkrich]] huet d'Stad während der [[Ardennenoffensiv]] am Wanter 1944 vill Schued geholl. Zënter dem Krich erënnert all Joer e Monument un den amerikanesche Generol [[George S. Patton|George Patton]], deem seng Truppen d'Regioun befreit hunn.

== Wirtschaft a Bildung ==
Ettelbréck ass haut e wichtegt Zentrum fir d'Schoulen, d'Spideeler an d'Verwaltung vum Norde vum Land. Hei ginn et e Lycée technique, d'[[Lycée technique agricole]], e groussen Déierepark fir d'Landwirtschaft an e Spidol. Jiddwer Joer am Juli zitt d'[[Foire agricole]] Dausende vu Leit an d'Stad, wou Bauere vum ganze Land hir Déieren, hir Maschinnen an hir Produite weisen.

{| class="wikitable"
! Joer !! Awunner
|-
| 1900 || 4.200
|-
| 2000 || 7.700
|-
| 2023 || 10.000
|}

== Kuckt och ==
* [[Lëscht vun de Gemengen zu Lëtzebuerg]]

== Referenzen ==
<references />

[[Kategorie:Uertschaft zu Lëtzebuerg]]
[[Kategorie:Gemeng am Kanton Dikrech]]
"""

UELZECHT = """{{Infobox Floss
| Numm = Uelzecht
| Längt = 73
| Quell = Thil (Frankräich)
| Mëndung = Sauer
}}
D''''Uelzecht''' (op Franséisch ''Alzette'') ass e [[Floss]] a [[Frankräich]] an zu [[Lëtzebuerg]]. Mat enger Längt vun ongeféier 73 Kilometer ass si ee vun de wichtegste Flëss vum Land, well vill grouss Uertschafte laanscht hir Ufer leien.<ref>Ministère de l'Environnement, ''Atlas hydrologique'', 2019.</ref>

== Laf ==
D'Quell vun der Uelzecht läit bei [[Thil]] a Lothréngen. Bei [[Esch-Uelzecht]] kënnt de Floss an d'Land a fléisst duerno Richtung Norden duerch [[Schëffleng]], [[Hesper]] an d'[[Stad Lëtzebuerg]]. An der Haaptstad huet d'Uelzecht en déiwen Dall an de Fiels gegruewen, an deem d'Quartiere [[Gronn]], [[Pafendall]] a [[Clausen]] leien. Duerno passéiert si [[Walfer]], [[Miersch]] a [[Colmer-Bierg]], ier si zu [[Ettelbréck]] an d'[[Sauer]] fléisst.

== Bedeitung ==
Fréier hunn d'Mille laanscht d'Uelzecht Mull gemuel, Holz gesot a Stoff gewieft. Am 19. an am 20. Joerhonnert huet d'Stolindustrie am Süde vum Land vill Waasser aus dem Floss gebraucht, an d'Waasser war laang Zäit staark verschmotzt. Zënter e puer Joerzéngte gëtt d'Uelzecht no an no rem méi propper: nei Kläranlage goufe gebaut, an u verschiddene Plaze kréien de Floss an seng Ufer rem méi Plaz fir d'Natur.

[[Fichier:Alzette Grund.jpg|mini|D'Uelzecht am Gronn]]

== Zouflëss ==
Déi wichtegst Zouflëss vun der Uelzecht sinn d'[[Mamer (Floss)|Mamer]], d'[[Äischer]], d'[[Wäisser Iernz]] an d'[[Attert]]. Bei staarkem Reen am Wanter oder am Fréijoer kann de Floss séier iwwer seng Ufer trieden, sou datt d'Dierfer am Dall ëmmer rem mat Héichwaasser ze kämpfen hunn.<!-- Donnéeë vun 2021 nach nokucken -->

[[Kategorie:Floss zu Lëtzebuerg]]
[[Kategorie:Floss a Frankräich]]
"""

VIANDEN = """{{Infobox Gemeng
| Numm = Veianen
| Kanton = Veianen
| Awunner = 2.200
}}
'''Veianen''' (op Däitsch ''Vianden'') ass eng kleng [[Stad]] am Oste vu [[Lëtzebuerg]], direkt un der Grenz mat [[Däitschland]]. D'Stad läit an engem enken Dall vun der [[Our]] a gëtt vun engem grousse [[Schlass Veianen|Schlass]] dominéiert, dat zu de bekanntste Sehenswierdegkeete vum ganze Land gehéiert.<ref name="ont">Office national du tourisme, 2022.</ref>

== D'Schlass ==
[[Fichier:Vianden Castle.jpg|thumb|left|D'Schlass Veianen iwwer der Our]]
D'Schlass gouf tëscht dem 11. an dem 14. Joerhonnert op de Fundamenter vun engem réimesche Kastell gebaut. Et war laang de Sëtz vun de mächtege Grofe vu Veianen, déi eng grouss Regioun tëscht dem [[Éislek]] an der [[Eifel]] regéiert hunn. Am 19. Joerhonnert ass d'Schlass verkaf ginn a stéckweis zerfall. Eréischt nodeems de Staat et am Joer 1977 iwwerholl huet, gouf et mat vill Gedold restauréiert, an haut kënne Visiteuren d'Säll, d'Kapell an d'Kichen aus dem Mëttelalter besichen.

== De Victor Hugo zu Veianen ==
De franséische Schrëftsteller [[Victor Hugo]] huet am Joer 1871 e puer Méint zu Veianen gewunnt. Hien huet vu senger Fënster aus d'Schlass gezeechent an a senge Bréiwer iwwer d'Schéinheet vum Dall geschwärmt. D'Haus, an deem hie gelieft huet, ass haut e klengt [[Victor-Hugo-Haus|Muséeshaus]] bei der Bréck iwwer d'Our.

== Tourismus ==
Mat hirem Schlass, hire schmuele Stroossen an hirem Sessellift ass Veianen all Summer voller Touristen. Am Oktober gëtt op der Haaptstrooss den traditionelle ''Nëssmaart'' gefeiert, wou Baueren aus der Géigend hir Nëss, hire Kuch an hire Likör verkafen. Ganz no bei der Stad stinn och d'Stauséien vum [[Pompelspäicherkraaftwierk Veianen]], dat Stroum produzéiert, wann d'Leit am meeschte Stroum brauchen.

[[Kategorie:Uertschaft zu Lëtzebuerg]]
[[Kategorie:Buerg zu Lëtzebuerg]]
"""

RODANGE = """{{Infobox Persoun
| Numm = Michel Rodange
| Gebuer = 3. Januar 1827
| Gestuerwen = 27. August 1876
}}
De '''Michel Rodange''' (* [[3. Januar]] [[1827]] zu [[Waldbëlleg]]; † [[27. August]] [[1876]] an der [[Stad Lëtzebuerg]]) war e lëtzebuergesche [[Schrëftsteller]]. Hien ass virun allem bekannt als den Auteur vum ''[[Renert]]'', engem laange Gedicht, dat bis haut als ee vun de wichtegste Wierker vun der [[Lëtzebuerger Literatur]] gëllt.<ref>Germaine Goetzinger, ''Autorenlexikon'', CNL, 2007.</ref>

== Liewen ==
De Rodange ass an engem klengen Duerf am Mëllerdall opgewuess. No senger Ausbildung huet hien als Schoulmeeschter geschafft, méi spéit als Stroosseninspekter. Hien huet sech sou gutt duerch d'Liewe geschloen, wéi et gaangen ass, an d'Geld war a senger Famill ëmmer knapp. Nieft senger Aarbecht huet hien d'Sprooch vun de Leit an de verschiddene Regioune vum Land mat vill Interessi nogelauschtert.

== De Renert ==
Den ''Renert oder de Fuuß am Frack an a Maansgréisst'' ass am Joer 1872 erauskomm. D'Geschicht baséiert op der aler Fabel vum Fuuss, déi och de [[Johann Wolfgang von Goethe|Goethe]] an sengem ''Reineke Fuchs'' nei erzielt hat. De Rodange huet se awer ganz op Lëtzebuerg iwwerdroen: all Déier schwätzt den Dialekt vun enger anerer Regioun, an hannert de Fuuss, de Wollef an de Léiw verstoppe sech Politiker an aner Leit vu senger Zäit. Vill Lieser hunn dat deemools net gär gesinn, an d'Buch huet sech schlecht verkaf.

== Nowierkung ==
Eréischt no sengem Doud gouf de Rodange wierklech unerkannt. Am Joer 1932 gouf op der Place Guillaume, déi d'Leit just „de Knuedler“ nennen, e Monument fir hien opgeriicht, op deem de Fuuss ze gesinn ass. Vill Schoulkanner liesen haut nach Extraite vum ''Renert'', an de Michel Rodange gëtt dacks als de Klassiker vun der lëtzebuergescher Sprooch bezeechent.

[[Kategorie:Lëtzebuerger Schrëftsteller]]
[[Kategorie:Gebuer 1827]]
[[Kategorie:Gestuerwen 1876]]
"""

SCHUEBERFOUER = """{{Infobox Evenement
| Numm = Schueberfouer
| Plaz = Glacis, Stad Lëtzebuerg
| Zäit = Enn August bis Mëtt September
}}
D''''Schueberfouer''' ass déi gréissten [[Kiermes]] zu Lëtzebuerg. Si fënnt all Joer vun Enn August bis Mëtt September um [[Glacis]] an der [[Stad Lëtzebuerg]] statt an zitt während dräi Wochen iwwer zwou Millioune Visiteuren un, vill méi wéi d'Land Awunner huet.<ref>{{Cite news|titel=Bilan vun der Fouer|zeitung=Luxemburger Wort|joer=2019}}</ref>

== Urspronk ==
D'Fouer geet op e Maart zeréck, deen de Grof [[Jang de Blannen]] am Joer 1340 erlaabt hat. Deemools war et e grousse Maart, op deem Baueren an Händler aus der ganzer Regioun Véi, Stoffer, Wierkzeg an aner Wuere verkaaft hunn. Ënnert de Joerhonnerte ass de Maart ëmmer méi eng Plaz fir ze feieren ginn, a viru gutt honnert Joer sinn déi éischt Karusselen op d'Fouer komm.

== D'Fouer haut ==
Haut stinn um Glacis iwwer zweehonnert Stänn: Achterbunnen, Geeschterbunnen, Autoscooteren, e grousst Riserad an e ganze Koup Buden, wou een Zockerwatt, Mandelen a Lousen kafe kann. Vill Leit ginn awer virun allem op d'Fouer, fir eng ''gebake Fësch'' mat Fritten ze iessen oder fir e Glas Wäi bei engem vun de Bistroen ze drénken, déi nëmmen während der Fouer opmaachen.

== Traditiounen ==
Um éischten Dag gëtt d'Fouer mam ''Hämmelsmarsch'' opgemaach: Museker zéien duerch d'Stroosse vun der Stad, an e puer Schof gi mat. Um leschten Dag gëtt et e Freedefeier. Fir vill Leit gehéiert d'Schueberfouer zum Enn vum Summer wéi de Schoulufank zum Hierscht, an et ginn der, déi keen eenzegen Dag verpassen.

[[Fichier:Schueberfouer Riserad.jpg|thumb|D'Riserad um Glacis]]

[[Kategorie:Fest zu Lëtzebuerg]]
[[Kategorie:Stad Lëtzebuerg]]
"""

JUDD = """{{Infobox Plat
| Numm = Judd mat Gaardebounen
| Land = Lëtzebuerg
}}
'''Judd mat Gaardebounen''' ass e Plat aus der [[Lëtzebuerger Kiche]], deen allgemeng als den [[Nationalplat]] vum Land gëllt. Et ass e gereechert Schwéngshals, dee mat décke Bounen, [[Gromper]]en an enger Zooss mat Speck zerwéiert gëtt.<ref>Ketty Thull, ''Kachbuch'', 1946.</ref>

== Zoubereedung ==
Fir de Judd gëtt d'Fleesch fir d'éischt eng Nuecht laang an kalem Waasser geluecht, fir datt et net ze salzeg ass. Duerno kacht et e puer Stonne lues mat Zalot, Muerten, Zwiwwelen, Päffer a Lorbeerblieder. D'Gaardebounen ginn apart gekacht, mat Bouneschlupp oder Speck a Botter gemëscht a mat gehackter Peterséil bestreet. Den Judd gëtt an décke Schnitten op den Teller geluecht, an d'Bounen an d'Gromperen kommen dernieft.

== Geschicht ==
D'Gaardeboune gouf am Mëttelalter zu Lëtzebuerg vill ugebaut, well se gutt op de schwéiere Buedem vum [[Gutland]] wiisst an net vill Fleeg brauch. Fleesch war deemools rar an deier, an d'Baueren hu Schwéngsfleesch gesalzt an am Kamäi gereechert, fir et iwwer de Wanter ze halen. Esou ass e Plat entstanen, deen de Leit vill Kraaft fir déi schwéier Aarbecht um Feld ginn huet.

== Haut ==
Haut steet de Judd mat Gaardebounen um Menü vu ville Restauranten, virun allem am Summer, wann déi frësch Bounen an de Gäert reif sinn. Am Duerf [[Gilsdorf]] gëtt all Joer e grousst Bounefest organiséiert, bei deem Honnerte vu Leit zesummen iessen. De Plat gëtt gären mat engem Glas [[Musel]]wäin oder engem lëtzebuergesche Béier zerwéiert.

{| class="wikitable"
|+ Wat an de Judd kënnt
! Zoutat !! Quantitéit
|-
| Schwéngshals || 1 kg
|-
| Gaardebounen || 1,5 kg
|}

[[Kategorie:Lëtzebuerger Kiche]]
"""

KACHKEIS = """{{Infobox Plat
| Numm = Kachkéis
| Land = Lëtzebuerg
}}
De '''Kachkéis''' (op Franséisch ''cancoillotte'') ass e mëllen, flëssege Kéis, deen zu Lëtzebuerg an an der [[Franche-Comté]] geiess gëtt. Hien ass gielzeg a bal duerchsichteg, an hien huet nëmme ganz wéineg Fett, well en aus Mëllech gemaach gëtt, där hire Rumm virdrun ofgeschëpft gouf.<ref>{{Cite web|url=https://www.produitduterroir.lu|titel=Produit du terroir}}</ref>

== Hierstellung ==
Fir Kachkéis ze maachen, léisst een d'Mëllech fir d'éischt zu engem décke Quark gerannen. Dëse Quark gëtt zerbrach, e puer Deeg gelagert, bis e gelb gëtt a reift, an da mat Waasser, Botter an enger Prise Salz lues waarm gemaach, bis eng glat, flësseg Mass entsteet. Vill Famillen hu fréier hire Kachkéis selwer an der Kichen gemaach, haut kaaft een en meeschtens am Geschäft.

== Iessen ==
De Kachkéis gëtt kal oder lauwarm op e Stéck frëscht Brout gestrach. Vill Leit iessen e mat Moschter, anerer mat Zwiwwelen, Knuewelek oder mat enger Gromper an der Schuel. Am Wanter gëtt en och gär waarm gemaach an iwwer gekachte Gromperen oder iwwer e Stéck Fleesch gegoss. Well de Kéis esou wéineg Fett huet, gëllt en och als liicht Iessen fir owes.

== Traditioun ==
Zu Lëtzebuerg huet de Kachkéis de Statut vun engem traditionelle Produkt, an d'Molkereie vum Land verkafen e mat verschiddene Goûten, zum Beispill mat Knuewelek, mat Wäin oder mat Kraider. Fir vill Lëtzebuerger, déi am Ausland wunnen, ass e Glas Kachkéis dat éischt, wat si kafen, wa si heem kommen. An de Schoulkantinne gëtt en ëmmer rem zerwéiert, an all Kand weess, wéi e schmaacht.

[[Kategorie:Lëtzebuerger Kiche]]
[[Kategorie:Kéis]]
"""

LONDONER_VERTRAG = """{{Infobox Vertrag
| Numm = Londoner Vertrag vun 1867
| Ënnerschrëft = 11. Mee 1867
| Plaz = London
}}
De '''Londoner Vertrag''' vum [[11. Mee]] [[1867]] ass en internationale Vertrag, deen d'Neutralitéit vum [[Groussherzogtum Lëtzebuerg]] festgeluecht huet. E gëllt als ee vun de wichtegste Momenter an der Geschicht vum Land, well en de Wee fir déi spéider Onofhängegkeet opgemaach huet.<ref>Gilbert Trausch, ''Histoire du Luxembourg'', 1992.</ref>

== Virgeschicht ==
No dem Enn vum [[Däitsche Bond]] am Joer 1866 wollt de [[Napoléon III.|franséische Keeser Napoléon III.]] Lëtzebuerg vum hollännesche Kinnek [[Wëllem III.]] kafen, deen zu där Zäit och Groussherzog vu Lëtzebuerg war. Preisen huet dat net akzeptéiert, well an der Festung Lëtzebuerg zënter 1815 preisesch Zaldote stoungen. Déi sougenannt [[Lëtzebuerger Kris]] huet Europa séier un de Rand vun engem Krich bruecht.

== De Vertrag ==
Fir e Krich ze verhënneren, hunn d'Groussmuechten sech am Mee 1867 zu [[London]] getraff. Si hunn decidéiert, datt Lëtzebuerg en onofhängegt a fir ëmmer neutraalt Land gëtt, dat vun all den Ënnerzeechner garantéiert gëtt. D'preisesch Garnisoun huet d'Stad missen eidel maachen, an d'Festung sollt ofgerappt ginn. De Groussherzog blouf awer weiderhin och Kinnek vun Holland.

== Folgen ==
An de Joren duerno goufen d'Mauere vun der Festung zum gréissten Deel ofgerappt, a well doduerch vill Plaz fräi gouf, konnt d'Stad iwwer hir al Grenzen eraus wuessen. D'Kasematten am Fiels bleiwen awer bestoen an ziele bis haut zum [[UNESCO]]-Weltierwen. D'Neutralitéit huet d'Land am [[Éischte Weltkrich]] an am [[Zweete Weltkrich]] net virun enger däitscher Besetzung geschützt; dowéinst huet Lëtzebuerg se am Joer 1948 opginn.

[[Kategorie:Geschicht vu Lëtzebuerg]]
[[Kategorie:Vertrag]]
"""

SPRANGPRESSIOUN = """{{Infobox Evenement
| Numm = Sprangprëssioun
| Plaz = Iechternach
}}
D''''Sprangprëssioun''' ass eng reliéis [[Prëssioun]], déi all Joer um [[Péngschtdënschdeg]] zu [[Iechternach]] stattfënnt. Si gëtt zu Éiere vum hellege [[Willibrord]] gefeiert, deem säi Graf an der Basilika vun der Stad läit, an zënter 2010 steet si op der Lëscht vum immaterielle Kulturierwen vun der [[UNESCO]].<ref name="unesco">UNESCO, Décisioun 5.COM, 2010.</ref>

== Oflaf ==
Muerges fréi versammele sech Dausende vu Pilger a Visiteuren un der Sauerbréck. D'Sprénger halen sech a Reie vu véier oder fënnef Leit u wäisse Nuesschnappecher fest a sprangen am Takt vun enger aler Melodie vum lénke Fouss op de rietse Fouss duerch d'Stroosse vun der Stad bis bei d'Graf vum Hellegen. D'Musek spillt déiselwecht kuerz Melodie ouni Paus, heiansdo méi wéi dräi Stonne laang, bis déi lescht Grupp an der Basilika ukomm ass.

== Geschicht ==
Déi éischt schrëftlech Spure vun der Prëssioun ginn op d'15. Joerhonnert zeréck, mä vill Historiker mengen, datt d'Traditioun nach méi al ass. Déi kierchlech Autoritéiten hunn d'Sprangen a verschiddene Joerhonnerten als ze wëll ugesinn a wollten et verbidden, awer d'Leit aus der Regioun hunn hir Prëssioun ëmmer erëm verdeedegt. Fréier koumen d'Pilger zu Fouss aus der [[Eifel]], aus dem [[Éislek]] an aus [[Lothréngen]], fir beim Willibrord ëm Hëllef géint Krankheeten ze bieden.

== Haut ==
Haut maache jiddwer Joer ronn zéngdausend Leit bei der Sprangprëssioun mat, an et komme vill Touristen, fir se ze kucken. Schoulen, Veräiner a Musikgesellschafte vum ganze Land schécken hir Gruppen, an de Moien ass d'Stad sou voll, datt d'Bussen a Gefierer d'Leit schonn um Rand vun der Stad ofsetze mussen.

[[Kategorie:Iechternach]]
[[Kategorie:Traditioun zu Lëtzebuerg]]
"""

EISLEK = """{{Infobox Regioun
| Numm = Éislek
| Fläch = 828
}}
D''''Éislek''' ass den nërdlechen Deel vu [[Lëtzebuerg]] an e Stéck vun de [[Ardennen]]. D'Regioun bedeckt ongeféier en Drëttel vun der Fläch vum Land, mä et wunnt nëmmen ee klengen Deel vun der Bevëlkerung do. Si gëtt vum [[Gutland]] am Süden duerch eng Linn getrennt, déi ongeféier vu [[Réiden]] iwwer [[Ettelbréck]] bis bei [[Iechternach]] geet.

== Landschaft ==
[[Fichier:Eislek Landschaft.jpg|thumb|Déif Dällere bei Esch-Sauer]]
D'Éislek ass e Plateau, deen op 400 bis 560 Meter Héicht läit an an deen d'Flëss déif Dällere gegruewen hunn. Op den Héichte gëtt et vill Wisen a Felder, an den Dällere stinn donkel Bëscher aus Eechen, Bichen a Fiichten. Den héichste Punkt vum Land, d'[[Kneiff]] bei [[Wilwerdang]], ass 560 Meter héich. D'Klima ass méi rau wéi am Süden: am Wanter läit dacks Schnéi, an d'Fréijoer kënnt e puer Woche méi spéit.

== Wirtschaft ==
Laang Zäit war d'Éislek eng aarm Géigend, wou d'Leit vun enger schwéierer Landwirtschaft gelieft hunn, a vill Famillen sinn am 19. Joerhonnert an Amerika ausgewandert. Am 20. Joerhonnert ass mam [[Stauséi vun Esch-Sauer|Stauséi]] bei [[Esch-Sauer]] eng wichteg Quell fir d'Drénkwaasser vum Land entstanen. Haut liewen d'Dierfer ëmmer méi vum Tourismus: Wanderweeër, Vëlosweeër, Camping an al Buergen wéi [[Schlass Clierf|Clierf]], [[Buerg Bourscheid|Bourscheid]] a [[Schlass Wolz|Wolz]] zéien all Joer vill Visiteuren un.

== Sprooch ==
Am Éislek schwätzt een en eegene Lëtzebuerger Dialekt, deen e puer Wierder a Lauter anescht ausschwätzt wéi d'Leit an der Stad. Am ''Renert'' vum [[Michel Rodange]] schwätzen e puer Déieren dësen Dialekt, wat d'Lieser bis haut amuséiert.

[[Kategorie:Regioun zu Lëtzebuerg]]
"""

MUSEL = """{{Infobox Floss
| Numm = Musel
| Längt = 544
}}
D''''Musel''' ass e [[Floss]] a [[Frankräich]], zu [[Lëtzebuerg]] an an [[Däitschland]]. Op enger Längt vu ronn 40 Kilometer bilt si d'Grenz tëscht Lëtzebuerg an Däitschland, vu [[Schengen]] am Süde bis [[Waasserbëlleg]] am Norden, wou d'[[Sauer]] an d'Musel fléisst.<ref>{{Cite book|titel=D'Musel|joer=2015}}</ref>

== Wäibau ==
Laanscht déi lëtzebuergesch Musel leien d'[[Wäibierg]]er vum Land op den Hänk, déi no Süden oder no Oste weisen. D'Réimer hunn hei schonn Drauwe geplanzt, an de Wäibau ass bis haut déi wichtegst Aktivitéit vun den Dierfer laanscht de Floss. Déi bekanntste Wäiner sinn de [[Rivaner]], de [[Riesling]], den [[Auxerrois]] an de [[Pinot gris]], an de [[Crémant de Luxembourg|Crémant]] vun der Musel gëtt och am Ausland gär gedronk.

== Schengen ==
Um Floss beim Duerf [[Schengen]] gouf am Joer 1985 op dem Schëff ''Princesse Marie-Astrid'' den [[Schengener Ofkommes]] ënnerschriwwen. Dëse Vertrag huet Schrëtt fir Schrëtt d'Kontrollen un de Grenzen tëscht ville Länner vun Europa ofgeschaaft. Am Duerf erënnert haut e Musée un dee Moment, an all Joer kommen Dausende vu Visiteuren, fir sech virun de Stèlen um Ufer fotograféieren ze loossen.

== Schëffaart a Fräizäit ==
Zënter 1964 gëtt d'Musel mat Schleisen zu [[Stadbriedemes]] an zu [[Gréiwemaacher]] fir grouss Schëffer befuerbar gehal. Am Summer fueren Ausfluchsschëffer tëscht de Wäidierfer hin an hier, a laanscht d'Ufer féiert e Vëlosbunn, déi vill Famillen de Weekend notzen. All Hierscht feieren d'Dierfer d'Enn vun der Wäilies mat Wäifester a Cortègen.

[[Kategorie:Floss zu Lëtzebuerg]]
[[Kategorie:Musel]]
"""

BOUNESCHLUPP = """{{Infobox Plat
| Numm = Bouneschlupp
| Land = Lëtzebuerg
}}
D''''Bouneschlupp''' ass eng déck [[Zopp]] aus grénge Bounen, Gromperen, Zwiwwelen a Speck, déi zu de bekanntste Platen aus der [[Lëtzebuerger Kiche]] gehéiert. Si gëtt dacks als Haaptplat giess, well se esou vill Kraaft gëtt, datt ee fir de Rescht vum Dag keen Honger méi huet.<ref>{{Cite book|titel=Lëtzebuerger Kachbuch|joer=1988}}</ref>

== Rezept ==
Fir eng gutt Bouneschlupp schneit een d'Bounen a kleng Stécker, d'Gromperen a Wierfelen an d'Zwiwwelen a fein Rénger. De Speck gëtt an engem groussen Dëppe gebroden, bis e knusprech ass, da kommen d'Zwiwwelen derbäi. Duerno gëtt alles mat Waasser oder Bouillon iwwergoss a laang gekacht. Kuerz virum Enn gëtt e bësse Ram derbäigemaach, an e puer Leit mengen, datt eng Bouneschlupp ouni eng gerëselt Mettwurscht keng richteg Bouneschlupp ass.

== Eng Zopp fir de Wanter ==
An de Bauerenhaiser war d'Bouneschlupp laang en typescht Iessen fir de Wanter: d'Bounen goufen am Summer geplanzt, am Hierscht gelies an an Dëppe mat Salz konservéiert. Esou hat d'Famill och an de kale Méint eppes Grénges um Dësch. Haut iesse vill Leit d'Zopp d'ganzt Joer iwwer, an et ginn Veräiner, déi fir hir Fester Dausende vu Portioune kachen.

== Ähnlech Platen ==
Eng ähnlech Zopp gëtt et och an der [[Eifel]] an a [[Lothréngen]], mä do gëtt se dacks mat anere Geméis an ouni Ram gemaach. Zu Lëtzebuerg gëtt d'Bouneschlupp meeschtens mat engem Stéck Bauerenbrout an engem Glas Wäi oder Béier zerwéiert, an et gëtt gesot, datt se den Dag drop nach besser schmaacht.

[[Kategorie:Lëtzebuerger Kiche]]
[[Kategorie:Zopp]]
"""

# --- near duplicate of KACHKEIS (two words changed) and exact duplicate of MUSEL ---------

KACHKEIS_NEAR = KACHKEIS.replace("mëllen, flëssege Kéis", "mëllen, cremege Kéis").replace(
    "gëllt en och als liicht Iessen", "gëllt en och als gesond Iessen"
)

# --- 2 list articles (>= 750 chars of text, dropped by the page-kind filter) ---------------

LESCHT_GEMENGEN = """Dës '''Lëscht vun de Gemengen am Kanton Réiden''' gëtt en Iwwerbléck iwwer all d'[[Gemeng (Lëtzebuerg)|Gemengen]] vum [[Kanton Réiden]] am Westen vu [[Lëtzebuerg]], mat hiren Uertschaften an enger kuerzer Beschreiwung. D'Zuele vun den Awunner sinn ongeféier Wäerter.<ref>Statec, ''Population par commune'', 2023.</ref>

== Gemengen ==
* [[Beckerech]]: grouss Gemeng mat de Proprietéiten [[Elwen]], [[Hovelange]] an [[Noerdange]], bekannt fir hir Mëllechbetriber an hir nei Wunnquartieren.
* [[Ell]]: kleng Gemeng un der belscher Grenz mat den Dierfer [[Ell]], [[Colpach-Bas]], [[Colpach-Haut]] a [[Rolling]]; d'Schlass Colpach gehéiert dem Roude Kräiz.
* [[Gréiwels]]: Gemeng am Norde vum Kanton mat hire Bëscher an de Quelle vun der [[Äischer]].
* [[Préizerdaul]]: Gemeng mat de Sektiounen [[Bettbuer]], [[Platen]], [[Pratz]] a [[Reimberg]], wou eng schéi Kapell um Bierg steet.
* [[Rammerech]]: Gemeng laanscht d'Autobunn mat Betriber aus der Landwirtschaft an aus dem Handwierk.
* [[Réiden]]: Haaptuert vum Kanton mat Schoulen, Geschäfter an engem Kulturzentrum, wou Concerte stattfannen.
* [[Saeul]]: kleng Gemeng mat ronn dausend Awunner an engem bekannten alen Haff am Duerfkär.
* [[Useldeng]]: Gemeng mat enger Buerg aus dem Mëttelalter, déi vu Fräiwëllege restauréiert gouf.
* [[Vichten]]: Gemeng, wou am Joer 1995 e grousst réimescht Mosaik mat de nénge Musen entdeckt gouf.
* [[Wal]]: Gemeng mat den Dierfer [[Wal]] a [[Schwebach]] an der Géigend vun der [[Attert]].

== Kuckt och ==
* [[Kanton Réiden]]
* [[Lëscht vun de Gemengen zu Lëtzebuerg]]

[[Kategorie:Lëscht (Lëtzebuerg)|Gemengen Reiden]]
[[Kategorie:Kanton Réiden]]
"""

LESCHT_BUERGEN = """Dës '''Lëscht vu Buergen a Schlässer zu Lëtzebuerg''' zielt e puer vun de bekanntste [[Buerg]]en a [[Schlass|Schlässer]] am [[Groussherzogtum Lëtzebuerg]] op, no de Regiounen, an deenen se leien. Vill vun hinne kann ee besichen.

== Éislek ==
* [[Schlass Veianen]]: grouss Buerg iwwer der Our, restauréiert zënter 1977 a vu Visiteure vum ganze Land besicht.
* [[Buerg Bourscheid]]: déi gréissten Ruin vum Land op engem Fiels iwwer der Sauer.
* [[Schlass Clierf]]: Schlass an der Mëtt vun der Stad, an deem eng bekannt Fotosausstellung gewise gëtt.
* [[Schlass Wolz]]: Schlass iwwer der Stad mat engem Muséeshaus fir d'Brauerei an d'Ardennenoffensiv.
* [[Buerg Esch-Sauer]]: Ruin op engem schmuele Fielsgrot iwwer dem Duerf.

== Gutland ==
* [[Schlass Beefort]]: eng al Buerg an en neit Schlass nieftenee, wou och e Likör aus Kasseeler gemaach gëtt.
* [[Schlass Ansebuerg]] an [[Neischlass Ansebuerg]]: zwee Schlässer am Dall vun de Siwe Schlässer.
* [[Schlass Mersch]]: Schlass an der Mëtt vu Miersch, wou haut d'Gemengeverwaltung hire Sëtz huet.
* [[Buerg Useldeng]]: Ruin mat engem Tuerm, vun deem een iwwer d'Dall vun der Attert kuckt.

== Minett a Musel ==
* [[Schlass Bettebuerg]]: Sëtz vun der Gemeng Bettebuerg an engem grousse Park.
* [[Schlass Stadbriedemes]]: Schlass un der Musel mat engem Wäibetrib.

[[Kategorie:Lëscht (Lëtzebuerg)|Buergen]]
[[Kategorie:Buerg zu Lëtzebuerg]]
"""

# --- 2 disambiguation pages --------------------------------------------------------------

MAMER_HOMONYMIE = """'''Mamer''' ka verschidde Saache bedeiten:

* [[Mamer (Gemeng)|Mamer]], eng Gemeng am Kanton Capellen
* [[Mamer (Floss)|Mamer]], e Floss, deen zu Miersch an d'Uelzecht fléisst
* [[Lycée Josy Barthel Mamer]], e Lycée zu Mamer

{{Homonymie}}
"""

CLAUSEN_DISAMBIG = """__DISAMBIG__
'''Clausen''' steet fir:

* [[Clausen (Stad Lëtzebuerg)|Clausen]], e Quartier an der Stad Lëtzebuerg am Dall vun der Uelzecht
* [[Clausen (Rheinland-Pfalz)]], eng Gemeng an Däitschland
* [[Brauerei Clausen]], eng fréier Brauerei

[[Kategorie:Homonymie]]
"""

# --- 2 stubs (stub template from the config default list + short text) ---------------------

KNEIFF_STUB = """D''''Kneiff''' ass mat 560 Meter den héchste Punkt vu [[Lëtzebuerg]]. Si läit bei [[Wilwerdang]] an der Gemeng [[Tréientaler Bierg]], net wäit vun der belscher Grenz.

{{Skizz}}

[[Kategorie:Bierg zu Lëtzebuerg]]
"""

BLASCHENT_STUB = """'''Blaaschent''' ass en Duerf an der Gemeng [[Colmer-Bierg]] am [[Kanton Miersch]]. Am Duerf wunnen ongeféier 250 Leit.

{{Stub|Geographie}}

[[Kategorie:Uertschaft zu Lëtzebuerg]]
"""

# --- 2 short articles (< 750 chars of text, kind "article", dropped by min length) ---------

KAUTEBAACH_SHORT = """'''Kautebaach''' ass en Duerf an der Gemeng [[Wolz]] am Norde vu [[Lëtzebuerg]]. Et läit am Dall vun der [[Wolz (Floss)|Wolz]], wou d'Baach an d'Sauer fléisst, a gëtt virun allem vu Wanderer a vu Fëscher besicht. Fréier gouf et hei eng Schifermin, an deenen hir Gebaier ee bis haut nach gesäit.

[[Kategorie:Uertschaft zu Lëtzebuerg]]
"""

GAARDEBOUNEFEST_SHORT = """{{Infobox Evenement
| Numm = Bounefest
}}
D''''Bounefest''' ass e Fest, dat all Joer am Juli zu [[Gilsdorf]] gefeiert gëtt. Do gëtt de [[Judd mat Gaardebounen]] fir Honnerte vu Leit gekacht, an eng Musek spillt bis owes spéit.<ref>Gemeng Bettenduerf, 2020.</ref>

[[Kategorie:Fest zu Lëtzebuerg]]
"""

# --- other namespaces (dropped by the reader) ------------------------------------------------

TEMPLATE_INFOBOX = """<includeonly>{| class="infobox"
! {{{Numm}}}
|-
| Kanton || {{{Kanton|}}}
|}</includeonly><noinclude>Dës Schabloun weist eng Infobox fir Gemengen.
[[Kategorie:Schabloun Infobox]]</noinclude>
"""

TEMPLATE_SKIZZ = """''Dësen Artikel ass eng Skizz. Hëlleft mat, fir e méi komplett ze maachen.''<noinclude>
[[Kategorie:Skizz-Schablounen]]</noinclude>
"""

CATEGORY_KICHE = """Artikelen iwwer d'Platen an d'Iessgewunnechte vu [[Lëtzebuerg]].

[[Kategorie:Kultur zu Lëtzebuerg]]
"""

MODULE_INFOBOX = """local p = {}

function p.main(frame)
    return "Infobox"
end

return p
"""

FILE_PAGE = """== Beschreiwung ==
D'Gare vun Ettelbréck, fotograféiert am Summer 2019.

== Lizenz ==
{{cc-by-sa-4.0}}
"""

# Each page: id, ns, title, text, optional redirect target (<redirect title=...> element).
PAGES: list[dict] = [
    {"id": 101, "ns": 0, "title": "Ettelbréck", "text": ETTELBRECK},
    {"id": 102, "ns": 0, "title": "Uelzecht", "text": UELZECHT},
    {"id": 103, "ns": 0, "title": "Veianen", "text": VIANDEN},
    {"id": 104, "ns": 0, "title": "Michel Rodange", "text": RODANGE},
    {"id": 105, "ns": 0, "title": "Schueberfouer", "text": SCHUEBERFOUER},
    {"id": 106, "ns": 0, "title": "Judd mat Gaardebounen", "text": JUDD},
    {"id": 107, "ns": 0, "title": "Kachkéis", "text": KACHKEIS},
    {"id": 108, "ns": 0, "title": "Londoner Vertrag vun 1867", "text": LONDONER_VERTRAG},
    {"id": 109, "ns": 0, "title": "Sprangprëssioun", "text": SPRANGPRESSIOUN},
    {"id": 110, "ns": 0, "title": "Éislek", "text": EISLEK},
    {"id": 111, "ns": 0, "title": "Musel", "text": MUSEL},
    {"id": 112, "ns": 0, "title": "Bouneschlupp", "text": BOUNESCHLUPP},
    {"id": 201, "ns": 0, "title": "Kachkéis (Iessen)", "text": KACHKEIS_NEAR},
    {"id": 202, "ns": 0, "title": "Musel (Floss)", "text": MUSEL},
    {"id": 301, "ns": 0, "title": "Lëscht vun de Gemengen am Kanton Réiden", "text": LESCHT_GEMENGEN},
    {"id": 302, "ns": 0, "title": "Lëscht vu Buergen a Schlässer zu Lëtzebuerg", "text": LESCHT_BUERGEN},
    {"id": 401, "ns": 0, "title": "Mamer", "text": MAMER_HOMONYMIE},
    {"id": 402, "ns": 0, "title": "Clausen", "text": CLAUSEN_DISAMBIG},
    {"id": 501, "ns": 0, "title": "Kneiff", "text": KNEIFF_STUB},
    {"id": 502, "ns": 0, "title": "Blaaschent", "text": BLASCHENT_STUB},
    {"id": 601, "ns": 0, "title": "Kautebaach", "text": KAUTEBAACH_SHORT},
    {"id": 602, "ns": 0, "title": "Bounefest", "text": GAARDEBOUNEFEST_SHORT},
    # redirects: magic words (upper case, mixed case, no space before [[) and the element alone
    {"id": 701, "ns": 0, "title": "Alzette", "text": "#VIRULEEDUNG [[Uelzecht]]", "redirect": "Uelzecht"},
    {"id": 702, "ns": 0, "title": "Vianden", "text": "#Weiterleitung [[Veianen]]\n\n[[Kategorie:Viruleedung]]"},
    {"id": 703, "ns": 0, "title": "Mosel", "text": "#REDIRECT[[Musel]]"},
    {"id": 704, "ns": 0, "title": "Cancoillotte", "text": "#RENVOI [[Kachkéis]]", "redirect": "Kachkéis"},
    # other namespaces
    {"id": 801, "ns": 10, "title": "Schabloun:Infobox Gemeng", "text": TEMPLATE_INFOBOX},
    {"id": 802, "ns": 10, "title": "Schabloun:Skizz", "text": TEMPLATE_SKIZZ},
    {"id": 803, "ns": 14, "title": "Kategorie:Lëtzebuerger Kiche", "text": CATEGORY_KICHE},
    {"id": 804, "ns": 828, "title": "Modul:Infobox", "text": MODULE_INFOBOX},
    {"id": 805, "ns": 6, "title": "Fichier:Ettelbreck Gare.jpg", "text": FILE_PAGE},
]
