//! An in-memory [`AppService`] for tests, demos and load tests of the HTTP
//! layer without models: documents are kept as text, "search" scores lines
//! by shared words and characters, "answers" quote the best lines. Knobs
//! make it slow, fail, or hold answers until released.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tingwen_core::{
    detect_language, Answer, AnswerMode, Citation, CoreError, DocumentMeta, Hit, SourceFormat,
};

use crate::service::{
    AppService, AskEvent, AskRequest, DocumentInfo, IngestStatus, IngestSummary, Passage,
    SearchRequest, ServiceError, ServiceInfo,
};

/// Vector size of the fake embeddings.
pub const FAKE_DIM: usize = 8;

struct StoredDocument {
    text: String,
    hash: String,
}

/// The fake service. `Default` starts empty with no delays.
#[derive(Default)]
pub struct FakeService {
    documents: RwLock<BTreeMap<String, StoredDocument>>,
    /// Sleep between streamed answer pieces.
    pub delta_delay: Mutex<Duration>,
    /// Sleep at the start of every search.
    pub search_delay: Mutex<Duration>,
    /// While true, `ask` waits before doing anything; clearing it releases them.
    pub hold_asks: AtomicBool,
    /// The next call of any method fails with this error.
    pub fail_next: Mutex<Option<CoreError>>,
    /// `ask` calls started.
    pub asks_started: AtomicUsize,
    /// `ask` calls that stopped because the callback returned `false`.
    pub asks_cancelled: AtomicUsize,
    /// `ask` calls that ran to the end.
    pub asks_finished: AtomicUsize,
    /// Answer pieces streamed in total.
    pub deltas_sent: AtomicUsize,
    /// The latest request `ask` received.
    pub last_ask: Mutex<Option<AskRequest>>,
    /// Pretend a chat model is loaded (answers are "generated" piece by piece).
    pub chat_model: Option<String>,
}

impl std::fmt::Debug for FakeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeService").finish_non_exhaustive()
    }
}

fn content_hash(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Lines of a text with their byte ranges, blank lines skipped.
fn lines(text: &str) -> impl Iterator<Item = (usize, usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end();
        (!trimmed.trim().is_empty()).then_some((start, start + trimmed.len(), trimmed))
    })
}

/// Shared lower-case words plus shared Han characters.
fn score(query: &str, line: &str) -> f32 {
    let line_lower = line.to_lowercase();
    let words = query
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.len() > 2 && word.is_ascii())
        .filter(|word| line_lower.contains(word))
        .count();
    let han = query
        .chars()
        .filter(|c| !c.is_ascii() && c.is_alphanumeric())
        .filter(|c| line.contains(*c))
        .count();
    words as f32 + 0.5 * han as f32
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

impl FakeService {
    /// A fake holding the given `(file name, text)` documents.
    pub fn with_documents<'a>(documents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let service = FakeService::default();
        for (name, text) in documents {
            // The fake cannot fail to ingest UTF-8 text.
            let _ = service.add_document(name, text.as_bytes());
        }
        service
    }

    fn take_failure(&self) -> Result<(), ServiceError> {
        match self.fail_next.lock().take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn title(doc_id: &str) -> String {
        doc_id
            .rsplit_once('.')
            .map_or(doc_id, |(stem, _)| stem)
            .to_owned()
    }
}

