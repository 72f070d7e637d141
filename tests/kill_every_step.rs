//! Kill at every step (issue 14): a whole mediation runs on the real `serbero` binary, which is
//! SIGKILLed just before one of its database writes commits, for each write of the run in turn,
//! and restarted on the same database. Every session must end as it ends without the kill, every
//! outbox row must end `sent`, and nothing may reach the solver or a party twice: the same event
//! published again (same id) is a retry, a second event with the same content is a duplicate.
//!
//! The binary is built with the `fault-injection` feature (tests/support/halting.rs), which names
//! each write by the actor and function that make it and how many such writes came before, so
//! the k-th write of the run without a kill is found again in the others however the actors
//! interleave. The relay, the Mostro node, the parties, the solver and the model run in this
//! process, a fresh set of them and a fresh database for each write.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nostr_sdk::prelude::*;
use serbero_core::config::Config;
use serbero_sim::{Brain, FakeModel, FakeNode, NodeScript, SimParty, SolverCategory, SolverInbox, Trade};
use support::halting::{writes, ChatTap, HaltingBinary, Incarnation, HALTED_LINE};
use support::scene::mediation_config;
use support::{config_toml, rows, scalar, wait_for_scalar, World};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Logged once the model endpoint passed its health check: the dispute opens after it.
const MEDIATION_UP: &str = "mediation enabled";
/// What each party answers to the opening question.
const BUYER_SAYS: &str = "I paid on Monday, reference 4711";
const SELLER_SAYS: &str = "I will check my bank app now";
/// A run that ended must stay as it is this long: a DM still on its way would show here.
const QUIET: Duration = Duration::from_millis(300);
/// A run (start, mediation, kill, restart, end) takes two to four seconds.
const RUN_LIMIT: Duration = Duration::from_secs(10);
/// Runs only the kills at these writes (`3,17`), e.g. to look again at a finding.
const ONLY: &str = "KILL_EVERY_STEP_ONLY";

/// One mediation, from the dispute's opening to its end.
struct Scenario {
    name: &'static str,
    configure: fn(&mut Config),
}

/// Both parties answer; the model summarizes; the summary reaches the solver.
const SUMMARY: Scenario = Scenario { name: "summary", configure: |_| {} };

