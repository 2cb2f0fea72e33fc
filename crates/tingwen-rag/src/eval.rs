//! The product's own quality measurements: retrieval recall/MRR per system
//! and language, and answer quality (citations containing the gold evidence,
//! exact spans, refusals).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tingwen_core::{detect_language, AnswerMode, SearchFilter, SearchMode};

use crate::retrieve::Pipeline;
use crate::text::contains_evidence;
use crate::{AskRequest, Engine, RagError};

/// A result "contains" an evidence string cut by a chunk boundary when this
/// share of it (a prefix or suffix, whitespace ignored) is in the text.
pub const EVIDENCE_MIN_SHARE: f32 = 0.6;

/// One line of an eval file (the format of `dev.jsonl`); unanswerable
/// questions have no evidence (and may say `"unanswerable": true`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalQuestion {
    /// Question id.
    pub id: String,
    /// `zh` or `en` (detected from the question when absent).
    #[serde(default)]
    pub lang: Option<String>,
    /// The question.
    pub question: String,
    /// The document holding the answer.
    #[serde(default)]
    pub doc: Option<String>,
    /// Exact snippets of the source that answer the question.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// A reference answer (not used for scoring).
    #[serde(default)]
    pub answer: Option<String>,
    /// Question type.
    #[serde(default)]
    pub kind: Option<String>,
    /// True when the transcripts cannot answer it.
    #[serde(default)]
    pub unanswerable: bool,
}

impl EvalQuestion {
    /// Whether the transcripts answer this question.
    pub fn is_answerable(&self) -> bool {
        !self.unanswerable && !self.evidence.is_empty()
    }

    /// The question's language code.
    pub fn language(&self) -> String {
        self.lang
            .clone()
            .unwrap_or_else(|| detect_language(&self.question).code().to_string())
    }

    /// Whether a passage contains (most of) one of the evidence strings.
    pub fn matches(&self, text: &str) -> bool {
        self.evidence
            .iter()
            .any(|e| contains_evidence(text, e, EVIDENCE_MIN_SHARE))
    }
}

