//! The crate's one error type and its mapping onto the shared error kinds.

use tingwen_core::CoreError;

/// Everything that can go wrong while loading or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A required model file is missing from the model directory.
    #[error("model file missing: {0}")]
    MissingFile(String),
    /// `config.json` is malformed or describes something this crate cannot run.
    #[error("bad model config {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The model family (`model_type`) is not supported.
    #[error("unsupported model type {0:?} (supported: bert, xlm-roberta)")]
    UnsupportedModel(String),
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed (bad weights, shape mismatch, device error).
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The request queue is full; retry later.
    #[error("embedding queue is full ({0} requests waiting)")]
    Overloaded(usize),
    /// The compute thread has stopped (it panicked or the encoder is shutting down).
    #[error("embedding worker is not running")]
    WorkerGone,
    /// The compute thread panicked while running a batch.
    #[error("embedding worker panicked: {0}")]
    WorkerPanicked(String),
}

impl From<EmbedError> for CoreError {
    fn from(err: EmbedError) -> Self {
        match err {
            EmbedError::Overloaded(_) => CoreError::Overloaded(err.to_string()),
            EmbedError::Io { .. }
            | EmbedError::MissingFile(_)
            | EmbedError::Config { .. }
            | EmbedError::UnsupportedModel(_)
            | EmbedError::WorkerGone => CoreError::ModelUnavailable(err.to_string()),
            EmbedError::Tokenizer(_) | EmbedError::Tensor(_) | EmbedError::WorkerPanicked(_) => {
                CoreError::Internal(err.to_string())
            }
        }
    }
}