/// Both parties answer, which reaches the round limit: the session escalates and the dispatcher
/// hands the dispute to the solver.
const ESCALATION: Scenario = Scenario {
    name: "escalation",
    configure: |config| {
        config.mediation.max_rounds = 1;
        config.escalation.enabled = true;
        config.escalation.fallback_to_all_solvers = true;
    },
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_at_any_write_of_a_summarized_mediation_changes_nothing() {
    kill_at_every_write(&SUMMARY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_at_any_write_of_an_escalated_mediation_changes_nothing() {
    kill_at_every_write(&ESCALATION).await;
}

async fn kill_at_every_write(scenario: &Scenario) {
    let name = scenario.name;
    let started = Instant::now();
    let binary = tokio::task::spawn_blocking(HaltingBinary::build).await.expect("build task");
    eprintln!("[{name}] serbero with fault-injection built in {:?}", started.elapsed());

    let baseline = run(&binary.path, scenario, None, None).await;
    assert!(baseline.findings.is_empty(), "[{name}] the run without a kill: {:#?}", baseline.findings);
    let steps = baseline.writes.len() as u64;
    assert!(steps > 0, "[{name}] the run numbered no write: is the hook compiled in?");
    let listed: Vec<String> = baseline.writes.iter().map(|(k, step)| format!("  #{k} {step}")).collect();
    eprintln!(
        "[{name}] baseline: {steps} writes in {:?}\n{}\n{:#?}",
        baseline.took,
        listed.join("\n"),
        baseline.outcome
    );

    // Every write is tried, and every finding reported together: one write's failure says
    // little about the others.
    let mut findings = Vec::new();
    let chosen = match std::env::var(ONLY) {
        Ok(list) => list.split(',').map(|k| k.trim().parse().unwrap_or_else(|_| panic!("{ONLY}={list:?}"))).collect(),
        Err(_) => (1..=steps).collect::<Vec<u64>>(),
    };
    for k in chosen {
        let Some((_, step)) = baseline.writes.get(k as usize - 1) else { panic!("[{name}] no write #{k} in {steps}") };
        let killed = run(&binary.path, scenario, Some((k, step)), Some(&baseline.outcome)).await;
        if killed.halted_at.is_none() {
            // Not a finding: this run took a path without that write (the comparison with the
            // baseline says whether the path itself is right).
            eprintln!("[{name}] note: write #{k} ({step}) never came");
        }
        let verdict = if killed.findings.is_empty() { "same end, nothing twice" } else { "DIFFERS" };
        eprintln!("[{name}] write #{k} ({step}): {verdict}, in {:?}", killed.took);
        findings.extend(killed.findings.iter().map(|finding| format!("SIGKILL before write #{k} ({step}): {finding}")));
    }
    eprintln!("[{name}] {steps} kills in {:?}", started.elapsed());
    assert!(
        findings.is_empty(),
        "[{name}] {} finding(s) (rerun some with {ONLY}=k,k…):\n{}",
        findings.len(),
        findings.join("\n")
    );
}

/// How one run went.
struct Run {
    outcome: Outcome,
    /// Whatever differs from `expected`, reached someone twice, or never ended.
    findings: Vec<String>,
    /// The writes the first process numbered before it halted, or in the whole run.
    writes: Vec<(u64, String)>,
    /// The step the first process halted before.
    halted_at: Option<String>,
    took: Duration,
}

/// One run of `scenario` in a fresh world: when `halt_at` (the baseline's write number and its
/// step) is given, the first process halts before that step, is SIGKILLed and a second one
/// takes over on the same database. A run
/// ends once the mediation ended and stayed so for `QUIET`. With findings, its logs and database
/// are kept.
async fn run(binary: &Path, scenario: &Scenario, halt_at: Option<(u64, &str)>, expected: Option<&Outcome>) -> Run {
    let started = Instant::now();
    let stage = Stage::new(scenario).await;
    let mut daemon = stage.spawn(binary, "first", halt_at.map(|(_, step)| step));
    let (mut first_log, mut halted_at, mut opened, mut ended_at) = (None, None, false, None);
    let deadline = tokio::time::Instant::now() + RUN_LIMIT;
    // The writes so far, and since when: the dispute opens once the start's own writes are
    // done, so that they do not interleave with the mediation's differently from run to run.
    let mut written = (0, tokio::time::Instant::now());
    let ended = loop {
        let log = daemon.log();
        let now = tokio::time::Instant::now();
        let count = writes(&log).len();
        if count != written.0 {
            written = (count, now);
        }
        if first_log.is_none() {
            if let Some(line) = log.lines().find(|line| line.starts_with(HALTED_LINE)) {
                halted_at = Some(line.split_once(": ").map_or(line, |(_, step)| step).to_string());
                first_log = Some(log.clone());
                daemon.kill().await;
                daemon = stage.spawn(binary, "second", None);
                (ended_at, written) = (None, (0, now));
                continue;
            }
        }
        if !opened && log.contains(MEDIATION_UP) && now - written.1 >= QUIET {
            stage.open_dispute().await;
            opened = true;
        }
        match (opened && stage.ended(), ended_at) {
            (true, Some(at)) if now - at >= QUIET => break true,
            (true, None) => ended_at = Some(now),
            (true, Some(_)) => {}
            (false, _) => ended_at = None,
        }
        if now >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let first_log = first_log.unwrap_or_else(|| daemon.log());
    let outcome = stage.outcome();
    let mut findings = stage.duplicates();
    if !ended {
        findings.push(format!("the mediation did not end within {RUN_LIMIT:?}; it stands at {outcome:?}"));
    } else if let Some(expected) = expected.filter(|expected| **expected != outcome) {
        findings.push(format!("ended differently:\n  with the kill: {outcome:?}\n  without:       {expected:?}"));
    }
    daemon.kill().await;
    if !findings.is_empty() {
        let step = halt_at.map_or("baseline".to_string(), |(k, _)| format!("write-{k}"));
        findings.push(format!("logs and database kept in {}", stage.keep(&format!("{}-{step}", scenario.name))));
    }
    stage.stop().await;
    Run { outcome, findings, writes: writes(&first_log), halted_at, took: started.elapsed() }
}

/// How a mediation ended, with everything that differs from world to world (keys, ids, times)
/// left out.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// `lifecycle_state` of the dispute.
    dispute: Vec<String>,
    /// `state|round_count|current_classification` of each session.
    sessions: Vec<String>,
    /// `state|ended_reason|cant_do_reason` of the take.
    take: Vec<String>,
    /// `trigger|dispatcher's decision` of each prepared handoff.
    handoffs: Vec<String>,
    summaries: i64,
    /// `owner|notif_type|recipient|status` of each outbox row, sorted.
    outbox: Vec<String>,
    /// The first line of each DM the solver received, sorted.
    solver_received: Vec<String>,
    /// `party: text` of each message a party received from Serbero, sorted.
    parties_received: Vec<String>,
    /// `action|answer` of each request the node received.
    node_received: Vec<String>,
}

/// One run's world: relay, Mostro node, model, solver, the two parties answering the opening
/// question, and the daemon's configuration.
struct Stage {
    world: World,
    node: FakeNode,
    _model: FakeModel,
    solver: SolverInbox,
    tap: ChatTap,
    dispute: Uuid,
    buyer: Keys,
    seller: Keys,
    config: PathBuf,
    api_key: (String, String),
    /// The escalation dispatcher runs: a prepared handoff is not the end until it decided.
    dispatcher: bool,
    responders: Vec<JoinHandle<()>>,
}

impl Stage {
    async fn new(scenario: &Scenario) -> Self {
        let world = World::new().await;
        let node = FakeNode::start(world.mostro.keys.clone(), &world.relay.url(), NodeScript::default())
            .await
            .expect("fake node");
        node.register_solver(world.serbero.public_key(), SolverCategory::Read);
        let model = FakeModel::start().await.expect("fake model");
        let brain = Brain::cooperative();
        model.respond_with(move |request| brain.answer(request));
        let solver = world.solver().await;
        let (buyer, seller) = (Keys::generate(), Keys::generate());
        let tap = ChatTap::start(&world.relay.url(), world.serbero.public_key(), &[&buyer, &seller]).await;

        let mut config = mediation_config(&world, &solver, &model);
        // The node answers at once; a short deadline would only measure the restart's speed.
        config.mediation.take_timeout_seconds = 15;
        (scenario.configure)(&mut config);
        let path = world.dir.path().join("serbero.toml");
        std::fs::write(&path, config_toml(&config)).expect("write config");
        let api_key = (config.reasoning.api_key_env.clone(), config.reasoning.api_key.clone().expect("a model key"));

        let relay = world.relay.url();
        let serbero = world.serbero.public_key();
        let party = |keys: &Keys| SimParty::connect(keys.clone(), &relay, serbero);
        let responders = vec![
            answer_when_asked(party(&buyer).await.expect("buyer"), world.db_path(), BUYER_SAYS),
            answer_when_asked(party(&seller).await.expect("seller"), world.db_path(), SELLER_SAYS),
        ];
        Self {
            world,
            node,
            _model: model,
            solver,
            tap,
            dispute: Uuid::new_v4(),
            buyer,
            seller,
            config: path,
            api_key,
            dispatcher: config.escalation.enabled,
            responders,
        }
    }

    fn spawn(&self, binary: &Path, name: &str, halt_at: Option<&str>) -> Incarnation {
        let log = self.world.dir.path().join(format!("{name}.log"));
        let (key_env, key) = (&self.api_key.0, &self.api_key.1);
        Incarnation::spawn(binary, &self.config, log, halt_at, &[(key_env.as_str(), key.as_str())])
    }

    async fn open_dispute(&self) {
        let trade = Trade::opened_by_buyer(self.buyer.public_key(), self.seller.public_key());
        self.node.open_dispute(self.dispute, trade).await.expect("open the dispute");
    }

    fn db(&self) -> PathBuf {
        self.world.db_path()
    }

    /// The session (or the dispute, escalated before a take) reached an end, nothing is left to
    /// send or to dispatch, and every event sent reached its recipient.
    fn ended(&self) -> bool {
        let db = self.db();
        let count = |sql: &str| scalar(&db, sql);
        let ended = count(
            "SELECT (SELECT COUNT(*) FROM mediation_sessions
                      WHERE state IN ('closed', 'escalation_recommended', 'superseded_by_human'))
                  + (SELECT COUNT(*) FROM mediation_events WHERE kind = 'handoff_prepared')",
        ) > 0;
        let unsent = count("SELECT COUNT(*) FROM outbox WHERE status NOT IN ('sent', 'withdrawn', 'dead_lettered')");
        let undecided = count(
            "SELECT COUNT(*) FROM mediation_events e WHERE kind = 'handoff_prepared'
                AND NOT EXISTS (SELECT 1 FROM escalation_handoffs h WHERE h.handoff_event_id = e.id)",
        );
        if !ended || unsent > 0 || (undecided > 0 && self.dispatcher) {
            return false;
        }
        let received: HashSet<String> = (self.solver.messages().iter().map(|dm| dm.wrap_id.to_hex()))
            .chain(self.tap.seen().iter().map(|chat| chat.outer_id.to_hex()))
            .collect();
        rows(&db, "SELECT event_id FROM outbox WHERE status = 'sent'").iter().all(|id| received.contains(id))
    }

    /// What reached the solver, a party or the node twice in distinct events, and outbox rows
    /// not sent exactly once.
    fn duplicates(&self) -> Vec<String> {
        let mut found = Vec::new();
        let (mut texts, mut wraps) = (HashSet::new(), HashSet::new());
        for dm in self.solver.messages() {
            // The same wrap again is the same event published again: not a second message.
            if wraps.insert(dm.wrap_id) && !texts.insert(dm.text.clone()) {
                found.push(format!("the solver got this DM twice: {:?}", self.plain(&dm.text)));
            }
        }
        let (mut said, mut events) = (HashSet::new(), HashSet::new());
        for chat in self.tap.seen() {
            if events.insert(chat.outer_id) && !said.insert((chat.party, chat.content.clone())) {
                let who = self.role(&chat.party.to_hex());
                found.push(format!("the {who} got this twice: {:?}", self.plain(&chat.content)));
            }
        }
        let mut asked = HashSet::new();
        for request in self.node.requests() {
            if !asked.insert((format!("{:?}", request.action), request.request_id)) {
                found.push(format!(
                    "the node got {:?} with request id {:?} twice (distinct events), answering {:?}",
                    request.action, request.request_id, request.answer
                ));
            }
        }
        let db = self.db();
        for row in rows(&db, "SELECT notif_type, recipient, status, attempts FROM outbox WHERE status <> 'sent'") {
            found.push(format!("an outbox row not sent: {row}"));
        }
        found
    }

    /// `buyer`, `seller`, `solver` or `mostro` for a hex pubkey; the key itself otherwise.
    fn role(&self, hex: &str) -> String {
        let known = [
            (self.buyer.public_key(), "buyer"),
            (self.seller.public_key(), "seller"),
            (self.solver.pubkey(), "solver"),
            (self.node.pubkey(), "mostro"),
        ];
        known.iter().find(|(key, _)| key.to_hex() == hex).map_or(hex.to_string(), |(_, role)| role.to_string())
    }

    /// `text` with this world's dispute id replaced by `<dispute>`.
    fn plain(&self, text: &str) -> String {
        text.replace(&self.dispute.to_string(), "<dispute>")
    }

    fn outcome(&self) -> Outcome {
        let db = self.db();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let outbox = rows(&db, "SELECT owner, notif_type, recipient, status FROM outbox")
            .into_iter()
            .map(|row| {
                let cells: Vec<&str> = row.split('|').collect();
                let owner = cells[0].split(':').next().unwrap_or_default();
                format!("{owner}|{}|{}|{}", cells[1], self.role(cells[2]), cells[3])
            })
            .collect();
        let first_lines: HashSet<(EventId, String)> = (self.solver.messages().into_iter())
            .map(|dm| (dm.wrap_id, dm.text.lines().next().unwrap_or_default().to_string()))
            .collect();
        let said =
            self.tap.seen().into_iter().map(|chat| (chat.outer_id, self.role(&chat.party.to_hex()), chat.content));
        let said: HashSet<_> = said.collect();
        Outcome {
            dispute: rows(&db, "SELECT lifecycle_state FROM disputes"),
            sessions: rows(&db, "SELECT state, round_count, current_classification FROM mediation_sessions"),
            take: rows(&db, "SELECT state, ended_reason, cant_do_reason FROM solver_takes"),
            handoffs: rows(
                &db,
                "SELECT json_extract(e.payload_json, '$.trigger'), h.outcome
                   FROM mediation_events e LEFT JOIN escalation_handoffs h ON h.handoff_event_id = e.id
                  WHERE e.kind = 'handoff_prepared' ORDER BY e.id",
            ),
            summaries: scalar(&db, "SELECT COUNT(*) FROM mediation_summaries"),
            outbox: sorted(outbox),
            solver_received: sorted(first_lines.into_iter().map(|(_, line)| line).collect()),
            parties_received: sorted(
                said.into_iter().map(|(_, who, text)| format!("{who}: {}", self.plain(&text))).collect(),
            ),
            node_received: (self.node.requests().iter()).map(|r| format!("{:?}|{:?}", r.action, r.answer)).collect(),
        }
    }

    /// Copies the logs and the database to a directory that outlives the run; returns it.
    fn keep(&self, label: &str) -> String {
        let kept = std::env::temp_dir().join(format!("serbero-kill-every-step-{}", std::process::id())).join(label);
        let copied = std::fs::create_dir_all(&kept).and_then(|()| {
            for entry in std::fs::read_dir(self.world.dir.path())? {
                let path = entry?.path();
                std::fs::copy(&path, kept.join(path.file_name().unwrap_or_default()))?;
            }
            Ok(())
        });
        match copied {
            Ok(()) => kept.display().to_string(),
            Err(e) => format!("(not kept: {e})"),
        }
    }

    async fn stop(self) {
        for responder in &self.responders {
            responder.abort();
        }
        self.tap.stop().await;
        self.solver.stop().await;
    }
}

/// The party answers `text` once Serbero's first question reached it and the daemon recorded
/// that question as sent. Without the second wait, a quick answer from both parties can end the
/// round (and with it, at the round limit, the conversation) before the relay's `OK` for the
/// first question is stored, and that row ends `withdrawn` although it was delivered: a race
/// of its own, present without any kill, that would make the runs differ at random.
fn answer_when_asked(party: SimParty, db: PathBuf, text: &'static str) -> JoinHandle<()> {
    tokio::spawn(async move {
        let sent = format!(
            "SELECT COUNT(*) FROM outbox WHERE notif_type = 'party_message' AND recipient = '{}' AND status = 'sent'",
            party.pubkey().to_hex()
        );
        if party.wait_received(1, RUN_LIMIT).await && wait_for_scalar(&db, &sent, 1, RUN_LIMIT).await {
            party.say(text).await.expect("the party answers");
        }
        // Keeps the party's client until the run ends (the task is aborted then).
        std::future::pending::<()>().await;
    })
}
