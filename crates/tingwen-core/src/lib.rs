//! tingwen-core: the plain data types (documents, chunks, hits, citations,
//! answers) and the traits (`Embedder`, `Retriever`, `Generator`) that the
//! other tingwen crates implement or consume.
//!
//! It deliberately depends on nothing heavy (no candle, tantivy, axum or
//! tokio), so the answer engine and the server can be tested with fakes.
#![warn(missing_docs)]

mod error;
mod language;
mod traits;
mod types;

pub use error::{CoreError, CoreResult};
pub use language::{detect_language, Language};
pub use traits::{
    ChatMessage, ChatRole, EmbedKind, Embedder, FinishReason, GenerationOutput, GenerationRequest,
    Generator, Retriever, SamplingParams, SearchFilter, SearchMode, SearchQuery, SentenceSpan,
    TokenSink,
};
pub use types::{
    Answer, AnswerMode, Chunk, Citation, Document, DocumentMeta, Hit, SourceFormat, Span, TimeRange,
};
