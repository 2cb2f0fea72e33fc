//! OpenAI-compatible endpoints: `/v1/models`, `/v1/chat/completions`,
//! `/v1/embeddings`.
//!
//! The collection is the model. A chat request's last user message is the
//! question and earlier turns are the history. The reply's content ends with
//! the numbered sources as Markdown (after [`SOURCES_MARKER`]) and the
//! response carries a `citations` array, so citations survive chat tools
//! that only show the text. Optional non-standard request fields: `mode`
//! (`auto` | `generate` | `extractive`) and `k`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tingwen_core::{Answer, AnswerMode, ChatMessage, ChatRole, Citation};

use crate::stream::{ask_to_end, json_event, sse_response, AskStream, StreamItem};
use crate::validate::{self, parse_json};
use crate::{ApiError, AppState, AskEvent, AskRequest};

/// Separates a chat answer from its appended source list. Assistant turns
/// sent back as history are cut here, so the list does not pollute follow-ups.
pub const SOURCES_MARKER: &str = "\n\n---\n**Sources**\n";

/// Longest quote shown per source in the Markdown list, in characters.
const QUOTE_CHARS: usize = 160;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn model_entry(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": "tingwen" })
}

/// `GET /v1/models`: the collection (for chat) and the embedding model.
pub(crate) async fn models(State(state): State<AppState>) -> Result<Response, ApiError> {
    let service = state.service.clone();
    let info = tokio::task::spawn_blocking(move || service.info())
        .await
        .map_err(|error| ApiError::Internal(format!("info() panicked: {error}")))?;
    let mut data = vec![model_entry(&info.collection)];
    if info.embedding_model != info.collection {
        data.push(model_entry(&info.embedding_model));
    }
    Ok(Json(json!({ "object": "list", "data": data })).into_response())
}

#[derive(Deserialize)]
struct ChatBody {
    model: Option<String>,
    messages: Vec<ChatBodyMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    mode: AnswerMode,
    k: Option<usize>,
}

#[derive(Deserialize)]
struct ChatBodyMessage {
    role: String,
    #[serde(default)]
    content: Option<MessageContent>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl MessageContent {
    fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter(|part| part.kind == "text")
                .filter_map(|part| part.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Checks the model name against the collection (or the chat model id).
fn check_chat_model(state: &AppState, requested: Option<&str>) -> Result<String, ApiError> {
    let info = state.service.info();
    match requested {
        None => Ok(info.collection),
        Some(model) if model == info.collection => Ok(info.collection),
        Some(model) if info.chat_model.as_deref() == Some(model) => Ok(model.to_owned()),
        Some(model) => Err(ApiError::not_found(
            "model_not_found",
            format!(
                "the model {model:?} does not exist; use {:?} (see /v1/models)",
                info.collection
            ),
        )),
    }
}

/// Splits OpenAI messages into the question (last user turn) and history.
fn to_ask_request(body: ChatBody, state: &AppState) -> Result<AskRequest, ApiError> {
    let config = &state.config;
    if body.messages.is_empty() {
        return Err(ApiError::bad_request(
            "empty_messages",
            "`messages` must not be empty",
        ));
    }
    let mut turns = Vec::with_capacity(body.messages.len());
    for message in &body.messages {
        let role = match message.role.as_str() {
            "system" | "developer" => ChatRole::System,
            "user" => ChatRole::User,
            "assistant" => ChatRole::Assistant,
            other => {
                return Err(ApiError::bad_request(
                    "invalid_role",
                    format!("unsupported message role {other:?}"),
                ))
            }
        };
        let mut text = message
            .content
            .as_ref()
            .map(MessageContent::text)
            .unwrap_or_default();
        if role == ChatRole::Assistant {
            if let Some(cut) = text.find(SOURCES_MARKER) {
                text.truncate(cut);
            }
        }
        turns.push(ChatMessage::new(role, text));
    }
    let last = turns
        .pop()
        .ok_or_else(|| ApiError::bad_request("empty_messages", "`messages` must not be empty"))?;
    if last.role != ChatRole::User {
        return Err(ApiError::bad_request(
            "last_message_not_user",
            "the last message must come from the user",
        ));
    }
    let question = validate::question(&last.content, "messages[-1].content", config)?;
    if turns.len() > config.max_history_messages {
        // Keep the most recent turns; chat tools resend the whole conversation.
        turns.drain(..turns.len() - config.max_history_messages);
    }
    Ok(AskRequest {
        question,
        history: turns,
        k: validate::k(body.k, config)?,
        mode: body.mode,
    })
}

/// `POST /v1/chat/completions`, whole or streamed.
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: ChatBody = parse_json(body, state.config.max_chat_body_bytes)?;
    let model = check_chat_model(&state, body.model.as_deref())?;
    let stream = body.stream;
    let request = to_ask_request(body, &state)?;
    let slot = state.try_generation_slot()?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    if !stream {
        let answer = ask_to_end(&state, request, slot).await?;
        let content = format!("{}{}", answer.answer, sources_markdown(&answer.citations));
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content },
                "finish_reason": "stop",
            }],
            "citations": answer.citations,
            "tingwen": answer_extras(&answer),
        }))
        .into_response());
    }
    let stream = AskStream::start(&state, request, slot);
    let mut chunks = ChunkWriter {
        id,
        created,
        model,
        streamed: String::new(),
        started: false,
    };
    Ok(sse_response(stream, state.config.keep_alive, move |item| {
        chunks.events(item)
    })
    .into_response())
}

