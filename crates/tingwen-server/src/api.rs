//! The native JSON API under `/api`, plus `/healthz` and `/metrics`.
//!
//! `POST /api/ask` with `"stream": true` answers with SSE events:
//! `sources` (`{"sources":[Citation]}`), then `delta` (`{"text":"..."}`) as
//! the answer is generated, then `citations` (`{"citations":[Citation]}`,
//! the verified list) and `done` (the full `Answer`). The verified answer in
//! `done` may differ from the concatenated deltas (verification can reject a
//! generated answer and fall back to quoting); clients should show it in
//! place of the streamed text. Failures arrive as an `error` event carrying
//! `{"error":{"message","type","code"}}`; nothing follows it.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tingwen_core::{AnswerMode, ChatMessage, SearchFilter, SearchMode};

use crate::stream::{ask_to_end, json_event, sse_response, AskStream, StreamItem};
use crate::validate::{self, body_error, parse_json, validate_doc_id};
use crate::{ApiError, AppState, AskEvent, AskRequest, SearchRequest};

#[derive(Deserialize)]
pub(crate) struct SearchBody {
    query: String,
    k: Option<usize>,
    doc_id: Option<String>,
    speaker: Option<String>,
    #[serde(default)]
    mode: SearchMode,
}

/// `POST /api/search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: SearchBody = parse_json(body, config.max_json_body_bytes)?;
    let query = validate::question(&body.query, "query", config)?;
    let k = validate::k(body.k, config)?.unwrap_or(config.default_search_k);
    let doc_ids = match body.doc_id {
        Some(doc_id) => vec![validate_doc_id(&doc_id)?.to_owned()],
        None => Vec::new(),
    };
    let speaker = body
        .speaker
        .map(|speaker| speaker.trim().to_owned())
        .filter(|speaker| !speaker.is_empty());
    let request = SearchRequest {
        query,
        k,
        filter: SearchFilter { doc_ids, speaker },
        mode: body.mode,
    };
    let results = state
        .blocking(move |service| service.search(&request))
        .await?;
    Ok(Json(json!({ "results": results })).into_response())
}

#[derive(Deserialize)]
struct AskBody {
    question: String,
    k: Option<usize>,
    #[serde(default)]
    mode: AnswerMode,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    history: Vec<ChatMessage>,
}

/// `POST /api/ask`, answered whole or as SSE.
pub(crate) async fn ask(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let body: AskBody = parse_json(body, config.max_json_body_bytes)?;
    let question = validate::question(&body.question, "question", config)?;
    let k = validate::k(body.k, config)?;
    if body.history.len() > config.max_history_messages {
        return Err(ApiError::bad_request(
            "history_too_long",
            format!(
                "`history` holds more than {} messages",
                config.max_history_messages
            ),
        ));
    }
    let request = AskRequest {
        question,
        history: body.history,
        k,
        mode: body.mode,
    };
    let slot = state.try_generation_slot()?;
    if !body.stream {
        let answer = ask_to_end(&state, request, slot).await?;
        return Ok(Json(answer).into_response());
    }
    let stream = AskStream::start(&state, request, slot);
    Ok(sse_response(stream, config.keep_alive, ask_events).into_response())
}

fn ask_events(item: StreamItem) -> Vec<axum::response::sse::Event> {
    match item {
        StreamItem::Event(AskEvent::Sources(sources)) => {
            vec![json_event(Some("sources"), &json!({ "sources": sources }))]
        }
        StreamItem::Event(AskEvent::Delta(text)) => {
            vec![json_event(Some("delta"), &json!({ "text": text }))]
        }
        StreamItem::Event(AskEvent::Restart { reason }) => {
            vec![json_event(Some("restart"), &json!({ "reason": reason }))]
        }
        StreamItem::Finished(Ok(answer)) => vec![
            json_event(Some("citations"), &json!({ "citations": answer.citations })),
            json_event(Some("done"), &answer),
        ],
        StreamItem::Finished(Err(error)) => {
            tracing::warn!(%error, "streamed answer failed");
            if let ApiError::Internal(detail) = &error {
                tracing::error!(%detail, "internal error in a streamed answer");
            }
            vec![json_event(Some("error"), &error.body_json())]
        }
    }
}

