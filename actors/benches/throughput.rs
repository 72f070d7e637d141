//! Throughput and latency of the whole pipeline: Mostro's dispute event → relay → Serbero's
//! actor tree → each DM in both forms per solver (a gift wrap and a Mostrix `send-dm`, the
//! default) → relay → solver inboxes that unwrap the gift wraps.
//! Not a test: it prints figures. Run with
//! `cargo bench -p serbero --bench throughput -- [--disputes N] [--solvers M] [--rate R]
//! [--latency-ms L] [--mute-relay]`: `--latency-ms` puts the relay L ms of round trip away from
//! the daemon, `--mute-relay` adds a second configured relay that takes every event and never
//! answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nostr_sdk::Keys;
use serbero::status::StatusReport;
use serbero_core::config::{Config, Permission, Solver};
use serbero_core::dm::{gift_wrapped_dm, mostrix_dm};
use serbero_sim::{Link, LinkShape, SimMostro, SolverInbox, TestRelay};
use tokio::sync::oneshot;

struct Options {
    disputes: usize,
    solvers: usize,
    rate: u64,
    latency: Duration,
    mute_relay: bool,
}

fn options() -> Options {
    let mut o = Options { disputes: 1000, solvers: 5, rate: 50, latency: Duration::ZERO, mute_relay: false };
    let args: Vec<String> = std::env::args().collect();
    o.mute_relay = args.iter().any(|a| a == "--mute-relay");
    for pair in args.windows(2) {
        let value = || pair[1].parse().expect("a number");
        match pair[0].as_str() {
            "--disputes" => o.disputes = value() as usize,
            "--solvers" => o.solvers = value() as usize,
            "--rate" => o.rate = value(),
            "--latency-ms" => o.latency = Duration::from_millis(value()),
            _ => {}
        }
    }
    o
}

impl Options {
    fn relays(&self) -> String {
        let far = match self.latency.as_millis() {
            0 => "relay on loopback".to_string(),
            ms => format!("relay {ms} ms round trip away"),
        };
        if self.mute_relay {
            format!("{far}, plus a relay that never answers")
        } else {
            far
        }
    }
}

fn main() -> anyhow::Result<()> {
    let o = options();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        serbero::daemon::init_logging("error,nostr_relay_pool=off", serbero_core::config::LogFormat::Text);
        crypto_ceiling().await?;
        let burst = pipeline(&o, None).await?;
        burst.print(&format!(
            "burst: {} disputes x {} solvers, published at once, {}",
            o.disputes,
            o.solvers,
            o.relays()
        ));
        let steady = pipeline(&o, Some(o.rate)).await?;
        steady.print(&format!(
            "steady: {} disputes x {} solvers at {} disputes/s, {}",
            o.disputes,
            o.solvers,
            o.rate,
            o.relays()
        ));
        println!("peak RSS: {} MiB", peak_rss_kib() / 1024);
        Ok(())
    })
}

/// What the daemon's database says of a run (`serbero status`): how many disputes it saw, its
/// outbox by status.
fn daemon_view(db: &std::path::Path) -> anyhow::Result<(u64, String)> {
    let report = StatusReport::read(db)?;
    let disputes = report.disputes_by_state.iter().map(|(_, n)| n).sum();
    let outbox: Vec<String> = report.outbox_by_status.iter().map(|(status, n)| format!("{status} {n}")).collect();
    Ok((disputes, outbox.join(", ")))
}

/// The CPU cost of one DM in each form on one core: the ceiling of what signing allows.
async fn crypto_ceiling() -> anyhow::Result<()> {
    let (sender, recipient) = (Keys::generate(), Keys::generate().public_key());
    let text = "New Mostro dispute requires attention.\ndispute_id: 00000000-0000-4000-8000-000000000001\ninitiator: buyer\nevent_timestamp: 1700000000\nstatus: initiated";
    let dispute = uuid::Uuid::parse_str("00000000-0000-4000-8000-000000000001")?;
    let rounds = 2000;
    let start = Instant::now();
    for _ in 0..rounds {
        gift_wrapped_dm(&sender, &recipient, text).await?;
    }
    report("gift wrap", start.elapsed() / rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        mostrix_dm(&sender, &recipient, dispute, text)?;
    }
    report("send-dm", start.elapsed() / rounds);
    Ok(())
}

fn report(form: &str, each: Duration) {
    println!(
        "{form}: {:.1} µs each on one core ({:.0} per second per core)",
        each.as_secs_f64() * 1e6,
        1.0 / each.as_secs_f64()
    );
}

