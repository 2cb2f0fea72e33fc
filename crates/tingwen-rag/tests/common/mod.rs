//! Fakes of the core traits: a hashing bag-of-bigrams encoder, an in-memory
//! retriever over paragraphs, and a scripted chat model.
#![allow(dead_code)]

use std::sync::Mutex;

use tingwen_core::{
    ChatMessage, CoreError, CoreResult, EmbedKind, Embedder, FinishReason, GenerationOutput,
    GenerationRequest, Generator, Hit, Retriever, SearchMode, SearchQuery, SentenceSpan, Span,
    TimeRange,
};

pub const DIM: usize = 512;

fn features(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let han: Vec<char> = text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .collect();
    out.extend(han.windows(2).map(|w| w.iter().collect::<String>()));
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.len() > 2 {
            out.push(word.to_ascii_lowercase());
        }
    }
    out
}

/// Deterministic encoder: hashed bigrams and words, L2-normalised.
pub struct HashEmbedder;

pub fn hash_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    for f in features(text) {
        let mut h: u64 = 1469598103934665603;
        for b in f.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(1099511628211);
        }
        v[(h % DIM as u64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "hash-test"
    }
    fn dim(&self) -> usize {
        DIM
    }
    fn max_tokens(&self) -> usize {
        512
    }
    fn count_tokens(&self, text: &str) -> CoreResult<usize> {
        Ok(text.chars().count())
    }
    fn embed(&self, texts: &[String], _kind: EmbedKind) -> CoreResult<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| hash_vector(t)).collect())
    }
}

pub struct FakeDoc {
    pub doc_id: String,
    pub title: String,
    pub source: String,
    pub url: Option<String>,
}

pub struct FakeChunk {
    pub doc: usize,
    pub span: Span,
    pub sentences: Vec<Span>,
    pub time: Option<TimeRange>,
    pub speaker: Option<String>,
    pub vector: Vec<f32>,
}

/// Chunks are paragraphs (split on blank lines); sentences end at 。！？ or '.'.
pub struct FakeRetriever {
    pub docs: Vec<FakeDoc>,
    pub chunks: Vec<FakeChunk>,
    /// When set, `search` returns these hits instead of searching.
    pub canned: Option<Vec<Hit>>,
    pub sentence_vectors: bool,
    pub searches: Mutex<Vec<SearchQuery>>,
}

fn sentence_spans(source: &str, start: usize, end: usize) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut s = start;
    for (i, c) in source[start..end].char_indices() {
        if matches!(c, '。' | '！' | '？' | '.' | '?') {
            let e = start + i + c.len_utf8();
            let trimmed_start = s + (source[s..e].len() - source[s..e].trim_start().len());
            if e > trimmed_start {
                spans.push(Span::new(trimmed_start, e));
            }
            s = e;
        }
    }
    if !source[s..end].trim().is_empty() {
        let trimmed_start = s + (source[s..end].len() - source[s..end].trim_start().len());
        spans.push(Span::new(trimmed_start, end));
    }
    spans
}

impl FakeRetriever {
    /// `docs`: (doc_id, title, source, url); every paragraph of a source
    /// becomes a chunk; paragraph i gets the time i*60 s.
    pub fn new(docs: &[(&str, &str, &str, Option<&str>)]) -> Self {
        let mut out = FakeRetriever {
            docs: Vec::new(),
            chunks: Vec::new(),
            canned: None,
            sentence_vectors: true,
            searches: Mutex::new(Vec::new()),
        };
        for (d, (id, title, source, url)) in docs.iter().enumerate() {
            out.docs.push(FakeDoc {
                doc_id: id.to_string(),
                title: title.to_string(),
                source: source.to_string(),
                url: url.map(str::to_string),
            });
            let mut pos = 0;
            for (p, para) in source.split("\n\n").enumerate() {
                let start = pos + (para.len() - para.trim_start().len());
                let end = pos + para.trim_end().len();
                pos += para.len() + 2;
                if end <= start {
                    continue;
                }
                out.chunks.push(FakeChunk {
                    doc: d,
                    span: Span::new(start, end),
                    sentences: sentence_spans(source, start, end),
                    time: Some(TimeRange {
                        start: p as f64 * 60.0,
                        end: p as f64 * 60.0 + 59.0,
                    }),
                    speaker: None,
                    vector: hash_vector(&source[start..end]),
                });
            }
        }
        out
    }

    pub fn hit(&self, chunk: usize, score: f32, dense: Option<f32>) -> Hit {
        let c = &self.chunks[chunk];
        let doc = &self.docs[c.doc];
        Hit {
            doc_id: doc.doc_id.clone(),
            title: doc.title.clone(),
            text: doc.source[c.span.start..c.span.end].to_string(),
            start: c.span.start,
            end: c.span.end,
            score,
            speaker: c.speaker.clone(),
            section: None,
            time: c.time,
            chunk_ids: vec![chunk as i64],
            dense_similarity: dense,
        }
    }

    /// A hit over an arbitrary span of a document.
    pub fn span_hit(&self, doc: usize, start: usize, end: usize) -> Hit {
        let d = &self.docs[doc];
        Hit {
            doc_id: d.doc_id.clone(),
            title: d.title.clone(),
            text: d.source[start..end].to_string(),
            start,
            end,
            score: 1.0,
            speaker: None,
            section: None,
            time: None,
            chunk_ids: vec![],
            dense_similarity: None,
        }
    }

