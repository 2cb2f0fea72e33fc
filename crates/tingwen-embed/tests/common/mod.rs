//! A tiny random BERT / XLM-R model written to a temp dir, and a plain-loop
//! reference forward pass to check the candle encoder against.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

pub const HIDDEN: usize = 64;
pub const HEADS: usize = 4;
pub const LAYERS: usize = 2;
pub const FF: usize = 128;
pub const TYPES: usize = 2;

pub const WORDS: &[&str] = &[
    "<s>", "<pad>", "</s>", "<unk>", "query", ":", "passage", "hello", "world", "the", "a", "what",
    "did", "say", "about", ".", ",", "?", "你", "好", "世", "界", "我", "们", "的", "是", "停",
    "电", "路", "口", "车", "为", "什", "么",
];

/// Which family the tiny model imitates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// BERT, mean pooling, e5 prefixes (directory name contains "e5").
    E5,
    /// XLM-RoBERTa, CLS pooling, no prefixes.
    XlmR,
}

pub struct TinyModel {
    pub weights: HashMap<String, Vec<f32>>,
    pub kind: Kind,
    /// Positions a sequence may use (model limit incl. specials).
    pub max_tokens: usize,
}

impl TinyModel {
    pub fn position_offset(&self) -> usize {
        match self.kind {
            Kind::E5 => 0,
            Kind::XlmR => 2,
        }
    }
}

fn tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
        .collect();
    let special = |id: &str, n: u32| {
        serde_json::json!({"id": id, "content": id, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true, "n": n})
    };
    let added: Vec<_> = ["<s>", "<pad>", "</s>", "<unk>"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v = special(t, i as u32);
            let obj = v.as_object_mut().unwrap();
            obj.remove("n");
            obj.insert("id".into(), serde_json::json!(i));
            v
        })
        .collect();
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                        "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}
            }
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    })
    .to_string()
}

/// Writes config.json, model.safetensors and tokenizer.json into `dir`
/// (whose name should contain "e5" for `Kind::E5`). `max_tokens` is the
/// usable sequence length.
pub fn write_tiny_model(dir: &Path, kind: Kind, max_tokens: usize, seed: u64) -> TinyModel {
    std::fs::create_dir_all(dir).unwrap();
    let offset = if kind == Kind::XlmR { 2 } else { 0 };
    let positions = max_tokens + offset;
    let config = serde_json::json!({
        "model_type": if kind == Kind::E5 { "bert" } else { "xlm-roberta" },
        "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": FF, "max_position_embeddings": positions,
        "type_vocab_size": TYPES, "vocab_size": WORDS.len(), "layer_norm_eps": 1e-12,
        "pad_token_id": 1, "hidden_act": "gelu"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut weights: HashMap<String, Vec<f32>> = HashMap::new();
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    let mut add = |name: String, shape: Vec<usize>, scale: f32, center: f32| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| center + scale * (rng.random::<f32>() - 0.5))
            .collect();
        weights.insert(name.clone(), data);
        shapes.insert(name, shape);
    };
    let p = |s: &str| format!("bert.{s}");
    add(
        p("embeddings.word_embeddings.weight"),
        vec![WORDS.len(), HIDDEN],
        1.0,
        0.0,
    );
    add(
        p("embeddings.position_embeddings.weight"),
        vec![positions, HIDDEN],
        1.0,
        0.0,
    );
    add(
        p("embeddings.token_type_embeddings.weight"),
        vec![TYPES, HIDDEN],
        0.2,
        0.0,
    );
    add(p("embeddings.LayerNorm.weight"), vec![HIDDEN], 0.2, 1.0);
    add(p("embeddings.LayerNorm.bias"), vec![HIDDEN], 0.2, 0.0);
    for i in 0..LAYERS {
        let l = |s: &str| p(&format!("encoder.layer.{i}.{s}"));
        for m in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            add(l(&format!("{m}.weight")), vec![HIDDEN, HIDDEN], 0.5, 0.0);
            add(l(&format!("{m}.bias")), vec![HIDDEN], 0.2, 0.0);
        }
        add(l("intermediate.dense.weight"), vec![FF, HIDDEN], 0.5, 0.0);
        add(l("intermediate.dense.bias"), vec![FF], 0.2, 0.0);
        add(l("output.dense.weight"), vec![HIDDEN, FF], 0.3, 0.0);
        add(l("output.dense.bias"), vec![HIDDEN], 0.2, 0.0);
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(l(&format!("{ln}.weight")), vec![HIDDEN], 0.2, 1.0);
            add(l(&format!("{ln}.bias")), vec![HIDDEN], 0.2, 0.0);
        }
    }
    let tensors: HashMap<String, Tensor> = weights
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Tensor::from_slice(v, shapes[k].as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let weights = weights
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("bert.").to_string(), v))
        .collect();
    TinyModel {
        weights,
        kind,
        max_tokens,
    }
}

