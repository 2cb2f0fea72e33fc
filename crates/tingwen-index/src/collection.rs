//! The collection: one directory holding the manifest, SQLite (source of
//! truth), and the derived dense graph and keyword index.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use tingwen_core::{
    Chunk, CoreError, CoreResult, Document, DocumentMeta, Hit, Retriever, SearchMode, SearchQuery,
    SentenceSpan, SourceFormat, Span, TimeRange,
};

use crate::dense::{dot, exact_top_k, normalize, DenseGraph, GraphParams};
use crate::keyword::{remove_dir_if_exists, KeywordEntry, KeywordIndex};
use crate::store::{self, ChunkRow};
use crate::IndexError;

/// On-disk format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST_FILE: &str = "manifest.json";
const DATABASE_FILE: &str = "collection.sqlite";
const KEYWORD_DIR: &str = "keyword";

/// The encoder a collection's vectors come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingSpec {
    /// Stable model id (as `Embedder::model_id`).
    pub model_id: String,
    /// Vector dimension.
    pub dim: usize,
}

/// What `upsert_document` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    /// The document was new.
    Added,
    /// Same content hash as the stored version; nothing was written.
    Unchanged,
    /// The stored version had another content hash and was replaced.
    Replaced,
}

/// A stored document, without its text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocumentSummary {
    /// Source file name.
    pub doc_id: String,
    /// Metadata.
    pub meta: DocumentMeta,
    /// Format it was read as.
    pub format: SourceFormat,
    /// Number of chunks.
    pub chunks: usize,
    /// Size of the source text in bytes.
    pub bytes: usize,
    /// Hex sha256 of the file.
    pub content_hash: String,
    /// When this version was stored (RFC 3339, UTC).
    pub added_at: String,
}

/// Sizes of a collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CollectionStats {
    /// Documents.
    pub documents: usize,
    /// Chunks.
    pub chunks: usize,
    /// Distinct sentences (per document and span).
    pub sentences: usize,
    /// Points in the dense graph, deleted ones included.
    pub graph_points: usize,
    /// Deleted points still in the graph.
    pub graph_tombstones: usize,
}

/// The outcome of [`Collection::check_integrity`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// Documents in SQLite.
    pub documents: usize,
    /// Chunks in SQLite.
    pub chunks: usize,
    /// Sentences in SQLite.
    pub sentences: usize,
    /// Live entries in the keyword index.
    pub keyword_entries: usize,
    /// Live points in the dense graph.
    pub graph_live: usize,
    /// Every inconsistency found; empty when the collection is sound.
    pub problems: Vec<String>,
}

impl IntegrityReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Retrieval knobs, exposed so the eval can tune them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchOptions {
    /// Reciprocal-rank-fusion constant: a list's item at rank r (from 1) adds `weight / (rrf_k + r)`.
    pub rrf_k: f32,
    /// Weight of the dense ranking in hybrid fusion.
    pub dense_weight: f32,
    /// Weight of the BM25 ranking in hybrid fusion.
    pub keyword_weight: f32,
    /// Each signal retrieves `max(k * candidates_per_result, min_candidates)` chunks.
    pub candidates_per_result: usize,
    /// Lower bound on candidates per signal.
    pub min_candidates: usize,
    /// Graph search width; `None` uses the graph's default.
    pub ef_search: Option<usize>,
    /// Most chunks merged into one hit (adjacent or overlapping chunks of one document).
    pub max_merged_chunks: usize,
    /// With a document filter leaving at most this many chunks, dense search
    /// is exact (brute force over stored vectors) instead of a filtered graph walk.
    pub exact_search_below: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            rrf_k: 60.0,
            dense_weight: 1.0,
            keyword_weight: 1.0,
            candidates_per_result: 4,
            min_candidates: 40,
            ef_search: None,
            max_merged_chunks: 3,
            exact_search_below: 5_000,
        }
    }
}

/// Settings fixed when a collection is opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionOptions {
    /// Dense graph construction and default search width.
    pub graph: GraphParams,
    /// Initial retrieval knobs (changeable later with [`Collection::set_search_options`]).
    pub search: SearchOptions,
    /// Rebuild the graph when deleted points exceed this fraction of live ones.
    pub tombstone_rebuild_ratio: f32,
}

impl Default for CollectionOptions {
    fn default() -> Self {
        CollectionOptions {
            graph: GraphParams::default(),
            search: SearchOptions::default(),
            tombstone_rebuild_ratio: 0.25,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    embedding_model: String,
    embedding_dim: usize,
    created_at: String,
    updated_at: String,
}

#[derive(Clone, Debug)]
struct LiveChunk {
    doc_key: i64,
    speakers_lower: String,
}

/// The in-memory graph and what it needs to filter.
struct DenseState {
    graph: DenseGraph,
    live: HashMap<usize, LiveChunk>,
    doc_chunks: HashMap<i64, Vec<usize>>,
    tombstones: usize,
}

/// A durable hybrid index over transcripts. `Send + Sync`: searches run
/// concurrently with one writer (writes are serialised internally).
pub struct Collection {
    dir: PathBuf,
    spec: EmbeddingSpec,
    options: CollectionOptions,
    search_options: RwLock<SearchOptions>,
    db_path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    dense: RwLock<DenseState>,
    doc_keys: RwLock<HashMap<String, i64>>,
    keyword: RwLock<KeywordIndex>,
    manifest: Mutex<Manifest>,
    graph_build_ms: f64,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("dir", &self.dir)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| IndexError::io(&tmp, e))?;
    file.sync_all().map_err(|e| IndexError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))
}

