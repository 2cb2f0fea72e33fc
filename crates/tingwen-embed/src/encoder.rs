//! `TextEncoder`: the public, shareable encoder behind the `Embedder` trait.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use tingwen_core::{CoreResult, EmbedKind, Embedder};

use crate::config::{ModelConfig, ModelFamily, ModelProfile, Pooling};
use crate::model::{Encoder, Precision};
use crate::tokenize::TextTokenizer;
use crate::worker::{BatchLimits, ComputeFn, Dispatcher};
use crate::EmbedError;

/// How to load and run an encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Numeric format of the large matrices.
    pub precision: Precision,
    /// Sequences per forward pass.
    pub max_batch: usize,
    /// Padded tokens per forward pass (bounds attention memory for long inputs).
    pub max_batch_tokens: usize,
    /// Requests allowed to wait; past it `embed` fails with `Overloaded`.
    pub queue_bound: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            precision: Precision::F32,
            max_batch: 32,
            max_batch_tokens: 16 * 1024,
            queue_bound: 1024,
        }
    }
}

/// A text encoder (multilingual-e5, bge-m3, ...) running on its own compute
/// thread. `Send + Sync`; share it with `Arc`. Calls block the calling thread
/// (use `spawn_blocking` from async code) while tokenisation runs on the
/// caller and the forward pass on the worker, which merges requests that
/// arrive together into one batch.
///
/// Compute threads: candle's CPU kernels use `CANDLE_NUM_THREADS` /
/// `RAYON_NUM_THREADS` (default: physical cores).
pub struct TextEncoder {
    model_id: String,
    dim: usize,
    max_tokens: usize,
    family: ModelFamily,
    profile: ModelProfile,
    precision: Precision,
    tokenizer: TextTokenizer,
    dispatcher: Dispatcher,
}

impl TextEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from a
    /// model directory; the directory name is the model id.
    pub fn load(model_dir: &Path, options: EncoderOptions) -> Result<Self, EmbedError> {
        let config_path = model_dir.join("config.json");
        let weights_path = model_dir.join("model.safetensors");
        let tokenizer_path = model_dir.join("tokenizer.json");
        for path in [&config_path, &weights_path, &tokenizer_path] {
            if !path.is_file() {
                return Err(EmbedError::MissingFile(path.display().to_string()));
            }
        }
        let config = ModelConfig::from_file(&config_path)?;
        let family = config.family()?;
        let model_id = model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "encoder".to_string());
        let profile = ModelProfile::detect(model_dir, &model_id, family);
        let tokenizer = TextTokenizer::load(
            &tokenizer_path,
            config.max_tokens(),
            profile.query_prefix.clone(),
            profile.passage_prefix.clone(),
        )?;
        let device = default_device()?;
        // SAFETY: the weights file is mapped read-only and only read while the
        // tensors are copied out during this call; the mapping is dropped
        // before `load` returns. Modifying the file concurrently is the
        // usual mmap caveat, as with every safetensors loader.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &device)? };
        let encoder = Encoder::load(vb, &config, profile.pooling, options.precision)?;
        let compute: ComputeFn = Box::new(move |batch: &[&[u32]]| encoder.forward(batch));
        let dispatcher = Dispatcher::spawn(
            compute,
            BatchLimits {
                max_batch: options.max_batch,
                max_batch_tokens: options.max_batch_tokens.max(config.max_tokens()),
                queue_bound: options.queue_bound,
            },
        )?;
        tracing::info!(
            "loaded encoder {model_id} ({:?}, {:?} pooling, {}, dim {}, max {} tokens)",
            family,
            profile.pooling,
            options.precision.name(),
            config.hidden_size,
            config.max_tokens()
        );
        Ok(TextEncoder {
            model_id,
            dim: config.hidden_size,
            max_tokens: config.max_tokens(),
            family,
            profile,
            precision: options.precision,
            tokenizer,
            dispatcher,
        })
    }

    /// Encodes texts into unit vectors, in order. Inputs longer than the
    /// model limit are windowed (see the crate docs); empty or whitespace-only
    /// texts are valid and encode as just their prefix.
    pub fn encode(&self, texts: &[String], kind: EmbedKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        let prepared = texts
            .iter()
            .map(|t| self.tokenizer.prepare(t, kind))
            .collect::<Result<Vec<_>, _>>()?;
        self.dispatcher.submit(prepared)
    }

    /// Model input ids of a text as one sequence (prefix and special tokens
    /// included, not windowed) — what the reference engine would feed it.
    pub fn token_ids(&self, text: &str, kind: EmbedKind) -> Result<Vec<u32>, EmbedError> {
        self.tokenizer.full_ids(text, kind)
    }

    /// Numeric format the encoder runs in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Architecture family.
    pub fn family(&self) -> ModelFamily {
        self.family
    }

    /// Pooling used.
    pub fn pooling(&self) -> Pooling {
        self.profile.pooling
    }

    /// Prefix put before queries (`"query: "` for e5).
    pub fn query_prefix(&self) -> &str {
        &self.profile.query_prefix
    }

    /// Prefix put before passages (`"passage: "` for e5).
    pub fn passage_prefix(&self) -> &str {
        &self.profile.passage_prefix
    }

    /// Requests waiting for the compute thread (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.dispatcher.queue_len()
    }
}

impl Embedder for TextEncoder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn count_tokens(&self, text: &str) -> CoreResult<usize> {
        Ok(self.tokenizer.count_tokens(text, EmbedKind::Passage)?)
    }

    fn embed(&self, texts: &[String], kind: EmbedKind) -> CoreResult<Vec<Vec<f32>>> {
        Ok(self.encode(texts, kind)?)
    }
}

/// CPU unless the crate was built with `cuda` or `metal` and such a device exists.
fn default_device() -> Result<Device, EmbedError> {
    #[cfg(feature = "cuda")]
    {
        return Ok(Device::cuda_if_available(0)?);
    }
    #[cfg(all(feature = "metal", not(feature = "cuda")))]
    {
        return Ok(Device::metal_if_available(0)?);
    }
    #[allow(unreachable_code)]
    Ok(Device::Cpu)
}
