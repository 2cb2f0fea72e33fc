//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use regex::Regex;
use tingwen_core::SourceFormat;
use tingwen_transcript::{load, ChunkOptions, Transcript};

/// A deterministic stand-in for an encoder's token counter: one token per
/// Chinese character or punctuation mark, one per four letters of a Latin
/// word, plus two special tokens.
pub fn stand_in_tokens(text: &str) -> usize {
    let mut tokens = 2;
    let mut word = 0usize;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word += 1;
            continue;
        }
        tokens += word.div_ceil(4);
        word = 0;
        if !c.is_whitespace() {
            tokens += 1;
        }
    }
    tokens + word.div_ceil(4)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// The five demo transcripts, as (file name, bytes).
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        5,
        "expected the five demo transcripts in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

pub fn load_with_stand_in(name: &str, bytes: &[u8]) -> Transcript {
    load(name, bytes, &ChunkOptions::default(), &stand_in_tokens)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Structural invariants every transcript must satisfy.
pub fn check_invariants(t: &Transcript, options: &ChunkOptions, count: &dyn Fn(&str) -> usize) {
    let source = &t.document.source;
    let id = &t.document.doc_id;
    let mut previous_start = 0;
    let mut previous_sentence_end = 0;
    for (i, chunk) in t.chunks.iter().enumerate() {
        assert_eq!(chunk.ordinal as usize, i, "{id}: ordinals in order");
        assert_eq!(&chunk.doc_id, id);
        let text = chunk.span.slice(source).unwrap_or_else(|| {
            panic!("{id}: chunk {i} span {:?} is not a valid slice", chunk.span)
        });
        assert!(!text.trim().is_empty(), "{id}: chunk {i} is blank");
        assert!(chunk.span.start >= previous_start, "{id}: chunks in order");
        previous_start = chunk.span.start;
        assert!(
            !chunk.embed_text.trim().is_empty(),
            "{id}: chunk {i} has no embed text"
        );
        let tokens = count(&chunk.embed_text);
        assert!(
            tokens <= options.max_tokens,
            "{id}: chunk {i} has {tokens} tokens > {}: {}",
            options.max_tokens,
            chunk.embed_text
        );
        assert!(
            !chunk.sentences.is_empty(),
            "{id}: chunk {i} has no sentences"
        );
        let mut last_end = chunk.span.start;
        for s in &chunk.sentences {
            let sentence = s
                .slice(source)
                .unwrap_or_else(|| panic!("{id}: sentence {s:?} is not a valid slice"));
            assert!(
                s.start >= chunk.span.start && s.end <= chunk.span.end,
                "{id}: sentence outside its chunk"
            );
            assert!(
                s.start >= last_end,
                "{id}: sentences overlap or are out of order"
            );
            last_end = s.end;
            assert!(!sentence.is_empty(), "{id}: empty sentence");
            assert_eq!(
                sentence.trim(),
                sentence,
                "{id}: sentence not trimmed: {sentence:?}"
            );
        }
        assert_eq!(
            last_end, chunk.span.end,
            "{id}: a chunk ends with its last sentence"
        );
        // Sentences of consecutive chunks only repeat through the overlap.
        let first = chunk.sentences[0];
        assert!(first.start >= previous_sentence_end || i > 0, "{id}: order");
        previous_sentence_end = previous_sentence_end.max(last_end);
    }
}

/// Bytes of `source` that no chunk covers, after removing what is markup
/// (front matter, images, link targets, heading underlines, emphasis,
/// list and table markers) or subtitle structure (indices, timings,
/// headers, notes).
pub fn uncovered_text(t: &Transcript) -> String {
    let source = &t.document.source;
    let mut covered = vec![false; source.len()];
    for chunk in &t.chunks {
        for flag in &mut covered[chunk.span.start..chunk.span.end] {
            *flag = true;
        }
    }
    let mut gaps = String::new();
    let mut i = 0;
    while i < source.len() {
        if covered[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < source.len() && !covered[i] {
            i += 1;
        }
        gaps.push_str(&source[start..i]);
        gaps.push('\n');
    }
    let mut rest = gaps.trim_start_matches('\u{FEFF}').to_string();
    let mut patterns = vec![
        r"(?s)\A\s*---\r?\n.*?\r?\n---\r?\n", // front matter (first gap)
        r"!\[[^\]]*\]\([^)]*\)",              // images
        r"\]\([^)]*\)",                       // link targets
        r"https?://\S+",                      // bare URLs are not content
    ];
    match t.document.format {
        SourceFormat::Srt | SourceFormat::WebVtt => patterns.extend([
            r"(?m)^WEBVTT.*$",
            r"(?ms)^(NOTE|STYLE|REGION)\b.*?(\n\s*\n|\z)",
            r"(?m)^.*-->.*$",
            r"(?m)^\s*[0-9A-Za-z_-]+\s*$", // cue index or identifier
            r"</?v[^>]*>",
        ]),
        _ => {}
    }
    for pattern in patterns {
        rest = Regex::new(pattern)
            .unwrap()
            .replace_all(&rest, "")
            .into_owned();
    }
    rest.chars()
        .filter(|c| {
            !c.is_whitespace() && !matches!(c, '*' | '#' | '-' | '=' | '_' | '>' | '|' | '`')
        })
        .collect()
}
