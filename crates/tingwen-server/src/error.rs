//! The server's one error type and its mapping onto HTTP.
//!
//! Every route answers errors with the OpenAI error body
//! `{"error":{"message","type","code"}}`. Internal details are logged, never
//! sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tingwen_core::CoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a parameter is out of range.
    #[error("{message}")]
    BadRequest {
        /// Shown to the client.
        message: String,
        /// Machine-readable code, e.g. `invalid_json`.
        code: &'static str,
    },
    /// The request body is larger than the route allows.
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The route's limit in bytes.
        limit: usize,
    },
    /// Missing or wrong API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// The named thing does not exist.
    #[error("{message}")]
    NotFound {
        /// Shown to the client.
        message: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Too many answers are being generated; retry later.
    #[error("too many concurrent generations; retry later")]
    TooManyGenerations {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// The engine's own queue is full.
    #[error("the server is overloaded; retry later")]
    Overloaded {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// A needed model is not loaded.
    #[error("the model needed for this request is not available")]
    ModelUnavailable,
    /// The request did not finish in time.
    #[error("the request timed out")]
    Timeout,
    /// The request was cancelled before it finished.
    #[error("the request was cancelled")]
    Cancelled,
    /// The endpoint is not available in this build.
    #[error("{0} is not available in this build")]
    NotImplemented(&'static str),
    /// A bug or I/O failure; the detail is logged, not shown.
    #[error("internal server error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// The inner object of the OpenAI error body.
#[derive(Serialize)]
pub(crate) struct ErrorDetail<'a> {
    message: String,
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
}

impl ApiError {
    /// A 400 with a message for the client.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            code,
        }
    }

    /// A 404 with a message for the client.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            message: message.into(),
            code,
        }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyGenerations { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } | ApiError::ModelUnavailable | ApiError::Cancelled => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind_and_code(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => ("invalid_request_error", code),
            ApiError::PayloadTooLarge { .. } => ("invalid_request_error", "payload_too_large"),
            ApiError::Unauthorized => ("authentication_error", "invalid_api_key"),
            ApiError::NotFound { code, .. } => ("invalid_request_error", code),
            ApiError::MethodNotAllowed => ("invalid_request_error", "method_not_allowed"),
            ApiError::TooManyGenerations { .. } => ("rate_limit_error", "too_many_generations"),
            ApiError::Overloaded { .. } => ("server_error", "overloaded"),
            ApiError::ModelUnavailable => ("server_error", "model_unavailable"),
            ApiError::Timeout => ("server_error", "timeout"),
            ApiError::Cancelled => ("server_error", "cancelled"),
            ApiError::NotImplemented(_) => ("invalid_request_error", "not_implemented"),
            ApiError::Internal(_) => ("server_error", "internal_error"),
        }
    }

    /// The `{"message","type","code"}` object, for SSE error events too.
    pub(crate) fn detail(&self) -> ErrorDetail<'static> {
        let (kind, code) = self.kind_and_code();
        ErrorDetail {
            message: self.to_string(),
            kind,
            code,
        }
    }

    /// The full `{"error": {...}}` body as JSON.
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.detail() })
    }

    fn log(&self) {
        match self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            other if other.status().is_server_error() => tracing::warn!(error = %other),
            other => tracing::debug!(error = %other),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyGenerations { retry_after_secs }
            | ApiError::Overloaded { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// Maps an engine error; `retry_after_secs` goes into `Retry-After` when
    /// the engine is overloaded.
    pub fn from_service(error: CoreError, retry_after_secs: u64) -> Self {
        match error {
            CoreError::InvalidInput(message) => ApiError::bad_request("invalid_input", message),
            CoreError::NotFound(message) => ApiError::not_found("not_found", message),
            CoreError::ContextOverflow { needed, limit } => ApiError::bad_request(
                "context_length_exceeded",
                format!("the prompt needs {needed} tokens but the model's context holds {limit}"),
            ),
            CoreError::Overloaded(detail) => {
                tracing::warn!(%detail, "engine overloaded");
                ApiError::Overloaded { retry_after_secs }
            }
            CoreError::Cancelled => ApiError::Cancelled,
            CoreError::ModelUnavailable(detail) => {
                tracing::warn!(%detail, "model unavailable");
                ApiError::ModelUnavailable
            }
            CoreError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            error: self.detail(),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_are_not_shown() {
        let error = ApiError::from_service(CoreError::Internal("/secret/path.db locked".into()), 1);
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = error.body_json().to_string();
        assert!(!body.contains("/secret/path.db"), "{body}");
        assert!(body.contains("internal_error"));
    }

    #[test]
    fn core_kinds_map_to_statuses() {
        let cases = [
            (CoreError::InvalidInput("x".into()), StatusCode::BAD_REQUEST),
            (CoreError::NotFound("x".into()), StatusCode::NOT_FOUND),
            (
                CoreError::Overloaded("x".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                CoreError::ContextOverflow {
                    needed: 9000,
                    limit: 8192,
                },
                StatusCode::BAD_REQUEST,
            ),
            (
                CoreError::ModelUnavailable("/models/x.gguf missing".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (core, status) in cases {
            assert_eq!(ApiError::from_service(core, 1).status(), status);
        }
        let unavailable =
            ApiError::from_service(CoreError::ModelUnavailable("/models/x".into()), 1);
        assert!(!unavailable.body_json().to_string().contains("/models/x"));
    }

    #[test]
    fn overload_carries_retry_after() {
        let response =
            ApiError::from_service(CoreError::Overloaded("queue".into()), 7).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
