//! One round of an actor's retention pruning: the same for every actor that prunes its own rows.

use serbero_core::config::RetentionSettings;
use serbero_core::retention::{self, Pruned, Pruners};
use tracing::{info, warn};

use crate::db::Db;

/// Prunes a batch per table of `pruners` into `pruned` and says whether more is left; the actor
/// then casts itself another round, so a backlog (the first run after an upgrade) goes between
/// other work. A failure is only logged: the next daily run tries again.
pub(crate) async fn round(
    db: &mut Db,
    pruners: &'static Pruners,
    retention: &RetentionSettings,
    now: i64,
    pruned: &mut Pruned,
) -> bool {
    let Some(cutoff) = retention.cutoff(now) else { return false };
    match db.write(move |tx| retention::round(tx, pruners, cutoff)).await {
        Ok(round) => {
            pruned.merge(&round.pruned);
            if !round.more && pruned.total() > 0 {
                info!(%pruned, days = retention.days, "pruned rows past the retention period");
            }
            round.more
        }
        Err(e) => {
            warn!(error = %e, "pruning failed; the next daily run tries again");
            false
        }
    }
}
