//! The providers' HTTP dialects as pure functions: where a call goes, what its body says, where
//! the model's text is in the answer, and which failures are worth another attempt. The HTTP
//! client itself lives in `actors/src/reasoning.rs`.

use std::time::Duration;

use serde_json::{json, Value};

use super::ReasoningError;
use crate::backoff::Backoff;

pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// What the health probe asks; any well-formed answer will do.
pub const HEALTH_PROBE: &str = "ping";
/// How much of an error body an error message quotes.
const ERROR_BODY_BYTES: usize = 200;
/// Between attempts: short, so a flaky endpoint does not stall a session for long.
const RETRY_BACKOFF: Backoff = Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(2) };

/// Which of the three calls this is; each asks for different sampling and output limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Classify,
    Summarize,
    Guard,
    Health,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classify => "classify",
            Self::Summarize => "summarize",
            Self::Guard => "guard",
            Self::Health => "health",
        }
    }

    fn temperature(self) -> f64 {
        match self {
            Self::Summarize => 0.2,
            Self::Classify | Self::Guard | Self::Health => 0.0,
        }
    }

    /// The most the model may write: enough for its contract, little enough that an answer
    /// running on cannot grow past what Serbero accepts (`parse`'s limits).
    fn max_tokens(self) -> u32 {
        match self {
            Self::Classify => 2048,
            Self::Summarize => 4096,
            Self::Guard => 32,
            Self::Health => 8,
        }
    }
}

/// One request to the model: an optional system text and one user message.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub kind: CallKind,
    pub system: Option<&'a str>,
    pub user: &'a str,
}

impl Call<'static> {
    pub fn health() -> Self {
        Self { kind: CallKind::Health, system: None, user: HEALTH_PROBE }
    }
}

/// `{api_base}/chat/completions`: `https://api.openai.com/v1` and a root base such as
/// `https://api.ppq.ai` both work as given.
pub fn openai_url(api_base: &str) -> String {
    format!("{}/chat/completions", api_base.trim_end_matches('/'))
}

/// The Chat Completions body. Models named `gpt-5…` reject an explicit temperature; they and the
/// `o…` reasoning models take the output limit as `max_completion_tokens`, every other server
/// (vLLM, llama.cpp, Ollama, LiteLLM) as `max_tokens`.
pub fn openai_body(model: &str, call: &Call<'_>) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = call.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": call.user}));
    let mut body = json!({"model": model, "messages": messages});
    if matches!(call.kind, CallKind::Classify | CallKind::Guard) {
        body["response_format"] = json!({"type": "json_object"});
    }
    if !model.starts_with("gpt-5") {
        body["temperature"] = json!(call.kind.temperature());
    }
    let newer = model.starts_with("gpt-5") || ["o1", "o3", "o4"].iter().any(|o| model.starts_with(o));
    let limit = if newer { "max_completion_tokens" } else { "max_tokens" };
    body[limit] = json!(call.kind.max_tokens());
    body
}

/// The text of `choices[0].message.content`.
pub fn openai_content(body: &Value) -> Result<String, ReasoningError> {
    let choice = body["choices"].get(0).ok_or_else(|| malformed("empty choices"))?;
    choice["message"]["content"].as_str().map(str::to_owned).ok_or_else(|| malformed("choice without text content"))
}

/// `{base}/v1/messages`, where a base ending in `/v1` has it removed first so that both the
/// root and the `/v1` form of the base work.
pub fn anthropic_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    format!("{}/v1/messages", base.strip_suffix("/v1").unwrap_or(base))
}

/// The Messages API body: the system text is top-level; there is no JSON mode, so the output
/// contract in the prompt is all that asks for JSON.
pub fn anthropic_body(model: &str, call: &Call<'_>) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": call.kind.max_tokens(),
        "messages": [{"role": "user", "content": call.user}],
        "temperature": call.kind.temperature(),
    });
    if let Some(system) = call.system {
        body["system"] = json!(system);
    }
    body
}

