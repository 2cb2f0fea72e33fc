//! The seams between crates: encoders, retrievers and chat models.
//!
//! All methods are synchronous and may block while a model computes; async
//! callers run them on a blocking thread. Implementations keep their own
//! compute threads and bounded queues.

use serde::{Deserialize, Serialize};

use crate::{CoreResult, Hit, Span};

/// Whether a text is a search query or a passage to be found; encoders such
/// as e5 prefix the two differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmbedKind {
    /// A question or search query.
    Query,
    /// A passage of a document.
    Passage,
}

/// A text encoder producing L2-normalised vectors.
pub trait Embedder: Send + Sync {
    /// Stable model id recorded in a collection's manifest.
    fn model_id(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Longest input, in model tokens (special tokens included), one forward pass takes.
    fn max_tokens(&self) -> usize;
    /// Number of model tokens the text becomes as a passage (prefix and special tokens included).
    fn count_tokens(&self, text: &str) -> CoreResult<usize>;
    /// Encodes texts; one unit-length vector per text, in order.
    fn embed(&self, texts: &[String], kind: EmbedKind) -> CoreResult<Vec<Vec<f32>>>;
}

/// Which retrieval signals to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Dense and keyword, fused.
    #[default]
    Hybrid,
    /// Vector search only.
    Dense,
    /// BM25 only.
    Keyword,
}

/// Restricts a search to some documents or speakers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    /// Only these documents (empty: all).
    #[serde(default)]
    pub doc_ids: Vec<String>,
    /// Only passages where this speaker talks (case-insensitive substring).
    #[serde(default)]
    pub speaker: Option<String>,
}

/// A search request as the index sees it: the text for BM25 and, for dense
/// search, the query vector computed by the caller (the index never embeds).
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// The query text.
    pub text: String,
    /// Query vector from the same encoder the collection was built with.
    pub vector: Option<Vec<f32>>,
    /// Number of results wanted.
    pub k: usize,
    /// Signals to use.
    pub mode: SearchMode,
    /// Restrictions.
    pub filter: SearchFilter,
}

/// A sentence of a stored document with its precomputed passage vector.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceSpan {
    /// Document.
    pub doc_id: String,
    /// Byte range in the document's source.
    pub span: Span,
    /// Exactly `source[span]`.
    pub text: String,
    /// Unit vector of the sentence as a passage, when computed at ingest.
    pub vector: Option<Vec<f32>>,
    /// Speaker of the sentence, when known.
    pub speaker: Option<String>,
}

/// Read access to a collection, as the answer engine needs it.
pub trait Retriever: Send + Sync {
    /// Best passages first.
    fn search(&self, query: &SearchQuery) -> CoreResult<Vec<Hit>>;
    /// The sentences lying inside `[start, end)` of a document, in order.
    fn sentences(&self, doc_id: &str, start: usize, end: usize) -> CoreResult<Vec<SentenceSpan>>;
    /// The document's source URL, if it has one.
    fn document_url(&self, doc_id: &str) -> CoreResult<Option<String>>;
}

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

/// One chat turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: ChatRole,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// Convenience constructor.
    pub fn new(role: ChatRole, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// How to pick tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Upper bound on generated tokens.
    pub max_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    /// Nucleus sampling threshold (1.0 disables it).
    pub top_p: f64,
    /// Keep only the k most likely tokens (0 disables it).
    pub top_k: usize,
    /// Penalty for tokens already in the context (1.0 disables it).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed for reproducible sampling.
    pub seed: u64,
    /// Generation stops before any of these strings.
    pub stop: Vec<String>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            max_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 42,
            stop: Vec::new(),
        }
    }
}

/// A chat completion request.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationRequest {
    /// The conversation, rendered with the model's own chat template.
    pub messages: Vec<ChatMessage>,
    /// Sampling settings.
    pub params: SamplingParams,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-sequence token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The sink asked to stop (client gone).
    Cancelled,
}

/// The result of a completed generation.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationOutput {
    /// The generated text (stop strings excluded).
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Milliseconds until the first token was produced.
    pub time_to_first_token_ms: f64,
    /// Total milliseconds.
    pub total_ms: f64,
}

/// Receives text as it is generated, in pieces that are whole UTF-8
/// characters. Returning `false` cancels generation.
pub type TokenSink<'a> = dyn FnMut(&str) -> bool + 'a;

/// A local chat model.
pub trait Generator: Send + Sync {
    /// Model id (shown in `/v1/models` and responses).
    fn model_id(&self) -> &str;
    /// Context window in tokens.
    fn context_length(&self) -> usize;
    /// Tokens the conversation takes once rendered with the chat template
    /// (including the assistant turn's opening).
    fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> CoreResult<usize>;
    /// Generates a reply, streaming text into `sink`. Blocks until done;
    /// a full queue is `CoreError::Overloaded`, an oversized prompt
    /// `CoreError::ContextOverflow`.
    fn generate(
        &self,
        request: &GenerationRequest,
        sink: &mut TokenSink<'_>,
    ) -> CoreResult<GenerationOutput>;
}
