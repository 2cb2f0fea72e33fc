//! Collection behaviour on small synthetic documents with toy vectors.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::*;
use tingwen_core::{Retriever, SearchFilter, SearchMode, SearchQuery};
use tingwen_index::{Collection, EmbeddingSpec, IndexError, SearchOptions, UpsertOutcome};

fn query(text: &str, mode: SearchMode, k: usize) -> SearchQuery {
    SearchQuery {
        text: text.to_string(),
        vector: Some(embed(text)),
        k,
        mode,
        filter: SearchFilter::default(),
    }
}

fn assert_exact_slices(collection: &Collection, hits: &[tingwen_core::Hit]) {
    for hit in hits {
        let doc = collection.document(&hit.doc_id).unwrap().unwrap();
        assert_eq!(hit.text, doc.source[hit.start..hit.end]);
        assert_eq!(hit.title, doc.meta.title);
        assert!(!hit.chunk_ids.is_empty());
    }
}

#[test]
fn upsert_then_search_in_every_mode_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (waymo, models) = (waymo_doc(), models_doc());
    let results_before;
    {
        let c = open(dir.path());
        assert_eq!(upsert(&c, &waymo), UpsertOutcome::Added);
        assert_eq!(upsert(&c, &models), UpsertOutcome::Added);
        for mode in [SearchMode::Keyword, SearchMode::Dense, SearchMode::Hybrid] {
            let hits = c.search(&query("Waymo 停电 路口", mode, 3)).unwrap();
            assert!(!hits.is_empty(), "{mode:?}");
            assert_eq!(hits[0].doc_id, "waymo.md", "{mode:?}: {hits:?}");
            assert!(
                hits[0].text.contains("Waymo的车停在了路口"),
                "{mode:?}: {hits:?}"
            );
            assert!(hits[0].dense_similarity.is_some());
            assert_exact_slices(&c, &hits);
        }
        let english = c
            .search(&query("open weights ecosystem", SearchMode::Keyword, 2))
            .unwrap();
        assert_eq!(english[0].doc_id, "models.md");
        assert!(english[0].text.contains("open weights"));
        assert!(english[0].speaker.as_deref().unwrap().contains("王芳"));
        assert_eq!(english[0].section.as_deref(), Some("大模型与开源"));
        assert!(english[0].time.is_some());
        results_before = c
            .search(&query("Meta 的策略", SearchMode::Hybrid, 4))
            .unwrap();
        let stats = c.stats().unwrap();
        assert_eq!(stats.documents, 2);
        assert_eq!(stats.chunks, waymo.chunks.len() + models.chunks.len());
        assert!(c.check_integrity().unwrap().is_ok());
    }
    let c = open(dir.path());
    let after = c
        .search(&query("Meta 的策略", SearchMode::Hybrid, 4))
        .unwrap();
    let spans = |h: &[tingwen_core::Hit]| {
        h.iter()
            .map(|h| (h.doc_id.clone(), h.start, h.end))
            .collect::<Vec<_>>()
    };
    assert_eq!(spans(&after), spans(&results_before));
    assert_eq!(c.list_documents().unwrap().len(), 2);
    let report = c.check_integrity().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.graph_live, report.chunks);
    assert_eq!(report.keyword_entries, report.chunks);
}

#[test]
fn unchanged_replace_and_delete_are_visible_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let original = waymo_doc();
    upsert(&c, &original);
    upsert(&c, &models_doc());
    assert!(c
        .is_unchanged("waymo.md", &original.doc.content_hash)
        .unwrap());
    assert!(!c.is_unchanged("waymo.md", "other").unwrap());
    assert!(!c.is_unchanged("nope.md", "x").unwrap());
    assert_eq!(upsert(&c, &original), UpsertOutcome::Unchanged);

    // A new version under the same doc_id replaces every trace of the old one.
    let replacement = fixture(
        "waymo.md",
        "自动驾驶 第二版",
        &[
            ("主持人", "这一版只谈无人机配送。"),
            ("赵强", "Drone delivery needs new airspace rules."),
        ],
        2,
    );
    assert_eq!(upsert(&c, &replacement), UpsertOutcome::Replaced);
    assert_eq!(
        c.document("waymo.md").unwrap().unwrap().source,
        replacement.doc.source
    );
    let old_text = "Waymo 停电 路口";
    for mode in [SearchMode::Keyword, SearchMode::Dense, SearchMode::Hybrid] {
        let hits = c.search(&query(old_text, mode, 10)).unwrap();
        assert!(
            hits.iter().all(|h| !h.text.contains("Waymo")),
            "{mode:?} still finds the old version: {hits:?}"
        );
        assert_exact_slices(&c, &hits);
    }
    let drone = c
        .search(&query("drone airspace", SearchMode::Keyword, 3))
        .unwrap();
    assert_eq!(drone[0].doc_id, "waymo.md");
    let stats = c.stats().unwrap();
    assert_eq!(
        stats.chunks,
        replacement.chunks.len() + models_doc().chunks.len()
    );
    assert_eq!(stats.graph_tombstones, original.chunks.len());
    assert!(c.check_integrity().unwrap().is_ok());

    assert!(c.delete_document("waymo.md").unwrap());
    assert!(!c.delete_document("waymo.md").unwrap());
    assert!(c.document("waymo.md").unwrap().is_none());
    for mode in [SearchMode::Keyword, SearchMode::Dense, SearchMode::Hybrid] {
        let hits = c.search(&query("drone airspace 无人机", mode, 10)).unwrap();
        assert!(
            hits.iter().all(|h| h.doc_id == "models.md"),
            "{mode:?}: {hits:?}"
        );
    }
    assert!(c.sentences("waymo.md", 0, 10).is_err());
    let report = c.check_integrity().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.documents, 1);
    drop(c);
    let reopened = open(dir.path());
    assert_eq!(reopened.stats().unwrap().documents, 1);
    assert_eq!(reopened.stats().unwrap().graph_tombstones, 0);
    assert!(reopened.check_integrity().unwrap().is_ok());
}