/// The `text` of every `text` block, in order, joined without separator (a JSON object may be
/// split across blocks). Other block kinds are skipped.
pub fn anthropic_content(body: &Value) -> Result<String, ReasoningError> {
    let blocks = body["content"].as_array().ok_or_else(|| malformed("no content blocks"))?;
    let mut text = String::new();
    let mut found = false;
    for block in blocks.iter().filter(|b| b["type"] == "text") {
        text.push_str(block["text"].as_str().ok_or_else(|| malformed("text block without text"))?);
        found = true;
    }
    if !found {
        return Err(malformed("no text block"));
    }
    Ok(text)
}

/// Statuses a later attempt may get past: request timeout, rate limit, server-side trouble.
/// Everything else (bad key, unknown model, bad request) fails the same way every time.
pub fn status_is_retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// The error for a non-success status, quoting the start of the body (the provider's error
/// message, not model output) and the `Retry-After` header when there is one.
pub fn http_error(provider: &str, status: u16, body: &str, retry_after: Option<&str>) -> ReasoningError {
    let mut message = format!("{provider} http {status}: {}", truncate_utf8(body.trim(), ERROR_BODY_BYTES));
    if let Some(value) = retry_after {
        message.push_str(&format!(" (retry-after: {value})"));
    }
    ReasoningError::Unreachable(message)
}

/// Wait before retry number `retry` (1 for the first): a numeric `Retry-After` (seconds) when
/// the server sent one, else a doubling backoff; never more than the backoff's cap.
pub fn retry_delay(retry: u32, retry_after: Option<&str>) -> Duration {
    match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(seconds) => Duration::from_secs(seconds).min(RETRY_BACKOFF.max),
        None => RETRY_BACKOFF.delay(retry),
    }
}

fn malformed(what: &str) -> ReasoningError {
    ReasoningError::MalformedResponse(what.to_owned())
}

fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIFY: Call<'static> = Call { kind: CallKind::Classify, system: Some("sys"), user: "usr" };
    const SUMMARIZE: Call<'static> = Call { kind: CallKind::Summarize, system: Some("sys"), user: "usr" };

    #[test]
    fn openai_url_appends_the_path_to_the_base_as_given() {
        for (base, url) in [
            ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
            ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
            ("https://api.ppq.ai", "https://api.ppq.ai/chat/completions"),
            ("http://127.0.0.1:8080//", "http://127.0.0.1:8080/chat/completions"),
        ] {
            assert_eq!(openai_url(base), url, "{base}");
        }
    }

    #[test]
    fn anthropic_url_tolerates_a_v1_base_but_not_a_longer_version() {
        for (base, url) in [
            ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
            ("https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"),
            ("https://api.anthropic.com/v1", "https://api.anthropic.com/v1/messages"),
            ("https://api.anthropic.com/v1/", "https://api.anthropic.com/v1/messages"),
            ("https://proxy.example/v12", "https://proxy.example/v12/v1/messages"),
        ] {
            assert_eq!(anthropic_url(base), url, "{base}");
        }
    }

    #[test]
    fn openai_body_per_call_kind() {
        assert_eq!(
            openai_body("gpt-4o-mini", &CLASSIFY),
            json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "usr"}],
                "response_format": {"type": "json_object"},
                "temperature": 0.0,
                "max_tokens": 2048,
            })
        );
        let summary = openai_body("gpt-4o-mini", &SUMMARIZE);
        assert_eq!((summary["temperature"].clone(), summary["max_tokens"].clone()), (json!(0.2), json!(4096)));
        assert!(summary.get("response_format").is_none());
        assert_eq!(
            openai_body("m", &Call::health()),
            json!({"model": "m", "messages": [{"role": "user", "content": "ping"}], "temperature": 0.0, "max_tokens": 8})
        );
        for model in ["gpt-5-mini", "o3-mini", "o4"] {
            let body = openai_body(model, &SUMMARIZE);
            assert_eq!((body.get("max_tokens"), &body["max_completion_tokens"]), (None, &json!(4096)), "{model}");
        }
    }

    #[test]
    fn gpt5_models_get_no_temperature() {
        for call in [CLASSIFY, SUMMARIZE, Call::health()] {
            assert!(openai_body("gpt-5", &call).get("temperature").is_none());
            assert!(openai_body("gpt-5-mini", &call).get("temperature").is_none());
            assert!(openai_body("gpt-4.1", &call).get("temperature").is_some());
        }
    }

    #[test]
    fn anthropic_body_per_call_kind() {
        assert_eq!(
            anthropic_body("claude", &CLASSIFY),
            json!({
                "model": "claude",
                "max_tokens": 2048,
                "system": "sys",
                "messages": [{"role": "user", "content": "usr"}],
                "temperature": 0.0,
            })
        );
        let summary = anthropic_body("claude", &SUMMARIZE);
        assert_eq!((summary["max_tokens"].clone(), summary["temperature"].clone()), (json!(4096), json!(0.2)));
        let health = anthropic_body("claude", &Call::health());
        assert_eq!(health["max_tokens"], json!(8));
        assert!(health.get("system").is_none());
    }

    #[test]
    fn openai_content_reads_the_first_choice() {
        let body =
            json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}, {"message": {"content": "x"}}]});
        assert_eq!(openai_content(&body).unwrap(), "hi");
        for (body, why) in [
            (json!({"choices": []}), "empty choices"),
            (json!({"error": "x"}), "empty choices"),
            (json!({"choices": [{"message": {"content": null}}]}), "choice without text content"),
            (json!({"choices": [{"message": {"content": 7}}]}), "choice without text content"),
        ] {
            assert_eq!(openai_content(&body), Err(ReasoningError::MalformedResponse(why.into())), "{body}");
        }
    }

    #[test]
    fn anthropic_content_joins_text_blocks_and_skips_others() {
        let body = json!({"content": [
            {"type": "text", "text": "{\"a\":"},
            {"type": "tool_use", "id": "t", "input": {}},
            {"type": "text", "text": " 1}"},
        ]});
        assert_eq!(anthropic_content(&body).unwrap(), "{\"a\": 1}");
        for (body, why) in [
            (json!({"content": []}), "no text block"),
            (json!({"content": [{"type": "thinking", "thinking": "hm"}]}), "no text block"),
            (json!({"content": [{"type": "text"}]}), "text block without text"),
            (json!({"type": "error"}), "no content blocks"),
        ] {
            assert_eq!(anthropic_content(&body), Err(ReasoningError::MalformedResponse(why.into())), "{body}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(status_is_retryable(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 409, 422, 600] {
            assert!(!status_is_retryable(status), "{status}");
        }
    }

    #[test]
    fn http_error_quotes_at_most_200_bytes_on_a_char_boundary() {
        let body = "é".repeat(150);
        let ReasoningError::Unreachable(message) = http_error("openai", 401, &body, None) else { panic!() };
        assert_eq!(message, format!("openai http 401: {}", "é".repeat(100)));
        assert_eq!(
            http_error("anthropic", 429, " slow down\n", Some("3")),
            ReasoningError::Unreachable("anthropic http 429: slow down (retry-after: 3)".into())
        );
    }

    #[test]
    fn retry_delay_doubles_and_honours_retry_after_up_to_the_cap() {
        let ms = |d: Duration| d.as_millis();
        assert_eq!([1, 2, 3, 4, 5].map(|n| ms(retry_delay(n, None))), [250, 500, 1000, 2000, 2000]);
        assert_eq!(ms(retry_delay(1, Some("0"))), 0);
        assert_eq!(ms(retry_delay(3, Some(" 1 "))), 1000);
        assert_eq!(ms(retry_delay(1, Some("120"))), 2000);
        assert_eq!(ms(retry_delay(2, Some("Wed, 21 Oct 2015 07:28:00 GMT"))), 500);
    }
}
