//! Small text helpers shared by retrieval, extraction, verification and eval.

use std::collections::HashSet;

/// True for CJK ideographs.
pub(crate) fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The text with all whitespace removed (for whitespace-insensitive matching).
pub fn strip_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Cosine of two vectors (dot product when both are unit length, which the
/// encoder guarantees; we still normalise so fakes need not).
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na <= 0.0 || nb <= 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// Character bigrams of the text's letters and ideographs, lowercased;
/// a language-agnostic unit for overlap measures.
pub(crate) fn char_bigrams(text: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Jaccard similarity of two texts' character bigrams.
pub(crate) fn bigram_jaccard(a: &str, b: &str) -> f32 {
    let (sa, sb) = (char_bigrams(a), char_bigrams(b));
    if sa.is_empty() || sb.is_empty() {
        return 0.0;
    }
    jaccard_plain(&sa, &sb)
}

fn jaccard_plain(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f32 {
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f32 / union as f32
    }
}

/// Share of `part`'s bigrams that also occur in `whole` (containment).
pub(crate) fn bigram_containment(part: &str, whole: &str) -> f32 {
    let (sp, sw) = (char_bigrams(part), char_bigrams(whole));
    if sp.is_empty() {
        return 0.0;
    }
    sp.intersection(&sw).count() as f32 / sp.len() as f32
}

/// Splits an answer into sentences, keeping each sentence's trailing
/// citation markers (`…。[1][2]`) with it.
pub(crate) fn split_answer_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(c);
        let is_end = matches!(c, '。' | '！' | '？' | '!' | '?' | '\n' | '；')
            || (c == '.'
                && chars
                    .get(i + 1)
                    .is_none_or(|n| n.is_whitespace() || *n == '['));
        if is_end {
            // Pull following citation markers (and spaces before them) into this sentence.
            let mut j = i + 1;
            loop {
                let mut k = j;
                while k < chars.len() && chars[k] == ' ' {
                    k += 1;
                }
                if k < chars.len() && matches!(chars[k], '[' | '【' | '［') {
                    let close = chars[k..]
                        .iter()
                        .position(|c| matches!(c, ']' | '】' | '］'))
                        .map(|p| k + p);
                    match close {
                        Some(end) if end - k <= 12 => {
                            current.extend(&chars[j..=end]);
                            j = end + 1;
                            continue;
                        }
                        _ => break,
                    }
                }
                break;
            }
            i = j;
            push_sentence(&mut out, &mut current);
            continue;
        }
        i += 1;
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let trimmed = current.trim();
    if !trimmed.is_empty() {
        out.push(trimmed.to_string());
    }
    current.clear();
}

/// Number of characters (not bytes).
pub(crate) fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Whether `needle` occurs in `haystack` ignoring whitespace, or (for evidence
/// cut by a chunk boundary) most of it does: a contiguous piece covering at
/// least `min_share` of the needle's characters.
pub fn contains_evidence(haystack: &str, needle: &str, min_share: f32) -> bool {
    let h = strip_whitespace(haystack);
    let n = strip_whitespace(needle);
    if n.is_empty() {
        return false;
    }
    if h.contains(&n) {
        return true;
    }
    let n_chars: Vec<char> = n.chars().collect();
    let need = ((n_chars.len() as f32) * min_share).ceil() as usize;
    if need == 0 || need > n_chars.len() {
        return false;
    }
    // A piece cut by a boundary is a prefix or a suffix of the evidence.
    let prefix: String = n_chars[..need].iter().collect();
    let suffix: String = n_chars[n_chars.len() - need..].iter().collect();
    h.contains(&prefix) || h.contains(&suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_keeping_markers() {
        let s = split_answer_sentences("他说A。[1] 然后B！[2][3]Final. Next [4] one.");
        assert_eq!(
            s,
            vec!["他说A。[1]", "然后B！[2][3]", "Final.", "Next [4] one."]
        );
    }

    #[test]
    fn evidence_matching_ignores_whitespace_and_accepts_cut_pieces() {
        let text = "我们 算是正好是两年零六个月 我们做第二期";
        assert!(contains_evidence(text, "两年零六个月我们做第二期", 0.6));
        assert!(contains_evidence(
            "……两年零六个月",
            "两年零六个月 我们做第二期",
            0.5
        ));
        assert!(!contains_evidence(
            "……两年零六个月",
            "两年零六个月 我们做第二期",
            0.9
        ));
        assert!(!contains_evidence("完全无关", "两年零六个月", 0.6));
    }

    #[test]
    fn overlap_measures() {
        assert!(bigram_containment("张璐认为", "张璐认为模型很重要") > 0.99);
        assert!(bigram_jaccard("abc def", "abc def") > 0.99);
        assert!(bigram_jaccard("abc", "xyz") < 0.01);
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
    }
}