/// `GET /api/documents`.
pub(crate) async fn list_documents(State(state): State<AppState>) -> Result<Response, ApiError> {
    let documents = state.blocking(|service| service.list_documents()).await?;
    let chunks: usize = documents.iter().map(|document| document.chunks).sum();
    Ok(Json(json!({
        "count": documents.len(),
        "chunks": chunks,
        "documents": documents,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct UploadParams {
    name: Option<String>,
}

/// Header naming a raw-body upload (when `?name=` is not used).
const FILE_NAME_HEADER: &str = "x-file-name";

/// `POST /api/documents`: a multipart form with one file field, or the raw
/// file as the body with its name in `?name=` or an `X-File-Name` header.
pub(crate) async fn upload_document(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = state.config.max_upload_bytes;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let (name, bytes) = if is_multipart {
        read_multipart(&state, request, limit).await?
    } else {
        let name = raw_upload_name(&request)?;
        let bytes = Bytes::from_request(request, &state)
            .await
            .map_err(|rejection| body_error(rejection, limit))?;
        (name, bytes)
    };
    let name = validate_doc_id(&name)?.to_owned();
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the uploaded file is empty",
        ));
    }
    let summary = state
        .blocking(move |service| service.add_document(&name, &bytes))
        .await?;
    Ok(Json(summary).into_response())
}

fn raw_upload_name(request: &Request) -> Result<String, ApiError> {
    let from_query = Query::<UploadParams>::try_from_uri(request.uri())
        .map_err(|_| ApiError::bad_request("invalid_query", "invalid query string"))?
        .0
        .name;
    let from_header = |headers: &HeaderMap| {
        headers
            .get(FILE_NAME_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    from_query
        .or_else(|| from_header(request.headers()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_file_name",
                "name the file with ?name=FILE, an X-File-Name header, or a multipart upload",
            )
        })
}

async fn read_multipart(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<(String, Bytes), ApiError> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|_| ApiError::bad_request("invalid_multipart", "invalid multipart body"))?;
    let multipart_error = |error: axum::extract::multipart::MultipartError| {
        if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request("invalid_multipart", "invalid multipart body")
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        let bytes = field.bytes().await.map_err(multipart_error)?;
        return Ok((name, bytes));
    }
    Err(ApiError::bad_request(
        "missing_file",
        "the multipart body has no file field",
    ))
}

/// `DELETE /api/documents/{doc_id}`.
pub(crate) async fn delete_document(
    State(state): State<AppState>,
    doc_id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(doc_id) =
        doc_id.map_err(|_| ApiError::bad_request("invalid_doc_id", "invalid document id"))?;
    let doc_id = validate_doc_id(&doc_id)?.to_owned();
    let id = doc_id.clone();
    let deleted = state
        .blocking(move |service| service.delete_document(&id))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(
            "document_not_found",
            format!("no document {doc_id:?}"),
        ));
    }
    Ok(Json(json!({ "deleted": true, "doc_id": doc_id })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PassageParams {
    doc_id: String,
    start: usize,
    end: usize,
    context: Option<usize>,
}

/// Bytes of context on each side when `context` is not given.
const DEFAULT_PASSAGE_CONTEXT: usize = 300;

/// `GET /api/passage?doc_id&start&end&context`.
pub(crate) async fn passage(
    State(state): State<AppState>,
    params: Result<Query<PassageParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request("invalid_query", format!("invalid query: {rejection}"))
    })?;
    let doc_id = validate_doc_id(&params.doc_id)?.to_owned();
    if params.start > params.end {
        return Err(ApiError::bad_request(
            "invalid_range",
            "`start` must not be after `end`",
        ));
    }
    let context = params.context.unwrap_or(DEFAULT_PASSAGE_CONTEXT);
    if context > state.config.max_passage_context_bytes {
        return Err(ApiError::bad_request(
            "invalid_context",
            format!(
                "`context` must be at most {} bytes",
                state.config.max_passage_context_bytes
            ),
        ));
    }
    let (start, end) = (params.start, params.end);
    let passage = state
        .blocking(move |service| service.get_passage(&doc_id, start, end, context))
        .await?;
    Ok(Json(passage).into_response())
}

/// `GET /healthz`: the process is up and serving (no service call).
pub(crate) async fn healthz() -> Response {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })).into_response()
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let service = state.service.clone();
    let info = tokio::task::spawn_blocking(move || service.info())
        .await
        .ok();
    let text = state.metrics.render(info.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
