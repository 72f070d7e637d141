//! German. Separable verbs come apart in questions ("Geben Sie die Sats frei?"), so they are
//! phrases with a gap; participles with "ge-" share no prefix with the verb and pass, as do
//! "überwiesen" (not "überweisen") and the nouns "Zahlung", "Überweisung".

use super::Language;

pub(super) const GERMAN: Language = Language {
    code: "de",
    fund_actions: "freigeb*, freigab*, freigegeb*, freizugeb*, gib ... frei, gibst ... frei, geben ... frei, \
        gebt ... frei, gebe ... frei, freischalt*, entsperr*, erstatt*, ruckerstatt*, zuruckerstatt*, \
        zahlen ... zuruck, zahle ... zuruck, zuruckzahl*, ruckzahl*, auszahl*, ausgezahl*, auszuzahl*, \
        zahlen ... aus, zahle ... aus, zahlst ... aus, zahlt ... aus, gib ... zuruck, geben ... zuruck, zuruckgeb*, zuruckzugeb*, auslos*, losen ... aus, lose ... aus, freilass*, \
        uberlass*, entriegel*",
    closing_actions: "storn*, annull*, ziehen ... zuruck, zieh ... zuruck, ziehe ... zuruck, zuruckzieh*, \
        zuruckgezog*, zuruckzuzieh*, nehmen ... zuruck, nimm ... zuruck, zurucknehm*, zuruckgenomm*, \
        brechen ... ab, brich ... ab, abbrech*, abgebroch*, abzubrech*, widerruf*, verzicht*",
    closing_verbs: "schliess*, schlies*, geschlossen, beend*, abschliess*, abgeschlossen, erledig*, lose, losen, \
        beileg*, beigeleg*, einstell*, eingestellt",
    dispute_nouns: "streit*, disput*, fall, falles, handel*, auftrag*, bestellung*, reklamation*, beschwerde*, \
        konflikt*, angelegenheit*, order*, trade*, verfahren*, sache",
    transfer_verbs: "uberweis*, zahl*, bezahl*, einzahl*, transferier*, begleich*, ubertrag*, gutschreib*, tippen, tippe, tippst, klick*, \
        genehmig*",
    send_verbs: "send*, schick*, ubermittel*, ubergeb*, gib, gibst, geben, gebt, leit* ... weiter, weiterleit*",
    send_past: "gab, gaben, ubergab*",
    light_verbs: "machen, mache, macht, machst, leist*, tatig*, veranlass*, durchfuhr*, vornehm*, ausfuhr*, vollzieh*, tun",
    light_past: "getatigt, geleistet, veranlasst, durchgefuhrt, vorgenommen, gemacht, ausgefuhrt, getan",
    money_nouns: "zahlung*, uberweisung*, geld*, einzahlung*, fiat, bargeld*, transaktion*, mittel, \
        gutschrift*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, krypto*, treuhand*, escrow*",
    evidence_nouns: "beleg*, nachweis*, quittung*, screenshot*, bildschirmfoto*, foto*, bild, bilder, kontoauszug*, \
        bestatigung*, referenz*, verwendungszweck*, datum*, uhrzeit*, zeitpunkt*, nummer*, name, namen, angabe*, \
        information*, info, infos, details, einzelheit*, dokument*, kopie*, verlauf*, nachricht*, email*, \
        code*, id, zahlungsbeleg*, zahlungsnachweis*, zahlungsbestatigung*, uberweisungsbeleg*, \
        uberweisungsbestatigung*, uberweisungsnachweis*, erklarung*, erlauterung*, auszug*",
    unrelated: "sendung*, zahlreich*, oder",
    past_endings: "t, te, ten, test, tet, tes",
    past_auxiliaries: "haben, hat, habt, hast, hatte, hatten, hattest, wurde, wurden, wurdest, ist, sind, war, \
        waren, bereits, schon",
    breakers: "konn*, kann, kannst, muss*, musst*, mussen, soll*, woll*, will, willst, werd*, wird, wirst, \
        mocht*, bitte, darf*, durft*, brauch*",
    negations: "nicht, nie, niemals, kein*",
    conjunctions: "und, oder, dann, auch, aber, sowie, danach",
    roles: "richter*, schiedsrichter*, administrator*, admin*, moderator*, schlichter*, vermittler*, mediator*, \
        solver*, gericht*",
    rulings: "entschieden, entscheide, entscheiden wir, urteil*, schiedsspruch*, zugunsten, zu gunsten, \
        meine entscheidung, unsere entscheidung, endgultig* entscheidung, beschlossen, beschliesse*",
    outcomes: "behalt*, gewinn*, gewonn*, verlier*, verlor*, erhalt ... zuruck, steh* ... zu",
    ..Language::EMPTY
};
