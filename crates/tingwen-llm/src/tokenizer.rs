//! A tokenizer built only from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! Two families, as llama.cpp has them:
//! - `gpt2`: byte-level BPE with merges. The text is split by the
//!   pre-tokenizer regexes that `tokenizer.ggml.pre` names (copied from
//!   llama.cpp's `llama-vocab.cpp`), then merged with the `tokenizers` crate.
//! - `llama`: SentencePiece-style BPE driven by token scores, with byte
//!   fallback (`<0xAB>` tokens), as used by Llama 2 and Gemma vocabularies.
//!
//! Control and user-defined tokens written in the text (e.g. `<|im_start|>`)
//! are recognised as single tokens, which is what a rendered chat template needs.

use std::collections::{BinaryHeap, HashMap};

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::tokenizer::SplitDelimiterBehavior;
use tokenizers::{AddedToken, Tokenizer};

use crate::gguf::Metadata;
use crate::LlmError;

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_NORMAL: u32 = 1;
const TOKEN_TYPE_UNKNOWN: u32 = 2;
const TOKEN_TYPE_CONTROL: u32 = 3;
const TOKEN_TYPE_USER_DEFINED: u32 = 4;
const TOKEN_TYPE_BYTE: u32 = 6;

const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The regexes llama.cpp applies, in order, for a `tokenizer.ggml.pre` value,
/// and whether whole pre-tokens found in the vocabulary skip merging.
fn pre_tokenizer_regexes(pre: &str) -> (Vec<&'static str>, bool) {
    match pre {
        "smollm" | "codeshell" | "exaone" | "minerva" => (vec![r"\p{N}", GPT2_REGEX], false),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => (vec![LLAMA3_REGEX], true),
        "smaug-bpe" => (vec![LLAMA3_REGEX], false),
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "hunyuan" => (vec![QWEN2_REGEX], false),
        "gpt2" | "gpt-2" | "default" | "mpt" | "olmo" | "jais" | "roberta-bpe" => {
            (vec![GPT2_REGEX], false)
        }
        other => {
            tracing::warn!(
                pre = other,
                "unknown tokenizer.ggml.pre; using the GPT-2 pre-tokenizer"
            );
            (vec![GPT2_REGEX], false)
        }
    }
}

/// GPT-2's reversible byte → printable character map.
fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_extra = 256u32;
    for byte in 0u32..256 {
        let printable = (33..=126).contains(&byte)
            || (161..=172).contains(&byte)
            || (174..=255).contains(&byte);
        let code = if printable {
            byte
        } else {
            let code = next_extra;
            next_extra += 1;
            code
        };
        table[byte as usize] = char::from_u32(code).unwrap_or('\0');
    }
    table
}

enum Engine {
    /// Byte-level BPE through the `tokenizers` crate.
    ByteLevelBpe(Box<Tokenizer>),
    /// Score-driven SentencePiece BPE.
    SentencePiece {
        scores: Vec<f32>,
        vocab: HashMap<String, u32>,
        byte_tokens: Box<[Option<u32>; 256]>,
        unknown_id: Option<u32>,
        add_space_prefix: bool,
    },
}

/// A tokenizer for one GGUF model.
pub struct GgufTokenizer {
    engine: Engine,
    tokens: Vec<String>,
    token_types: Vec<u32>,
    /// What each token contributes to the output text; empty for control tokens.
    token_bytes: Vec<Vec<u8>>,
    /// Control and user-defined tokens, longest first, for splitting text.
    special_tokens: Vec<(String, u32)>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab_size", &self.tokens.len())
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .finish()
    }
}

