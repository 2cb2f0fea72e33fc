//! Fast tests on tiny random models: the candle encoder against a plain-loop
//! reference, padding/batching invariance, windowing, both families, the
//! quantised paths, concurrency and odd inputs.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{reference_vector, write_tiny_model, Kind, TinyModel};
use tingwen_core::{CoreError, EmbedKind, Embedder};
use tingwen_embed::{
    cosine, EmbedError, EncoderOptions, ModelFamily, Pooling, Precision, TextEncoder,
};

struct Fixture {
    _dir: tempfile::TempDir,
    model: TinyModel,
    encoder: TextEncoder,
}

fn fixture(kind: Kind, max_tokens: usize, options: EncoderOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let name = match kind {
        Kind::E5 => "tiny-e5",
        Kind::XlmR => "tiny-xlmr",
    };
    let model_dir = dir.path().join(name);
    let model = write_tiny_model(&model_dir, kind, max_tokens, 7);
    let encoder = TextEncoder::load(&model_dir, options).unwrap();
    Fixture {
        _dir: dir,
        model,
        encoder,
    }
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

/// The reference vector for a text, computed from the encoder's own windows.
fn expected(f: &Fixture, text: &str, kind: EmbedKind) -> Vec<f32> {
    let ids = f.encoder.token_ids(text, kind).unwrap();
    let content = &ids[1..ids.len() - 1];
    let window = f.model.max_tokens - 2;
    let mut windows = Vec::new();
    let mut weights = Vec::new();
    for piece in content.chunks(window) {
        let mut w = vec![0u32];
        w.extend_from_slice(piece);
        w.push(2);
        windows.push(w);
        weights.push(piece.len());
    }
    reference_vector(&f.model, &windows, &weights)
}

const TEXTS: &[&str] = &[
    "hello world",
    "what did the world say about 停电 ?",
    "你好世界",
    "a",
    "the world , the world . hello hello what about the 车 路 口 ?",
];

#[test]
fn e5_matches_the_reference_forward_pass() {
    let f = fixture(Kind::E5, 64, EncoderOptions::default());
    assert_eq!(f.encoder.family(), ModelFamily::Bert);
    assert_eq!(f.encoder.pooling(), Pooling::Mean);
    assert_eq!(f.encoder.query_prefix(), "query: ");
    for kind in [EmbedKind::Query, EmbedKind::Passage] {
        let got = f.encoder.embed(&strings(TEXTS), kind).unwrap();
        for (text, vector) in TEXTS.iter().zip(&got) {
            let want = expected(&f, text, kind);
            let cos = cosine(vector, &want);
            assert!(cos > 0.99999, "{text:?} {kind:?}: cosine {cos}");
            let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        }
    }
}

#[test]
fn prefixes_and_special_tokens_follow_the_model() {
    let f = fixture(Kind::E5, 64, EncoderOptions::default());
    // "query" ":" "hello" with <s> … </s> around it.
    assert_eq!(
        f.encoder.token_ids("hello", EmbedKind::Query).unwrap(),
        vec![0, 4, 5, 7, 2]
    );
    assert_eq!(
        f.encoder.token_ids("hello", EmbedKind::Passage).unwrap(),
        vec![0, 6, 5, 7, 2]
    );
    assert_eq!(f.encoder.count_tokens("hello world").unwrap(), 6);
    let q = f
        .encoder
        .embed(&strings(&["hello"]), EmbedKind::Query)
        .unwrap();
    let p = f
        .encoder
        .embed(&strings(&["hello"]), EmbedKind::Passage)
        .unwrap();
    assert!(cosine(&q[0], &p[0]) < 0.9999, "prefix made no difference");
}

#[test]
fn xlm_roberta_uses_cls_pooling_offset_positions_and_no_prefix() {
    let f = fixture(Kind::XlmR, 32, EncoderOptions::default());
    assert_eq!(f.encoder.family(), ModelFamily::XlmRoberta);
    assert_eq!(f.encoder.pooling(), Pooling::Cls);
    assert_eq!(f.encoder.max_tokens(), 32);
    assert_eq!(
        f.encoder.token_ids("hello", EmbedKind::Query).unwrap(),
        vec![0, 7, 2]
    );
    let got = f.encoder.embed(&strings(TEXTS), EmbedKind::Query).unwrap();
    for (text, vector) in TEXTS.iter().zip(&got) {
        let cos = cosine(vector, &expected(&f, text, EmbedKind::Query));
        assert!(cos > 0.99999, "{text:?}: cosine {cos}");
    }
}

#[test]
fn batching_and_padding_do_not_change_vectors() {
    let f = fixture(
        Kind::E5,
        64,
        EncoderOptions {
            max_batch: 3,
            ..Default::default()
        },
    );
    let texts = strings(TEXTS);
    let together = f.encoder.embed(&texts, EmbedKind::Passage).unwrap();
    for (text, vector) in texts.iter().zip(&together) {
        let alone = f
            .encoder
            .embed(std::slice::from_ref(text), EmbedKind::Passage)
            .unwrap();
        let cos = cosine(vector, &alone[0]);
        assert!(cos > 0.99999, "{text:?}: batched vs alone cosine {cos}");
    }
}

#[test]
fn long_inputs_are_windowed_like_the_engine() {
    // 16 positions → 14 content tokens per window.
    let f = fixture(Kind::E5, 16, EncoderOptions::default());
    let text = "hello world the world what did 你 好 say about a 车 . ".repeat(4);
    let ids = f.encoder.token_ids(&text, EmbedKind::Passage).unwrap();
    assert!(ids.len() > 40, "test text too short: {}", ids.len());
    let got = f
        .encoder
        .embed(std::slice::from_ref(&text), EmbedKind::Passage)
        .unwrap();
    let cos = cosine(&got[0], &expected(&f, &text, EmbedKind::Passage));
    assert!(cos > 0.99999, "windowed cosine {cos}");
    // A text of exactly one full window is not split.
    let short = "hello ".repeat(12); // passage : + 12 = 14 content tokens
    assert_eq!(
        f.encoder
            .token_ids(&short, EmbedKind::Passage)
            .unwrap()
            .len(),
        16
    );
    let got = f
        .encoder
        .embed(std::slice::from_ref(&short), EmbedKind::Passage)
        .unwrap();
    assert!(cosine(&got[0], &expected(&f, &short, EmbedKind::Passage)) > 0.99999);
}

#[test]
fn quantized_paths_stay_close_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("tiny-e5");
    write_tiny_model(&model_dir, Kind::E5, 64, 11);
    let f32_encoder = TextEncoder::load(&model_dir, EncoderOptions::default()).unwrap();
    let reference = f32_encoder
        .embed(&strings(TEXTS), EmbedKind::Passage)
        .unwrap();
    for (precision, bound) in [(Precision::Q8_0, 0.999), (Precision::Q4_0, 0.95)] {
        let encoder = TextEncoder::load(
            &model_dir,
            EncoderOptions {
                precision,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(encoder.precision(), precision);
        let got = encoder.embed(&strings(TEXTS), EmbedKind::Passage).unwrap();
        for (a, b) in got.iter().zip(&reference) {
            let cos = cosine(a, b);
            assert!(
                cos > bound && cos < 1.0 + 1e-5,
                "{precision:?}: cosine {cos}"
            );
        }
    }
}

#[test]
fn concurrent_callers_get_the_same_vectors_as_serial_calls() {
    let f = fixture(Kind::E5, 64, EncoderOptions::default());
    let serial: Vec<Vec<f32>> = TEXTS
        .iter()
        .map(|t| {
            f.encoder
                .embed(&strings(&[t]), EmbedKind::Query)
                .unwrap()
                .remove(0)
        })
        .collect();
    let encoder = Arc::new(f.encoder);
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let encoder = encoder.clone();
            std::thread::spawn(move || {
                let text = TEXTS[i % TEXTS.len()];
                (
                    i,
                    encoder
                        .embed(&strings(&[text]), EmbedKind::Query)
                        .unwrap()
                        .remove(0),
                )
            })
        })
        .collect();
    for handle in handles {
        let (i, vector) = handle.join().unwrap();
        let cos = cosine(&vector, &serial[i % TEXTS.len()]);
        assert!(cos > 0.99999, "thread {i}: cosine {cos}");
    }
}

