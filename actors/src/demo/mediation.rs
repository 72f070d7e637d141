//! `serbero demo --mediation`: the same stage with mediation on, a simulated Mostro node that
//! registered Serbero as a read solver, and a scripted model endpoint on loopback. Dispute A is cooperative:
//! Serbero takes it, asks each party a question and sends the solvers a summary. Dispute B looks
//! like fraud to the model: Serbero escalates without taking it. Every model answer, every
//! message a party sees or sends and every solver DM is printed as it happens.

use std::collections::HashMap;

use anyhow::{ensure, Context};
use mostro_core::message::Action;
use nostr_sdk::prelude::*;
use serbero_core::config::LogFormat;
use serbero_sim::{Brain, FakeModel, FakeNode, NodeAnswer, NodeScript, RecordedRequest, Reply, SimParty, Turn};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{demo_config, RunningDaemon, Stage, INITIAL, LOG_FILTER, STEP_TIMEOUT, TAKEN};
use crate::daemon;

const SUMMARY: &str = "mediation_summary/v1";
const ALERT: &str = "Serbero mediation needs human judgment.";
const HANDOFF: &str = "escalation_handoff/v1";
/// The index of the write solver in [`Stage::solvers`], the one escalations are handed to.
const WRITE_SOLVER: usize = 1;

/// The repository's prompt bundle, compiled in so that the demo runs from any directory:
/// (its `[prompts]` key, file name, text).
const PROMPTS: [(&str, &str, &str); 5] = [
    ("system_instructions_path", "phase3-system.md", include_str!("../../../prompts/phase3-system.md")),
    (
        "classification_policy_path",
        "phase3-classification.md",
        include_str!("../../../prompts/phase3-classification.md"),
    ),
    (
        "escalation_policy_path",
        "phase3-escalation-policy.md",
        include_str!("../../../prompts/phase3-escalation-policy.md"),
    ),
    ("mediation_style_path", "phase3-mediation-style.md", include_str!("../../../prompts/phase3-mediation-style.md")),
    (
        "message_templates_path",
        "phase3-message-templates.md",
        include_str!("../../../prompts/phase3-message-templates.md"),
    ),
];

/// Handed to the daemon's model client; the scripted endpoint accepts any key.
const DEMO_MODEL_KEY: &str = "demo-key";

pub async fn run() -> anyhow::Result<()> {
    daemon::init_logging(LOG_FILTER, LogFormat::Text);
    let mut stage = Stage::set_up().await?;
    let outcome = mediate(&mut stage).await;
    stage.close().await;
    outcome
}

async fn mediate(stage: &mut Stage) -> anyhow::Result<()> {
    let cooperative = Trade::new("A");
    let fraudulent = Trade::new("B");
    let fraud = Brain { opening: Turn::Flag("fraud_risk"), ..Brain::cooperative() };
    let model = ScriptedModel::start(&[(&cooperative, Brain::cooperative()), (&fraudulent, fraud)]).await?;
    let serbero = Keys::generate();
    // The node registers Serbero as a read solver and announces it, which is how Serbero learns
    // it may take disputes.
    let script = NodeScript { serbero: Some(serbero.public_key()), ..NodeScript::default() };
    let node = FakeNode::start(Keys::generate(), &stage.relay.url(), script)
        .await
        .context("starting the scripted Mostro node")?;
    let config = mediation_config(stage, &serbero, &node.pubkey(), &model.endpoint.url())?;
    stage.introduce(
        "Serbero mediation demo: the real daemon with mediation on, against an embedded relay, a scripted Mostro \
         node, a scripted model endpoint, a buyer, a seller and two simulated solvers.",
        &[
            ("serbero", serbero.public_key()),
            ("mostro", node.pubkey()),
            ("buyer A", cooperative.buyer.public_key()),
            ("seller A", cooperative.seller.public_key()),
        ],
    );
    println!("  model     {} (scripted, OpenAI-compatible)\n", model.endpoint.url());
    let daemon = RunningDaemon::start(config).await?;
    let mut scene = Scene { node, model, serbero: serbero.public_key() };
    let played = play(stage, &daemon, &mut scene, [&cooperative, &fraudulent]).await;
    stage.finish(daemon, played).await
}

/// What the daemon talks to besides the relay and the solvers.
struct Scene {
    node: FakeNode,
    model: ScriptedModel,
    serbero: PublicKey,
}

async fn play(
    stage: &mut Stage,
    daemon: &RunningDaemon,
    scene: &mut Scene,
    [cooperative, fraudulent]: [&Trade; 2],
) -> anyhow::Result<()> {
    scene.model.expect(stage, None).await?;
    wait_for_mediation(daemon).await?;
    stage.say("demo", "mediation is up: prompt bundle loaded, model endpoint healthy");
    mediate_cooperatively(stage, scene, cooperative).await?;
    escalate(stage, scene, fraudulent).await
}

