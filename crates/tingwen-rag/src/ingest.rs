//! The ingest pipeline: parse → chunk → embed chunks and every sentence →
//! store atomically. Used by the CLI's `ingest` and the server's upload.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tingwen_core::{EmbedKind, Embedder, Span};
use tingwen_index::{Collection, UpsertOutcome};
use tingwen_transcript::ChunkOptions;

use crate::RagError;

/// How to ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestOptions {
    /// Chunk sizes, in the encoder's tokens.
    pub chunks: ChunkOptions,
    /// Also embed every sentence, so extractive answers and sentence
    /// reranking need no encoding at question time.
    pub sentence_vectors: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            chunks: ChunkOptions::default(),
            sentence_vectors: true,
        }
    }
}

/// What ingesting one file did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Document id (file name).
    pub doc_id: String,
    /// Added, unchanged (skipped) or replaced.
    pub outcome: UpsertOutcome,
    /// Chunks stored (0 when unchanged).
    pub chunks: usize,
    /// Distinct sentences embedded (0 when unchanged).
    pub sentences: usize,
    /// Problems the parser handled leniently.
    pub warnings: Vec<String>,
    /// Milliseconds per stage: `parse`, `embed_chunks`, `embed_sentences`, `store`, `total`.
    pub timings_ms: BTreeMap<String, f64>,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Parses, embeds and stores one transcript file. An unchanged file (same
/// content hash as the stored version) is skipped before any parsing.
pub fn ingest_bytes(
    collection: &Collection,
    embedder: &dyn Embedder,
    doc_id: &str,
    bytes: &[u8],
    options: &IngestOptions,
) -> Result<IngestReport, RagError> {
    let started = Instant::now();
    let fail = |message: String| RagError::Ingest {
        doc_id: doc_id.to_string(),
        message,
    };
    let mut timings = BTreeMap::new();
    let hash = hex::encode(Sha256::digest(bytes));
    if collection
        .is_unchanged(doc_id, &hash)
        .map_err(|e| fail(e.to_string()))?
    {
        timings.insert("total".to_string(), ms(started));
        return Ok(IngestReport {
            doc_id: doc_id.to_string(),
            outcome: UpsertOutcome::Unchanged,
            chunks: 0,
            sentences: 0,
            warnings: Vec::new(),
            timings_ms: timings,
        });
    }

    let t = Instant::now();
    // Token counts only size chunks; a failed count falls back to characters.
    let count_tokens = |text: &str| {
        embedder
            .count_tokens(text)
            .unwrap_or_else(|_| text.chars().count())
    };
    let transcript = tingwen_transcript::load(doc_id, bytes, &options.chunks, &count_tokens)
        .map_err(|e| fail(e.to_string()))?;
    timings.insert("parse".to_string(), ms(t));

    let t = Instant::now();
    let texts: Vec<String> = transcript
        .chunks
        .iter()
        .map(|c| c.embed_text.clone())
        .collect();
    let chunk_vectors = if texts.is_empty() {
        Vec::new()
    } else {
        embedder.embed(&texts, EmbedKind::Passage)?
    };
    timings.insert("embed_chunks".to_string(), ms(t));

    let t = Instant::now();
    let source = &transcript.document.source;
    let mut sentence_vectors: Vec<Vec<Vec<f32>>> = vec![Vec::new(); transcript.chunks.len()];
    let mut distinct = 0;
    if options.sentence_vectors {
        // Overlapping chunks repeat sentences: embed each span once.
        let mut index: HashMap<Span, usize> = HashMap::new();
        let mut unique: Vec<String> = Vec::new();
        for chunk in &transcript.chunks {
            for span in &chunk.sentences {
                if index.contains_key(span) {
                    continue;
                }
                let text = span
                    .slice(source)
                    .ok_or_else(|| fail(format!("sentence {span:?} is not a valid slice")))?;
                index.insert(*span, unique.len());
                unique.push(text.to_string());
            }
        }
        distinct = unique.len();
        let vectors = if unique.is_empty() {
            Vec::new()
        } else {
            embedder.embed(&unique, EmbedKind::Passage)?
        };
        for (slot, chunk) in sentence_vectors.iter_mut().zip(&transcript.chunks) {
            *slot = chunk
                .sentences
                .iter()
                .filter_map(|span| index.get(span).and_then(|&i| vectors.get(i)).cloned())
                .collect();
        }
    }
    timings.insert("embed_sentences".to_string(), ms(t));

    let t = Instant::now();
    let outcome = collection
        .upsert_document(
            &transcript.document,
            &transcript.chunks,
            &chunk_vectors,
            &sentence_vectors,
        )
        .map_err(|e| fail(e.to_string()))?;
    timings.insert("store".to_string(), ms(t));
    timings.insert("total".to_string(), ms(started));
    Ok(IngestReport {
        doc_id: doc_id.to_string(),
        outcome,
        chunks: transcript.chunks.len(),
        sentences: distinct,
        warnings: transcript.warnings,
        timings_ms: timings,
    })
}
