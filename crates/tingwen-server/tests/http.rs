//! In-process tests of every route against the fake service.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use futures::StreamExt;
use serde_json::{json, Value};
use tingwen_core::{ChatRole, CoreError};
use tingwen_server::fake::{FakeService, FAKE_DIM};
use tingwen_server::{router, AppState, ServerConfig, SOURCES_MARKER};
use tower::ServiceExt;

const WAYMO: &str = "# Waymo 访谈\n\n张璐：旧金山停电那天，Waymo 的车停在了路口。\n因为信号灯全部熄灭，车辆选择了保守策略。\nThe robotaxi waited at the dark intersection for safety.\n";
const MEETUP: &str = "Host: Welcome to the meetup about vector search.\nGuest: We index transcripts with HNSW and BM25.\n";

struct TestApp {
    router: Router,
    fake: Arc<FakeService>,
    state: AppState,
}

fn app_with(config: ServerConfig) -> TestApp {
    let fake = Arc::new(FakeService::with_documents([
        ("waymo.md", WAYMO),
        ("meetup.txt", MEETUP),
    ]));
    let state = AppState::new(fake.clone(), config);
    TestApp {
        router: router(state.clone()),
        fake,
        state,
    }
}

fn app() -> TestApp {
    app_with(ServerConfig::default())
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// Asserts a 4xx/5xx with the OpenAI error shape and returns its code.
    fn error_code(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        let error = &body["error"];
        assert!(error["message"].is_string(), "{body}");
        assert!(error["type"].is_string(), "{body}");
        error["code"].as_str().unwrap().to_owned()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn post_json(router: &Router, uri: &str, body: Value) -> Reply {
    send(router, post(uri, body.to_string())).await
}

/// SSE blocks as (event name, data), keep-alive comments skipped.
fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut name = String::from("message");
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (!data.is_empty()).then(|| (name, data.join("\n")))
        })
        .collect()
}

/// Waits (bounded) for a condition that another thread makes true.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

// ---------------------------------------------------------------- search

