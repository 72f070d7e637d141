//! The outbox's delivery policy: row statuses and what a failed attempt leads to. The SQL lives
//! with the actors; this is the part worth testing on its own.

use std::fmt;
use std::time::Duration;

use crate::backoff::Backoff;

/// `outbox.status`: `pending → claimed → sent`, or `failed` (retried later) and finally
/// `dead_lettered`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    Pending,
    Claimed,
    Sent,
    Failed,
    DeadLettered,
    /// Given up on purpose: what it said may no longer be said (a human took the dispute over).
    Withdrawn,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 6] =
        [Self::Pending, Self::Claimed, Self::Sent, Self::Failed, Self::DeadLettered, Self::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Still on its way: will be (re)published without anyone's help.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Claimed | Self::Failed)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Backoff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    DeadLetter,
}

impl RetryPolicy {
    /// `attempts` counts the attempt that just failed.
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            AfterFailure::DeadLetter
        } else {
            AfterFailure::RetryIn(self.backoff.delay(attempts))
        }
    }
}

/// How far Relay got with a claimed row's send, as its reports told the row's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendProgress {
    /// Relay was never asked, or already answered: nothing more will come of this claim.
    Unknown,
    /// Waiting for one of Relay's send slots.
    Queued,
    /// Out to the relays since this time (unix seconds).
    Started(i64),
}

/// What becomes of a claim whose expiry came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiredClaim {
    /// Nobody answered in time: a failed attempt.
    Fail,
    /// The send is still under way: the claim runs until then.
    ExtendTo(i64),
}

/// A claim lasts `ttl` seconds from the moment its send starts, not from when the row was
/// claimed: a row still waiting for a send slot is not failing, whatever the queue's length.
pub fn expired_claim(progress: SendProgress, now: i64, ttl: i64) -> ExpiredClaim {
    match progress {
        SendProgress::Unknown => ExpiredClaim::Fail,
        SendProgress::Queued => ExpiredClaim::ExtendTo(now.saturating_add(ttl)),
        SendProgress::Started(at) if at.saturating_add(ttl) > now => ExpiredClaim::ExtendTo(at.saturating_add(ttl)),
        SendProgress::Started(_) => ExpiredClaim::Fail,
    }
}

/// The longest relay-supplied reason kept, in characters, the ellipsis of a cut one included.
pub const RELAY_REASON_MAX_CHARS: usize = 200;

/// A relay's words (the reason of an `OK false`, an error while sending) made fit for a log line
/// and for `outbox.last_error`: one line (control characters, line and paragraph separators and
/// runs of white space become one space; terminal escape sequences and invisible formatting
/// characters are dropped), trimmed, and at most [`RELAY_REASON_MAX_CHARS`] characters, cut on
/// a character boundary and ending with `…`. Reads no further than it keeps, so a reason of any
/// size costs little. Applying it twice changes nothing.
pub fn relay_reason(text: &str) -> String {
    one_line(text, RELAY_REASON_MAX_CHARS)
}

/// Untrusted text on one line of at most `max_chars` characters, as [`relay_reason`] describes;
/// also used for the node-stated facts a solver's brief shows.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut kept: Vec<char> = Vec::with_capacity(max_chars + 1);
    let mut space_due = false;
    let mut chars = text.chars().peekable();
    while kept.len() <= max_chars {
        let Some(c) = chars.next() else { break };
        if c == '\u{1b}' {
            skip_escape_sequence(&mut chars);
        } else if c.is_whitespace() || c.is_control() {
            space_due = !kept.is_empty();
        } else if !is_invisible(c) {
            if space_due {
                kept.push(' ');
                space_due = false;
            }
            kept.push(c);
        }
    }
    if kept.len() > max_chars {
        kept.truncate(max_chars - 1);
        while kept.last() == Some(&' ') {
            kept.pop();
        }
        kept.push('…');
    }
    kept.into_iter().collect()
}

