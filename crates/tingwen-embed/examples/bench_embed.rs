//! Throughput and latency probe used by `scripts/bench-embed.sh`:
//! `bench_embed MODEL_DIR PASSAGES_JSON PRECISION [BATCH]` prints one JSON
//! line with passages/s (all passages, `BATCH` per call, tokenisation
//! included), single-query latency (median and mean of 50 calls after
//! warm-up), concurrent-query throughput, and peak resident memory.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tingwen_core::{EmbedKind, Embedder};
use tingwen_embed::{EncoderOptions, Precision, TextEncoder};

const QUERY: &str = "自动驾驶在停电时为什么会停在路口？";

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: bench_embed MODEL_DIR PASSAGES_JSON PRECISION [BATCH]".into());
    }
    let precision: Precision = args[3].parse()?;
    let batch: usize = args.get(4).map_or(Ok(32), |b| b.parse())?;
    let passages: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&args[2])?)?;
    let load_start = Instant::now();
    let options = EncoderOptions {
        precision,
        max_batch: batch,
        ..Default::default()
    };
    let encoder = Arc::new(TextEncoder::load(Path::new(&args[1]), options)?);
    let load_s = load_start.elapsed().as_secs_f64();
    let tokens: usize = passages
        .iter()
        .map(|p| encoder.count_tokens(p).unwrap_or(0))
        .sum();

    // Warm-up: one batch and a few queries.
    encoder.embed(&passages[..batch.min(passages.len())], EmbedKind::Passage)?;
    for _ in 0..5 {
        encoder.embed(&[QUERY.to_string()], EmbedKind::Query)?;
    }

    let start = Instant::now();
    for chunk in passages.chunks(batch) {
        encoder.embed(chunk, EmbedKind::Passage)?;
    }
    let passages_per_s = passages.len() as f64 / start.elapsed().as_secs_f64();

    let mut latencies = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        encoder.embed(&[QUERY.to_string()], EmbedKind::Query)?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let median = latencies[latencies.len() / 2];
    let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;

    // 16 client threads each sending 20 single queries: coalescing at work.
    let clients = 16;
    let per_client = 20;
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let encoder = encoder.clone();
            std::thread::spawn(move || {
                for i in 0..per_client {
                    let q = format!("{QUERY} {c} {i}");
                    let _ = encoder.embed(&[q], EmbedKind::Query);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let concurrent_qps = (clients * per_client) as f64 / start.elapsed().as_secs_f64();

    println!(
        "{}",
        serde_json::json!({
            "engine": format!("tingwen {}", precision.name()),
            "passages": passages.len(),
            "mean_tokens": tokens as f64 / passages.len() as f64,
            "batch": batch,
            "passages_per_s": passages_per_s,
            "query_ms_median": median,
            "query_ms_mean": mean,
            "concurrent_queries_per_s": concurrent_qps,
            "load_s": load_s,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
