//! Soak: the real daemon for minutes under a mixed load, then what it held. Concurrently:
//! - a steady stream of disputes Serbero only notifies about (Mostro publishes them; the model's
//!   opening assessment flags fraud, so Serbero never takes them and hands them to the humans);
//! - mediations: disputes the simulated node opens and lets Serbero take, parties that answer
//!   the opening questions, a scripted model that then summarizes (half of them) or flags
//!   conflicting claims (an escalation, handed off to the write solver);
//! - the daemon's main relay reached through a `Link` that is cut and restored every so often;
//! - a second configured relay that takes every event and never answers, all run long;
//! - the daemon stopped and started again in-process on the same database every so often.
//!
//! Solvers read both forms of every DM (a NIP-17 gift wrap and a Mostrix `send-dm`). At the end
//! every (form, solver, dispute, kind) the scripts call for must have arrived exactly once,
//! nothing else may have, and each party must have read its one question exactly once; the
//! run exits non-zero otherwise. Not a test: it prints figures. Run with
//! `cargo bench -p serbero --bench soak -- [--minutes M] [--rate R] [--mediation-every S]`
//! (R notification disputes per second, one mediation every S seconds).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nostr_sdk::{EventId, Keys};
use serbero::status::StatusReport;
use serbero_core::config::{Config, LogFormat, Permission, PromptSettings, Solver};
use serbero_sim::{
    Brain, FakeModel, FakeNode, Link, LinkShape, MostrixInbox, NodeScript, SimMostro, SimParty, SolverCategory,
    SolverInbox, TestRelay, Trade, Turn,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Solvers notified; the first has write permission, so escalation handoffs go to it alone.
const SOLVERS: usize = 3;
/// The main relay is cut this often, for this long; the daemon's client then reconnects on its
/// own schedule (10 s ± 3 s, longer after repeated failures).
const CUT_EVERY: Duration = Duration::from_secs(37);
const CUT_FOR: Duration = Duration::from_secs(4);
/// The daemon is stopped this often, and started again on the same database this much later.
const RESTART_EVERY: Duration = Duration::from_secs(53);
const DOWN_FOR: Duration = Duration::from_secs(3);
/// How long the daemon gets to stop (its own bound for the actor tree is 30 s).
const STOP_LIMIT: Duration = Duration::from_secs(45);
/// How long mediation's bring-up (a health check of the model) may take at each start.
const MEDIATION_UP: Duration = Duration::from_secs(30);
/// Bound of the wait, after the load stopped, for every DM and question the scripts call for.
const SETTLE: Duration = Duration::from_secs(300);
/// Once everything arrived, whatever else arrives in this time still counts.
const QUIET: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(500);
/// Entries of each problem list printed in full.
const SHOWN: usize = 10;

struct Options {
    length: Duration,
    rate: f64,
    mediation_every: Duration,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: f64| {
        let value = args.windows(2).find(|pair| pair[0] == name).map(|pair| pair[1].parse().expect("a number"));
        value.unwrap_or(default)
    };
    Options {
        length: Duration::from_secs_f64(arg("--minutes", 3.0) * 60.0),
        rate: arg("--rate", 2.0),
        mediation_every: Duration::from_secs_f64(arg("--mediation-every", 3.0)),
    }
}

fn main() -> anyhow::Result<()> {
    let o = options();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let held = rt.block_on(soak(&o))?;
    held.print();
    anyhow::ensure!(held.clean(), "the soak run did not hold: see the lists above");
    Ok(())
}

/// What a dispute is opened to do, which the scripted model and the checks both follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    /// Published by Mostro; the opening assessment flags fraud, so Serbero never takes it.
    Notification,
    /// Taken; both parties answer their question; the model summarizes for the solvers.
    Summary,
    /// Taken; both parties answer; the model flags conflicting claims: escalated.
    Escalation,
}

impl Script {
    const ALL: [Script; 3] = [Script::Notification, Script::Summary, Script::Escalation];

    fn brain(self) -> Brain {
        let cooperative = Brain::cooperative();
        match self {
            Script::Notification => Brain { opening: Turn::Flag("fraud_risk"), ..cooperative },
            Script::Summary => cooperative,
            Script::Escalation => Brain { after_rounds: vec![Turn::Flag("conflicting_claims")], ..cooperative },
        }
    }