impl GgufTokenizer {
    /// Builds the tokenizer from GGUF metadata.
    pub fn from_metadata(metadata: &Metadata) -> Result<Self, LlmError> {
        let model = metadata.string("tokenizer.ggml.model")?;
        let tokens = metadata.string_array("tokenizer.ggml.tokens")?;
        let token_types = match metadata.optional_u32_array("tokenizer.ggml.token_type")? {
            Some(types) if types.len() == tokens.len() => types,
            Some(types) => {
                return Err(LlmError::InvalidModel(format!(
                    "{} token types for {} tokens",
                    types.len(),
                    tokens.len()
                )))
            }
            None => vec![TOKEN_TYPE_NORMAL; tokens.len()],
        };
        let bos_id = metadata.optional_u32("tokenizer.ggml.bos_token_id")?;
        let eos_id = metadata.optional_u32("tokenizer.ggml.eos_token_id")?;
        let unknown_id = metadata.optional_u32("tokenizer.ggml.unknown_token_id")?;
        let add_bos = metadata
            .optional_bool("tokenizer.ggml.add_bos_token")?
            .unwrap_or(model == "llama");

        let mut special_tokens: Vec<(String, u32)> = tokens
            .iter()
            .zip(&token_types)
            .enumerate()
            .filter(|(_, (text, ty))| {
                !text.is_empty() && matches!(**ty, TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED)
            })
            .map(|(id, (text, _))| (text.clone(), id as u32))
            .collect();
        special_tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));

        let (engine, token_bytes) = match model.as_str() {
            "gpt2" => {
                let pre = metadata
                    .optional_string("tokenizer.ggml.pre")?
                    .unwrap_or_else(|| "gpt2".to_string());
                let merges = metadata.string_array("tokenizer.ggml.merges")?;
                let engine = build_byte_level_bpe(&tokens, &merges, &pre, &special_tokens)?;
                let table = byte_to_char_table();
                let char_to_byte: HashMap<char, u8> = table
                    .iter()
                    .enumerate()
                    .map(|(b, c)| (*c, b as u8))
                    .collect();
                let token_bytes = tokens
                    .iter()
                    .zip(&token_types)
                    .map(|(text, ty)| match *ty {
                        TOKEN_TYPE_CONTROL => Vec::new(),
                        TOKEN_TYPE_USER_DEFINED => text.as_bytes().to_vec(),
                        _ => text
                            .chars()
                            .map(|c| char_to_byte.get(&c).copied())
                            .collect::<Option<Vec<u8>>>()
                            .unwrap_or_else(|| text.as_bytes().to_vec()),
                    })
                    .collect();
                (Engine::ByteLevelBpe(Box::new(engine)), token_bytes)
            }
            "llama" => {
                let scores = match metadata.optional_f32_array("tokenizer.ggml.scores")? {
                    Some(scores) if scores.len() == tokens.len() => scores,
                    _ => {
                        return Err(LlmError::InvalidModel(
                            "SentencePiece vocabulary without one score per token".into(),
                        ))
                    }
                };
                let mut byte_tokens = Box::new([None; 256]);
                let mut token_bytes = Vec::with_capacity(tokens.len());
                for (id, (text, ty)) in tokens.iter().zip(&token_types).enumerate() {
                    let bytes = match *ty {
                        TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN => Vec::new(),
                        TOKEN_TYPE_BYTE => match parse_byte_token(text) {
                            Some(byte) => {
                                byte_tokens[byte as usize] = Some(id as u32);
                                vec![byte]
                            }
                            None => text.as_bytes().to_vec(),
                        },
                        _ => text.replace('\u{2581}', " ").into_bytes(),
                    };
                    token_bytes.push(bytes);
                }
                let vocab = tokens
                    .iter()
                    .enumerate()
                    .map(|(id, text)| (text.clone(), id as u32))
                    .collect();
                let add_space_prefix = metadata
                    .optional_bool("tokenizer.ggml.add_space_prefix")?
                    .unwrap_or(true);
                let engine = Engine::SentencePiece {
                    scores,
                    vocab,
                    byte_tokens,
                    unknown_id,
                    add_space_prefix,
                };
                (engine, token_bytes)
            }
            other => {
                return Err(LlmError::UnsupportedTokenizer(format!(
                    "tokenizer.ggml.model `{other}` (supported: gpt2, llama)"
                )))
            }
        };

        Ok(GgufTokenizer {
            engine,
            tokens,
            token_types,
            token_bytes,
            special_tokens,
            bos_id,
            eos_id,
            add_bos,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning-of-sequence token, if the model has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// The end-of-sequence token, if the model has one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Whether prompts start with the BOS token (`tokenizer.ggml.add_bos_token`).
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// The vocabulary entry of a token.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// True for control tokens (`<|im_end|>`, `<s>`...), which print nothing.
    pub fn is_control(&self, id: u32) -> bool {
        self.token_types.get(id as usize) == Some(&TOKEN_TYPE_CONTROL)
    }

    /// The id of a control or user-defined token written exactly as `text`.
    pub fn special_token_id(&self, text: &str) -> Option<u32> {
        self.special_tokens
            .iter()
            .find(|(t, _)| t == text)
            .map(|(_, id)| *id)
    }

    /// Control and user-defined tokens with their ids.
    pub fn special_tokens(&self) -> &[(String, u32)] {
        &self.special_tokens
    }

    /// The bytes a token adds to the output text (empty for control tokens).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Decodes tokens to text, replacing invalid UTF-8.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|id| self.token_bytes(*id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Tokenizes text, recognising control tokens written in it, without
    /// adding BOS (llama.cpp's `tokenize(text, add_special=false, parse_special=true)`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        match &self.engine {
            Engine::ByteLevelBpe(tokenizer) => {
                let encoding = tokenizer
                    .encode_fast(text, false)
                    .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
                Ok(encoding.get_ids().to_vec())
            }
            Engine::SentencePiece {
                scores,
                vocab,
                byte_tokens,
                unknown_id,
                add_space_prefix,
            } => {
                let mut ids = Vec::new();
                let mut previous_was_special = true;
                for fragment in self.split_special(text) {
                    match fragment {
                        Fragment::Special(id) => {
                            ids.push(id);
                            previous_was_special = true;
                        }
                        Fragment::Text(raw) => {
                            let mut escaped = String::with_capacity(raw.len() + 3);
                            if *add_space_prefix && previous_was_special {
                                escaped.push('\u{2581}');
                            }
                            escaped.push_str(&raw.replace(' ', "\u{2581}"));
                            sentencepiece_encode(
                                &escaped,
                                scores,
                                vocab,
                                byte_tokens,
                                *unknown_id,
                                &mut ids,
                            );
                            previous_was_special = false;
                        }
                    }
                }
                Ok(ids)
            }
        }
    }

    /// Tokenizes a full prompt: BOS first when the model wants it and the
    /// text (e.g. a rendered template) does not already start with it.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let mut ids = self.encode(text)?;
        if let (true, Some(bos)) = (self.add_bos, self.bos_id) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    fn split_special<'a>(&self, text: &'a str) -> Vec<Fragment<'a>> {
        let mut fragments = Vec::new();
        let mut plain_start = 0;
        let mut pos = 0;
        while pos < text.len() {
            let rest = &text[pos..];
            if let Some((token, id)) = self
                .special_tokens
                .iter()
                .find(|(token, _)| rest.starts_with(token.as_str()))
            {
                if plain_start < pos {
                    fragments.push(Fragment::Text(&text[plain_start..pos]));
                }
                fragments.push(Fragment::Special(*id));
                pos += token.len();
                plain_start = pos;
            } else {
                pos += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        if plain_start < text.len() {
            fragments.push(Fragment::Text(&text[plain_start..]));
        }
        fragments
    }
}

