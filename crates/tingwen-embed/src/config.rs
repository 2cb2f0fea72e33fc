//! What an encoder model directory says about the model: architecture from
//! `config.json`, pooling and prefixes from the model family (overridable by
//! sentence-transformers side files when present).

use std::path::Path;

use serde::Deserialize;

use crate::EmbedError;

/// Architecture family, from `config.json`'s `model_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFamily {
    /// BERT (e.g. multilingual-e5-small): positions start at 0.
    Bert,
    /// XLM-RoBERTa (e.g. BAAI/bge-m3): positions start at `pad_token_id + 1`.
    XlmRoberta,
}

/// How token vectors become one text vector (always followed by L2 normalisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over every real token, special tokens included, padding excluded (e5).
    Mean,
    /// The first token's vector (bge-m3).
    Cls,
}

/// The subset of a Hugging Face `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct ModelConfig {
    /// `bert`, `xlm-roberta`, ...
    pub model_type: String,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Rows of the position embedding table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Rows of the word embedding table.
    pub vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id (also the XLM-R position offset).
    #[serde(default)]
    pub pad_token_id: u32,
    /// Activation of the feed-forward layer; only exact GELU is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".to_string()
}

impl ModelConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, EmbedError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmbedError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let config: ModelConfig = serde_json::from_str(&text).map_err(|e| EmbedError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), EmbedError> {
        let bad = |reason: String| EmbedError::Config {
            path: path.display().to_string(),
            reason,
        };
        self.family()?;
        if self.hidden_size == 0
            || self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a positive multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_python") {
            return Err(bad(format!(
                "hidden_act {:?} is not supported (only exact gelu)",
                self.hidden_act
            )));
        }
        if self.max_tokens() < 3 {
            return Err(bad("max_position_embeddings is too small".to_string()));
        }
        Ok(())
    }

    /// The architecture family.
    pub fn family(&self) -> Result<ModelFamily, EmbedError> {
        match self
            .model_type
            .to_ascii_lowercase()
            .replace('_', "-")
            .as_str()
        {
            "bert" => Ok(ModelFamily::Bert),
            "xlm-roberta" | "roberta" => Ok(ModelFamily::XlmRoberta),
            other => Err(EmbedError::UnsupportedModel(other.to_string())),
        }
    }

    /// First position id of a sequence (RoBERTa skips `pad_token_id + 1` rows).
    pub fn position_offset(&self) -> usize {
        match self.family() {
            Ok(ModelFamily::XlmRoberta) => self.pad_token_id as usize + 1,
            _ => 0,
        }
    }

    /// Longest sequence (special tokens included) one forward pass takes.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }
}

/// Pooling and prefixes of a model, decided from its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelProfile {
    /// Pooling.
    pub pooling: Pooling,
    /// Prepended to queries.
    pub query_prefix: String,
    /// Prepended to passages.
    pub passage_prefix: String,
}

#[derive(Deserialize)]
struct SentenceTransformersPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

impl ModelProfile {
    /// Picks pooling and prefixes. Defaults come from the family and the
    /// model id (e5 models: mean pooling, `query: `/`passage: `; XLM-R models
    /// such as bge-m3: CLS, no prefixes); a sentence-transformers
    /// `1_Pooling/config.json` or `config_sentence_transformers.json` `prompts`
    /// in the directory overrides them.
    pub fn detect(model_dir: &Path, model_id: &str, family: ModelFamily) -> Self {
        let is_e5 = model_id.to_ascii_lowercase().contains("e5");
        let mut profile = match (family, is_e5) {
            (_, true) => ModelProfile {
                pooling: Pooling::Mean,
                query_prefix: "query: ".to_string(),
                passage_prefix: "passage: ".to_string(),
            },
            (ModelFamily::XlmRoberta, false) => ModelProfile {
                pooling: Pooling::Cls,
                query_prefix: String::new(),
                passage_prefix: String::new(),
            },
            (ModelFamily::Bert, false) => ModelProfile {
                pooling: Pooling::Mean,
                query_prefix: String::new(),
                passage_prefix: String::new(),
            },
        };
        let pooling_file = model_dir.join("1_Pooling").join("config.json");
        if let Some(p) = read_json::<SentenceTransformersPooling>(&pooling_file) {
            if p.pooling_mode_cls_token {
                profile.pooling = Pooling::Cls;
            } else if p.pooling_mode_mean_tokens {
                profile.pooling = Pooling::Mean;
            }
        }
        let st_file = model_dir.join("config_sentence_transformers.json");
        if let Some(st) = read_json::<SentenceTransformersConfig>(&st_file) {
            if let Some(q) = st.prompts.get("query") {
                profile.query_prefix = q.clone();
            }
            if let Some(p) = st
                .prompts
                .get("passage")
                .or_else(|| st.prompts.get("document"))
            {
                profile.passage_prefix = p.clone();
            }
        }
        profile
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("ignoring malformed {}: {e}", path.display());
            None
        }
    }
}
