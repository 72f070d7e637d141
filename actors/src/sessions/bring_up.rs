//! Mediation's bring-up: the prompt bundle loaded, the provider built and its endpoint
//! health-checked, in the background so the core never waits for the model.

use std::sync::Arc;

use serbero_core::catalog::Catalog;
use serbero_core::config::{Config, PromptSettings, ReasoningSettings};
use serbero_core::prompts::PromptBundle;
use tracing::{error, info};

use crate::reasoning::Reasoner;
use crate::root::{self, RootRef};

/// What mediation needs that only a successful bring-up provides.
#[derive(Clone)]
pub struct BroughtUp {
    pub reasoner: Reasoner,
    pub bundle: Arc<PromptBundle>,
}

/// With `[mediation]` and `[reasoning]` enabled, loads the prompt bundle, builds the provider
/// and checks the endpoint, off the start path; success is told to Root, failure disables
/// mediation for this run in one ERROR line. The core never waits for it.
pub fn bring_up_in_background(config: &Config, root: RootRef) {
    if !(config.mediation.enabled && config.reasoning.enabled) {
        if config.mediation.enabled {
            info!("mediation sessions need [reasoning] too; Serbero takes no dispute in this run");
        }
        return;
    }
    let (prompts, reasoning) = (config.prompts.clone(), config.reasoning.clone());
    tokio::spawn(async move {
        match bring_up(&prompts, &reasoning).await {
            Ok(up) => {
                info!(provider = %reasoning.provider, model = %reasoning.model, bundle = %up.bundle.id,
                    policy_hash = %up.bundle.policy_hash, "mediation enabled");
                let _ = root.cast(root::Msg::MediationReady(up));
            }
            Err(why) => {
                error!("mediation disabled for this run: {why}");
                let _ = root.cast(root::Msg::MediationFailed(why));
            }
        }
    });
}

async fn bring_up(prompts: &PromptSettings, reasoning: &ReasoningSettings) -> Result<BroughtUp, String> {
    let bundle = PromptBundle::load(prompts).map_err(|e| e.to_string())?;
    // The reviewed catalogs are checked once, as they load: off the runtime, before any session.
    tokio::task::spawn_blocking(Catalog::shipped).await.map_err(|e| format!("the message catalogs: {e}"))?;
    let reasoner = Reasoner::build(reasoning)?;
    reasoner.health_check().await.map_err(|e| {
        format!(
            "the {} endpoint at {} failed its health check ({e}); model {}",
            reasoning.provider, reasoning.api_base, reasoning.model
        )
    })?;
    Ok(BroughtUp { reasoner, bundle: Arc::new(bundle) })
}
