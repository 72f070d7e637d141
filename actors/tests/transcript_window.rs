//! What the model reads of a conversation, from a real database: lines in the order they
//! arrived, each party its share, so a party flooding the chat with messages dated in the future
//! cannot push the other party's reply out of the model's view.

use serbero::session::record::transcript;
use serbero_core::reasoning::Speaker;
use serbero_core::storage;

const DISPUTE: &str = "58511141-6e3f-4b87-9c4a-1f2e3d4c5b6a";

#[test]
fn a_party_dating_its_flood_in_the_future_cannot_hide_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = storage::open(&dir.path().join("serbero.db")).unwrap();
    storage::migrate(&mut conn).unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO disputes (dispute_id, event_id, mostro_pubkey, initiator_role, event_timestamp, detected_at)
             VALUES ('{DISPUTE}', 'e', 'm', 'buyer', 1, 1);
         INSERT INTO solver_takes (dispute_id, state, request_id, requested_at, deadline_at, updated_at)
             VALUES ('{DISPUTE}', 'took', 1, 1, 2, 1);"
    ))
    .unwrap();
    let insert = |party: &str, direction: &str, n: usize, at: i64, content: &str| {
        conn.execute(
            "INSERT INTO party_messages (dispute_id, party, direction, inner_event_id, inner_created_at, content, persisted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
            rusqlite::params![DISPUTE, party, direction, format!("{party}-{direction}-{n}"), at, content],
        )
        .unwrap();
    };
    insert("buyer", "outbound", 0, 1_000, "Did you pay?");
    insert("seller", "outbound", 0, 1_000, "Did it arrive?");
    for n in 0..45 {
        insert("seller", "inbound", n, 4_000_000_000 + n as i64, "nothing arrived, nothing, nothing");
    }
    insert("buyer", "inbound", 0, 1_100, "I paid on Monday, reference 4711");

    let lines = transcript(&conn, DISPUTE).unwrap();
    let last = lines.last().expect("lines");
    assert_eq!((last.speaker, last.content.as_str()), (Speaker::Buyer, "I paid on Monday, reference 4711"));
    assert!(lines.iter().filter(|l| l.speaker == Speaker::Seller).count() <= 16, "the seller's share is bounded");
    assert!(lines.iter().any(|l| l.content == "Did you pay?"), "Serbero's questions stay in view");
}
