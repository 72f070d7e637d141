//! The reasoning providers against `FakeModel`, a real HTTP server on loopback: the requests
//! each provider sends, how answers and failures are read, and which failures are retried.

use std::time::{Duration, Instant};

use serbero::reasoning::Reasoner;
use serbero_core::config::ReasoningSettings;
use serbero_core::dispute::Initiator;
use serbero_core::prompts::PromptBundle;
use serbero_core::reasoning::{
    Classification, ClassifyRequest, Flag, Label, Rationale, ReasoningError, Speaker, SuggestedAction, Summary,
    SummaryRequest, TranscriptEntry,
};
use serbero_sim::{FakeModel, RecordedRequest, Reply};
use serde_json::{json, Value};

const KEY: &str = "sk-test-key-123";
const SUMMARY_REPLY: &str = concat!(
    "The buyer paid late; the seller confirms receipt.\n",
    "SUGGESTED_NEXT_STEP: check the seller's bank statement\n",
    "RATIONALE: both messages agree\n",
);

fn settings(provider: &str, api_base: String, retries: u32) -> ReasoningSettings {
    ReasoningSettings {
        enabled: true,
        provider: provider.into(),
        model: "test-model".into(),
        api_base,
        api_key: Some(KEY.into()),
        request_timeout_seconds: 5,
        followup_retry_count: retries,
        ..ReasoningSettings::default()
    }
}

fn reasoner(provider: &str, api_base: String, retries: u32) -> Reasoner {
    Reasoner::build(&settings(provider, api_base, retries)).expect("reasoner")
}

fn bundle() -> PromptBundle {
    PromptBundle {
        id: "phase3-default".into(),
        policy_hash: "f00d".repeat(16),
        system: "SYSTEM-MARKER: you assist a human solver.\n".into(),
        classification: "classification policy\n".into(),
        escalation: "escalation policy\n".into(),
        mediation_style: "mediation style\n".into(),
        message_templates: "message templates\n".into(),
    }
}

fn transcript() -> Vec<TranscriptEntry> {
    vec![TranscriptEntry { speaker: Speaker::Buyer, at: 1_700_000_000, content: "I paid yesterday".into() }]
}

fn classify_request(transcript: &[TranscriptEntry]) -> ClassifyRequest<'_> {
    ClassifyRequest {
        dispute_id: "dispute-1",
        session_id: Some("session-1"),
        initiator: Initiator::Buyer,
        round_count: 0,
        transcript,
    }
}

fn summary_request(transcript: &[TranscriptEntry]) -> SummaryRequest<'_> {
    SummaryRequest {
        dispute_id: "dispute-1",
        session_id: "session-1",
        label: Label::CoordinationFailureResolvable,
        confidence: 0.9,
        transcript,
    }
}

fn summarize_json() -> Value {
    json!({
        "classification": "coordination_failure_resolvable",
        "confidence": 0.88,
        "suggested_action": "summarize",
        "rationale": "both agree",
        "flags": ["low_info"],
    })
}

fn summarize_classification() -> Classification {
    Classification {
        label: Label::CoordinationFailureResolvable,
        confidence: 0.88,
        action: SuggestedAction::Summarize,
        rationale: Rationale("both agree".into()),
        flags: vec![Flag::LowInfo],
    }
}

async fn classify(reasoner: &Reasoner) -> Result<Classification, ReasoningError> {
    reasoner.classify(&bundle(), &classify_request(&transcript())).await.map(|classified| classified.classification)
}

async fn summarize(reasoner: &Reasoner) -> Result<Summary, ReasoningError> {
    reasoner.summarize(&bundle(), &summary_request(&transcript())).await
}

fn paths(model: &FakeModel) -> Vec<String> {
    model.requests().into_iter().map(|r| r.path).collect()
}

fn only_request(model: &FakeModel) -> RecordedRequest {
    let requests = model.requests();
    assert_eq!(requests.len(), 1, "{:?}", paths(model));
    requests.into_iter().next().unwrap()
}

