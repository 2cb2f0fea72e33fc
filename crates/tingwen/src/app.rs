//! The running application: models and collection loaded once, the answer
//! engine over them, and the adapter that lets the HTTP server and MCP call
//! it through [`tingwen_server::AppService`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tingwen_core::{CoreError, EmbedKind, Embedder, Generator, Hit, SearchMode, SearchQuery};
use tingwen_embed::{EncoderOptions, TextEncoder};
use tingwen_index::{Collection, EmbeddingSpec, UpsertOutcome};
use tingwen_llm::{ChatModel, ChatModelOptions};
use tingwen_rag::{Engine, EngineConfig, IngestOptions, IngestReport};
use tingwen_server::{
    AppService, AskEvent, AskRequest, DocumentInfo, IngestStatus, IngestSummary, Passage,
    SearchRequest, ServiceError, ServiceInfo,
};

use crate::config::Config;
use crate::models;

/// Which models to load for a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatNeed {
    /// Load the chat model if it can be found; answer extractively if not.
    IfAvailable,
    /// Never load it (search, ingest, eval of retrieval).
    Skip,
}

/// Models, collection and engine, loaded once per process.
pub struct App {
    pub engine: Engine,
    pub collection: Arc<Collection>,
    pub encoder: Arc<TextEncoder>,
    pub chat_model_id: Option<String>,
    pub ingest_options: IngestOptions,
    collection_name: String,
    /// Ingests run one at a time: each one already uses every core for
    /// embedding, and serialising keeps replace/delete races out of the index.
    ingest_lock: Mutex<()>,
}

impl App {
    /// Resolves and loads the models and opens (or creates) the collection.
    pub fn load(config: &Config, chat: ChatNeed) -> Result<App> {
        let catalog = models::Catalog::load(None).context("loading the model catalogue")?;
        let embed_path = Path::new(&config.embed_model);
        let explicit_embed = embed_path.is_dir().then_some(embed_path);
        let embed_id = explicit_embed
            .is_none()
            .then_some(config.embed_model.as_str());
        let embed_dir =
            models::resolve_embedding_model(&catalog, explicit_embed, &config.models_dir, embed_id)
                .context("finding the embedding model")?;
        tracing::info!(dir = %embed_dir.display(), "loading embedding model");
        let encoder = Arc::new(
            TextEncoder::load(&embed_dir, EncoderOptions::default()).with_context(|| {
                format!("loading the embedding model from {}", embed_dir.display())
            })?,
        );

        let generator: Option<Arc<dyn Generator>> = match chat {
            ChatNeed::Skip => None,
            ChatNeed::IfAvailable => load_chat_model(config, &catalog)?,
        };
        let chat_model_id = generator.as_ref().map(|g| g.model_id().to_string());

        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let spec = EmbeddingSpec {
            model_id: encoder.model_id().to_string(),
            dim: encoder.dim(),
        };
        let collection =
            Arc::new(Collection::open(&config.data_dir, spec).with_context(|| {
                format!("opening the collection in {}", config.data_dir.display())
            })?);
        // Small local chat models on CPU process prompts at a few hundred
        // tokens/s: a 1.5k-token source budget keeps a generated answer
        // within the request timeout on two cores.
        let engine_config = EngineConfig {
            default_k: config.default_k.min(EngineConfig::default().max_k),
            context_budget_tokens: 1536,
            answer_max_tokens: 256,
            ..EngineConfig::default()
        };
        let engine = Engine::new(
            collection.clone(),
            encoder.clone(),
            generator,
            engine_config,
        );
        let collection_name = collection_name(&config.data_dir);
        Ok(App {
            engine,
            collection,
            encoder,
            chat_model_id,
            ingest_options: IngestOptions::default(),
            collection_name,
            ingest_lock: Mutex::new(()),
        })
    }

    /// Ingests one file's bytes under the given document id.
    pub fn ingest(
        &self,
        doc_id: &str,
        bytes: &[u8],
    ) -> Result<IngestReport, tingwen_rag::RagError> {
        let _guard = self
            .ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tingwen_rag::ingest_bytes(
            &self.collection,
            self.encoder.as_ref(),
            doc_id,
            bytes,
            &self.ingest_options,
        )
    }

    /// Search with a chosen signal set: the engine's full pipeline for
    /// hybrid, the raw index for dense-only or keyword-only.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, CoreError> {
        match req.mode {
            SearchMode::Hybrid => self
                .engine
                .search(&req.query, req.k, &req.filter)
                .map_err(|e| e.kind()),
            mode => {
                let vector = if mode == SearchMode::Dense {
                    let mut vectors = self
                        .encoder
                        .embed(std::slice::from_ref(&req.query), EmbedKind::Query)?;
                    vectors.pop()
                } else {
                    None
                };
                let query = SearchQuery {
                    text: req.query.clone(),
                    vector,
                    k: req.k,
                    mode,
                    filter: req.filter.clone(),
                };
                Ok(self.collection.search(&query)?)
            }
        }
    }
}

