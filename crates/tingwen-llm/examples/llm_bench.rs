//! Measures tingwen-llm on one GGUF: prompt processing and generation
//! tokens/s, time to first token for a RAG-style prompt, and peak memory.
//! Prints one JSON object; `scripts/bench-llm.sh` runs it next to llama.cpp.
//!
//! Usage: llm_bench <model.gguf> <corpus-dir> <prompt-tokens> <gen-tokens> <out.json>

use std::path::Path;
use std::time::Instant;

use tingwen_core::{ChatMessage, ChatRole, GenerationRequest, Generator, SamplingParams};
use tingwen_llm::{ChatModel, ChatModelOptions};

fn corpus_text(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("corpus file"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model_path, corpus_dir, prompt_tokens, gen_tokens, out] = &args[..] else {
        eprintln!(
            "usage: llm_bench <model.gguf> <corpus-dir> <prompt-tokens> <gen-tokens> <out.json>"
        );
        std::process::exit(2);
    };
    let prompt_len: usize = prompt_tokens.parse().expect("prompt tokens");
    let gen_len: usize = gen_tokens.parse().expect("gen tokens");

    let load_start = Instant::now();
    let model = ChatModel::load(
        Path::new(model_path),
        ChatModelOptions {
            threads: Some(2),
            ..ChatModelOptions::default()
        },
    )
    .expect("load model");
    let load_ms = load_start.elapsed().as_secs_f64() * 1000.0;

    let corpus = corpus_text(Path::new(corpus_dir));
    // The corpus tokenised and cut to the wanted length: a prompt of real transcript text.
    let all = model.tokenizer().encode(&corpus).expect("tokenize");
    let prompt: Vec<u32> = all[..prompt_len.min(all.len())].to_vec();

    let greedy = |max_tokens: usize| SamplingParams {
        max_tokens,
        temperature: 0.0,
        repeat_penalty: 1.0,
        ..SamplingParams::default()
    };
    // Warm-up (thread pools, allocations).
    model
        .generate_fixed_length(prompt[..64].to_vec(), &greedy(4), &mut |_p: &str| true)
        .expect("warm-up");

    // Prompt processing: prefill plus one sampled token.
    let pp = model
        .generate_fixed_length(prompt.clone(), &greedy(1), &mut |_p: &str| true)
        .expect("prefill");
    let pp_tps = prompt.len() as f64 / (pp.time_to_first_token_ms / 1000.0);

    // Generation: a short prompt, then gen_len tokens; rate over tokens after the first.
    let short = prompt[..32].to_vec();
    let tg = model
        .generate_fixed_length(short.clone(), &greedy(gen_len), &mut |_p: &str| true)
        .expect("generate");
    let tg_tps =
        (tg.completion_tokens - 1) as f64 / ((tg.total_ms - tg.time_to_first_token_ms) / 1000.0);

    // Time to first token for a typical RAG request: instructions, six passages, a question.
    let chars: Vec<char> = corpus.chars().collect();
    let passages: Vec<String> = (0..6)
        .map(|i| {
            let start = chars.len() * (i + 1) / 8;
            format!(
                "[{}] {}",
                i + 1,
                chars[start..start + 220].iter().collect::<String>()
            )
        })
        .collect();
    let rag = GenerationRequest {
        messages: vec![
            ChatMessage::new(
                ChatRole::System,
                "Answer only from the numbered sources and cite them like [1]. Answer in the question's language.",
            ),
            ChatMessage::new(
                ChatRole::User,
                format!("Sources:\n{}\n\nQuestion: 姚顺雨对AI的下一步怎么看？", passages.join("\n")),
            ),
        ],
        params: SamplingParams {
            max_tokens: 32,
            ..SamplingParams::default()
        },
    };
    let rag_out = model.generate(&rag, &mut |_p: &str| true).expect("rag");

    let result = serde_json::json!({
        "model": model_path,
        "load_ms": load_ms,
        "prompt_ids": prompt,
        "short_prompt_ids": short,
        "prompt_tokens": prompt.len(),
        "prompt_tokens_per_s": pp_tps,
        "gen_tokens": tg.completion_tokens,
        "gen_tokens_per_s": tg_tps,
        "rag_prompt_tokens": rag_out.prompt_tokens,
        "rag_time_to_first_token_ms": rag_out.time_to_first_token_ms,
        "peak_rss_mib": peak_rss_mib(),
    });
    std::fs::write(out, serde_json::to_string(&result).expect("json")).expect("write result");
}
