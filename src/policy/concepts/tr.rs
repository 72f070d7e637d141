//! Turkish. Verbs agglutinate, so past endings are prefixes of what follows the stem
//! ("gönder-diniz mi?", "öde-mediniz" is a negation and is not past). Nouns ("ödeme",
//! "havale") shadow the verbs they come from; "havale edin" is a light verb with money.

use super::Language;

pub(super) const TURKISH: Language = Language {
    code: "tr",
    fund_actions: "serbest, iade*, geri ode*, geri ... ver*, geri ... gonder*, geri ... yolla*, kilidi*, \
        kilidini ... ac*, teslim ... et*, teslim ... ed*",
    closing_actions: "iptal*, geri ... cek*, vazgec*, feragat*, caydir*",
    closing_verbs: "kapat*, kapan*, sonlandir*, sonlan*, bitir*, coz*, sona ... erdir*, tamamla*",
    dispute_nouns: "anlasmazlik*, itiraz*, uyusmazlik*, sikayet*, dava*, emir*, emri*, siparis*, takas*, ihtilaf*, \
        ticaret*, anlasma*",
    transfer_verbs: "ode*, odemedi*, öder mi*, öder misin*, havale ... et*, havale ... ed*, aktar*, transfer ... et*, transfer ... ed*, \
        yatir*, tikla*, dokun*, basin, basiniz, basabilir*, onayla*",
    send_verbs: "gonder*, yolla*, ilet*, ver, verin, verir*, verebilir*, verecek*",
    send_past: "verdi*, verdin*, vermis*",
    light_verbs: "yap*, gerceklestir*, edin, eder*, edebilir*, edecek*, etmek*, etmen*, etme*",
    light_past: "etti*, edildi*, yaptı*",
    money_nouns: "odeme*, odemeyi, havale*, eft, fast, para, parayi, parasi*, ucret*, transfer, transferde, transferden, transferi, transferin, transfere, \
        transferle, islem*, \
        fon, fonlar*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, kripto*",
    evidence_nouns: "dekont*, makbuz*, ekran*, goruntu*, kanit*, belge*, fotograf*, resim*, referans*, aciklama*, \
        tarih*, saat*, numara*, isim*, bilgi*, detay*, kopya*, gecmis*, mesaj*, eposta*, kod*, id, ozet*, gonderen*",
    unrelated: "odev*",
    past_endings: "di*, dı*, du*, dü*, ti*, tı*, tu*, tü*, miş*, mış*, muş*, müş*, ildi*, ıldı*, uldu*, üldü*, \
        ndi*, ndı*, ndu*, ndü*, nmış*, nmiş*, dig*, dık*, tığ*, tik*",
    past_auxiliaries: "zaten",
    breakers: "lutfen, rica, hemen, simdi, gerek*, lazim",
    negations: "degil, hayir, yok",
    conjunctions: "ve, veya, ya, da, de, sonra, ama, ile",
    roles: "yonetici*, admin*, hakem*, yargic*, hakim*, arabulucu*, moderator*, cozucu*, mahkeme*",
    rulings: "karar*, hukum*, hükm*, lehine, lehinde, nihai",
    outcomes: "kalir, kalacak*, kazan*, kaybet*, alacak*, tutacak*",
    ..Language::EMPTY
};