fn speakers_lower(speakers: &[String]) -> String {
    speakers.join("\u{1f}").to_lowercase()
}

/// Validated, normalised input of one upsert.
struct PreparedDocument {
    chunk_vectors: Vec<Vec<f32>>,
    // Per chunk, per sentence: a unit vector or none.
    sentence_vectors: Vec<Vec<Option<Vec<f32>>>>,
}

impl Collection {
    /// Opens the collection in `dir`, creating it if absent, with default options.
    pub fn open(dir: &Path, spec: EmbeddingSpec) -> Result<Self, IndexError> {
        Self::open_with_options(dir, spec, CollectionOptions::default())
    }

    /// Opens the collection in `dir` with explicit options. Derived indexes
    /// that are missing, unreadable or behind SQLite are rebuilt.
    pub fn open_with_options(
        dir: &Path,
        spec: EmbeddingSpec,
        options: CollectionOptions,
    ) -> Result<Self, IndexError> {
        if spec.dim == 0 {
            return Err(IndexError::InvalidInput(
                "embedding dimension must be positive".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let mismatch = |model: &str, dim: usize| IndexError::EmbeddingMismatch {
            dir: dir.to_path_buf(),
            stored_model: model.to_string(),
            stored_dim: dim,
            requested_model: spec.model_id.clone(),
            requested_dim: spec.dim,
        };
        let manifest = match std::fs::read(&manifest_path) {
            Ok(bytes) => {
                let m: Manifest = serde_json::from_slice(&bytes)?;
                if m.format_version != FORMAT_VERSION {
                    return Err(IndexError::FormatVersion {
                        dir: dir.to_path_buf(),
                        found: m.format_version,
                        expected: FORMAT_VERSION,
                    });
                }
                if m.embedding_model != spec.model_id || m.embedding_dim != spec.dim {
                    return Err(mismatch(&m.embedding_model, m.embedding_dim));
                }
                m
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let now = now_rfc3339();
                Manifest {
                    format_version: FORMAT_VERSION,
                    embedding_model: spec.model_id.clone(),
                    embedding_dim: spec.dim,
                    created_at: now.clone(),
                    updated_at: now,
                }
            }
            Err(e) => return Err(IndexError::io(&manifest_path, e)),
        };

        let db_path = dir.join(DATABASE_FILE);
        let conn = store::open_connection(&db_path)?;
        conn.execute_batch(store::SCHEMA)?;
        // SQLite records the model too, so a lost manifest cannot hide a mismatch.
        match (
            store::get_meta(&conn, "embedding_model")?,
            store::get_meta(&conn, "embedding_dim")?,
        ) {
            (Some(model), Some(dim)) => {
                let dim: usize = dim
                    .parse()
                    .map_err(|_| IndexError::Corrupt(format!("stored dimension `{dim}`")))?;
                if model != spec.model_id || dim != spec.dim {
                    return Err(mismatch(&model, dim));
                }
            }
            _ => {
                store::set_meta(&conn, "embedding_model", &spec.model_id)?;
                store::set_meta(&conn, "embedding_dim", &spec.dim.to_string())?;
                store::set_meta(&conn, "format_version", &FORMAT_VERSION.to_string())?;
            }
        }
        if !manifest_path.exists() {
            write_atomically(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;
        }

        let started = Instant::now();
        let dense = load_dense_state(&conn, spec.dim, options.graph)?;
        let graph_build_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            points = dense.graph.len(),
            ms = graph_build_ms,
            "dense graph built from SQLite"
        );
        let doc_keys = load_doc_keys(&conn)?;

        let generation = store::generation(&conn)?;
        let keyword_dir = dir.join(KEYWORD_DIR);
        let keyword = match KeywordIndex::open_if_current(&keyword_dir, generation) {
            Some(k) if k.num_docs() as usize == dense.live.len() => k,
            _ => {
                let started = Instant::now();
                let k = rebuild_keyword(&conn, &keyword_dir, generation)?;
                tracing::info!(
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "keyword index rebuilt from SQLite"
                );
                k
            }
        };

        Ok(Collection {
            dir: dir.to_path_buf(),
            spec,
            search_options: RwLock::new(options.search.clone()),
            options,
            db_path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            dense: RwLock::new(dense),
            doc_keys: RwLock::new(doc_keys),
            keyword: RwLock::new(keyword),
            manifest: Mutex::new(manifest),
            graph_build_ms,
        })
    }

    /// The collection directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The embedding model and dimension the collection was built with.
    pub fn spec(&self) -> &EmbeddingSpec {
        &self.spec
    }

    /// Milliseconds spent building the dense graph from SQLite at open.
    pub fn graph_build_ms(&self) -> f64 {
        self.graph_build_ms
    }

    /// Current retrieval knobs.
    pub fn search_options(&self) -> SearchOptions {
        self.search_options.read().clone()
    }

    /// Replaces the retrieval knobs used by [`Collection::search`].
    pub fn set_search_options(&self, options: SearchOptions) {
        *self.search_options.write() = options;
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(c) => c,
            None => store::open_connection(&self.db_path)?,
        };
        let result = f(&conn);
        self.readers.lock().push(conn);
        result
    }

    /// True when `doc_id` is stored with exactly this content hash (callers skip embedding).
    pub fn is_unchanged(&self, doc_id: &str, content_hash: &str) -> Result<bool, IndexError> {
        self.with_reader(|conn| {
            let stored: Option<String> = conn
                .query_row(
                    "SELECT content_hash FROM documents WHERE doc_id = ?1",
                    [doc_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(stored.as_deref() == Some(content_hash))
        })
    }

    fn prepare(
        &self,
        doc: &Document,
        chunks: &[Chunk],
        chunk_vectors: &[Vec<f32>],
        sentence_vectors: &[Vec<Vec<f32>>],
    ) -> Result<PreparedDocument, IndexError> {
        let bad = |msg: String| Err(IndexError::InvalidInput(format!("{}: {msg}", doc.doc_id)));
        if doc.doc_id.is_empty() {
            return Err(IndexError::InvalidInput("empty doc_id".into()));
        }
        if chunk_vectors.len() != chunks.len() {
            return bad(format!(
                "{} chunks but {} chunk vectors",
                chunks.len(),
                chunk_vectors.len()
            ));
        }
        if !sentence_vectors.is_empty() && sentence_vectors.len() != chunks.len() {
            return bad(format!(
                "{} chunks but sentence vectors for {}",
                chunks.len(),
                sentence_vectors.len()
            ));
        }
        let unit = |v: &[f32], what: String| -> Result<Vec<f32>, IndexError> {
            if v.len() != self.spec.dim {
                return Err(IndexError::InvalidInput(format!(
                    "{}: {what} has dimension {}, the collection uses {}",
                    doc.doc_id,
                    v.len(),
                    self.spec.dim
                )));
            }
            let mut v = v.to_vec();
            if !normalize(&mut v) {
                return Err(IndexError::InvalidInput(format!(
                    "{}: {what} is zero or not finite",
                    doc.doc_id
                )));
            }
            Ok(v)
        };
        let mut prepared = PreparedDocument {
            chunk_vectors: Vec::with_capacity(chunks.len()),
            sentence_vectors: Vec::with_capacity(chunks.len()),
        };
        for (i, chunk) in chunks.iter().enumerate() {
            if chunk.doc_id != doc.doc_id {
                return bad(format!("chunk {i} belongs to `{}`", chunk.doc_id));
            }
            if chunk.span.slice(&doc.source).is_none() || chunk.span.is_empty() {
                return bad(format!(
                    "chunk {i} span {}..{} is empty, out of range or not on character boundaries",
                    chunk.span.start, chunk.span.end
                ));
            }
            for s in &chunk.sentences {
                if s.slice(&doc.source).is_none() {
                    return bad(format!(
                        "sentence {}..{} of chunk {i} is out of range or not on character boundaries",
                        s.start, s.end
                    ));
                }
            }
            prepared
                .chunk_vectors
                .push(unit(&chunk_vectors[i], format!("chunk {i} vector"))?);
            let given = sentence_vectors.get(i).map(Vec::as_slice).unwrap_or(&[]);
            if !given.is_empty() && given.len() != chunk.sentences.len() {
                return bad(format!(
                    "chunk {i} has {} sentences but {} sentence vectors",
                    chunk.sentences.len(),
                    given.len()
                ));
            }
            let mut per_sentence = Vec::with_capacity(chunk.sentences.len());
            for j in 0..chunk.sentences.len() {
                per_sentence.push(match given.get(j) {
                    Some(v) if !v.is_empty() => {
                        Some(unit(v, format!("sentence {j} of chunk {i} vector"))?)
                    }
                    _ => None,
                });
            }
            prepared.sentence_vectors.push(per_sentence);
        }
        Ok(prepared)
    }

    /// Stores a document with its chunks and vectors, atomically: afterwards
    /// it is fully searchable, or (on error or crash) the previous state holds.
    ///
    /// `chunk_vectors[i]` is `chunks[i]`'s vector; `sentence_vectors[i][j]` is
    /// the vector of `chunks[i].sentences[j]` (empty: not computed). Sentences
    /// repeated by chunk overlap are stored once per (document, span).
    pub fn upsert_document(
        &self,
        doc: &Document,
        chunks: &[Chunk],
        chunk_vectors: &[Vec<f32>],
        sentence_vectors: &[Vec<Vec<f32>>],
    ) -> Result<UpsertOutcome, IndexError> {
        let prepared = self.prepare(doc, chunks, chunk_vectors, sentence_vectors)?;
        let mut conn = self.writer.lock();
        let existing: Option<(i64, String)> = conn
            .query_row(
                "SELECT id, content_hash FROM documents WHERE doc_id = ?1",
                [&doc.doc_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((_, hash)) = &existing {
            if *hash == doc.content_hash {
                return Ok(UpsertOutcome::Unchanged);
            }
        }
        let old_key = existing.as_ref().map(|(k, _)| *k);

        // The SQLite transaction is the commit point; derived indexes follow.
        let tx = conn.transaction()?;
        if let Some(key) = old_key {
            tx.execute("DELETE FROM documents WHERE id = ?1", [key])?;
        }
        tx.execute(
            "INSERT INTO documents(doc_id, meta_json, format, source, content_hash, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                doc.doc_id,
                serde_json::to_string(&doc.meta)?,
                store::format_to_str(doc.format)?,
                doc.source,
                doc.content_hash,
                now_rfc3339()
            ],
        )?;
        let doc_key = tx.last_insert_rowid();
        let mut chunk_ids = Vec::with_capacity(chunks.len());
        {
            let mut insert_chunk = tx.prepare_cached(
                "INSERT INTO chunks(doc, ordinal, start, end, embed_text, section_json,
                    speakers_json, time_start, time_end, sentences_json, vector)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut insert_sentence = tx.prepare_cached(
                "INSERT INTO sentences(doc, start, end, speaker, vector) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(doc, start, end) DO UPDATE SET
                    vector = COALESCE(sentences.vector, excluded.vector),
                    speaker = COALESCE(sentences.speaker, excluded.speaker)",
            )?;
            for (i, chunk) in chunks.iter().enumerate() {
                insert_chunk.execute(params![
                    doc_key,
                    chunk.ordinal,
                    chunk.span.start as i64,
                    chunk.span.end as i64,
                    chunk.embed_text,
                    serde_json::to_string(&chunk.section)?,
                    serde_json::to_string(&chunk.speakers)?,
                    chunk.time.map(|t| t.start),
                    chunk.time.map(|t| t.end),
                    serde_json::to_string(&chunk.sentences)?,
                    store::vector_to_blob(&prepared.chunk_vectors[i]),
                ])?;
                chunk_ids.push(tx.last_insert_rowid());
                // A sentence's speaker is only certain when its chunk has one speaker.
                let speaker = match chunk.speakers.as_slice() {
                    [one] => Some(one.as_str()),
                    _ => None,
                };
                for (j, s) in chunk.sentences.iter().enumerate() {
                    insert_sentence.execute(params![
                        doc_key,
                        s.start as i64,
                        s.end as i64,
                        speaker,
                        prepared.sentence_vectors[i][j]
                            .as_deref()
                            .map(store::vector_to_blob),
                    ])?;
                }
            }
        }
        let generation = store::generation(&tx)? + 1;
        store::set_meta(&tx, "generation", &generation.to_string())?;
        tx.commit()?;

        let entries: Vec<KeywordEntry<'_>> = chunks
            .iter()
            .zip(&chunk_ids)
            .map(|(c, id)| KeywordEntry {
                chunk_id: *id,
                doc_key,
                text: &c.embed_text,
            })
            .collect();
        self.update_keyword(&conn, old_key, entries, generation)?;

        {
            let mut dense = self.dense.write();
            if let Some(key) = old_key {
                tombstone_document(&mut dense, key);
            }
            let items: Vec<(&[f32], usize)> = prepared
                .chunk_vectors
                .iter()
                .zip(&chunk_ids)
                .map(|(v, id)| (v.as_slice(), *id as usize))
                .collect();
            dense.graph.insert_batch(&items);
            for (chunk, id) in chunks.iter().zip(&chunk_ids) {
                dense.live.insert(
                    *id as usize,
                    LiveChunk {
                        doc_key,
                        speakers_lower: speakers_lower(&chunk.speakers),
                    },
                );
                dense
                    .doc_chunks
                    .entry(doc_key)
                    .or_default()
                    .push(*id as usize);
            }
        }
        {
            let mut keys = self.doc_keys.write();
            keys.insert(doc.doc_id.clone(), doc_key);
        }
        self.after_write(&conn)?;
        Ok(if old_key.is_some() {
            UpsertOutcome::Replaced
        } else {
            UpsertOutcome::Added
        })
    }

    /// Removes a document from every structure; false when it was not stored.
    pub fn delete_document(&self, doc_id: &str) -> Result<bool, IndexError> {
        let mut conn = self.writer.lock();
        let Some(key) = store::document_key(&conn, doc_id)? else {
            return Ok(false);
        };
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM documents WHERE id = ?1", [key])?;
        let generation = store::generation(&tx)? + 1;
        store::set_meta(&tx, "generation", &generation.to_string())?;
        tx.commit()?;
        self.update_keyword(&conn, Some(key), Vec::new(), generation)?;
        tombstone_document(&mut self.dense.write(), key);
        self.doc_keys.write().remove(doc_id);
        self.after_write(&conn)?;
        Ok(true)
    }

    fn update_keyword(
        &self,
        conn: &Connection,
        removed: Option<i64>,
        added: Vec<KeywordEntry<'_>>,
        generation: u64,
    ) -> Result<(), IndexError> {
        let result = self
            .keyword
            .read()
            .replace_document(removed, added.into_iter(), generation);
        if let Err(err) = result {
            // SQLite has committed; bring the derived index back in line.
            tracing::warn!(%err, "keyword index update failed; rebuilding it from SQLite");
            let rebuilt = rebuild_keyword(conn, &self.dir.join(KEYWORD_DIR), generation)?;
            *self.keyword.write() = rebuilt;
        }
        Ok(())
    }

    fn after_write(&self, conn: &Connection) -> Result<(), IndexError> {
        let needs_rebuild = {
            let dense = self.dense.read();
            dense.tombstones > 64
                && dense.tombstones as f32
                    > self.options.tombstone_rebuild_ratio * dense.live.len().max(1) as f32
        };
        if needs_rebuild {
            let started = Instant::now();
            let fresh = load_dense_state(conn, self.spec.dim, self.options.graph)?;
            *self.dense.write() = fresh;
            tracing::info!(
                ms = started.elapsed().as_secs_f64() * 1e3,
                "dense graph rebuilt to drop tombstones"
            );
        }
        let mut manifest = self.manifest.lock();
        manifest.updated_at = now_rfc3339();
        write_atomically(
            &self.dir.join(MANIFEST_FILE),
            &serde_json::to_vec_pretty(&*manifest)?,
        )
    }

    /// Every stored document, by `doc_id`.
    pub fn list_documents(&self) -> Result<Vec<DocumentSummary>, IndexError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT d.doc_id, d.meta_json, d.format, length(CAST(d.source AS BLOB)),
                        d.content_hash, d.added_at,
                        (SELECT count(*) FROM chunks c WHERE c.doc = d.id)
                 FROM documents d ORDER BY d.doc_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (doc_id, meta, format, bytes, content_hash, added_at, chunks) = row?;
                out.push(DocumentSummary {
                    doc_id,
                    meta: serde_json::from_str(&meta)?,
                    format: store::format_from_str(&format)?,
                    chunks: chunks as usize,
                    bytes: bytes as usize,
                    content_hash,
                    added_at,
                });
            }
            Ok(out)
        })
    }

    /// A stored document with its exact source text.
    pub fn document(&self, doc_id: &str) -> Result<Option<Document>, IndexError> {
        self.with_reader(|conn| {
            Ok(store::document_row(conn, doc_id)?.map(|row| Document {
                doc_id: row.doc_id,
                meta: row.meta,
                format: row.format,
                source: row.source,
                content_hash: row.content_hash,
            }))
        })
    }

    /// The chunks of a stored document, in order (vectors omitted).
    pub fn chunks(&self, doc_id: &str) -> Result<Vec<Chunk>, IndexError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.ordinal, c.start, c.end, c.embed_text, c.section_json, c.speakers_json,
                        c.time_start, c.time_end, c.sentences_json
                 FROM chunks c JOIN documents d ON d.id = c.doc
                 WHERE d.doc_id = ?1 ORDER BY c.ordinal",
            )?;
            let rows = stmt.query_map([doc_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<f64>>(6)?,
                    r.get::<_, Option<f64>>(7)?,
                    r.get::<_, String>(8)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (ordinal, start, end, embed_text, section, speakers, t0, t1, sentences) = row?;
                out.push(Chunk {
                    doc_id: doc_id.to_string(),
                    ordinal: ordinal as u32,
                    span: Span::new(start as usize, end as usize),
                    embed_text,
                    section: serde_json::from_str(&section)?,
                    speakers: serde_json::from_str(&speakers)?,
                    time: t0.zip(t1).map(|(start, end)| TimeRange { start, end }),
                    sentences: serde_json::from_str(&sentences)?,
                });
            }
            Ok(out)
        })
    }

    /// Sizes of the collection.
    pub fn stats(&self) -> Result<CollectionStats, IndexError> {
        let (documents, chunks, sentences) = self.with_reader(|conn| {
            Ok(conn.query_row(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks),
                        (SELECT count(*) FROM sentences)",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )?)
        })?;
        let dense = self.dense.read();
        Ok(CollectionStats {
            documents: documents as usize,
            chunks: chunks as usize,
            sentences: sentences as usize,
            graph_points: dense.graph.len(),
            graph_tombstones: dense.tombstones,
        })
    }

    /// Checks that SQLite is sound and self-consistent and that the derived
    /// indexes hold exactly its chunks.
    pub fn check_integrity(&self) -> Result<IntegrityReport, IndexError> {
        // Hold the writer so no commit lands between the checks.
        let conn = self.writer.lock();
        let mut report = IntegrityReport::default();
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if verdict != "ok" {
            report
                .problems
                .push(format!("SQLite integrity_check: {verdict}"));
        }
        let mut docs = conn.prepare("SELECT id, doc_id, source FROM documents")?;
        let mut doc_rows = docs.query([])?;
        let mut sources: HashMap<i64, (String, String)> = HashMap::new();
        while let Some(r) = doc_rows.next()? {
            sources.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
        report.documents = sources.len();
        let mut chunk_ids = HashSet::new();
        let mut chunks = conn.prepare("SELECT id, doc, start, end, vector FROM chunks")?;
        let mut rows = chunks.query([])?;
        while let Some(r) = rows.next()? {
            let (id, doc, start, end): (i64, i64, i64, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let blob = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
            chunk_ids.insert(id as usize);
            match sources.get(&doc) {
                None => report
                    .problems
                    .push(format!("chunk {id} points to missing document {doc}")),
                Some((doc_id, source)) => {
                    if Span::new(start as usize, end as usize)
                        .slice(source)
                        .is_none()
                    {
                        report.problems.push(format!(
                            "chunk {id} of {doc_id}: span {start}..{end} does not slice the source"
                        ));
                    }
                }
            }
            if blob.len() != self.spec.dim * 4 {
                report.problems.push(format!(
                    "chunk {id}: vector of {} bytes, expected {}",
                    blob.len(),
                    self.spec.dim * 4
                ));
            }
        }
        report.chunks = chunk_ids.len();
        let mut sentences = conn.prepare("SELECT doc, start, end, vector FROM sentences")?;
        let mut rows = sentences.query([])?;
        while let Some(r) = rows.next()? {
            report.sentences += 1;
            let (doc, start, end): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let ok = sources
                .get(&doc)
                .is_some_and(|(_, s)| Span::new(start as usize, end as usize).slice(s).is_some());
            if !ok {
                report.problems.push(format!(
                    "sentence {start}..{end} of document {doc} is invalid"
                ));
            }
            if let Some(blob) = r
                .get_ref(3)?
                .as_blob_or_null()
                .map_err(rusqlite::Error::from)?
            {
                if blob.len() != self.spec.dim * 4 {
                    report
                        .problems
                        .push(format!("sentence {start}..{end}: bad vector size"));
                }
            }
        }
        let generation = store::generation(&conn)?;
        {
            let keyword = self.keyword.read();
            report.keyword_entries = keyword.num_docs() as usize;
            if keyword.committed_generation()? != Some(generation) {
                report
                    .problems
                    .push("keyword index generation differs from SQLite".into());
            }
        }
        if report.keyword_entries != report.chunks {
            report.problems.push(format!(
                "keyword index holds {} chunks, SQLite {}",
                report.keyword_entries, report.chunks
            ));
        }
        let dense = self.dense.read();
        report.graph_live = dense.live.len();
        let live: HashSet<usize> = dense.live.keys().copied().collect();
        if live != chunk_ids {
            report.problems.push(format!(
                "dense graph has {} live chunks, SQLite {} ({} differ)",
                live.len(),
                chunk_ids.len(),
                live.symmetric_difference(&chunk_ids).count()
            ));
        }
        Ok(report)
    }

    /// Searches with the collection's current [`SearchOptions`].
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        let options = self.search_options();
        self.search_with(query, &options)
    }

    /// Searches with explicit options (for tuning and evaluation).
    pub fn search_with(
        &self,
        query: &SearchQuery,
        options: &SearchOptions,
    ) -> Result<Vec<Hit>, IndexError> {
        if query.k == 0 {
            return Ok(Vec::new());
        }
        let vector = match &query.vector {
            Some(v) => {
                if v.len() != self.spec.dim {
                    return Err(IndexError::InvalidInput(format!(
                        "query vector has dimension {}, the collection uses {}",
                        v.len(),
                        self.spec.dim
                    )));
                }
                let mut v = v.clone();
                if !normalize(&mut v) {
                    return Err(IndexError::InvalidInput(
                        "query vector is zero or not finite".into(),
                    ));
                }
                Some(v)
            }
            None => None,
        };
        if query.mode == SearchMode::Dense && vector.is_none() {
            return Err(IndexError::InvalidInput(
                "dense search needs a query vector".into(),
            ));
        }
        let candidates =
            (query.k * options.candidates_per_result.max(1)).max(options.min_candidates);
        let doc_filter: Option<Vec<i64>> = if query.filter.doc_ids.is_empty() {
            None
        } else {
            let keys = self.doc_keys.read();
            let found: Vec<i64> = query
                .filter
                .doc_ids
                .iter()
                .filter_map(|d| keys.get(d).copied())
                .collect();
            if found.is_empty() {
                return Ok(Vec::new());
            }
            Some(found)
        };
        let speaker = query
            .filter
            .speaker
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        let accepts = |chunk: &LiveChunk| {
            doc_filter
                .as_ref()
                .is_none_or(|keys| keys.contains(&chunk.doc_key))
                && speaker
                    .as_ref()
                    .is_none_or(|s| chunk.speakers_lower.contains(s.as_str()))
        };

        let dense_list: Vec<(i64, f32)> = match (&vector, query.mode) {
            (Some(v), SearchMode::Dense | SearchMode::Hybrid) => self.dense_candidates(
                v,
                candidates,
                options,
                doc_filter.as_deref(),
                doc_filter.is_some() || speaker.is_some(),
                &accepts,
            )?,
            _ => Vec::new(),
        };
        let keyword_list: Vec<(i64, f32)> = if query.mode == SearchMode::Dense {
            Vec::new()
        } else {
            // A speaker filter is applied afterwards, so fetch more.
            let limit = if speaker.is_some() {
                candidates * 4
            } else {
                candidates
            };
            let raw = self
                .keyword
                .read()
                .search(&query.text, doc_filter.as_deref(), limit)?;
            let dense = self.dense.read();
            raw.into_iter()
                .filter(|(id, _)| dense.live.get(&(*id as usize)).is_some_and(&accepts))
                .take(candidates)
                .collect()
        };

        let mut scores: HashMap<i64, f32> = HashMap::new();
        match query.mode {
            SearchMode::Dense => scores.extend(dense_list.iter().copied()),
            SearchMode::Keyword => scores.extend(keyword_list.iter().copied()),
            SearchMode::Hybrid => {
                for (list, weight) in [
                    (&dense_list, options.dense_weight),
                    (&keyword_list, options.keyword_weight),
                ] {
                    for (rank, (id, _)) in list.iter().enumerate() {
                        *scores.entry(*id).or_insert(0.0) +=
                            weight / (options.rrf_k + rank as f32 + 1.0);
                    }
                }
            }
        }
        let mut ranked: Vec<(i64, f32)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut similarity: HashMap<i64, f32> = dense_list.iter().copied().collect();

        self.with_reader(|conn| {
            let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
            let rows = store::chunk_rows(conn, &ids)?;
            if let Some(v) = &vector {
                let missing: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| !similarity.contains_key(id))
                    .collect();
                if !missing.is_empty() {
                    for (id, stored) in store::chunk_vectors(conn, &missing)? {
                        similarity.insert(id, dot(&stored, v));
                    }
                }
            }
            let groups = merge_adjacent(&ranked, &rows, query.k, options.max_merged_chunks);
            let mut hits = Vec::with_capacity(groups.len());
            for group in groups {
                if let Some(hit) = build_hit(conn, &group, vector.is_some(), &similarity)? {
                    hits.push(hit);
                }
            }
            Ok(hits)
        })
    }

    fn dense_candidates(
        &self,
        vector: &[f32],
        candidates: usize,
        options: &SearchOptions,
        doc_filter: Option<&[i64]>,
        filter_active: bool,
        accepts: &dyn Fn(&LiveChunk) -> bool,
    ) -> Result<Vec<(i64, f32)>, IndexError> {
        let dense = self.dense.read();
        let ef = options
            .ef_search
            .unwrap_or(dense.graph.params().ef_search)
            .max(candidates);
        if let Some(keys) = doc_filter {
            let allowed: Vec<i64> = keys
                .iter()
                .flat_map(|k| dense.doc_chunks.get(k).into_iter().flatten())
                .filter(|id| dense.live.get(id).is_some_and(accepts))
                .map(|id| *id as i64)
                .collect();
            if allowed.len() <= options.exact_search_below {
                drop(dense);
                let vectors = self.with_reader(|conn| store::chunk_vectors(conn, &allowed))?;
                let exact = exact_top_k(
                    vectors.iter().map(|(id, v)| (*id as usize, v.as_slice())),
                    vector,
                    candidates,
                );
                return Ok(exact.into_iter().map(|(id, s)| (id as i64, s)).collect());
            }
        }
        let accept = |id: usize| dense.live.get(&id).is_some_and(accepts);
        let found = if filter_active || dense.tombstones > 0 {
            dense.graph.search(vector, candidates, ef, Some(&accept))
        } else {
            dense.graph.search(vector, candidates, ef, None)
        };
        Ok(found.into_iter().map(|(id, s)| (id as i64, s)).collect())
    }
}

