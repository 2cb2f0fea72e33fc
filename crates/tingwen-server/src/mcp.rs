//! MCP (Model Context Protocol) access to the collection, for agents such as
//! Claude Desktop, Cursor or coding agents, built on the official Rust SDK
//! `rmcp`.
//!
//! Four tools — `search_transcripts`, `ask`, `get_passage`, `list_documents`
//! — each answer with readable text for the model plus the same JSON the HTTP
//! API returns as structured content. A bad argument is a tool error
//! (`isError: true` with the reason), never a crash or a protocol failure, so
//! the model can read what to fix. Served over streamable HTTP by
//! [`mcp_router`] (mounted at `/mcp`, behind the same auth as every route) and
//! over stdio by [`serve_stdio`] (`tingwen mcp`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rmcp::handler::server::tool::schema_for_input;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig as McpServerConfig, Tool, ToolAnnotations,
};
use rmcp::schemars::JsonSchema;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tingwen_core::{AnswerMode, Citation, Hit, SearchFilter, SearchMode, TimeRange};

use crate::stream::CancelOnDrop;
use crate::validate::{self, validate_doc_id};
use crate::{ApiError, AppService, AskRequest, SearchRequest, ServerConfig, ServiceError};

/// Server instructions shown to MCP clients on initialize.
const INSTRUCTIONS: &str = "tingwen answers questions about a collection of transcripts \
(podcasts, talks, interviews; Chinese and English) with every claim cited to an exact passage. \
Use `ask` for a cited answer, `search_transcripts` to find passages, `get_passage` to read \
around a passage (doc_id and byte offsets come from the other tools), and `list_documents` \
to see what the collection holds. Quote passages and cite them as [n] with their title.";

/// Bytes of context `get_passage` returns on each side when none is asked for.
const DEFAULT_PASSAGE_CONTEXT: usize = 300;

// ---- Tool arguments (their JSON schemas are what clients see) ----------------

/// Arguments of `search_transcripts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for, in Chinese or English (keywords or a question).
    pub query: String,
    /// Number of passages to return, best first (1 to 50; default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Only search this document (its file name, as `list_documents` shows it).
    #[serde(default)]
    pub doc_id: Option<String>,
    /// Only passages where this speaker talks (case-insensitive substring).
    #[serde(default)]
    pub speaker: Option<String>,
}

/// How `ask` should answer.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(rename_all = "lowercase")]
pub enum AskMode {
    /// Generate with the chat model when one is loaded, else quote.
    #[default]
    Auto,
    /// Always write the answer with the chat model.
    Generate,
    /// Quote the best supporting sentences (fast, no chat model needed).
    Extractive,
}

impl From<AskMode> for AnswerMode {
    fn from(mode: AskMode) -> Self {
        match mode {
            AskMode::Auto => AnswerMode::Auto,
            AskMode::Generate => AnswerMode::Generate,
            AskMode::Extractive => AnswerMode::Extractive,
        }
    }
}

/// Arguments of `ask`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct AskArgs {
    /// The question, in Chinese or English; the answer uses the same language.
    pub question: String,
    /// `auto` (default), `generate` or `extractive`.
    #[serde(default)]
    pub mode: Option<AskMode>,
    /// Passages to retrieve for the answer (1 to 50; default: the engine's choice).
    #[serde(default)]
    pub k: Option<usize>,
}

/// Arguments of `get_passage`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PassageArgs {
    /// Document id (file name), from a search result or citation.
    pub doc_id: String,
    /// Byte offset where the passage starts.
    pub start: usize,
    /// Byte offset one past the passage's end.
    pub end: usize,
    /// Bytes of surrounding text to include on each side (default 300, at most 10000).
    #[serde(default)]
    pub context: Option<usize>,
}

/// Arguments of `list_documents` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ListDocumentsArgs {}

// ---- The handler --------------------------------------------------------------

/// The MCP server: one per session, cheap to clone (it holds the shared service).
#[derive(Clone)]
pub struct TingwenMcp {
    service: Arc<dyn AppService>,
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TingwenMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TingwenMcp").finish_non_exhaustive()
    }
}

/// Why a tool call failed; becomes a tool error the model can read.
struct ToolFailure(String);

impl From<ApiError> for ToolFailure {
    fn from(error: ApiError) -> Self {
        // ApiError's message is the client-safe one (internals stay in logs).
        ToolFailure(error.to_string())
    }
}

type ToolOutcome = Result<(String, Value), ToolFailure>;

