//! Dutch. Separable verbs come apart ("Geef de sats vrij", "Maak het geld over"), so they are
//! phrases with a gap; past forms end in "-de", "-te" or "-d", and participles with "ge-" share
//! no prefix with the verb.

use super::Language;

pub(super) const DUTCH: Language = Language {
    code: "nl",
    fund_actions: "vrijgev*, vrijgeg*, vrijgav*, vrijgave*, vrij ... te ... geven, geef ... vrij, geeft ... vrij, \
        geven ... vrij, gaf ... vrij, ontgrendel*, deblokk*, terugbeta*, terugbetal*, betaal ... terug, \
        betaalt ... terug, betalen ... terug, terugstort*, stort ... terug, uitbeta*, uitbetal*, betaal ... uit, \
        betalen ... uit, geef ... terug, geeft ... terug, geven ... terug, teruggev*, restitu*, vrijmak*, \
        maak ... vrij, maakt ... vrij, uitker*, keer ... uit, keert ... uit",
    closing_actions: "annuleer*, annuler*, trek ... in, trekt ... in, trekken ... in, intrek*, ingetrokken, \
        zie* ... af, afzien, breek ... af, breekt ... af, afbrek*, afgebroken, herroep*",
    closing_verbs: "sluit*, gesloten, beeindig*, rond ... af, rondt ... af, afrond*, afgerond, los ... op, \
        lost ... op, oplos*, opgelost, handel ... af, afhandel*, afgehandeld, stop, stopt, stoppen, gestopt",
    dispute_nouns: "geschil*, dispuut*, zaak, zaken, claim*, klacht*, order*, bestelling*, conflict*, ruil*, \
        deal*, ticket*, melding*",
    transfer_verbs: "betaal*, betal*, maak ... over, maakt ... over, maken ... over, overmak*, stort*, \
        overschrijv*, schrijf ... over, schrijft ... over, klik*, tik*, druk ... op, drukt ... op, keur* ... goed, \
        goedkeur*, vereffen*",
    transfer_past: "overgemaakt, gestort, overgeschreven, betaald, goedgekeurd",
    send_verbs: "stuur*, stur*, verstuur*, verstur*, zend*, verzend*, geef, geeft, geven, doorstur*, \
        stuur ... door, overhandig*, overdra*, draag ... over, draagt ... over",
    send_past: "gaf, gaven, gegeven, gestuurd, verzonden, doorgestuurd, overhandigd",
    light_verbs: "doe, doet, doen, voer ... uit, voert ... uit, uitvoer*, verricht*, regel, regelt, regelen",
    light_past: "gedaan, uitgevoerd, verricht, geregeld",
    money_nouns: "betaling*, overboeking*, overschrijving*, storting*, geld, fondsen, contant*, transactie*, \
        tikkie*, ideal",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, crypto*",
    evidence_nouns: "bewijs*, screenshot*, schermafbeelding*, foto*, afbeelding*, bon, bonnetje*, kwitantie*, \
        afschrift*, rekeningafschrift*, bankafschrift*, bevestiging*, referentie*, kenmerk*, omschrijving*, \
        gegevens, details, datum*, tijd, tijdstip*, nummer*, naam*, informatie*, info, document*, kopie*, \
        geschiedenis*, bericht*, email*, code*, id, toelichting*, uitleg*, betalingsbewijs*, betaalbewijs*",
    unrelated: "stortbui*, betalingsmiddel*",
    past_endings: "de, den, te, ten, d",
    past_auxiliaries: "heb, hebt, heeft, hebben, had, hadden, is, zijn, was, waren, werd, werden, al",
    breakers: "kun, kunt, kunnen, kan, zou, zouden, zal, zult, zullen, moet, moeten, moest, wil, wilt, willen, \
        graag, alstublieft, alsjeblieft, gaat, gaan, mag, mogen, hoeft, hoeven, wordt, worden",
    negations: "niet, nooit, geen",
    conjunctions: "en, of, ook, daarna, dan, maar",
    roles: "beheerder*, administrator*, admin*, scheidsrechter*, arbiter*, rechter*, moderator*, bemiddelaar*, \
        mediator*, solver*",
    rulings: "besloten, beslist, geoordeeld, uitspraak*, vonnis*, oordeel*, in het voordeel van, ten gunste van, \
        mijn beslissing, onze beslissing, definitieve beslissing, besluit, besluiten",
    outcomes: "houdt, houden, behoudt, behouden, wint, winnen, won, gewonnen, verliest, verloren, krijgt ... terug",
    ..Language::EMPTY
};