struct Run {
    dms: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn print(&self, title: &str) {
        let mut l = self.latencies.clone();
        l.sort();
        let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
        println!(
            "{title}: {} gift wraps received (as many send-dms published) in {:.2} s = {:.0} DMs/s; latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.dms,
            self.elapsed.as_secs_f64(),
            self.dms as f64 / self.elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            l[l.len() - 1].as_secs_f64() * 1e3
        );
    }
}

/// Runs a fresh daemon and world; publishes every dispute (all at once, or `rate` per second)
/// and waits until every solver holds every DM.
async fn pipeline(o: &Options, rate: Option<u64>) -> anyhow::Result<Run> {
    let relay = TestRelay::start().await?;
    let dir = tempfile::tempdir()?;
    let mostro = std::sync::Arc::new(SimMostro::connect(Keys::generate(), &relay.url()).await?);
    let mut inboxes = Vec::new();
    for _ in 0..o.solvers {
        inboxes.push(SolverInbox::start(&relay.url()).await?);
    }
    let solvers = inboxes.iter().map(|i| Solver::new(i.pubkey(), Permission::Read)).collect();
    // Only the daemon's side is far or mute: the world around it stays on loopback.
    let far = Link::open_shaped(&relay, LinkShape { round_trip: o.latency, mute: false }).await;
    let mute = Link::open_shaped(&relay, LinkShape { round_trip: Duration::ZERO, mute: true }).await;
    let mut relays = vec![if o.latency.is_zero() { relay.url() } else { far.url() }];
    if o.mute_relay {
        relays.push(mute.url());
    }
    let config =
        Config::minimal(Keys::generate(), mostro.keys.public_key(), relays, solvers, dir.path().join("bench.db"));
    let running = serbero::daemon::start(config).await?;
    running.ready().await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(running.run_until(async move {
        let _ = stopped.await;
    }));

    let ids: Vec<String> = (0..o.disputes).map(|n| format!("00000000-0000-4000-8000-{n:012}")).collect();
    let events =
        ids.iter().map(|id| mostro.dispute_event(id, "initiated", "buyer", &[])).collect::<Result<Vec<_>, _>>()?;
    let mut published = HashMap::new();
    let start = Instant::now();
    match rate {
        None => {
            // All at once, as a relay replaying a backlog would deliver them.
            let mut sends = tokio::task::JoinSet::new();
            for (id, event) in ids.iter().zip(events) {
                published.insert(id.clone(), Instant::now());
                let mostro = mostro.clone();
                sends.spawn(async move { mostro.send(&event).await });
            }
            while let Some(sent) = sends.join_next().await {
                sent??;
            }
        }
        Some(per_second) => {
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second as u32);
            for (id, event) in ids.iter().zip(&events) {
                ticks.tick().await;
                published.insert(id.clone(), Instant::now());
                mostro.send(event).await?;
            }
        }
    }
    let want = o.disputes;
    for inbox in &inboxes {
        if !inbox.wait_for(want, Duration::from_secs(300)).await {
            let held = inbox.held_by_relay(Duration::from_secs(30)).await?;
            let (seen, outbox) = daemon_view(&dir.path().join("bench.db"))?;
            let why = if held >= want {
                "the relay's feed to this inbox dropped the rest"
            } else if seen < o.disputes as u64 {
                "the relay's feed to the daemon dropped dispute events"
            } else {
                "the daemon did not publish them all"
            };
            anyhow::bail!(
                "only {} of {want} DMs arrived and the relay holds {held}: {why} (the daemon saw {seen} disputes; its \
                 outbox: {outbox}). The in-process relay hands each connection new events through a 1,024-slot \
                 broadcast and skips what a busy connection missed: a dropped feed makes the run measure nothing.",
                inbox.count()
            );
        }
    }
    let mut latencies = Vec::new();
    let mut last = start;
    for inbox in &inboxes {
        for dm in inbox.messages() {
            let id = dm.text.lines().find_map(|l| l.strip_prefix("dispute_id: ")).unwrap_or_default();
            if let Some(sent) = published.get(id) {
                latencies.push(dm.at.duration_since(*sent));
                last = last.max(dm.at);
            }
        }
    }
    let _ = stop.send(());
    daemon.await??;
    for inbox in inboxes {
        inbox.stop().await;
    }
    mostro.disconnect().await;
    relay.shutdown();
    Ok(Run { dms: latencies.len(), elapsed: last.duration_since(start), latencies })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}
