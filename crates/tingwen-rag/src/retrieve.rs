//! Retrieval orchestration: query vector, hybrid search (plus a keyword
//! search over the translated query for English questions), reranking by
//! precomputed sentence vectors, near-duplicate removal and neighbour merging.

use tingwen_core::{
    EmbedKind, Embedder, Hit, Language, Retriever, SearchFilter, SearchMode, SearchQuery,
    SentenceSpan,
};

use crate::expand::expand_english_query;
use crate::text::{bigram_jaccard, cosine};
use crate::{EngineConfig, RagError};

/// Rank constant of reciprocal-rank fusion (smaller trusts the top ranks more).
const RRF_K: f32 = 20.0;

/// A retrieved passage with the sentences inside it.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub hit: Hit,
    pub sentences: Vec<SentenceSpan>,
    /// Cosine of the query to each sentence (same order as `sentences`).
    pub sentence_scores: Vec<f32>,
    /// Best of `sentence_scores` (or the dense similarity when no sentence has a vector).
    pub best_sentence: f32,
}

/// What retrieval found for one query.
#[derive(Clone, Debug)]
pub(crate) struct Retrieved {
    pub sources: Vec<Source>,
    /// How relevant the best passage is (higher is better); compared with the refusal threshold.
    pub relevance: f32,
}

/// Which retrieval pipeline to run (the eval compares them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pipeline {
    /// The index alone, in one mode, no reranking.
    Index(SearchMode),
    /// Everything the engine does.
    Full,
}

pub(crate) fn embed_query(embedder: &dyn Embedder, query: &str) -> Result<Vec<f32>, RagError> {
    let mut vectors = embedder.embed(&[query.to_string()], EmbedKind::Query)?;
    match vectors.pop() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(RagError::Core(tingwen_core::CoreError::Internal(
            "embedder returned no vector".into(),
        ))),
    }
}

fn same_passage(a: &Hit, b: &Hit) -> bool {
    a.doc_id == b.doc_id && a.start < b.end && b.start < a.end
}

pub(crate) fn retrieve(
    retriever: &dyn Retriever,
    embedder: &dyn Embedder,
    config: &EngineConfig,
    query: &str,
    k: usize,
    filter: &SearchFilter,
    pipeline: Pipeline,
) -> Result<Retrieved, RagError> {
    let query_vector = embed_query(embedder, query)?;
    let candidates = config.candidates.max(k);
    let mode = match pipeline {
        Pipeline::Index(m) => m,
        Pipeline::Full => SearchMode::Hybrid,
    };
    let main = retriever.search(&SearchQuery {
        text: query.to_string(),
        vector: (mode != SearchMode::Keyword).then(|| query_vector.clone()),
        k: if pipeline == Pipeline::Full {
            candidates
        } else {
            k
        },
        mode,
        filter: filter.clone(),
    })?;

    if let Pipeline::Index(_) = pipeline {
        let mut sources = Vec::new();
        for hit in main.into_iter().take(k) {
            sources.push(attach_sentences(retriever, hit, &query_vector)?);
        }
        let relevance = sources.iter().map(|s| s.best_sentence).fold(0.0, f32::max);
        return Ok(Retrieved { sources, relevance });
    }

    // Fused score per candidate, from the index's own ranking first.
    let mut fused: Vec<(Hit, f32)> = main
        .into_iter()
        .enumerate()
        .map(|(rank, hit)| (hit, config.index_rank_weight / (RRF_K + rank as f32 + 1.0)))
        .collect();

    let language = tingwen_core::detect_language(query);
    if config.expand_queries && language == Language::En && config.expanded_keyword_weight > 0.0 {
        let expansion = expand_english_query(query, 3);
        if !expansion.is_empty() {
            let extra = retriever.search(&SearchQuery {
                text: format!("{query} {expansion}"),
                vector: None,
                k: candidates,
                mode: SearchMode::Keyword,
                filter: filter.clone(),
            })?;
            for (rank, hit) in extra.into_iter().enumerate() {
                let add = config.expanded_keyword_weight / (RRF_K + rank as f32 + 1.0);
                match fused.iter_mut().find(|(h, _)| same_passage(h, &hit)) {
                    Some((_, score)) => *score += add,
                    None => fused.push((hit, add)),
                }
            }
        }
    }

    let mut sources: Vec<(Source, f32)> = Vec::with_capacity(fused.len());
    for (hit, score) in fused {
        sources.push((attach_sentences(retriever, hit, &query_vector)?, score));
    }
    fill_missing_sentence_vectors(embedder, &mut sources, &query_vector)?;

    if config.sentence_rerank_weight > 0.0 {
        let mut order: Vec<usize> = (0..sources.len()).collect();
        order.sort_by(|&a, &b| {
            sources[b]
                .0
                .best_sentence
                .total_cmp(&sources[a].0.best_sentence)
        });
        for (rank, idx) in order.into_iter().enumerate() {
            sources[idx].1 += config.sentence_rerank_weight / (RRF_K + rank as f32 + 1.0);
        }
    }
    sources.sort_by(|a, b| b.1.total_cmp(&a.1));
    let relevance = sources
        .iter()
        .take(k.max(3))
        .map(|(s, _)| s.best_sentence)
        .fold(0.0, f32::max);

    let mut kept: Vec<Source> = Vec::new();
    for (mut source, score) in sources {
        source.hit.score = score;
        let duplicate = kept.iter().any(|k| {
            (same_passage(&k.hit, &source.hit) && overlap_share(&k.hit, &source.hit) > 0.5)
                || bigram_jaccard(&k.hit.text, &source.hit.text) > config.near_duplicate_jaccard
        });
        if duplicate {
            continue;
        }
        if let Some(neighbour) = kept.iter_mut().find(|k| touches(&k.hit, &source.hit)) {
            merge_into(neighbour, source);
            continue;
        }
        kept.push(source);
        if kept.len() >= k {
            break;
        }
    }
    Ok(Retrieved {
        sources: kept,
        relevance,
    })
}

