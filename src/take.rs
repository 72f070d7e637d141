//! Taking a dispute as a read-only solver: the one request Serbero ever sends to the Mostro node,
//! matching the node's answer to it, and telling our own take's `in-progress` revision from a
//! human solver's takeover.

use mostro_core::message::{Action, Message, Payload};
use nostr_sdk::PublicKey;
use uuid::Uuid;

/// Every action Serbero may send to the node. Settling and cancelling move funds and belong to
/// human write solvers: no request below builds them, and [`ensure_read_only`] refuses them.
pub const READ_ONLY_ACTIONS: &[Action] = &[Action::AdminTakeDispute];

/// How much later than the node's answer our own take's revision may be dated: the node signs
/// it when the take commits, just before answering, and bumps it a second when two revisions of
/// a dispute fall in one second.
pub const OWN_REVISION_SLACK_SECS: i64 = 2;

/// `admin-take-dispute` for one dispute, correlated by `request_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakeRequest {
    pub dispute_id: Uuid,
    pub request_id: u64,
}

impl TakeRequest {
    pub fn message(&self) -> Message {
        Message::new_dispute(Some(self.dispute_id), Some(self.request_id), None, Action::AdminTakeDispute, None)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("refusing to send `{0}` to the node: Serbero is a read-only solver")]
pub struct ForbiddenAction(pub String);

/// The last check before a message to the node is wrapped.
pub fn ensure_read_only(message: &Message) -> Result<(), ForbiddenAction> {
    let action = &message.get_inner_message_kind().action;
    if READ_ONLY_ACTIONS.contains(action) {
        Ok(())
    } else {
        Err(ForbiddenAction(action.to_string()))
    }
}

/// What the node's parties are, once it handed us the dispute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenDispute {
    pub order_id: Uuid,
    pub buyer: PublicKey,
    pub seller: PublicKey,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakeAnswer {
    Took(TakenDispute),
    /// The node's `cant-do` reason, snake_case as on the wire.
    CantDo(String),
    /// An answer to our request that we cannot use.
    Malformed(String),
}

/// Whether `message` answers `request`, and how; `None` when it answers something else. A reply
/// echoes our `request_id`; one without any is matched by the dispute id.
pub fn match_answer(request: &TakeRequest, message: &Message) -> Option<TakeAnswer> {
    let inner = message.get_inner_message_kind();
    let ours = match inner.request_id {
        Some(id) => id == request.request_id,
        None => inner.id == Some(request.dispute_id),
    };
    if !ours {
        return None;
    }
    if let Some(Payload::CantDo(reason)) = &inner.payload {
        return Some(TakeAnswer::CantDo(cant_do_reason(reason.as_ref())));
    }
    Some(match (&inner.action, &inner.payload) {
        (Action::AdminTookDispute, Some(Payload::Dispute(id, Some(info)))) if *id == request.dispute_id => {
            match parties(info.id, info.buyer_pubkey.as_deref(), info.seller_pubkey.as_deref()) {
                Ok(taken) => TakeAnswer::Took(taken),
                Err(why) => TakeAnswer::Malformed(why),
            }
        }
        (Action::AdminTookDispute, _) => TakeAnswer::Malformed("admin-took-dispute without this dispute's info".into()),
        (action, _) => TakeAnswer::Malformed(format!("unexpected answer `{action}`")),
    })
}

fn cant_do_reason(reason: Option<&mostro_core::error::CantDoReason>) -> String {
    reason
        .and_then(|r| serde_json::to_value(r).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unspecified".to_string())
}

fn parties(order_id: Uuid, buyer: Option<&str>, seller: Option<&str>) -> Result<TakenDispute, String> {
    let key = |role: &str, value: Option<&str>| -> Result<PublicKey, String> {
        let value = value.ok_or(format!("no {role} trade key"))?;
        PublicKey::parse(value).map_err(|_| format!("{role} trade key does not parse"))
    };
    let (buyer, seller) = (key("buyer", buyer)?, key("seller", seller)?);
    if buyer == seller {
        return Err("buyer and seller share one trade key".into());
    }
    Ok(TakenDispute { order_id, buyer, seller })
}

/// Whether an `in-progress` revision dated `revision_at` is a takeover of the dispute we took at
/// `took_at` (the node's answer's time), rather than the revision our own take produced.
pub fn taken_over(took_at: i64, revision_at: i64) -> bool {
    revision_at > took_at + OWN_REVISION_SLACK_SECS
}

#[cfg(test)]
mod tests {
    use super::*;
    use mostro_core::dispute::SolverDisputeInfo;
    use mostro_core::error::CantDoReason;
    use nostr_sdk::Keys;

    const DISPUTE: Uuid = Uuid::from_u128(0x1111);
    const ORDER: Uuid = Uuid::from_u128(0x2222);
    const REQUEST: TakeRequest = TakeRequest { dispute_id: DISPUTE, request_id: 7 };

    fn info(buyer: Option<String>, seller: Option<String>) -> SolverDisputeInfo {
        let json = serde_json::json!({
            "id": ORDER, "kind": "sell", "status": "dispute", "hash": null, "preimage": null,
            "order_previous_status": "active", "initiator_pubkey": "", "buyer_pubkey": buyer,
            "seller_pubkey": seller, "initiator_full_privacy": true, "counterpart_full_privacy": true,
            "initiator_info": null, "counterpart_info": null, "premium": 0, "payment_method": "SEPA",
            "amount": 10_000, "fiat_amount": 10, "fee": 0, "routing_fee": 0, "buyer_invoice": null,
            "invoice_held_at": 0, "taken_at": 0, "created_at": 0
        });
        serde_json::from_value(json).unwrap()
    }

    fn took(dispute: Uuid, request_id: Option<u64>, info: SolverDisputeInfo) -> Message {
        naming(dispute, dispute, request_id, info)
    }

    /// An answer about `dispute` whose payload names `named`.
    fn naming(dispute: Uuid, named: Uuid, request_id: Option<u64>, info: SolverDisputeInfo) -> Message {
        let payload = Payload::Dispute(named, Some(info));
        Message::new_dispute(Some(dispute), request_id, None, Action::AdminTookDispute, Some(payload))
    }

    fn cant_do(id: Option<Uuid>, request_id: Option<u64>, reason: Option<CantDoReason>) -> Message {
        Message::cant_do(id, request_id, Some(Payload::CantDo(reason)))
    }

    #[test]
    fn answers_are_matched_to_the_request_and_read() {
        let (buyer, seller) = (Keys::generate().public_key(), Keys::generate().public_key());
        let both = || info(Some(buyer.to_hex()), Some(seller.to_hex()));
        let took_ok = TakeAnswer::Took(TakenDispute { order_id: ORDER, buyer, seller });
        let other = Uuid::from_u128(0x3333);
        let cases: Vec<(&str, Message, Option<TakeAnswer>)> = vec![
            ("took, request id echoed", took(DISPUTE, Some(7), both()), Some(took_ok.clone())),
            ("took, no request id", took(DISPUTE, None, both()), Some(took_ok)),
            ("another request", took(DISPUTE, Some(8), both()), None),
            ("another dispute, no request id", took(other, None, both()), None),
            (
                "cant-do echoing our request",
                cant_do(Some(DISPUTE), Some(7), Some(CantDoReason::InvalidPubkey)),
                Some(TakeAnswer::CantDo("invalid_pubkey".into())),
            ),
            (
                "cant-do by dispute id",
                cant_do(Some(DISPUTE), None, Some(CantDoReason::NotAuthorized)),
                Some(TakeAnswer::CantDo("not_authorized".into())),
            ),
            (
                "cant-do without reason",
                cant_do(Some(DISPUTE), Some(7), None),
                Some(TakeAnswer::CantDo("unspecified".into())),
            ),
            ("cant-do for another dispute", cant_do(Some(other), None, Some(CantDoReason::NotFound)), None),
            (
                "took naming another dispute",
                naming(DISPUTE, other, Some(7), both()),
                Some(TakeAnswer::Malformed("admin-took-dispute without this dispute's info".into())),
            ),
            (
                "no seller key",
                took(DISPUTE, Some(7), info(Some(buyer.to_hex()), None)),
                Some(TakeAnswer::Malformed("no seller trade key".into())),
            ),
            (
                "unparseable buyer key",
                took(DISPUTE, Some(7), info(Some("npub-nonsense".into()), Some(seller.to_hex()))),
                Some(TakeAnswer::Malformed("buyer trade key does not parse".into())),
            ),
            (
                "one key for both parties",
                took(DISPUTE, Some(7), info(Some(buyer.to_hex()), Some(buyer.to_hex()))),
                Some(TakeAnswer::Malformed("buyer and seller share one trade key".into())),
            ),
        ];
        for (name, message, expected) in cases {
            assert_eq!(match_answer(&REQUEST, &message), expected, "{name}");
        }
    }

    #[test]
    fn only_the_take_request_is_ever_allowed_out() {
        let take = REQUEST.message();
        assert_eq!(take.get_inner_message_kind().action, Action::AdminTakeDispute);
        assert_eq!(take.get_inner_message_kind().id, Some(DISPUTE));
        assert_eq!(take.get_inner_message_kind().request_id, Some(7));
        assert!(take.verify(), "the node accepts it only if mostro-core's own check passes");
        assert_eq!(ensure_read_only(&take), Ok(()));
        for action in [Action::AdminSettle, Action::AdminCancel, Action::AdminAddSolver, Action::AdminTookDispute] {
            let forbidden = Message::new_dispute(Some(DISPUTE), None, None, action.clone(), None);
            assert_eq!(ensure_read_only(&forbidden), Err(ForbiddenAction(action.to_string())), "{action}");
        }
    }

    #[test]
    fn a_takeover_is_a_revision_clearly_after_our_take() {
        let took_at = 1_000;
        let cases = [(990, false), (1_000, false), (1_002, false), (1_003, true), (5_000, true)];
        for (revision_at, over) in cases {
            assert_eq!(taken_over(took_at, revision_at), over, "revision at {revision_at}");
        }
    }
}
