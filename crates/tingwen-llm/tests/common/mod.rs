//! A tiny llama-architecture GGUF written in memory: random weights, a
//! byte-level BPE vocabulary with a few merges, and a ChatML template.
#![allow(dead_code, clippy::unwrap_used)]

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const DIM: usize = 64;
const FFN: usize = 128;
const HEADS: u32 = 4;
const KV_HEADS: u32 = 2;
const LAYERS: usize = 2;

/// GPT-2's byte → printable character map.
fn byte_chars() -> Vec<char> {
    let mut next = 256u32;
    (0u32..256)
        .map(|b| {
            let printable =
                (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
            let code = if printable {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(code).unwrap()
        })
        .collect()
}

fn byte_level(text: &str) -> String {
    let table = byte_chars();
    text.bytes().map(|b| table[b as usize]).collect()
}

/// Tokens: 3 control tokens, 256 byte tokens, then the merges' results.
pub struct TinyVocab {
    pub tokens: Vec<String>,
    pub merges: Vec<String>,
}

pub fn tiny_vocab() -> TinyVocab {
    let mut tokens = vec![
        "<|endoftext|>".to_string(),
        "<|im_start|>".to_string(),
        "<|im_end|>".to_string(),
    ];
    tokens.extend(byte_chars().into_iter().map(|c| c.to_string()));
    let mut merges = Vec::new();
    // Each pair merges two existing tokens; "你" and "好" become whole tokens,
    // and "ä½" is a token holding only part of a character.
    let pairs: Vec<(String, String)> = vec![
        ("h".into(), "e".into()),
        ("l".into(), "l".into()),
        ("he".into(), "ll".into()),
        ("hell".into(), "o".into()),
        (byte_level(" "), "w".into()),
        ("o".into(), "r".into()),
        ("Ġw".into(), "or".into()),
        ("Ġwor".into(), "l".into()),
        ("Ġworl".into(), "d".into()),
        ("u".into(), "s".into()),
        ("us".into(), "e".into()),
        ("use".into(), "r".into()),
        ("\u{e4}".into(), "\u{bd}".into()),
        ("ä½".into(), byte_level("你")[4..].to_string()),
        (
            byte_level("好")[..2].to_string(),
            byte_level("好")[2..4].to_string(),
        ),
    ];
    for (a, b) in pairs {
        let merged = format!("{a}{b}");
        assert!(tokens.contains(&a) && tokens.contains(&b), "{a} {b}");
        merges.push(format!("{a} {b}"));
        if !tokens.contains(&merged) {
            tokens.push(merged);
        }
    }
    // "好" needs its third byte merged too.
    let hao = byte_level("好");
    let head: String = hao.chars().take(2).collect();
    let tail: String = hao.chars().skip(2).collect();
    merges.push(format!("{head} {tail}"));
    tokens.push(hao);
    TinyVocab { tokens, merges }
}

fn random_tensor(rng: &mut StdRng, shape: (usize, usize), scale: f32) -> Tensor {
    let data: Vec<f32> = (0..shape.0 * shape.1)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

pub struct TinyModelSpec {
    pub architecture: String,
    pub context_length: u32,
    pub chat_template: Option<String>,
    pub seed: u64,
}

impl Default for TinyModelSpec {
    fn default() -> Self {
        TinyModelSpec {
            architecture: "llama".into(),
            context_length: 512,
            chat_template: Some(CHATML.into()),
            seed: 7,
        }
    }
}

/// Writes the GGUF bytes of a tiny random llama model.
pub fn tiny_gguf(spec: &TinyModelSpec) -> Vec<u8> {
    let vocab = tiny_vocab();
    let vocab_size = vocab.tokens.len();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let kv_dim = DIM / HEADS as usize * KV_HEADS as usize;

    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    // Control tokens get near-zero embeddings, so (with tied output weights)
    // their logits stay near zero and greedy decoding never ends early.
    let mut embedding = random_tensor(&mut rng, (vocab_size, DIM), 1.0);
    let damp = Tensor::from_vec(
        (0..vocab_size)
            .map(|i| if i < 3 { 1e-3f32 } else { 1.0 })
            .collect::<Vec<_>>(),
        (vocab_size, 1),
        &Device::Cpu,
    )
    .unwrap();
    embedding = embedding.broadcast_mul(&damp).unwrap();
    let f32_tensor = |t: &Tensor| QTensor::quantize(t, GgmlDType::F32).unwrap();
    tensors.push(("token_embd.weight".into(), f32_tensor(&embedding)));
    let ones = Tensor::ones(DIM, candle_core::DType::F32, &Device::Cpu).unwrap();
    tensors.push(("output_norm.weight".into(), f32_tensor(&ones)));
    for layer in 0..LAYERS {
        let p = format!("blk.{layer}");
        let scale = 0.3;
        // Q4_1 weights exercise the re-quantisation path.
        let q41 = |t: Tensor| QTensor::quantize(&t, GgmlDType::Q4_1).unwrap();
        tensors.push((
            format!("{p}.attn_q.weight"),
            q41(random_tensor(&mut rng, (DIM, DIM), scale)),
        ));
        tensors.push((
            format!("{p}.attn_k.weight"),
            q41(random_tensor(&mut rng, (kv_dim, DIM), scale)),
        ));
        tensors.push((
            format!("{p}.attn_v.weight"),
            f32_tensor(&random_tensor(&mut rng, (kv_dim, DIM), scale)),
        ));
        tensors.push((
            format!("{p}.attn_output.weight"),
            q41(random_tensor(&mut rng, (DIM, DIM), scale)),
        ));
        tensors.push((
            format!("{p}.ffn_gate.weight"),
            q41(random_tensor(&mut rng, (FFN, DIM), scale)),
        ));
        tensors.push((
            format!("{p}.ffn_up.weight"),
            f32_tensor(&random_tensor(&mut rng, (FFN, DIM), scale)),
        ));
        tensors.push((
            format!("{p}.ffn_down.weight"),
            q41(random_tensor(&mut rng, (DIM, FFN), scale)),
        ));
        tensors.push((format!("{p}.attn_norm.weight"), f32_tensor(&ones)));
        tensors.push((format!("{p}.ffn_norm.weight"), f32_tensor(&ones)));
    }

    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let token_types = Value::Array(
        (0..vocab_size)
            .map(|i| Value::I32(if i < 3 { 3 } else { 1 }))
            .collect(),
    );
    let mut metadata: Vec<(String, Value)> = vec![
        (
            "general.architecture".into(),
            Value::String(spec.architecture.clone()),
        ),
        ("general.name".into(), Value::String("tiny".into())),
        (
            "llama.context_length".into(),
            Value::U32(spec.context_length),
        ),
        ("llama.embedding_length".into(), Value::U32(DIM as u32)),
        ("llama.feed_forward_length".into(), Value::U32(FFN as u32)),
        ("llama.block_count".into(), Value::U32(LAYERS as u32)),
        ("llama.attention.head_count".into(), Value::U32(HEADS)),
        ("llama.attention.head_count_kv".into(), Value::U32(KV_HEADS)),
        (
            "llama.rope.dimension_count".into(),
            Value::U32(DIM as u32 / HEADS),
        ),
        ("llama.rope.freq_base".into(), Value::F32(10000.0)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), strings(&vocab.tokens)),
        ("tokenizer.ggml.token_type".into(), token_types),
        ("tokenizer.ggml.merges".into(), strings(&vocab.merges)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ];
    if let Some(template) = &spec.chat_template {
        metadata.push((
            "tokenizer.chat_template".into(),
            Value::String(template.clone()),
        ));
    }
    let metadata_refs: Vec<(&str, &Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut cursor = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut cursor, &metadata_refs, &tensor_refs).unwrap();
    cursor.into_inner()
}
