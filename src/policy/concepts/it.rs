//! Italian. Roots take their enclitics ("rilasciali", "inviaglieli") as a long ending; past
//! participles ("-ato", "-ito") after "hai"/"ha" tell fact from request.

use super::Language;

pub(super) const ITALIAN: Language = Language {
    code: "it",
    fund_actions: "rilasc*, sblocc*, liber*, rimbors*, restitu*, erog*, svincol*, scongel*, liquid*, dai ... indietro, \
        date ... indietro, ridai, ridate",
    closing_actions: "annull*, cancell*, ritir*, rinunc*, abbandon*, revoc*, recedi, recedere",
    closing_verbs: "chiud*, chius*, termin*, risolv*, conclud*, conclus*, archivi*, finalizz*, complet*, \
        definisc*",
    dispute_nouns: "disput*, controversi*, contestazion*, reclam*, caso, casi, ordin*, scambio*, pratica*, \
        operazion*, lite, conflitto*, segnalazion*",
    transfer_verbs: "pag*, pagh*, trasfer*, versa, versi, versate, versare, versarl*, versami, versagli, \
        bonific*, sald*, deposit*, clicc*, tocc*, \
        premi, premere, prema, approv*",
    send_verbs: "invi*, mand*, sped*, rimand*, consegn*, dai, dare, dategli, trasmett*",
    send_past: "dato, diede, desti, trasmesso",
    transfer_past: "versato, versata, versati",
    light_verbs: "fai, fate, fare, rifai, rifate, rifare, rifaccia, faccia, facci*, effettu*, esegu*, complet*, procedi, proceda, procedete, \
        procedere",
    light_past: "fatto, fatta, fatti, eseguito",
    money_nouns: "pagament*, bonifico*, saldo*, bonifici, versament*, invio, denaro, soldi, fondi, contant*, \
        trasferiment*, ricarica*, deposito*, transazion*, accredito*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, cripto*",
    evidence_nouns: "ricevut*, prova, prove, screenshot*, schermat*, foto*, immagin*, estratto*, riferiment*, \
        dettagl*, dati, data, ora, orario*, numero*, nome*, informazion*, document*, copia*, cronologia*, \
        messaggi*, email*, codice*, id, conferma*, cro, causale*, chiariment*, spiegazion*",
    unrelated: "pagin*, premio*, liberta*, completament*, invidi*, invinc*, inviol*, invis*",
    past_endings: "ato, ata, ati, ate, ito, ita, iti, ite, asti, isti, o, ava, avi, avano, arono, irono, iva, \
        ivi, ivano",
    past_auxiliaries: "hai, ha, ho, avete, hanno, abbiamo, avevi, aveva, stato, stata, stati, state, era, gia",
    breakers: "puoi, puo, potete, potresti, potrebbe*, potreste, devi, deve, devono, dovete, dovresti, \
        dovreste, dovrebbe, dovrai, vuoi, vuole, volete, vorr*, \
        bisogna, serve, favore, prego, sara, saranno, sia, vai, va, andare",
    negations: "non, mai",
    conjunctions: "e, ed, o, oppure, poi, anche, ma",
    roles: "giudic*, arbitr*, amministrator*, admin*, moderator*, mediator*, solver*, tribunal*",
    rulings: "ho deciso, abbiamo deciso, e stato deciso, deciso, decido, decidiamo, verdett*, sentenz*, \
        a favore del, a favore della, a favore dell, a favore di, la mia decisione, decisione finale, \
        abbiamo stabilito",
    outcomes: "tien*, tenere, vinc*, vint*, perd*, perso, spett*",
    ..Language::EMPTY
};
