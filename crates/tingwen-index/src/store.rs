//! SQLite: the source of truth (documents with their exact text, chunks,
//! sentences, vectors) and the generation counter the derived indexes follow.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use tingwen_core::{DocumentMeta, SourceFormat, Span, TimeRange};

use crate::IndexError;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id       TEXT NOT NULL UNIQUE,
    meta_json    TEXT NOT NULL,
    format       TEXT NOT NULL,
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    added_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    doc           INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,
    start         INTEGER NOT NULL,
    end           INTEGER NOT NULL,
    embed_text    TEXT NOT NULL,
    section_json  TEXT NOT NULL,
    speakers_json TEXT NOT NULL,
    time_start    REAL,
    time_end      REAL,
    sentences_json TEXT NOT NULL,
    vector        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc, ordinal);
CREATE TABLE IF NOT EXISTS sentences (
    doc     INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    start   INTEGER NOT NULL,
    end     INTEGER NOT NULL,
    speaker TEXT,
    vector  BLOB,
    PRIMARY KEY (doc, start, end)
) WITHOUT ROWID;
"#;

/// Opens (creating if needed) the database with the pragmas every connection needs.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, IndexError> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer. synchronous=NORMAL keeps every
    // committed transaction across a process crash (only power loss can drop
    // the last ones), which is the crash model of this service.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, IndexError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), IndexError> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn generation(conn: &Connection) -> Result<u64, IndexError> {
    match get_meta(conn, "generation")? {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| IndexError::Corrupt(format!("generation `{v}` is not a number"))),
    }
}

/// The row id of a stored document, `None` when there is none of that id.
pub(crate) fn document_key(conn: &Connection, doc_id: &str) -> Result<Option<i64>, IndexError> {
    Ok(conn
        .query_row(
            "SELECT id FROM documents WHERE doc_id = ?1",
            [doc_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub(crate) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vector(blob: &[u8]) -> Result<Vec<f32>, IndexError> {
    if !blob.len().is_multiple_of(4) {
        return Err(IndexError::Corrupt(format!(
            "vector blob of {} bytes",
            blob.len()
        )));
    }
    Ok(blob
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

pub(crate) fn format_to_str(format: SourceFormat) -> Result<String, IndexError> {
    match serde_json::to_value(format)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(IndexError::Corrupt(format!("format serialised as {other}"))),
    }
}

pub(crate) fn format_from_str(s: &str) -> Result<SourceFormat, IndexError> {
    Ok(serde_json::from_value(serde_json::Value::String(
        s.to_string(),
    ))?)
}

/// What searches need of a chunk (everything but its vector and embed text).
#[derive(Clone, Debug)]
pub(crate) struct ChunkRow {
    pub id: i64,
    pub doc_key: i64,
    pub ordinal: u32,
    pub span: Span,
    pub section: Vec<String>,
    pub speakers: Vec<String>,
    pub time: Option<TimeRange>,
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

pub(crate) fn chunk_rows(
    conn: &Connection,
    ids: &[i64],
) -> Result<HashMap<i64, ChunkRow>, IndexError> {
    let mut out = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(500) {
        let sql = format!(
            "SELECT id, doc, ordinal, start, end, section_json, speakers_json, time_start, time_end
             FROM chunks WHERE id IN ({})",
            placeholders(batch.len())
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(batch.iter()), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<f64>>(7)?,
                r.get::<_, Option<f64>>(8)?,
            ))
        })?;
        for row in rows {
            let (id, doc_key, ordinal, start, end, section, speakers, t0, t1) = row?;
            let time = match (t0, t1) {
                (Some(start), Some(end)) => Some(TimeRange { start, end }),
                _ => None,
            };
            out.insert(
                id,
                ChunkRow {
                    id,
                    doc_key,
                    ordinal: ordinal as u32,
                    span: Span::new(start as usize, end as usize),
                    section: serde_json::from_str(&section)?,
                    speakers: serde_json::from_str(&speakers)?,
                    time,
                },
            );
        }
    }
    Ok(out)
}

pub(crate) fn chunk_vectors(
    conn: &Connection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<f32>>, IndexError> {
    let mut out = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(500) {
        let sql = format!(
            "SELECT id, vector FROM chunks WHERE id IN ({})",
            placeholders(batch.len())
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(batch.iter()))?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let blob = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            out.insert(id, blob_to_vector(blob)?);
        }
    }
    Ok(out)
}

/// Title and exact source slice of a document (byte range, done inside SQLite
/// so a 100 kB transcript is not copied for a 1 kB passage).
pub(crate) fn title_and_slice(
    conn: &Connection,
    doc_key: i64,
    span: Span,
) -> Result<Option<(String, String, String)>, IndexError> {
    let row = conn
        .prepare_cached(
            "SELECT doc_id, json_extract(meta_json, '$.title'),
                    substr(CAST(source AS BLOB), ?2, ?3)
             FROM documents WHERE id = ?1",
        )?
        .query_row(
            params![doc_key, span.start as i64 + 1, span.len() as i64],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((doc_id, title, bytes)) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                IndexError::Corrupt(format!(
                    "span {}..{} of {doc_id} is not on character boundaries",
                    span.start, span.end
                ))
            })?;
            Ok(Some((doc_id, title.unwrap_or_default(), text)))
        }
    }
}

/// A stored document row, decoded.
pub(crate) struct DocumentRow {
    pub doc_id: String,
    pub meta: DocumentMeta,
    pub format: SourceFormat,
    pub source: String,
    pub content_hash: String,
}

pub(crate) fn document_row(
    conn: &Connection,
    doc_id: &str,
) -> Result<Option<DocumentRow>, IndexError> {
    let row = conn
        .query_row(
            "SELECT doc_id, meta_json, format, source, content_hash FROM documents WHERE doc_id = ?1",
            [doc_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((doc_id, meta, format, source, content_hash)) => Ok(Some(DocumentRow {
            doc_id,
            meta: serde_json::from_str(&meta)?,
            format: format_from_str(&format)?,
            source,
            content_hash,
        })),
    }
}
