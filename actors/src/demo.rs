//! `serbero demo`: the real daemon against an embedded relay with a simulated Mostro.

pub async fn run() -> anyhow::Result<()> {
    anyhow::bail!("the demo is being written")
}
