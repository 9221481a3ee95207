"""Wikitext that mwparserfromhell cannot fully parse, as seen in kept lbwiki seeds (issue 14):
an infobox whose closing braces are missing, bold around a title with an apostrophe, bold left
open, an unclosed table, an unclosed reference. Written for these tests.

Each item: (name, wikitext, the plain text expected).
"""

PAGES: list[tuple[str, str, str]] = [
    (
        "unclosed infobox",
        "{{Infobox Gemeng\n| Numm = Mamer\n| Awunner = 9.000\n| Kaart = [[Fichier:Mamer.png|200px]]\n\n"
        "'''Mamer''' ass eng Gemeng am Kanton Capellen.",
        "Mamer ass eng Gemeng am Kanton Capellen.",
    ),
    (
        "infobox with a nested template left open",
        "{{Infobox Persoun|Numm={{Lang|lb|Michel Rodange}}\n|Gebuer=1827\n"
        "De '''Michel Rodange''' war e Schrëftsteller.\n\nSäi bekanntst Wierk ass de Renert.",
        "De Michel Rodange war e Schrëftsteller.\n\nSäi bekanntst Wierk ass de Renert.",
    ),
    (
        "stray closing braces",
        "{{Infobox\n|a=1\n}}}\n'''D'Uelzecht''' ass e Floss.",
        "D'Uelzecht ass e Floss.",
    ),
    (
        "bold around a title with an apostrophe",
        "'''D'Stad Lëtzebuerg''' an '''d'Belsch''' an '''Ben's Café''' an D''''Uelzecht'''.",
        "D'Stad Lëtzebuerg an d'Belsch an Ben's Café an D'Uelzecht.",
    ),
    (
        "bold left open on its line",
        "'''Titel''' ass '''net zougemaach.\n\nNächsten Abschnitt mat '''Fett'''.",
        "Titel ass net zougemaach.\n\nNächsten Abschnitt mat Fett.",
    ),
    (
        "unclosed table",
        "Virdrun.\n{| class=\"wikitable\"\n! Joer !! Awunner\n|-\n| 1900 || 3.000\n|-\n| 2020 || 9.000\n\nDuerno.",
        "Virdrun.\n\nDuerno.",
    ),
    (
        "unclosed reference",
        "E Saz mat enger Quell.<ref>{{Internetquell|url=https://example.lu}}\n\nNächste Paragraph.",
        "E Saz mat enger Quell.\n\nNächste Paragraph.",
    ),
    (
        "link left open inside a template remnant",
        "{{Coord|49|N|6|E\nD'Gemeng läit am [[Westen vum Land.\n\nSi huet [[Mamer|eng Gemeng]] als Noper.",
        "D'Gemeng läit am Westen vum Land.\n\nSi huet eng Gemeng als Noper.",
    ),
    (
        "html left around a template",
        "<div style=\"float:right\">{{Infobox\n|a=1</div>}}\nD'Musel ass e Floss.",
        "D'Musel ass e Floss.",
    ),
]
