//! tingwen-llm: runs a local instruct model from a single GGUF file.
//!
//! It owns everything between "a GGUF path" and "streamed answer text":
//! picking the architecture from `general.architecture` (Llama/SmolLM2,
//! Qwen2, Qwen3, Gemma 3 through candle-transformers' quantized models),
//! the tokenizer rebuilt from the file's `tokenizer.ggml.*` metadata, the
//! model's own chat template and stop tokens, sampling, and a worker thread
//! with a bounded queue. [`ChatModel`] implements [`tingwen_core::Generator`].
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
pub mod gguf;
mod model;
pub mod sampler;
pub mod stream;
pub mod template;
pub mod tokenizer;

pub use error::LlmError;
pub use gguf::Architecture;
pub use model::{ChatModel, ChatModelOptions, LoadTuning, KEEP_QUANTISATION_ENV};
pub use tokenizer::GgufTokenizer;
