//! A language-model endpoint on loopback, answering from a script: `POST /chat/completions` and
//! `POST /v1/chat/completions` in the OpenAI shape, `POST /v1/messages` in Anthropic's. Scripted
//! replies are used in order; when none is left, a responder decides (by default a 501 that
//! no retry hides). Every request is recorded for assertions.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// The model's text, shaped for the path called: an OpenAI choice or one Anthropic text block.
    Content(String),
    /// 200 with this JSON body as is (e.g. several Anthropic blocks, or no choices).
    Json(Value),
    /// 200 with this body as is, declared JSON (for bodies that are not).
    Raw(String),
    Status(u16, String),
    /// The inner reply with one more response header, e.g. `Retry-After`.
    Header(&'static str, String, Box<Reply>),
    /// The inner reply after a pause, to outlast a client's timeout.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    pub fn content(text: impl Into<String>) -> Self {
        Self::Content(text.into())
    }

    pub fn with_header(self, name: &'static str, value: impl Into<String>) -> Self {
        Self::Header(name, value.into(), Box::new(self))
    }

    pub fn delayed(self, by: Duration) -> Self {
        Self::Delay(by, Box::new(self))
    }
}

/// A request as the endpoint received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Lowercase names.
    pub headers: BTreeMap<String, String>,
    /// `Null` when the body is not JSON.
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The system text: Anthropic's top-level field or OpenAI's `system` message.
    pub fn system(&self) -> Option<&str> {
        self.body["system"].as_str().or_else(|| self.message_content("system"))
    }

    /// The last user message.
    pub fn user(&self) -> Option<&str> {
        self.message_content("user")
    }

    fn message_content(&self, role: &str) -> Option<&str> {
        let messages = self.body["messages"].as_array()?;
        messages.iter().rev().find(|m| m["role"] == role)?["content"].as_str()
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest) -> Reply + Send + Sync>;

struct Script {
    replies: Mutex<VecDeque<Reply>>,
    responder: Mutex<Responder>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// The endpoint; it stops when dropped.
pub struct FakeModel {
    addr: SocketAddr,
    script: Arc<Script>,
    server: JoinHandle<()>,
}

impl FakeModel {
    /// On a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the fake model endpoint")?;
        let addr = listener.local_addr()?;
        let unscripted: Responder = Arc::new(|_| Reply::Status(501, "FakeModel: no scripted reply".into()));
        let script = Arc::new(Script {
            replies: Mutex::new(VecDeque::new()),
            responder: Mutex::new(unscripted),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(answer).with_state(script.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake model endpoint stopped");
            }
        });
        Ok(Self { addr, script, server })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash: an `api_base` as is, or with `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the answer to the next request not yet answered.
    pub fn push(&self, reply: Reply) {
        self.script.replies.lock().expect("script lock").push_back(reply);
    }

    /// Answers requests with `responder` once the queue is empty.
    pub fn respond_with(&self, responder: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static) {
        *self.script.responder.lock().expect("script lock") = Arc::new(responder);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script.requests.lock().expect("script lock").clone()
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Which answer shape a path asks for.
#[derive(Clone, Copy)]
enum Dialect {
    OpenAi,
    Anthropic,
}

async fn answer(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    script.requests.lock().expect("script lock").push(request.clone());
    let dialect = match (method, request.path.as_str()) {
        (Method::POST, "/chat/completions" | "/v1/chat/completions") => Dialect::OpenAi,
        (Method::POST, "/v1/messages") => Dialect::Anthropic,
        _ => return (StatusCode::NOT_FOUND, "FakeModel: no such endpoint").into_response(),
    };
    let scripted = script.replies.lock().expect("script lock").pop_front();
    let reply = scripted.unwrap_or_else(|| {
        let responder = script.responder.lock().expect("script lock").clone();
        responder(&request)
    });
    render(reply, dialect, request.body["model"].as_str().unwrap_or("fake-model")).await
}

async fn render(mut reply: Reply, dialect: Dialect, model: &str) -> Response {
    let mut headers = HeaderMap::new();
    let (status, body) = loop {
        match reply {
            Reply::Delay(by, inner) => {
                tokio::time::sleep(by).await;
                reply = *inner;
            }
            Reply::Header(name, value, inner) => {
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
                {
                    headers.insert(name, value);
                }
                reply = *inner;
            }
            Reply::Content(text) => break (StatusCode::OK, shaped(dialect, model, &text).to_string()),
            Reply::Json(value) => break (StatusCode::OK, value.to_string()),
            Reply::Raw(text) => break (StatusCode::OK, text),
            Reply::Status(code, text) => {
                break (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), text)
            }
        }
    };
    headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
    (status, headers, body).into_response()
}

fn shaped(dialect: Dialect, model: &str, text: &str) -> Value {
    match dialect {
        Dialect::OpenAi => json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }),
        Dialect::Anthropic => json!({
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }),
    }
}
