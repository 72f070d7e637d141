//! The language model over HTTP: `openai` and `openai-compatible` (any `/chat/completions`
//! endpoint) and `anthropic` (Messages API). What the calls say and how answers are read is pure
//! code in `serbero_core::reasoning`; this module sends them, with a per-call timeout and a
//! bounded retry on failures a later attempt may get past.
//!
//! Logs name the provider, model, attempt, status, lengths and a short SHA-256 prefix of the
//! model's text; never the key, a prompt, the model's text or a rationale.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use serbero_core::config::ReasoningSettings;
use serbero_core::prompts::PromptBundle;
use serbero_core::reasoning::guard::{self, GuardVerdict};
use serbero_core::reasoning::wire::{self, Call, CallKind};
use serbero_core::reasoning::{parse, prompt, Classified, ClassifyRequest, ReasoningError, Summary, SummaryRequest};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::prometheus;

pub const PROVIDERS: [&str; 3] = ["openai", "openai-compatible", "anthropic"];

/// What differs between providers: how a call goes out and where the model's text is in the
/// answer.
trait Provider: Send + Sync {
    fn request(&self, http: &reqwest::Client, call: &Call<'_>) -> reqwest::RequestBuilder;
    fn content(&self, body: &Value) -> Result<String, ReasoningError>;
}

/// Chat Completions, for `openai` and every `openai-compatible` server.
struct OpenAi {
    url: String,
    model: String,
    authorization: HeaderValue,
}

impl Provider for OpenAi {
    fn request(&self, http: &reqwest::Client, call: &Call<'_>) -> reqwest::RequestBuilder {
        http.post(&self.url)
            .header(AUTHORIZATION, self.authorization.clone())
            .json(&wire::openai_body(&self.model, call))
    }

    fn content(&self, body: &Value) -> Result<String, ReasoningError> {
        wire::openai_content(body)
    }
}

/// Anthropic's Messages API.
struct Anthropic {
    url: String,
    model: String,
    api_key: HeaderValue,
}

impl Provider for Anthropic {
    fn request(&self, http: &reqwest::Client, call: &Call<'_>) -> reqwest::RequestBuilder {
        http.post(&self.url)
            .header("x-api-key", self.api_key.clone())
            .header("anthropic-version", wire::ANTHROPIC_VERSION)
            .json(&wire::anthropic_body(&self.model, call))
    }

