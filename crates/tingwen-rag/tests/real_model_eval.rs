//! Real-model eval: ingests `data/` with multilingual-e5-small into a temp
//! collection and runs the retrieval and extractive answer evals on
//! `shared/eval/dev.jsonl` plus `eval/unanswerable.jsonl`, asserting the
//! floors measured when the engine was tuned (quality, not timing).
//!
//! Needs `models/multilingual-e5-small`; set `TINGWEN_SKIP_MODEL_TESTS=1` to skip.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use tingwen_core::{AnswerMode, Embedder};
use tingwen_embed::{EncoderOptions, TextEncoder};
use tingwen_index::{Collection, EmbeddingSpec};
use tingwen_rag::eval::{answer_eval, load_questions, retrieval_eval};
use tingwen_rag::{ingest_bytes, Engine, EngineConfig, IngestOptions, UpsertOutcome};

#[test]
#[ignore = "slow: embeds the demo corpus (~9 min on 2 cores); run with `cargo test -p tingwen-rag -- --ignored`"]
fn demo_corpus_meets_the_measured_quality_floors() {
    if std::env::var("TINGWEN_SKIP_MODEL_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("skipping: TINGWEN_SKIP_MODEL_TESTS=1");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = root.join("models/multilingual-e5-small");
    assert!(
        model.join("model.safetensors").is_file(),
        "model missing: {} (run scripts/fetch-models.sh, or set TINGWEN_SKIP_MODEL_TESTS=1)",
        model.display()
    );
    let dev = root.join("../shared/eval/dev.jsonl");
    let dev = if dev.is_file() {
        dev
    } else {
        PathBuf::from("/work/shared/eval/dev.jsonl")
    };
    assert!(dev.is_file(), "dev questions missing: {}", dev.display());

    let encoder = Arc::new(TextEncoder::load(&model, EncoderOptions::default()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let spec = EmbeddingSpec {
        model_id: encoder.model_id().to_string(),
        dim: encoder.dim(),
    };
    let collection = Arc::new(Collection::open(dir.path(), spec).unwrap());
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(f).unwrap();
        let report = ingest_bytes(
            &collection,
            encoder.as_ref(),
            &name,
            &bytes,
            &IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(report.outcome, UpsertOutcome::Added);
        assert!(report.sentences > 0);
        // Re-ingesting unchanged bytes is a no-op.
        let again = ingest_bytes(
            &collection,
            encoder.as_ref(),
            &name,
            &bytes,
            &IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(again.outcome, UpsertOutcome::Unchanged);
    }

    let engine = Engine::new(collection.clone(), encoder, None, EngineConfig::default());
    let mut questions = load_questions(&dev).unwrap();
    let retrieval = retrieval_eval(&engine, &questions).unwrap();
    println!("{}", retrieval.table());
    let e = retrieval.system("engine").unwrap();
    assert!(
        e.overall.recall_at_5 >= FLOOR_R5,
        "R@5 {}",
        e.overall.recall_at_5
    );
    assert!(
        e.by_language["en"].recall_at_5 >= FLOOR_R5_EN,
        "en R@5 {}",
        e.by_language["en"].recall_at_5
    );
    assert!(
        e.overall.mrr_at_10 >= FLOOR_MRR,
        "MRR@10 {}",
        e.overall.mrr_at_10
    );

    questions.extend(load_questions(&root.join("eval/unanswerable.jsonl")).unwrap());
    let source = |id: &str| collection.document(id).ok().flatten().map(|d| d.source);
    let answers = answer_eval(&engine, &questions, AnswerMode::Extractive, &source).unwrap();
    println!("{}", answers.table());
    assert_eq!(answers.exact_span_share, 1.0);
    assert!(
        answers.citations_contain_gold >= FLOOR_GOLD,
        "{}",
        answers.citations_contain_gold
    );
    assert!(
        answers.refusal_rate_unanswerable >= FLOOR_REFUSE,
        "{}",
        answers.refusal_rate_unanswerable
    );
    assert!(
        answers.refusal_rate_answerable <= CEIL_REFUSE_ANSWERABLE,
        "{}",
        answers.refusal_rate_answerable
    );
}

// Floors: measured with the default config (examples/eval_demo.rs, 2026-11-24:
// engine R@5 0.958, en R@5 0.875, MRR@10 0.758; extractive citations contain
// gold 0.833; refusals 0.333 unanswerable / 0.042 answerable), rounded down.
// The refusal floor is far below the 0.9 target: see the crate's known gaps.
const FLOOR_R5: f64 = 0.95;
const FLOOR_R5_EN: f64 = 0.85;
const FLOOR_MRR: f64 = 0.75;
const FLOOR_GOLD: f64 = 0.80;
const FLOOR_REFUSE: f64 = 0.30;
const CEIL_REFUSE_ANSWERABLE: f64 = 0.05;