#[tokio::test]
async fn search_returns_exact_passages() {
    let app = app();
    let reply = post_json(
        &app.router,
        "/api/search",
        json!({"query": "Waymo 路口", "k": 2}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    let results = body["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() <= 2);
    for hit in results {
        let (start, end) = (
            hit["start"].as_u64().unwrap() as usize,
            hit["end"].as_u64().unwrap() as usize,
        );
        let source = if hit["doc_id"] == "waymo.md" {
            WAYMO
        } else {
            MEETUP
        };
        assert_eq!(&source[start..end], hit["text"].as_str().unwrap());
        assert!(hit["score"].is_number() && hit["title"].is_string());
        assert!(
            hit.get("chunk_ids").is_none(),
            "internal fields leak: {hit}"
        );
    }
    assert_eq!(results[0]["doc_id"], "waymo.md");
}

#[tokio::test]
async fn search_filters_by_document() {
    let app = app();
    let reply = post_json(
        &app.router,
        "/api/search",
        json!({"query": "transcripts Waymo intersection", "doc_id": "meetup.txt"}),
    )
    .await;
    let body = reply.json();
    let results = body["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|hit| hit["doc_id"] == "meetup.txt"));
}

#[tokio::test]
async fn malformed_requests_get_json_4xx_and_the_server_keeps_serving() {
    let app = app();
    let huge_question = "问".repeat(700_000); // ~2 MB
    let cases: Vec<(&str, Body, StatusCode)> = vec![
        (
            "/api/search",
            Body::from("{not json"),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/search", Body::from(""), StatusCode::BAD_REQUEST),
        (
            "/api/search",
            Body::from(r#"{"query": 5}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"k": 3}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "  "}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "x", "k": 0}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "x", "k": -3}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "x", "k": 100000000000000000000000}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "x", "k": 1000}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "x", "k": "3"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(b"{\"query\": \"\xff\xfe\"}".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/search",
            Body::from(r#"{"query": "x", "doc_id": "../../etc/passwd"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(r#"{"question": ""}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(r#"{"question": ["a"]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(r#"{"question": "x", "mode": "poetry"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(r#"{"question": "x", "k": 0}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(r#"{"question": "x", "stream": "yes"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(r#"{"question": "x", "history": [{"role": "robot", "content": "hi"}]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(b"{\"question\": \"\xc3\x28\"}".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(json!({"question": "问".repeat(3000)}).to_string()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/ask",
            Body::from(json!({"question": huge_question}).to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (uri, body, status) in cases {
        let reply = send(&app.router, post(uri, body)).await;
        reply.error_code(status);
    }
    // Still serving, and nothing was generated for the rejected asks.
    let reply = post_json(&app.router, "/api/search", json!({"query": "Waymo"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(app.fake.asks_started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn service_failures_map_to_statuses_without_internals() {
    let app = app();
    *app.fake.fail_next.lock() = Some(CoreError::Internal(
        "disk /var/secret/index.db corrupt".into(),
    ));
    let reply = post_json(&app.router, "/api/search", json!({"query": "Waymo"})).await;
    assert_eq!(
        reply.error_code(StatusCode::INTERNAL_SERVER_ERROR),
        "internal_error"
    );
    assert!(!reply.text().contains("secret"), "{}", reply.text());

    *app.fake.fail_next.lock() = Some(CoreError::Overloaded("embed queue full".into()));
    let reply = post_json(&app.router, "/api/search", json!({"query": "Waymo"})).await;
    assert_eq!(
        reply.error_code(StatusCode::SERVICE_UNAVAILABLE),
        "overloaded"
    );
    assert!(reply.headers.contains_key(header::RETRY_AFTER));

    *app.fake.fail_next.lock() = Some(CoreError::ModelUnavailable("/models/qwen.gguf".into()));
    let reply = post_json(
        &app.router,
        "/api/ask",
        json!({"question": "Waymo?", "mode": "generate"}),
    )
    .await;
    assert_eq!(
        reply.error_code(StatusCode::SERVICE_UNAVAILABLE),
        "model_unavailable"
    );
    assert!(!reply.text().contains("qwen.gguf"));
}

// ---------------------------------------------------------------- ask

#[tokio::test]
async fn ask_returns_the_answer_json() {
    let app = app();
    let reply = post_json(
        &app.router,
        "/api/ask",
        json!({"question": "Why did Waymo stop at the intersection?", "mode": "extractive", "k": 2,
               "history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["mode"], "extractive");
    assert_eq!(answer["language"], "en");
    let citations = answer["citations"].as_array().unwrap();
    assert!(!citations.is_empty());
    assert_eq!(citations[0]["n"], 1);
    assert!(answer["answer"].as_str().unwrap().contains("[1]"));
    let seen = app.fake.last_ask.lock().clone().unwrap();
    assert_eq!(seen.history.len(), 2);
    assert_eq!(seen.k, Some(2));
}

#[tokio::test]
async fn ask_streams_sources_deltas_then_the_verified_answer() {
    let app = app();
    let reply = post_json(
        &app.router,
        "/api/ask",
        json!({"question": "Waymo 为什么停在路口？", "stream": true}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&reply.text());
    assert_eq!(events[0].0, "sources");
    let sources: Value = serde_json::from_str(&events[0].1).unwrap();
    assert!(!sources["sources"].as_array().unwrap().is_empty());
    let deltas: String = events
        .iter()
        .filter(|(name, _)| name == "delta")
        .map(|(_, data)| {
            serde_json::from_str::<Value>(data).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(&names[names.len() - 2..], ["citations", "done"]);
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(done["answer"].as_str().unwrap(), deltas);
    assert_eq!(done["language"], "zh");
}

#[tokio::test]
async fn ask_stream_reports_failures_as_error_events() {
    let app = app();
    *app.fake.fail_next.lock() = Some(CoreError::Internal("stack trace with /home/secret".into()));
    let reply = post_json(
        &app.router,
        "/api/ask",
        json!({"question": "Waymo?", "stream": true}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = sse_events(&reply.text());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "error");
    let error: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(error["error"]["code"], "internal_error");
    assert!(!reply.text().contains("secret"));
}

#[tokio::test]
async fn too_many_concurrent_generations_get_429_with_retry_after() {
    let app = app_with(ServerConfig {
        max_concurrent_generations: 1,
        ..ServerConfig::default()
    });
    app.fake.hold_asks.store(true, Ordering::SeqCst);
    // The first (streamed) answer holds the only slot while it waits.
    let first = app
        .router
        .clone()
        .oneshot(post(
            "/api/ask",
            json!({"question": "Waymo?", "stream": true}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    eventually("the first ask to start", || {
        app.fake.asks_started.load(Ordering::SeqCst) == 1
    })
    .await;

    let reply = post_json(&app.router, "/api/ask", json!({"question": "Waymo?"})).await;
    assert_eq!(
        reply.error_code(StatusCode::TOO_MANY_REQUESTS),
        "too_many_generations"
    );
    assert_eq!(reply.headers[header::RETRY_AFTER], "2");
    let reply = post_json(
        &app.router,
        "/v1/chat/completions",
        json!({"model": "tingwen-fake", "messages": [{"role": "user", "content": "Waymo?"}]}),
    )
    .await;
    assert_eq!(
        reply.error_code(StatusCode::TOO_MANY_REQUESTS),
        "too_many_generations"
    );
    // Searches are not generations and still work.
    assert_eq!(
        post_json(&app.router, "/api/search", json!({"query": "Waymo"}))
            .await
            .status,
        StatusCode::OK
    );

    app.fake.hold_asks.store(false, Ordering::SeqCst);
    let body = to_bytes(first.into_body(), usize::MAX).await.unwrap();
    let events = sse_events(std::str::from_utf8(&body).unwrap());
    assert_eq!(events.last().unwrap().0, "done");
    // The slot is free again.
    let reply = post_json(&app.router, "/api/ask", json!({"question": "Waymo?"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    let metrics = send(&app.router, get("/metrics")).await.text();
    assert!(
        metrics.contains("tingwen_generations_rejected_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn client_disconnect_cancels_the_generation() {
    let long_text: String = (0..400)
        .map(|i| format!("Waymo waited at crossing number {i} during the outage.\n"))
        .collect();
    let fake = Arc::new(FakeService::with_documents([(
        "long.txt",
        long_text.as_str(),
    )]));
    *fake.delta_delay.lock() = Duration::from_millis(2);
    let state = AppState::new(fake.clone(), ServerConfig::default());
    let app = router(state.clone());

    let response = app
        .oneshot(post(
            "/api/ask",
            json!({"question": "Waymo waited outage", "k": 50, "stream": true}).to_string(),
        ))
        .await
        .unwrap();
    let mut body = response.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("sources"));
    drop(body); // the client goes away

    eventually("the fake to see the cancellation", || {
        fake.asks_cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(fake.asks_finished.load(Ordering::SeqCst), 0);
    // 50 quoted lines of ~9 words each would be ~450 pieces.
    assert!(fake.deltas_sent.load(Ordering::SeqCst) < 400);
    eventually("the generation slot to be released", || {
        state.metrics.generations_in_flight() == 0
    })
    .await;
}

#[tokio::test]
async fn request_timeout_gives_504_and_cancels_the_answer() {
    let app = app_with(ServerConfig {
        request_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    app.fake.hold_asks.store(true, Ordering::SeqCst);
    let reply = post_json(&app.router, "/api/ask", json!({"question": "Waymo?"})).await;
    assert_eq!(reply.error_code(StatusCode::GATEWAY_TIMEOUT), "timeout");
    app.fake.hold_asks.store(false, Ordering::SeqCst);
    eventually("the timed-out answer to be cancelled", || {
        app.fake.asks_cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the slot to be released", || {
        app.state.metrics.generations_in_flight() == 0
    })
    .await;
}

// ---------------------------------------------------------------- documents

#[tokio::test]
async fn documents_are_listed_uploaded_and_deleted() {
    let app = app();
    let listing = send(&app.router, get("/api/documents")).await.json();
    assert_eq!(listing["count"], 2);
    assert!(listing["chunks"].as_u64().unwrap() >= 5);
    let waymo = listing["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["doc_id"] == "waymo.md")
        .unwrap()
        .clone();
    assert_eq!(waymo["bytes"], WAYMO.len());
    assert_eq!(waymo["title"], "waymo");

    // Raw body with ?name= (percent-encoded Chinese file name).
    let request = Request::post("/api/documents?name=%E8%AE%BF%E8%B0%88.txt")
        .body(Body::from("主持人：欢迎。\n嘉宾：谢谢。\n"))
        .unwrap();
    let reply = send(&app.router, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["status"], "added");
    assert_eq!(reply.json()["doc_id"], "访谈.txt");

    // Raw body named by header; same bytes again are unchanged, new bytes replace.
    for (text, status) in [
        ("one\n", "added"),
        ("one\n", "unchanged"),
        ("two\n", "replaced"),
    ] {
        let request = Request::post("/api/documents")
            .header("X-File-Name", "notes.txt")
            .body(Body::from(text))
            .unwrap();
        let reply = send(&app.router, request).await;
        assert_eq!(reply.json()["status"], status);
    }

    // Multipart, as a browser form sends it.
    let boundary = "XyZboundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.srt\"\r\nContent-Type: text/plain\r\n\r\nHello from a talk.\n\r\n--{boundary}--\r\n"
    );
    let request = Request::post("/api/documents")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(multipart))
        .unwrap();
    let reply = send(&app.router, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["doc_id"], "talk.srt");

    let listing = send(&app.router, get("/api/documents")).await.json();
    assert_eq!(listing["count"], 5);

    let reply = send(
        &app.router,
        Request::delete("/api/documents/talk.srt")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["deleted"], true);
    let reply = send(
        &app.router,
        Request::delete("/api/documents/talk.srt")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        reply.error_code(StatusCode::NOT_FOUND),
        "document_not_found"
    );
    let reply = send(
        &app.router,
        Request::delete("/api/documents/%E8%AE%BF%E8%B0%88.txt")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_uploads_and_ids_are_rejected() {
    let app = app_with(ServerConfig {
        max_upload_bytes: 1024,
        ..ServerConfig::default()
    });
    let cases = [
        (
            Request::post("/api/documents?name=..%2F..%2Fetc%2Fpasswd")
                .body(Body::from("x"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_doc_id",
        ),
        (
            Request::post("/api/documents?name=.env")
                .body(Body::from("x"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_doc_id",
        ),
        (
            Request::post("/api/documents")
                .body(Body::from("x"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "missing_file_name",
        ),
        (
            Request::post("/api/documents?name=a.txt")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "empty_upload",
        ),
        (
            Request::post("/api/documents?name=big.txt")
                .body(Body::from(vec![b'a'; 4096]))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Request::post("/api/documents?name=bin.txt")
                .body(Body::from(vec![0xff, 0xfe, 0x00]))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Request::post("/api/documents")
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=zz")
                .body(Body::from("garbage"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_multipart",
        ),
        (
            Request::delete("/api/documents/..")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_doc_id",
        ),
        (
            Request::delete("/api/documents/..%2Fwaymo.md")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_doc_id",
        ),
    ];
    for (request, status, code) in cases {
        let uri = request.uri().clone();
        let reply = send(&app.router, request).await;
        assert_eq!(reply.error_code(status), code, "{uri}");
    }
    assert_eq!(
        send(&app.router, get("/api/documents")).await.json()["count"],
        2
    );
}

#[tokio::test]
async fn passages_come_with_context() {
    let app = app();
    let start = WAYMO.find("因为").unwrap();
    let end = WAYMO[start..].find('\n').unwrap() + start;
    let reply = send(
        &app.router,
        get(&format!(
            "/api/passage?doc_id=waymo.md&start={start}&end={end}&context=10"
        )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let passage = reply.json();
    assert_eq!(passage["text"], &WAYMO[start..end]);
    let before = passage["before"].as_str().unwrap();
    assert!(before.len() <= 10 && WAYMO[..start].ends_with(before));
    assert!(WAYMO[end..].starts_with(passage["after"].as_str().unwrap()));

    let inside_a_character = start + 1;
    for (uri, status) in [
        (
            format!("/api/passage?doc_id=waymo.md&start={inside_a_character}&end={end}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/passage?doc_id=waymo.md&start=0&end=999999".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/passage?doc_id=waymo.md&start={end}&end={start}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/passage?doc_id=waymo.md&start=-1&end=3".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/passage?doc_id=waymo.md".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/passage?doc_id=waymo.md&start=0&end=3&context=99999999".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/passage?doc_id=none.md&start=0&end=3".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/passage?doc_id=..%2Fx&start=0&end=3".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        send(&app.router, get(&uri)).await.error_code(status);
    }
}

// ---------------------------------------------------------------- health, metrics, ui, routing

#[tokio::test]
async fn health_metrics_page_and_unknown_routes() {
    let app = app();
    let reply = send(&app.router, get("/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");

    post_json(&app.router, "/api/search", json!({"query": "Waymo"})).await;
    post_json(&app.router, "/api/search", json!({"query": ""})).await;
    let reply = send(&app.router, get("/metrics")).await;
    assert!(reply.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text();
    for line in [
        "tingwen_http_requests_total{route=\"/api/search\",method=\"POST\",status=\"200\"} 1",
        "tingwen_http_requests_total{route=\"/api/search\",method=\"POST\",status=\"400\"} 1",
        "tingwen_http_request_duration_seconds_count{route=\"/api/search\"} 2",
        "tingwen_documents 2",
        "tingwen_generations_in_flight 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("tingwen_chunks "));

    let page = send(&app.router, get("/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().contains("<html"));

    send(&app.router, get("/no/such/route"))
        .await
        .error_code(StatusCode::NOT_FOUND);
    send(&app.router, get("/api/search"))
        .await
        .error_code(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn api_key_guards_every_route_but_healthz() {
    let app = app_with(ServerConfig {
        api_key: Some("k3y".into()),
        ..ServerConfig::default()
    });
    for uri in [
        "/api/documents",
        "/v1/models",
        "/metrics",
        "/api/passage?doc_id=waymo.md&start=0&end=1",
        "/mcp",
    ] {
        let reply = send(&app.router, get(uri)).await;
        assert_eq!(
            reply.error_code(StatusCode::UNAUTHORIZED),
            "invalid_api_key",
            "{uri}"
        );
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    let reply = post_json(&app.router, "/api/search", json!({"query": "Waymo"})).await;
    reply.error_code(StatusCode::UNAUTHORIZED);
    for wrong in ["Bearer k3", "Bearer k3yy", "Basic k3y", "k3y"] {
        let request = Request::get("/api/documents")
            .header(header::AUTHORIZATION, wrong)
            .body(Body::empty())
            .unwrap();
        send(&app.router, request)
            .await
            .error_code(StatusCode::UNAUTHORIZED);
    }
    let request = Request::get("/api/documents")
        .header(header::AUTHORIZATION, "Bearer k3y")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app.router, request).await.status, StatusCode::OK);
    assert_eq!(
        send(&app.router, get("/healthz")).await.status,
        StatusCode::OK
    );

    let open = app_with(ServerConfig::default());
    assert_eq!(
        send(&open.router, get("/api/documents")).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- OpenAI-compatible

#[tokio::test]
async fn models_lists_the_collection() {
    let app = app();
    let body = send(&app.router, get("/v1/models")).await.json();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tingwen-fake", "fake-embed"]);
}

#[tokio::test]
async fn chat_completion_carries_sources_and_uses_history() {
    let app = app();
    let previous_answer = format!("Waymo stopped. [1]{SOURCES_MARKER}\n[1] [waymo](/x)\n> quote\n");
    let reply = post_json(
        &app.router,
        "/v1/chat/completions",
        json!({
            "model": "tingwen-fake",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What happened to Waymo?"},
                {"role": "assistant", "content": previous_answer},
                {"role": "user", "content": [{"type": "text", "text": "Why at the intersection?"}]},
            ],
        }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "tingwen-fake");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains(SOURCES_MARKER)
            && content.contains("[1] [waymo](/api/passage?doc_id=waymo.md&start="),
        "{content}"
    );
    assert!(!body["citations"].as_array().unwrap().is_empty());

    let seen = app.fake.last_ask.lock().clone().unwrap();
    assert_eq!(seen.question, "Why at the intersection?");
    let roles: Vec<ChatRole> = seen.history.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [ChatRole::System, ChatRole::User, ChatRole::Assistant]
    );
    assert_eq!(
        seen.history[2].content, "Waymo stopped. [1]",
        "sources must be cut from history"
    );
}

#[tokio::test]
async fn chat_completion_streams_chunks_and_done() {
    let app = app();
    let reply = post_json(
        &app.router,
        "/v1/chat/completions",
        json!({"model": "tingwen-fake", "stream": true, "messages": [{"role": "user", "content": "Waymo 路口"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = sse_events(&reply.text());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    let citations = last["citations"].as_array().unwrap();
    assert!(!citations.is_empty());
    let (answer, sources) = content.split_once(SOURCES_MARKER).unwrap();
    assert!(answer.contains("[1]"));
    assert_eq!(sources.matches("\n[").count(), citations.len());
}

#[tokio::test]
async fn chat_stream_errors_are_data_then_done() {
    let app = app();
    *app.fake.fail_next.lock() = Some(CoreError::ContextOverflow {
        needed: 9000,
        limit: 4096,
    });
    let reply = post_json(
        &app.router,
        "/v1/chat/completions",
        json!({"model": "tingwen-fake", "stream": true, "messages": [{"role": "user", "content": "Waymo"}]}),
    )
    .await;
    let events = sse_events(&reply.text());
    let datas: Vec<&str> = events.iter().map(|(_, data)| data.as_str()).collect();
    assert_eq!(datas.len(), 2, "{datas:?}");
    let error: Value = serde_json::from_str(datas[0]).unwrap();
    assert_eq!(error["error"]["code"], "context_length_exceeded");
    assert_eq!(datas[1], "[DONE]");
}

#[tokio::test]
async fn malformed_chat_requests_get_openai_errors() {
    let app = app();
    let user = json!([{"role": "user", "content": "Waymo?"}]);
    let cases = [
        (
            json!({"model": "gpt-4", "messages": user}),
            StatusCode::NOT_FOUND,
            "model_not_found",
        ),
        (
            json!({"model": "tingwen-fake", "messages": []}),
            StatusCode::BAD_REQUEST,
            "empty_messages",
        ),
        (
            json!({"model": "tingwen-fake"}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model": "tingwen-fake", "messages": "hi"}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model": "tingwen-fake", "messages": [{"role": "assistant", "content": "hi"}]}),
            StatusCode::BAD_REQUEST,
            "last_message_not_user",
        ),
        (
            json!({"model": "tingwen-fake", "messages": [{"role": "user", "content": ""}]}),
            StatusCode::BAD_REQUEST,
            "empty_question",
        ),
        (
            json!({"model": "tingwen-fake", "messages": [{"role": "tool", "content": "x"}]}),
            StatusCode::BAD_REQUEST,
            "invalid_role",
        ),
        (
            json!({"model": "tingwen-fake", "messages": user, "k": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_k",
        ),
        (
            json!({"model": "tingwen-fake", "messages": [{"role": "user", "content": "x".repeat(20_000)}]}),
            StatusCode::BAD_REQUEST,
            "question_too_long",
        ),
        (
            json!({"model": "tingwen-fake", "messages": [{"role": "user", "content": "问".repeat(700_000)}]}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let reply = post_json(&app.router, "/v1/chat/completions", body.clone()).await;
        assert_eq!(reply.error_code(status), code, "{body}");
    }
    let reply = send(&app.router, post("/v1/chat/completions", "{\"model\":")).await;
    assert_eq!(reply.error_code(StatusCode::BAD_REQUEST), "invalid_json");
}

#[tokio::test]
async fn embeddings_as_floats_and_base64() {
    let app = app();
    let reply = post_json(
        &app.router,
        "/v1/embeddings",
        json!({"model": "fake-embed", "input": "你好 world"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    let vector: Vec<f64> = body["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(vector.len(), FAKE_DIM);
    assert!((vector.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4);

    let reply = post_json(
        &app.router,
        "/v1/embeddings",
        json!({"input": ["a text", "another text"], "encoding_format": "base64"}),
    )
    .await;
    let body = reply.json();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data[0]["embedding"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes.len(), FAKE_DIM * 4);

    for (body, status) in [
        (json!({"input": []}), StatusCode::BAD_REQUEST),
        (json!({"input": [""]}), StatusCode::BAD_REQUEST),
        (json!({"input": 5}), StatusCode::BAD_REQUEST),
        (json!({"input": [[1, 2, 3]]}), StatusCode::BAD_REQUEST),
        (
            json!({"input": "x", "encoding_format": "int8"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"input": "x", "model": "text-embedding-3-small"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        post_json(&app.router, "/v1/embeddings", body)
            .await
            .error_code(status);
    }
}

// ---------------------------------------------------------------- serve

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fake = Arc::new(FakeService::with_documents([("waymo.md", WAYMO)]));
    *fake.search_delay.lock() = Duration::from_millis(300);
    let state = AppState::new(fake.clone(), ServerConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tingwen_server::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = r#"{"query":"Waymo"}"#;
    let request = format!(
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    connection.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await; // let the server start on it
    stop.send(()).unwrap();
    let mut response = String::new();
    connection.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"results\""));
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "still accepting after shutdown"
    );
}
