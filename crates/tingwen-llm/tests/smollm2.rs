//! Real-model tests with SmolLM2-135M-Instruct (Q4_1): tokenizer parity and a
//! greedy generation, both against references recorded from llama.cpp by
//! `scripts/make-llm-token-reference.py`.
//!
//! They fail when the model is missing, unless `TINGWEN_SKIP_MODEL_TESTS=1`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tingwen_core::{ChatMessage, ChatRole, FinishReason, SamplingParams};
use tingwen_llm::{ChatModel, ChatModelOptions, LoadTuning};

const MODEL: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The model path, or `None` when tests are told to skip.
fn model_path() -> Option<PathBuf> {
    let path = workspace_root().join(MODEL);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("TINGWEN_SKIP_MODEL_TESTS").as_deref() == Ok("1") {
        eprintln!("skipping: {MODEL} is missing and TINGWEN_SKIP_MODEL_TESTS=1");
        return None;
    }
    panic!(
        "{} is missing: fetch the model (see models/README.md) or set TINGWEN_SKIP_MODEL_TESTS=1",
        path.display()
    );
}

fn reference() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/smollm2_llamacpp_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let Some(path) = model_path() else { return };
    let model = ChatModel::load(&path, ChatModelOptions::default()).unwrap();
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut mismatches = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected = ids(&case["ids"]);
        let actual = model.tokenizer().encode(text).unwrap();
        if actual != expected {
            mismatches.push(format!(
                "{text:?}\n  llama.cpp {expected:?}\n  tingwen   {actual:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} texts differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn chat_template_and_stop_tokens_come_from_the_file() {
    let Some(path) = model_path() else { return };
    let model = ChatModel::load(&path, ChatModelOptions::default()).unwrap();
    let reference = reference();
    let messages = [ChatMessage::new(
        ChatRole::User,
        "What is the capital of France? Answer in one sentence.",
    )];
    // The reference prompt is the template's output (default system prompt included).
    assert_eq!(
        model.render_prompt(&messages).unwrap(),
        reference["greedy"]["prompt"].as_str().unwrap()
    );
    assert_eq!(
        model.prompt_tokens(&messages).unwrap(),
        ids(&reference["greedy"]["prompt_ids"])
    );
    let im_end = model.tokenizer().special_token_id("<|im_end|>").unwrap();
    assert!(model.stop_tokens().contains(&im_end));
}

fn greedy(model: &ChatModel, prompt: Vec<u32>, max_tokens: usize) -> (String, FinishReason) {
    let params = SamplingParams {
        max_tokens,
        temperature: 0.0,
        repeat_penalty: 1.0,
        ..SamplingParams::default()
    };
    let output = model
        .generate_tokens(prompt, &params, &mut |_piece: &str| true)
        .unwrap();
    (output.text, output.finish_reason)
}

#[test]
fn greedy_generation_matches_llama_cpp() {
    let Some(path) = model_path() else { return };
    let reference = reference();
    let prompt = ids(&reference["greedy"]["prompt_ids"]);
    let expected = reference["greedy"]["generated_text"].as_str().unwrap();
    // Weights exactly as stored (Q4_1, candle's scalar kernel): same numbers as llama.cpp.
    let exact = ChatModel::load_tuned(
        &path,
        ChatModelOptions::default(),
        LoadTuning {
            requantise_slow_types: false,
        },
    )
    .unwrap();
    assert_eq!(
        greedy(&exact, prompt.clone(), 40),
        (expected.to_string(), FinishReason::Stop)
    );
    // Default loading re-quantises Q4_1 to Q8_0; the answer should not change.
    let fast = ChatModel::load(&path, ChatModelOptions::default()).unwrap();
    assert_eq!(
        greedy(&fast, prompt, 40),
        (expected.to_string(), FinishReason::Stop)
    );
}
