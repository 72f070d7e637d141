//! Indonesian. No tense in the verb: a question speaks of the past through "sudah", "telah" or
//! "kapan" before the verb; affixed forms ("mengirim", "dikirim", "kirimkan") are listed.

use super::Language;

pub(super) const INDONESIAN: Language = Language {
    code: "id",
    fund_actions: "lepas*, melepas*, dilepas*, pelepasan*, cair*, mencair*, dicair*, pencairan*, kembalikan*, \
        mengembalikan*, dikembalikan*, pengembalian*, buka ... kunci*, membuka ... kunci*, bebaskan*, \
        membebaskan*, serahkan*, menyerahkan*, diserahkan*, refund*, rilis*, merilis*, \
        dirilis*",
    closing_actions: "batal*, membatalkan*, dibatalkan*, pembatalan*, tarik*, menarik*, ditarik*, penarikan*, \
        mundur*",
    closing_verbs: "tutup*, menutup*, ditutup*, selesaikan*, menyelesaikan*, diselesaikan*, penyelesaian*, \
        akhiri*, mengakhiri*, hentikan*, menghentikan*",
    dispute_nouns: "sengketa*, perselisihan*, klaim*, keluhan*, komplain*, pesanan*, order*, kasus*, perkara*, \
        perdagangan*, dispute*",
    transfer_verbs: "bayar*, membayar*, dibayar*, transfer*, mentransfer*, ditransfer*, tf, setor*, menyetor*, \
        disetor*, lunas*, melunasi*, klik*, tekan*, menekan*, sentuh*, setujui*, menyetujui*",
    send_verbs: "kirim*, mengirim*, dikirim*, berikan*, memberikan*, diberikan*, kasih*",
    light_verbs: "lakukan*, melakukan*, dilakukan*, buat*, membuat*, dibuat*",
    money_nouns: "pembayaran*, transferan*, transfernya, uang, dana, setoran*, tunai, transaksi*, pengiriman*",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, kripto*",
    evidence_nouns: "bukti*, tangkapan*, screenshot*, struk*, kwitansi*, resi*, mutasi*, referensi*, berita*, \
        rincian*, detail*, tanggal*, jam, waktu*, nomor*, nama*, informasi*, info, foto*, gambar*, dokumen*, \
        salinan*, riwayat*, pesan*, email*, kode*, id, konfirmasi*, penjelasan*, keterangan*",
    unrelated: "bayaran, tarikh*, kasihan, terima kasih",
    aux_endings: "-, kan, nya, lah, kah",
    past_auxiliaries: "sudah, sudahkah, telah, udah, sdh, tadi, kemarin, kapan, pernah",
    breakers: "bisa, bisakah, dapat, dapatkah, tolong, mohon, silakan, harap, harus, perlu, akan, segera, mau, \
        ingin, nanti, besok",
    negations: "tidak, belum, tak, bukan, jangan",
    conjunctions: "dan, atau, lalu, juga, tapi, serta, kemudian",
    verb_licensors: "anda, kamu, saya, kami, bisa, bisakah, tolong, mohon, akan, harus, segera, sudah, telah, mau",
    roles: "admin*, administrator*, arbiter*, hakim*, penengah*, moderator*, mediator*, wasit*, solver*",
    rulings: "memutuskan*, diputuskan*, keputusan*, putusan*, vonis*, memenangkan*, dimenangkan*",
    outcomes: "menang*, kalah*, tetap ... memegang*, menyimpan*, berhak*",
    ..Language::EMPTY
};