/// Consumes the rest of an escape sequence after `ESC`: CSI (`ESC [` … a final byte), OSC
/// (`ESC ]` … BEL or `ESC \\`), or a two-character one.
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Zero-width and bidirectional formatting characters: invisible in a log, but able to reorder
/// or hide what is shown around them.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_counts_from_the_start_of_its_send() {
        let (now, ttl) = (1_000, 60);
        let cases = [
            ("never handed to Relay, or answered", SendProgress::Unknown, ExpiredClaim::Fail),
            ("waiting for a slot", SendProgress::Queued, ExpiredClaim::ExtendTo(1_060)),
            ("started just now", SendProgress::Started(1_000), ExpiredClaim::ExtendTo(1_060)),
            ("started 59 s ago", SendProgress::Started(941), ExpiredClaim::ExtendTo(1_001)),
            ("started exactly ttl ago", SendProgress::Started(940), ExpiredClaim::Fail),
            ("started long ago", SendProgress::Started(10), ExpiredClaim::Fail),
        ];
        for (case, progress, want) in cases {
            assert_eq!(expired_claim(progress, now, ttl), want, "{case}");
        }
        assert_eq!(
            expired_claim(SendProgress::Queued, i64::MAX - 1, ttl),
            ExpiredClaim::ExtendTo(i64::MAX),
            "saturates"
        );
    }

    #[test]
    fn relay_reasons_become_one_bounded_line() {
        let max = RELAY_REASON_MAX_CHARS;
        let long_ascii = "x".repeat(max + 1);
        let cut_ascii = format!("{}…", "x".repeat(max - 1));
        let exact = "y".repeat(max);
        // A 2-byte and a 4-byte character straddling the cut.
        let accents = "é".repeat(max + 5);
        let cut_accents = format!("{}…", "é".repeat(max - 1));
        let emoji = format!("{}{}", "a".repeat(max - 2), "🦀".repeat(3));
        let cut_emoji = format!("{}🦀…", "a".repeat(max - 2));
        let megabyte = "blocked: spam\n".repeat((1 << 20) / 14 + 1);
        let cut_megabyte = {
            let mut cut: String = "blocked: spam ".repeat(20).chars().take(max - 1).collect();
            cut.truncate(cut.trim_end().len());
            cut + "…"
        };
        let words_then_space_at_cut = format!("{} {}", "w".repeat(max - 2), "z".repeat(10));
        let cut_before_space = format!("{}…", "w".repeat(max - 2));
        let cases: &[(&str, &str, &str)] = &[
            ("plain", "blocked: you are banned", "blocked: you are banned"),
            ("empty", "", ""),
            ("newlines", "rate-limited:\nslow down\r\nnow", "rate-limited: slow down now"),
            ("forged log line", "error\n2024-01-01 ERROR serbero: fake", "error 2024-01-01 ERROR serbero: fake"),
            ("tabs and runs", "\t  a \t\t b  ", "a b"),
            ("other controls", "a\u{0}b\u{7}c\u{7f}d\u{85}e", "a b c d e"),
            ("line separators", "a\u{2028}b\u{2029}c", "a b c"),
            ("ANSI colour", "\u{1b}[31mred\u{1b}[0m text", "red text"),
            ("ANSI clear screen", "\u{1b}[2J\u{1b}[Hok", "ok"),
            ("OSC title", "\u{1b}]0;owned\u{7}after", "after"),
            ("OSC with ST", "\u{1b}]8;;http://x\u{1b}\\link", "link"),
            ("lone ESC", "a\u{1b}", "a"),
            ("bidi override", "abc\u{202e}fed\u{200b}", "abcfed"),
            ("exactly the limit", &exact, &exact),
            ("one over", &long_ascii, &cut_ascii),
            ("two-byte characters at the cut", &accents, &cut_accents),
            ("four-byte characters at the cut", &emoji, &cut_emoji),
            ("a 1 MB multi-line reason", &megabyte, &cut_megabyte),
            ("no space before the ellipsis", &words_then_space_at_cut, &cut_before_space),
        ];
        assert!(megabyte.len() >= 1 << 20);
        for (name, reason, expected) in cases {
            let got = relay_reason(reason);
            assert_eq!(&got, expected, "{name}");
            assert!(got.chars().count() <= max, "{name}");
            assert!(!got.chars().any(char::is_control), "{name}");
            assert_eq!(relay_reason(&got), got, "{name}: applying it twice changes nothing");
        }
    }

    #[test]
    fn failures_back_off_then_dead_letter() {
        let policy =
            RetryPolicy { max_attempts: 4, backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(5)) };
        let got: Vec<AfterFailure> = (1..=5).map(|n| policy.after_failure(n)).collect();
        let secs = |s| AfterFailure::RetryIn(Duration::from_secs(s));
        assert_eq!(got, [secs(2), secs(4), secs(5), AfterFailure::DeadLetter, AfterFailure::DeadLetter]);
    }

    #[test]
    fn statuses_round_trip_and_liveness() {
        for s in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::parse(s.as_str()), Some(s));
        }
        let live: Vec<_> = OutboxStatus::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [OutboxStatus::Pending, OutboxStatus::Claimed, OutboxStatus::Failed]);
    }
}
