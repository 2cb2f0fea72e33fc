//! Turning raw request input into checked values, or a 4xx.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::{ApiError, ServerConfig};

/// Longest document id (file name) accepted, in bytes.
const MAX_DOC_ID_BYTES: usize = 255;

/// Checks that a document id is a plain file name that cannot name anything
/// outside the collection: not empty, no path separators, no `.`/`..`, no
/// leading dot, no control characters, at most 255 bytes.
pub fn validate_doc_id(doc_id: &str) -> Result<&str, ApiError> {
    let problem = if doc_id.is_empty() {
        Some("is empty")
    } else if doc_id.len() > MAX_DOC_ID_BYTES {
        Some("is longer than 255 bytes")
    } else if doc_id.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if doc_id.starts_with('.') {
        Some("starts with a dot")
    } else if doc_id.chars().any(char::is_control) {
        Some("contains control characters")
    } else if doc_id.trim() != doc_id {
        Some("starts or ends with white space")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ApiError::bad_request(
            "invalid_doc_id",
            format!("document id {problem}"),
        )),
        None => Ok(doc_id),
    }
}

/// Maps a failure to read the body onto 413 or 400.
pub(crate) fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::bad_request("unreadable_body", "could not read the request body")
    }
}

/// Reads a JSON body (any content type is accepted, so `curl -d` works).
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| body_error(rejection, limit))?;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        let code = if error.is_data() {
            "invalid_parameter"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, format!("invalid request body: {error}"))
    })
}

/// A non-empty question or query of bounded length, trimmed.
pub(crate) fn question(text: &str, field: &str, config: &ServerConfig) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(
            "empty_question",
            format!("`{field}` must not be empty"),
        ));
    }
    if trimmed.chars().count() > config.max_question_chars {
        return Err(ApiError::bad_request(
            "question_too_long",
            format!(
                "`{field}` is longer than {} characters",
                config.max_question_chars
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// `k` within `1..=max_k`.
pub(crate) fn k(k: Option<usize>, config: &ServerConfig) -> Result<Option<usize>, ApiError> {
    match k {
        Some(value) if value == 0 || value > config.max_k => Err(ApiError::bad_request(
            "invalid_k",
            format!("`k` must be between 1 and {}", config.max_k),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_cannot_escape() {
        for bad in [
            "",
            "..",
            ".",
            "../etc/passwd",
            "a/b.txt",
            "a\\b.txt",
            ".hidden",
            "x\0y",
            " a.txt",
            "a\nb",
        ] {
            assert!(validate_doc_id(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "a".repeat(256);
        assert!(validate_doc_id(&long).is_err());
        for good in [
            "talk.md",
            "张璐-访谈 2024.srt",
            "a..b.txt",
            "ep 12 (final).vtt",
        ] {
            assert_eq!(validate_doc_id(good).ok(), Some(good));
        }
    }

    #[test]
    fn questions_and_k_are_bounded() {
        let config = ServerConfig::default();
        assert!(question("   ", "question", &config).is_err());
        assert_eq!(
            question(" hi ", "question", &config).ok().as_deref(),
            Some("hi")
        );
        let long = "问".repeat(config.max_question_chars + 1);
        assert!(question(&long, "question", &config).is_err());
        assert!(k(Some(0), &config).is_err());
        assert!(k(Some(config.max_k + 1), &config).is_err());
        assert_eq!(k(Some(3), &config).ok(), Some(Some(3)));
        assert_eq!(k(None, &config).ok(), Some(None));
    }
}