#[test]
fn mismatched_model_or_dimension_is_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let other_model = EmbeddingSpec {
        model_id: "intfloat/multilingual-e5-small".into(),
        dim: DIM,
    };
    let err = Collection::open(dir.path(), other_model).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, IndexError::EmbeddingMismatch { .. }));
    assert!(
        msg.contains("toy-hash-embedding") && msg.contains("multilingual-e5-small"),
        "{msg}"
    );
    let other_dim = EmbeddingSpec {
        model_id: spec().model_id,
        dim: 384,
    };
    let msg = Collection::open(dir.path(), other_dim)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("32") && msg.contains("384"), "{msg}");
    // Even with the manifest gone, SQLite remembers the model.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let err = Collection::open(
        dir.path(),
        EmbeddingSpec {
            model_id: "bge-m3".into(),
            dim: 1024,
        },
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::EmbeddingMismatch { .. }), "{err}");
}

#[test]
fn filters_by_document_and_speaker() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    upsert(&c, &waymo_doc());
    upsert(&c, &models_doc());
    for mode in [SearchMode::Keyword, SearchMode::Dense, SearchMode::Hybrid] {
        let mut q = query("主持人 模型 自动驾驶", mode, 10);
        q.filter.doc_ids = vec!["models.md".into()];
        let hits = c.search(&q).unwrap();
        assert!(!hits.is_empty(), "{mode:?}");
        assert!(hits.iter().all(|h| h.doc_id == "models.md"), "{mode:?}");

        let mut q = query("Tesla 激光雷达 end-to-end", mode, 10);
        q.filter.speaker = Some("李明".into());
        let hits = c.search(&q).unwrap();
        assert!(!hits.is_empty(), "{mode:?}");
        assert!(
            hits.iter()
                .all(|h| h.speaker.as_deref().unwrap_or("").contains("李明")),
            "{mode:?}: {hits:?}"
        );
        let mut q = query("Tesla", mode, 10);
        q.filter.doc_ids = vec!["unknown.md".into()];
        assert!(c.search(&q).unwrap().is_empty());
    }
}

#[test]
fn neighbouring_chunks_merge_into_one_exact_passage() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let doc = fixture(
        "merge.md",
        "合并",
        &[
            ("甲", "量子计算 quantum computing 第一句。"),
            ("甲", "量子计算 quantum computing 第二句。"),
            ("乙", "量子计算 quantum computing 第三句。"),
            ("乙", "这里谈的是天气和午饭。"),
            ("乙", "完全无关的体育新闻。"),
            ("丙", "再说一次 quantum 量子。"),
        ],
        1,
    );
    upsert(&c, &doc);
    let mut options = SearchOptions::default();
    let hits = c
        .search_with(
            &query("quantum computing 量子计算", SearchMode::Keyword, 2),
            &options,
        )
        .unwrap();
    assert!(hits[0].chunk_ids.len() >= 2, "{hits:?}");
    assert!(hits[0].text.contains("第一句") && hits[0].text.contains("第二句"));
    assert!(hits
        .iter()
        .all(|h| h.chunk_ids.len() <= options.max_merged_chunks));
    assert_exact_slices(&c, &hits);
    options.max_merged_chunks = 1;
    let single = c
        .search_with(
            &query("quantum computing 量子计算", SearchMode::Keyword, 2),
            &options,
        )
        .unwrap();
    assert!(single.iter().all(|h| h.chunk_ids.len() == 1));
    assert_eq!(single.len(), 2);
}