impl TingwenMcp {
    /// A server over `service` with the default limits (the HTTP API's).
    pub fn new(service: Arc<dyn AppService>) -> Self {
        Self::with_config(service, Arc::new(ServerConfig::default()))
    }

    /// A server over `service` that applies `config`'s limits (k, question length, context).
    pub fn with_config(service: Arc<dyn AppService>, config: Arc<ServerConfig>) -> Self {
        TingwenMcp { service, config }
    }

    /// The tools, with descriptions and input schemas.
    pub fn tools() -> Vec<Tool> {
        let read_only = |title: &str| ToolAnnotations::with_title(title).read_only(true);
        vec![
            tool::<SearchArgs>(
                "search_transcripts",
                "Search the transcripts for passages relevant to a query (hybrid keyword + \
                 semantic search, Chinese and English). Returns the best passages first, each \
                 with its document title, doc_id, byte offsets (start/end), speaker and time \
                 when known. Optionally restrict to one document or one speaker.",
            )
            .with_annotations(read_only("Search transcripts")),
            tool::<AskArgs>(
                "ask",
                "Answer a question from the transcripts. Returns the answer with numbered \
                 citation markers [n] and the cited passages (title, speaker, time, link, exact \
                 text and byte offsets). If the transcripts do not cover the question the \
                 answer says so (refused) and lists the nearest passages.",
            )
            .with_annotations(read_only("Ask the transcripts")),
            tool::<PassageArgs>(
                "get_passage",
                "Read a passage of a document by byte offsets (as returned by \
                 search_transcripts or ask), with surrounding text on each side for context.",
            )
            .with_annotations(read_only("Read a passage")),
            tool::<ListDocumentsArgs>(
                "list_documents",
                "List the documents in the collection: doc_id, title, date, speakers, source \
                 URL and the number of indexed chunks.",
            )
            .with_annotations(read_only("List documents")),
        ]
    }

