//! The mediation prompt bundle: five Markdown files, loaded at bring-up, identified by a bundle
//! id and a deterministic `policy_hash` pinned on every session and audit row.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::PromptSettings;

/// The one bundle id there is; the files' content is told apart by `policy_hash`.
pub const BUNDLE_ID: &str = "phase3-default";

/// Domain tag that starts the hashed bytes, so the hash cannot collide with another scheme's.
const HASH_DOMAIN: &str = "serbero/phase3";

/// The bundle's five texts, all sent to the model (so the pinned hash is honest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptBundle {
    pub id: String,
    /// Lowercase hex SHA-256 over the five texts (spec/mediation.md §5.3).
    pub policy_hash: String,
    pub system: String,
    pub classification: String,
    pub escalation: String,
    pub mediation_style: String,
    pub message_templates: String,
}

/// A prompt file that could not be read: mediation stays off for the run.
#[derive(Debug, thiserror::Error)]
#[error("prompt file `[prompts].{key}` ({}) cannot be read: {source}", path.display())]
pub struct BundleError {
    /// The config key naming the file, e.g. `system_instructions_path`.
    pub key: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl PromptBundle {
    /// Reads the five files named in `[prompts]`; the first unreadable one is the error.
    pub fn load(settings: &PromptSettings) -> Result<Self, BundleError> {
        Ok(Self::from_texts(
            read("system_instructions_path", &settings.system_instructions_path)?,
            read("classification_policy_path", &settings.classification_policy_path)?,
            read("escalation_policy_path", &settings.escalation_policy_path)?,
            read("mediation_style_path", &settings.mediation_style_path)?,
            read("message_templates_path", &settings.message_templates_path)?,
        ))
    }

    /// The bundle of these texts, with its id and hash.
    pub fn from_texts(
        system: String,
        classification: String,
        escalation: String,
        mediation_style: String,
        message_templates: String,
    ) -> Self {
        let policy_hash = policy_hash(&[
            ("system", &system),
            ("classification", &classification),
            ("escalation", &escalation),
            ("mediation_style", &mediation_style),
            ("message_templates", &message_templates),
        ]);
        Self {
            id: BUNDLE_ID.to_string(),
            policy_hash,
            system,
            classification,
            escalation,
            mediation_style,
            message_templates,
        }
    }
}

fn read(key: &'static str, path: &Path) -> Result<String, BundleError> {
    std::fs::read_to_string(path).map_err(|source| BundleError { key, path: path.to_path_buf(), source })
}

/// `"serbero/phase3\0" ‖ name\0 ‖ text` for each part, parts joined by `\0`, no trailing NUL:
/// byte-compatible with the earlier Serbero. The NULs keep bytes moved from one file to the
/// next from hashing the same.
fn policy_hash(parts: &[(&str, &str)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN.as_bytes());
    hasher.update([0]);
    for (index, (name, text)) in parts.iter().enumerate() {
        if index > 0 {
            hasher.update([0]);
        }
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
    }
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(texts: [&str; 5]) -> PromptBundle {
        let [s, c, e, m, t] = texts.map(str::to_string);
        PromptBundle::from_texts(s, c, e, m, t)
    }

    fn shipped_settings() -> PromptSettings {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        PromptSettings {
            system_instructions_path: dir.join("phase3-system.md"),
            classification_policy_path: dir.join("phase3-classification.md"),
            escalation_policy_path: dir.join("phase3-escalation-policy.md"),
            mediation_style_path: dir.join("phase3-mediation-style.md"),
            message_templates_path: dir.join("phase3-message-templates.md"),
        }
    }

    #[test]
    fn the_hash_is_the_spec_byte_layout() {
        let expected = Sha256::digest(
            b"serbero/phase3\0system\0S\0classification\0C\0escalation\0E\0mediation_style\0M\0message_templates\0T",
        );
        let expected: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        let bundle = bundle(["S", "C", "E", "M", "T"]);
        assert_eq!(bundle.policy_hash, expected);
        assert_eq!(bundle.id, BUNDLE_ID);
    }

    #[test]
    fn the_hash_is_deterministic_lowercase_hex() {
        let first = bundle(["a", "b", "c", "d", "e"]);
        let second = bundle(["a", "b", "c", "d", "e"]);
        assert_eq!(first.policy_hash, second.policy_hash);
        assert_eq!(first.policy_hash.len(), 64);
        assert!(first.policy_hash.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn moving_bytes_between_files_changes_the_hash() {
        let original = bundle(["ab", "c", "d", "e", "f"]);
        let moved = bundle(["a", "bc", "d", "e", "f"]);
        let swapped = bundle(["c", "ab", "d", "e", "f"]);
        assert_ne!(original.policy_hash, moved.policy_hash);
        assert_ne!(original.policy_hash, swapped.policy_hash);
    }

    #[test]
    fn every_file_counts() {
        let base = bundle(["s", "c", "e", "m", "t"]).policy_hash;
        for changed in 0..5 {
            let mut texts = ["s", "c", "e", "m", "t"];
            texts[changed] = "x";
            assert_ne!(bundle(texts).policy_hash, base, "file {changed}");
        }
    }

    #[test]
    fn a_missing_file_names_its_key_and_path() {
        let mut settings = shipped_settings();
        settings.mediation_style_path = PathBuf::from("/nonexistent/style.md");
        let error = PromptBundle::load(&settings).unwrap_err();
        assert_eq!(error.key, "mediation_style_path");
        let message = error.to_string();
        assert!(message.contains("mediation_style_path"), "{message}");
        assert!(message.contains("/nonexistent/style.md"), "{message}");
    }

    #[test]
    fn the_shipped_prompts_load() {
        let bundle = PromptBundle::load(&shipped_settings()).expect("shipped prompts");
        assert_eq!(bundle.id, BUNDLE_ID);
        for text in [&bundle.system, &bundle.classification, &bundle.escalation, &bundle.mediation_style] {
            assert!(text.lines().count() >= 40, "a prompt file is too thin");
        }
        assert!(bundle.message_templates.lines().count() >= 40);
    }

    #[test]
    fn the_shipped_prompts_state_the_contract_the_code_relies_on() {
        let bundle = PromptBundle::load(&shipped_settings()).expect("shipped prompts");
        for trigger in crate::escalation::Trigger::ALL {
            assert!(bundle.escalation.contains(trigger.as_str()), "escalation policy lacks {trigger}");
        }
        for label in crate::reasoning::Label::ALL {
            assert!(bundle.classification.contains(label.as_str()), "classification lacks {label}");
        }
        for flag in crate::reasoning::Flag::ALL {
            assert!(bundle.classification.contains(flag.as_str()), "classification lacks {}", flag.as_str());
        }
        for key in ["suggested_action", "buyer_clarification", "seller_clarification", "confidence", "flags"] {
            assert!(bundle.classification.contains(key), "classification lacks {key}");
        }
        for party in [crate::chat::Party::Buyer, crate::chat::Party::Seller] {
            for id in crate::catalog::Catalog::shipped().ids(party) {
                let plain = id.trim_end_matches(crate::catalog::SIMPLE);
                assert!(bundle.classification.contains(plain), "classification does not offer catalog id {plain}");
            }
        }
        for marker in ["SUGGESTED_NEXT_STEP:", "RATIONALE:"] {
            assert!(bundle.message_templates.contains(marker), "templates lack {marker}");
        }
    }

    #[test]
    fn the_shipped_templates_pass_the_authority_boundary_once_filled() {
        let bundle = PromptBundle::load(&shipped_settings()).expect("shipped prompts");
        let templates: Vec<&str> = bundle.message_templates.lines().filter_map(|l| l.strip_prefix("> ")).collect();
        assert!(templates.len() >= 6, "templates are quoted lines");
        for template in templates {
            let filled = fill_placeholders(template, "the bank transfer");
            assert_eq!(crate::policy::boundary_violation(&filled), None, "{filled}");
        }
    }

    fn fill_placeholders(template: &str, with: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some((before, after)) = rest.split_once("{{") {
            out.push_str(before);
            out.push_str(with);
            rest = after.split_once("}}").map_or("", |(_, tail)| tail);
        }
        out.push_str(rest);
        out
    }
}
