//! Which catalog language a party writes in.
//!
//! A small scorer over words and letters found in only one of the three languages, rather than
//! a general detector such as `whatlang`: replies are often a word or two ("sí", "não", "yes"),
//! where trigram models are unreliable and pick among dozens of languages, while we need three
//! and a safe fallback. English wins every tie, including "no reply yet" and "ok".

use super::Lang;

/// Common words of each language that the other two do not use (as typed, with or without
/// accents). Words shared by Spanish and Portuguese ("no", "que", "de", "pago") count for neither.
const ENGLISH: &str = "the and i you your is are was were have has had did didn not yes it my this that to of for \
     with from be been will can just got what when why how hello hi thanks thank please already yet yesterday today \
     paid sent received payment bank account money transfer screenshot receipt haven hasn don doesn but in on at";
const SPANISH: &str = "el la los las lo le les y es en del al su sus ya si sí hola gracias dinero usted tengo hice \
     hecho ayer hoy mañana manana ahora también tambien cuando cuándo con una uno muy bien yo mi mis estoy soy hay fue \
     eso esto aquí dónde donde qué cuál cuenta recibí recibi envié pagué comprobante todavía todavia aún \
     puedo puede tiene llegó llego recibido buenas buenos señor plata";
const PORTUGUESE: &str = "não nao sim você voce vc obrigado obrigada olá ola oi eu já ja meu minha foi com uma é e \
     estou tenho fiz enviei recebi paguei dinheiro conta ainda agora também tambem quando onde muito bem isso isto \
     ele ela os das na pelo pela pix comprovante pagamento hoje ontem amanhã ou boa bom vou vai tá né pra \
     pro em seu sua ao aos à mesmo caiu";
/// Letters that mark a language among the three.
const SPANISH_LETTERS: &str = "ñ¿¡";
const PORTUGUESE_LETTERS: &str = "ãõçâêô";

/// The language of what the party wrote; English when unsure or when there is nothing.
pub fn detect_language<'a>(party_words: impl IntoIterator<Item = &'a str>) -> Lang {
    let mut scores = [0usize; 3];
    for text in party_words {
        let text = text.to_lowercase();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            for (lang, words) in [(Lang::En, ENGLISH), (Lang::Es, SPANISH), (Lang::Pt, PORTUGUESE)] {
                scores[lang as usize] += usize::from(words.split_whitespace().any(|known| known == word));
            }
        }
        scores[Lang::Es as usize] += text.chars().filter(|c| SPANISH_LETTERS.contains(*c)).count();
        scores[Lang::Pt as usize] += text.chars().filter(|c| PORTUGUESE_LETTERS.contains(*c)).count();
    }
    let best = Lang::ALL.into_iter().max_by_key(|lang| scores[*lang as usize]).unwrap_or(Lang::En);
    let top = scores[best as usize];
    let clear_winner = top > 0 && scores.iter().filter(|score| **score == top).count() == 1;
    if clear_winner {
        best
    } else {
        Lang::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn party_replies_are_read_in_their_language() {
        use Lang::*;
        let cases: &[(&[&str], Lang, &str)] = &[
            (&[], En, "nothing written yet"),
            (&[""], En, "an empty message"),
            (&["ok"], En, "too short to tell"),
            (&["👍"], En, "no words"),
            (&["no"], En, "Spanish, Portuguese or English"),
            (&["12/05 14:30"], En, "only numbers"),
            (&["yes"], En, "one English word"),
            (&["Sí"], Es, "one Spanish word"),
            (&["Sim"], Pt, "one Portuguese word"),
            (&["Não"], Pt, "Portuguese by its letter"),
            (&["nao"], Pt, "Portuguese without accents"),
            (&["¿Qué?"], Es, "Spanish by its marks"),
            (&["I sent the payment yesterday at 3pm from my bank."], En, "English"),
            (&["Ya hice el pago ayer, les mando el comprobante."], Es, "Spanish"),
            (&["ya pague ayer a la tarde"], Es, "Spanish without accents"),
            (&["Já fiz o pagamento ontem, vou mandar o comprovante."], Pt, "Portuguese"),
            (&["ja fiz o pix, nao caiu ainda?"], Pt, "Portuguese without accents"),
            (&["Todavía no me llegó nada a la cuenta"], Es, "Spanish seller"),
            (&["Ainda não caiu nada na minha conta"], Pt, "Portuguese seller"),
            (&["Hola, I sent the payment yesterday"], En, "mixed, mostly English"),
            (
                &["Hello", "Sí, ya lo envié por transferencia, tengo el comprobante"],
                Es,
                "English greeting, Spanish reply",
            ),
            (&["ok", "Olá, já paguei"], Pt, "later messages count too"),
            (&["Hola", "Olá"], En, "a tie between Spanish and Portuguese"),
        ];
        for (messages, expected, why) in cases {
            assert_eq!(detect_language(messages.iter().copied()), *expected, "{why}: {messages:?}");
        }
    }

    #[test]
    fn each_word_counts_for_one_language_only() {
        let mut seen = HashSet::new();
        for word in [ENGLISH, SPANISH, PORTUGUESE].iter().flat_map(|words| words.split_whitespace()) {
            assert!(seen.insert(word), "{word} is listed twice");
            assert_eq!(word, word.to_lowercase(), "{word} must be lowercase to match");
        }
    }
}