/// Reads a JSONL eval file (blank lines skipped).
pub fn load_questions(path: &Path) -> Result<Vec<EvalQuestion>, RagError> {
    let text = std::fs::read_to_string(path).map_err(|source| RagError::Io {
        path: path.display().to_string(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RagError::EvalFormat {
                path: path.display().to_string(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Recall and MRR over a set of questions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecallMetrics {
    /// Questions counted.
    pub questions: usize,
    /// Share with a hit at rank 1.
    pub recall_at_1: f64,
    /// Share with a hit in the top 5.
    pub recall_at_5: f64,
    /// Share with a hit in the top 10.
    pub recall_at_10: f64,
    /// Mean reciprocal rank of the first hit within the top 10.
    pub mrr_at_10: f64,
}

impl RecallMetrics {
    fn from_ranks(ranks: &[Option<usize>]) -> Self {
        let n = ranks.len().max(1) as f64;
        let within =
            |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
        RecallMetrics {
            questions: ranks.len(),
            recall_at_1: within(1),
            recall_at_5: within(5),
            recall_at_10: within(10),
            mrr_at_10: ranks
                .iter()
                .map(|r| r.filter(|&r| r <= 10).map_or(0.0, |r| 1.0 / r as f64))
                .sum::<f64>()
                / n,
        }
    }
}

/// Metrics of one retrieval system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemReport {
    /// `dense`, `keyword`, `hybrid` (the index's fusion) or `engine` (what search and ask use).
    pub system: String,
    /// All questions.
    pub overall: RecallMetrics,
    /// Per question language.
    pub by_language: BTreeMap<String, RecallMetrics>,
    /// Rank of the first hit per question id (`None`: not in the top 10).
    pub ranks: BTreeMap<String, Option<usize>>,
}

/// The retrieval eval: one report per system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// Systems, in the order `dense`, `keyword`, `hybrid`, `engine`.
    pub systems: Vec<SystemReport>,
}

impl RetrievalReport {
    /// The report of one system.
    pub fn system(&self, name: &str) -> Option<&SystemReport> {
        self.systems.iter().find(|s| s.system == name)
    }

    /// A fixed-width table for terminals.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<8} {:<8} {:>4} {:>6} {:>6} {:>6} {:>7}",
            "system", "lang", "n", "R@1", "R@5", "R@10", "MRR@10"
        );
        for s in &self.systems {
            let rows = std::iter::once(("all".to_string(), &s.overall))
                .chain(s.by_language.iter().map(|(l, m)| (l.clone(), m)));
            for (lang, m) in rows {
                let _ = writeln!(
                    out,
                    "{:<8} {:<8} {:>4} {:>6.3} {:>6.3} {:>6.3} {:>7.3}",
                    s.system,
                    lang,
                    m.questions,
                    m.recall_at_1,
                    m.recall_at_5,
                    m.recall_at_10,
                    m.mrr_at_10
                );
            }
        }
        out
    }
}

/// Recall@1/5/10 and MRR@10, overall and per language, for dense-only,
/// keyword-only and hybrid search of the index, and for the engine's full
/// pipeline. Unanswerable questions are skipped.
pub fn retrieval_eval(
    engine: &Engine,
    questions: &[EvalQuestion],
) -> Result<RetrievalReport, RagError> {
    let systems = [
        ("dense", Pipeline::Index(SearchMode::Dense)),
        ("keyword", Pipeline::Index(SearchMode::Keyword)),
        ("hybrid", Pipeline::Index(SearchMode::Hybrid)),
        ("engine", Pipeline::Full),
    ];
    let answerable: Vec<&EvalQuestion> = questions.iter().filter(|q| q.is_answerable()).collect();
    let mut reports = Vec::new();
    for (name, pipeline) in systems {
        let mut ranks = BTreeMap::new();
        let mut by_lang: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
        let mut all = Vec::new();
        for q in &answerable {
            let retrieved = engine.retrieve(&q.question, 10, &SearchFilter::default(), pipeline)?;
            let rank = retrieved
                .sources
                .iter()
                .position(|s| q.matches(&s.hit.text))
                .map(|p| p + 1);
            ranks.insert(q.id.clone(), rank);
            by_lang.entry(q.language()).or_default().push(rank);
            all.push(rank);
        }
        reports.push(SystemReport {
            system: name.to_string(),
            overall: RecallMetrics::from_ranks(&all),
            by_language: by_lang
                .iter()
                .map(|(l, r)| (l.clone(), RecallMetrics::from_ranks(r)))
                .collect(),
            ranks,
        });
    }
    Ok(RetrievalReport { systems: reports })
}

/// How one question was answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerRow {
    /// Question id.
    pub id: String,
    /// Whether the transcripts answer it.
    pub answerable: bool,
    /// Whether the engine refused.
    pub refused: bool,
    /// Whether a citation contains gold evidence.
    pub cites_gold: bool,
    /// The mode that answered.
    pub mode: AnswerMode,
    /// Citations given.
    pub citations: usize,
    /// Sentences flagged unsupported.
    pub unsupported: usize,
    /// Why that mode answered.
    pub mode_reason: Option<String>,
}

/// Answer quality over an eval set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerReport {
    /// The mode requested.
    pub requested_mode: AnswerMode,
    /// Answerable questions.
    pub answerable: usize,
    /// Unanswerable questions.
    pub unanswerable: usize,
    /// Share of answerable questions whose citations contain gold evidence.
    pub citations_contain_gold: f64,
    /// Share of citations whose text is exactly `source[start..end]` (must be 1.0).
    pub exact_span_share: f64,
    /// Citations checked for exactness.
    pub citations_checked: usize,
    /// Share of unanswerable questions refused (target ≥ 0.9).
    pub refusal_rate_unanswerable: f64,
    /// Share of answerable questions refused (target ≤ 0.05).
    pub refusal_rate_answerable: f64,
    /// Share of non-refused answers produced by extractive fallback after a
    /// generated answer was rejected.
    pub fallback_share: f64,
    /// Per question.
    pub rows: Vec<AnswerRow>,
}

impl AnswerReport {
    /// A short human-readable summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "mode requested            {:?}", self.requested_mode);
        let _ = writeln!(
            out,
            "answerable / unanswerable {} / {}",
            self.answerable, self.unanswerable
        );
        let _ = writeln!(
            out,
            "citations contain gold    {:.3}",
            self.citations_contain_gold
        );
        let _ = writeln!(
            out,
            "exact source spans        {:.3} ({} citations)",
            self.exact_span_share, self.citations_checked
        );
        let _ = writeln!(
            out,
            "refused (unanswerable)    {:.3}",
            self.refusal_rate_unanswerable
        );
        let _ = writeln!(
            out,
            "refused (answerable)      {:.3}",
            self.refusal_rate_answerable
        );
        let _ = writeln!(out, "fallback to extractive    {:.3}", self.fallback_share);
        out
    }
}

