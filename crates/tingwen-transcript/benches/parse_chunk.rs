//! Parse + chunk throughput: the five demo transcripts, and ~100 MB of
//! synthetic transcripts (Markdown dialogue and unpunctuated ASR text)
//! generated here. Uses a cheap stand-in token counter, so this measures
//! the crate's own work, not the tokenizer's.
#![allow(clippy::unwrap_used)] // tests and benches may unwrap

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tingwen_transcript::{load, ChunkOptions};

fn stand_in_tokens(text: &str) -> usize {
    let mut tokens = 2;
    let mut word = 0usize;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word += 1;
            continue;
        }
        tokens += word.div_ceil(4);
        word = 0;
        if !c.is_whitespace() {
            tokens += 1;
        }
    }
    tokens + word.div_ceil(4)
}

fn demo_corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("data/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn synthetic_markdown(bytes: usize) -> String {
    let mut text = String::from("---\ntitle: Synthetic\n---\n\n");
    let mut section = 0;
    while text.len() < bytes {
        section += 1;
        text.push_str(&format!("## 第{section}部分\n\n"));
        for turn in 0..12 {
            text.push_str(&format!("**{}**: ", ["张璐", "郝一", "Host"][turn % 3]));
            for s in 0..6 {
                text.push_str(&format!(
                    "我们在第{section}部分讨论了第{s}个问题，模型的成本下降了3.5倍。Mr. Lee said it was about {turn} percent. "
                ));
            }
            text.push_str("\n\n");
        }
    }
    text
}

fn synthetic_asr(bytes: usize) -> String {
    let phrases = [
        "我们先来看一个",
        "现在的 AI 能做视频",
        "能做成什么样子",
        "这个基本上就是",
        "2024 年下半年",
        "然后我们就开始做了",
    ];
    let mut text = String::with_capacity(bytes + 64);
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(phrases[i % phrases.len()]);
        text.push(' ');
        i += 1;
        if i % 5000 == 0 {
            text.push('\n');
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let options = ChunkOptions::default();
    let corpus = demo_corpus();
    let total: usize = corpus.iter().map(|(_, b)| b.len()).sum();
    let mut group = c.benchmark_group("parse_chunk");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("demo_corpus", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(name, bytes)| {
                    load(name, bytes, &options, &stand_in_tokens)
                        .unwrap()
                        .chunks
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.finish();

    // ~100 MB in two files of 50 MB each.
    let big = [
        ("big.md", synthetic_markdown(50 * 1024 * 1024)),
        ("big_asr.txt", synthetic_asr(50 * 1024 * 1024)),
    ];
    let total: usize = big.iter().map(|(_, t)| t.len()).sum();
    let mut group = c.benchmark_group("parse_chunk_100mb");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("synthetic_100mb", |b| {
        b.iter(|| {
            big.iter()
                .map(|(name, text)| {
                    load(name, text.as_bytes(), &options, &stand_in_tokens)
                        .unwrap()
                        .chunks
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