fn layer_norm(x: &mut [f32], w: &[f32], b: &[f32]) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + 1e-12).sqrt();
    for i in 0..x.len() {
        x[i] = ((x[i] as f64 - mean) * inv) as f32 * w[i] + b[i];
    }
}

fn linear(x: &[f32], w: &[f32], b: &[f32], out: usize) -> Vec<f32> {
    let inp = x.len();
    (0..out)
        .map(|o| b[o] + (0..inp).map(|i| x[i] * w[o * inp + i]).sum::<f32>())
        .collect()
}

fn gelu(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
}

/// Abramowitz–Stegun 7.1.26 is too coarse; use a series/continued fraction good to ~1e-12.
fn erf(x: f64) -> f64 {
    if x.abs() < 3.0 {
        // Maclaurin series
        let mut sum = x;
        let mut term = x;
        let x2 = x * x;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        x.signum()
    }
}

/// Pooled, un-normalised vector of one sequence (ids include specials).
pub fn reference_pooled(model: &TinyModel, ids: &[u32]) -> Vec<f32> {
    let w = |n: &str| {
        model
            .weights
            .get(n)
            .unwrap_or_else(|| panic!("missing {n}"))
            .as_slice()
    };
    let l = ids.len();
    let hd = HIDDEN / HEADS;
    let off = model.position_offset();
    let mut xs: Vec<Vec<f32>> = ids
        .iter()
        .enumerate()
        .map(|(p, &id)| {
            let mut x: Vec<f32> = (0..HIDDEN)
                .map(|j| {
                    w("embeddings.word_embeddings.weight")[id as usize * HIDDEN + j]
                        + w("embeddings.position_embeddings.weight")[(p + off) * HIDDEN + j]
                        + w("embeddings.token_type_embeddings.weight")[j]
                })
                .collect();
            layer_norm(
                &mut x,
                w("embeddings.LayerNorm.weight"),
                w("embeddings.LayerNorm.bias"),
            );
            x
        })
        .collect();
    for i in 0..LAYERS {
        let n = |s: &str| format!("encoder.layer.{i}.{s}");
        let proj = |m: &str, x: &[f32], out: usize| {
            linear(
                x,
                w(&n(&format!("{m}.weight"))),
                w(&n(&format!("{m}.bias"))),
                out,
            )
        };
        let q: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| proj("attention.self.query", x, HIDDEN))
            .collect();
        let k: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| proj("attention.self.key", x, HIDDEN))
            .collect();
        let v: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| proj("attention.self.value", x, HIDDEN))
            .collect();
        let mut ctx = vec![vec![0f32; HIDDEN]; l];
        for h in 0..HEADS {
            let r = h * hd..(h + 1) * hd;
            for a in 0..l {
                let scores: Vec<f32> = (0..l)
                    .map(|b| {
                        q[a][r.clone()]
                            .iter()
                            .zip(&k[b][r.clone()])
                            .map(|(x, y)| x * y)
                            .sum::<f32>()
                            / (hd as f32).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::MIN, f32::max);
                let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f32 = exps.iter().sum();
                for b in 0..l {
                    for (j, c) in r.clone().enumerate() {
                        ctx[a][h * hd + j] += exps[b] / total * v[b][c];
                    }
                }
            }
        }
        for a in 0..l {
            let mut y = proj("attention.output.dense", &ctx[a], HIDDEN);
            y.iter_mut().zip(&xs[a]).for_each(|(y, x)| *y += x);
            layer_norm(
                &mut y,
                w(&n("attention.output.LayerNorm.weight")),
                w(&n("attention.output.LayerNorm.bias")),
            );
            let f: Vec<f32> = proj("intermediate.dense", &y, FF)
                .into_iter()
                .map(gelu)
                .collect();
            let mut z = proj("output.dense", &f, HIDDEN);
            z.iter_mut().zip(&y).for_each(|(z, y)| *z += y);
            layer_norm(
                &mut z,
                w(&n("output.LayerNorm.weight")),
                w(&n("output.LayerNorm.bias")),
            );
            xs[a] = z;
        }
    }
    match model.kind {
        Kind::XlmR => xs[0].clone(),
        Kind::E5 => (0..HIDDEN)
            .map(|j| xs.iter().map(|x| x[j]).sum::<f32>() / l as f32)
            .collect(),
    }
}

pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Reference unit vector of a text given its windows and weights.
pub fn reference_vector(model: &TinyModel, windows: &[Vec<u32>], weights: &[usize]) -> Vec<f32> {
    let mut sum = vec![0f32; HIDDEN];
    let total: usize = weights.iter().sum();
    for (win, &wt) in windows.iter().zip(weights) {
        let pooled = reference_pooled(model, win);
        sum.iter_mut()
            .zip(pooled)
            .for_each(|(s, p)| *s += wt as f32 * p / total as f32);
    }
    normalized(sum)
}