#[test]
fn sentences_come_back_once_with_their_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let doc = waymo_doc();
    upsert(&c, &doc);
    // Chunks overlap by one sentence; each sentence is stored once.
    let all = c.sentences("waymo.md", 0, doc.doc.source.len()).unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(c.stats().unwrap().sentences, 7);
    for s in &all {
        assert_eq!(s.text, doc.doc.source[s.span.start..s.span.end]);
        let v = s.vector.as_ref().unwrap();
        let expected = embed(&s.text);
        let cos: f32 = v.iter().zip(&expected).map(|(a, b)| a * b).sum();
        assert!(cos > 0.999);
    }
    assert!(all.windows(2).all(|w| w[0].span.start < w[1].span.start));
    let inside = c
        .sentences("waymo.md", doc.chunks[1].span.start, doc.chunks[1].span.end)
        .unwrap();
    assert_eq!(inside.len(), 2);
    assert_eq!(inside[0].speaker.as_deref(), Some("张璐"));
    assert_eq!(
        c.document_url("waymo.md").unwrap().as_deref(),
        Some("https://example.invalid/waymo.md")
    );
}

#[test]
fn missing_or_corrupt_derived_indexes_are_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path());
        upsert(&c, &waymo_doc());
        upsert(&c, &models_doc());
    }
    let keyword_dir = dir.path().join("keyword");
    std::fs::remove_dir_all(&keyword_dir).unwrap();
    {
        let c = open(dir.path());
        assert!(c.check_integrity().unwrap().is_ok());
        let hits = c.search(&query("Waymo", SearchMode::Keyword, 1)).unwrap();
        assert_eq!(hits[0].doc_id, "waymo.md");
    }
    // Garbage in the keyword index's metadata.
    std::fs::write(keyword_dir.join("meta.json"), b"{ not json").unwrap();
    {
        let c = open(dir.path());
        assert!(c.check_integrity().unwrap().is_ok());
        let hits = c
            .search(&query("open weights", SearchMode::Keyword, 1))
            .unwrap();
        assert_eq!(hits[0].doc_id, "models.md");
    }
}

#[test]
fn inconsistent_input_is_rejected_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let f = waymo_doc();
    let short = &f.chunk_vectors[..1];
    assert!(matches!(
        c.upsert_document(&f.doc, &f.chunks, short, &[]),
        Err(IndexError::InvalidInput(_))
    ));
    let mut wrong_dim = f.chunk_vectors.clone();
    wrong_dim[0] = vec![1.0; DIM + 1];
    assert!(c
        .upsert_document(&f.doc, &f.chunks, &wrong_dim, &[])
        .is_err());
    let mut bad_span = f.chunks.clone();
    bad_span[0].span.end = f.doc.source.len() + 5;
    assert!(c
        .upsert_document(&f.doc, &bad_span, &f.chunk_vectors, &[])
        .is_err());
    let mut bad_query = query("x", SearchMode::Dense, 1);
    bad_query.vector = Some(vec![1.0; 3]);
    assert!(c.search(&bad_query).is_err());
    assert_eq!(c.stats().unwrap().documents, 0);
    // Sentence vectors may be omitted entirely.
    c.upsert_document(&f.doc, &f.chunks, &f.chunk_vectors, &[])
        .unwrap();
    let s = c.sentences("waymo.md", 0, f.doc.source.len()).unwrap();
    assert!(s.iter().all(|s| s.vector.is_none()));
}

#[test]
fn searches_run_while_a_writer_adds_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let c = std::sync::Arc::new(open(dir.path()));
    upsert(&c, &models_doc());
    let writer = {
        let c = c.clone();
        std::thread::spawn(move || {
            for round in 0..20 {
                let id = format!("doc{round}.md");
                let f = fixture(
                    &id,
                    "并发",
                    &[
                        ("甲", "并发写入 concurrent write test."),
                        ("乙", &format!("第{round}轮")),
                    ],
                    2,
                );
                upsert(&c, &f);
                if round % 2 == 0 {
                    c.delete_document(&id).unwrap();
                }
            }
        })
    };
    let mut searches = 0;
    while !writer.is_finished() || searches < 20 {
        let hits = c
            .search(&query("open weights 并发", SearchMode::Hybrid, 5))
            .unwrap();
        assert!(!hits.is_empty());
        for hit in &hits {
            // A hit is always an exact slice of a document that exists (or just got deleted).
            if let Some(doc) = c.document(&hit.doc_id).unwrap() {
                assert_eq!(hit.text, doc.source[hit.start..hit.end]);
            }
        }
        searches += 1;
    }
    writer.join().unwrap();
    assert_eq!(c.stats().unwrap().documents, 11);
    assert!(c.check_integrity().unwrap().is_ok());
}