fn overlap_share(a: &Hit, b: &Hit) -> f32 {
    let overlap = a.end.min(b.end).saturating_sub(a.start.max(b.start));
    let shorter = (a.end - a.start).min(b.end - b.start).max(1);
    overlap as f32 / shorter as f32
}

/// Same document and the spans overlap or meet, so their union is one exact slice.
fn touches(a: &Hit, b: &Hit) -> bool {
    a.doc_id == b.doc_id && a.start <= b.end && b.start <= a.end
}

/// Merges `other` into `into`; both are exact slices of one source that
/// overlap or meet, so the union's text is their texts spliced.
fn merge_into(into: &mut Source, other: Source) {
    let other_first = other.hit.start < into.hit.start;
    let (first, second) = if other_first {
        (&other.hit, &into.hit)
    } else {
        (&into.hit, &other.hit)
    };
    if second.end <= first.end {
        // One lies inside the other: keep the larger, with the better score.
        if other_first {
            let score = into.hit.score;
            *into = other;
            into.hit.score = score;
        }
        return;
    }
    let cut = first.end - second.start;
    let Some(tail) = second.text.get(cut..) else {
        return;
    };
    let text = format!("{}{}", first.text, tail);
    let (start, end) = (first.start, second.end);
    let time = match (first.time, second.time) {
        (Some(a), Some(b)) => Some(tingwen_core::TimeRange {
            start: a.start.min(b.start),
            end: a.end.max(b.end),
        }),
        (a, b) => a.or(b),
    };
    let speaker = match (&first.speaker, &second.speaker) {
        (Some(a), Some(b)) if a != b => Some(format!("{a}, {b}")),
        (a, b) => a.clone().or(b.clone()),
    };
    let mut sentences: Vec<(SentenceSpan, f32)> = into
        .sentences
        .drain(..)
        .zip(into.sentence_scores.drain(..))
        .chain(other.sentences.into_iter().zip(other.sentence_scores))
        .collect();
    sentences.sort_by_key(|(s, _)| s.span.start);
    sentences.dedup_by_key(|(s, _)| s.span);
    into.hit.text = text;
    into.hit.start = start;
    into.hit.end = end;
    into.hit.time = time;
    into.hit.speaker = speaker;
    into.hit.chunk_ids.extend(other.hit.chunk_ids);
    into.best_sentence = into.best_sentence.max(other.best_sentence);
    (into.sentences, into.sentence_scores) = sentences.into_iter().unzip();
}

fn attach_sentences(
    retriever: &dyn Retriever,
    hit: Hit,
    query_vector: &[f32],
) -> Result<Source, RagError> {
    let sentences = retriever.sentences(&hit.doc_id, hit.start, hit.end)?;
    let sentence_scores: Vec<f32> = sentences
        .iter()
        .map(|s| {
            s.vector
                .as_deref()
                .map_or(f32::NAN, |v| cosine(query_vector, v))
        })
        .collect();
    let best_sentence = sentence_scores
        .iter()
        .copied()
        .filter(|s| !s.is_nan())
        .fold(hit.dense_similarity.unwrap_or(0.0), f32::max);
    Ok(Source {
        hit,
        sentences,
        sentence_scores,
        best_sentence,
    })
}

/// Sentences stored without vectors (an index built without them) are
/// encoded now, so scoring works either way — just slower.
fn fill_missing_sentence_vectors(
    embedder: &dyn Embedder,
    sources: &mut [(Source, f32)],
    query_vector: &[f32],
) -> Result<(), RagError> {
    let missing: Vec<(usize, usize)> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, (s, _))| {
            s.sentences
                .iter()
                .enumerate()
                .filter(|(_, sent)| sent.vector.is_none())
                .map(move |(j, _)| (i, j))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = missing
        .iter()
        .map(|&(i, j)| sources[i].0.sentences[j].text.clone())
        .collect();
    let vectors = embedder.embed(&texts, EmbedKind::Passage)?;
    for ((i, j), v) in missing.into_iter().zip(vectors) {
        let score = cosine(query_vector, &v);
        let source = &mut sources[i].0;
        source.sentences[j].vector = Some(v);
        source.sentence_scores[j] = score;
        source.best_sentence = source.best_sentence.max(score);
    }
    Ok(())
}
