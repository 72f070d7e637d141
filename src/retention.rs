//! Pruning what the retention period (`[retention]`, [`crate::config::RetentionSettings`])
//! lets go: what every owner of a prunable table shares. The statements themselves stay in each
//! table's owner (its store), which alone knows which of its rows nothing needs any more.
//!
//! The daemon prunes at start and then daily, each actor its own rows, a batch per table per
//! round so a backlog never holds the write lock for long; `serbero prune` runs the same
//! statements at once.

use std::fmt;
use std::time::Duration;

use rusqlite::Connection;

/// How often the daemon prunes, besides once at start (a daemon restarted more often than
/// daily still prunes).
pub const PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// The most rows one statement deletes. A transaction this size holds the database's write
/// lock for milliseconds, so the other writers (the daemon's actors, or a `serbero prune` run
/// beside the daemon) wait far less than their busy timeout.
pub const BATCH: usize = 5_000;

/// What a pruning statement does with its rows past the cutoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    /// Counts them (`serbero prune --dry-run`).
    Count,
    /// Deletes at most this many.
    Delete(usize),
}

/// One table's pruning statement in its owner's store, for the rows of that owner finished
/// before the cutoff (Unix seconds). Returns how many rows it counted or deleted.
pub type Pruner = fn(&Connection, i64, Prune) -> rusqlite::Result<usize>;

/// The tables one owner prunes, each with its statement.
pub type Pruners = [(&'static str, Pruner)];

/// Rows pruned (or that would be), per table, in the order the tables were first met.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned(Vec<(&'static str, usize)>);

impl Pruned {
    pub fn add(&mut self, table: &'static str, rows: usize) {
        match self.0.iter_mut().find(|(t, _)| *t == table) {
            Some((_, n)) => *n += rows,
            None => self.0.push((table, rows)),
        }
    }

    pub fn merge(&mut self, other: &Pruned) {
        for (table, rows) in &other.0 {
            self.add(table, *rows);
        }
    }

    pub fn rows(&self, table: &str) -> usize {
        self.0.iter().find(|(t, _)| *t == table).map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> usize {
        self.0.iter().map(|(_, n)| n).sum()
    }

    pub fn tables(&self) -> &[(&'static str, usize)] {
        &self.0
    }
}

/// `outbox 12, notifications 40` (tables with nothing pruned included).
impl fmt::Display for Pruned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(table, rows)| format!("{table} {rows}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// One round of an owner's pruning, in the caller's transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub pruned: Pruned,
    /// A table gave a full batch: it may hold more, so another round is due.
    pub more: bool,
}

/// Deletes at most [`BATCH`] rows of each of `pruners`' tables finished before `cutoff`.
pub fn round(tx: &Connection, pruners: &Pruners, cutoff: i64) -> rusqlite::Result<Round> {
    let mut round = Round::default();
    for (table, prune) in pruners {
        let deleted = prune(tx, cutoff, Prune::Delete(BATCH))?;
        round.pruned.add(table, deleted);
        round.more |= deleted >= BATCH;
    }
    Ok(round)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(_: &Connection, _: i64, how: Prune) -> rusqlite::Result<usize> {
        Ok(match how {
            Prune::Count => 3,
            Prune::Delete(limit) => limit.min(3),
        })
    }

    fn backlog(_: &Connection, _: i64, how: Prune) -> rusqlite::Result<usize> {
        Ok(match how {
            Prune::Count => 3 * BATCH,
            Prune::Delete(limit) => limit,
        })
    }

    fn failing(_: &Connection, _: i64, _: Prune) -> rusqlite::Result<usize> {
        Err(rusqlite::Error::InvalidQuery)
    }

    #[test]
    fn a_round_deletes_a_batch_per_table_and_asks_for_another_after_a_full_one() {
        let conn = Connection::open_in_memory().unwrap();
        type Case = (&'static Pruners, &'static str, bool);
        let cases: &[Case] = &[
            (&[], "", false),
            (&[("outbox", three)], "outbox 3", false),
            (&[("outbox", three), ("notifications", backlog)], "outbox 3, notifications 5000", true),
            (&[("outbox", backlog), ("outbox", three)], "outbox 5003", true),
        ];
        for (pruners, pruned, more) in cases {
            let got = round(&conn, pruners, 0).unwrap();
            assert_eq!((got.pruned.to_string().as_str(), got.more), (*pruned, *more));
        }
        assert!(round(&conn, &[("outbox", three), ("notifications", failing)], 0).is_err());
    }

    #[test]
    fn counts_add_up_per_table_in_first_seen_order() {
        let mut run = Pruned::default();
        run.add("outbox", 2);
        let mut next = Pruned::default();
        next.add("notifications", 0);
        next.add("outbox", 5);
        next.add("party_messages", 1);
        run.merge(&next);
        assert_eq!(run.tables(), [("outbox", 7), ("notifications", 0), ("party_messages", 1)]);
        assert_eq!((run.rows("outbox"), run.rows("nothing"), run.total()), (7, 0, 8));
        assert_eq!(run.to_string(), "outbox 7, notifications 0, party_messages 1");
    }
}