fn tombstone_document(dense: &mut DenseState, doc_key: i64) {
    if let Some(ids) = dense.doc_chunks.remove(&doc_key) {
        for id in ids {
            if dense.live.remove(&id).is_some() {
                dense.tombstones += 1;
            }
        }
    }
}

fn load_dense_state(
    conn: &Connection,
    dim: usize,
    params: GraphParams,
) -> Result<DenseState, IndexError> {
    let count: i64 = conn.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))?;
    let mut graph = DenseGraph::new(dim, params, count as usize);
    let mut live = HashMap::with_capacity(count as usize);
    let mut doc_chunks: HashMap<i64, Vec<usize>> = HashMap::new();
    let mut stmt = conn.prepare("SELECT id, doc, speakers_json, vector FROM chunks ORDER BY id")?;
    let mut rows = stmt.query([])?;
    // Insert in batches so memory stays bounded and hnsw_rs can parallelise.
    let mut batch: Vec<(Vec<f32>, usize)> = Vec::with_capacity(10_000);
    let flush = |graph: &mut DenseGraph, batch: &mut Vec<(Vec<f32>, usize)>| {
        let items: Vec<(&[f32], usize)> = batch.iter().map(|(v, id)| (v.as_slice(), *id)).collect();
        graph.insert_batch(&items);
        batch.clear();
    };
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let doc_key: i64 = r.get(1)?;
        let speakers: Vec<String> = serde_json::from_str(&r.get::<_, String>(2)?)?;
        let vector =
            store::blob_to_vector(r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?)?;
        if vector.len() != dim {
            return Err(IndexError::Corrupt(format!(
                "chunk {id} has a vector of dimension {}, expected {dim}",
                vector.len()
            )));
        }
        live.insert(
            id as usize,
            LiveChunk {
                doc_key,
                speakers_lower: speakers_lower(&speakers),
            },
        );
        doc_chunks.entry(doc_key).or_default().push(id as usize);
        batch.push((vector, id as usize));
        if batch.len() == batch.capacity() {
            flush(&mut graph, &mut batch);
        }
    }
    flush(&mut graph, &mut batch);
    Ok(DenseState {
        graph,
        live,
        doc_chunks,
        tombstones: 0,
    })
}

