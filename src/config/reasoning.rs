//! Sections `[reasoning]` and `[prompts]`: the language model mediation asks, its key (from the
//! environment only) and the prompt files it is given.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::error::{invalid, ConfigError};
use super::{secrets, EnvLookup};

const REASONING_PROVIDERS: [&str; 3] = ["openai", "openai-compatible", "anthropic"];

/// Section `[reasoning]`: the language model used by mediation.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct ReasoningSettings {
    /// Turned off at load (with a warning) when the key variable is unset, so the core runs on.
    pub enabled: bool,
    /// One of `openai`, `openai-compatible`, `anthropic`.
    pub provider: String,
    pub model: String,
    /// Without a trailing `/`.
    pub api_base: String,
    /// Name of the environment variable holding the key.
    pub api_key_env: String,
    pub request_timeout_seconds: u64,
    /// Extra attempts after the first.
    pub followup_retry_count: u32,
    /// resolved from the env var named by api_key_env, or the file its `_FILE` variant names;
    /// never from TOML, never logged
    #[serde(skip)]
    pub api_key: Option<String>,
}

impl Default for ReasoningSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            provider: "openai".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            api_base: "https://api.openai.com/v1".to_owned(),
            api_key_env: "SERBERO_REASONING_API_KEY".to_owned(),
            request_timeout_seconds: 30,
            followup_retry_count: 1,
            api_key: None,
        }
    }
}

// Written by hand so that printing the configuration can never print the key.
impl fmt::Debug for ReasoningSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReasoningSettings")
            .field("enabled", &self.enabled)
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("api_key_env", &self.api_key_env)
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("followup_retry_count", &self.followup_retry_count)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Section `[prompts]`: the files of the mediation prompt bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PromptSettings {
    pub system_instructions_path: PathBuf,
    pub classification_policy_path: PathBuf,
    pub escalation_policy_path: PathBuf,
    pub mediation_style_path: PathBuf,
    pub message_templates_path: PathBuf,
}

impl Default for PromptSettings {
    fn default() -> Self {
        Self {
            system_instructions_path: "./prompts/phase3-system.md".into(),
            classification_policy_path: "./prompts/phase3-classification.md".into(),
            escalation_policy_path: "./prompts/phase3-escalation-policy.md".into(),
            mediation_style_path: "./prompts/phase3-mediation-style.md".into(),
            message_templates_path: "./prompts/phase3-message-templates.md".into(),
        }
    }
}

impl PromptSettings {
    /// The five files under their default names in `dir`.
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            system_instructions_path: dir.join("phase3-system.md"),
            classification_policy_path: dir.join("phase3-classification.md"),
            escalation_policy_path: dir.join("phase3-escalation-policy.md"),
            mediation_style_path: dir.join("phase3-mediation-style.md"),
            message_templates_path: dir.join("phase3-message-templates.md"),
        }
    }
}

/// Checks the provider and picks up the key; without a key mediation is off for this run, but
/// the core still starts (a failing optional part never stops the core).
pub(super) fn resolve_reasoning(
    mut reasoning: ReasoningSettings,
    env: EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<ReasoningSettings, ConfigError> {
    if !REASONING_PROVIDERS.contains(&reasoning.provider.as_str()) {
        let mut problem = format!("`{}` is not one of {}", reasoning.provider, REASONING_PROVIDERS.join(", "));
        if matches!(reasoning.provider.as_str(), "ppqai" | "openclaw") {
            problem.push_str("; use `openai-compatible` with the service's api_base (e.g. https://api.ppq.ai)");
        }
        return Err(invalid("reasoning.provider", problem));
    }
    reasoning.api_base = reasoning.api_base.trim_end_matches('/').to_owned();
    if !reasoning.enabled {
        return Ok(reasoning);
    }
    let variable = reasoning.api_key_env.trim();
    reasoning.api_key = match variable {
        "" => None,
        name => secrets::from_env(env, "reasoning.api_key", name, warnings)?.map(|secret| secret.value),
    };
    if reasoning.api_key.is_none() {
        let absence = match variable {
            "" => "reasoning.api_key_env is empty".to_owned(),
            name => format!("neither ${name} nor ${} is set", secrets::file_variable(name)),
        };
        warnings.push(format!("reasoning.enabled is true but {absence}; mediation will stay disabled this run"));
        reasoning.enabled = false;
    }
    Ok(reasoning)
}
