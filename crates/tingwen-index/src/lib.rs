//! tingwen-index owns a collection on disk and answers searches over it.
//!
//! A collection is a directory with a versioned `manifest.json` (format
//! version, embedding model and dimension), a SQLite database (WAL) that is
//! the source of truth for documents, their exact source text, chunks,
//! sentences and vectors, and two derived indexes: an hnsw_rs graph over the
//! chunk vectors (rebuilt in memory from SQLite on open) and a tantivy BM25
//! index with a jieba-based Chinese/English tokenizer (rebuilt when missing,
//! unreadable or behind SQLite's generation counter). Search fuses dense and
//! keyword rankings with reciprocal-rank fusion, filters by document and
//! speaker, and merges neighbouring chunks into one exact passage.
//!
//! The index never embeds text: callers pass vectors in.
#![warn(missing_docs)]

mod collection;
pub mod dense;
mod error;
mod keyword;
mod store;
pub mod tokenizer;

pub use collection::{
    Collection, CollectionOptions, CollectionStats, DocumentSummary, EmbeddingSpec,
    IntegrityReport, SearchOptions, UpsertOutcome, FORMAT_VERSION,
};
pub use dense::{DenseGraph, GraphParams};
pub use error::IndexError;
