//! Reads what a solver's brief says about one dispute (`serbero_core::brief`): the take's trade
//! facts, who opened the dispute, the model's newest classification and the parties' messages.
//! Reads only; the rows belong to this dispute's session and the Dispute actor.

use std::time::Duration;

use ractor::rpc::CallResult;
use rusqlite::{Connection, OptionalExtension};
use serbero_core::audit::EventKind;
use serbero_core::brief::{Brief, Quote, TradeFacts, MAX_QUOTES};
use serbero_core::reasoning::Label;
use tracing::debug;

use crate::relay::{self, RelayRef, ORDER_FETCH_TIMEOUT};

/// The brief of `dispute_id`, with the assessment of `session_id` (else the opening verdict).
pub(super) fn load(conn: &Connection, dispute_id: &str, session_id: Option<&str>) -> rusqlite::Result<Brief> {
    Ok(Brief {
        trade: trade(conn, dispute_id)?,
        assessment: assessment(conn, dispute_id, session_id)?,
        quotes: newest_words(conn, dispute_id)?,
        received: received(conn, dispute_id)?,
    })
}

/// The brief with the trade's fiat currency, which the node's answer to our take does not carry:
/// as the node's public order event states it, if a relay returns one in time.
pub(super) async fn with_currency(relay: &RelayRef, mut brief: Brief) -> Brief {
    let Some(order_id) = brief.trade.order_id.clone() else { return brief };
    let ask = |reply| relay::Msg::FetchFiatCode { order_id, reply };
    match relay.call(ask, Some(ORDER_FETCH_TIMEOUT + Duration::from_secs(1))).await {
        Ok(CallResult::Success(code)) => brief.trade.fiat_code = code,
        _ => debug!("no fiat currency for the brief"),
    }
    brief
}

/// The take's stated facts and who opened the dispute, through the readers the session already
/// has (`store`, `record`).
fn trade(conn: &Connection, dispute_id: &str) -> rusqlite::Result<TradeFacts> {
    let order_id = super::store::load(conn, dispute_id)?.and_then(|take| take.parties).map(|p| p.order_id);
    let stated = super::store::trade_facts(conn, dispute_id).optional()?.unwrap_or_default();
    Ok(TradeFacts {
        order_id,
        amount_sats: stated.amount_sats,
        fiat_amount: stated.fiat_amount,
        fiat_code: None,
        payment_method: stated.payment_method,
        opened_by: super::record::initiator(conn, dispute_id)?,
    })
}

fn assessment(conn: &Connection, dispute_id: &str, session_id: Option<&str>) -> rusqlite::Result<Option<(Label, f64)>> {
    let in_session = match session_id {
        Some(session) => super::record::last_classification(conn, session)?,
        None => None,
    };
    let found = match in_session {
        Some((label, confidence)) => Some((Some(label), Some(confidence))),
        None => conn
            .query_row(
                "SELECT json_extract(payload_json, '$.classification.classification'),
                        json_extract(payload_json, '$.classification.confidence')
                   FROM mediation_events WHERE session_id IS NULL AND kind = ?2
                    AND json_extract(payload_json, '$.dispute_id') = ?1
                  ORDER BY id DESC LIMIT 1",
                [dispute_id, EventKind::ReasoningVerdict.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
    };
    Ok(found.and_then(|(label, confidence)| Some((Label::parse(&label?)?, confidence?))))
}

/// How many messages the parties wrote.
fn received(conn: &Connection, dispute_id: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached("SELECT COUNT(*) FROM party_messages WHERE dispute_id = ?1 AND direction = 'inbound'")?
        .query_row([dispute_id], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}

/// The newest [`MAX_QUOTES`] messages the parties wrote, oldest first.
fn newest_words(conn: &Connection, dispute_id: &str) -> rusqlite::Result<Vec<Quote>> {
    let mut rows: Vec<(i64, Quote)> = conn
        .prepare_cached(
            "SELECT id, party, inner_created_at, content FROM party_messages
              WHERE dispute_id = ?1 AND direction = 'inbound'
              ORDER BY inner_created_at DESC, id DESC LIMIT ?2",
        )?
        .query_map(rusqlite::params![dispute_id, MAX_QUOTES as i64], super::store::quote_row)?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows.into_iter().map(|(_, quote)| quote).collect())
}