fn unreachable_message(result: Result<impl std::fmt::Debug, ReasoningError>) -> String {
    match result {
        Err(ReasoningError::Unreachable(message)) => message,
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

fn assert_malformed<T: std::fmt::Debug>(result: Result<T, ReasoningError>) {
    assert!(matches!(result, Err(ReasoningError::MalformedResponse(_))), "{result:?}");
}

#[tokio::test]
async fn openai_classify_sends_the_chat_completions_shape_and_parses_the_answer() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::content(summarize_json().to_string()));
    let reasoner = reasoner("openai", model.url() + "/v1/", 0);
    assert_eq!((reasoner.provider(), reasoner.model()), ("openai", "test-model"));

    assert_eq!(classify(&reasoner).await.unwrap(), summarize_classification());
    let request = only_request(&model);
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-api-key"), None);
    assert_eq!(request.body["model"], "test-model");
    assert_eq!(request.body["response_format"], json!({"type": "json_object"}));
    assert_eq!(request.body["temperature"], json!(0.0));
    assert_eq!(request.body["messages"][0]["role"], "system");
    assert_eq!(request.system(), Some(bundle().system.as_str()));
    let user = request.user().unwrap();
    for part in ["dispute_id: dispute-1", &bundle().policy_hash, "[1700000000] buyer: \"I paid yesterday\""] {
        assert!(user.contains(part), "user message lacks {part:?}");
    }
}

#[tokio::test]
async fn openai_compatible_on_a_root_base_calls_chat_completions_there() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::content(SUMMARY_REPLY));
    let reasoner = reasoner("openai-compatible", model.url(), 0);

    let summary = summarize(&reasoner).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            text: "The buyer paid late; the seller confirms receipt.".into(),
            next_step: "check the seller's bank statement".into(),
            rationale: Rationale("both messages agree".into()),
        }
    );
    let request = only_request(&model);
    assert_eq!(request.path, "/chat/completions");
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert!(request.body.get("response_format").is_none());
    assert_eq!(request.body["temperature"], json!(0.2));
    assert!(request.user().unwrap().contains("SUGGESTED_NEXT_STEP:"));
}

#[tokio::test]
async fn anthropic_classify_sends_the_messages_shape_and_parses_the_answer() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::content(summarize_json().to_string()));
    let reasoner = reasoner("anthropic", model.url() + "/v1", 0);

    assert_eq!(classify(&reasoner).await.unwrap(), summarize_classification());
    let request = only_request(&model);
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.body["model"], "test-model");
    assert_eq!(request.body["max_tokens"], json!(2048));
    assert_eq!(request.body["system"], json!(bundle().system));
    assert_eq!(request.body["messages"].as_array().unwrap().len(), 1);
    assert!(request.body.get("response_format").is_none());
}