enum Fragment<'a> {
    Text(&'a str),
    Special(u32),
}

fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

fn build_byte_level_bpe(
    tokens: &[String],
    merges: &[String],
    pre: &str,
    special_tokens: &[(String, u32)],
) -> Result<Tokenizer, LlmError> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, text)| (text.clone(), id as u32))
        .collect();
    let merges = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| LlmError::InvalidModel(format!("invalid merge `{m}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (regexes, ignore_merges) = pre_tokenizer_regexes(pre);
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for regex in regexes {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(steps)));
    let added: Vec<AddedToken> = special_tokens
        .iter()
        .map(|(text, _)| AddedToken::from(text.clone(), true))
        .collect();
    tokenizer.add_special_tokens(&added);
    Ok(tokenizer)
}

/// One candidate merge of two adjacent symbols.
#[derive(PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    // Highest score first; on ties the leftmost pair, as llama.cpp does.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// llama.cpp's `llm_tokenizer_spm`: merge the best-scoring adjacent pair
/// whose concatenation is a token until none is left; characters that are
/// not tokens fall back to byte tokens.
fn sentencepiece_encode(
    text: &str,
    scores: &[f32],
    vocab: &HashMap<String, u32>,
    byte_tokens: &[Option<u32>; 256],
    unknown_id: Option<u32>,
    out: &mut Vec<u32>,
) {
    struct Symbol {
        start: usize,
        len: usize,
        prev: Option<usize>,
        next: Option<usize>,
    }
    let mut symbols: Vec<Symbol> = Vec::new();
    for (start, c) in text.char_indices() {
        let index = symbols.len();
        symbols.push(Symbol {
            start,
            len: c.len_utf8(),
            prev: index.checked_sub(1),
            next: None,
        });
        if index > 0 {
            symbols[index - 1].next = Some(index);
        }
    }
    let mut queue = BinaryHeap::new();
    let try_add =
        |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize, right: usize| {
            let start = symbols[left].start;
            let len = symbols[left].len + symbols[right].len;
            if let Some(&id) = vocab.get(&text[start..start + len]) {
                queue.push(Bigram {
                    score: scores[id as usize],
                    left,
                    right,
                    len,
                });
            }
        };
    for i in 1..symbols.len() {
        try_add(&mut queue, &symbols, i - 1, i);
    }
    while let Some(bigram) = queue.pop() {
        let (left, right) = (bigram.left, bigram.right);
        // Skip pairs made stale by an earlier merge.
        if symbols[left].len == 0
            || symbols[right].len == 0
            || symbols[left].len + symbols[right].len != bigram.len
        {
            continue;
        }
        symbols[left].len += symbols[right].len;
        symbols[right].len = 0;
        symbols[left].next = symbols[right].next;
        if let Some(next) = symbols[right].next {
            symbols[next].prev = Some(left);
        }
        if let Some(prev) = symbols[left].prev {
            try_add(&mut queue, &symbols, prev, left);
        }
        if let Some(next) = symbols[left].next {
            try_add(&mut queue, &symbols, left, next);
        }
    }
    let mut index = if symbols.is_empty() { None } else { Some(0) };
    while let Some(i) = index {
        let piece = &text[symbols[i].start..symbols[i].start + symbols[i].len];
        if let Some(&id) = vocab.get(piece) {
            out.push(id);
        } else {
            for byte in piece.bytes() {
                if let Some(id) = byte_tokens[byte as usize].or(unknown_id) {
                    out.push(id);
                }
            }
        }
        index = symbols[i].next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection() {
        let table = byte_to_char_table();
        let mut seen: Vec<char> = table.to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        assert_eq!(table[b'a' as usize], 'a');
        assert_eq!(table[b' ' as usize], '\u{120}');
        assert_eq!(table[b'\n' as usize], '\u{10a}');
    }

    #[test]
    fn sentencepiece_merges_by_score_and_falls_back_to_bytes() {
        let tokens = [
            "\u{2581}",
            "a",
            "b",
            "ab",
            "\u{2581}ab",
            "<0xE4>",
            "<0xBD>",
            "<0xA0>",
        ];
        let scores = [0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0];
        let vocab: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let mut byte_tokens = [None; 256];
        byte_tokens[0xE4] = Some(5);
        byte_tokens[0xBD] = Some(6);
        byte_tokens[0xA0] = Some(7);
        let mut out = Vec::new();
        sentencepiece_encode(
            "\u{2581}ab你a",
            &scores,
            &vocab,
            &byte_tokens,
            None,
            &mut out,
        );
        assert_eq!(out, vec![4, 5, 6, 7, 1]);
    }
}