fn load_doc_keys(conn: &Connection) -> Result<HashMap<String, i64>, IndexError> {
    let mut stmt = conn.prepare("SELECT doc_id, id FROM documents")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (doc_id, key) = row?;
        out.insert(doc_id, key);
    }
    Ok(out)
}

fn rebuild_keyword(
    conn: &Connection,
    dir: &Path,
    generation: u64,
) -> Result<KeywordIndex, IndexError> {
    let mut stmt = conn.prepare("SELECT id, doc, embed_text FROM chunks")?;
    let rows: Vec<(i64, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    remove_dir_if_exists(&dir.with_extension("old"))?;
    KeywordIndex::rebuild(
        dir,
        generation,
        rows.iter().map(|(chunk_id, doc_key, text)| KeywordEntry {
            chunk_id: *chunk_id,
            doc_key: *doc_key,
            text,
        }),
    )
}

/// Groups ranked chunks into at most `k` hits, merging a chunk into an
/// earlier (better) hit of the same document when it overlaps or neighbours it.
fn merge_adjacent<'a>(
    ranked: &[(i64, f32)],
    rows: &'a HashMap<i64, ChunkRow>,
    k: usize,
    max_merged: usize,
) -> Vec<Vec<(&'a ChunkRow, f32)>> {
    let mut groups: Vec<Vec<(&ChunkRow, f32)>> = Vec::new();
    for (id, score) in ranked {
        let Some(row) = rows.get(id) else {
            continue; // deleted since the indexes answered
        };
        let near = |other: &ChunkRow| {
            other.doc_key == row.doc_key
                && (other.ordinal.abs_diff(row.ordinal) <= 1
                    || (other.span.start <= row.span.end && row.span.start <= other.span.end))
        };
        let target = groups
            .iter()
            .position(|g| g.len() < max_merged.max(1) && g.iter().any(|(c, _)| near(c)));
        match target {
            Some(i) => groups[i].push((row, *score)),
            None if groups.len() < k => groups.push(vec![(row, *score)]),
            None => {}
        }
    }
    groups
}

