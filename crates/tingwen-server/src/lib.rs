//! tingwen-server: the HTTP layer of tingwen, as a library.
//!
//! It owns the routes (the native JSON API under `/api`, the
//! OpenAI-compatible endpoints under `/v1`, `/healthz`, `/metrics`, the web
//! page at `/` and the place where MCP plugs in at `/mcp`), authentication,
//! body and time limits, the bound on concurrent generations, SSE streaming,
//! metrics, and the one error type mapped onto HTTP. It holds no business
//! logic: every request becomes one call on an [`AppService`], run on a
//! blocking thread.
//!
//! ```no_run
//! # async fn demo(service: std::sync::Arc<dyn tingwen_server::AppService>) -> std::io::Result<()> {
//! use tingwen_server::{serve, shutdown_signal, AppState, ServerConfig};
//! let state = AppState::new(service, ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, state, shutdown_signal()).await
//! # }
//! ```
#![warn(missing_docs)]

mod api;
mod config;
mod error;
pub mod fake;
pub mod mcp;
mod metrics;
mod middleware;
mod openai;
mod service;
mod stream;
mod validate;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{delete, get, post};
use axum::Router;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use config::ServerConfig;
pub use error::ApiError;
pub use metrics::Metrics;
pub use openai::SOURCES_MARKER;
pub use service::{
    AppService, AskEvent, AskRequest, DocumentInfo, IngestStatus, IngestSummary, Passage,
    SearchRequest, ServiceError, ServiceInfo,
};
pub use validate::validate_doc_id;

/// Everything a handler needs: the engine, the settings and the metrics.
#[derive(Clone)]
pub struct AppState {
    /// The engine behind the routes.
    pub service: Arc<dyn AppService>,
    /// Limits, timeouts and the API key.
    pub config: Arc<ServerConfig>,
    /// Counters and gauges for `/metrics`.
    pub metrics: Arc<Metrics>,
    generation_slots: Arc<Semaphore>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `router`; the generation bound comes from the config.
    pub fn new(service: Arc<dyn AppService>, config: ServerConfig) -> Self {
        let slots = config.max_concurrent_generations.max(1);
        AppState {
            service,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            generation_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Takes one generation slot, or fails with 429 when all are busy.
    pub(crate) fn try_generation_slot(&self) -> Result<GenerationSlot, ApiError> {
        match self.generation_slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.metrics.generation_started();
                Ok(GenerationSlot {
                    _permit: permit,
                    metrics: self.metrics.clone(),
                    started: std::time::Instant::now(),
                    deltas: 0,
                })
            }
            Err(_) => {
                self.metrics.generation_rejected();
                Err(ApiError::TooManyGenerations {
                    retry_after_secs: self.config.retry_after_secs,
                })
            }
        }
    }

    /// Runs a blocking service call off the async runtime.
    pub(crate) async fn blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn AppService) -> Result<T, ServiceError> + Send + 'static,
    {
        let service = self.service.clone();
        let retry_after = self.config.retry_after_secs;
        match tokio::task::spawn_blocking(move || work(service.as_ref())).await {
            Ok(result) => result.map_err(|error| ApiError::from_service(error, retry_after)),
            Err(join_error) => Err(ApiError::Internal(format!(
                "service call panicked or was aborted: {join_error}"
            ))),
        }
    }
}

/// A held generation slot; releasing it (on drop) records the generation.
pub(crate) struct GenerationSlot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    started: std::time::Instant,
    deltas: u64,
}

impl GenerationSlot {
    pub(crate) fn count_delta(&mut self) {
        self.deltas += 1;
    }
}

impl Drop for GenerationSlot {
    fn drop(&mut self) {
        self.metrics
            .generation_finished(self.deltas, self.started.elapsed());
    }
}

/// The placeholder web page; the web UI replaces `src/ui/index.html`.
const INDEX_HTML: &str = include_str!("ui/index.html");

async fn index_page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(INDEX_HTML))
}

/// All routes, with auth, limits, timeouts and metrics applied.
pub fn router(state: AppState) -> Router {
    let json_limit = DefaultBodyLimit::max(state.config.max_json_body_bytes);
    let chat_limit = DefaultBodyLimit::max(state.config.max_chat_body_bytes);
    let embedding_limit = DefaultBodyLimit::max(state.config.max_embedding_body_bytes);
    let upload_limit = DefaultBodyLimit::max(state.config.max_upload_bytes);

    let api = Router::new()
        .route("/api/search", post(api::search).layer(json_limit))
        .route("/api/ask", post(api::ask).layer(json_limit))
        .route(
            "/api/documents",
            get(api::list_documents)
                .post(api::upload_document)
                .layer(upload_limit),
        )
        .route("/api/documents/{doc_id}", delete(api::delete_document))
        .route("/api/passage", get(api::passage))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics));

    let openai = Router::new()
        .route("/v1/models", get(openai::models))
        .route(
            "/v1/chat/completions",
            post(openai::chat_completions).layer(chat_limit),
        )
        .route(
            "/v1/embeddings",
            post(openai::embeddings).layer(embedding_limit),
        );

    // ---- Web UI (`/`) -------------------------------------------------------
    // A single embedded HTML page; the web UI work replaces src/ui/index.html.
    let ui = Router::new().route("/", get(index_page));

    // ---- MCP (`/mcp`) -------------------------------------------------------
    // The rmcp streamable-HTTP service, inside the auth layer like every
    // other route.
    let mcp = mcp::mcp_router(state.service.clone());

    Router::new()
        .merge(api)
        .merge(openai)
        .merge(ui)
        .merge(mcp)
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::auth,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::record_metrics,
        ))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then
/// stops accepting connections and waits for in-flight requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, auth = state.config.api_key.is_some(), "serving");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM; pass it to [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}
