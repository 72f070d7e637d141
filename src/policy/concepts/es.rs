//! Spanish. Verb stems are roots, so an imperative with its clitics ("libérelos", "envíaselos")
//! is a root with a long ending, and past endings ("-aste", "-ado") tell fact from request.
//! Accents are gone in the keys: "pagó" reads "pago", the noun, which is harmless.

use super::Language;

pub(super) const SPANISH: Language = Language {
    code: "es",
    fund_actions: "liber*, desbloque*, reembols*, devolv*, devuelv*, devoluci*, suelt*, solt*, desembols*, \
        restitu*, descongel*, desbloqueo*, libre ... sats, libre ... fondos, reintegr*, liquid*, \
        marca ... recibido, marque ... recibido, marcar ... recibido",
    closing_actions: "cancel*, anul*, retir*, desist*, abandon*, renunci*, dar ... de ... baja",
    closing_verbs: "cerr*, cierr*, finaliz*, termin*, resolv*, resuelv*, conclu*, complet*, archiv*, clausur*",
    dispute_nouns: "disputa*, reclam*, caso, casos, orden, ordenes, operacion*, intercambio*, trato, conflicto*, \
        queja*, litigio*, pedido*",
    transfer_verbs: "pag*, transfer*, transfier*, transfir*, deposit*, girar, gire, giren, giraste, giraron, girado, \
        girada, girame, girale, abon*, sald*, puls*, presion*, \
        toca, toque*, tocar*, clic*, cliqu*, aprueb*, aprob*",
    send_verbs: "envi*, mand*, entreg*, reenvi*, dale, dele, darle, dar, darles, denle, deles",
    send_past: "dio, diste, dieron, dado",
    light_verbs:
        "hacer*, haz, hazlo, haces, haga, hagas, hagan, hagamos, haria*, hara, haras, realiz*, efectu*, ejecut*, \
        procesa, procese, procesar, complet*, proceda, procede, proceder",
    light_past: "hice, hiciste, hizo, hicieron, hecho, hecha",
    money_nouns: "pago*, envio*, saldo*, transferencia*, deposito*, dinero, fondos, efectivo, plata, giro*, abono*, \
        transaccion*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, cripto*, garantia*",
    evidence_nouns: "comprobante*, captura*, recibo*, prueba*, evidencia*, referencia*, constancia*, dato, datos, \
        detalle*, fecha*, hora, horas, numero*, nombre*, informacion*, foto*, imagen*, pantallazo*, extracto*, \
        historial*, mensaje*, correo*, documento*, justificante*, copia*, codigo*, id, concepto*, voucher*, \
        ticket*, confirmacion*, aclaracion*, explicacion*",
    unrelated: "pagin*, mandatori*, hace, hacia, envidi*, completament*",
    past_endings: "aste, iste, o, io, aron, ieron, ado, ada, ados, adas, ido, ida, idos, idas, aba, abas, aban, \
        ia, ias, ian",
    past_auxiliaries: "ha, has, han, he, hemos, habia, habias, habian, hubo, fue, fueron, ya",
    breakers: "pued*, pod*, deb*, tien*, tendr*, quier*, va, vas, van, vamos, ir, sera, seran, sea, sean, \
        necesit*, favor, hay, hace, falta, ojala, tendria*, gustaria",
    negations: "no, nunca, jamas, tampoco, ni",
    conjunctions: "y, e, o, u, ademas, luego, tambien, pero, despues",
    roles: "juez*, arbitr*, administrador*, admin*, moderador*, mediador*, solucionador*, resolutor*, \
        tribunal*, equipo de mostro, soporte de mostro",
    rulings: "veredicto*, dictamin*, sentencia*, a favor de, a favor del, en favor de, decidido, decidi, \
        decidimos, se decidio, mi decision, nuestra decision, decision final, resolvemos, resuelvo, \
        determinamos",
    outcomes: "gan*, pierd*, perd*, queda con, quedara con, quedan con, se queda, conserv*",
    ..Language::EMPTY
};