    /// Runs one tool. Unknown tools are a protocol error; every other
    /// failure (bad arguments, unknown document, engine errors) is a tool
    /// result with `is_error: true` and a readable reason.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let arguments = Value::Object(arguments.unwrap_or_default());
        let outcome = match name {
            "search_transcripts" => match parse::<SearchArgs>(name, arguments) {
                Ok(args) => self.search(args).await,
                Err(failure) => Err(failure),
            },
            "ask" => match parse::<AskArgs>(name, arguments) {
                Ok(args) => self.ask(args).await,
                Err(failure) => Err(failure),
            },
            "get_passage" => match parse::<PassageArgs>(name, arguments) {
                Ok(args) => self.passage(args).await,
                Err(failure) => Err(failure),
            },
            "list_documents" => match parse::<ListDocumentsArgs>(name, arguments) {
                Ok(_) => self.list_documents().await,
                Err(failure) => Err(failure),
            },
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?}"),
                    None,
                ))
            }
        };
        Ok(match outcome {
            Ok((text, structured)) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(structured);
                result
            }
            Err(ToolFailure(message)) => CallToolResult::error(vec![ContentBlock::text(format!(
                "{name} failed: {message}"
            ))]),
        })
    }

    /// Runs a blocking service call on a blocking thread.
    async fn blocking<T, F>(&self, work: F) -> Result<T, ToolFailure>
    where
        T: Send + 'static,
        F: FnOnce(&dyn AppService) -> Result<T, ServiceError> + Send + 'static,
    {
        let service = self.service.clone();
        let retry_after = self.config.retry_after_secs;
        match tokio::task::spawn_blocking(move || work(service.as_ref())).await {
            Ok(result) => result.map_err(|error| ApiError::from_service(error, retry_after).into()),
            Err(join_error) => Err(ApiError::Internal(format!(
                "MCP tool call panicked or was aborted: {join_error}"
            ))
            .into()),
        }
    }

    async fn search(&self, args: SearchArgs) -> ToolOutcome {
        let query = validate::question(&args.query, "query", &self.config)?;
        let k = validate::k(args.k, &self.config)?.unwrap_or(self.config.default_search_k);
        let doc_ids = match args.doc_id.as_deref() {
            Some(doc_id) => vec![validate_doc_id(doc_id)?.to_owned()],
            None => Vec::new(),
        };
        let speaker = args.speaker.filter(|s| !s.trim().is_empty());
        let request = SearchRequest {
            query: query.clone(),
            k,
            filter: SearchFilter { doc_ids, speaker },
            mode: SearchMode::Hybrid,
        };
        let hits = self
            .blocking(move |service| service.search(&request))
            .await?;
        Ok((search_text(&query, &hits), json!({ "results": hits })))
    }

    async fn ask(&self, args: AskArgs) -> ToolOutcome {
        let question = validate::question(&args.question, "question", &self.config)?;
        let request = AskRequest {
            question,
            history: Vec::new(),
            k: validate::k(args.k, &self.config)?,
            mode: args.mode.unwrap_or_default().into(),
        };
        // Dropping this future (the client cancelled) stops the engine.
        let cancel = CancelOnDrop::new();
        let cancelled = cancel.flag();
        let answer = self
            .blocking(move |service| {
                service.ask(&request, &mut |_event| !cancelled.load(Ordering::Relaxed))
            })
            .await?;
        drop(cancel);
        let text = answer_text(
            &answer.answer,
            answer.refused,
            &answer.citations,
            &answer.related,
        );
        Ok((text, to_value(&answer)?))
    }

    async fn passage(&self, args: PassageArgs) -> ToolOutcome {
        let doc_id = validate_doc_id(&args.doc_id)?.to_owned();
        if args.end < args.start {
            return Err(ToolFailure(format!(
                "`end` ({}) is before `start` ({})",
                args.end, args.start
            )));
        }
        let context = args.context.unwrap_or(DEFAULT_PASSAGE_CONTEXT);
        if context > self.config.max_passage_context_bytes {
            return Err(ToolFailure(format!(
                "`context` must be at most {} bytes",
                self.config.max_passage_context_bytes
            )));
        }
        let (start, end) = (args.start, args.end);
        let passage = self
            .blocking(move |service| service.get_passage(&doc_id, start, end, context))
            .await?;
        let mut text = format!(
            "{} ({}, bytes {}–{})",
            passage.title, passage.doc_id, passage.start, passage.end
        );
        push_speaker_time(&mut text, passage.speaker.as_deref(), passage.time.as_ref());
        if let Some(url) = &passage.url {
            let _ = write!(text, "\nSource: {url}");
        }
        let _ = write!(
            text,
            "\n\nBefore: …{}\n\nPassage: {}\n\nAfter: {}…",
            passage.before, passage.text, passage.after
        );
        Ok((text, to_value(&passage)?))
    }

    async fn list_documents(&self) -> ToolOutcome {
        let documents = self.blocking(|service| service.list_documents()).await?;
        let chunks: usize = documents.iter().map(|d| d.chunks).sum();
        let mut text = format!("{} documents, {chunks} chunks indexed.", documents.len());
        for d in &documents {
            let _ = write!(
                text,
                "\n- {} — {} ({} chunks",
                d.doc_id, d.meta.title, d.chunks
            );
            if let Some(date) = &d.meta.date {
                let _ = write!(text, ", {date}");
            }
            if !d.meta.speakers.is_empty() {
                let _ = write!(text, ", speakers: {}", d.meta.speakers.join(", "));
            }
            text.push(')');
            if let Some(url) = &d.meta.url {
                let _ = write!(text, " {url}");
            }
        }
        let structured =
            json!({ "count": documents.len(), "chunks": chunks, "documents": documents });
        Ok((text, structured))
    }
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    // Our argument types are plain structs, so their schemas are always valid
    // objects; an empty schema keeps the tool listed if that ever changes.
    let schema = schema_for_input::<T>().unwrap_or_else(|error| {
        tracing::error!(tool = name, %error, "invalid MCP input schema");
        Arc::new(JsonObject::from_iter([(
            "type".to_owned(),
            json!("object"),
        )]))
    });
    Tool::new(name, description, schema)
}

