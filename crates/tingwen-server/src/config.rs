//! Server settings: auth, limits and timeouts.

use std::fmt;
use std::time::Duration;

/// Settings of the HTTP layer. The binary fills it from flags, env and the
/// config file; [`ServerConfig::default`] is what tests and `serve` without
/// options use.
#[derive(Clone)]
pub struct ServerConfig {
    /// When set, every route but `/healthz` requires `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Largest JSON body for search, ask and chat requests.
    pub max_json_body_bytes: usize,
    /// Largest JSON body for `/v1/chat/completions`: chat tools resend the
    /// whole conversation, so it is larger; the question itself is still
    /// bounded by `max_question_chars`.
    pub max_chat_body_bytes: usize,
    /// Largest JSON body for `/v1/embeddings` (it carries many texts).
    pub max_embedding_body_bytes: usize,
    /// Largest uploaded transcript.
    pub max_upload_bytes: usize,
    /// Longest question or query, in characters.
    pub max_question_chars: usize,
    /// Most earlier turns accepted as conversation history.
    pub max_history_messages: usize,
    /// Largest `k` a search or ask may request.
    pub max_k: usize,
    /// `k` for searches that give none.
    pub default_search_k: usize,
    /// Most texts in one embeddings request.
    pub max_embedding_inputs: usize,
    /// Most bytes of context `/api/passage` returns on each side.
    pub max_passage_context_bytes: usize,
    /// Time limit for a request until its response starts; a non-streamed
    /// answer must finish within it. Past it: 504 and generation is cancelled.
    pub request_timeout: Duration,
    /// Time limit for a whole streamed answer.
    pub stream_timeout: Duration,
    /// Answers generated at once; more get 429 with `Retry-After`.
    pub max_concurrent_generations: usize,
    /// Seconds a client is told to wait in `Retry-After`.
    pub retry_after_secs: u64,
    /// Interval of SSE keep-alive comments.
    pub keep_alive: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_key: None,
            max_json_body_bytes: 16 * 1024,
            max_chat_body_bytes: 256 * 1024,
            max_embedding_body_bytes: 1024 * 1024,
            max_upload_bytes: 50 * 1024 * 1024,
            max_question_chars: 2000,
            max_history_messages: 20,
            max_k: 50,
            default_search_k: 10,
            max_embedding_inputs: 256,
            max_passage_context_bytes: 10_000,
            request_timeout: Duration::from_secs(120),
            stream_timeout: Duration::from_secs(600),
            max_concurrent_generations: 4,
            retry_after_secs: 2,
            keep_alive: Duration::from_secs(15),
        }
    }
}

// Hand-written so the API key never reaches a log line.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_json_body_bytes", &self.max_json_body_bytes)
            .field("max_chat_body_bytes", &self.max_chat_body_bytes)
            .field("max_embedding_body_bytes", &self.max_embedding_body_bytes)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_question_chars", &self.max_question_chars)
            .field("max_history_messages", &self.max_history_messages)
            .field("max_k", &self.max_k)
            .field("default_search_k", &self.default_search_k)
            .field("max_embedding_inputs", &self.max_embedding_inputs)
            .field("max_passage_context_bytes", &self.max_passage_context_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("stream_timeout", &self.stream_timeout)
            .field(
                "max_concurrent_generations",
                &self.max_concurrent_generations,
            )
            .field("retry_after_secs", &self.retry_after_secs)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_limits() {
        let config = ServerConfig::default();
        assert_eq!(config.max_json_body_bytes, 16 * 1024);
        assert_eq!(config.max_upload_bytes, 50 * 1024 * 1024);
        assert!(config.api_key.is_none());
        assert!(config.max_concurrent_generations >= 1);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let config = ServerConfig {
            api_key: Some("s3cret-key".into()),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret-key"));
        assert!(shown.contains("<redacted>"));
    }
}