fn build_hit(
    conn: &Connection,
    group: &[(&ChunkRow, f32)],
    with_vector: bool,
    similarity: &HashMap<i64, f32>,
) -> Result<Option<Hit>, IndexError> {
    let Some((first, _)) = group.first() else {
        return Ok(None);
    };
    let mut members: Vec<&ChunkRow> = group.iter().map(|(c, _)| *c).collect();
    members.sort_by_key(|c| (c.span.start, c.ordinal));
    let span = Span::new(
        members
            .iter()
            .map(|c| c.span.start)
            .min()
            .unwrap_or(first.span.start),
        members
            .iter()
            .map(|c| c.span.end)
            .max()
            .unwrap_or(first.span.end),
    );
    let Some((doc_id, title, text)) = store::title_and_slice(conn, first.doc_key, span)? else {
        return Ok(None);
    };
    let mut speakers: Vec<&str> = Vec::new();
    for c in &members {
        for s in &c.speakers {
            if !speakers.contains(&s.as_str()) {
                speakers.push(s);
            }
        }
    }
    let times: Vec<TimeRange> = members.iter().filter_map(|c| c.time).collect();
    let time = (!times.is_empty()).then(|| TimeRange {
        start: times.iter().map(|t| t.start).fold(f64::INFINITY, f64::min),
        end: times
            .iter()
            .map(|t| t.end)
            .fold(f64::NEG_INFINITY, f64::max),
    });
    let section = members
        .iter()
        .find(|c| !c.section.is_empty())
        .map(|c| c.section.join(" › "));
    let score = group
        .iter()
        .map(|(_, s)| *s)
        .fold(f32::NEG_INFINITY, f32::max);
    let dense_similarity = if with_vector {
        group
            .iter()
            .filter_map(|(c, _)| similarity.get(&c.id).copied())
            .reduce(f32::max)
    } else {
        None
    };
    Ok(Some(Hit {
        doc_id,
        title,
        text,
        start: span.start,
        end: span.end,
        score,
        speaker: (!speakers.is_empty()).then(|| speakers.join(", ")),
        section,
        time,
        chunk_ids: members.iter().map(|c| c.id).collect(),
        dense_similarity,
    }))
}