/// Dispute A: Serbero takes it, the model asks both parties, they answer, the solvers get a
/// summary.
async fn mediate_cooperatively(stage: &mut Stage, scene: &mut Scene, trade: &Trade) -> anyhow::Result<()> {
    let url = stage.relay.url();
    let mut buyer = Party::connect("buyer A", &trade.buyer, &url, scene.serbero).await?;
    let mut seller = Party::connect("seller A", &trade.seller, &url, scene.serbero).await?;
    trade.open(stage, &scene.node).await?;
    scene.model.expect(stage, Some(trade)).await?;
    expect_take(stage, &scene.node, trade).await?;
    stage.expect_everyone(TAKEN).await?;

    buyer.expect_question(stage).await?;
    seller.expect_question(stage).await?;
    buyer.answer(stage, "I paid on Monday by SEPA, reference 4711.").await?;
    seller.answer(stage, "I see an incoming transfer with reference 4711 now, sorry for the delay.").await?;
    scene.model.expect(stage, Some(trade)).await?;
    scene.model.expect(stage, Some(trade)).await?;
    stage.expect_everyone(SUMMARY).await?;
    buyer.check_nothing_more()?;
    seller.check_nothing_more()
}

/// The first request the node receives is Serbero's take of `trade`'s dispute.
async fn expect_take(stage: &Stage, node: &FakeNode, trade: &Trade) -> anyhow::Result<()> {
    let arrived = node.wait_for_requests(1, STEP_TIMEOUT).await;
    ensure!(arrived, "Serbero did not ask to take dispute {} within {} s", trade.label, STEP_TIMEOUT.as_secs());
    let request = node.requests().swap_remove(0);
    ensure!(
        request.action == Action::AdminTakeDispute
            && request.id == Some(trade.id)
            && request.answer == NodeAnswer::Took,
        "the node expected to hand dispute {} over to Serbero's take but recorded {request:?}",
        trade.label
    );
    stage.say(
        "mostro",
        format!(
            "Serbero sent admin-take-dispute for dispute {}: the node hands it over with the trade's details",
            trade.label
        ),
    );
    Ok(())
}

/// Dispute B: the model flags fraud at once; Serbero alerts the solvers and hands the dispute to
/// the write solver without taking it.
async fn escalate(stage: &mut Stage, scene: &mut Scene, trade: &Trade) -> anyhow::Result<()> {
    trade.open(stage, &scene.node).await?;
    scene.model.expect(stage, Some(trade)).await?;
    stage.expect_everyone(ALERT).await?;
    stage.expect(WRITE_SOLVER, HANDOFF).await?;
    let asked: Vec<_> = scene.node.requests().into_iter().filter_map(|request| request.id).collect();
    ensure!(!asked.contains(&trade.id), "Serbero asked the node about dispute {} after escalating it", trade.label);
    stage.say("mostro", format!("no take request for dispute {} reached the node", trade.label));
    Ok(())
}

/// Mediation starts after the daemon, once its bring-up (prompts, model health check) passed.
async fn wait_for_mediation(daemon: &RunningDaemon) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while daemon.children().await?.sessions.is_none() {
        ensure!(tokio::time::Instant::now() < deadline, "mediation did not start within {} s", STEP_TIMEOUT.as_secs());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The base configuration with mediation, reasoning against `model_url`, the compiled-in
/// prompt bundle written next to the database, and escalation handoffs.
fn mediation_config(
    stage: &Stage,
    serbero: &Keys,
    mostro: &PublicKey,
    model_url: &str,
) -> anyhow::Result<serbero_core::config::Config> {
    let prompts = stage.dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).context("creating the demo's prompt directory")?;
    let mut sections = format!(
        r#"
[mediation]
enabled = true

[reasoning]
provider = "openai-compatible"
model = "scripted"
api_base = "{model_url}"
request_timeout_seconds = 5

[escalation]
enabled = true
dispatch_interval_seconds = 1

[prompts]
"#
    );
    for (key, file, text) in PROMPTS {
        let path = prompts.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        sections.push_str(&format!("{key} = '{}'\n", path.display()));
    }
    let mut config = demo_config(stage, serbero, mostro, &sections)?;
    // Handed over here rather than through the variable `api_key_env` names: the demo leaves the
    // process environment alone.
    config.reasoning.enabled = true;
    config.reasoning.api_key = Some(DEMO_MODEL_KEY.to_owned());
    Ok(config)
}

/// A disputed trade: its dispute id and the parties' trade keys.
struct Trade {
    label: &'static str,
    id: Uuid,
    buyer: Keys,
    seller: Keys,
}

impl Trade {
    fn new(label: &'static str) -> Self {
        Self { label, id: Uuid::new_v4(), buyer: Keys::generate(), seller: Keys::generate() }
    }

    /// The buyer opens the dispute; every solver hears of it.
    async fn open(&self, stage: &mut Stage, node: &FakeNode) -> anyhow::Result<()> {
        stage.say("mostro", format!("opens dispute {} {} (initiator: buyer)", self.label, self.id));
        let disputed = serbero_sim::Trade::opened_by_buyer(self.buyer.public_key(), self.seller.public_key());
        node.open_dispute(self.id, disputed).await?;
        stage.expect_everyone(INITIAL).await
    }
}

