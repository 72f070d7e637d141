//! A file or image a party sends in the dispute chat (spec/mostro-protocol.md §14.9) reaches the
//! model as a placeholder: no model request carries the message's JSON, the blob's locator,
//! nonce or key, while `party_messages` keeps the message as it was sent.

mod support;

use serbero_core::mediation::SessionState;
use support::scene::{Scene, Setup};
use support::*;

const BLOB_HASH: &str = "5d41402abc4b2a76b9719d911017c592aa9f1c3e6b8d0e2f4a6c8e0b2d4f6a81";
const NONCE: &str = "9f8e7d6c5b4a39281706f5e4";
const KEY: &str = "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=";

/// As Mostrix's `build_image_encrypted_json` (src/ui/helpers/attachments.rs) sends it: a
/// serde_json Map without `preserve_order`, so the keys are sorted.
fn mostrix_image() -> String {
    format!(
        r#"{{"blossom_url":"https://blossom.primal.net/{BLOB_HASH}","encrypted_size":250908,"filename":"receipt.png","height":2340,"mime_type":"image/png","nonce":"{NONCE}","original_size":250880,"type":"image_encrypted","width":1080}}"#
    )
}

/// As Mostrix's `serialize_attachment_for_transcript` (same file) writes it: the one shape with a
/// decryption `key`, which its parser also reads off the wire.
fn mostrix_keyed_file() -> String {
    format!(
        r#"{{"blossom_url":"blossom://blossom.primal.net/{BLOB_HASH}","filename":"statement.pdf","key":"{KEY}","mime_type":"application/pdf","type":"file_encrypted"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_reads_a_placeholder_never_the_attachment() {
    let s = Scene::start(Setup::default()).await;
    let (buyer, seller) = (s.party(&s.buyer).await, s.party(&s.seller).await);
    s.wait_for_session(SessionState::AwaitingResponse).await;
    buyer.say(&mostrix_image()).await.unwrap();
    seller.say(&mostrix_keyed_file()).await.unwrap();
    s.wait_for_session(SessionState::Closed).await;
    assert!(dm_containing(&s.solver, "mediation_summary/v1").await.is_some(), "the answers made a round");
    assert_eq!(s.inbound("buyer"), [mostrix_image()], "the record keeps the message as sent");
    assert_eq!(s.inbound("seller"), [mostrix_keyed_file()]);

    let requests = s.model.requests();
    let users: Vec<&str> = requests.iter().filter_map(|r| r.user()).collect();
    for placeholder in ["] buyer: [attachment: image, 245 KB]\n", "] seller: [attachment: file, size unknown]\n"] {
        assert!(users.iter().any(|u| u.contains(placeholder)), "no request shows {placeholder:?}: {users:#?}");
    }
    for request in &requests {
        let body = request.body.to_string();
        for leaked in [BLOB_HASH, NONCE, KEY, "blossom", "_encrypted", "receipt.png", "statement.pdf"] {
            assert!(!body.contains(leaked), "{leaked:?} reached the model: {body}");
        }
    }
    s.daemon.stop().await;
}
