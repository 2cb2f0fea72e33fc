//! The crate's error type and its mapping onto the shared `CoreError` kinds.

use tingwen_core::CoreError;

/// Everything that can go wrong loading or running a chat model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Reading the model file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable GGUF (bad header, missing key, wrong type).
    #[error("invalid GGUF model: {0}")]
    InvalidModel(String),
    /// `general.architecture` names a model family this crate cannot run.
    #[error("unsupported model architecture `{0}` (supported: llama, qwen2, qwen3, gemma3)")]
    UnsupportedArchitecture(String),
    /// The tokenizer metadata describes a tokenizer this crate cannot build.
    #[error("unsupported tokenizer: {0}")]
    UnsupportedTokenizer(String),
    /// Building or running the tokenizer failed.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// The chat template is missing, does not parse or fails to render.
    #[error("chat template error: {0}")]
    Template(String),
    /// A tensor operation failed.
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The request queue is full.
    #[error("the generation queue is full ({0} waiting)")]
    Overloaded(usize),
    /// The prompt plus the requested completion do not fit the context.
    #[error("prompt of {needed} tokens does not fit the context of {limit} tokens")]
    ContextOverflow {
        /// Tokens needed.
        needed: usize,
        /// The context length.
        limit: usize,
    },
    /// A request parameter is unusable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The generation worker thread is gone (it panicked or was shut down).
    #[error("the generation worker stopped")]
    WorkerGone,
}

impl From<LlmError> for CoreError {
    fn from(err: LlmError) -> Self {
        match err {
            LlmError::Overloaded(_) => CoreError::Overloaded(err.to_string()),
            LlmError::ContextOverflow { needed, limit } => {
                CoreError::ContextOverflow { needed, limit }
            }
            LlmError::InvalidRequest(msg) => CoreError::InvalidInput(msg),
            LlmError::Io { .. }
            | LlmError::InvalidModel(_)
            | LlmError::UnsupportedArchitecture(_)
            | LlmError::UnsupportedTokenizer(_)
            | LlmError::WorkerGone => CoreError::ModelUnavailable(err.to_string()),
            LlmError::Tokenizer(_) | LlmError::Template(_) | LlmError::Candle(_) => {
                CoreError::Internal(err.to_string())
            }
        }
    }
}
