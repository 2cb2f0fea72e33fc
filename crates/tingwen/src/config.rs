//! Configuration: command-line flags, `TINGWEN_…` environment variables and
//! an optional TOML file, merged into one [`Config`] in that order of
//! precedence (flag > env > file > default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// Settings that may come from the config file. Every field is optional; a
/// missing one falls back to the flag/env value or the built-in default.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub models_dir: Option<PathBuf>,
    pub embed_model: Option<String>,
    pub chat_model: Option<String>,
    pub addr: Option<String>,
    pub api_key: Option<String>,
    pub max_concurrent_generations: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub default_k: Option<usize>,
}

impl FileConfig {
    /// Reads a TOML config file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// The merged configuration passed down to every command.
#[derive(Clone)]
pub struct Config {
    /// Where the collection lives.
    pub data_dir: PathBuf,
    /// Where downloaded/imported models live.
    pub models_dir: PathBuf,
    /// Embedding model: a catalogue id or a local directory.
    pub embed_model: String,
    /// Chat model: a catalogue id, a GGUF path, or "none" for extractive only.
    pub chat_model: String,
    /// Address `serve` binds.
    pub addr: SocketAddr,
    /// Bearer token required by the server (never logged).
    pub api_key: Option<String>,
    /// Concurrent generations before the server answers 429.
    pub max_concurrent_generations: usize,
    /// Per-request timeout for the HTTP server.
    pub request_timeout_secs: u64,
    /// Default number of passages for search/ask.
    pub default_k: usize,
}

impl std::fmt::Debug for Config {
    // Hand-written so the API key can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("models_dir", &self.models_dir)
            .field("embed_model", &self.embed_model)
            .field("chat_model", &self.chat_model)
            .field("addr", &self.addr)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field(
                "max_concurrent_generations",
                &self.max_concurrent_generations,
            )
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("default_k", &self.default_k)
            .finish()
    }
}

/// Built-in defaults.
pub const DEFAULT_DATA_DIR: &str = ".tingwen";
pub const DEFAULT_MODELS_DIR: &str = "models";
pub const DEFAULT_EMBED_MODEL: &str = "multilingual-e5-small";
pub const DEFAULT_CHAT_MODEL: &str = "smollm2-135m-instruct";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Values given on the command line or in the environment (clap fills
/// these): the same optional settings as the file, taking precedence over it.
pub type Overrides = FileConfig;

impl Config {
    /// Merges flags/env over the file over the defaults.
    pub fn merge(over: Overrides, file: FileConfig) -> Result<Config> {
        let addr_text = over
            .addr
            .or(file.addr)
            .unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let addr: SocketAddr = addr_text.parse().with_context(|| {
            format!("invalid address {addr_text:?} (expected e.g. 127.0.0.1:8080)")
        })?;
        let default_k = over.default_k.or(file.default_k).unwrap_or(8);
        anyhow::ensure!(
            (1..=100).contains(&default_k),
            "default k must be between 1 and 100"
        );
        Ok(Config {
            data_dir: over
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            models_dir: over
                .models_dir
                .or(file.models_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MODELS_DIR)),
            embed_model: over
                .embed_model
                .or(file.embed_model)
                .unwrap_or_else(|| DEFAULT_EMBED_MODEL.to_string()),
            chat_model: over
                .chat_model
                .or(file.chat_model)
                .unwrap_or_else(|| DEFAULT_CHAT_MODEL.to_string()),
            addr,
            api_key: over.api_key.or(file.api_key).filter(|k| !k.is_empty()),
            max_concurrent_generations: over
                .max_concurrent_generations
                .or(file.max_concurrent_generations)
                .unwrap_or(2)
                .max(1),
            request_timeout_secs: over
                .request_timeout_secs
                .or(file.request_timeout_secs)
                .unwrap_or(120),
            default_k,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_local_and_safe() {
        let config = Config::merge(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from(".tingwen"));
        assert_eq!(config.models_dir, PathBuf::from("models"));
        assert_eq!(config.embed_model, "multilingual-e5-small");
        assert_eq!(config.chat_model, "smollm2-135m-instruct");
        assert!(config.addr.ip().is_loopback());
        assert_eq!(config.addr.port(), 8080);
        assert!(config.api_key.is_none());
        assert_eq!(config.default_k, 8);
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let file: FileConfig =
            toml::from_str("addr = \"127.0.0.1:9000\"\ndefault_k = 5\napi_key = \"from-file\"")
                .unwrap();
        let over = Overrides {
            default_k: Some(3),
            ..Overrides::default()
        };
        let config = Config::merge(over, file).unwrap();
        assert_eq!(config.addr.port(), 9000);
        assert_eq!(config.default_k, 3);
        assert_eq!(config.api_key.as_deref(), Some("from-file"));
    }

    #[test]
    fn api_key_never_printed() {
        let over = Overrides {
            api_key: Some("s3cret".into()),
            ..Overrides::default()
        };
        let config = Config::merge(over, FileConfig::default()).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let over = Overrides {
            addr: Some("not an address".into()),
            ..Overrides::default()
        };
        let err = Config::merge(over, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("invalid address"));
        assert!(toml::from_str::<FileConfig>("unknown_key = 1").is_err());
    }
}
