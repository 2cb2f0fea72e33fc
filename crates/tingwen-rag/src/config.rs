//! Tunable settings of the answer engine.

use serde::{Deserialize, Serialize};

/// Settings of the answer engine. `Default` holds the values measured best
/// on the dev set (see the crate README section in `ARCHITECTURE.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Sources shown for an answer when the request gives no `k`.
    pub default_k: usize,
    /// Largest `k` a request may ask for.
    pub max_k: usize,
    /// Candidates fetched from the index before reranking (at least `k`).
    pub candidates: usize,
    /// Expand English queries with Chinese translations for keyword search.
    pub expand_queries: bool,
    /// Weight of the best query–sentence similarity when reranking candidates
    /// (0 keeps the index's order).
    pub sentence_rerank_weight: f32,
    /// Weight of the index's fused rank when reranking candidates.
    pub index_rank_weight: f32,
    /// Weight of the keyword search over the expanded query (English questions only).
    pub expanded_keyword_weight: f32,
    /// Passages whose character-bigram Jaccard similarity exceeds this are near-duplicates.
    pub near_duplicate_jaccard: f32,
    /// Below this relevance (best query–sentence cosine among the top
    /// candidates) the engine says the transcripts do not cover the question.
    pub refusal_threshold: f32,
    /// Tokens reserved for the generated answer.
    pub answer_max_tokens: usize,
    /// Upper bound on prompt tokens spent on sources (also capped by the model's context).
    pub context_budget_tokens: usize,
    /// Most sentences an extractive answer quotes.
    pub extract_max_sentences: usize,
    /// Sentences scoring below `best - extract_score_margin` are not quoted.
    pub extract_score_margin: f32,
    /// A generated sentence is supported when its encoder similarity to a
    /// sentence of a cited passage reaches this.
    pub support_similarity: f32,
    /// ... or when this share of its character bigrams occurs in the cited passage.
    pub support_overlap: f32,
    /// A generated answer with a larger share of unsupported sentences is rejected.
    pub max_unsupported_share: f32,
    /// Sampling temperature for generation (0 = greedy).
    pub temperature: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_k: 5,
            max_k: 50,
            candidates: 30,
            expand_queries: true,
            sentence_rerank_weight: 1.0,
            index_rank_weight: 1.0,
            expanded_keyword_weight: 0.5,
            near_duplicate_jaccard: 0.8,
            refusal_threshold: 0.80,
            answer_max_tokens: 384,
            context_budget_tokens: 3072,
            extract_max_sentences: 3,
            extract_score_margin: 0.04,
            support_similarity: 0.82,
            support_overlap: 0.5,
            max_unsupported_share: 0.5,
            temperature: 0.0,
        }
    }
}
