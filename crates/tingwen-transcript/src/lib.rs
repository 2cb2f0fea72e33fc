//! tingwen-transcript: turns transcript files into a [`Document`] and
//! [`Chunk`]s that retrieval and citations can trust.
//!
//! It owns the readers (front-matter Markdown, plain text, one caption per
//! line, unpunctuated speech recognition, SRT, WebVTT, Whisper-style JSON),
//! speaker turns, sentence segmentation for Chinese and English, and
//! chunking with byte-exact spans: for every chunk
//! `&document.source[chunk.span.start..chunk.span.end]` is the cited text,
//! and every sentence span lies inside its chunk. What the encoder sees
//! (`embed_text`) is cleaned separately. It knows nothing about vectors.
//!
//! Bad input never panics: empty, binary, non-UTF-8, UTF-16 and oversized
//! files are errors naming the file; recoverable problems (unclosed or
//! invalid front matter, broken subtitle timestamps) are kept leniently and
//! reported in [`Transcript::warnings`].
#![warn(missing_docs)]

mod chunk;
mod meta;
mod segment;
mod subtitles;
mod text;
mod units;

use sha2::{Digest, Sha256};
use tingwen_core::{Chunk, CoreError, Document, DocumentMeta, SourceFormat};

use crate::units::Builder;

/// Largest file accepted, in bytes (the whole text and its chunks are held in memory).
pub const MAX_FILE_BYTES: usize = 512 * 1024 * 1024;

/// How big chunks are, in tokens of the caller's encoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Size the chunker aims for.
    pub target_tokens: usize,
    /// Hard limit for a chunk's `embed_text` (as `count_tokens` measures it).
    pub max_tokens: usize,
    /// Tokens of trailing sentences repeated at the start of the next chunk
    /// when a cut falls inside one speaker's turn.
    pub overlap_tokens: usize,
}

impl Default for ChunkOptions {
    /// Sized for a 512-token encoder (e5-small): ~240-token chunks (about
    /// 250–300 Chinese characters) retrieve precisely, 480 leaves room for
    /// the passage prefix, and 40 tokens carries one or two sentences over.
    fn default() -> Self {
        ChunkOptions {
            target_tokens: 240,
            max_tokens: 480,
            overlap_tokens: 40,
        }
    }
}

/// A parsed and chunked transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct Transcript {
    /// The document, with its exact source text.
    pub document: Document,
    /// Chunks in document order.
    pub chunks: Vec<Chunk>,
    /// Problems that were handled leniently (nothing was dropped silently).
    pub warnings: Vec<String>,
}

