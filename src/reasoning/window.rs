//! What of the conversation the model sees. Lines go in the order they arrived (a writer's own
//! clock decides nothing: a party dating its messages in the future cannot make them the
//! newest); the newest are kept, each speaker at most [`MAX_LINES_PER_SPEAKER`], each line at
//! most [`MAX_LINE_CHARS`] characters, all of them within [`MAX_TRANSCRIPT_CHARS`]. So one party
//! writing a lot cannot push the other out of the model's view, and the prompt stays bounded.

use super::{Speaker, TranscriptEntry};

/// Most lines the model sees.
pub const MAX_LINES: usize = 40;
/// Most lines of any one speaker (buyer, seller, Serbero).
pub const MAX_LINES_PER_SPEAKER: usize = 16;
/// A longer line is cut, and says so.
pub const MAX_LINE_CHARS: usize = 1_000;
/// All lines together.
pub const MAX_TRANSCRIPT_CHARS: usize = 16_000;
/// How many of the newest stored lines the window is chosen from.
pub const CANDIDATE_LINES: usize = 200;

/// `lines` in arrival order (oldest first) → the window, in arrival order.
pub fn window(lines: Vec<TranscriptEntry>) -> Vec<TranscriptEntry> {
    let mut kept = Vec::new();
    let (mut per_speaker, mut chars) = ([0usize; 3], 0usize);
    for mut line in lines.into_iter().rev() {
        let speaker = slot(line.speaker);
        if kept.len() == MAX_LINES || per_speaker[speaker] == MAX_LINES_PER_SPEAKER {
            continue;
        }
        if line.content.chars().count() > MAX_LINE_CHARS {
            line.content = line.content.chars().take(MAX_LINE_CHARS).collect::<String>() + " […cut]";
        }
        let size = line.content.chars().count();
        if chars + size > MAX_TRANSCRIPT_CHARS {
            continue;
        }
        chars += size;
        per_speaker[speaker] += 1;
        kept.push(line);
    }
    kept.reverse();
    kept
}

fn slot(speaker: Speaker) -> usize {
    match speaker {
        Speaker::Buyer => 0,
        Speaker::Seller => 1,
        Speaker::Serbero => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(speaker: Speaker, at: i64, content: &str) -> TranscriptEntry {
        TranscriptEntry { speaker, at, content: content.to_string() }
    }

    #[test]
    fn a_flooding_party_cannot_hide_the_other() {
        let mut lines = vec![line(Speaker::Serbero, 1, "question"), line(Speaker::Buyer, 2, "I paid")];
        // Forty seller lines after it, dated a year ahead.
        lines.extend((0..40).map(|i| line(Speaker::Seller, 40_000_000 + i, &format!("spam {i}"))));
        let seen = window(lines);
        assert_eq!(seen.len(), 18);
        assert_eq!(seen[0].content, "question");
        assert_eq!(seen[1].content, "I paid");
        assert_eq!(seen.iter().filter(|l| l.speaker == Speaker::Seller).count(), MAX_LINES_PER_SPEAKER);
        assert_eq!(seen.last().unwrap().content, "spam 39", "the newest by arrival, whatever their dates");
    }

    #[test]
    fn lines_and_the_whole_are_bounded() {
        let huge = "x".repeat(50_000);
        let lines: Vec<_> = (0..30).map(|i| line([Speaker::Buyer, Speaker::Seller][i % 2], i as i64, &huge)).collect();
        let seen = window(lines);
        assert!(seen.iter().all(|l| l.content.chars().count() == MAX_LINE_CHARS + " […cut]".chars().count()));
        let total: usize = seen.iter().map(|l| l.content.chars().count()).sum();
        assert!(total <= MAX_TRANSCRIPT_CHARS, "{total}");
        assert_eq!(seen.len(), MAX_TRANSCRIPT_CHARS / (MAX_LINE_CHARS + 7));
    }

    #[test]
    fn a_short_conversation_is_seen_whole_in_arrival_order() {
        let lines = vec![line(Speaker::Serbero, 5, "q"), line(Speaker::Buyer, 9, "a"), line(Speaker::Seller, 3, "b")];
        assert_eq!(window(lines.clone()), lines);
    }
}