#[test]
fn odd_inputs_give_defined_unit_vectors() {
    let f = fixture(Kind::E5, 16, EncoderOptions::default());
    let megabyte = "hello world 你好 ".repeat(1 << 16);
    assert!(megabyte.len() >= 1 << 20);
    let texts = strings(&[
        "",
        "   \t\n ",
        "\u{0}\u{1}\u{7}\u{1b}[31m",
        "\u{feff}\u{200b}",
        "😀🙈",
    ]);
    let mut all = texts.clone();
    all.push(megabyte.clone());
    let got = f.encoder.embed(&all, EmbedKind::Passage).unwrap();
    assert_eq!(got.len(), all.len());
    for (text, vector) in all.iter().zip(&got) {
        assert_eq!(vector.len(), 64);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "{:?}: norm {norm}",
            &text[..text.len().min(20)]
        );
    }
    // Empty and whitespace-only texts are just the prefix.
    assert_eq!(
        f.encoder.token_ids("", EmbedKind::Passage).unwrap(),
        vec![0, 6, 5, 2]
    );
    assert!(cosine(&got[0], &got[1]) > 0.99999);
    // The megabyte is windowed, not truncated: it matches the reference.
    let n = f.encoder.count_tokens(&megabyte).unwrap();
    assert!(n > 100_000, "{n} tokens");
    // Empty request: no work, no vectors.
    assert!(f.encoder.embed(&[], EmbedKind::Query).unwrap().is_empty());
}

#[test]
fn missing_or_bad_model_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = TextEncoder::load(dir.path(), EncoderOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, EmbedError::MissingFile(ref p) if p.ends_with("config.json")),
        "{err}"
    );
    let model_dir = dir.path().join("tiny-e5");
    write_tiny_model(&model_dir, Kind::E5, 16, 1);
    std::fs::write(model_dir.join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    let err = TextEncoder::load(&model_dir, EncoderOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, EmbedError::Config { .. }), "{err}");
    let core: CoreError = err.into();
    assert!(matches!(core, CoreError::ModelUnavailable(_)));
}
