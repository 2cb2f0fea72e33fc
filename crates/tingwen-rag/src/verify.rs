//! Checking an answer against its sources: citation markers are parsed,
//! out-of-range or missing ones repaired, and every sentence is checked
//! against the passages it cites.

use tingwen_core::{EmbedKind, Embedder, Language};

use crate::retrieve::Source;
use crate::text::{bigram_containment, cosine, is_han, split_answer_sentences};
use crate::{EngineConfig, RagError};

/// Phrases that say the sources lack the answer; such sentences need no citation.
const NO_ANSWER_PHRASES: &[&str] = &[
    "do not say",
    "don't say",
    "does not say",
    "not mentioned",
    "do not mention",
    "does not mention",
    "don't mention",
    "no information",
    "do not contain",
    "does not contain",
    "not covered",
    "没有提到",
    "没有提及",
    "未提及",
    "未提到",
    "没有涉及",
    "不包含",
    "没有相关",
    "没有说",
];

/// The outcome of checking a generated answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Verification {
    /// The answer with citations normalised and repaired.
    pub text: String,
    /// Source numbers the answer cites, ascending.
    pub cited: Vec<usize>,
    /// Sentences no source supports.
    pub unsupported: Vec<String>,
    /// Sentences that made a claim (needed support).
    pub claims: usize,
    /// What was repaired, for logs and `mode_reason`.
    pub repairs: Vec<String>,
    /// Why the answer must not be returned as if it were fine.
    pub rejection: Option<String>,
}

