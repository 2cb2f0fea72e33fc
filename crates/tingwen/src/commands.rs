//! One function per sub-command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tingwen_core::{AnswerMode, Hit, SearchFilter, SearchMode};
use tingwen_index::UpsertOutcome;
use tingwen_server::{AppService, AppState, SearchRequest, ServerConfig};

use crate::app::{App, ChatNeed};
use crate::cli::{Command, DocumentsAction, ModelsAction, ServeArgs};
use crate::config::Config;
use crate::models;

/// Runs a parsed command.
pub fn dispatch(command: Command, config: &Config) -> Result<ExitCode> {
    match command {
        Command::Ingest { paths } => ingest(config, &paths),
        Command::Serve(args) => serve(config, &args),
        Command::Search { k, json, query } => search(config, k, json, &query),
        Command::Ask {
            mode,
            k,
            json,
            question,
        } => ask(config, mode.into(), k, json, &question),
        Command::Eval {
            qa,
            unanswerable,
            json,
        } => eval(config, &qa, unanswerable.as_deref(), json),
        Command::Documents { action } => documents(config, action),
        Command::Models { action } => models_command(config, action),
        Command::Mcp => mcp(config),
    }
}

const TRANSCRIPT_EXTENSIONS: [&str; 6] = ["md", "markdown", "txt", "srt", "vtt", "json"];

