//! Reading a GGUF file: typed metadata access, the architecture switch, and
//! re-quantisation of weight types that candle has no fast CPU kernel for.

use std::collections::HashMap;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

use candle_core::quantized::gguf_file::{self, TensorInfo, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::{
    quantized_gemma3, quantized_llama, quantized_qwen2, quantized_qwen3,
};

use crate::LlmError;

/// GGUF key/value metadata with typed, error-reporting getters.
#[derive(Debug, Clone)]
pub struct Metadata(HashMap<String, Value>);

fn wrong_type(key: &str, expected: &str) -> LlmError {
    LlmError::InvalidModel(format!("metadata `{key}` is not {expected}"))
}

fn value_to_u32(value: &Value) -> Option<u32> {
    match value {
        Value::U8(v) => Some(u32::from(*v)),
        Value::I8(v) => u32::try_from(*v).ok(),
        Value::U16(v) => Some(u32::from(*v)),
        Value::I16(v) => u32::try_from(*v).ok(),
        Value::U32(v) => Some(*v),
        Value::I32(v) => u32::try_from(*v).ok(),
        Value::U64(v) => u32::try_from(*v).ok(),
        Value::I64(v) => u32::try_from(*v).ok(),
        _ => None,
    }
}

impl Metadata {
    /// Wraps a metadata map.
    pub fn new(map: HashMap<String, Value>) -> Self {
        Metadata(map)
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A required string.
    pub fn string(&self, key: &str) -> Result<String, LlmError> {
        self.optional_string(key)?
            .ok_or_else(|| LlmError::InvalidModel(format!("missing metadata `{key}`")))
    }

    /// An optional string.
    pub fn optional_string(&self, key: &str) -> Result<Option<String>, LlmError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong_type(key, "a string")),
        }
    }

    /// An optional unsigned integer (any integer width).
    pub fn optional_u32(&self, key: &str) -> Result<Option<u32>, LlmError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => value_to_u32(v)
                .map(Some)
                .ok_or_else(|| wrong_type(key, "an unsigned integer")),
        }
    }

    /// An optional boolean.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, LlmError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(key, "a boolean")),
        }
    }

    /// A required array of strings.
    pub fn string_array(&self, key: &str) -> Result<Vec<String>, LlmError> {
        match self.0.get(key) {
            None => Err(LlmError::InvalidModel(format!("missing metadata `{key}`"))),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(wrong_type(key, "an array of strings")),
                })
                .collect(),
            Some(_) => Err(wrong_type(key, "an array")),
        }
    }

    /// An optional array of unsigned integers.
    pub fn optional_u32_array(&self, key: &str) -> Result<Option<Vec<u32>>, LlmError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| value_to_u32(v).ok_or_else(|| wrong_type(key, "an integer array")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong_type(key, "an array")),
        }
    }

    /// An optional array of floats.
    pub fn optional_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>, LlmError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::F32(f) => Ok(*f),
                    Value::F64(f) => Ok(*f as f32),
                    _ => Err(wrong_type(key, "a float array")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong_type(key, "an array")),
        }
    }
}

/// Model families this crate can run, named as in `general.architecture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 2/3, SmolLM2 and other `llama`-keyed models.
    Llama,
    /// Qwen2 / Qwen2.5.
    Qwen2,
    /// Qwen3.
    Qwen3,
    /// Gemma 3.
    Gemma3,
}

impl Architecture {
    /// Maps `general.architecture` onto a supported family.
    pub fn from_name(name: &str) -> Result<Self, LlmError> {
        match name {
            "llama" => Ok(Architecture::Llama),
            "qwen2" => Ok(Architecture::Qwen2),
            "qwen3" => Ok(Architecture::Qwen3),
            "gemma3" => Ok(Architecture::Gemma3),
            other => Err(LlmError::UnsupportedArchitecture(other.to_string())),
        }
    }

    /// The metadata key prefix (`llama.context_length`...).
    pub fn key_prefix(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Gemma3 => "gemma3",
        }
    }
}

/// The transformer weights of one supported family, with their KV cache.
pub enum Weights {
    /// `quantized_llama`.
    Llama(Box<quantized_llama::ModelWeights>),
    /// `quantized_qwen2`.
    Qwen2(Box<quantized_qwen2::ModelWeights>),
    /// `quantized_qwen3`.
    Qwen3(Box<quantized_qwen3::ModelWeights>),
    /// `quantized_gemma3`.
    Gemma3(Box<quantized_gemma3::ModelWeights>),
}