fn parse<T: DeserializeOwned>(tool: &str, arguments: Value) -> Result<T, ToolFailure> {
    serde_json::from_value(arguments)
        .map_err(|error| ToolFailure(format!("invalid arguments for {tool}: {error}")))
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, ToolFailure> {
    serde_json::to_value(value).map_err(|error| {
        ApiError::Internal(format!("cannot serialise a tool result: {error}")).into()
    })
}

fn push_speaker_time(text: &mut String, speaker: Option<&str>, time: Option<&TimeRange>) {
    if let Some(speaker) = speaker {
        let _ = write!(text, " · speaker: {speaker}");
    }
    if let Some(time) = time {
        let _ = write!(text, " · at {}", time.format_range());
    }
}

fn search_text(query: &str, hits: &[Hit]) -> String {
    if hits.is_empty() {
        return format!("No passages match {query:?}.");
    }
    let mut text = format!("{} passages for {query:?}, best first:", hits.len());
    for (i, hit) in hits.iter().enumerate() {
        let _ = write!(
            text,
            "\n\n{}. {} (doc_id {}, bytes {}–{})",
            i + 1,
            hit.title,
            hit.doc_id,
            hit.start,
            hit.end
        );
        push_speaker_time(&mut text, hit.speaker.as_deref(), hit.time.as_ref());
        let _ = write!(text, "\n{}", hit.text);
    }
    text
}

fn answer_text(answer: &str, refused: bool, citations: &[Citation], related: &[Hit]) -> String {
    let mut text = answer.to_owned();
    if !citations.is_empty() {
        text.push_str("\n\nSources:");
        for c in citations {
            let _ = write!(
                text,
                "\n[{}] {} (doc_id {}, bytes {}–{})",
                c.n, c.title, c.doc_id, c.start, c.end
            );
            push_speaker_time(&mut text, c.speaker.as_deref(), c.time.as_ref());
            if let Some(url) = &c.url {
                let _ = write!(text, " {url}");
            }
            let _ = write!(text, "\n    \"{}\"", c.text);
        }
    }
    if refused && !related.is_empty() {
        text.push_str("\n\nNearest passages (not enough to answer):");
        for hit in related {
            let _ = write!(
                text,
                "\n- {} (doc_id {}, bytes {}–{}): {}",
                hit.title, hit.doc_id, hit.start, hit.end, hit.text
            );
        }
    }
    text
}

impl ServerHandler for TingwenMcp {
    fn get_info(&self) -> McpServerConfig {
        McpServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("tingwen", env!("CARGO_PKG_VERSION"))
                    .with_title("tingwen 听问 — cited answers from transcripts"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(Self::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        Self::tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(&request.name, request.arguments)
            .await
            .map(Into::into)
    }
}

/// MCP over streamable HTTP at `/mcp`, to merge into the main router (inside
/// its auth layer). Only loopback `Host` headers are accepted, which guards a
/// key-less local server against DNS rebinding; see [`mcp_router_for_hosts`].
pub fn mcp_router<S>(service: Arc<dyn AppService>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    mcp_router_with(service, StreamableHttpServerConfig::default())
}

/// Like [`mcp_router`], accepting these `Host` names (`name` or `name:port`);
/// an empty list accepts any host (only sensible behind an API key).
pub fn mcp_router_for_hosts<S>(
    service: Arc<dyn AppService>,
    allowed_hosts: Vec<String>,
) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let config = if allowed_hosts.is_empty() {
        StreamableHttpServerConfig::default().disable_allowed_hosts()
    } else {
        StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts)
    };
    mcp_router_with(service, config)
}

fn mcp_router_with<S>(
    service: Arc<dyn AppService>,
    config: StreamableHttpServerConfig,
) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let server = TingwenMcp::new(service);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new().nest_service("/mcp", mcp)
}

