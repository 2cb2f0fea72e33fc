//! Language of a question, decided from its script.

use serde::{Deserialize, Serialize};

/// The language a question is asked in (and the answer is written in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Chinese (Han characters dominate).
    Zh,
    /// English (Latin letters, no Han characters).
    En,
    /// Both scripts in meaningful amounts; answered in Chinese.
    Mixed,
}

impl Language {
    /// The language an answer should be written in: mixed questions are
    /// answered in Chinese, since the Han characters carry the question.
    pub fn answer_language(self) -> Language {
        match self {
            Language::Mixed => Language::Zh,
            other => other,
        }
    }

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
            Language::Mixed => "mixed",
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Detects the language of a short text from its script.
///
/// A question with any run of Han characters is Chinese unless Latin words
/// clearly dominate ("What did 张璐 say about Meta?" is English with a name;
/// "张璐怎么看Meta的策略？" is Chinese with a name).
pub fn detect_language(text: &str) -> Language {
    let han = text.chars().filter(|c| is_han(*c)).count();
    // Count Latin *words*, since one Han character carries about as much as a word.
    let latin_words = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .count();
    if han == 0 {
        return Language::En;
    }
    if latin_words == 0 {
        return Language::Zh;
    }
    // Han characters ≈ 1.5 per word of meaning.
    let han_words = han as f32 / 1.5;
    if latin_words as f32 >= 2.0 * han_words {
        Language::En
    } else if han_words >= 2.0 * latin_words as f32 {
        Language::Zh
    } else {
        Language::Mixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_scripts() {
        assert_eq!(
            detect_language("旧金山停电那天Waymo为什么停在路口？"),
            Language::Zh
        );
        assert_eq!(
            detect_language("What did the guest say about Meta's strategy?"),
            Language::En
        );
        assert_eq!(
            detect_language("What did 张璐 say about Meta?"),
            Language::En
        );
        assert_eq!(detect_language(""), Language::En);
        assert_eq!(Language::Mixed.answer_language(), Language::Zh);
    }
}
