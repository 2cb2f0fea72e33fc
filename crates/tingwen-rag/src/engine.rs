//! The answer engine: question → retrieval → generated or extractive answer
//! → verification → cited `Answer`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tingwen_core::{
    detect_language, Answer, AnswerMode, ChatMessage, Citation, Embedder, GenerationRequest,
    Generator, Hit, Language, Retriever, SamplingParams, SearchFilter,
};

use crate::citation::citation_from_hit;
use crate::extract::extract;
use crate::followup::{resolve_with_model, resolve_without_model};
use crate::prompt::build_messages;
use crate::retrieve::{retrieve, Pipeline, Retrieved, Source};
use crate::verify::verify_generated;
use crate::{EngineConfig, RagError};

/// A question, as the server and CLI pass it in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AskRequest {
    /// The question (any language; the answer uses the question's).
    pub question: String,
    /// Earlier turns of the conversation, oldest first (for follow-ups).
    #[serde(default)]
    pub history: Vec<ChatMessage>,
    /// Number of sources to use (default `EngineConfig::default_k`).
    #[serde(default)]
    pub k: Option<usize>,
    /// How to answer.
    #[serde(default)]
    pub mode: AnswerMode,
    /// Restrict retrieval to some documents or a speaker.
    #[serde(default)]
    pub filter: SearchFilter,
}

impl AskRequest {
    /// A single question with default settings.
    pub fn new(question: impl Into<String>) -> Self {
        AskRequest {
            question: question.into(),
            ..AskRequest::default()
        }
    }
}

/// What `Engine::ask` reports while it works (the server turns these into SSE events).
#[derive(Clone, Debug, PartialEq)]
pub enum AskEvent {
    /// The numbered sources the answer will cite from (sent before any text).
    Sources(Vec<Citation>),
    /// A piece of answer text.
    Delta(String),
    /// Discard the text streamed so far: verification rejected it and another
    /// answer follows (as new `Delta`s).
    Restart {
        /// Why the streamed text was rejected.
        reason: String,
    },
    /// The final, verified answer (same as the return value).
    Done(Box<Answer>),
}

/// The answer engine. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Engine {
    retriever: Arc<dyn Retriever>,
    embedder: Arc<dyn Embedder>,
    generator: Option<Arc<dyn Generator>>,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("embedder", &self.embedder.model_id())
            .field(
                "generator",
                &self.generator.as_ref().map(|g| g.model_id().to_string()),
            )
            .field("config", &self.config)
            .finish()
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn emit(on_event: &mut dyn FnMut(AskEvent) -> bool, event: AskEvent) -> Result<(), RagError> {
    if on_event(event) {
        Ok(())
    } else {
        Err(RagError::Cancelled)
    }
}

