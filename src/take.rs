//! Taking a dispute as a read-only solver: the one request Serbero ever sends to the Mostro node,
//! matching the node's answer to it, and telling our own take's `in-progress` revision from a
//! human solver's takeover.

use mostro_core::message::{Action, Message, Payload};
use nostr_sdk::PublicKey;
use uuid::Uuid;

use crate::dispute::DisputeStatus;

/// Every action Serbero may send to the node. Settling and cancelling move funds and belong to
/// human write solvers: no request below builds them, and [`ensure_read_only`] refuses them.
pub const READ_ONLY_ACTIONS: &[Action] = &[Action::AdminTakeDispute];

/// Tries of one take before the dispute is handed to the human solvers: the node reads only
/// live events, so a request published while it was away is lost, and each try is signed anew.
pub const MAX_TAKE_ATTEMPTS: u32 = 3;

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

/// What the node's parties are, once it handed us the dispute, and the trade's facts as the
/// node stated them (checked again before any reaches a party: `catalog::validated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenDispute {
    pub order_id: Uuid,
    pub buyer: PublicKey,
    pub seller: PublicKey,
    pub amount_sats: i64,
    pub fiat_amount: i64,
    pub payment_method: String,
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
            match parties(info.buyer_pubkey.as_deref(), info.seller_pubkey.as_deref()) {
                Ok((buyer, seller)) => TakeAnswer::Took(TakenDispute {
                    order_id: info.id,
                    buyer,
                    seller,
                    amount_sats: info.amount,
                    fiat_amount: info.fiat_amount,
                    payment_method: info.payment_method.clone(),
                }),
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

fn parties(buyer: Option<&str>, seller: Option<&str>) -> Result<(PublicKey, PublicKey), String> {
    let key = |role: &str, value: Option<&str>| -> Result<PublicKey, String> {
        let value = value.ok_or(format!("no {role} trade key"))?;
        PublicKey::parse(value).map_err(|_| format!("{role} trade key does not parse"))
    };
    let (buyer, seller) = (key("buyer", buyer)?, key("seller", seller)?);
    if buyer == seller {
        return Err("buyer and seller share one trade key".into());
    }
    Ok((buyer, seller))
}

/// What the node's refusal of our take means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `invalid_pubkey` for a dispute a revision shows claimed or resolved: someone else was
    /// first. Says nothing about Serbero.
    LostRace,
    /// `invalid_pubkey` for a dispute still `initiated` as far as Serbero knows: either Serbero
    /// is not a solver, or a revision is still on its way. Wait for one before judging.
    AwaitRevision,
    /// Any other reason (a missing order, ...): this dispute only.
    ThisDisputeOnly,
}

pub fn judge_refusal(reason: &str, claimed_or_resolved: bool) -> Refusal {
    match (reason, claimed_or_resolved) {
        ("invalid_pubkey", true) => Refusal::LostRace,
        ("invalid_pubkey", false) => Refusal::AwaitRevision,
        _ => Refusal::ThisDisputeOnly,
    }
}

/// What the node said about one take, counted over the take's life (distinct events).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TakeLedger {
    /// Requests a relay acknowledged.
    pub sent: u32,
    /// `admin-took-dispute` answers.
    pub accepted: u32,
    /// `cant-do` answers.
    pub refused: u32,
    /// `in-progress` revisions of the dispute seen since the take was first requested.
    pub in_progress: u32,
}

impl TakeLedger {
    /// Requests that got no answer yet (a slow node may still accept them).
    pub fn unanswered(&self) -> u32 {
        self.sent.saturating_sub(self.accepted + self.refused)
    }
}

/// Whose the dispute is, judged from the revisions after our take was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Us,
    /// More revisions than accepted takes while a request is unanswered: wait for its answer
    /// (or its deadline) before judging.
    Undecided,
    SomeoneElse,
}

/// mostrod publishes exactly one `in-progress` revision per accepted take, and accepts a take
/// of a dispute in progress only from its current solver (or, as a takeover, from a write
/// solver or the admin): the first revisions after ours, as many as the takes it accepted from
/// us, are ours; any more is someone else's (spec/mostro-protocol.md §14.5). Counting, not
/// dating: a human taking over one second after us is seen.
pub fn holder(ledger: &TakeLedger, answer_may_still_come: bool) -> Holder {
    if ledger.in_progress <= ledger.accepted {
        Holder::Us
    } else if ledger.unanswered() > 0 && answer_may_still_come {
        Holder::Undecided
    } else {
        Holder::SomeoneElse
    }
}