#[tokio::test]
async fn anthropic_text_blocks_are_joined() {
    let model = FakeModel::start().await.unwrap();
    let reasoner = reasoner("anthropic", model.url(), 0);
    let text = summarize_json().to_string();
    let (head, tail) = text.split_at(text.len() / 2);
    model.push(Reply::Json(json!({"content": [
        {"type": "text", "text": head},
        {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
        {"type": "text", "text": tail},
    ]})));
    assert_eq!(classify(&reasoner).await.unwrap(), summarize_classification());

    let (head, tail) = SUMMARY_REPLY.split_at(20);
    model.push(Reply::Json(json!({"content": [{"type": "text", "text": head}, {"type": "text", "text": tail}]})));
    assert_eq!(summarize(&reasoner).await.unwrap().next_step, "check the seller's bank statement");
    assert_eq!(model.requests()[1].body["max_tokens"], json!(4096));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_malformed_and_not_retried() {
    for provider in ["openai", "anthropic"] {
        let model = FakeModel::start().await.unwrap();
        model.push(Reply::Raw("{\"choices\": [".into()));
        assert_malformed(classify(&reasoner(provider, model.url(), 2)).await);
        assert_eq!(model.requests().len(), 1, "{provider}");
    }
}

#[tokio::test]
async fn an_endless_body_is_cut_off_and_malformed() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::content("x".repeat(2 << 20)));
    assert_malformed(summarize(&reasoner("openai", model.url(), 2)).await);
    assert_eq!(model.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn model_text_that_is_not_the_contract_is_malformed() {
    for provider in ["openai-compatible", "anthropic"] {
        let model = FakeModel::start().await.unwrap();
        let reasoner = reasoner(provider, model.url(), 1);
        model.push(Reply::content("I think the buyer is right."));
        assert_malformed(classify(&reasoner).await);
        model.push(Reply::content(json!({"classification": "weird", "confidence": 1}).to_string()));
        assert_malformed(classify(&reasoner).await);
        model.push(Reply::Json(json!({"choices": [], "content": []})));
        assert_malformed(classify(&reasoner).await);
        model.push(Reply::content("   "));
        assert_malformed(summarize(&reasoner).await);
        assert_eq!(model.requests().len(), 4, "{provider}: malformed answers are not retried");
    }
}

#[tokio::test]
async fn rate_limit_is_retried_then_succeeds() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::Status(429, "slow down".into()).with_header("Retry-After", "0"));
    model.push(Reply::content(summarize_json().to_string()));
    assert_eq!(classify(&reasoner("openai", model.url(), 1)).await.unwrap(), summarize_classification());
    assert_eq!(model.requests().len(), 2);
}

#[tokio::test]
async fn rate_limit_exhausting_the_budget_is_unreachable_after_n_plus_one_attempts() {
    for (provider, path) in [("openai-compatible", "/chat/completions"), ("anthropic", "/v1/messages")] {
        let model = FakeModel::start().await.unwrap();
        model.respond_with(|_| {
            Reply::Status(429, "{\"error\": \"rate limited\"}".into()).with_header("retry-after", "0")
        });
        let message = unreachable_message(classify(&reasoner(provider, model.url(), 2)).await);
        assert_eq!(message, format!("{provider} http 429: {{\"error\": \"rate limited\"}} (retry-after: 0)"));
        assert_eq!(paths(&model), [path; 3]);
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::Status(500, "oops".into()));
    model.push(Reply::Status(503, "busy".into()).with_header("retry-after", "0"));
    model.push(Reply::content(SUMMARY_REPLY));
    assert!(summarize(&reasoner("anthropic", model.url(), 2)).await.is_ok());
    assert_eq!(model.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_fail_fast() {
    for (status, body) in [(401, "invalid api key"), (404, "model not found"), (400, "bad request")] {
        let model = FakeModel::start().await.unwrap();
        model.respond_with(move |_| Reply::Status(status, body.into()));
        let message = unreachable_message(classify(&reasoner("openai", model.url(), 3)).await);
        assert_eq!(message, format!("openai http {status}: {body}"));
        assert_eq!(model.requests().len(), 1, "{status} is not retried");
    }
}

#[tokio::test]
async fn an_error_body_quoting_the_key_is_redacted() {
    let model = FakeModel::start().await.unwrap();
    model.respond_with(|_| Reply::Status(401, format!("Incorrect API key provided: {KEY}. Check it.")));
    let message = unreachable_message(classify(&reasoner("openai", model.url(), 0)).await);
    assert_eq!(message, "openai http 401: Incorrect API key provided: [redacted]. Check it.");
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::content(SUMMARY_REPLY).delayed(Duration::from_secs(10)));
    let reasoner =
        Reasoner::build(&ReasoningSettings { request_timeout_seconds: 1, ..settings("openai", model.url(), 0) })
            .unwrap();
    let started = Instant::now();
    assert_eq!(summarize(&reasoner).await, Err(ReasoningError::Timeout));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(model.requests().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_retried_and_a_zero_timeout_means_one_second() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::content(SUMMARY_REPLY).delayed(Duration::from_secs(10)));
    model.push(Reply::content(SUMMARY_REPLY));
    let reasoner =
        Reasoner::build(&ReasoningSettings { request_timeout_seconds: 0, ..settings("anthropic", model.url(), 1) })
            .unwrap();
    let started = Instant::now();
    assert!(summarize(&reasoner).await.is_ok());
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(model.requests().len(), 2);
}

#[tokio::test]
async fn a_closed_port_is_unreachable_after_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let reasoner = reasoner("openai", format!("http://127.0.0.1:{port}"), 1);
    let message = unreachable_message(reasoner.health_check().await);
    assert!(message.contains("127.0.0.1"), "{message}");
}

