//! French. The participle ("envoyé", "payé") loses its accent and reads like an imperative
//! ("envoie", "paie"), so it counts as past only after an auxiliary ("avez-vous envoyé").

use super::Language;

pub(super) const FRENCH: Language = Language {
    code: "fr",
    fund_actions: "liber*, debloqu*, rembours*, restitu*, decaiss*, degel*, rendez ... fonds, rendre ... fonds, \
        rendez ... argent",
    closing_actions: "annul*, retir*, abandonn*, desist*, renonc*, revoqu*",
    closing_verbs: "ferm*, clotur*, clos, close, termin*, resou*, resol*, conclu*, finalis*, class*, regl*, \
        arret*",
    dispute_nouns: "litige*, differend*, dossier*, reclamation*, plainte*, commande*, ordre*, echange*, affaire*, \
        cas, conflit*, contestation*",
    transfer_verbs: "payez, payer, paye, payes, payons, payent, paie, paies, paient, paiera*, payera*, paierai*, \
        payerai*, paierez, payerez, payiez, transfer*, vire, virer*, virez, vires, versez, verser*, verse, depos*, \
        regl*, acquitt*, cliqu*, appui*, appuy*, touch*, approuv*, valid*",
    send_verbs: "envoy*, envoi*, renvoy*, renvoi*, transmet*, donn*, rendez, rendre, rends, rendent, remet*",
    send_past: "transmis, remis, rendu, rendus",
    light_verbs: "faire, fais, faites, faisons, fasse, fassiez, ferez, feriez, ferais, refaire, refaites, refais, \
        effectu*, realis*, procedez, proceder, execut*",
    light_past: "fait, faits, faite",
    money_nouns: "paiement*, virement*, transfert*, depot*, envoi, envois, argent, fonds, especes, versement*, \
        transaction*, reglement*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, crypto*, sequestre*",
    evidence_nouns: "preuve*, capture*, justificatif*, recu, recus, releve*, detail*, information*, date*, heure*, \
        numero*, nom, noms, reference*, photo*, image*, historique*, message*, courriel*, email*, mail*, \
        document*, copie*, code*, confirmation*, identifiant*, bordereau*, precision*, explication*, \
        motif*, libelle*, donnee*",
    unrelated: "pays, payant*, paysan*, touche, versant*, classique*, classement*, regle, regles, \
        rendez vous",
    past_endings: "ait, ais, aient, u, us, ue, ues, a, i, is, it",
    aux_endings: "e, es, ee, ees, -",
    past_auxiliaries: "avez, as, a, ont, avons, aviez, avait, avaient, ai, ete, est, sont, etes, etait, deja",
    breakers: "pouv*, pourr*, peux, peut, peuvent, dev*, doi*, voul*, voudr*, veuillez, va, vas, allez, vont, \
        aller, sera, seront, soit, faut, plait, merci, svp, besoin",
    negations: "ne, n, pas, jamais, aucun*, ni",
    noun_or_verb: "payer",
    verb_licensors: "vous, tu, de, d, a, pour, pouvez, pourriez, peux, veuillez, bien, me, nous, lui, leur, le, la, \
        les, l, faut, devez, voulez",
    conjunctions: "et, ou, puis, aussi, mais, ensuite",
    roles: "juge, juges, arbitr*, administrat*, admin*, moderat*, mediat*, resolveur*, tribunal*, solver*",
    rulings: "verdict*, jugement*, tranchons, trancher, statuons, statuer, statue, sentence*, en faveur de, en faveur du, en faveur des, \
        ai decide, avons decide, a ete decide, est decide, ma decision, notre decision, decision finale, \
        decision definitive, decidons, decide que, decidons que",
    outcomes: "gard*, gagn*, perd*, conserv*, revien*, reviennent",
    ..Language::EMPTY
};
