//! The words the authority boundary looks for, in the languages of Mostro's users (English,
//! Spanish, Portuguese, French, German, Italian, and Russian). Every entry is written the way
//! `boundary::normalise` leaves readable text: lowercase, accents stripped, one word per entry;
//! claim patterns are words separated by spaces, `a|b` for alternatives and a trailing `?` for
//! an optional word. Words are compared by their matching key (`normalise::key`), so look-alike
//! spellings of an entry match it.

use std::sync::{LazyLock, OnceLock};

use super::boundary::ViolationKind::{self, AuthorityClaim, DisputeClosure, FundInstruction};
use super::normalise::key;

/// A word list, one string of space-separated words per language (English, Spanish, Portuguese,
/// French, German, Italian, Russian), keyed when first used.
pub struct Words {
    lists: &'static [&'static str],
    keys: OnceLock<Vec<String>>,
}

impl Words {
    const fn new(lists: &'static [&'static str]) -> Words {
        Words { lists, keys: OnceLock::new() }
    }

    /// Whether a word, by its key, is in the list.
    pub fn contains(&self, word_key: &str) -> bool {
        self.keys().iter().any(|entry| entry == word_key)
    }

    /// The entries as written.
    pub fn entries(&self) -> impl Iterator<Item = &'static str> {
        self.lists.iter().flat_map(|language| language.split_whitespace())
    }

    pub fn keys(&self) -> &[String] {
        self.keys.get_or_init(|| self.entries().map(key).collect())
    }
}

/// Moving, releasing, paying back or cancelling — forbidden whatever follows.
pub static FUND_VERBS: Words = Words::new(&[
    "release pay refund reimburse settle cancel disburse",
    "libera libere liberen liberar suelta suelte soltar desbloquea desbloquee desbloquear paga pague paguen pagar \
     reembolsa reembolse reembolsar liquida liquide liquidar cancela cancele cancelen cancelar anula anule anular",
    "liberem solte desbloqueie paguem estorne estornar",
    "liberez liberer debloquez debloquer payez payer paie remboursez rembourser rembourse annulez annuler annule",
    "freigeben zahle zahlen bezahle bezahlen erstatte erstatten ruckerstatten zuruckerstatten storniere \
     stornieren uberweise uberweisen",
    "rilascia rilasci rilasciare sblocca sblocchi sbloccare liberare paghi pagare rimborsa rimborsi rimborsare \
     annulla annulli annullare cancella cancellare",
    "отпустите отпусти отпустить освободите освободи разблокируите разблокируи оплатите оплати заплатите \
     заплати верните верни вернуть отмените отмени отменить",
]);

/// Sending or handing over — forbidden when the object is money (`FUND_NOUNS`). Amount words
/// ("amount", "importe", "Betrag") are not money here: "send the date and amount" asks a fact.
pub static TRANSFER_VERBS: Words = Words::new(&[
    "send transfer move return give wire forward deposit unlock withdraw",
    "envia envie envien enviar manda mande mandar transfiere transfiera transferir mueve mueva mover devuelve \
     devuelva devolver deposita deposite depositar entrega entregue entregar",
    "enviem transfira transfere mova devolva devolve",
    "envoyez envoie envoyer transferez transferer virez virer rendez rendre renvoyez renvoyer deplacez deplacer \
     deposez reglez regler versez verser",
    "sende senden schicke schicken gib gebt geben transferiere transferieren",
    "invia invii inviare mandi mandare trasferisci trasferisca trasferire restituisci restituisca restituire \
     sposta sposti spostare versa versare",
    "переведите переведи перевести отправьте отправь отправить пришлите перечислите",
]);

