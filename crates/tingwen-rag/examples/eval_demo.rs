//! Ingests the demo corpus with the real encoder into a collection (kept
//! between runs, so only the first run pays for embedding) and prints the
//! retrieval and answer evals. Used to tune `EngineConfig`.
//!
//! ```text
//! cargo run -p tingwen-rag --example eval_demo -- [COLLECTION_DIR] [CONFIG_JSON]
//! ```
//! `CONFIG_JSON` overrides `EngineConfig` fields, e.g. `{"sentence_rerank_weight":0}`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tingwen_core::{AnswerMode, Embedder};
use tingwen_embed::{EncoderOptions, TextEncoder};
use tingwen_index::{Collection, EmbeddingSpec};
use tingwen_rag::eval::{
    answer_eval, load_questions, relevance_profile, retrieval_eval, suggest_refusal_threshold,
};
use tingwen_rag::{ingest_bytes, Engine, EngineConfig, IngestOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tmp/rag-eval-collection"));
    let mut config_value = serde_json::to_value(EngineConfig::default())?;
    if let Some(overrides) = args.get(1) {
        let o: serde_json::Value = serde_json::from_str(overrides)?;
        for (k, v) in o.as_object().cloned().unwrap_or_default() {
            config_value[k] = v;
        }
    }
    let config: EngineConfig = serde_json::from_value(config_value)?;

    let t = Instant::now();
    let encoder = Arc::new(TextEncoder::load(
        &root.join("models/multilingual-e5-small"),
        EncoderOptions::default(),
    )?);
    eprintln!("encoder loaded in {:.1}s", t.elapsed().as_secs_f64());
    let spec = EmbeddingSpec {
        model_id: encoder.model_id().to_string(),
        dim: encoder.dim(),
    };
    let collection = Arc::new(Collection::open(&dir, spec)?);
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("data"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for f in &files {
        let bytes = std::fs::read(f)?;
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let report = ingest_bytes(
            &collection,
            encoder.as_ref(),
            &name,
            &bytes,
            &IngestOptions::default(),
        )?;
        eprintln!(
            "{name}: {:?} {} chunks {} sentences {:?}",
            report.outcome, report.chunks, report.sentences, report.timings_ms
        );
    }
    let engine = Engine::new(collection.clone(), encoder.clone(), None, config);
    let mut questions = load_questions(&PathBuf::from("/work/shared/eval/dev.jsonl"))?;
    let unanswerable = load_questions(&root.join("eval/unanswerable.jsonl"))?;

    let t = Instant::now();
    let report = retrieval_eval(&engine, &questions)?;
    println!("{}", report.table());
    eprintln!("retrieval eval in {:.1}s", t.elapsed().as_secs_f64());
    let engine_ranks = &report.system("engine").unwrap().ranks;
    let misses: Vec<String> = engine_ranks
        .iter()
        .filter(|(_, r)| r.is_none_or(|r| r > 1))
        .map(|(id, r)| format!("{id}:{r:?}"))
        .collect();
    println!("engine not at rank 1: {}", misses.join(" "));

    questions.extend(unanswerable);
    let rows = relevance_profile(&engine, &questions)?;
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| a.relevance.total_cmp(&b.relevance));
    let line: Vec<String> = sorted
        .iter()
        .map(|r| {
            format!(
                "{}{}:{:.3}",
                if r.answerable { "+" } else { "-" },
                r.id,
                r.relevance
            )
        })
        .collect();
    println!("relevance: {}", line.join(" "));
    println!(
        "suggested threshold (≤5% answerable refused): {:?}",
        suggest_refusal_threshold(&rows, 0.05)
    );

    let source = |id: &str| collection.document(id).ok().flatten().map(|d| d.source);
    let t = Instant::now();
    let answers = answer_eval(&engine, &questions, AnswerMode::Extractive, &source)?;
    let per_q = t.elapsed().as_secs_f64() * 1000.0 / questions.len() as f64;
    println!("{}", answers.table());
    println!("extractive ask: {per_q:.1} ms per question (mean, incl. eval bookkeeping)");
    let wrong: Vec<String> = answers
        .rows
        .iter()
        .filter(|r| (r.answerable && !r.cites_gold) || (!r.answerable && !r.refused))
        .map(|r| r.id.clone())
        .collect();
    println!("answer misses: {}", wrong.join(" "));
    Ok(())
}
