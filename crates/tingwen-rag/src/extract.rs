//! Extractive answers: the sentences that best answer the question, quoted
//! exactly, each with its source number. No chat model needed.

use tingwen_core::Language;

use crate::retrieve::Source;
use crate::text::{bigram_containment, bigram_jaccard, char_len, is_han};
use crate::EngineConfig;

/// Quotes shorter than this (in characters) take in the next sentence too,
/// since ASR "sentences" are often fragments.
const MIN_QUOTE_CHARS: usize = 14;
/// Longest quote, in characters, so answers stay short.
const MAX_QUOTE_CHARS: usize = 160;
/// Score lost by a second quote from a source already quoted (diversity).
const SAME_SOURCE_PENALTY: f32 = 0.02;

/// One quoted sentence.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quote {
    /// Index into the sources the quote comes from.
    pub source: usize,
    /// Exactly `source.hit.text[offset..offset + text.len()]`.
    pub text: String,
    /// Why it was picked.
    pub score: f32,
}

/// An extractive answer before numbering.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Extraction {
    /// Answer text with `[n]` markers, `n` counting the sources in `used` from 1.
    pub text: String,
    /// Indices into the sources, in citation order (`[1]` is `used[0]`).
    pub used: Vec<usize>,
    /// The quotes, in answer order.
    pub quotes: Vec<Quote>,
}

/// A candidate quote: a sentence, extended by following sentences while it is too short.
fn candidate_quotes(source: &Source, source_index: usize, query: &str) -> Vec<Quote> {
    let hit = &source.hit;
    let mut out = Vec::new();
    for (j, sentence) in source.sentences.iter().enumerate() {
        let Some(&score) = source.sentence_scores.get(j) else {
            continue;
        };
        if score.is_nan() || sentence.span.start < hit.start || sentence.span.end > hit.end {
            continue;
        }
        let mut end = sentence.span.end;
        let mut best = score;
        let mut next = j + 1;
        while let Some(piece) = hit
            .text
            .get(sentence.span.start - hit.start..end - hit.start)
        {
            if char_len(piece) >= MIN_QUOTE_CHARS {
                break;
            }
            let Some(following) = source.sentences.get(next) else {
                break;
            };
            if following.span.end > hit.end {
                break;
            }
            end = following.span.end;
            if let Some(s) = source.sentence_scores.get(next).filter(|s| !s.is_nan()) {
                best = best.max(*s);
            }
            next += 1;
        }
        let Some(text) = hit
            .text
            .get(sentence.span.start - hit.start..end - hit.start)
        else {
            continue;
        };
        let text = text.trim();
        if text.chars().filter(|c| c.is_alphanumeric()).count() < 4
            || char_len(text) > MAX_QUOTE_CHARS
        {
            continue;
        }
        // A little lexical evidence helps same-language questions pick the exact sentence.
        let lexical = bigram_containment(query, text);
        out.push(Quote {
            source: source_index,
            text: text.to_string(),
            score: best + 0.05 * lexical,
        });
    }
    out
}

/// Picks and formats the quotes for a question.
pub(crate) fn extract(
    query: &str,
    language: Language,
    sources: &[Source],
    config: &EngineConfig,
) -> Extraction {
    let mut candidates: Vec<Quote> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, s)| candidate_quotes(s, i, query))
        .collect();
    // Earlier sources ranked higher; a small prior breaks near-ties toward them.
    for c in candidates.iter_mut() {
        c.score += 0.01 / (c.source as f32 + 1.0);
    }
    let best = candidates.iter().map(|c| c.score).fold(f32::MIN, f32::max);
    let mut picked: Vec<Quote> = Vec::new();
    while picked.len() < config.extract_max_sentences.max(1) {
        let next = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                !picked.iter().any(|p| {
                    p.source == c.source && (p.text.contains(&c.text) || c.text.contains(&p.text))
                        || bigram_jaccard(&p.text, &c.text) > 0.5
                })
            })
            .map(|(i, c)| {
                let penalty = if picked.iter().any(|p| p.source == c.source) {
                    SAME_SOURCE_PENALTY
                } else {
                    0.0
                };
                (i, c.score - penalty)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match next {
            Some((i, adjusted))
                if picked.is_empty() || adjusted >= best - config.extract_score_margin =>
            {
                picked.push(candidates.swap_remove(i));
            }
            _ => break,
        }
    }

    let mut used: Vec<usize> = Vec::new();
    for q in &picked {
        if !used.contains(&q.source) {
            used.push(q.source);
        }
    }
    let sources_are_chinese = picked.iter().any(|q| q.text.chars().any(is_han));
    let header = match language.answer_language() {
        Language::En if sources_are_chinese => {
            "The transcripts are in Chinese; these are the most relevant quotes from the Chinese sources:"
        }
        Language::En => "The most relevant quotes from the transcripts:",
        _ => "转录稿中最相关的原话：",
    };
    let lines: Vec<String> = picked
        .iter()
        .map(|q| {
            let n = used
                .iter()
                .position(|&u| u == q.source)
                .map_or(0, |p| p + 1);
            match language.answer_language() {
                Language::En => format!("- “{}” [{n}]", q.text),
                _ => format!("- 「{}」[{n}]", q.text),
            }
        })
        .collect();
    Extraction {
        text: format!("{header}\n{}", lines.join("\n")),
        used,
        quotes: picked,
    }
}
