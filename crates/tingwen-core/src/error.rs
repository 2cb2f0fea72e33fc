//! The error kinds every crate can map its own errors onto at a trait boundary.

/// Result alias for trait methods.
pub type CoreResult<T> = Result<T, CoreError>;

/// Error kinds shared across crates. Each library crate has its own richer
/// `thiserror` enum and converts into this one where it implements a core trait;
/// the server maps these kinds onto HTTP status codes.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The caller sent something unusable (empty question, bad parameter...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A named thing (document, model, chunk) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A bounded queue is full; the caller should retry later.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// The prompt does not fit in the model's context window.
    #[error("prompt of {needed} tokens does not fit the context of {limit} tokens")]
    ContextOverflow {
        /// Tokens the prompt plus the requested completion would need.
        needed: usize,
        /// The model's context length.
        limit: usize,
    },
    /// The request was cancelled (for example the client went away).
    #[error("cancelled")]
    Cancelled,
    /// A required model is not loaded or could not be loaded.
    #[error("model unavailable: {0}")]
    ModelUnavailable(String),
    /// Anything else: a bug, an I/O failure, a corrupt file. The message is
    /// for logs; servers must not show it to clients verbatim.
    #[error("internal error: {0}")]
    Internal(String),
}