impl Engine {
    /// Builds an engine over a collection (`retriever`), the encoder the
    /// collection was built with, and optionally a chat model.
    pub fn new(
        retriever: Arc<dyn Retriever>,
        embedder: Arc<dyn Embedder>,
        generator: Option<Arc<dyn Generator>>,
        config: EngineConfig,
    ) -> Self {
        Engine {
            retriever,
            embedder,
            generator,
            config,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Whether a chat model is loaded.
    pub fn has_generator(&self) -> bool {
        self.generator.is_some()
    }

    fn check_k(&self, k: usize) -> Result<usize, RagError> {
        if k == 0 || k > self.config.max_k {
            return Err(RagError::InvalidInput(format!(
                "k must be between 1 and {}, got {k}",
                self.config.max_k
            )));
        }
        Ok(k)
    }

    fn check_question(question: &str) -> Result<(), RagError> {
        if question.trim().is_empty() {
            return Err(RagError::InvalidInput("the question is empty".into()));
        }
        Ok(())
    }

    /// The passages best matching `query`, best first: hybrid search,
    /// query expansion, sentence-vector reranking, near-duplicates dropped,
    /// touching neighbours merged.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, RagError> {
        Self::check_question(query)?;
        let k = self.check_k(k)?;
        let retrieved = self.retrieve(query, k, filter, Pipeline::Full)?;
        Ok(retrieved.sources.into_iter().map(|s| s.hit).collect())
    }

    pub(crate) fn retrieve(
        &self,
        query: &str,
        k: usize,
        filter: &SearchFilter,
        pipeline: Pipeline,
    ) -> Result<Retrieved, RagError> {
        retrieve(
            self.retriever.as_ref(),
            self.embedder.as_ref(),
            &self.config,
            query,
            k,
            filter,
            pipeline,
        )
    }

    /// The standalone query for a (possibly follow-up) question.
    pub fn standalone_query(
        &self,
        question: &str,
        history: &[ChatMessage],
        use_model: bool,
    ) -> String {
        match (&self.generator, use_model) {
            (Some(g), true) => resolve_with_model(g.as_ref(), question, history),
            _ => resolve_without_model(question, history),
        }
    }

    fn citations(&self, numbered: &[(usize, &Hit)]) -> Result<Vec<Citation>, RagError> {
        let mut out = Vec::with_capacity(numbered.len());
        for (n, hit) in numbered {
            let url = self.retriever.document_url(&hit.doc_id)?;
            out.push(citation_from_hit(*n, hit, url.as_deref()));
        }
        Ok(out)
    }

    /// Answers a question with cited sources. `on_event` receives the sources,
    /// then text deltas, then the final answer; returning `false` from it
    /// cancels (`RagError::Cancelled`).
    pub fn ask(
        &self,
        request: &AskRequest,
        on_event: &mut dyn FnMut(AskEvent) -> bool,
    ) -> Result<Answer, RagError> {
        let started = Instant::now();
        Self::check_question(&request.question)?;
        let k = self.check_k(request.k.unwrap_or(self.config.default_k))?;
        if request.mode == AnswerMode::Generate && self.generator.is_none() {
            return Err(RagError::NoGenerator);
        }
        let language = detect_language(&request.question);
        let mut timings = BTreeMap::new();

        let t = Instant::now();
        let use_model = request.mode != AnswerMode::Extractive;
        let query = self.standalone_query(&request.question, &request.history, use_model);
        if !request.history.is_empty() {
            timings.insert("rewrite".to_string(), ms(t));
        }

        let t = Instant::now();
        let retrieved = self.retrieve(&query, k, &request.filter, Pipeline::Full)?;
        timings.insert("retrieve".to_string(), ms(t));
        let query_field = (query != request.question).then(|| query.clone());

        if retrieved.sources.is_empty() || retrieved.relevance < self.config.refusal_threshold {
            let mode = match (&self.generator, request.mode) {
                (Some(_), AnswerMode::Auto) | (_, AnswerMode::Generate) => AnswerMode::Generate,
                _ => AnswerMode::Extractive,
            };
            let answer = refusal(language, mode, &retrieved, query_field, timings, started);
            emit(on_event, AskEvent::Sources(Vec::new()))?;
            emit(on_event, AskEvent::Delta(answer.answer.clone()))?;
            emit(on_event, AskEvent::Done(Box::new(answer.clone())))?;
            return Ok(answer);
        }

        let generator = match request.mode {
            AnswerMode::Extractive => None,
            _ => self.generator.clone(),
        };
        let Some(generator) = generator else {
            let reason = match request.mode {
                AnswerMode::Extractive => "extractive mode was requested",
                _ => "no chat model is loaded",
            };
            return self.answer_extractive(
                &query,
                language,
                &retrieved,
                reason,
                query_field,
                timings,
                started,
                on_event,
            );
        };

        let t = Instant::now();
        let sources = self.fit_sources(generator.as_ref(), language, &query, &retrieved.sources)?;
        let hits: Vec<Hit> = sources.iter().map(|s| s.hit.clone()).collect();
        let messages = build_messages(language, &query, &hits);
        timings.insert("prompt".to_string(), ms(t));
        let numbered: Vec<(usize, &Hit)> =
            hits.iter().enumerate().map(|(i, h)| (i + 1, h)).collect();
        let all_citations = self.citations(&numbered)?;
        emit(on_event, AskEvent::Sources(all_citations.clone()))?;

        let t = Instant::now();
        let request_params = SamplingParams {
            max_tokens: self.config.answer_max_tokens,
            temperature: self.config.temperature,
            ..SamplingParams::default()
        };
        let mut cancelled = false;
        let output = {
            let mut sink = |piece: &str| {
                let keep_going = on_event(AskEvent::Delta(piece.to_string()));
                cancelled |= !keep_going;
                keep_going
            };
            generator.generate(
                &GenerationRequest {
                    messages,
                    params: request_params,
                },
                &mut sink,
            )?
        };
        if cancelled {
            return Err(RagError::Cancelled);
        }
        timings.insert("generate".to_string(), ms(t));

        let t = Instant::now();
        let verification = verify_generated(
            &output.text,
            &sources,
            self.embedder.as_ref(),
            &self.config,
            language,
        )?;
        timings.insert("verify".to_string(), ms(t));

        if let Some(rejection) = &verification.rejection {
            if request.mode == AnswerMode::Auto {
                emit(
                    on_event,
                    AskEvent::Restart {
                        reason: rejection.clone(),
                    },
                )?;
                let reason = format!("verification rejected the generated answer: {rejection}");
                return self.answer_extractive(
                    &query,
                    language,
                    &retrieved,
                    &reason,
                    query_field,
                    timings,
                    started,
                    on_event,
                );
            }
        }

        let citations: Vec<Citation> = all_citations
            .into_iter()
            .filter(|c| verification.cited.contains(&c.n))
            .collect();
        let mut text = verification.text.clone();
        let mut reason = match request.mode {
            AnswerMode::Generate => "generate mode was requested".to_string(),
            _ => "a chat model is loaded".to_string(),
        };
        if let Some(rejection) = &verification.rejection {
            let warning = match language.answer_language() {
                Language::En => "(Warning: this answer is not supported by the transcripts.) ",
                _ => "（注意：这个回答的大部分内容在转录稿中找不到依据。）",
            };
            text = format!("{warning}{text}");
            reason.push_str(&format!("; verification: {rejection}"));
        } else if !verification.repairs.is_empty() {
            reason.push_str(&format!(
                "; citations repaired: {}",
                verification.repairs.join("; ")
            ));
        }
        let says_not_covered = verification.claims == 0 && citations.is_empty();
        timings.insert("total".to_string(), ms(started));
        let answer = Answer {
            answer: text,
            language: language.answer_language(),
            mode: AnswerMode::Generate,
            mode_reason: Some(reason),
            refused: says_not_covered,
            citations,
            unsupported: verification.unsupported,
            related: if says_not_covered { hits } else { Vec::new() },
            query: query_field,
            timings_ms: timings,
        };
        emit(on_event, AskEvent::Done(Box::new(answer.clone())))?;
        Ok(answer)
    }

    /// Drops trailing sources (and, for a single source, trailing sentences)
    /// until the prompt fits the generator's context.
    fn fit_sources(
        &self,
        generator: &dyn Generator,
        language: Language,
        query: &str,
        sources: &[Source],
    ) -> Result<Vec<Source>, RagError> {
        let limit = generator
            .context_length()
            .saturating_sub(self.config.answer_max_tokens)
            .min(self.config.context_budget_tokens + 512);
        let mut kept: Vec<Source> = sources.to_vec();
        loop {
            let hits: Vec<Hit> = kept.iter().map(|s| s.hit.clone()).collect();
            let tokens = generator.count_prompt_tokens(&build_messages(language, query, &hits))?;
            if tokens <= limit {
                return Ok(kept);
            }
            if kept.len() > 1 {
                kept.pop();
                continue;
            }
            // One source too long: cut it at its last sentence boundary that halves it.
            let Some(only) = kept.first_mut() else {
                return Ok(kept);
            };
            let half = only.hit.start + only.hit.text.len() / 2;
            let cut = only
                .sentences
                .iter()
                .map(|s| s.span.end)
                .filter(|&e| e > only.hit.start && e <= half)
                .max();
            let Some(cut) = cut else {
                return Err(RagError::Core(tingwen_core::CoreError::ContextOverflow {
                    needed: tokens,
                    limit,
                }));
            };
            let Some(text) = only.hit.text.get(..cut - only.hit.start) else {
                return Ok(kept);
            };
            only.hit.text = text.to_string();
            only.hit.end = cut;
            let keep = only
                .sentences
                .iter()
                .take_while(|s| s.span.end <= cut)
                .count();
            only.sentences.truncate(keep);
            only.sentence_scores.truncate(keep);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_extractive(
        &self,
        query: &str,
        language: Language,
        retrieved: &Retrieved,
        reason: &str,
        query_field: Option<String>,
        mut timings: BTreeMap<String, f64>,
        started: Instant,
        on_event: &mut dyn FnMut(AskEvent) -> bool,
    ) -> Result<Answer, RagError> {
        let t = Instant::now();
        let extraction = extract(query, language, &retrieved.sources, &self.config);
        let numbered: Vec<(usize, &Hit)> = extraction
            .used
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| retrieved.sources.get(s).map(|src| (i + 1, &src.hit)))
            .collect();
        let citations = self.citations(&numbered)?;
        // Every quote must be an exact slice of the passage it cites.
        let unsupported: Vec<String> = extraction
            .quotes
            .iter()
            .filter(|q| {
                !retrieved
                    .sources
                    .get(q.source)
                    .is_some_and(|s| s.hit.text.contains(&q.text))
            })
            .map(|q| q.text.clone())
            .collect();
        timings.insert("extract".to_string(), ms(t));
        emit(on_event, AskEvent::Sources(citations.clone()))?;
        emit(on_event, AskEvent::Delta(extraction.text.clone()))?;
        timings.insert("total".to_string(), ms(started));
        let answer = Answer {
            answer: extraction.text,
            language: language.answer_language(),
            mode: AnswerMode::Extractive,
            mode_reason: Some(reason.to_string()),
            refused: false,
            citations,
            unsupported,
            related: Vec::new(),
            query: query_field,
            timings_ms: timings,
        };
        emit(on_event, AskEvent::Done(Box::new(answer.clone())))?;
        Ok(answer)
    }
}

fn refusal(
    language: Language,
    mode: AnswerMode,
    retrieved: &Retrieved,
    query: Option<String>,
    mut timings: BTreeMap<String, f64>,
    started: Instant,
) -> Answer {
    let text = match language.answer_language() {
        Language::En => "The transcripts don't cover this question. The nearest passages are listed as related, for reference.",
        _ => "转录稿中没有涉及这个问题。下面列出最接近的几段内容，仅供参考。",
    };
    timings.insert("total".to_string(), ms(started));
    Answer {
        answer: text.to_string(),
        language: language.answer_language(),
        mode,
        mode_reason: Some(format!(
            "nothing relevant was found (relevance {:.3} below threshold)",
            retrieved.relevance
        )),
        refused: true,
        citations: Vec::new(),
        unsupported: Vec::new(),
        related: retrieved
            .sources
            .iter()
            .take(3)
            .map(|s| s.hit.clone())
            .collect(),
        query,
        timings_ms: timings,
    }
}