/// Parses citation markers in any of the forms small models write
/// (`[1]`, `[1, 2]`, `【1】`, `［1］`, `[1][2]`) into numbers, returning the
/// text without markers and the numbers in order.
pub(crate) fn strip_markers(sentence: &str) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut numbers = Vec::new();
    let mut rest = sentence;
    while let Some(open) = rest.find(['[', '【', '［']) {
        let open_len = rest[open..].chars().next().map_or(1, char::len_utf8);
        let after = &rest[open + open_len..];
        let close = after.find([']', '】', '］']);
        let parsed = close.and_then(|c| {
            let inner = &after[..c];
            let nums: Option<Vec<usize>> = inner
                .split([',', '，', '、', ' ', ';'])
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.trim().trim_start_matches('#').parse::<usize>().ok())
                .collect();
            nums.filter(|n| !n.is_empty()).map(|n| (c, n))
        });
        match parsed {
            Some((c, nums)) => {
                text.push_str(&rest[..open]);
                numbers.extend(nums);
                let close_len = after[c..].chars().next().map_or(1, char::len_utf8);
                rest = &after[c + close_len..];
            }
            None => {
                text.push_str(&rest[..open + open_len]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    (text.trim().to_string(), numbers)
}

fn says_no_answer(claim: &str) -> bool {
    let lower = claim.to_lowercase();
    NO_ANSWER_PHRASES.iter().any(|p| lower.contains(p))
}

fn is_claim(text: &str) -> bool {
    text.chars().filter(|c| c.is_alphanumeric()).count() >= 4
}

/// How well a source supports a claim: the best encoder similarity to one of
/// its sentences, and the share of the claim's bigrams found in it.
fn supports(
    config: &EngineConfig,
    claim: &str,
    claim_vector: &[f32],
    source: &Source,
) -> (bool, f32) {
    let similarity = source
        .sentences
        .iter()
        .filter_map(|s| s.vector.as_deref())
        .map(|v| cosine(claim_vector, v))
        .fold(0.0f32, f32::max);
    let overlap = bigram_containment(claim, &source.hit.text);
    let ok = similarity >= config.support_similarity || overlap >= config.support_overlap;
    (ok, similarity.max(overlap))
}

/// Checks a generated answer against the numbered `sources` (`[1]` is `sources[0]`).
pub(crate) fn verify_generated(
    answer: &str,
    sources: &[Source],
    embedder: &dyn Embedder,
    config: &EngineConfig,
    language: Language,
) -> Result<Verification, RagError> {
    let mut v = Verification::default();
    let sentences = split_answer_sentences(answer);
    let parsed: Vec<(String, Vec<usize>)> = sentences.iter().map(|s| strip_markers(s)).collect();
    let claim_indices: Vec<usize> = parsed
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| is_claim(t) && !says_no_answer(t))
        .map(|(i, _)| i)
        .collect();
    let texts: Vec<String> = claim_indices.iter().map(|&i| parsed[i].0.clone()).collect();
    let vectors = if texts.is_empty() {
        Vec::new()
    } else {
        embedder.embed(&texts, EmbedKind::Query)?
    };
    v.claims = claim_indices.len();

    let mut out_sentences: Vec<String> = Vec::new();
    for (i, (claim, numbers)) in parsed.iter().enumerate() {
        let valid: Vec<usize> = numbers
            .iter()
            .copied()
            .filter(|n| (1..=sources.len()).contains(n))
            .collect();
        if valid.len() < numbers.len() {
            let bad: Vec<String> = numbers
                .iter()
                .filter(|n| !valid.contains(n))
                .map(|n| format!("[{n}]"))
                .collect();
            v.repairs
                .push(format!("removed out-of-range citation {}", bad.join("")));
        }
        let Some(pos) = claim_indices.iter().position(|&c| c == i) else {
            // Not a claim (a heading, or "the transcripts do not say"): keep as is.
            if !claim.is_empty() {
                out_sentences.push(with_markers(claim, &valid));
                v.cited.extend(&valid);
            }
            continue;
        };
        let Some(vector) = vectors.get(pos) else {
            continue;
        };
        let supporting: Vec<usize> = valid
            .iter()
            .copied()
            .filter(|&n| supports(config, claim, vector, &sources[n - 1]).0)
            .collect();
        let final_numbers = if !supporting.is_empty() {
            if supporting.len() < valid.len() {
                v.repairs
                    .push(format!("dropped citations that do not support: {claim}"));
            }
            supporting
        } else {
            // Repair: cite the source that supports it best, if any does.
            let best = sources
                .iter()
                .enumerate()
                .map(|(j, s)| (j + 1, supports(config, claim, vector, s)))
                .filter(|(_, (ok, _))| *ok)
                .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .map(|(n, _)| n);
            match best {
                Some(n) => {
                    v.repairs.push(if valid.is_empty() {
                        format!("added missing citation [{n}]")
                    } else {
                        format!("replaced a citation that does not support the sentence with [{n}]")
                    });
                    vec![n]
                }
                None => {
                    v.unsupported.push(claim.clone());
                    valid
                }
            }
        };
        v.cited.extend(&final_numbers);
        out_sentences.push(with_markers(claim, &final_numbers));
    }
    v.cited.sort_unstable();
    v.cited.dedup();
    let joiner = if language.answer_language() == Language::En {
        " "
    } else {
        ""
    };
    v.text = out_sentences.join(joiner);

    let answer_han = answer.chars().filter(|c| is_han(*c)).count();
    let answer_latin = answer.chars().filter(|c| c.is_ascii_alphabetic()).count();
    let wrong_language = match language.answer_language() {
        Language::En => answer_han * 2 > answer_latin.max(1),
        _ => answer_han == 0 && answer_latin > 0,
    };
    v.rejection = if v.text.trim().is_empty() {
        Some("the chat model returned an empty answer".into())
    } else if wrong_language {
        Some("the generated answer is not in the question's language".into())
    } else if v.claims > 0 && v.cited.is_empty() {
        Some("the generated answer cites no source that supports it".into())
    } else if v.claims > 0
        && v.unsupported.len() as f32 / v.claims as f32 > config.max_unsupported_share
    {
        Some(format!(
            "{} of {} sentences of the generated answer are not supported by its sources",
            v.unsupported.len(),
            v.claims
        ))
    } else {
        None
    };
    Ok(v)
}

/// The sentence with its citation markers, placed after the text.
fn with_markers(text: &str, numbers: &[usize]) -> String {
    let mut unique: Vec<usize> = Vec::new();
    for n in numbers {
        if !unique.contains(n) {
            unique.push(*n);
        }
    }
    let markers: String = unique.iter().map(|n| format!("[{n}]")).collect();
    format!("{text}{markers}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_many_forms_are_parsed() {
        assert_eq!(
            strip_markers("A说了B。[1]"),
            ("A说了B。".to_string(), vec![1])
        );
        assert_eq!(
            strip_markers("x [1, 2] y【3】［4］"),
            ("x  y".to_string(), vec![1, 2, 3, 4])
        );
        assert_eq!(
            strip_markers("[note] kept"),
            ("[note] kept".to_string(), vec![])
        );
        assert_eq!(strip_markers("a[2][3]"), ("a".to_string(), vec![2, 3]));
    }

    #[test]
    fn no_answer_sentences_are_recognised() {
        assert!(says_no_answer("The transcripts do not say."));
        assert!(says_no_answer("转录稿中没有提到。"));
        assert!(!says_no_answer("张璐认为模型很重要。"));
    }
}
