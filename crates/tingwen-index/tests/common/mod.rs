//! Synthetic documents and a toy deterministic "embedding" for tests.
#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries; tests may unwrap

use std::path::Path;

use tingwen_core::{Chunk, Document, DocumentMeta, SourceFormat, Span, TimeRange};
use tingwen_index::{Collection, EmbeddingSpec};

pub const DIM: usize = 32;

pub fn spec() -> EmbeddingSpec {
    EmbeddingSpec {
        model_id: "toy-hash-embedding".into(),
        dim: DIM,
    }
}

pub fn open(dir: &Path) -> Collection {
    Collection::open(dir, spec()).unwrap()
}

/// Bag of hashed characters, unit length: texts sharing characters are close.
pub fn embed(text: &str) -> Vec<f32> {
    let mut v = [0.0f32; DIM];
    for c in text.chars().filter(|c| c.is_alphanumeric()) {
        let h = (c as u32).wrapping_mul(2_654_435_761);
        v[(h % DIM as u32) as usize] += 1.0;
        v[((h >> 8) % DIM as u32) as usize] += 0.5;
    }
    v[0] += 1e-3;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// A parsed document with its chunks and vectors, as the ingest pipeline would hand them over.
pub struct Fixture {
    pub doc: Document,
    pub chunks: Vec<Chunk>,
    pub chunk_vectors: Vec<Vec<f32>>,
    pub sentence_vectors: Vec<Vec<Vec<f32>>>,
}

/// Builds a document of `(speaker, sentence)` lines; each chunk holds
/// `per_chunk` sentences and overlaps the next by one sentence.
pub fn fixture(doc_id: &str, title: &str, lines: &[(&str, &str)], per_chunk: usize) -> Fixture {
    let mut source = format!("# {title}\n\n");
    let mut sentence_spans = Vec::new();
    for (speaker, text) in lines {
        source.push_str(speaker);
        source.push_str(": ");
        let start = source.len();
        source.push_str(text);
        sentence_spans.push((Span::new(start, source.len()), speaker.to_string()));
        source.push('\n');
    }
    let mut chunks = Vec::new();
    let step = per_chunk.saturating_sub(1).max(1);
    let mut first = 0;
    while first < sentence_spans.len() {
        let last = (first + per_chunk).min(sentence_spans.len());
        let members = &sentence_spans[first..last];
        let span = Span::new(members[0].0.start, members[members.len() - 1].0.end);
        let mut speakers: Vec<String> = Vec::new();
        for (_, s) in members {
            if !speakers.contains(s) {
                speakers.push(s.clone());
            }
        }
        chunks.push(Chunk {
            doc_id: doc_id.to_string(),
            ordinal: chunks.len() as u32,
            span,
            embed_text: format!("{title}\n{}", &source[span.start..span.end]),
            section: vec![title.to_string()],
            speakers,
            time: Some(TimeRange {
                start: first as f64 * 10.0,
                end: last as f64 * 10.0,
            }),
            sentences: members.iter().map(|(s, _)| *s).collect(),
        });
        if last == sentence_spans.len() {
            break;
        }
        first += step;
    }
    let chunk_vectors = chunks.iter().map(|c| embed(&c.embed_text)).collect();
    let sentence_vectors = chunks
        .iter()
        .map(|c| {
            c.sentences
                .iter()
                .map(|s| embed(&source[s.start..s.end]))
                .collect()
        })
        .collect();
    let content_hash = format!("{:016x}", fnv(&source));
    Fixture {
        doc: Document {
            doc_id: doc_id.to_string(),
            meta: DocumentMeta {
                title: title.to_string(),
                url: Some(format!("https://example.invalid/{doc_id}")),
                ..DocumentMeta::default()
            },
            format: SourceFormat::Markdown,
            source,
            content_hash,
        },
        chunks,
        chunk_vectors,
        sentence_vectors,
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

pub fn upsert(collection: &Collection, f: &Fixture) -> tingwen_index::UpsertOutcome {
    collection
        .upsert_document(&f.doc, &f.chunks, &f.chunk_vectors, &f.sentence_vectors)
        .unwrap()
}

/// A document about power outages and robotaxis, in Chinese and English.
pub fn waymo_doc() -> Fixture {
    fixture(
        "waymo.md",
        "自动驾驶与停电",
        &[
            ("主持人", "今天我们聊聊自动驾驶的最新进展。"),
            ("张璐", "旧金山停电那天，Waymo的车停在了路口。"),
            ("张璐", "因为红绿灯全部熄灭，车辆选择了保守策略。"),
            ("主持人", "特斯拉的端到端方案有什么不同？"),
            (
                "李明",
                "Tesla uses an end-to-end neural network for driving.",
            ),
            ("李明", "激光雷达的成本在过去五年下降了很多。"),
            ("主持人", "谢谢两位嘉宾的分享。"),
        ],
        2,
    )
}

/// A document about language models and open source.
pub fn models_doc() -> Fixture {
    fixture(
        "models.md",
        "大模型与开源",
        &[
            ("主持人", "DeepSeek的开源模型对行业冲击很大。"),
            (
                "王芳",
                "Scaling laws are slowing down, so systems optimisation matters more.",
            ),
            ("王芳", "推理模型需要更多的算力和更长的思考时间。"),
            ("主持人", "Meta的策略是什么？"),
            (
                "王芳",
                "Meta keeps releasing open weights to build an ecosystem.",
            ),
        ],
        2,
    )
}
