//! Scale benchmarks that print the numbers the README quotes.
//!
//! Run with `scripts/bench-index.sh` (release). Modes (env `TINGWEN_BENCH`):
//! - `recall`: graph vs exact recall@10 on `N` random 384-d unit vectors for a
//!   grid of settings (env `M`, `EFC`, `EF` as comma lists) — used to pick defaults;
//! - `dense`: build time, peak RSS and p50/p99 query latency of the graph on
//!   `N` random 384-d unit vectors at the default settings (plus recall@10);
//! - `hybrid`: a collection of `N` real-sized chunks sampled from the demo
//!   corpus (random vectors), ingest time, open time and p50/p99 latency of
//!   hybrid / dense / keyword `Collection::search`.

use std::time::Instant;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tingwen_core::{
    Chunk, Document, DocumentMeta, SearchFilter, SearchMode, SearchQuery, SourceFormat, Span,
};
use tingwen_index::dense::{exact_top_k, normalize, DenseGraph, GraphParams};
use tingwen_index::{Collection, EmbeddingSpec};

const DIM: usize = 384;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: usize) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![default],
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn random_unit(rng: &mut impl Rng) -> Vec<f32> {
    loop {
        let mut v: Vec<f32> = (0..DIM).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
        if normalize(&mut v) {
            return v;
        }
    }
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn recall(graph: &DenseGraph, data: &[Vec<f32>], probes: &[Vec<f32>], ef: usize) -> f64 {
    let mut found = 0;
    for q in probes {
        let exact: Vec<usize> = exact_top_k(
            data.iter().enumerate().map(|(i, v)| (i, v.as_slice())),
            q,
            10,
        )
        .into_iter()
        .map(|(i, _)| i)
        .collect();
        let approx: Vec<usize> = graph
            .search(q, 10, ef, None)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        found += exact.iter().filter(|i| approx.contains(i)).count();
    }
    found as f64 / (probes.len() * 10) as f64
}

fn build(data: &[Vec<f32>], params: GraphParams) -> (DenseGraph, f64) {
    let started = Instant::now();
    let mut graph = DenseGraph::new(DIM, params, data.len());
    for (b, block) in data.chunks(50_000).enumerate() {
        let items: Vec<(&[f32], usize)> = block
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), b * 50_000 + i))
            .collect();
        graph.insert_batch(&items);
    }
    (graph, started.elapsed().as_secs_f64())
}

