//! Chunk sizes measured with the real encoder tokenizer
//! (`models/multilingual-e5-small/tokenizer.json`): no chunk of the demo
//! corpus may exceed the limit, and none exceeds the model's 512 tokens.
#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use common::{check_invariants, corpus, repo_root, uncovered_text};
use tingwen_transcript::{load, ChunkOptions};
use tokenizers::Tokenizer;

/// The encoder's maximum input length (special tokens included).
const MODEL_LIMIT: usize = 512;

fn tokenizer() -> Option<Tokenizer> {
    let path = repo_root().join("models/multilingual-e5-small/tokenizer.json");
    if std::env::var("TINGWEN_SKIP_MODEL_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("TINGWEN_SKIP_MODEL_TESTS=1: skipping the real-tokenizer test");
        return None;
    }
    assert!(
        path.exists(),
        "{} is missing: fetch the multilingual-e5-small model (or set TINGWEN_SKIP_MODEL_TESTS=1)",
        path.display()
    );
    Some(
        Tokenizer::from_file(&path)
            .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display())),
    )
}

#[test]
fn no_chunk_exceeds_the_encoder_limit() {
    let Some(tokenizer) = tokenizer() else { return };
    // What the encoder will see: the e5 passage prefix plus special tokens.
    let count = |text: &str| {
        tokenizer
            .encode(format!("passage: {text}"), true)
            .map(|e| e.len())
            .unwrap_or(usize::MAX)
    };
    let options = ChunkOptions::default();
    let mut sizes = Vec::new();
    for (name, bytes) in corpus() {
        let t = load(&name, &bytes, &options, &count).unwrap();
        check_invariants(&t, &options, &count);
        assert!(uncovered_text(&t).is_empty(), "{name}: text lost");
        for c in &t.chunks {
            let n = count(&c.embed_text);
            assert!(
                n <= options.max_tokens && n <= MODEL_LIMIT,
                "{name}: chunk {} has {n} tokens",
                c.ordinal
            );
            sizes.push(n);
        }
    }
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    eprintln!(
        "{} chunks; median {median} tokens, max {:?}",
        sizes.len(),
        sizes.last()
    );
    // Chunks aim at the target: most are neither tiny nor over it by much.
    assert!(
        median >= options.target_tokens / 2 && median <= options.target_tokens + 40,
        "median {median}"
    );
}
