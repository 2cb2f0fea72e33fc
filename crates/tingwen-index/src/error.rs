//! The crate's one error type.

use std::path::PathBuf;

use tingwen_core::CoreError;

/// Everything that can go wrong while opening, writing or searching a collection.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The collection was built with another embedding model or dimension.
    #[error(
        "collection at {dir} was built with embedding model `{stored_model}` (dim {stored_dim}), \
         but `{requested_model}` (dim {requested_dim}) was requested"
    )]
    EmbeddingMismatch {
        /// Collection directory.
        dir: PathBuf,
        /// Model recorded in the collection.
        stored_model: String,
        /// Dimension recorded in the collection.
        stored_dim: usize,
        /// Model the caller asked for.
        requested_model: String,
        /// Dimension the caller asked for.
        requested_dim: usize,
    },
    /// The collection's format is newer or older than this build understands.
    #[error("collection at {dir} has format version {found}, this build reads version {expected}")]
    FormatVersion {
        /// Collection directory.
        dir: PathBuf,
        /// Version on disk.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// The caller passed inconsistent data (wrong vector count or dimension, bad span...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Stored data contradicts itself (a corrupt or hand-edited collection).
    #[error("corrupt collection: {0}")]
    Corrupt(String),
    /// A file-system operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// tantivy failed.
    #[error("keyword index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A JSON column or the manifest could not be (de)serialised.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<IndexError> for CoreError {
    fn from(err: IndexError) -> Self {
        match err {
            IndexError::InvalidInput(msg) => CoreError::InvalidInput(msg),
            other => CoreError::Internal(other.to_string()),
        }
    }
}