/// Ending the case — forbidden when the object is the dispute or trade (`DISPUTE_NOUNS`).
pub static CLOSE_VERBS: Words = Words::new(&[
    "close resolve end finish finalize finalise terminate dismiss drop abandon complete",
    "cierra cierre cierren cerrar resuelve resuelva resolver finaliza finalice finalizar termina termine \
     terminar retira retire retirar completa completar",
    "feche fecha fechar encerre encerra encerrar resolva resolve finalize conclua concluir",
    "fermez fermer ferme cloturez cloturer cloture resolvez resoudre terminez terminer retirez retirer \
     abandonnez abandonner finalisez finaliser",
    "schliesse schliessen schliess beende beenden lose losen abschliessen",
    "chiudi chiuda chiudere risolvi risolva risolvere termini terminare ritira ritiri ritirare concludi \
     concludere finalizza finalizzare",
    "закроите закрои закрыть завершите заверши завершить отзовите отзови",
]);

/// German verbs split in two (`geben Sie die Sats frei`): a verb form and its particle.
pub static SEPARABLE_VERBS: &[(&[&str], &str)] =
    &[(&["gib", "gebe", "geben", "gebt"], "frei"), (&["brich", "breche", "brechen", "brecht"], "ab")];

pub static FUND_NOUNS: Words = Words::new(&[
    "funds fund money sats sat satoshis bitcoin bitcoins btc payment escrow",
    "fiat collateral",
    "fondos dinero pago plata deposito satoshi",
    "fundos dinheiro pagamento",
    "fonds argent paiement",
    "geld gelder zahlung mittel guthaben",
    "fondi soldi denaro",
    "средства деньги биткоин биткоины сатоши саты оплату платеж",
]);

pub static DISPUTE_NOUNS: Words = Words::new(&[
    "dispute case trade order ticket claim",
    "disputa caso orden operacion intercambio reclamo reclamacion",
    "ordem negociacao operacao reclamacao",
    "litige dossier echange ordre commande transaction reclamation",
    "streit streitfall fall handel auftrag bestellung disput reklamation",
    "controversia ordine scambio contestazione reclamo",
    "спор сделку сделка ордер заказ дело",
]);

/// Evidence and facts about a payment: asking for them is a normal clarifying question.
pub static PROOF_NOUNS: Words = Words::new(&[
    "proof screenshot receipt evidence confirmation reference statement details detail information info date \
     time id number method",
    "comprobante captura recibo prueba evidencia referencia constancia datos detalles fecha informacion hora \
     numero metodo",
    "comprovante prova print extrato dados detalhes data informacao hora numero metodo",
    "preuve capture justificatif recu releve details informations date heure numero methode",
    "beleg nachweis quittung bildschirmfoto kontoauszug daten details datum angaben informationen uhrzeit \
     nummer",
    "ricevuta screenshot estratto riferimento dettagli dati data informazioni numero metodo",
    "скриншот квитанцию подтверждение чек данные детали дату время номер",
]);

/// Words that tie a proof noun to the payment it proves (`proof of payment`).
pub static GENITIVES: Words = Words::new(&["of for de del do da du des der di della dello dei para pour fur"]);

/// The human solver: "the solver will close the dispute" describes, it does not instruct.
pub static SOLVER_NOUNS: Words = Words::new(&[
    "solver solucionador resolutor resolvedor resolveur loser risolutore решатель human",
    "humano humain mensch umano",
]);

/// English base forms that follow `did` in a past-fact question ("did you send the payment?").
pub static ENGLISH_BASE_FORMS: Words = Words::new(&[
    "release pay refund reimburse settle cancel disburse send transfer move return",
    "give wire forward deposit unlock withdraw close resolve end finish finalize",
    "finalise terminate dismiss drop abandon complete",
]);
pub static ENGLISH_PAST_AUXILIARIES: Words = Words::new(&["did didn"]);
/// Between `did` and the verb, these start another clause: "did you know you can cancel…".
pub static QUESTION_BREAKERS: Words =
    Words::new(&["can could should must will would may might know see read think remember hear realize realise \
             notice understand forget that so then if"]);

/// French imperatives spelled like their participles once accents go ("libère" / "libéré").
pub static FRENCH_PARTICIPLE_LOOKALIKES: Words = Words::new(&["libere annule rembourse ferme cloture"]);
pub static FRENCH_PAST_AUXILIARIES: Words = Words::new(&["avez as a ont avons aviez avait avaient"]);