/// Fields of the answer that have no OpenAI equivalent.
fn answer_extras(answer: &Answer) -> Value {
    json!({
        "mode": answer.mode,
        "mode_reason": answer.mode_reason,
        "language": answer.language,
        "refused": answer.refused,
        "unsupported": answer.unsupported,
    })
}

/// Turns answer items into `chat.completion.chunk` events, `[DONE]` last.
struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    streamed: String,
    started: bool,
}

impl ChunkWriter {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
        })
    }

    fn opening(&mut self, events: &mut Vec<Event>) {
        if !self.started {
            self.started = true;
            events.push(json_event(
                None,
                &self.chunk(json!({ "role": "assistant", "content": "" }), None),
            ));
        }
    }

    fn events(&mut self, item: StreamItem) -> Vec<Event> {
        let mut events = Vec::new();
        match item {
            // Sources are listed after the answer, once verified.
            StreamItem::Event(AskEvent::Sources(_)) => self.opening(&mut events),
            // Chat clients cannot un-show text; the verified answer is
            // appended when the stream finishes (see below).
            StreamItem::Event(AskEvent::Restart { .. }) => self.opening(&mut events),
            StreamItem::Event(AskEvent::Delta(text)) => {
                self.opening(&mut events);
                self.streamed.push_str(&text);
                events.push(json_event(
                    None,
                    &self.chunk(json!({ "content": text }), None),
                ));
            }
            StreamItem::Finished(Ok(answer)) => {
                self.opening(&mut events);
                // Text already sent cannot be withdrawn: when verification
                // changed the answer, send the rest, or the verified answer
                // after a label.
                let mut tail = match answer.answer.strip_prefix(self.streamed.as_str()) {
                    Some(rest) => rest.to_owned(),
                    None => format!("\n\n**Verified answer:** {}", answer.answer),
                };
                tail.push_str(&sources_markdown(&answer.citations));
                events.push(json_event(
                    None,
                    &self.chunk(json!({ "content": tail }), None),
                ));
                let mut last = self.chunk(json!({}), Some("stop"));
                last["citations"] = json!(answer.citations);
                last["tingwen"] = answer_extras(&answer);
                events.push(json_event(None, &last));
                events.push(Event::default().data("[DONE]"));
            }
            StreamItem::Finished(Err(error)) => {
                tracing::warn!(%error, "streamed chat completion failed");
                if let ApiError::Internal(detail) = &error {
                    tracing::error!(%detail, "internal error in a streamed chat completion");
                }
                events.push(json_event(None, &error.body_json()));
                events.push(Event::default().data("[DONE]"));
            }
        }
        events
    }
}

