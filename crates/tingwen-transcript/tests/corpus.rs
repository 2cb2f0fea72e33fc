//! Properties on the five real demo transcripts in `data/`.
#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use common::{check_invariants, corpus, load_with_stand_in, stand_in_tokens, uncovered_text};
use tingwen_core::{Chunk, SourceFormat};
use tingwen_transcript::{ChunkOptions, Transcript};

fn loaded() -> Vec<Transcript> {
    corpus()
        .iter()
        .map(|(name, bytes)| load_with_stand_in(name, bytes))
        .collect()
}

/// The chunks whose text contains `needle`.
fn chunks_with<'a>(t: &'a Transcript, needle: &str) -> Vec<&'a Chunk> {
    let found: Vec<&Chunk> = t
        .chunks
        .iter()
        .filter(|c| {
            c.span
                .slice(&t.document.source)
                .is_some_and(|s| s.contains(needle))
        })
        .collect();
    assert!(
        !found.is_empty(),
        "{}: no chunk contains {needle:?}",
        t.document.doc_id
    );
    found
}

#[test]
fn every_chunk_is_an_exact_source_slice_within_limits() {
    for t in loaded() {
        assert!(!t.chunks.is_empty(), "{}: no chunks", t.document.doc_id);
        check_invariants(&t, &ChunkOptions::default(), &stand_in_tokens);
    }
}

#[test]
fn chunks_cover_all_body_text() {
    for t in loaded() {
        let missing = uncovered_text(&t);
        assert!(
            missing.is_empty(),
            "{}: text outside every chunk: {missing:?}",
            t.document.doc_id
        );
    }
}

#[test]
fn output_is_deterministic() {
    for (name, bytes) in corpus() {
        assert_eq!(
            load_with_stand_in(&name, &bytes),
            load_with_stand_in(&name, &bytes),
            "{name}"
        );
    }
}