/// Files to ingest: the files named, and transcript files under folders
/// (recursively, sorted, hidden entries skipped).
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .with_context(|| format!("listing {}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        !p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect();
                entries.sort();
                for entry in entries {
                    if entry.is_dir() {
                        stack.push(entry);
                    } else if entry.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        TRANSCRIPT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    }) {
                        files.push(entry);
                    }
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn ingest(config: &Config, paths: &[PathBuf]) -> Result<ExitCode> {
    let files = collect_files(paths)?;
    if files.is_empty() {
        bail!("no transcript files (.md .txt .srt .vtt .json) found in the given paths");
    }
    let app = App::load(config, ChatNeed::Skip)?;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let (mut added, mut unchanged, mut replaced) = (0, 0, 0);
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    for file in &files {
        let doc_id = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        bar.set_message(doc_id.clone());
        let result = std::fs::read(file)
            .with_context(|| format!("reading {}", file.display()))
            .and_then(|bytes| app.ingest(&doc_id, &bytes).map_err(anyhow::Error::from));
        match result {
            Ok(report) => {
                match report.outcome {
                    UpsertOutcome::Added => added += 1,
                    UpsertOutcome::Unchanged => unchanged += 1,
                    UpsertOutcome::Replaced => replaced += 1,
                }
                for warning in &report.warnings {
                    bar.println(format!("warning: {doc_id}: {warning}"));
                }
                tracing::debug!(doc_id, chunks = report.chunks, sentences = report.sentences, timings = ?report.timings_ms, "ingested");
            }
            Err(error) => failed.push((file.clone(), format!("{error:#}"))),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let stats = app.collection.stats()?;
    println!(
        "ingested {} file(s) in {:.1}s: {added} added, {unchanged} unchanged, {replaced} replaced, {} failed; collection: {} documents, {} chunks",
        files.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
        stats.documents,
        stats.chunks
    );
    for (file, reason) in &failed {
        println!("failed: {}: {reason}", file.display());
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn server_config(config: &Config) -> ServerConfig {
    ServerConfig {
        api_key: config.api_key.clone(),
        max_concurrent_generations: config.max_concurrent_generations,
        request_timeout: Duration::from_secs(config.request_timeout_secs),
        default_search_k: config.default_k,
        ..ServerConfig::default()
    }
}

fn serve(config: &Config, args: &ServeArgs) -> Result<ExitCode> {
    if !config.addr.ip().is_loopback() && config.api_key.is_none() && !args.insecure_no_auth {
        bail!(
            "refusing to serve on {} without an API key: pass --api-key (or TINGWEN_API_KEY), or --insecure-no-auth to accept the risk",
            config.addr
        );
    }
    let app: Arc<dyn AppService> = Arc::new(App::load(config, ChatNeed::IfAvailable)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let bound = listener.local_addr()?;
        let state = AppState::new(app, server_config(config));
        // The end-to-end tests read this line to learn the port.
        println!("listening on http://{bound}");
        std::io::stdout().flush().ok();
        tingwen_server::serve(listener, state, tingwen_server::shutdown_signal())
            .await
            .context("serving")
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct SearchBody<'a> {
    results: &'a [Hit],
}

fn search(config: &Config, k: Option<usize>, json: bool, query: &str) -> Result<ExitCode> {
    let app = App::load(config, ChatNeed::Skip)?;
    let request = SearchRequest {
        query: query.to_string(),
        k: k.unwrap_or(config.default_k),
        filter: SearchFilter::default(),
        mode: SearchMode::Hybrid,
    };
    let hits = app.search(&request)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&SearchBody { results: &hits })?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        println!("no results");
    }
    for (i, hit) in hits.iter().enumerate() {
        let mut where_ = vec![
            hit.doc_id.clone(),
            format!("bytes {}–{}", hit.start, hit.end),
        ];
        if let Some(speaker) = &hit.speaker {
            where_.push(speaker.clone());
        }
        if let Some(time) = &hit.time {
            where_.push(time.format_range());
        }
        println!(
            "{}. {} (score {:.3})\n   {}",
            i + 1,
            hit.title,
            hit.score,
            where_.join(" · ")
        );
        println!("   {}\n", one_line(&hit.text, 300));
    }
    Ok(ExitCode::SUCCESS)
}

fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max_chars {
        format!("{}…", flat.chars().take(max_chars).collect::<String>())
    } else {
        flat
    }
}

fn ask(
    config: &Config,
    mode: AnswerMode,
    k: Option<usize>,
    json: bool,
    question: &str,
) -> Result<ExitCode> {
    let chat = if mode == AnswerMode::Extractive {
        ChatNeed::Skip
    } else {
        ChatNeed::IfAvailable
    };
    let app = App::load(config, chat)?;
    let request = tingwen_rag::AskRequest {
        question: question.to_string(),
        k,
        mode,
        ..Default::default()
    };
    let answer = app.engine.ask(&request, &mut |_| true)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}\n", answer.answer);
    if let Some(reason) = &answer.mode_reason {
        println!("({:?}: {reason})\n", answer.mode);
    }
    if !answer.unsupported.is_empty() {
        println!("Not supported by the cited passages:");
        for sentence in &answer.unsupported {
            println!("  - {sentence}");
        }
        println!();
    }
    for c in &answer.citations {
        let mut meta = vec![c.doc_id.clone()];
        if let Some(speaker) = &c.speaker {
            meta.push(speaker.clone());
        }
        if let Some(time) = &c.time {
            meta.push(time.format_start());
        }
        println!("[{}] {} ({})", c.n, c.title, meta.join(" · "));
        println!("    {}", one_line(&c.text, 240));
        if let Some(url) = &c.url {
            println!("    {url}");
        }
    }
    if answer.refused && !answer.related.is_empty() {
        println!("Related passages:");
        for hit in &answer.related {
            println!(
                "  - {} ({}): {}",
                hit.title,
                hit.doc_id,
                one_line(&hit.text, 160)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval(config: &Config, qa: &Path, unanswerable: Option<&Path>, json: bool) -> Result<ExitCode> {
    let app = App::load(config, ChatNeed::Skip)?;
    let mut questions = tingwen_rag::eval::load_questions(qa)?;
    if let Some(path) = unanswerable {
        questions.extend(tingwen_rag::eval::load_questions(path)?);
    }
    let retrieval = tingwen_rag::eval::retrieval_eval(&app.engine, &questions)?;
    let collection = app.collection.clone();
    let source = move |doc_id: &str| collection.document(doc_id).ok().flatten().map(|d| d.source);
    let answers =
        tingwen_rag::eval::answer_eval(&app.engine, &questions, AnswerMode::Extractive, &source)?;
    if json {
        let body = serde_json::json!({ "retrieval": retrieval, "extractive": answers });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("{}", retrieval.table());
        println!("{}", answers.table());
    }
    Ok(ExitCode::SUCCESS)
}

fn documents(config: &Config, action: DocumentsAction) -> Result<ExitCode> {
    let app = App::load(config, ChatNeed::Skip)?;
    match action {
        DocumentsAction::List { json } => {
            let docs = app.list_documents()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "documents": docs }))?
                );
            } else if docs.is_empty() {
                println!("no documents");
            } else {
                for d in docs {
                    println!(
                        "{}\t{} chunks\t{} bytes\t{}",
                        d.doc_id, d.chunks, d.bytes, d.meta.title
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DocumentsAction::Delete { id } => {
            if app.delete_document(&id)? {
                println!("deleted {id}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no document {id}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn models_command(config: &Config, action: ModelsAction) -> Result<ExitCode> {
    match action {
        ModelsAction::List => {
            let rows = models::list(None, &config.models_dir)?;
            for row in rows {
                let state = match (row.present, row.checksum_ok) {
                    (false, _) => "missing",
                    (true, Some(true)) => "verified",
                    (true, Some(false)) => "CHECKSUM MISMATCH",
                    (true, None) => "present (unverified)",
                };
                println!(
                    "{:<28} {:<9} {:<22} {:>8.1} MB  {}",
                    row.id,
                    format!("{:?}", row.kind).to_lowercase(),
                    state,
                    row.size as f64 / 1e6,
                    row.path.display()
                );
                for problem in &row.problems {
                    println!("    {problem}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Pull { id } => {
            let catalog = models::Catalog::load(None)?;
            let dir = models::pull(&catalog, &id, &config.models_dir)?;
            println!("{id} ready in {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Import => {
            models::import(None, &config.models_dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn mcp(config: &Config) -> Result<ExitCode> {
    let app: Arc<dyn AppService> = Arc::new(App::load(config, ChatNeed::IfAvailable)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(tingwen_server::mcp::serve_stdio(app))
        .context("serving MCP over stdio")?;
    Ok(ExitCode::SUCCESS)
}
