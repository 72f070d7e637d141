//! One mediated dispute end to end: the daemon with mediation on, a simulated Mostro node, a
//! scripted model endpoint on loopback, a solver inbox and the two parties.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nostr_sdk::prelude::*;
use serbero::session::{self, store::TakeState, SessionRef, SessionStatus};
use serbero::sessions;
use serbero_core::config::{Config, PromptSettings};
use serbero_core::mediation::SessionState;
use serbero_sim::{Brain, FakeModel, FakeNode, NodeScript, SimParty, SolverCategory, SolverInbox, Trade};
use uuid::Uuid;

use super::{rows, scalar, wait_for_scalar, Daemon, World, WAIT};

/// How the scene is set up; `Default` is a cooperative dispute on a default node that registered
/// Serbero as a read solver.
pub struct Setup {
    pub node: NodeScript,
    /// Serbero's solver category at the node; `None`: no solver row (a node announcing Serbero in
    /// its script registers it all the same).
    pub serbero_registered: Option<SolverCategory>,
    /// The node stops listening before the dispute opens: Serbero's take is never seen, so never
    /// answered.
    pub node_offline: bool,
    pub brain: Brain,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            node: NodeScript::default(),
            serbero_registered: Some(SolverCategory::Read),
            node_offline: false,
            brain: Brain::cooperative(),
        }
    }
}

pub struct Scene {
    pub world: World,
    pub node: FakeNode,
    pub model: FakeModel,
    pub daemon: Daemon,
    pub solver: SolverInbox,
    pub dispute: Uuid,
    pub buyer: Keys,
    pub seller: Keys,
}

/// The repository's own prompt bundle.
pub fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

/// Mediation and reasoning on, against `model`, with the shipped prompts and quick timers.
pub fn mediation_config(world: &World, solver: &SolverInbox, model: &FakeModel) -> Config {
    let mut config = world.config(&[solver]);
    config.mediation.enabled = true;
    config.mediation.take_timeout_seconds = 2;
    config.reasoning.enabled = true;
    config.reasoning.provider = "openai-compatible".into();
    config.reasoning.model = "scripted".into();
    config.reasoning.api_base = model.url();
    config.reasoning.api_key = Some("test-key".into());
    config.reasoning.request_timeout_seconds = 5;
    config.prompts = PromptSettings::in_dir(&prompts_dir());
    config
}

impl Scene {
    pub async fn start(setup: Setup) -> Self {
        Self::start_with(setup, |_| {}).await
    }

    /// Starts everything, waits until mediation runs, then opens the dispute.
    pub async fn start_with(setup: Setup, configure: impl FnOnce(&mut Config)) -> Self {
        let offline = setup.node_offline;
        let scene = Self::start_idle(setup, configure).await;
        if offline {
            scene.node.go_offline().await;
        }
        scene.open_dispute().await;
        scene
    }

    /// Starts everything and waits until mediation runs; the scene's dispute is not opened yet.
    pub async fn start_idle(setup: Setup, configure: impl FnOnce(&mut Config)) -> Self {
        let world = World::new().await;
        let node = FakeNode::start(world.mostro.keys.clone(), &world.relay.url(), setup.node).await.unwrap();
        let model = FakeModel::start().await.unwrap();
        let brain = setup.brain;
        model.respond_with(move |request| brain.answer(request));
        let solver = world.solver().await;
        if let Some(category) = setup.serbero_registered {
            node.register_solver(world.serbero.public_key(), category);
        }
        let (dispute, buyer, seller) = (Uuid::new_v4(), Keys::generate(), Keys::generate());
        let mut config = mediation_config(&world, &solver, &model);
        configure(&mut config);
        let daemon = Daemon::start(config).await;
        daemon.sessions().await;
        let scene = Self { world, node, model, daemon, solver, dispute, buyer, seller };
        scene.wait_for_node_info().await;
        scene
    }

    /// Opens the scene's dispute at the node.
    pub async fn open_dispute(&self) {
        let trade = Trade::opened_by_buyer(self.buyer.public_key(), self.seller.public_key());
        self.node.open_dispute(self.dispute, trade).await.unwrap();
    }

    /// Another dispute on the same node, opened by a buyer of another trade.
    pub async fn open_another_dispute(&self) -> Uuid {
        let dispute = Uuid::new_v4();
        let trade = Trade::opened_by_buyer(Keys::generate().public_key(), Keys::generate().public_key());
        self.node.open_dispute(dispute, trade).await.unwrap();
        dispute
    }

