//! The seam between the HTTP layer and the answer engine.
//!
//! The server holds no business logic: every request becomes one call on an
//! [`AppService`]. The binary adapts the real engine to this trait; tests use
//! a fake. All methods are synchronous and may block; the server always calls
//! them on a blocking thread.

use serde::{Deserialize, Serialize};
use tingwen_core::{
    Answer, AnswerMode, ChatMessage, Citation, CoreError, DocumentMeta, Hit, SearchFilter,
    SearchMode, SourceFormat, TimeRange,
};

/// Errors a service reports; the server maps each kind onto an HTTP status.
/// It is the core error type, so engine errors convert with `?`.
pub type ServiceError = CoreError;

/// A search as the service receives it (already validated).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchRequest {
    /// The query text (non-empty).
    pub query: String,
    /// Number of results wanted (1..=the configured maximum).
    pub k: usize,
    /// Restrictions (document, speaker).
    pub filter: SearchFilter,
    /// Retrieval signals to use.
    pub mode: SearchMode,
}

/// A question as the service receives it (already validated).
#[derive(Clone, Debug, PartialEq)]
pub struct AskRequest {
    /// The question (non-empty).
    pub question: String,
    /// Earlier turns of the conversation, oldest first (for follow-ups).
    pub history: Vec<ChatMessage>,
    /// Passages to retrieve; `None` lets the engine pick its default.
    pub k: Option<usize>,
    /// How to answer.
    pub mode: AnswerMode,
}

/// Progress of an answer while it is produced. The final, verified answer is
/// the return value of [`AppService::ask`], not an event.
#[derive(Clone, Debug, PartialEq)]
pub enum AskEvent {
    /// The numbered sources the answer will cite, known before generation.
    Sources(Vec<Citation>),
    /// A piece of answer text (whole UTF-8 characters), as generated.
    Delta(String),
    /// Discard the text streamed so far: verification rejected it and a
    /// replacement answer follows as new deltas.
    Restart {
        /// Why the streamed text was rejected.
        reason: String,
    },
}

/// A stored document as listed by `GET /api/documents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// Source file name; the document's id.
    pub doc_id: String,
    /// Title, date, author, url, tags, speakers.
    #[serde(flatten)]
    pub meta: DocumentMeta,
    /// The format the file was read as.
    pub format: SourceFormat,
    /// Number of chunks indexed.
    pub chunks: usize,
    /// Length of the stored source text in bytes (offsets run up to this).
    pub bytes: usize,
    /// Hex sha256 of the file's bytes.
    pub content_hash: String,
}

/// What ingesting one file did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestStatus {
    /// A new document.
    Added,
    /// The same bytes were already stored; nothing changed.
    Unchanged,
    /// A document of that name existed with other content and was replaced.
    Replaced,
}

/// The result of `POST /api/documents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestSummary {
    /// The document's id (its file name).
    pub doc_id: String,
    /// Added, unchanged or replaced.
    pub status: IngestStatus,
    /// Chunks now indexed for the document.
    pub chunks: usize,
    /// Non-fatal problems found while reading the file.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A cited passage with the text around it, for showing a citation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Document id.
    pub doc_id: String,
    /// Document title.
    pub title: String,
    /// Link to the original (with a time offset when known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Byte offset of the passage.
    pub start: usize,
    /// Byte offset one past the passage.
    pub end: usize,
    /// Exactly `source[start..end]`.
    pub text: String,
    /// Up to `context` bytes before the passage (cut on a character boundary).
    pub before: String,
    /// Up to `context` bytes after the passage (cut on a character boundary).
    pub after: String,
    /// Speaker(s) of the passage, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Moment in the recording, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRange>,
}

/// Static facts about the collection, for `/v1/models` and `/metrics`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Collection name; the "model" clients pick in `/v1/models`.
    pub collection: String,
    /// Embedding model id.
    pub embedding_model: String,
    /// Chat model id, when one is loaded.
    pub chat_model: Option<String>,
    /// Documents stored.
    pub documents: usize,
    /// Chunks indexed.
    pub chunks: usize,
}

/// Everything the HTTP layer asks of the engine. Implementations must be
/// cheap to share (`Arc`) and safe to call from many threads at once.
pub trait AppService: Send + Sync + 'static {
    /// Best passages first.
    fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, ServiceError>;

    /// Answers a question. `on_event` receives the sources, then text deltas;
    /// once it returns `false` (the client went away or the request timed
    /// out) the implementation should stop work and return
    /// `CoreError::Cancelled` or whatever it has.
    fn ask(
        &self,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AskEvent) -> bool,
    ) -> Result<Answer, ServiceError>;

    /// All stored documents.
    fn list_documents(&self) -> Result<Vec<DocumentInfo>, ServiceError>;

    /// Ingests one transcript file. `file_name` is already validated as a
    /// plain file name (no path separators, no `..`).
    fn add_document(&self, file_name: &str, bytes: &[u8]) -> Result<IngestSummary, ServiceError>;

    /// Deletes a document; `Ok(false)` when there was none of that id.
    fn delete_document(&self, doc_id: &str) -> Result<bool, ServiceError>;

    /// The passage `[start, end)` of a document with up to `context_bytes`
    /// on each side. Offsets not on character boundaries or out of range
    /// are `CoreError::InvalidInput`; an unknown document `NotFound`.
    fn get_passage(
        &self,
        doc_id: &str,
        start: usize,
        end: usize,
        context_bytes: usize,
    ) -> Result<Passage, ServiceError>;

    /// Unit vectors for the texts, in order (as passages).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ServiceError>;

    /// Collection name, models, counts. Must be cheap.
    fn info(&self) -> ServiceInfo;
}