/// A buyer or seller chatting with Serbero.
struct Party {
    label: &'static str,
    chat: SimParty,
    seen: usize,
}

impl Party {
    async fn connect(label: &'static str, keys: &Keys, relay: &RelayUrl, serbero: PublicKey) -> anyhow::Result<Self> {
        let chat =
            SimParty::connect(keys.clone(), relay, serbero).await.with_context(|| format!("connecting {label}"))?;
        Ok(Self { label, chat, seen: 0 })
    }

    async fn expect_question(&mut self, stage: &Stage) -> anyhow::Result<()> {
        let arrived = self.chat.wait_received(self.seen + 1, STEP_TIMEOUT).await;
        ensure!(arrived, "{} received no message from Serbero within {} s", self.label, STEP_TIMEOUT.as_secs());
        let text = self.chat.received().swap_remove(self.seen);
        self.seen += 1;
        stage.show(self.label, "sees:", &text);
        Ok(())
    }

    async fn answer(&self, stage: &Stage, text: &str) -> anyhow::Result<()> {
        stage.say(self.label, format!("answers: {text}"));
        self.chat.say(text).await.with_context(|| format!("{} could not answer", self.label))?;
        Ok(())
    }

    fn check_nothing_more(&self) -> anyhow::Result<()> {
        let received = self.chat.received();
        match received.get(self.seen) {
            Some(extra) => anyhow::bail!("{} received an unexpected message:\n{extra}", self.label),
            None => Ok(()),
        }
    }
}

/// The model endpoint, answering each dispute with its own [`Brain`] and reporting every answer.
struct ScriptedModel {
    endpoint: FakeModel,
    calls: mpsc::UnboundedReceiver<ModelCall>,
}

impl ScriptedModel {
    async fn start(scripts: &[(&Trade, Brain)]) -> anyhow::Result<Self> {
        let endpoint = FakeModel::start().await?;
        let brains: HashMap<String, (&'static str, Brain)> =
            scripts.iter().map(|(trade, brain)| (trade.id.to_string(), (trade.label, brain.clone()))).collect();
        // Only the health check names no dispute; every brain answers it alike.
        let health = Brain::cooperative();
        let (report, calls) = mpsc::unbounded_channel();
        endpoint.respond_with(move |request| {
            let script = metadata(request, "dispute_id").and_then(|id| brains.get(id));
            let reply = script.map_or(&health, |(_, brain)| brain).answer(request);
            let _ = report.send(ModelCall::of(script.map(|(label, _)| *label), request, &reply));
            reply
        });
        Ok(Self { endpoint, calls })
    }

    /// Waits for the model's next answer, which must be about `trade` (`None`: the health check),
    /// and narrates it.
    async fn expect(&mut self, stage: &Stage, trade: Option<&Trade>) -> anyhow::Result<()> {
        let expected = trade.map(|t| t.label);
        let call = tokio::time::timeout(STEP_TIMEOUT, self.calls.recv())
            .await
            .ok()
            .flatten()
            .with_context(|| format!("the model was not asked about {} in time", subject(expected)))?;
        ensure!(call.dispute == expected, "the model was asked about {} first", subject(call.dispute));
        let about = call.dispute.map(|label| format!("dispute {label}, ")).unwrap_or_default();
        stage.say("model", format!("{about}{} → {}", call.asked, call.answered));
        Ok(())
    }
}

/// What a model call was about, for the demo's error messages.
fn subject(dispute: Option<&str>) -> String {
    dispute.map_or_else(|| "its health check".to_owned(), |label| format!("dispute {label}"))
}

/// One request the model answered, in words.
struct ModelCall {
    dispute: Option<&'static str>,
    asked: String,
    answered: String,
}

impl ModelCall {
    fn of(dispute: Option<&'static str>, request: &RecordedRequest, reply: &Reply) -> Self {
        let text = match reply {
            Reply::Content(text) => text.as_str(),
            _ => "",
        };
        let (asked, answered) = match metadata(request, "round_count") {
            _ if dispute.is_none() => ("health check".to_owned(), text.to_owned()),
            Some("0") => ("opening assessment".to_owned(), verdict(text)),
            Some(round) => (format!("assessment after round {round}"), verdict(text)),
            None => ("summary for the solvers".to_owned(), "written".to_owned()),
        };
        Self { dispute, asked, answered }
    }
}

/// The decision of a classification answer: action, label and any risk flags.
fn verdict(answer: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(answer) else { return answer.to_owned() };
    let text = |key: &str| json[key].as_str().unwrap_or("?").to_owned();
    let flags: Vec<&str> = json["flags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let flagged = if flags.is_empty() { String::new() } else { format!(", flags {}", flags.join(", ")) };
    format!("{} ({}{flagged})", text("suggested_action"), text("classification"))
}

/// A `name: value` line of the prompt's session metadata.
fn metadata<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    request.user()?.lines().find_map(|line| line.strip_prefix(prefix.as_str()))
}