/// What a revision of the dispute means to its mediation session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevisionMeaning {
    /// The dispute was resolved: the session ends.
    Ends,
    /// `in-progress`: our take's own revision or a human taking over, told apart by counting
    /// ([`holder`]) once it is news to the take.
    MayBeTheTake,
    /// Nothing the session acts on.
    Nothing,
}

pub fn revision_meaning(status: &DisputeStatus) -> RevisionMeaning {
    if status.is_terminal() {
        RevisionMeaning::Ends
    } else if *status == DisputeStatus::InProgress {
        RevisionMeaning::MayBeTheTake
    } else {
        RevisionMeaning::Nothing
    }
}

/// What a take does when a try's deadline passes without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// Try again (freshly signed) as try number `attempt`.
    TryAgain { attempt: u32 },
    /// The dispute was resolved meanwhile: nothing to take.
    Resolved,
    /// Every try went unanswered: hand the dispute to the human solvers.
    GiveUp,
}

/// `tries_unanswered` counts the try whose deadline just passed.
pub fn after_unanswered(tries_unanswered: u32, resolved: bool) -> Unanswered {
    if resolved {
        Unanswered::Resolved
    } else if tries_unanswered < MAX_TAKE_ATTEMPTS {
        Unanswered::TryAgain { attempt: tries_unanswered + 1 }
    } else {
        Unanswered::GiveUp
    }
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
        let took_ok = TakeAnswer::Took(TakenDispute {
            order_id: ORDER,
            buyer,
            seller,
            amount_sats: 10_000,
            fiat_amount: 10,
            payment_method: "SEPA".into(),
        });
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
    fn refusals_are_judged_by_what_revisions_show() {
        let cases = [
            ("invalid_pubkey", true, Refusal::LostRace),
            ("invalid_pubkey", false, Refusal::AwaitRevision),
            ("not_found", false, Refusal::ThisDisputeOnly),
            ("not_found", true, Refusal::ThisDisputeOnly),
            ("not_authorized", false, Refusal::ThisDisputeOnly),
        ];
        for (reason, claimed, want) in cases {
            assert_eq!(judge_refusal(reason, claimed), want, "{reason} claimed={claimed}");
        }
    }

    #[test]
    fn a_takeover_is_one_revision_more_than_our_accepted_takes() {
        let ledger = |sent, accepted, refused, in_progress| TakeLedger { sent, accepted, refused, in_progress };
        let cases = [
            // (ledger, an answer may still come, holder)
            (ledger(1, 1, 0, 0), false, Holder::Us),
            (ledger(1, 1, 0, 1), false, Holder::Us),
            (ledger(1, 1, 0, 2), false, Holder::SomeoneElse),
            (ledger(1, 1, 0, 2), true, Holder::SomeoneElse),
            // A slow node answering both tries: the second revision may be our second take's.
            (ledger(2, 1, 0, 2), true, Holder::Undecided),
            (ledger(2, 1, 0, 2), false, Holder::SomeoneElse),
            (ledger(2, 2, 0, 2), false, Holder::Us),
            (ledger(2, 2, 0, 3), true, Holder::SomeoneElse),
            (ledger(2, 1, 1, 2), true, Holder::SomeoneElse),
        ];
        for (l, may_come, want) in cases {
            assert_eq!(holder(&l, may_come), want, "{l:?} answer may come: {may_come}");
        }
    }

    #[test]
    fn unanswered_tries_are_bounded() {
        let cases = [
            (1, false, Unanswered::TryAgain { attempt: 2 }),
            (2, false, Unanswered::TryAgain { attempt: 3 }),
            (3, false, Unanswered::GiveUp),
            (9, false, Unanswered::GiveUp),
            (1, true, Unanswered::Resolved),
            (3, true, Unanswered::Resolved),
        ];
        for (tries, resolved, want) in cases {
            assert_eq!(after_unanswered(tries, resolved), want, "{tries} resolved={resolved}");
        }
    }

    #[test]
    fn what_a_revision_means_to_the_session() {
        use DisputeStatus::*;
        let cases = [
            (Initiated, RevisionMeaning::Nothing),
            (InProgress, RevisionMeaning::MayBeTheTake),
            (Settled, RevisionMeaning::Ends),
            (SellerRefunded, RevisionMeaning::Ends),
            (Released, RevisionMeaning::Ends),
            (CooperativelyCanceled, RevisionMeaning::Ends),
            (Other("paused".into()), RevisionMeaning::Nothing),
        ];
        for (status, want) in cases {
            assert_eq!(revision_meaning(&status), want, "{status}");
        }
    }
}