fn bench_recall() {
    let n = env_usize("N", 100_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let data: Vec<Vec<f32>> = (0..n).map(|_| random_unit(&mut rng)).collect();
    let probes: Vec<Vec<f32>> = (0..env_usize("QUERIES", 200))
        .map(|_| random_unit(&mut rng))
        .collect();
    let defaults = GraphParams::default();
    for m in env_list("M", defaults.max_connections) {
        for (efc, keep) in env_list("EFC", defaults.ef_construction)
            .into_iter()
            .flat_map(|e| {
                env_list("KEEP", defaults.keep_pruned as usize)
                    .into_iter()
                    .map(move |k| (e, k == 1))
            })
        {
            let params = GraphParams {
                max_connections: m,
                ef_construction: efc,
                ef_search: defaults.ef_search,
                keep_pruned: keep,
            };
            let (graph, secs) = build(&data, params);
            for ef in env_list("EF", defaults.ef_search) {
                let started = Instant::now();
                let r = recall(&graph, &data, &probes, ef);
                let _ = started;
                let mut lat = Vec::new();
                for q in &probes {
                    let t = Instant::now();
                    std::hint::black_box(graph.search(q, 10, ef, None));
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                let (p50, p99) = percentiles(lat);
                println!("n={n} M={m} efc={efc} keep_pruned={keep} ef={ef}: build {secs:.1}s recall@10 {r:.4} p50 {p50:.3}ms p99 {p99:.3}ms");
            }
        }
    }
}

fn bench_dense() {
    let n = env_usize("N", 1_000_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let data: Vec<Vec<f32>> = (0..n).map(|_| random_unit(&mut rng)).collect();
    println!(
        "dense: generated {n} x {DIM} vectors, peak RSS so far {:.0} MiB",
        peak_rss_mib()
    );
    let params = GraphParams::default();
    let (graph, secs) = build(&data, params);
    println!(
        "dense: build {secs:.1}s ({:.0} vectors/s) with {params:?}; peak RSS {:.0} MiB",
        n as f64 / secs,
        peak_rss_mib()
    );
    let probes: Vec<Vec<f32>> = (0..env_usize("QUERIES", 1000))
        .map(|_| random_unit(&mut rng))
        .collect();
    let mut lat = Vec::new();
    for q in &probes {
        let t = Instant::now();
        std::hint::black_box(graph.search(q, 10, params.ef_search, None));
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (p50, p99) = percentiles(lat);
    println!(
        "dense: {} queries k=10 ef={}: p50 {p50:.3} ms, p99 {p99:.3} ms",
        probes.len(),
        params.ef_search
    );
    let r = recall(
        &graph,
        &data,
        &probes[..100.min(probes.len())],
        params.ef_search,
    );
    println!("dense: recall@10 vs exact on 100 queries: {r:.4}");
}

/// Sentences of the demo corpus, split on Chinese and Latin sentence ends.
fn corpus_sentences() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("demo corpus in data/") {
        let text = std::fs::read_to_string(entry.expect("dir entry").path()).unwrap_or_default();
        let mut current = String::new();
        for c in text.chars() {
            current.push(c);
            if matches!(c, '。' | '！' | '？' | '\n' | '.' | '!' | '?') {
                let s = current.trim().to_string();
                if s.chars().count() >= 8 {
                    out.push(s);
                }
                current.clear();
            }
        }
    }
    out
}

fn bench_hybrid() {
    let n = env_usize("N", 100_000);
    let per_doc = 100;
    let sentences = corpus_sentences();
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let dir = std::env::var("TINGWEN_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::temp_dir().join(format!("tingwen-bench-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    let spec = EmbeddingSpec {
        model_id: "bench-random".into(),
        dim: DIM,
    };
    let started = Instant::now();
    {
        let c = Collection::open(&dir, spec.clone()).expect("open");
        for d in 0..n.div_ceil(per_doc) {
            let doc_id = format!("bench-{d:05}.txt");
            let mut source = String::new();
            let mut chunks = Vec::new();
            for i in 0..per_doc {
                // Real-sized chunks: ~6 sentences, a few hundred characters.
                let start = source.len();
                let mut spans = Vec::new();
                for _ in 0..6 {
                    let s = sentences.choose(&mut rng).expect("sentences");
                    let s0 = source.len();
                    source.push_str(s);
                    spans.push(Span::new(s0, source.len()));
                }
                let span = Span::new(start, source.len());
                source.push('\n');
                chunks.push(Chunk {
                    doc_id: doc_id.clone(),
                    ordinal: i as u32,
                    span,
                    embed_text: source[span.start..span.end].to_string(),
                    section: Vec::new(),
                    speakers: vec![format!("speaker{}", i % 4)],
                    time: None,
                    sentences: spans,
                });
            }
            let vectors: Vec<Vec<f32>> = chunks.iter().map(|_| random_unit(&mut rng)).collect();
            let doc = Document {
                doc_id: doc_id.clone(),
                meta: DocumentMeta {
                    title: doc_id.clone(),
                    ..DocumentMeta::default()
                },
                format: SourceFormat::PlainText,
                content_hash: format!("{d}"),
                source,
            };
            c.upsert_document(&doc, &chunks, &vectors, &[])
                .expect("upsert");
        }
    }
    println!(
        "hybrid: ingested {n} chunks in {:.1}s; peak RSS {:.0} MiB",
        started.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    let started = Instant::now();
    let c = Collection::open(&dir, spec).expect("reopen");
    println!(
        "hybrid: reopen {:.1}s (graph rebuild from SQLite {:.1}s)",
        started.elapsed().as_secs_f64(),
        c.graph_build_ms() / 1e3
    );
    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Keyword] {
        let mut lat = Vec::new();
        for _ in 0..env_usize("QUERIES", 1000) {
            let s = sentences.choose(&mut rng).expect("sentences");
            let text: String = s.chars().take(20).collect();
            let query = SearchQuery {
                text,
                vector: Some(random_unit(&mut rng)),
                k: 10,
                mode,
                filter: SearchFilter::default(),
            };
            let t = Instant::now();
            std::hint::black_box(c.search(&query).expect("search"));
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (p50, p99) = percentiles(lat);
        println!("hybrid: {mode:?} search k=10 over {n} chunks: p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
    println!("hybrid: peak RSS {:.0} MiB", peak_rss_mib());
    if std::env::var("TINGWEN_BENCH_DIR").is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    match std::env::var("TINGWEN_BENCH").as_deref() {
        Ok("recall") => bench_recall(),
        Ok("dense") => bench_dense(),
        Ok("hybrid") => bench_hybrid(),
        _ => {
            bench_recall();
            bench_hybrid();
        }
    }
}
