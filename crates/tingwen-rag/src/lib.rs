//! tingwen-rag: the answer engine. It turns a question into an answer whose
//! every claim cites an exact transcript span: language detection, follow-up
//! resolution, retrieval orchestration (hybrid search, query expansion,
//! sentence-vector reranking, de-duplication, neighbour merging), generated
//! or extractive answers, citation verification and repair, honest refusal,
//! the ingest pipeline, and the product's own retrieval and answer evals.
//!
//! The engine works on the `tingwen-core` traits, so it is tested with fakes.
#![warn(missing_docs)]

mod citation;
mod config;
mod engine;
mod error;
pub mod eval;
mod expand;
mod extract;
mod followup;
mod ingest;
mod prompt;
mod retrieve;
mod text;
mod verify;

pub use citation::link_with_time;
pub use config::EngineConfig;
pub use engine::{AskEvent, AskRequest, Engine};
pub use error::RagError;
pub use expand::expand_english_query;
pub use ingest::{ingest_bytes, IngestOptions, IngestReport};
pub use text::{contains_evidence, strip_whitespace};
pub use tingwen_index::UpsertOutcome;
pub use tingwen_transcript::ChunkOptions;
