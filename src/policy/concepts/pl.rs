//! Polish. Perfective and imperfective verbs have different stems, both listed; past forms end
//! in "-ł-" ("wysłałeś", "zapłaciła"), participles and impersonal past in "-n-"/"-no".

use super::Language;

pub(super) const POLISH: Language = Language {
    code: "pl",
    fund_actions: "zwolni*, zwalnia*, uwolni*, odblokuj*, odblokow*, zwroc*, zwrot*, zwraca*, wyplac*, wyplat*, \
        odda*, odmroz*",
    closing_actions: "anuluj*, anulow*, wycofaj*, wycofa*, wycofuj*, zrezygnuj*, rezygn*, odwolaj*, odwola*, \
        porzuc*, zrzek*",
    closing_verbs: "zamknij*, zamkn*, zamyk*, zakoncz*, koncz*, rozwiaz*, rozstrzyg*, zalatw*, umorz*",
    dispute_nouns: "spor, sporu, sporze, spory, dysput*, reklamacj*, sprawa, sprawe, sprawy, sprawie, zamowieni*, \
        zlecen*, wymian*, konflikt*, transakcj*, skarg*, zgloszeni*",
    transfer_verbs: "przelej*, przela*, zaplac*, doplac*, plac, placcie, placi*, placic, wplac*, przekaz*, doladuj*, kliknij*, klikn*, \
        nacisnij*, nacisn*, dotknij*, zatwierdz*, zaakceptuj*, uregul*",
    transfer_past: "zaplacil*, doplacil*, zaplacon*, przekazal*, przekazan*, wplacil*, placil*, przelan*, zatwierdzil*",
    send_verbs: "wyslij*, wysla*, wysyl*, przeslij*, przesla*, przesyl*, daj, dajcie, dac, podaj*, podac",
    send_past: "wyslan*, wysylal*, przeslan*, przesylal*, dal, dala, dali, podal*",
    light_verbs: "wykonaj*, wykona*, zrob*, dokonaj*, dokona*, zlec*, zleci*, zrealizuj*",
    light_past: "wykonal*, wykonan*, zrobil*, dokonal*, dokonan*, zlecil*, zrealizowal*",
    money_nouns: "platnosc*, przelew*, wplat*, pieniadz*, pieniedzy, srodk*, gotowk*, blik*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, krypto*",
    evidence_nouns: "potwierdzeni*, zrzut*, screenshot*, dowod*, wyciag*, historia*, historii, tytul*, \
        referencj*, dane, danych, szczegol*, data, daty, date, godzin*, numer*, nazw*, imie*, informacj*, \
        zdjeci*, dokument*, kopi*, wiadomosc*, email*, kod*, id, wyjasnieni*, opis*",
    unrelated: "oddal*, wyslanie*, wyslaniu, przeslanie*, przeslaniu",
    past_endings: "l*, no, ny, na, ne, ni",
    past_auxiliaries: "zostal*, zostala, zostaly, zostalo, byl*, juz",
    breakers: "mozesz, moze, mozecie, mozna, moglbys, moglabys, mogl*, prosze, prosimy, musisz, musi*, trzeba, \
        powinien*, powinn*, chcesz, chce*, bedzie*, bedziesz, zechce*, nalezy",
    negations: "nie, nigdy, ani",
    conjunctions: "i, oraz, lub, albo, a, potem, takze, ale",
    roles: "administrator*, admin*, arbiter*, arbitr*, sedzi*, sedzia, moderator*, mediator*, rozjemc*, \
        solver*, sadu, sadem",
    rulings: "zdecydowal*, zdecydowano, postanowil*, postanowiono, rozstrzygn*, wyrok*, orzeczeni*, werdykt*, \
        na korzysc, moja decyzja, nasza decyzja, ostateczna decyzja, decyzj*, orzekam, orzekamy",
    outcomes: "zatrzym*, wygr*, przegr*, zachow*, nalez* sie",
    ..Language::EMPTY
};
