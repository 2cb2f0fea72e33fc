//! The `tingwen` command-line tool: ingest transcripts, search, ask, serve
//! the web UI / JSON / OpenAI-compatible / MCP APIs, evaluate, manage models.

mod app;
mod cli;
mod commands;
mod config;
mod models;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::{Config, FileConfig};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Mcp));
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries results, and for `mcp` the protocol).
fn init_logging(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TINGWEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},hnsw_rs=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    let file = match &cli.global.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let config = Config::merge(cli.overrides(), file)?;
    commands::dispatch(cli.command, &config)
}