    fn content(&self, body: &Value) -> Result<String, ReasoningError> {
        wire::anthropic_content(body)
    }
}

/// The configured model, ready to call. Cheap to clone.
#[derive(Clone)]
pub struct Reasoner {
    inner: Arc<Inner>,
}

struct Inner {
    provider_name: String,
    model: String,
    api_base: String,
    provider: Box<dyn Provider>,
    http: reqwest::Client,
    /// Extra attempts after the first, on retryable failures only.
    retries: u32,
    /// Kept only to take it out of error bodies that echo it back (some servers quote the key
    /// they refused), since those bodies end up in logs and in `/health`.
    api_key: String,
}

/// One failed attempt, and whether another may succeed.
struct Failure {
    error: ReasoningError,
    retryable: bool,
    retry_after: Option<String>,
}

impl Failure {
    fn fatal(error: ReasoningError) -> Self {
        Self { error, retryable: false, retry_after: None }
    }
}

impl Reasoner {
    /// Fails on an unknown provider, a missing key (naming its variable) or a key that cannot
    /// travel in a header.
    pub fn build(settings: &ReasoningSettings) -> Result<Self, String> {
        let key = settings.api_key.as_deref().filter(|k| !k.trim().is_empty()).ok_or_else(|| {
            format!("reasoning: no API key: the environment variable `{}` is not set", settings.api_key_env)
        })?;
        let header = |value: String| {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                format!("reasoning: the value of `{}` cannot be sent in an HTTP header", settings.api_key_env)
            })?;
            value.set_sensitive(true);
            Ok::<_, String>(value)
        };
        let model = settings.model.clone();
        let provider: Box<dyn Provider> = match settings.provider.as_str() {
            "openai" | "openai-compatible" => Box::new(OpenAi {
                url: wire::openai_url(&settings.api_base),
                model,
                authorization: header(format!("Bearer {key}"))?,
            }),
            "anthropic" => Box::new(Anthropic {
                url: wire::anthropic_url(&settings.api_base),
                model,
                api_key: header(key.to_owned())?,
            }),
            other => return Err(format!("reasoning.provider: `{other}` is not one of {}", PROVIDERS.join(", "))),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.request_timeout_seconds.max(1)))
            .build()
            .map_err(|e| format!("reasoning: cannot build the HTTP client: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                provider_name: settings.provider.clone(),
                model: settings.model.clone(),
                api_base: settings.api_base.clone(),
                provider,
                http,
                retries: settings.followup_retry_count,
                api_key: key.to_owned(),
            }),
        })
    }

    /// The configured provider name, for audit rows.
    pub fn provider(&self) -> &str {
        &self.inner.provider_name
    }

    pub fn model(&self) -> &str {
        &self.inner.model
    }

    pub fn api_base(&self) -> &str {
        &self.inner.api_base
    }

    pub async fn classify(
        &self,
        bundle: &PromptBundle,
        request: &ClassifyRequest<'_>,
    ) -> Result<Classified, ReasoningError> {
        let messages = prompt::classification_messages(bundle, request);
        self.measured(CallKind::Classify, async {
            parse::classified(&self.complete(CallKind::Classify, &messages).await?)
        })
        .await
    }

    /// The independent second opinion on a question the model wrote for a party.
    pub async fn guard(&self, candidate: &str) -> Result<GuardVerdict, ReasoningError> {
        let messages = guard::messages(candidate);
        self.measured(CallKind::Guard, async { guard::verdict(&self.complete(CallKind::Guard, &messages).await?) })
            .await
    }

    pub async fn summarize(
        &self,
        bundle: &PromptBundle,
        request: &SummaryRequest<'_>,
    ) -> Result<Summary, ReasoningError> {
        let messages = prompt::summary_messages(bundle, request);
        self.measured(CallKind::Summarize, async {
            parse::summary(&self.complete(CallKind::Summarize, &messages).await?)
        })
        .await
    }

    /// A tiny call that proves the endpoint answers, accepts the key and knows the model: any
    /// success status with a JSON body passes; the model's text is not looked at.
    pub async fn health_check(&self) -> Result<(), ReasoningError> {
        self.measured(CallKind::Health, async { self.send(&Call::health()).await.map(drop) }).await
    }

    /// Times a call, its retries and the reading of its answer, for `/metrics`.
    async fn measured<T>(
        &self,
        kind: CallKind,
        call: impl std::future::Future<Output = Result<T, ReasoningError>>,
    ) -> Result<T, ReasoningError> {
        let started = std::time::Instant::now();
        let result = call.await;
        let error = result.as_ref().err().map(ReasoningError::category);
        prometheus::reasoning_call(self.provider(), kind.as_str(), started.elapsed(), error);
        result
    }

    async fn complete(&self, kind: CallKind, messages: &prompt::Messages) -> Result<String, ReasoningError> {
        let call = Call { kind, system: Some(&messages.system), user: &messages.user };
        let body = self.send(&call).await?;
        let reply = self.inner.provider.content(&body)?;
        debug!(
            provider = %self.provider(),
            model = %self.model(),
            call = kind.as_str(),
            content_len = reply.len(),
            content_sha256 = %short_sha256(&reply),
            "model answered"
        );
        Ok(reply)
    }

    /// The call's JSON answer, after at most `1 + retries` attempts.
    async fn send(&self, call: &Call<'_>) -> Result<Value, ReasoningError> {
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(call, attempt).await {
                Ok(body) => return Ok(body),
                Err(failure) => failure,
            };
            if !failure.retryable || attempt > self.inner.retries {
                return Err(failure.error);
            }
            let delay = wire::retry_delay(attempt, failure.retry_after.as_deref());
            warn!(
                provider = %self.provider(),
                model = %self.model(),
                call = call.kind.as_str(),
                attempt,
                error = failure.error.category(),
                retry_in_ms = delay.as_millis() as u64,
                "reasoning call failed; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, call: &Call<'_>, attempt: u32) -> Result<Value, Failure> {
        let inner = &self.inner;
        let response = inner.provider.request(&inner.http, call).send().await.map_err(transport_failure)?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = capped_body(response).await?;
        debug!(
            provider = %inner.provider_name,
            model = %inner.model,
            call = call.kind.as_str(),
            attempt,
            status,
            body_len = bytes.len(),
            "reasoning endpoint answered"
        );
        if !(200..300).contains(&status) {
            let body = String::from_utf8_lossy(&bytes).replace(inner.api_key.as_str(), "[redacted]");
            let error = wire::http_error(&inner.provider_name, status, &body, retry_after.as_deref());
            return Err(Failure { error, retryable: wire::status_is_retryable(status), retry_after });
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| Failure::fatal(ReasoningError::MalformedResponse("the response body is not JSON".into())))
    }
}

/// The largest response body read: an answer within the parser's limits is a few KB, and an
/// endpoint streaming without end must not fill the memory.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

async fn capped_body(mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            let why = format!("the response body is larger than {MAX_RESPONSE_BYTES} bytes");
            return Err(Failure::fatal(ReasoningError::MalformedResponse(why)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Timeouts and connection trouble may pass; a request that cannot be built will not.
fn transport_failure(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        return Failure { error: ReasoningError::Timeout, retryable: true, retry_after: None };
    }
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Failure { error: ReasoningError::Unreachable(message), retryable: !error.is_builder(), retry_after: None }
}

/// Enough of the model text's hash to match log lines to stored records.
fn short_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}