/// Asks every question in `mode` and scores the answers. `source_text`
/// returns a document's stored source, to check that citations are exact spans.
pub fn answer_eval(
    engine: &Engine,
    questions: &[EvalQuestion],
    mode: AnswerMode,
    source_text: &dyn Fn(&str) -> Option<String>,
) -> Result<AnswerReport, RagError> {
    let mut rows = Vec::new();
    let (mut exact, mut checked) = (0usize, 0usize);
    for q in questions {
        let request = AskRequest {
            mode,
            ..AskRequest::new(q.question.clone())
        };
        let answer = engine.ask(&request, &mut |_| true)?;
        for c in &answer.citations {
            checked += 1;
            let ok = source_text(&c.doc_id)
                .and_then(|s| s.get(c.start..c.end).map(|slice| slice == c.text))
                .unwrap_or(false);
            exact += usize::from(ok);
        }
        rows.push(AnswerRow {
            id: q.id.clone(),
            answerable: q.is_answerable(),
            refused: answer.refused,
            cites_gold: q.is_answerable() && answer.citations.iter().any(|c| q.matches(&c.text)),
            mode: answer.mode,
            citations: answer.citations.len(),
            unsupported: answer.unsupported.len(),
            mode_reason: answer.mode_reason.clone(),
        });
    }
    let share = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let answerable = rows.iter().filter(|r| r.answerable).count();
    let unanswerable = rows.len() - answerable;
    let answered: Vec<&AnswerRow> = rows.iter().filter(|r| !r.refused).collect();
    let fallbacks = answered
        .iter()
        .filter(|r| {
            r.mode == AnswerMode::Extractive
                && r.mode_reason
                    .as_deref()
                    .is_some_and(|m| m.starts_with("verification rejected"))
        })
        .count();
    Ok(AnswerReport {
        requested_mode: mode,
        answerable,
        unanswerable,
        citations_contain_gold: share(rows.iter().filter(|r| r.cites_gold).count(), answerable),
        exact_span_share: if checked == 0 {
            1.0
        } else {
            share(exact, checked)
        },
        citations_checked: checked,
        refusal_rate_unanswerable: share(
            rows.iter().filter(|r| !r.answerable && r.refused).count(),
            unanswerable,
        ),
        refusal_rate_answerable: share(
            rows.iter().filter(|r| r.answerable && r.refused).count(),
            answerable,
        ),
        fallback_share: share(fallbacks, answered.len()),
        rows,
    })
}

/// The relevance the engine measured for one question (for calibrating
/// `EngineConfig::refusal_threshold`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelevanceRow {
    /// Question id.
    pub id: String,
    /// Whether the transcripts answer it.
    pub answerable: bool,
    /// The relevance retrieval reported.
    pub relevance: f32,
}

/// Relevance of every question, to calibrate the refusal threshold.
pub fn relevance_profile(
    engine: &Engine,
    questions: &[EvalQuestion],
) -> Result<Vec<RelevanceRow>, RagError> {
    let k = engine.config().default_k;
    questions
        .iter()
        .map(|q| {
            let r = engine.retrieve(&q.question, k, &SearchFilter::default(), Pipeline::Full)?;
            Ok(RelevanceRow {
                id: q.id.clone(),
                answerable: q.is_answerable(),
                relevance: r.relevance,
            })
        })
        .collect()
}

/// The threshold that best separates answerable from unanswerable questions:
/// among thresholds refusing at most `max_answerable_refusals` of the
/// answerable ones, the one refusing the most unanswerable ones (midpoint
/// between neighbouring scores, so it does not sit on a measured value).
pub fn suggest_refusal_threshold(
    rows: &[RelevanceRow],
    max_answerable_refusals: f64,
) -> Option<f32> {
    let mut scores: Vec<f32> = rows.iter().map(|r| r.relevance).collect();
    scores.sort_by(f32::total_cmp);
    scores.dedup();
    let answerable = rows.iter().filter(|r| r.answerable).count().max(1) as f64;
    let mut best: Option<(usize, f32)> = None;
    for pair in scores.windows(2) {
        let t = (pair[0] + pair[1]) / 2.0;
        let refused_answerable = rows
            .iter()
            .filter(|r| r.answerable && r.relevance < t)
            .count() as f64;
        if refused_answerable / answerable > max_answerable_refusals {
            break;
        }
        let refused_unanswerable = rows
            .iter()
            .filter(|r| !r.answerable && r.relevance < t)
            .count();
        if best.is_none_or(|(n, _)| refused_unanswerable >= n) {
            best = Some((refused_unanswerable, t));
        }
    }
    best.map(|(_, t)| t)
}