#[tokio::test]
async fn health_check_for_each_provider() {
    for (provider, base, path) in [
        ("openai", "/v1", "/v1/chat/completions"),
        ("openai-compatible", "", "/chat/completions"),
        ("anthropic", "/v1", "/v1/messages"),
    ] {
        let model = FakeModel::start().await.unwrap();
        model.push(Reply::content("pong"));
        let reasoner = reasoner(provider, model.url() + base, 0);
        reasoner.health_check().await.unwrap();
        let request = only_request(&model);
        assert_eq!(request.path, path);
        assert_eq!(request.user(), Some("ping"));
        assert_eq!(request.system(), None, "{provider}: the probe has no system text");

        model.push(Reply::Status(401, "bad key".into()));
        let message = unreachable_message(reasoner.health_check().await);
        assert!(message.contains("http 401"), "{message}");
        model.push(Reply::Raw("<html>proxy error</html>".into()));
        assert_malformed(reasoner.health_check().await);
    }
}

#[tokio::test]
async fn the_anthropic_health_probe_is_tiny() {
    let model = FakeModel::start().await.unwrap();
    model.push(Reply::Json(json!({"content": []})));
    reasoner("anthropic", model.url(), 0).health_check().await.unwrap();
    let body = only_request(&model).body;
    assert_eq!((body["max_tokens"].clone(), body.get("system")), (json!(8), None));
}

#[tokio::test]
async fn a_responder_answers_by_the_prompt_once_the_script_is_spent() {
    let model = FakeModel::start().await.unwrap();
    let reasoner = reasoner("openai", model.url(), 0);
    assert_eq!(unreachable_message(reasoner.health_check().await), "openai http 501: FakeModel: no scripted reply");
    model.respond_with(|request| match request.user() {
        Some(user) if user.contains("SUGGESTED_NEXT_STEP:") => Reply::content(SUMMARY_REPLY),
        _ => Reply::content(summarize_json().to_string()),
    });
    assert_eq!(classify(&reasoner).await.unwrap(), summarize_classification());
    assert!(summarize(&reasoner).await.is_ok());
}

#[test]
fn build_rejects_unknown_providers_and_a_missing_key() {
    let base = || "http://127.0.0.1:9".to_owned();
    for name in ["ppqai", "openclaw", "OpenAI", ""] {
        let error = Reasoner::build(&settings(name, base(), 0)).err().unwrap();
        assert_eq!(error, format!("reasoning.provider: `{name}` is not one of openai, openai-compatible, anthropic"));
    }
    for key in [None, Some("  ")] {
        let without_key = ReasoningSettings {
            api_key: key.map(str::to_owned),
            api_key_env: "MY_LLM_KEY".into(),
            ..settings("openai", base(), 0)
        };
        let error = Reasoner::build(&without_key).err().unwrap();
        assert!(error.contains("`MY_LLM_KEY`"), "{error}");
    }
    let bad_key = ReasoningSettings { api_key: Some("sk-\nnewline".into()), ..settings("anthropic", base(), 0) };
    let error = Reasoner::build(&bad_key).err().unwrap();
    assert!(error.contains("HTTP header") && !error.contains("sk-"), "{error}");
}