/// Words that turn a question back into an instruction ("did you see? you must release").
pub static DIRECTIVE_MARKERS: Words = Words::new(&[
    "please pls plz kindly must should shall need needs now immediately asap",
    "ahead required veuillez plait devez dois doit maintenant immediatement",
]);

/// English determiners: after one, `release`, `transfer`, `refund` are nouns.
pub static DETERMINERS: Words = Words::new(&["the a an your my this that his her their our its any no"]);
/// Verbs that make such a noun an instruction again ("proceed with the release").
pub static NOUN_DIRECTIVES: Words =
    Words::new(&["proceed execute perform initiate approve authorize authorise process make do", "start trigger"]);

/// Admin commands of the Mostro node, after the word `admin`.
pub static ADMIN_ACTIONS: Words = Words::new(&["settle cancel release refund add addsolver take takedispute"]);

/// One word of a claim pattern: its keyed alternatives, and whether it may be left out.
pub type ClaimSlot = (Vec<String>, bool);

/// `CLAIMS` with every alternative keyed.
pub static KEYED_CLAIMS: LazyLock<Vec<(ViolationKind, Vec<ClaimSlot>)>> = LazyLock::new(|| {
    let slot = |slot: &str| match slot.strip_suffix('?') {
        Some(required) => (required.split('|').map(key).collect(), true),
        None => (slot.split('|').map(key).collect(), false),
    };
    CLAIMS.iter().map(|(kind, pattern)| (*kind, pattern.split_whitespace().map(slot).collect())).collect()
});