impl Retriever for Collection {
    fn search(&self, query: &SearchQuery) -> CoreResult<Vec<Hit>> {
        Collection::search(self, query).map_err(CoreError::from)
    }

    fn sentences(&self, doc_id: &str, start: usize, end: usize) -> CoreResult<Vec<SentenceSpan>> {
        let found = self.with_reader(|conn| {
            let Some(key) = store::document_key(conn, doc_id)? else {
                return Ok(None);
            };
            let Some((_, _, window)) = store::title_and_slice(conn, key, Span::new(start, end))?
            else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT start, end, speaker, vector FROM sentences
                 WHERE doc = ?1 AND start >= ?2 AND end <= ?3 ORDER BY start, end",
            )?;
            let mut rows = stmt.query(params![key, start as i64, end as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let (s, e): (i64, i64) = (r.get(0)?, r.get(1)?);
                let span = Span::new(s as usize, e as usize);
                let text = window
                    .get(span.start - start..span.end - start)
                    .ok_or_else(|| {
                        IndexError::Corrupt(format!(
                            "sentence {s}..{e} of {doc_id} is not on character boundaries"
                        ))
                    })?
                    .to_string();
                let vector = match r
                    .get_ref(3)?
                    .as_blob_or_null()
                    .map_err(rusqlite::Error::from)?
                {
                    Some(blob) => Some(store::blob_to_vector(blob)?),
                    None => None,
                };
                out.push(SentenceSpan {
                    doc_id: doc_id.to_string(),
                    span,
                    text,
                    vector,
                    speaker: r.get(2)?,
                });
            }
            Ok(Some(out))
        });
        match found {
            Ok(Some(sentences)) => Ok(sentences),
            Ok(None) => Err(CoreError::NotFound(format!(
                "document `{doc_id}` or range {start}..{end}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    fn document_url(&self, doc_id: &str) -> CoreResult<Option<String>> {
        match self.document(doc_id) {
            Ok(Some(doc)) => Ok(doc.meta.url),
            Ok(None) => Err(CoreError::NotFound(format!("document `{doc_id}`"))),
            Err(e) => Err(e.into()),
        }
    }
}