impl Weights {
    /// Runs `tokens` at positions `index_pos..`, extending the KV cache, and
    /// returns the logits of the last position as a `[vocab]` f32 tensor.
    pub fn forward(&mut self, tokens: &[u32], index_pos: usize) -> Result<Tensor, LlmError> {
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        let logits = match self {
            Weights::Llama(m) => m.forward(&input, index_pos)?,
            Weights::Qwen2(m) => m.forward(&input, index_pos)?,
            Weights::Qwen3(m) => m.forward(&input, index_pos)?,
            Weights::Gemma3(m) => m.forward(&input, index_pos)?,
        };
        // Families differ in whether they keep the sequence axis.
        let logits = logits.flatten_all()?.to_dtype(candle_core::DType::F32)?;
        Ok(logits)
    }

    /// Drops the KV cache before an unrelated sequence.
    pub fn clear_kv_cache(&mut self) {
        match self {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
            // Gemma 3 has no explicit reset; a forward at position 0 replaces its cache.
            Weights::Gemma3(_) => {}
        }
    }
}

/// Weight types whose candle CPU dot product is scalar code: they are
/// re-quantised to Q8_0 (SIMD kernels, error far below the 4/5-bit source's).
fn needs_requantisation(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// A GGUF file read into memory.
pub struct LoadedGguf {
    /// Parsed header.
    pub content: gguf_file::Content,
    /// The file's bytes (plus any re-quantised tensors appended).
    pub bytes: Vec<u8>,
}

impl LoadedGguf {
    /// Reads and parses a GGUF file.
    pub fn read(path: &Path) -> Result<Self, LlmError> {
        let bytes = std::fs::read(path).map_err(|source| LlmError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(bytes)
    }

    /// Parses GGUF bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, LlmError> {
        let mut cursor = Cursor::new(&bytes);
        let content = gguf_file::Content::read(&mut cursor)
            .map_err(|e| LlmError::InvalidModel(e.to_string()))?;
        Ok(LoadedGguf { content, bytes })
    }

    /// Typed view of the metadata.
    pub fn metadata(&self) -> Metadata {
        Metadata::new(self.content.metadata.clone())
    }

    /// Re-quantises slow weight types to Q8_0 in place (appending the new data
    /// to the buffer and pointing the tensor infos at it). Returns how many
    /// tensors changed.
    pub fn requantise_slow_types(&mut self) -> Result<usize, LlmError> {
        let mut names: Vec<String> = self
            .content
            .tensor_infos
            .iter()
            .filter(|(_, info)| {
                needs_requantisation(info.ggml_dtype)
                    && info.shape.dims().last().is_some_and(|d| d % 32 == 0)
            })
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        for name in &names {
            let qtensor = {
                let mut cursor = Cursor::new(&self.bytes);
                self.content.tensor(&mut cursor, name, &Device::Cpu)?
            };
            let converted = QTensor::quantize(&qtensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
            let data = converted.data()?;
            // Keep the new tensor aligned like the rest of the data section.
            let padding = (32 - self.bytes.len() % 32) % 32;
            self.bytes.extend(std::iter::repeat_n(0u8, padding));
            let offset = self.bytes.len() as u64 - self.content.tensor_data_offset;
            self.bytes.extend_from_slice(&data);
            let shape = qtensor.shape().clone();
            self.content.tensor_infos.insert(
                name.clone(),
                TensorInfo {
                    ggml_dtype: GgmlDType::Q8_0,
                    shape,
                    offset,
                },
            );
        }
        Ok(names.len())
    }

    /// Builds the transformer for `arch`, consuming the file.
    pub fn into_weights(self, arch: Architecture) -> Result<Weights, LlmError> {
        let LoadedGguf { content, bytes } = self;
        let mut reader = Cursor::new(bytes);
        build_weights(arch, content, &mut reader)
    }
}

fn build_weights<R: Read + Seek>(
    arch: Architecture,
    content: gguf_file::Content,
    reader: &mut R,
) -> Result<Weights, LlmError> {
    let device = Device::Cpu;
    Ok(match arch {
        Architecture::Llama => Weights::Llama(Box::new(quantized_llama::ModelWeights::from_gguf(
            content, reader, &device,
        )?)),
        Architecture::Qwen2 => Weights::Qwen2(Box::new(quantized_qwen2::ModelWeights::from_gguf(
            content, reader, &device,
        )?)),
        Architecture::Qwen3 => Weights::Qwen3(Box::new(quantized_qwen3::ModelWeights::from_gguf(
            content, reader, &device,
        )?)),
        Architecture::Gemma3 => Weights::Gemma3(Box::new(
            quantized_gemma3::ModelWeights::from_gguf(content, reader, &device)?,
        )),
    })
}
