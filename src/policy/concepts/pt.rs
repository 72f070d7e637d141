//! Portuguese (Brazil and Portugal). Roots as in Spanish; enclitics come after a hyphen
//! ("libere-os"), which splits them into a word of their own.

use super::Language;

pub(super) const PORTUGUESE: Language = Language {
    code: "pt",
    fund_actions: "liber*, desbloque*, reembols*, estorn*, devolv*, devoluc*, solt*, desembols*, restitu*, \
        descongel*, liquid*",
    closing_actions: "cancel*, anul*, retir*, desist*, abandon*, renunci*",
    closing_verbs: "fech*, encerr*, finaliz*, termin*, resolv*, conclu*, complet*, arquiv*",
    dispute_nouns: "disputa*, reclam*, caso, casos, ordem, ordens, operac*, negociac*, troca*, pedido*, \
        litigio*, conflito*",
    transfer_verbs: "pag*, transfer*, transfir*, deposit*, aperte, apertar, aperta, apertem, clique*, click*, \
        toque*, toca, tocar*, pression*, aprove, aprovar, aprova, aprovem",
    send_verbs: "envi*, mand*, entreg*, reenvi*, dar",
    send_past: "deu, deste, deram, dado",
    light_verbs: "faca, facam, facas, faz*, realiz*, efetu*, efectu*, execut*, processe, processar, complet*, \
        proceda, prossiga, prosseguir",
    light_past: "fez, fizeste, fizeram, feito, feita, fiz",
    money_nouns: "pagamento*, pix, transferencia*, deposito*, envio*, dinheiro, fundos, transac*, ted, boleto*, \
        credito*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, cripto*, garantia*",
    evidence_nouns: "comprovante*, captura*, print*, recibo*, prova*, evidencia*, referencia*, dado, dados, \
        detalhe*, data, datas, hora, horas, horario*, numero*, nome*, informac*, foto*, imagem*, extrato*, \
        historico*, mensage*, email*, documento*, copia*, codigo*, id, confirmac*, esclarecimento*, \
        explicac*",
    unrelated: "pagin*, fazenda*, completament*",
    past_endings: "ou, aste, iste, este, ado, ada, ados, adas, ido, ida, idos, idas, aram, eram, iram, ei, i, \
        ava, avam, ia, iam, iu",
    past_auxiliaries: "tem, tens, teve, tinha, tinham, foi, foram, ja, havia",
    breakers: "pod*, dev*, precis*, vai, vais, vao, ira, sera, seja, sejam, quer*, favor, gostaria, tera",
    negations: "nao, nunca, jamais, nem",
    conjunctions: "e, ou, tambem, depois, mas",
    roles: "juiz*, juiza*, arbitr*, administrador*, admin*, moderador*, mediador*, solucionador*, \
        resolvedor*, tribunal*",
    rulings: "veredito*, veredicto*, sentenc*, a favor do, a favor da, a favor de, em favor do, em favor da, \
        decidi, decidimos, decidido, foi decidido, minha decisao, nossa decisao, decisao final, determinamos",
    outcomes: "ganh*, perd*, fica com, ficam com, ficara com, mant*",
    ..Language::EMPTY
};
