//! A Chinese-aware tokenizer for tantivy, written over jieba-rs.
//!
//! Chinese runs are cut in jieba's search mode (a long word is also offered as
//! its shorter dictionary words, so `人工智能` matches `智能`); Latin-script
//! words and numbers are lowercased; punctuation and whitespace are dropped.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under in every keyword index.
pub const TOKENIZER_NAME: &str = "tingwen_zh_en";

fn jieba() -> &'static Jieba {
    // Loading the dictionary takes a few hundred milliseconds; do it once per process.
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Splits `text` into lowercased search terms with their byte ranges.
pub fn tokenize_with_offsets(text: &str) -> Vec<(String, usize, usize)> {
    // jieba reports character positions; map them back to bytes once.
    let mut char_to_byte: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    char_to_byte.push(text.len());
    let mut out = Vec::new();
    for token in jieba().cut_for_search(text, true) {
        if !token.word.chars().any(char::is_alphanumeric) {
            continue;
        }
        let word = token.word.trim();
        if word.is_empty() {
            continue;
        }
        let start = char_to_byte.get(token.start).copied().unwrap_or(text.len());
        let end = char_to_byte.get(token.end).copied().unwrap_or(text.len());
        out.push((word.to_lowercase(), start, end));
    }
    out
}

/// Splits `text` into lowercased search terms (the same terms the index holds).
pub fn tokenize(text: &str) -> Vec<String> {
    tokenize_with_offsets(text)
        .into_iter()
        .map(|(word, _, _)| word)
        .collect()
}

/// The tantivy tokenizer; cheap to clone (the jieba dictionary is shared).
#[derive(Clone, Debug, Default)]
pub struct ChineseEnglishTokenizer;

/// Token stream over precomputed tokens.
#[derive(Debug)]
pub struct PrecomputedTokenStream {
    tokens: Vec<Token>,
    // Index of the current token plus one (0 = before the first).
    cursor: usize,
    // Returned by `token()` before the first `advance()`, so it never panics.
    placeholder: Token,
}

impl Tokenizer for ChineseEnglishTokenizer {
    type TokenStream<'a> = PrecomputedTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        let tokens = tokenize_with_offsets(text)
            .into_iter()
            .enumerate()
            .map(|(position, (word, start, end))| Token {
                offset_from: start,
                offset_to: end,
                position,
                text: word,
                position_length: 1,
            })
            .collect();
        PrecomputedTokenStream {
            tokens,
            cursor: 0,
            placeholder: Token::default(),
        }
    }
}

impl TokenStream for PrecomputedTokenStream {
    fn advance(&mut self) -> bool {
        if self.cursor < self.tokens.len() {
            self.cursor += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        match self.cursor.checked_sub(1) {
            Some(i) => &self.tokens[i],
            None => &self.placeholder,
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.cursor.checked_sub(1) {
            Some(i) => &mut self.tokens[i],
            None => &mut self.placeholder,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mixed_chinese_and_english() {
        let terms = tokenize("旧金山停电那天，Waymo的Robotaxi为什么停在路口？GPT-4 也提到了。");
        assert!(terms.contains(&"旧金山".to_string()), "{terms:?}");
        assert!(terms.contains(&"停电".to_string()), "{terms:?}");
        assert!(terms.contains(&"waymo".to_string()), "{terms:?}");
        assert!(terms.contains(&"robotaxi".to_string()), "{terms:?}");
        assert!(terms.contains(&"路口".to_string()), "{terms:?}");
        assert!(terms.iter().all(|t| t.chars().any(char::is_alphanumeric)));
        assert!(!terms.iter().any(|t| t.chars().any(char::is_uppercase)));
    }

    #[test]
    fn search_mode_offers_sub_words() {
        let terms = tokenize("人工智能");
        assert!(terms.contains(&"人工智能".to_string()), "{terms:?}");
        assert!(terms.contains(&"智能".to_string()), "{terms:?}");
    }

    #[test]
    fn offsets_are_byte_ranges_of_the_input() {
        let text = "张璐说 Meta 的 strategy 很好";
        for (word, start, end) in tokenize_with_offsets(text) {
            assert_eq!(text[start..end].to_lowercase(), word);
        }
    }

    #[test]
    fn tantivy_stream_yields_every_token() {
        let mut tokenizer = ChineseEnglishTokenizer;
        let mut stream = tokenizer.token_stream("Hello 世界");
        let mut seen = Vec::new();
        while stream.advance() {
            seen.push(stream.token().text.clone());
        }
        assert_eq!(seen, tokenize("Hello 世界"));
        assert!(seen.contains(&"hello".to_string()));
    }
}