impl AppService for FakeService {
    fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, ServiceError> {
        self.take_failure()?;
        let delay = *self.search_delay.lock();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let documents = self.documents.read();
        let mut hits: Vec<Hit> = documents
            .iter()
            .filter(|(doc_id, _)| {
                req.filter.doc_ids.is_empty() || req.filter.doc_ids.contains(doc_id)
            })
            .flat_map(|(doc_id, document)| {
                lines(&document.text).filter_map(move |(start, end, line)| {
                    let score = score(&req.query, line);
                    (score > 0.0).then(|| Hit {
                        doc_id: doc_id.clone(),
                        title: Self::title(doc_id),
                        text: line.to_owned(),
                        start,
                        end,
                        score,
                        speaker: None,
                        section: None,
                        time: None,
                        chunk_ids: Vec::new(),
                        dense_similarity: None,
                    })
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(req.k);
        Ok(hits)
    }

    fn ask(
        &self,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AskEvent) -> bool,
    ) -> Result<Answer, ServiceError> {
        self.asks_started.fetch_add(1, Ordering::SeqCst);
        *self.last_ask.lock() = Some(req.clone());
        while self.hold_asks.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.take_failure()?;
        let hits = self.search(&SearchRequest {
            query: req.question.clone(),
            k: req.k.unwrap_or(3),
            filter: Default::default(),
            mode: Default::default(),
        })?;
        let citations: Vec<Citation> = hits
            .iter()
            .enumerate()
            .map(|(index, hit)| Citation::from_hit(index + 1, hit, None))
            .collect();
        let language = detect_language(&req.question).answer_language();
        let refused = citations.is_empty();
        let answer = if refused {
            "The transcripts do not cover this question.".to_owned()
        } else {
            citations
                .iter()
                .map(|citation| format!("{} [{}]", citation.text, citation.n))
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !on_event(AskEvent::Sources(citations.clone())) {
            self.asks_cancelled.fetch_add(1, Ordering::SeqCst);
            return Err(CoreError::Cancelled);
        }
        let delay = *self.delta_delay.lock();
        for piece in answer.split_inclusive(' ') {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            self.deltas_sent.fetch_add(1, Ordering::SeqCst);
            if !on_event(AskEvent::Delta(piece.to_owned())) {
                self.asks_cancelled.fetch_add(1, Ordering::SeqCst);
                return Err(CoreError::Cancelled);
            }
        }
        self.asks_finished.fetch_add(1, Ordering::SeqCst);
        let mode = match (req.mode, &self.chat_model) {
            (AnswerMode::Extractive, _) | (AnswerMode::Auto, None) => AnswerMode::Extractive,
            _ => AnswerMode::Generate,
        };
        Ok(Answer {
            answer,
            language,
            mode,
            mode_reason: None,
            refused,
            citations,
            unsupported: Vec::new(),
            related: Vec::new(),
            query: Some(req.question.clone()),
            timings_ms: BTreeMap::new(),
        })
    }

    fn list_documents(&self) -> Result<Vec<DocumentInfo>, ServiceError> {
        self.take_failure()?;
        Ok(self
            .documents
            .read()
            .iter()
            .map(|(doc_id, document)| DocumentInfo {
                doc_id: doc_id.clone(),
                meta: DocumentMeta {
                    title: Self::title(doc_id),
                    ..DocumentMeta::default()
                },
                format: SourceFormat::PlainText,
                chunks: lines(&document.text).count(),
                bytes: document.text.len(),
                content_hash: document.hash.clone(),
            })
            .collect())
    }

    fn add_document(&self, file_name: &str, bytes: &[u8]) -> Result<IngestSummary, ServiceError> {
        self.take_failure()?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| CoreError::InvalidInput("the file is not UTF-8 text".into()))?;
        let hash = content_hash(bytes);
        let mut documents = self.documents.write();
        let status = match documents.get(file_name) {
            Some(existing) if existing.hash == hash => IngestStatus::Unchanged,
            Some(_) => IngestStatus::Replaced,
            None => IngestStatus::Added,
        };
        let chunks = lines(text).count();
        documents.insert(
            file_name.to_owned(),
            StoredDocument {
                text: text.to_owned(),
                hash,
            },
        );
        Ok(IngestSummary {
            doc_id: file_name.to_owned(),
            status,
            chunks,
            warnings: Vec::new(),
        })
    }

    fn delete_document(&self, doc_id: &str) -> Result<bool, ServiceError> {
        self.take_failure()?;
        Ok(self.documents.write().remove(doc_id).is_some())
    }

    fn get_passage(
        &self,
        doc_id: &str,
        start: usize,
        end: usize,
        context_bytes: usize,
    ) -> Result<Passage, ServiceError> {
        self.take_failure()?;
        let documents = self.documents.read();
        let document = documents
            .get(doc_id)
            .ok_or_else(|| CoreError::NotFound(format!("document {doc_id:?}")))?;
        let text = &document.text;
        let passage = text.get(start..end).ok_or_else(|| {
            CoreError::InvalidInput("offsets out of range or inside a character".into())
        })?;
        let before_start = floor_boundary(text, start.saturating_sub(context_bytes));
        let after_end = ceil_boundary(text, (end + context_bytes).min(text.len()));
        Ok(Passage {
            doc_id: doc_id.to_owned(),
            title: Self::title(doc_id),
            url: None,
            start,
            end,
            text: passage.to_owned(),
            before: text[before_start..start].to_owned(),
            after: text[end..after_end].to_owned(),
            speaker: None,
            time: None,
        })
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ServiceError> {
        self.take_failure()?;
        Ok(texts
            .iter()
            .map(|text| {
                // Byte histogram folded into FAKE_DIM buckets, unit length.
                let mut vector = [0.0f32; FAKE_DIM];
                for byte in text.bytes() {
                    vector[usize::from(byte) % FAKE_DIM] += 1.0;
                }
                let norm = vector
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                vector.iter().map(|x| x / norm).collect()
            })
            .collect())
    }

    fn info(&self) -> ServiceInfo {
        let documents = self.documents.read();
        ServiceInfo {
            collection: "tingwen-fake".into(),
            embedding_model: "fake-embed".into(),
            chat_model: self.chat_model.clone(),
            documents: documents.len(),
            chunks: documents
                .values()
                .map(|document| lines(&document.text).count())
                .sum(),
        }
    }
}