/// Why a file could not be read as a transcript.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// The file has no text at all.
    #[error("{doc_id}: the file is empty{detail}")]
    Empty {
        /// File name.
        doc_id: String,
        /// Extra explanation (e.g. "only whitespace").
        detail: String,
    },
    /// The file is binary data, not text.
    #[error("{doc_id}: looks like a binary file, not a transcript ({reason})")]
    Binary {
        /// File name.
        doc_id: String,
        /// What gave it away.
        reason: String,
    },
    /// The file is text in an encoding other than UTF-8.
    #[error("{doc_id}: the file is {encoding}; convert it to UTF-8")]
    UnsupportedEncoding {
        /// File name.
        doc_id: String,
        /// The encoding detected.
        encoding: String,
    },
    /// The bytes are not valid UTF-8.
    #[error("{doc_id}: not valid UTF-8 at byte {offset}; convert the file to UTF-8")]
    InvalidUtf8 {
        /// File name.
        doc_id: String,
        /// First invalid byte.
        offset: usize,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{doc_id}: {size} bytes is larger than the {limit}-byte limit; split the file")]
    TooLarge {
        /// File name.
        doc_id: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A `.json` file that is not Whisper-style JSON.
    #[error("{doc_id}: not a Whisper-style JSON transcript: {message}")]
    InvalidJson {
        /// File name.
        doc_id: String,
        /// The parser's complaint.
        message: String,
    },
    /// The chunk options cannot work.
    #[error("invalid chunk options: {0}")]
    InvalidOptions(String),
}

impl From<TranscriptError> for CoreError {
    fn from(error: TranscriptError) -> Self {
        CoreError::InvalidInput(error.to_string())
    }
}

/// Rejects files that are not UTF-8 text, with the reason.
fn decode<'a>(doc_id: &str, bytes: &'a [u8]) -> Result<&'a str, TranscriptError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(TranscriptError::TooLarge {
            doc_id: doc_id.to_string(),
            size: bytes.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    if bytes.is_empty() {
        return Err(TranscriptError::Empty {
            doc_id: doc_id.to_string(),
            detail: String::new(),
        });
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(TranscriptError::UnsupportedEncoding {
            doc_id: doc_id.to_string(),
            encoding: "UTF-16".to_string(),
        });
    }
    let head = &bytes[..bytes.len().min(64 * 1024)];
    if let Some(at) = head.iter().position(|b| *b == 0) {
        return Err(TranscriptError::Binary {
            doc_id: doc_id.to_string(),
            reason: format!("NUL byte at offset {at}"),
        });
    }
    let controls = head
        .iter()
        .filter(|b| **b < 0x20 && !matches!(**b, b'\n' | b'\r' | b'\t' | 0x0C))
        .count();
    if controls * 20 > head.len() {
        return Err(TranscriptError::Binary {
            doc_id: doc_id.to_string(),
            reason: format!("{controls} control bytes in the first {} bytes", head.len()),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| TranscriptError::InvalidUtf8 {
        doc_id: doc_id.to_string(),
        offset: e.valid_up_to(),
    })?;
    if text.trim_start_matches('\u{FEFF}').trim().is_empty() {
        return Err(TranscriptError::Empty {
            doc_id: doc_id.to_string(),
            detail: " (only whitespace)".to_string(),
        });
    }
    Ok(text)
}

fn extension(doc_id: &str) -> String {
    doc_id
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default()
}

fn file_stem(doc_id: &str) -> &str {
    let name = doc_id.rsplit(['/', '\\']).next().unwrap_or(doc_id);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// Decides the format from the extension, then from the content.
pub fn detect_format(doc_id: &str, text: &str) -> SourceFormat {
    let text = text.trim_start_matches('\u{FEFF}');
    match extension(doc_id).as_str() {
        "srt" => return SourceFormat::Srt,
        "vtt" | "webvtt" => return SourceFormat::WebVtt,
        "json" => return SourceFormat::WhisperJson,
        "md" | "markdown" => return SourceFormat::Markdown,
        _ => {}
    }
    let start = text.trim_start();
    if start.starts_with("WEBVTT") {
        return SourceFormat::WebVtt;
    }
    if (start.starts_with('{') || start.starts_with('['))
        && start[..start.len().min(4096)].contains("\"start\"")
    {
        return SourceFormat::WhisperJson;
    }
    let mut head_lines = start.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = head_lines.next().unwrap_or("");
    let second = head_lines.next().unwrap_or("");
    if first.contains("-->")
        || (first.bytes().all(|b| b.is_ascii_digit()) && second.contains("-->"))
    {
        return SourceFormat::Srt;
    }
    if text.starts_with("---\n") || text.starts_with("---\r\n") {
        return SourceFormat::Markdown;
    }
    // Statistics over a bounded prefix keep detection O(1) on huge files.
    let sample = &text[..floor_char_boundary(text, 256 * 1024)];
    let mut lines = 0usize;
    let mut markdown = 0usize;
    let mut short = 0usize;
    let mut ending = 0usize;
    for line in sample.lines().map(str::trim).filter(|l| !l.is_empty()) {
        lines += 1;
        if line.starts_with('#')
            || line.starts_with("**")
            || line.starts_with("![")
            || line.starts_with("- ")
        {
            markdown += 1;
        }
        if line.chars().count() <= 40 {
            short += 1;
        }
        if line.ends_with(['。', '！', '？', '.', '!', '?', '”', '"', '…']) {
            ending += 1;
        }
    }
    if markdown * 20 >= lines.max(1) && markdown >= 2 {
        return SourceFormat::Markdown;
    }
    let chars = sample.chars().count().max(1);
    let terminators = sample
        .chars()
        .filter(|c| matches!(c, '。' | '！' | '？' | '!' | '?' | '.'))
        .count();
    let pauses = sample
        .bytes()
        .enumerate()
        .filter(|(i, b)| *b == b' ' && han_around(sample, *i))
        .count();
    if terminators * 300 < chars && pauses * 100 > chars {
        return SourceFormat::AsrText;
    }
    if lines >= 10 && short * 10 >= lines * 8 && ending * 10 < lines * 3 {
        return SourceFormat::Captions;
    }
    SourceFormat::PlainText
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}

/// Whether the space at byte `i` sits between two Han characters.
fn han_around(text: &str, i: usize) -> bool {
    let before = text[..i].chars().next_back();
    let after = text.get(i + 1..).and_then(|t| t.chars().next());
    let han = |c: Option<char>| c.is_some_and(|c| matches!(c as u32, 0x4E00..=0x9FFF));
    han(before) && han(after)
}

fn validate(options: &ChunkOptions) -> Result<(), TranscriptError> {
    if options.target_tokens == 0 || options.max_tokens == 0 {
        return Err(TranscriptError::InvalidOptions(
            "target_tokens and max_tokens must be positive".to_string(),
        ));
    }
    if options.target_tokens > options.max_tokens {
        return Err(TranscriptError::InvalidOptions(format!(
            "target_tokens ({}) exceeds max_tokens ({})",
            options.target_tokens, options.max_tokens
        )));
    }
    if options.overlap_tokens >= options.target_tokens {
        return Err(TranscriptError::InvalidOptions(format!(
            "overlap_tokens ({}) must be smaller than target_tokens ({})",
            options.overlap_tokens, options.target_tokens
        )));
    }
    Ok(())
}

/// Parses a file's bytes and chunks it.
///
/// `doc_id` is the file name: it names the document and its extension picks
/// the format (`.srt`, `.vtt`, `.json`, `.md`); other files are recognised
/// by content. `count_tokens` is the encoder's token counter for a passage
/// (special tokens and prefix included); chunk sizes are measured with it.
pub fn load(
    doc_id: &str,
    bytes: &[u8],
    options: &ChunkOptions,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Result<Transcript, TranscriptError> {
    validate(options)?;
    let source = decode(doc_id, bytes)?;
    let format = detect_format(doc_id, source);
    let body_start = if source.starts_with('\u{FEFF}') { 3 } else { 0 };
    let mut warnings = Vec::new();
    let unit_budget = (options.target_tokens / 2).clamp(8, (options.max_tokens / 2).max(8));
    let mut builder = Builder::new(source, count_tokens, unit_budget);
    let mut meta = DocumentMeta::default();
    let mut meta_speakers = Vec::new();
    match format {
        SourceFormat::Srt | SourceFormat::WebVtt => {
            let title = subtitles::read_cues(
                &mut builder,
                body_start,
                format == SourceFormat::WebVtt,
                &mut warnings,
            );
            meta.title = title.unwrap_or_default();
        }
        SourceFormat::WhisperJson => {
            subtitles::read_whisper_json(&mut builder, doc_id, body_start, &mut warnings)?;
        }
        SourceFormat::Markdown
        | SourceFormat::PlainText
        | SourceFormat::Captions
        | SourceFormat::AsrText => {
            let front = meta::parse_front_matter(source, body_start, &mut warnings);
            meta = front.meta;
            meta_speakers = front.speakers;
            let body = text::read_text(
                &mut builder,
                front.body_start,
                format,
                &mut meta,
                &mut meta_speakers,
            );
            if meta.title.is_empty() {
                meta.title = body.first_heading.unwrap_or_default();
            }
        }
    }
    if meta.title.is_empty() {
        meta.title = file_stem(doc_id).to_string();
    }
    meta.speakers = builder.speakers.clone();
    for name in meta_speakers {
        if !meta.speakers.contains(&name) {
            meta.speakers.push(name);
        }
    }
    let chunks = chunk::chunk_units(
        &chunk::ChunkInput {
            doc_id,
            units: &builder.units,
            sections: &builder.sections,
            speakers: &builder.speakers,
            options,
            count_tokens,
        },
        &mut warnings,
    );
    if chunks.is_empty() {
        warnings.push(format!(
            "{doc_id}: no transcript text found (only metadata or markup)"
        ));
    }
    let content_hash = hex::encode(Sha256::digest(bytes));
    Ok(Transcript {
        document: Document {
            doc_id: doc_id.to_string(),
            meta,
            format,
            source: source.to_string(),
            content_hash,
        },
        chunks,
        warnings,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_options_are_valid() {
        let options = ChunkOptions::default();
        assert!(validate(&options).is_ok());
        assert!(options.target_tokens <= options.max_tokens && options.max_tokens < 512);
        assert!(validate(&ChunkOptions {
            target_tokens: 10,
            max_tokens: 5,
            overlap_tokens: 0
        })
        .is_err());
    }

    #[test]
    fn detects_formats_by_extension_and_content() {
        assert_eq!(detect_format("a.srt", "x"), SourceFormat::Srt);
        assert_eq!(
            detect_format("a.txt", "WEBVTT\n\n00:01.000 --> 00:02.000\nhi"),
            SourceFormat::WebVtt
        );
        assert_eq!(
            detect_format("a.txt", "1\n00:00:01,000 --> 00:00:02,000\nhi"),
            SourceFormat::Srt
        );
        assert_eq!(
            detect_format("a", "{\"segments\": [{\"start\": 0}]}"),
            SourceFormat::WhisperJson
        );
        assert_eq!(
            detect_format("a.txt", "---\ntitle: x\n---\nbody"),
            SourceFormat::Markdown
        );
        let asr = "我们 今天 来聊 一下 这个 问题 然后 就是 说 我们 ".repeat(20);
        assert_eq!(detect_format("a.txt", &asr), SourceFormat::AsrText);
        let captions = "大家好\n这里是节目\n今天我们聊聊\n".repeat(10);
        assert_eq!(detect_format("a.txt", &captions), SourceFormat::Captions);
        assert_eq!(
            detect_format("a.txt", "One sentence. Another one here."),
            SourceFormat::PlainText
        );
    }
}