    async fn wait_for_node_info(&self) {
        let relay = &self.daemon.children().relay;
        let deadline = tokio::time::Instant::now() + WAIT;
        while relay.call(serbero::relay::Msg::Status, Some(WAIT)).await.unwrap().unwrap().node_info.is_none() {
            assert!(tokio::time::Instant::now() < deadline, "node info never reached the relay actor");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn db(&self) -> PathBuf {
        self.world.db_path()
    }

    pub async fn session(&self) -> Option<SessionRef> {
        let sessions = self.daemon.sessions().await;
        let dispute_id = self.dispute.to_string();
        let answer = sessions.call(|reply| sessions::Msg::Session { dispute_id, reply }, Some(WAIT)).await;
        answer.unwrap().unwrap()
    }

    pub async fn status(&self) -> SessionStatus {
        let session = self.session().await.expect("a running session");
        session.call(session::Msg::Status, Some(WAIT)).await.unwrap().unwrap()
    }

    /// The stored take: (state, cant_do_reason, ended_reason).
    pub fn take(&self) -> Option<(String, Option<String>, Option<String>)> {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.query_row(
            "SELECT state, cant_do_reason, ended_reason FROM solver_takes WHERE dispute_id = ?1",
            [self.dispute.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()
    }

    pub async fn wait_for_take(&self, state: TakeState) {
        let sql = format!(
            "SELECT COUNT(*) FROM solver_takes WHERE dispute_id = '{}' AND state = '{}'",
            self.dispute,
            state.as_str()
        );
        assert!(wait_for_scalar(&self.db(), &sql, 1, WAIT).await, "take never {}: {:?}", state.as_str(), self.take());
    }

    pub fn session_state(&self) -> Option<String> {
        rows(&self.db(), &format!("SELECT state FROM mediation_sessions WHERE dispute_id = '{}'", self.dispute)).pop()
    }

    pub async fn wait_for_session(&self, state: SessionState) {
        let sql = format!(
            "SELECT COUNT(*) FROM mediation_sessions WHERE dispute_id = '{}' AND state = '{}'",
            self.dispute,
            state.as_str()
        );
        let found = wait_for_scalar(&self.db(), &sql, 1, WAIT).await;
        assert!(found, "session never {state}: {:?}", self.session_state());
    }

    pub async fn party(&self, keys: &Keys) -> SimParty {
        SimParty::connect(keys.clone(), &self.world.relay.url(), self.world.serbero.public_key()).await.unwrap()
    }

    pub fn inbound(&self, party: &str) -> Vec<String> {
        let sql = format!(
            "SELECT content FROM party_messages
              WHERE dispute_id = '{}' AND party = '{party}' AND direction = 'inbound' ORDER BY id",
            self.dispute
        );
        rows(&self.db(), &sql)
    }

    pub async fn wait_for_inbound(&self, n: i64) {
        let sql = format!(
            "SELECT COUNT(*) FROM party_messages WHERE dispute_id = '{}' AND direction = 'inbound'",
            self.dispute
        );
        assert!(wait_for_scalar(&self.db(), &sql, n, WAIT).await, "expected {n} party messages");
    }

    /// Events of `kind` about this dispute, session- or dispute-scoped.
    pub fn events(&self, kind: &str) -> i64 {
        scalar(
            &self.db(),
            &format!(
                "SELECT COUNT(*) FROM mediation_events WHERE kind = '{kind}'
                   AND (json_extract(payload_json, '$.dispute_id') = '{d}'
                        OR session_id IN (SELECT session_id FROM mediation_sessions WHERE dispute_id = '{d}'))",
                d = self.dispute
            ),
        )
    }

    /// The trigger of this dispute's escalation, once recorded.
    pub async fn wait_for_escalation(&self) -> String {
        let sql = format!(
            "SELECT COUNT(*) FROM mediation_events WHERE kind = 'handoff_prepared'
               AND json_extract(payload_json, '$.dispute_id') = '{}'",
            self.dispute
        );
        assert!(
            wait_for_scalar(&self.db(), &sql, 1, WAIT).await,
            "never escalated; session {:?}",
            self.session_state()
        );
        rows(
            &self.db(),
            &format!(
                "SELECT json_extract(payload_json, '$.trigger') FROM mediation_events WHERE kind = 'handoff_prepared'
                   AND json_extract(payload_json, '$.dispute_id') = '{}'",
                self.dispute
            ),
        )
        .remove(0)
    }
}
