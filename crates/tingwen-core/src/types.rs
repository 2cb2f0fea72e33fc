//! Plain data: documents, chunks, search hits, citations and answers.
//!
//! Offsets (`start`, `end`) are always **byte** offsets into a document's
//! stored source text, so `&doc.source[start..end]` is exactly what is shown
//! and cited.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Language;

/// A byte range `[start, end)` into a document's source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// Creates a span; `start <= end` is the caller's responsibility.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text the span covers, or `None` when it is out of range or not on
    /// character boundaries.
    pub fn slice<'a>(&self, source: &'a str) -> Option<&'a str> {
        source.get(self.start..self.end)
    }
}

/// A moment range inside a recording, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Seconds from the start of the recording.
    pub start: f64,
    /// Seconds from the start of the recording.
    pub end: f64,
}

impl TimeRange {
    /// `start` as `m:ss` or `h:mm:ss`, the way video players show it.
    pub fn format_start(&self) -> String {
        format_clock(self.start)
    }

    /// Both ends, e.g. `12:34–13:05`.
    pub fn format_range(&self) -> String {
        format!("{}–{}", format_clock(self.start), format_clock(self.end))
    }
}

fn format_clock(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds.floor() as u64
    } else {
        0
    };
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The format a transcript file was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Markdown, with or without YAML front matter.
    Markdown,
    /// Punctuated plain prose.
    PlainText,
    /// One subtitle caption per line, no timestamps.
    Captions,
    /// Unpunctuated speech recognition output (pauses as spaces).
    AsrText,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    WebVtt,
    /// Whisper-style JSON (`segments` with `start`/`end`/`text`).
    WhisperJson,
}

/// Descriptive metadata of a document, from front matter or the body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    /// Title (front matter, first heading, or the file name).
    pub title: String,
    /// Publication date as written (ISO `YYYY-MM-DD` when it can be parsed).
    pub date: Option<String>,
    /// Author or channel.
    pub author: Option<String>,
    /// Where the transcript came from (video page, article URL).
    pub url: Option<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Speakers known to take part, in order of first appearance.
    pub speakers: Vec<String>,
}

/// One transcript file, parsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The source file name; unique within a collection.
    pub doc_id: String,
    /// Metadata.
    pub meta: DocumentMeta,
    /// The format the file was read as.
    pub format: SourceFormat,
    /// The file's exact text; every offset points into this.
    pub source: String,
    /// Hex sha256 of the file's bytes, to skip re-ingesting unchanged files.
    pub content_hash: String,
}

/// A retrievable piece of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Document this chunk belongs to.
    pub doc_id: String,
    /// Position of the chunk within its document, from 0.
    pub ordinal: u32,
    /// Byte range in the source; `&source[span]` is the cited text.
    pub span: Span,
    /// What the encoder sees: markup removed, speaker and heading prefixed.
    pub embed_text: String,
    /// Heading path, outermost first.
    pub section: Vec<String>,
    /// Speakers talking in this chunk, in order.
    pub speakers: Vec<String>,
    /// Time range, when the format has timestamps.
    pub time: Option<TimeRange>,
    /// Sentence (or clause, caption, cue) spans inside the chunk, in order;
    /// the units the extractive answerer quotes.
    pub sentences: Vec<Span>,
}

impl Chunk {
    /// The heading path joined for display, e.g. `Part 1 › Q&A`.
    pub fn section_label(&self) -> Option<String> {
        (!self.section.is_empty()).then(|| self.section.join(" › "))
    }

    /// The speakers joined for display.
    pub fn speaker_label(&self) -> Option<String> {
        (!self.speakers.is_empty()).then(|| self.speakers.join(", "))
    }
}

/// One search result: an exact passage of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Source file name.
    pub doc_id: String,
    /// Document title.
    pub title: String,
    /// Exactly `source[start..end]`.
    pub text: String,
    /// Byte offset of the passage in the source.
    pub start: usize,
    /// Byte offset one past the passage's end.
    pub end: usize,
    /// Fused relevance score; higher is better. Comparable only within one result list.
    pub score: f32,
    /// Speaker(s) of the passage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Heading path of the passage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Moment in the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRange>,
    /// Internal ids of the chunk(s) merged into this hit (not part of the API).
    #[serde(skip)]
    pub chunk_ids: Vec<i64>,
    /// Best dense cosine similarity of the query to the merged chunks, when
    /// dense search ran; used to decide whether anything relevant was found.
    #[serde(skip)]
    pub dense_similarity: Option<f32>,
}

/// A numbered source backing an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The number used as `[n]` in the answer text, from 1.
    pub n: usize,
    /// Source file name.
    pub doc_id: String,
    /// Document title.
    pub title: String,
    /// Exactly `source[start..end]`.
    pub text: String,
    /// Byte offset in the source.
    pub start: usize,
    /// Byte offset one past the end.
    pub end: usize,
    /// Speaker(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Heading path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Moment in the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRange>,
    /// Link to the original, with a time offset for videos when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Citation {
    /// Citation `n` for a search hit, with the link to give it (if any).
    pub fn from_hit(n: usize, hit: &Hit, url: Option<String>) -> Citation {
        Citation {
            n,
            doc_id: hit.doc_id.clone(),
            title: hit.title.clone(),
            text: hit.text.clone(),
            start: hit.start,
            end: hit.end,
            speaker: hit.speaker.clone(),
            section: hit.section.clone(),
            time: hit.time,
            url,
        }
    }
}

/// How an answer was (or should be) produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Generate when a chat model is loaded, else extract.
    #[default]
    Auto,
    /// Always generate with the chat model.
    Generate,
    /// Quote the best supporting sentences; no chat model needed.
    Extractive,
}

/// The answer engine's response, also the `/api/ask` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Answer text with `[n]` markers.
    pub answer: String,
    /// Language of the answer (the question's).
    pub language: Language,
    /// The mode that produced the answer (`generate` or `extractive`).
    pub mode: AnswerMode,
    /// Why that mode answered (e.g. "no chat model loaded", "verification rejected the generated answer").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_reason: Option<String>,
    /// True when the transcripts do not cover the question.
    pub refused: bool,
    /// The numbered sources, in `n` order.
    pub citations: Vec<Citation>,
    /// Answer sentences that the cited passages do not support.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
    /// Nearest passages, listed when the answer is a refusal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Hit>,
    /// The standalone query retrieval used (differs from the question for follow-ups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Time spent per stage, in milliseconds.
    pub timings_ms: BTreeMap<String, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formatting() {
        let t = TimeRange {
            start: 754.9,
            end: 3725.0,
        };
        assert_eq!(t.format_start(), "12:34");
        assert_eq!(t.format_range(), "12:34–1:02:05");
        assert_eq!(
            TimeRange {
                start: f64::NAN,
                end: 0.0
            }
            .format_start(),
            "0:00"
        );
    }

    #[test]
    fn span_slices_only_on_char_boundaries() {
        let s = "张璐说";
        assert_eq!(Span::new(0, 3).slice(s), Some("张"));
        assert_eq!(Span::new(0, 2).slice(s), None);
        assert_eq!(Span::new(0, 99).slice(s), None);
    }
}