/// Rulings, claimed authority, and statements that funds move or the dispute is over.
pub static CLAIMS: &[(ViolationKind, &str)] = &[
    (AuthorityClaim, "as the|your|a|an? solver|admin|administrator|judge|arbitrator|arbiter|moderator|referee"),
    (AuthorityClaim, "i am|m the|your|a|an? solver|admin|administrator|judge|arbitrator|arbiter|referee"),
    (AuthorityClaim, "i have|ve decided|ruled"),
    (AuthorityClaim, "i hereby"),
    (AuthorityClaim, "i decide|rule"),
    (AuthorityClaim, "my ruling|verdict|decision"),
    (AuthorityClaim, "in favor|favour of the|your? buyer|seller|you"),
    (AuthorityClaim, "you have|ve won|lost the|this dispute|case"),
    (AuthorityClaim, "como el|tu|su|un? solucionador|resolutor|administrador|admin|juez|arbitro|moderador"),
    (AuthorityClaim, "soy el|tu|su|un? solucionador|resolutor|administrador|admin|juez|arbitro"),
    (AuthorityClaim, "he|hemos decidido|fallado|dictaminado"),
    (AuthorityClaim, "decido|dictamino|resuelvo que"),
    (AuthorityClaim, "mi decision|veredicto|fallo|resolucion"),
    (AuthorityClaim, "a favor del|de comprador|compradora|vendedor|vendedora|usted|ti"),
    (AuthorityClaim, "como o|seu|um? solucionador|resolvedor|administrador|admin|juiz|arbitro|moderador"),
    (AuthorityClaim, "sou o|seu|um? solucionador|resolvedor|administrador|admin|juiz|arbitro"),
    (AuthorityClaim, "eu decidi|determino|decido"),
    (AuthorityClaim, "decidi que"),
    (AuthorityClaim, "minha decisao|sentenca"),
    (AuthorityClaim, "meu veredito|veredicto"),
    (AuthorityClaim, "a|em favor do|da|de comprador|compradora|vendedor|vendedora|voce"),
    (AuthorityClaim, "en tant que|qu juge|arbitre|administrateur|admin|solver|resolveur|moderateur"),
    (AuthorityClaim, "je suis le|votre|un? juge|arbitre|administrateur|admin|solver|resolveur"),
    (AuthorityClaim, "j|nous ai|avons decide|tranche|statue"),
    (AuthorityClaim, "je decide|tranche|statue|ordonne"),
    (AuthorityClaim, "ma decision|sentence"),
    (AuthorityClaim, "mon verdict|jugement"),
    (AuthorityClaim, "en faveur de|du|des l? acheteur|acheteuse|vendeur|vendeuse|vous"),
    (AuthorityClaim, "als ihr|dein|der|ein? richter|schiedsrichter|administrator|admin|solver|loser|moderator"),
    (AuthorityClaim, "ich bin der|ihr|dein|ein? richter|schiedsrichter|administrator|admin|solver|loser"),
    (AuthorityClaim, "ich habe entschieden"),
    (AuthorityClaim, "ich entscheide"),
    (AuthorityClaim, "meine entscheidung"),
    (AuthorityClaim, "mein urteil"),
    (AuthorityClaim, "zugunsten des|der|von kaufers|kaufer|kauferin|verkaufers|verkaufer|verkauferin|ihnen"),
    (AuthorityClaim, "come il|tuo|un? giudice|arbitro|amministratore|admin|solver|risolutore|moderatore"),
    (AuthorityClaim, "sono il|tuo|un? giudice|arbitro|amministratore|admin|solver|risolutore"),
    (AuthorityClaim, "ho|abbiamo deciso|stabilito"),
    (AuthorityClaim, "decido|stabilisco che"),
    (AuthorityClaim, "la? mia decisione|sentenza"),
    (AuthorityClaim, "il? mio verdetto"),
    (AuthorityClaim, "a favore dell|del|della|di acquirente|venditore|venditrice|te"),
    (AuthorityClaim, "как ваш|твои? администратор|судья|арбитр|решатель|модератор|админ"),
    (AuthorityClaim, "я администратор|судья|арбитр|решатель|админ"),
    (AuthorityClaim, "я решил|решила|постановляю"),
    (AuthorityClaim, "мое|мои решение|вердикт"),
    (AuthorityClaim, "в пользу покупателя|продавца"),
    (
        DisputeClosure,
        "dispute|case is|has|was|will|ll|shall been|be|now? closed|resolved|settled|decided|dismissed|over",
    ),
    (DisputeClosure, "case closed"),
    (DisputeClosure, "disputa|caso esta|queda|fue|ha|sera quedado|sido? cerrada|cerrado|resuelta|resuelto|finalizada"),
    (DisputeClosure, "caso cerrado"),
    (DisputeClosure, "disputa|caso esta|foi|sera|ficou encerrada|encerrado|resolvida|resolvido|fechada|fechado"),
    (DisputeClosure, "caso encerrado"),
    (DisputeClosure, "litige|dossier est|a|sera ete? clos|close|ferme|fermee|resolu|cloture|tranche"),
    (DisputeClosure, "affaire classee"),
    (DisputeClosure, "streit|streitfall|disput|fall ist|wurde|wird geschlossen|beendet|entschieden|gelost|erledigt"),
    (DisputeClosure, "disputa|controversia|caso e|sara stata|stato? chiusa|chiuso|risolta|risolto|decisa"),
    (DisputeClosure, "caso chiuso"),
    (DisputeClosure, "спор был|будет? закрыт|решен|разрешен|завершен"),
    (
        FundInstruction,
        "funds|sats|bitcoin|btc|money|payment will|ll|shall be released|refunded|returned|transferred|unlocked",
    ),
    (
        FundInstruction,
        "fondos|sats|bitcoin|dinero|pago seran|sera liberados|liberado|reembolsados|reembolsado|devueltos",
    ),
    (FundInstruction, "se liberaran|liberara|reembolsara|reembolsaran|devolvera|devolveran"),
    (FundInstruction, "fundos|sats|bitcoin|dinheiro|pagamento serao|sera liberados|liberado|reembolsados|devolvidos"),
    (FundInstruction, "fonds|sats|bitcoin|argent|paiement seront|sera liberes|libere|rembourses|rembourse|debloques"),
    (FundInstruction, "sats|bitcoin|geld|betrag|zahlung|mittel werden|wird freigegeben|erstattet|uberwiesen"),
    (FundInstruction, "fondi|sats|bitcoin|soldi|pagamento saranno|sara rilasciati|rilasciato|sbloccati|rimborsati"),
    (FundInstruction, "средства|деньги|биткоин|саты будут|будет отпущены|переведены|возвращены|разблокированы"),
];