fn load_chat_model(
    config: &Config,
    catalog: &models::Catalog,
) -> Result<Option<Arc<dyn Generator>>> {
    if config.chat_model.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let path = PathBuf::from(&config.chat_model);
    let explicit = path.is_file().then_some(path.as_path());
    let id = explicit.is_none().then_some(config.chat_model.as_str());
    let gguf = match models::resolve_chat_model(catalog, explicit, &config.models_dir, id) {
        Ok(gguf) => gguf,
        Err(error) => {
            // The service still answers without a chat model (extractively).
            tracing::warn!("no chat model ({error:#}); answering extractively");
            return Ok(None);
        }
    };
    tracing::info!(path = %gguf.display(), "loading chat model");
    let model = ChatModel::load(&gguf, ChatModelOptions::default())
        .with_context(|| format!("loading the chat model {}", gguf.display()))?;
    Ok(Some(Arc::new(model)))
}

fn collection_name(data_dir: &Path) -> String {
    let name = std::fs::canonicalize(data_dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_default();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "tingwen".to_string()
    } else {
        format!("tingwen-{name}")
    }
}

impl AppService for App {
    fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, ServiceError> {
        App::search(self, req)
    }

    fn ask(
        &self,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AskEvent) -> bool,
    ) -> Result<tingwen_core::Answer, ServiceError> {
        let request = tingwen_rag::AskRequest {
            question: req.question.clone(),
            history: req.history.clone(),
            k: req.k,
            mode: req.mode,
            filter: Default::default(),
        };
        let mut forward = |event: tingwen_rag::AskEvent| match event {
            tingwen_rag::AskEvent::Sources(citations) => on_event(AskEvent::Sources(citations)),
            tingwen_rag::AskEvent::Delta(text) => on_event(AskEvent::Delta(text)),
            tingwen_rag::AskEvent::Restart { reason } => on_event(AskEvent::Restart { reason }),
            // The verified answer is the return value.
            tingwen_rag::AskEvent::Done(_) => true,
        };
        self.engine
            .ask(&request, &mut forward)
            .map_err(|e| e.kind())
    }

    fn list_documents(&self) -> Result<Vec<DocumentInfo>, ServiceError> {
        Ok(self
            .collection
            .list_documents()?
            .into_iter()
            .map(|d| DocumentInfo {
                doc_id: d.doc_id,
                meta: d.meta,
                format: d.format,
                chunks: d.chunks,
                bytes: d.bytes,
                content_hash: d.content_hash,
            })
            .collect())
    }

    fn add_document(&self, file_name: &str, bytes: &[u8]) -> Result<IngestSummary, ServiceError> {
        let report = self.ingest(file_name, bytes).map_err(|e| e.kind())?;
        let chunks = match report.outcome {
            // Unchanged ingests skip parsing; report what is stored.
            UpsertOutcome::Unchanged => self.collection.chunks(file_name)?.len(),
            _ => report.chunks,
        };
        Ok(IngestSummary {
            doc_id: report.doc_id,
            status: match report.outcome {
                UpsertOutcome::Added => IngestStatus::Added,
                UpsertOutcome::Unchanged => IngestStatus::Unchanged,
                UpsertOutcome::Replaced => IngestStatus::Replaced,
            },
            chunks,
            warnings: report.warnings,
        })
    }

    fn delete_document(&self, doc_id: &str) -> Result<bool, ServiceError> {
        let _guard = self
            .ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(self.collection.delete_document(doc_id)?)
    }

    fn get_passage(
        &self,
        doc_id: &str,
        start: usize,
        end: usize,
        context_bytes: usize,
    ) -> Result<Passage, ServiceError> {
        let document = self
            .collection
            .document(doc_id)?
            .ok_or_else(|| CoreError::NotFound(format!("document {doc_id}")))?;
        let source = &document.source;
        let text = source.get(start..end).filter(|_| start < end).ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "[{start}, {end}) is not a passage of {doc_id} (length {} bytes, offsets must fall on character boundaries)",
                source.len()
            ))
        })?;
        let before_start = floor_char_boundary(source, start.saturating_sub(context_bytes));
        let after_end = ceil_char_boundary(source, end.saturating_add(context_bytes));
        // The chunk that contains the passage carries its speaker and time.
        let chunk = self
            .collection
            .chunks(doc_id)?
            .into_iter()
            .find(|c| c.span.start <= start && end <= c.span.end);
        let time = chunk.as_ref().and_then(|c| c.time);
        Ok(Passage {
            doc_id: doc_id.to_string(),
            title: document.meta.title.clone(),
            url: document
                .meta
                .url
                .as_deref()
                .map(|url| tingwen_rag::link_with_time(url, time.map(|t| t.start))),
            start,
            end,
            text: text.to_string(),
            before: source[before_start..start].to_string(),
            after: source[end..after_end].to_string(),
            speaker: chunk.as_ref().and_then(|c| c.speaker_label()),
            time,
        })
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ServiceError> {
        self.encoder.embed(texts, EmbedKind::Passage)
    }

    fn info(&self) -> ServiceInfo {
        let stats = self.collection.stats().ok();
        ServiceInfo {
            collection: self.collection_name.clone(),
            embedding_model: self.encoder.model_id().to_string(),
            chat_model: self.chat_model_id.clone(),
            documents: stats.as_ref().map_or(0, |s| s.documents),
            chunks: stats.as_ref().map_or(0, |s| s.chunks),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}