    /// The kinds of DM a solver gets for such a dispute (`write`: the write solver).
    fn expected(self, write: bool) -> Vec<&'static str> {
        let (mut kinds, handoff) = match self {
            Script::Notification => (vec!["initial", "alert:fraud_indicator"], "handoff:fraud_indicator"),
            Script::Summary => (vec!["initial", "assignment", "summary"], ""),
            Script::Escalation => {
                (vec!["initial", "assignment", "alert:conflicting_claims"], "handoff:conflicting_claims")
            }
        };
        if write && !handoff.is_empty() {
            kinds.push(handoff);
        }
        kinds
    }

    /// What the buyer and the seller answer to their question.
    fn replies(self) -> (&'static str, &'static str) {
        match self {
            Script::Escalation => ("I paid in full on Monday.", "Nothing arrived, the buyer is not telling the truth."),
            _ => ("I paid on Monday, reference 4711", "I will check my bank app now"),
        }
    }
}

/// The disputes opened so far, shared with the model's responder.
#[derive(Default)]
struct Ledger(Mutex<Opened>);

impl Ledger {
    fn open(&self, dispute: &str, script: Script) {
        self.0.lock().expect("ledger lock").insert(dispute.to_string(), (script, Instant::now()));
    }

    fn script(&self, dispute: &str) -> Option<Script> {
        self.0.lock().expect("ledger lock").get(dispute).map(|(script, _)| *script)
    }

    fn snapshot(&self) -> Opened {
        self.0.lock().expect("ledger lock").clone()
    }
}

/// A solver reading both forms of its DMs.
struct SolverReader {
    gift_wraps: SolverInbox,
    mostrix: MostrixInbox,
    write: bool,
}

/// Everything but the daemon and the main relay's link.
struct Stage {
    relay: TestRelay,
    /// Behind the mute link: a relay of its own, so what Serbero publishes there reaches nobody
    /// and a DM sent while the main relay is cut must be retried to arrive.
    _black_hole: TestRelay,
    mute: Link,
    node: FakeNode,
    mostro: SimMostro,
    model: FakeModel,
    solvers: Vec<SolverReader>,
    serbero: Keys,
    dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
}

impl Stage {
    async fn start() -> anyhow::Result<Self> {
        let relay = TestRelay::start().await?;
        let _black_hole = TestRelay::start().await?;
        let mute = Link::open_shaped(&_black_hole, LinkShape { round_trip: Duration::ZERO, mute: true }).await;
        let (serbero, mostro_keys) = (Keys::generate(), Keys::generate());
        let node = FakeNode::start(mostro_keys.clone(), &relay.url(), NodeScript::default()).await?;
        node.register_solver(serbero.public_key(), SolverCategory::Read);
        // The same Mostro key, publishing the disputes the node itself never hears of.
        let mostro = SimMostro::connect(mostro_keys, &relay.url()).await?;
        let ledger = Arc::new(Ledger::default());
        let model = FakeModel::start().await?;
        answer_by_script(&model, ledger.clone());
        let mut solvers = Vec::new();
        for n in 0..SOLVERS {
            let keys = Keys::generate();
            let gift_wraps = SolverInbox::start_with(keys.clone(), &relay.url()).await?;
            let mostrix = MostrixInbox::start(keys, vec![serbero.public_key()], &relay.url()).await?;
            solvers.push(SolverReader { gift_wraps, mostrix, write: n == 0 });
        }
        let dir = tempfile::tempdir()?;
        Ok(Self { relay, _black_hole, mute, node, mostro, model, solvers, serbero, dir, ledger })
    }

    /// Mediation, reasoning and escalation on, against the scripted model, with the shipped
    /// prompts; the main relay through `main`, the mute one second.
    fn config(&self, main: &Link) -> Config {
        let solvers = self.solvers.iter().map(|s| {
            let permission = if s.write { Permission::Write } else { Permission::Read };
            Solver::new(s.gift_wraps.pubkey(), permission)
        });
        let relays = vec![main.url(), self.mute.url()];
        let db = self.dir.path().join("soak.db");
        let mut c = Config::minimal(self.serbero.clone(), self.node.pubkey(), relays, solvers.collect(), db);
        // No reminders: the run checks an exact set of DMs, and a dispute's reminder rounds
        // would depend on how long the run took.
        c.timeouts.renotification_seconds = 86_400;
        // A DM that failed during a cut is tried again within seconds of the relay coming back,
        // and never runs out of attempts within the run.
        c.outbox.retry_initial_seconds = 1;
        c.outbox.retry_max_seconds = 10;
        c.outbox.max_attempts = 100;
        c.mediation.enabled = true;
        c.escalation.enabled = true;
        c.reasoning.enabled = true;
        c.reasoning.provider = "openai-compatible".into();
        c.reasoning.model = "scripted".into();
        c.reasoning.api_base = self.model.url();
        c.reasoning.api_key = Some("soak-key".into());
        c.prompts = PromptSettings::in_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts"));
        c
    }
}

