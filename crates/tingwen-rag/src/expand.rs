//! Query expansion: English questions over Chinese transcripts get Chinese
//! translations of their content words, so keyword search can match.
//!
//! The dictionary (`data/en_zh.tsv`) is derived from CC-CEDICT (CC BY-SA 4.0)
//! by `scripts/build_en_zh_dict.py`, ranked by jieba word frequency.

use std::collections::HashMap;
use std::sync::OnceLock;

const DICTIONARY: &str = include_str!("../data/en_zh.tsv");

/// Function words that carry no topic and would only add noise.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "according",
    "after",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "asked",
    "at",
    "be",
    "been",
    "being",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "for",
    "from",
    "get",
    "give",
    "given",
    "gave",
    "had",
    "has",
    "have",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "me",
    "mention",
    "mentioned",
    "more",
    "most",
    "my",
    "no",
    "not",
    "of",
    "on",
    "one",
    "or",
    "other",
    "our",
    "out",
    "people",
    "say",
    "said",
    "says",
    "she",
    "should",
    "since",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "two",
    "up",
    "us",
    "use",
    "used",
    "very",
    "was",
    "way",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "speaker",
    "guest",
    "host",
    "video",
    "think",
    "thinks",
    "thought",
    "talk",
    "talked",
    "effectively",
    "count",
    "form",
    "instead",
    "suggest",
    "suggested",
    "recommend",
    "recommends",
    "make",
    "made",
    "kind",
    "kinds",
    "type",
    "types",
    "does",
    "according",
];

fn dictionary() -> &'static HashMap<&'static str, Vec<&'static str>> {
    static DICT: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    DICT.get_or_init(|| {
        DICTIONARY
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (en, zh) = l.split_once('\t')?;
                Some((en, zh.split('|').filter(|z| !z.is_empty()).collect()))
            })
            .collect()
    })
}

/// Candidate dictionary forms of an inflected English word.
fn lemmas(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    let strip = |suffix: &str, add: &str| -> Option<String> {
        word.strip_suffix(suffix)
            .filter(|stem| stem.len() >= 3)
            .map(|stem| format!("{stem}{add}"))
    };
    for (suffix, add) in [
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
        ("'s", ""),
    ] {
        if let Some(l) = strip(suffix, add) {
            out.push(l);
        }
    }
    out
}

fn lookup(word: &str, per_word: usize) -> Vec<&'static str> {
    let dict = dictionary();
    for lemma in lemmas(word) {
        if let Some(zh) = dict.get(lemma.as_str()) {
            return zh.iter().take(per_word).copied().collect();
        }
    }
    Vec::new()
}

/// Chinese translations of an English question's content words (and of its
/// two-word phrases), space-separated; empty when the question has no English
/// content words or none is in the dictionary.
pub fn expand_english_query(question: &str, per_word: usize) -> String {
    let words: Vec<String> = question
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_ascii_lowercase())
        .collect();
    let mut terms: Vec<&'static str> = Vec::new();
    let mut push = |t: &'static str| {
        if !terms.contains(&t) {
            terms.push(t);
        }
    };
    let dict = dictionary();
    let mut i = 0;
    while i < words.len() {
        // A two-word phrase ("home robot") beats its words.
        if i + 1 < words.len() {
            let phrase = format!("{} {}", words[i], words[i + 1]);
            if let Some(zh) = dict.get(phrase.as_str()) {
                zh.iter().take(per_word).for_each(|t| push(t));
                i += 2;
                continue;
            }
        }
        let w = words[i].as_str();
        i += 1;
        if w.len() < 2 || STOPWORDS.contains(&w) || w.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        lookup(w, per_word).into_iter().for_each(&mut push);
    }
    terms.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_content_words_and_skips_function_words() {
        let expanded = expand_english_query("What valuation numbers did he give for Apple?", 2);
        assert!(expanded.contains("估值"), "{expanded}");
        assert!(expanded.contains("苹果"), "{expanded}");
        assert!(!expanded.is_empty());
        assert_eq!(expand_english_query("what did he say?", 2), "");
    }

    #[test]
    fn inflected_forms_are_found() {
        assert!(expand_english_query("robots", 3).contains("机器人"));
    }
}