#[test]
fn formats_and_metadata_are_recognised() {
    let docs = loaded();
    let formats: Vec<SourceFormat> = docs.iter().map(|t| t.document.format).collect();
    assert_eq!(
        formats,
        vec![
            SourceFormat::Markdown,
            SourceFormat::AsrText,
            SourceFormat::Markdown,
            SourceFormat::Markdown,
            SourceFormat::Captions
        ]
    );
    let m0 = &docs[0].document.meta;
    assert_eq!(
        m0.title,
        "2026科技前瞻：从AI大模型演进、自动驾驶突破到美股投资逻辑全解析"
    );
    assert_eq!(m0.date.as_deref(), Some("2026-01-04"));
    assert_eq!(m0.author.as_deref(), Some("硅谷101"));
    assert_eq!(
        m0.url.as_deref(),
        Some("https://www.youtube.com/watch?v=lAy9RKQSi2U")
    );
    assert!(m0.tags.contains(&"autonomous-driving".to_string()));
    assert_eq!(&m0.speakers[..3], &["陈茜", "张璐", "郝一"]);

    let m2 = &docs[2].document.meta;
    assert!(m2
        .title
        .starts_with("唐杰、杨植麟、姚顺雨、林俊旸罕见同台分享"));
    assert_eq!(m2.date.as_deref(), Some("2026-01-10"));
    assert_eq!(m2.author.as_deref(), Some("数字生命卡兹克"));
    assert!(m2
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://mp.weixin.qq.com/s?")));
    for name in ["主持人/李广密", "姚顺雨", "林俊旸", "杨强", "唐杰"] {
        assert!(
            m2.speakers.iter().any(|s| s == name),
            "002 speakers {:?} lack {name}",
            m2.speakers
        );
    }

    let m3 = &docs[3].document.meta;
    assert!(m3
        .title
        .starts_with("栏目对话和访谈：Sebastian Raschka 和 Nathan Lambert"));
    assert_eq!(m3.date.as_deref(), Some("2026-02-01"));
    assert_eq!(m3.author.as_deref(), Some("宝玉"));
    assert_eq!(
        m3.url.as_deref(),
        Some("https://baoyu.io/blog/state-of-ai-in-2026-lex-fridman-podcast")
    );

    // No title anywhere: the file name stands in.
    assert_eq!(docs[1].document.meta.title, "001_cd6a7d5e8935a604");
    for (t, (_, bytes)) in docs.iter().zip(corpus()) {
        assert_eq!(
            t.document.source.as_bytes(),
            &bytes[..],
            "source is the exact file text"
        );
        assert_eq!(t.document.content_hash.len(), 64);
    }
}

#[test]
fn front_matter_and_images_are_not_chunk_content() {
    let docs = loaded();
    for t in &docs {
        for c in &t.chunks {
            assert!(
                !c.embed_text.contains("](http"),
                "{}: link target in embed text",
                t.document.doc_id
            );
            assert!(
                !c.embed_text.contains("mmbiz.qpic.cn"),
                "image URL in embed text"
            );
            assert!(
                !c.embed_text.contains("**"),
                "emphasis markers in embed text"
            );
        }
    }
    // Front matter (000) lies before the first chunk.
    let source = &docs[0].document.source;
    let body = source.find("### 2025年AI发展回顾").unwrap();
    assert_eq!(docs[0].chunks[0].span.start, body);
    assert!(!docs[0]
        .chunks
        .iter()
        .any(|c| c.embed_text.contains("layout: post.njk")));
}

#[test]
fn speakers_are_attributed_in_000() {
    let t = &loaded()[0];
    // 张璐's answer about what surprised her in 2025.
    for c in chunks_with(t, "垂直领域**小语言模型**的应用落地的可能性") {
        assert_eq!(c.speakers, vec!["张璐"], "chunk {}", c.embed_text);
        assert_eq!(c.section, vec!["2025年AI发展回顾与2026年展望"]);
    }
    // A later paragraph of 郝一's turn, with no label of its own.
    for c in chunks_with(t, "DeepSeek Moment的Implication（启示）是远远大于那一个") {
        assert_eq!(c.speakers, vec!["郝一"]);
    }
    // The chunk that starts a turn starts at the label and says who speaks.
    let start = t
        .document
        .source
        .find("**张璐**: 好的。第一个像你讲的")
        .unwrap();
    let c = t
        .chunks
        .iter()
        .find(|c| c.span.start == start)
        .expect("a chunk starts at 张璐's turn");
    assert!(
        c.embed_text
            .starts_with("2025年AI发展回顾与2026年展望\n张璐: 好的。"),
        "{}",
        c.embed_text
    );
    // Autonomous-driving section: 大卫's Robotaxi experience.
    for c in chunks_with(t, "圣诞节前在湾区这边刚好打了这个Robo") {
        assert!(c.speakers.contains(&"大卫".to_string()));
        assert_eq!(c.section, vec!["自动驾驶：Tesla FSD vs Waymo"]);
    }
}

#[test]
fn speakers_are_attributed_in_002() {
    let t = &loaded()[2];
    for c in chunks_with(t, "我属于90年代靠前一些的，顺雨属于90年代靠后一点的")
    {
        assert_eq!(c.speakers, vec!["林俊旸"], "{}", c.embed_text);
    }
    for c in chunks_with(t, "第一是唐老师的号召力很强") {
        assert_eq!(
            c.speakers.first().map(String::as_str),
            Some("主持人/李广密")
        );
    }
    for c in chunks_with(t, "今天Claude已经写了") {
        assert_eq!(c.speakers, vec!["姚顺雨"]);
    }
    // The article's own prose before the round table has no speaker.
    for c in chunks_with(t, "今天受邀，参加了一个非常有趣的活动") {
        assert!(c.speakers.is_empty(), "{:?}", c.speakers);
        assert_eq!(c.section, vec!["正文"]);
    }
    // A sentence broken over lines by the article's inline formatting stays one sentence.
    let source = &t.document.source;
    let sentence = t
        .chunks
        .iter()
        .flat_map(|c| c.sentences.iter())
        .map(|s| &source[s.start..s.end])
        .find(|s| s.contains("Doing things"))
        .unwrap();
    assert_eq!(sentence, "是\nAction\n，是\nDoing things\n。");
}

#[test]
fn sentences_are_readable_units() {
    let docs = loaded();
    let sentences = |t: &Transcript| -> Vec<String> {
        t.chunks
            .iter()
            .flat_map(|c| c.sentences.iter())
            .map(|s| t.document.source[s.start..s.end].to_string())
            .collect()
    };
    // Chinese sentences end at their punctuation.
    let s0 = sentences(&docs[0]);
    assert!(
        s0.contains(&"所以这个转向的速度是比我想象的要快很多。".to_string())
            || s0
                .iter()
                .any(|s| s.ends_with("所以这个转向的速度是比我想象的要快很多。"))
    );
    // ASR clauses: short, from pauses, no sentence longer than ~40 characters.
    let s1 = sentences(&docs[1]);
    assert!(s1.len() > 1000);
    assert!(
        s1.iter().all(|s| s.chars().count() <= 60),
        "{:?}",
        s1.iter().max_by_key(|s| s.len())
    );
    assert!(s1
        .iter()
        .any(|s| s.contains("我们算是正好是两年零六个月 我们做第二期")));
    // Captions: one line, one unit.
    let s4 = sentences(&docs[4]);
    assert_eq!(s4[0], "大家好，这里是最佳拍档");
    assert_eq!(s4[1], "二零二六年开年的中国AI圈");
    // Headings and list markers are not sentences.
    let s3 = sentences(&docs[3]);
    assert!(!s3
        .iter()
        .any(|s| s.starts_with('#') || s.starts_with("*   ") || s.starts_with("---")));
    assert!(s3
        .iter()
        .any(|s| s == "获取用户——很多人不会付费订阅 API，但愿意在本地跑模型"));
    // Section paths come from ATX and setext headings.
    let t3 = &docs[3];
    let c = chunks_with(t3, "Lex 开场就抛了一个辣的问题")[0];
    // A setext heading (level 2) replaces the level-2 "## 正文" in the path.
    assert_eq!(c.section, vec!["中美 AI 竞争：谁在赢？"]);
}

#[test]
fn chunk_sizes_follow_the_options() {
    let (name, bytes) = &corpus()[0];
    let small = ChunkOptions {
        target_tokens: 80,
        max_tokens: 120,
        overlap_tokens: 20,
    };
    let t = tingwen_transcript::load(name, bytes, &small, &stand_in_tokens).unwrap();
    check_invariants(&t, &small, &stand_in_tokens);
    let default = load_with_stand_in(name, bytes);
    assert!(t.chunks.len() > default.chunks.len() * 2);
    // Overlap: some consecutive chunks share sentences (cuts inside long turns).
    let shared = t
        .chunks
        .windows(2)
        .filter(|w| {
            w[1].sentences
                .first()
                .is_some_and(|s| w[0].sentences.contains(s))
        })
        .count();
    assert!(shared > 0);
    let none = ChunkOptions {
        overlap_tokens: 0,
        ..small
    };
    let t = tingwen_transcript::load(name, bytes, &none, &stand_in_tokens).unwrap();
    assert!(t
        .chunks
        .windows(2)
        .all(|w| w[0].span.end <= w[1].span.start));
}
