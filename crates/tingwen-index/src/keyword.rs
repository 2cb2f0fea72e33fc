//! The keyword index: tantivy BM25 over chunk texts, tokenised by
//! [`crate::tokenizer`]. Derived from SQLite; each commit carries the SQLite
//! generation it reflects as its payload, so an index that is behind is
//! noticed (and rebuilt) on open.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::tokenizer::{tokenize, ChineseEnglishTokenizer, TOKENIZER_NAME};
use crate::IndexError;

const WRITER_MEMORY: usize = 64_000_000;
const FIELD_CHUNK: &str = "chunk_id";
const FIELD_DOC: &str = "doc_key";
const FIELD_TEXT: &str = "text";

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    doc_key: Field,
    text: Field,
}

fn schema() -> Schema {
    let mut builder = Schema::builder();
    let numeric = NumericOptions::default().set_indexed().set_fast();
    builder.add_u64_field(FIELD_CHUNK, numeric.clone());
    builder.add_u64_field(FIELD_DOC, numeric);
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    builder.add_text_field(FIELD_TEXT, text);
    builder.build()
}

fn fields(schema: &Schema) -> Result<Fields, IndexError> {
    let get = |name: &str| {
        schema
            .get_field(name)
            .map_err(|_| IndexError::Corrupt(format!("keyword index lacks field `{name}`")))
    };
    Ok(Fields {
        chunk_id: get(FIELD_CHUNK)?,
        doc_key: get(FIELD_DOC)?,
        text: get(FIELD_TEXT)?,
    })
}

/// One chunk as the keyword index sees it.
pub(crate) struct KeywordEntry<'a> {
    pub chunk_id: i64,
    pub doc_key: i64,
    pub text: &'a str,
}

pub(crate) struct KeywordIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

fn register(index: &Index) {
    // The tokenizer lives in memory only: it must be registered on every open.
    index
        .tokenizers()
        .register(TOKENIZER_NAME, ChineseEnglishTokenizer);
}

impl KeywordIndex {
    /// Opens the index in `dir` if it reflects `generation`; `None` when it is
    /// missing, unreadable or behind (the caller rebuilds).
    pub fn open_if_current(dir: &Path, generation: u64) -> Option<KeywordIndex> {
        if !dir.join("meta.json").exists() {
            return None;
        }
        let attempt = || -> Result<Option<KeywordIndex>, IndexError> {
            let index = Index::open_in_dir(dir)?;
            register(&index);
            let payload = index.load_metas()?.payload;
            if payload.as_deref() != Some(generation.to_string().as_str()) {
                tracing::info!(?payload, generation, "keyword index is behind SQLite");
                return Ok(None);
            }
            Self::from_index(index).map(Some)
        };
        match attempt() {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(%err, dir = %dir.display(), "keyword index unreadable; rebuilding");
                None
            }
        }
    }

    /// Builds a fresh index from `entries` in a temporary directory, then
    /// renames it to `dir` (replacing whatever was there).
    pub fn rebuild<'a>(
        dir: &Path,
        generation: u64,
        entries: impl Iterator<Item = KeywordEntry<'a>>,
    ) -> Result<KeywordIndex, IndexError> {
        let tmp = temp_sibling(dir);
        remove_dir_if_exists(&tmp)?;
        std::fs::create_dir_all(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        {
            let index = Index::create_in_dir(&tmp, schema())?;
            register(&index);
            let fields = fields(&index.schema())?;
            let mut writer: IndexWriter = index.writer(WRITER_MEMORY)?;
            for entry in entries {
                writer.add_document(to_doc(fields, &entry))?;
            }
            commit_with_generation(&mut writer, generation)?;
            writer.wait_merging_threads()?;
        }
        remove_dir_if_exists(dir)?;
        std::fs::rename(&tmp, dir).map_err(|e| IndexError::io(dir, e))?;
        let index = Index::open_in_dir(dir)?;
        register(&index);
        Self::from_index(index)
    }

    fn from_index(index: Index) -> Result<KeywordIndex, IndexError> {
        let fields = fields(&index.schema())?;
        let writer: IndexWriter = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(KeywordIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Removes a document's chunks and adds new ones, committed as `generation`.
    pub fn replace_document<'a>(
        &self,
        removed_doc_key: Option<i64>,
        added: impl Iterator<Item = KeywordEntry<'a>>,
        generation: u64,
    ) -> Result<(), IndexError> {
        let mut writer = self.writer.lock();
        if let Some(key) = removed_doc_key {
            writer.delete_term(Term::from_field_u64(self.fields.doc_key, key as u64));
        }
        for entry in added {
            writer.add_document(to_doc(self.fields, &entry))?;
        }
        commit_with_generation(&mut writer, generation)?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// The SQLite generation of the last commit, if any.
    pub fn committed_generation(&self) -> Result<Option<u64>, IndexError> {
        Ok(self
            .index
            .load_metas()?
            .payload
            .and_then(|p| p.parse().ok()))
    }

    /// Live (not deleted) chunks in the index.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// BM25 top `limit` chunk ids for `text`, optionally only within `doc_keys`.
    pub fn search(
        &self,
        text: &str,
        doc_keys: Option<&[i64]>,
        limit: usize,
    ) -> Result<Vec<(i64, f32)>, IndexError> {
        let mut terms = tokenize(text);
        terms.sort();
        terms.dedup();
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let term_queries: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.text, t),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(term_queries));
        if let Some(keys) = doc_keys {
            let docs: Vec<(Occur, Box<dyn Query>)> = keys
                .iter()
                .map(|k| {
                    let q: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_u64(self.fields.doc_key, *k as u64),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, q)
                })
                .collect();
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (Occur::Must, Box::new(BooleanQuery::new(docs))),
            ]));
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64(FIELD_CHUNK)?;
            if let Some(id) = column.first(address.doc_id) {
                out.push((id as i64, score));
            }
        }
        Ok(out)
    }
}

fn to_doc(fields: Fields, entry: &KeywordEntry<'_>) -> TantivyDocument {
    doc!(
        fields.chunk_id => entry.chunk_id as u64,
        fields.doc_key => entry.doc_key as u64,
        fields.text => entry.text,
    )
}

fn commit_with_generation(writer: &mut IndexWriter, generation: u64) -> Result<(), IndexError> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&generation.to_string());
    prepared.commit()?;
    Ok(())
}

fn temp_sibling(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyword".into());
    dir.with_file_name(format!("{name}.tmp-{}", std::process::id()))
}

pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<(), IndexError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IndexError::io(dir, e)),
    }
}