/// The model answers each request as the script of the dispute it names says (the health check
/// and the guard name none: any brain answers those alike).
fn answer_by_script(model: &FakeModel, ledger: Arc<Ledger>) {
    let brains: Vec<(Script, Brain)> = Script::ALL.iter().map(|s| (*s, s.brain())).collect();
    model.respond_with(move |request| {
        let user = request.user().unwrap_or_default();
        let dispute = user.lines().find_map(|l| l.strip_prefix("dispute_id: "));
        let script = dispute.and_then(|d| ledger.script(d.trim())).unwrap_or(Script::Summary);
        let (_, brain) = brains.iter().find(|(s, _)| *s == script).expect("a brain per script");
        brain.answer(request)
    });
}

/// The daemon, run in-process until told to stop.
struct Daemon {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Starts it and waits until mediation's bring-up started the Sessions supervisor: from
    /// then on a dispute can be taken (and a failed bring-up fails the run).
    async fn start(config: &Config) -> anyhow::Result<Self> {
        let running = serbero::daemon::start(config.clone()).await?;
        running.ready().await?;
        let deadline = Instant::now() + MEDIATION_UP;
        while running.children().await?.sessions.is_none() {
            anyhow::ensure!(Instant::now() < deadline, "mediation never came up");
            tokio::time::sleep(POLL / 10).await;
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(running.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(Self { stop, task })
    }

    /// Stops it cleanly; returns how long that took.
    async fn stop(self) -> anyhow::Result<Duration> {
        let stopping = Instant::now();
        let _ = self.stop.send(());
        let stopped = tokio::time::timeout(STOP_LIMIT, self.task).await;
        stopped.map_err(|_| anyhow::anyhow!("the daemon did not stop in {STOP_LIMIT:?}"))???;
        Ok(stopping.elapsed())
    }
}

/// Sleeps `period` unless that ends after `until`; false then, without sleeping.
async fn sleep_before(period: Duration, until: Instant) -> bool {
    if Instant::now() + period >= until {
        return false;
    }
    tokio::time::sleep(period).await;
    true
}

/// Cuts the main relay every `CUT_EVERY` for `CUT_FOR` until `until`; the link, restored, and
/// how many cuts.
async fn cut_now_and_then(mut link: Link, until: Instant) -> (Link, usize) {
    let mut cuts = 0;
    while sleep_before(CUT_EVERY, until).await {
        link.cut();
        cuts += 1;
        tokio::time::sleep(CUT_FOR).await;
        link.restore().await;
    }
    (link, cuts)
}

/// Restarts the daemon every `RESTART_EVERY` until `until`; the running daemon, how many
/// restarts, and the slowest stop.
async fn restart_now_and_then(
    mut daemon: Daemon,
    config: Config,
    until: Instant,
) -> anyhow::Result<(Daemon, usize, Duration)> {
    let (mut restarts, mut slowest) = (0, Duration::ZERO);
    while sleep_before(RESTART_EVERY, until).await {
        slowest = slowest.max(daemon.stop().await?);
        tokio::time::sleep(DOWN_FOR).await;
        daemon = Daemon::start(&config).await?;
        restarts += 1;
    }
    Ok((daemon, restarts, slowest))
}

/// Publishes `rate` disputes a second until `until`, each one Serbero only notifies about.
async fn notification_stream(stage: Arc<Stage>, rate: f64, until: Instant) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    loop {
        ticks.tick().await;
        if Instant::now() >= until {
            return Ok(());
        }
        let dispute = Uuid::new_v4().to_string();
        let event = stage.mostro.dispute_event(&dispute, "initiated", "buyer", &[])?;
        stage.ledger.open(&dispute, Script::Notification);
        stage.mostro.send(&event).await?;
    }
}

/// One mediated dispute: the parties, kept to the end to see whatever else reaches them.
struct Conversation {
    dispute: String,
    script: Script,
    buyer: SimParty,
    seller: SimParty,
    /// Both parties read their question (by the settle deadline) and answered it.
    answered: bool,
}

/// Opens a mediation every `every` until `until`, summaries and escalations in turn.
async fn mediation_stream(
    stage: Arc<Stage>,
    every: Duration,
    until: Instant,
    deadline: Instant,
) -> Vec<JoinHandle<anyhow::Result<Conversation>>> {
    let mut ticks = tokio::time::interval(every);
    let mut conversations = Vec::new();
    loop {
        ticks.tick().await;
        if Instant::now() >= until {
            return conversations;
        }
        let script = if conversations.len() % 2 == 0 { Script::Summary } else { Script::Escalation };
        conversations.push(tokio::spawn(converse(stage.clone(), script, deadline)));
    }
}

/// The node opens a dispute between two new parties; each waits for its question (until
/// `deadline`) and answers it.
async fn converse(stage: Arc<Stage>, script: Script, deadline: Instant) -> anyhow::Result<Conversation> {
    let (buyer_keys, seller_keys) = (Keys::generate(), Keys::generate());
    let trade = Trade::opened_by_buyer(buyer_keys.public_key(), seller_keys.public_key());
    let serbero = stage.serbero.public_key();
    let buyer = SimParty::connect(buyer_keys, &stage.relay.url(), serbero).await?;
    let seller = SimParty::connect(seller_keys, &stage.relay.url(), serbero).await?;
    let dispute = Uuid::new_v4();
    stage.ledger.open(&dispute.to_string(), script);
    stage.node.open_dispute(dispute, trade).await?;
    let wait = deadline.saturating_duration_since(Instant::now());
    let (buyer_asked, seller_asked) = tokio::join!(buyer.wait_received(1, wait), seller.wait_received(1, wait));
    let answered = buyer_asked && seller_asked;
    if answered {
        let (buyer_says, seller_says) = script.replies();
        buyer.say(buyer_says).await?;
        seller.say(seller_says).await?;
    }
    Ok(Conversation { dispute: dispute.to_string(), script, buyer, seller, answered })
}

/// (form, solver, dispute, kind): one DM the scripts may call for.
type Key = (&'static str, usize, String, String);
/// The distinct events received under each key.
type Events = HashMap<Key, HashSet<EventId>>;
/// When each solver's gift wrap of a new dispute first arrived.
type FirstNotified = HashMap<(usize, String), Instant>;
/// Every dispute opened: its script and when its event was published.
type Opened = HashMap<String, (Script, Instant)>;

/// The dispute and the kind of a solver DM, in either form (the Mostrix form's header line,
/// `Dispute <id> · <subject>`, is skipped); an alert or a handoff with its trigger.
fn classify(text: &str) -> (String, String) {
    let body = match text.split_once('\n') {
        Some((header, rest)) if header.starts_with("Dispute ") && header.contains(" · ") => rest,
        _ => text,
    };
    let field = |name: &str| body.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let dispute = field("dispute_id: ").or(field("Dispute: ")).unwrap_or("?").to_string();
    let trigger = field("Trigger: ").unwrap_or("?");
    let kind = match body.lines().next().unwrap_or_default() {
        "New Mostro dispute requires attention." => "initial".to_string(),
        "Mostro dispute has been taken." => "assignment".to_string(),
        "Mostro dispute is still unattended." => "re-notification".to_string(),
        "mediation_summary/v1" => "summary".to_string(),
        "Serbero mediation needs human judgment." => format!("alert:{trigger}"),
        "escalation_handoff/v1" => format!("handoff:{trigger}"),
        other => other.to_string(),
    };
    (dispute, kind)
}

/// Every DM each solver received, and when the new-dispute ones first arrived.
fn received(solvers: &[SolverReader]) -> (Events, FirstNotified) {
    let (mut events, mut first_notified) = (Events::new(), FirstNotified::new());
    for (n, solver) in solvers.iter().enumerate() {
        for dm in solver.gift_wraps.messages() {
            let (dispute, kind) = classify(&dm.text);
            if kind == "initial" {
                first_notified.entry((n, dispute.clone())).or_insert(dm.at);
            }
            events.entry(("gift wrap", n, dispute, kind)).or_default().insert(dm.wrap_id);
        }
        for dm in solver.mostrix.messages() {
            let (dispute, kind) = classify(&dm.text);
            events.entry(("send-dm", n, dispute, kind)).or_default().insert(dm.event_id);
        }
    }
    (events, first_notified)
}

fn expected(ledger: &Opened, solvers: &[SolverReader]) -> HashSet<Key> {
    let mut keys = HashSet::new();
    for (dispute, (script, _)) in ledger {
        for (n, solver) in solvers.iter().enumerate() {
            for form in ["gift wrap", "send-dm"] {
                for kind in script.expected(solver.write) {
                    keys.insert((form, n, dispute.clone(), kind.to_string()));
                }
            }
        }
    }
    keys
}

/// How the DMs measure up against the scripts.
#[derive(Default)]
struct Tally {
    delivered: usize,
    lost: Vec<String>,
    duplicated: Vec<String>,
    unexpected: Vec<String>,
    /// Disputes that did not end as their script said: a DM or a question lost or unexpected.
    off_script: HashSet<String>,
    latencies: Vec<Duration>,
}

fn tally(ledger: &Opened, solvers: &[SolverReader]) -> Tally {
    let (events, first_notified) = received(solvers);
    let want = expected(ledger, solvers);
    let mut t = Tally { delivered: events.values().map(HashSet::len).sum(), ..Tally::default() };
    let name = |(form, n, dispute, kind): &Key| {
        let script = ledger.get(dispute).map(|(s, _)| format!("{s:?}")).unwrap_or("unknown".into());
        format!("{kind} ({form}) to solver {n} for {script} dispute {dispute}")
    };
    for key in want.iter().filter(|key| !events.contains_key(*key)) {
        t.lost.push(name(key));
        t.off_script.insert(key.2.clone());
    }
    for (key, ids) in &events {
        if ids.len() > 1 {
            t.duplicated.push(format!("{} x {}", ids.len(), name(key)));
        }
        if !want.contains(key) {
            t.unexpected.push(name(key));
            t.off_script.insert(key.2.clone());
        }
    }
    for ((_, dispute), at) in first_notified {
        if let Some((_, published)) = ledger.get(&dispute) {
            t.latencies.push(at.saturating_duration_since(*published));
        }
    }
    t
}

/// Until every DM the scripts call for arrived (true), or `deadline` (false).
async fn wait_settled(stage: &Stage, deadline: Instant) -> bool {
    while !tally(&stage.ledger.snapshot(), &stage.solvers).lost.is_empty() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

/// What the parties read: each must have read one question, exactly once.
fn check_parties(conversations: &[Conversation], t: &mut Tally) -> usize {
    let mut questions = 0;
    for c in conversations {
        if !c.answered {
            t.lost.push(format!("a question to a party of {:?} dispute {}", c.script, c.dispute));
            t.off_script.insert(c.dispute.clone());
        }
        for (who, party) in [("buyer", &c.buyer), ("seller", &c.seller)] {
            let read = party.received();
            questions += read.len();
            let distinct: HashSet<&String> = read.iter().collect();
            if distinct.len() < read.len() {
                t.duplicated.push(format!("{who} of {:?} dispute {} read {read:?}", c.script, c.dispute));
            } else if read.len() > 1 {
                t.unexpected.push(format!("{who} of {:?} dispute {} read {read:?}", c.script, c.dispute));
                t.off_script.insert(c.dispute.clone());
            }
        }
    }
    questions
}

/// What the run held.
struct Held {
    length: Duration,
    /// How long after the load everything the scripts call for had arrived; `None`: never.
    settled_in: Option<Duration>,
    /// Disputes opened, in the order of `Script::ALL`.
    disputes: [usize; 3],
    restarts: usize,
    slowest_stop: Duration,
    cuts: usize,
    questions: usize,
    tally: Tally,
    database: String,
}

impl Held {
    fn clean(&self) -> bool {
        self.tally.lost.is_empty() && self.tally.duplicated.is_empty() && self.tally.off_script.is_empty()
    }

    fn print(&self) {
        let t = &self.tally;
        for (what, list) in [("LOST", &t.lost), ("DUPLICATED", &t.duplicated), ("UNEXPECTED", &t.unexpected)] {
            list.iter().take(SHOWN).for_each(|line| println!("{what}: {line}"));
            if list.len() > SHOWN {
                println!("{what}: … and {} more", list.len() - SHOWN);
            }
        }
        let [notification, summary, escalation] = self.disputes;
        let length = self.length.as_secs_f64() / 60.0;
        let settled = match self.settled_in {
            Some(took) => format!("everything settled in {:.1} s", took.as_secs_f64()),
            None => format!("it did NOT settle within {} s", SETTLE.as_secs()),
        };
        let (delivered, questions, restarts, cuts) = (t.delivered, self.questions, self.restarts, self.cuts);
        let mib = |field| memory_kib(field) as f64 / 1024.0;
        let (peak, now, stop, cut) = (mib("VmHWM:"), mib("VmRSS:"), self.slowest_stop.as_secs_f64(), CUT_FOR.as_secs());
        println!("--- soak: what it held");
        println!("run: {length:.1} min of load, then {settled}");
        println!("disputes: {notification} notification-only; mediated: {summary} summarized, {escalation} escalated");
        println!("DMs delivered: {delivered} to {SOLVERS} solvers (both forms); party questions read: {questions}");
        println!("max RSS: {peak:.0} MiB (VmHWM; the simulated world shares the process; {now:.0} MiB at the end)");
        println!("latency dispute event → new-dispute gift wrap received: {}", percentiles(&t.latencies));
        println!(
            "restarts: {restarts} (slowest stop {stop:.2} s); relay cuts: {cuts} of {cut} s; a mute relay all run"
        );
        println!("database: {}", self.database);
        let (lost, dup, odd, off) = (t.lost.len(), t.duplicated.len(), t.unexpected.len(), t.off_script.len());
        println!("lost: {lost}  duplicated: {dup}  unexpected: {odd}  disputes off script: {off}");
    }
}

/// p50, p99 and max of `latencies`.
fn percentiles(latencies: &[Duration]) -> String {
    let mut l = latencies.to_vec();
    l.sort();
    let at = |p: f64| l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| d.map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3)).unwrap_or("-".into());
    format!("p50 {}, p99 {}, max {} (of {})", ms(at(0.5)), ms(at(0.99)), ms(l.last()), l.len())
}

/// The outbox, takes and sessions by state, as `serbero status` reads them.
fn database_figures(db: &Path) -> String {
    let join = |rows: &[(String, u64)]| rows.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
    match StatusReport::read(db) {
        Ok(r) => format!(
            "outbox [{}]; takes [{}]; sessions [{}]; dead letters {}",
            join(&r.outbox_by_status),
            join(&r.takes_by_state),
            join(&r.sessions_by_state),
            r.dead_letters.len()
        ),
        Err(e) => format!("unreadable: {e}"),
    }
}

/// A field of /proc/self/status in KiB.
fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let value = status.lines().find_map(|l| l.strip_prefix(field));
    value.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// The world and the daemon under the mixed load for `o.length`; then, once everything the
/// scripts call for arrived (or `SETTLE` passed) and a quiet while, the tally.
async fn soak(o: &Options) -> anyhow::Result<Held> {
    serbero::daemon::init_logging("error,nostr_relay_pool=off,nostr_relay_builder=off", LogFormat::Text);
    let stage = Arc::new(Stage::start().await?);
    let link = Link::open(&stage.relay).await;
    let config = stage.config(&link);
    let daemon = Daemon::start(&config).await?;

    let until = Instant::now() + o.length;
    let deadline = until + SETTLE;
    let cutter = tokio::spawn(cut_now_and_then(link, until));
    let restarter = tokio::spawn(restart_now_and_then(daemon, config.clone(), until));
    let mediations = tokio::spawn(mediation_stream(stage.clone(), o.mediation_every, until, deadline));
    notification_stream(stage.clone(), o.rate, until).await?;
    let (link, cuts) = cutter.await?;
    let (daemon, restarts, slowest_stop) = restarter.await??;
    let load_ended = Instant::now();

    let mut conversations = Vec::new();
    for conversation in mediations.await? {
        conversations.push(conversation.await??);
    }
    let settled_in = wait_settled(&stage, deadline).await.then(|| load_ended.elapsed());
    tokio::time::sleep(QUIET).await;

    let ledger = stage.ledger.snapshot();
    let mut tally = tally(&ledger, &stage.solvers);
    let questions = check_parties(&conversations, &mut tally);
    let disputes = Script::ALL.map(|script| ledger.values().filter(|(s, _)| *s == script).count());
    let database = database_figures(&config.serbero.db_path);
    daemon.stop().await?;
    drop(link);
    let length = o.length;
    let mut held = Held { length, settled_in, disputes, restarts, slowest_stop, cuts, questions, tally, database };
    if !held.clean() {
        held.database += &match keep_database(stage.dir.path()) {
            Ok(kept) => format!("; kept in {}", kept.display()),
            Err(e) => format!("; not kept: {e}"),
        };
    }
    Ok(held)
}

/// After a failed run, a copy of the database for a look (the temporary directory goes).
fn keep_database(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let kept = std::env::temp_dir().join(format!("serbero-soak-{}", std::process::id()));
    std::fs::create_dir_all(&kept)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        std::fs::copy(&path, kept.join(path.file_name().unwrap_or_default()))?;
    }
    Ok(kept)
}