    pub fn source_of(&self, doc_id: &str) -> Option<String> {
        self.docs
            .iter()
            .find(|d| d.doc_id == doc_id)
            .map(|d| d.source.clone())
    }
}

fn keyword_score(query: &str, text: &str) -> f32 {
    features(query)
        .iter()
        .filter(|f| text.to_lowercase().contains(f.as_str()))
        .count() as f32
}

impl Retriever for FakeRetriever {
    fn search(&self, query: &SearchQuery) -> CoreResult<Vec<Hit>> {
        if let Ok(mut s) = self.searches.lock() {
            s.push(query.clone());
        }
        if let Some(canned) = &self.canned {
            return Ok(canned.clone());
        }
        let dense: Vec<f32> = self
            .chunks
            .iter()
            .map(|c| query.vector.as_deref().map_or(0.0, |q| dot(q, &c.vector)))
            .collect();
        let keyword: Vec<f32> = self
            .chunks
            .iter()
            .map(|c| {
                keyword_score(
                    &query.text,
                    &self.docs[c.doc].source[c.span.start..c.span.end],
                )
            })
            .collect();
        let rank = |scores: &[f32]| -> Vec<usize> {
            let mut idx: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > 0.0).collect();
            idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            idx
        };
        let order: Vec<(usize, f32)> = match query.mode {
            SearchMode::Dense => rank(&dense).into_iter().map(|i| (i, dense[i])).collect(),
            SearchMode::Keyword => rank(&keyword)
                .into_iter()
                .map(|i| (i, keyword[i]))
                .collect(),
            SearchMode::Hybrid => {
                let mut fused = vec![0.0f32; self.chunks.len()];
                for (r, i) in rank(&dense).into_iter().enumerate() {
                    fused[i] += 1.0 / (60.0 + r as f32);
                }
                for (r, i) in rank(&keyword).into_iter().enumerate() {
                    fused[i] += 1.0 / (60.0 + r as f32);
                }
                rank(&fused).into_iter().map(|i| (i, fused[i])).collect()
            }
        };
        Ok(order
            .into_iter()
            .filter(|(i, _)| {
                query.filter.doc_ids.is_empty()
                    || query
                        .filter
                        .doc_ids
                        .contains(&self.docs[self.chunks[*i].doc].doc_id)
            })
            .take(query.k)
            .map(|(i, s)| self.hit(i, s, query.vector.as_ref().map(|_| dense[i])))
            .collect())
    }

    fn sentences(&self, doc_id: &str, start: usize, end: usize) -> CoreResult<Vec<SentenceSpan>> {
        let Some(d) = self.docs.iter().position(|d| d.doc_id == doc_id) else {
            return Err(CoreError::NotFound(doc_id.to_string()));
        };
        let source = &self.docs[d].source;
        Ok(self
            .chunks
            .iter()
            .filter(|c| c.doc == d)
            .flat_map(|c| c.sentences.iter())
            .filter(|s| s.start >= start && s.end <= end)
            .map(|s| SentenceSpan {
                doc_id: doc_id.to_string(),
                span: *s,
                text: source[s.start..s.end].to_string(),
                vector: self
                    .sentence_vectors
                    .then(|| hash_vector(&source[s.start..s.end])),
                speaker: None,
            })
            .collect())
    }

    fn document_url(&self, doc_id: &str) -> CoreResult<Option<String>> {
        Ok(self
            .docs
            .iter()
            .find(|d| d.doc_id == doc_id)
            .and_then(|d| d.url.clone()))
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A chat model that replies with a fixed text (streamed in small pieces).
pub struct ScriptedGenerator {
    pub reply: String,
    pub context: usize,
    pub requests: Mutex<Vec<GenerationRequest>>,
}

impl ScriptedGenerator {
    pub fn new(reply: &str) -> Self {
        ScriptedGenerator {
            reply: reply.to_string(),
            context: 8192,
            requests: Mutex::new(Vec::new()),
        }
    }

    pub fn last_prompt(&self) -> String {
        self.requests
            .lock()
            .ok()
            .and_then(|r| r.last().cloned())
            .map(|r| {
                r.messages
                    .iter()
                    .map(|m| m.content.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

impl Generator for ScriptedGenerator {
    fn model_id(&self) -> &str {
        "scripted"
    }
    fn context_length(&self) -> usize {
        self.context
    }
    fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> CoreResult<usize> {
        Ok(messages
            .iter()
            .map(|m| m.content.chars().count() / 2 + 4)
            .sum())
    }
    fn generate(
        &self,
        request: &GenerationRequest,
        sink: &mut tingwen_core::TokenSink<'_>,
    ) -> CoreResult<GenerationOutput> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request.clone());
        }
        let chars: Vec<char> = self.reply.chars().collect();
        let mut finish = FinishReason::Stop;
        for piece in chars.chunks(3) {
            if !sink(&piece.iter().collect::<String>()) {
                finish = FinishReason::Cancelled;
                break;
            }
        }
        Ok(GenerationOutput {
            text: self.reply.clone(),
            prompt_tokens: 0,
            completion_tokens: chars.len(),
            finish_reason: finish,
            time_to_first_token_ms: 0.0,
            total_ms: 0.0,
        })
    }
}