/// The numbered sources as Markdown, starting with [`SOURCES_MARKER`];
/// empty when there are none.
pub(crate) fn sources_markdown(citations: &[Citation]) -> String {
    if citations.is_empty() {
        return String::new();
    }
    let mut out = String::from(SOURCES_MARKER);
    for citation in citations {
        let mut facts = Vec::new();
        if let Some(speaker) = &citation.speaker {
            facts.push(speaker.clone());
        }
        if let Some(time) = &citation.time {
            facts.push(time.format_start());
        }
        let link = citation.url.clone().unwrap_or_else(|| {
            format!(
                "/api/passage?doc_id={}&start={}&end={}",
                percent_encode(&citation.doc_id),
                citation.start,
                citation.end
            )
        });
        let quote: String = citation.text.chars().take(QUOTE_CHARS).collect();
        let ellipsis = if citation.text.chars().count() > QUOTE_CHARS {
            "…"
        } else {
            ""
        };
        let quote = quote.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = write!(out, "\n[{}] [{}]({})", citation.n, citation.title, link);
        if !facts.is_empty() {
            let _ = write!(out, " — {}", facts.join(", "));
        }
        let _ = writeln!(out, "\n> {quote}{ellipsis}");
    }
    out
}

/// Percent-encodes everything but unreserved URL characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[derive(Deserialize)]
struct EmbeddingsBody {
    input: EmbeddingInput,
    model: Option<String>,
    encoding_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

/// `POST /v1/embeddings`; `encoding_format` `float` (default) or `base64`
/// (little-endian f32, what the official Python client asks for).
pub(crate) async fn embeddings(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: EmbeddingsBody = parse_json(body, config.max_embedding_body_bytes)?;
    let info = state.service.info();
    let model = match body.model {
        None => info.embedding_model.clone(),
        Some(model) if model == info.embedding_model || model == info.collection => model,
        Some(model) => {
            return Err(ApiError::not_found(
                "model_not_found",
                format!(
                    "the model {model:?} does not exist; use {:?}",
                    info.embedding_model
                ),
            ))
        }
    };
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_encoding_format",
                format!("unsupported encoding_format {other:?}; use \"float\" or \"base64\""),
            ))
        }
    };
    let texts = match body.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
    };
    if texts.is_empty() || texts.len() > config.max_embedding_inputs {
        return Err(ApiError::bad_request(
            "invalid_input",
            format!(
                "`input` must hold 1 to {} texts",
                config.max_embedding_inputs
            ),
        ));
    }
    if texts.iter().any(|text| text.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_input",
            "`input` texts must not be empty",
        ));
    }
    let vectors = state.blocking(move |service| service.embed(&texts)).await?;
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector
                    .iter()
                    .flat_map(|value| value.to_le_bytes())
                    .collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        // Token counts are not tracked through the service seam.
        "usage": { "prompt_tokens": 0, "total_tokens": 0 },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tingwen_core::TimeRange;

    fn citation(n: usize, url: Option<&str>) -> Citation {
        Citation {
            n,
            doc_id: "张璐 访谈.md".into(),
            title: "访谈".into(),
            text: "Waymo 停在路口。\n因为信号灯停电。".into(),
            start: 10,
            end: 52,
            speaker: Some("张璐".into()),
            section: None,
            time: Some(TimeRange {
                start: 754.0,
                end: 770.0,
            }),
            url: url.map(str::to_owned),
        }
    }

    #[test]
    fn sources_list_names_title_speaker_time_and_link() {
        let text = sources_markdown(&[
            citation(1, Some("https://example.org/v?t=754")),
            citation(2, None),
        ]);
        assert!(text.starts_with(SOURCES_MARKER));
        assert!(text.contains("[1] [访谈](https://example.org/v?t=754) — 张璐, 12:34"));
        assert!(text.contains(
            "[2] [访谈](/api/passage?doc_id=%E5%BC%A0%E7%92%90%20%E8%AE%BF%E8%B0%88.md&start=10&end=52)"
        ));
        assert!(text.contains("> Waymo 停在路口。 因为信号灯停电。"));
        assert_eq!(sources_markdown(&[]), "");
    }
}
