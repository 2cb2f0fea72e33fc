//! The answer engine's error type.

use tingwen_core::CoreError;

/// Everything that can go wrong while searching, answering, ingesting or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum RagError {
    /// The caller sent something unusable (empty question, k = 0 ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The caller asked for generation but no chat model is loaded.
    #[error("no chat model is loaded; use mode \"extractive\" or \"auto\"")]
    NoGenerator,
    /// The event sink asked to stop (client went away).
    #[error("cancelled")]
    Cancelled,
    /// A model, the index or another crate failed behind a core trait.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Reading an eval file or a transcript failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of an eval file is not valid JSON of the expected shape.
    #[error("{path}:{line}: {message}")]
    EvalFormat {
        /// The file involved.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Ingesting a transcript failed (parse or index error).
    #[error("ingest of {doc_id} failed: {message}")]
    Ingest {
        /// The document being ingested.
        doc_id: String,
        /// What went wrong.
        message: String,
    },
}

impl RagError {
    /// Maps this error onto the shared error kinds (for the server's status codes).
    pub fn kind(&self) -> CoreError {
        match self {
            RagError::InvalidInput(m) => CoreError::InvalidInput(m.clone()),
            RagError::NoGenerator => CoreError::ModelUnavailable("no chat model loaded".into()),
            RagError::Cancelled => CoreError::Cancelled,
            RagError::Core(e) => clone_core(e),
            RagError::Io { .. } | RagError::EvalFormat { .. } => {
                CoreError::InvalidInput(self.to_string())
            }
            RagError::Ingest { message, .. } => CoreError::InvalidInput(message.clone()),
        }
    }
}

fn clone_core(e: &CoreError) -> CoreError {
    match e {
        CoreError::InvalidInput(m) => CoreError::InvalidInput(m.clone()),
        CoreError::NotFound(m) => CoreError::NotFound(m.clone()),
        CoreError::Overloaded(m) => CoreError::Overloaded(m.clone()),
        CoreError::ContextOverflow { needed, limit } => CoreError::ContextOverflow {
            needed: *needed,
            limit: *limit,
        },
        CoreError::Cancelled => CoreError::Cancelled,
        CoreError::ModelUnavailable(m) => CoreError::ModelUnavailable(m.clone()),
        CoreError::Internal(m) => CoreError::Internal(m.clone()),
    }
}