/// Serves MCP over stdin/stdout until the client disconnects (`tingwen mcp`).
/// Logs must go to stderr: stdout carries the protocol.
pub async fn serve_stdio(service: Arc<dyn AppService>) -> std::io::Result<()> {
    let running = TingwenMcp::new(service)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| std::io::Error::other(format!("MCP initialisation failed: {error}")))?;
    running
        .waiting()
        .await
        .map_err(|error| std::io::Error::other(format!("MCP server task failed: {error}")))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fake::FakeService;

    fn server() -> TingwenMcp {
        let service = FakeService::with_documents([
            (
                "waymo.md",
                "# Waymo in the blackout\nHost: Why did the Waymo cars stop at intersections?\n\
                 Guest: Waymo cars stopped because the traffic lights went dark.\n",
            ),
            ("other.txt", "张璐：小语言模型的落地比我想象的要快很多。\n"),
        ]);
        TingwenMcp::new(Arc::new(service))
    }

    fn args(value: Value) -> Option<JsonObject> {
        match value {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    fn text_of(result: &CallToolResult) -> String {
        result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn tools_have_descriptions_and_object_schemas() {
        let tools = TingwenMcp::tools();
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(
            names,
            ["search_transcripts", "ask", "get_passage", "list_documents"]
        );
        for tool in &tools {
            assert!(
                tool.description.as_deref().is_some_and(|d| d.len() > 40),
                "{}",
                tool.name
            );
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                tool.name
            );
        }
        let search = &tools[0].input_schema;
        assert_eq!(search["required"], json!(["query"]));
        assert!(search["properties"]["speaker"].is_object());
        let passage = &tools[2].input_schema;
        assert_eq!(passage["required"], json!(["doc_id", "start", "end"]));
    }

    #[tokio::test]
    async fn search_returns_text_and_structured_hits() {
        let result = server()
            .call(
                "search_transcripts",
                args(json!({ "query": "Waymo", "k": 3 })),
            )
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
        let structured = result.structured_content.clone().unwrap();
        let hits = structured["results"].as_array().unwrap();
        assert!(!hits.is_empty() && hits.len() <= 3);
        let first = &hits[0];
        let text = text_of(&result);
        assert!(text.contains(first["title"].as_str().unwrap()));
        assert!(text.contains(first["doc_id"].as_str().unwrap()));
        assert!(text.contains(first["text"].as_str().unwrap()));
    }

    #[tokio::test]
    async fn ask_returns_the_answer_with_its_citations() {
        let result = server()
            .call(
                "ask",
                args(json!({ "question": "Why did Waymo stop?", "mode": "extractive" })),
            )
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
        let answer = result.structured_content.clone().unwrap();
        let citations = answer["citations"].as_array().unwrap();
        assert!(!citations.is_empty());
        let text = text_of(&result);
        assert!(text.starts_with(answer["answer"].as_str().unwrap()));
        assert!(text.contains("Sources:"));
        assert!(text.contains(citations[0]["text"].as_str().unwrap()));
    }

    #[tokio::test]
    async fn passage_and_document_list_round_trip() {
        let mcp = server();
        let listed = mcp.call("list_documents", None).await.unwrap();
        assert_eq!(listed.is_error, Some(false), "{}", text_of(&listed));
        let documents = listed.structured_content.clone().unwrap()["documents"].clone();
        let doc_id = documents
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["doc_id"].as_str().unwrap().to_owned())
            .find(|id| id == "waymo.md")
            .unwrap();
        assert!(text_of(&listed).contains(&doc_id));

        let search = mcp
            .call(
                "search_transcripts",
                args(json!({ "query": "Waymo", "doc_id": doc_id })),
            )
            .await
            .unwrap();
        let hit = search.structured_content.unwrap()["results"][0].clone();
        let passage = mcp
            .call(
                "get_passage",
                args(json!({ "doc_id": hit["doc_id"], "start": hit["start"], "end": hit["end"], "context": 20 })),
            )
            .await
            .unwrap();
        assert_eq!(passage.is_error, Some(false), "{}", text_of(&passage));
        let structured = passage.structured_content.clone().unwrap();
        assert_eq!(structured["text"], hit["text"]);
        assert!(text_of(&passage).contains(hit["text"].as_str().unwrap()));
    }

    #[tokio::test]
    async fn bad_arguments_are_tool_errors() {
        let mcp = server();
        let cases = [
            ("search_transcripts", json!({})),
            ("search_transcripts", json!({ "query": "" })),
            ("search_transcripts", json!({ "query": "x", "k": 0 })),
            ("search_transcripts", json!({ "query": "x", "k": "many" })),
            (
                "search_transcripts",
                json!({ "query": "x", "doc_id": "../etc/passwd" }),
            ),
            ("ask", json!({ "question": "x", "mode": "telepathy" })),
            ("ask", json!({ "question": "x", "surprise": true })),
            (
                "get_passage",
                json!({ "doc_id": "a.txt", "start": 10, "end": 2 }),
            ),
            (
                "get_passage",
                json!({ "doc_id": "a.txt", "start": -1, "end": 2 }),
            ),
            (
                "get_passage",
                json!({ "doc_id": "no-such-doc.txt", "start": 0, "end": 2 }),
            ),
            (
                "get_passage",
                json!({ "doc_id": "a.txt", "start": 0, "end": 2, "context": 1_000_000 }),
            ),
        ];
        for (tool, arguments) in cases {
            let result = mcp.call(tool, args(arguments.clone())).await.unwrap();
            assert_eq!(
                result.is_error,
                Some(true),
                "{tool} {arguments} was accepted"
            );
            assert!(result.structured_content.is_none());
            assert!(
                text_of(&result).starts_with(&format!("{tool} failed: ")),
                "{}",
                text_of(&result)
            );
        }
        assert!(mcp.call("no_such_tool", None).await.is_err());
    }
}
