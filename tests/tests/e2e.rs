//! End-to-end: the real `tingwen` binary, the real models, the demo corpus,
//! over loopback. One ingested collection is shared by the read-only tests;
//! tests that change documents work on their own copy.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tingwen_e2e::{copy_of_demo_collection, python, repo_root, run_ok, tingwen, Server};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .expect("http client")
}

fn post_json(server: &Server, path: &str, body: &Value) -> Result<(u16, Value)> {
    let response = client().post(server.url(path)).json(body).send()?;
    let status = response.status().as_u16();
    let text = response.text()?;
    let value =
        serde_json::from_str(&text).with_context(|| format!("{path} returned non-JSON: {text}"))?;
    Ok((status, value))
}

fn source_of(data_dir: &Path, doc_id: &str) -> Result<String> {
    Ok(
        std::fs::read_to_string(repo_root().join("data").join(doc_id))
            .or_else(|_| std::fs::read_to_string(data_dir.join(doc_id)))?,
    )
}

/// Every citation/result must be an exact slice of its stored source file.
fn assert_exact_span(item: &Value) -> Result<()> {
    let doc_id = item["doc_id"].as_str().context("doc_id")?;
    let start = item["start"].as_u64().context("start")? as usize;
    let end = item["end"].as_u64().context("end")? as usize;
    let source = source_of(Path::new("."), doc_id)?;
    assert_eq!(
        source.get(start..end),
        item["text"].as_str(),
        "text of {doc_id}[{start}..{end}] is not the source slice"
    );
    Ok(())
}

/// One server over a copy of the demo collection, shared by the read-only tests.
fn shared_server() -> Result<&'static Server> {
    type Shared = std::result::Result<(Server, tempfile::TempDir), String>;
    static SERVER: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();
    let shared = SERVER.get_or_init(|| {
        let dir = copy_of_demo_collection().map_err(|e| format!("{e:#}"))?;
        // Generation with a small CPU model takes tens of seconds per answer;
        // leave room for two queued behind each other.
        let server = Server::start(dir.path(), &["--request-timeout-secs", "400"])
            .map_err(|e| format!("{e:#}"))?;
        Ok((server, dir))
    });
    shared
        .as_ref()
        .map(|(server, _)| server)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

#[test]
fn cli_ingest_is_idempotent_and_search_ask_print_api_json() -> Result<()> {
    let copy = copy_of_demo_collection()?;
    let dir = copy.path();
    let data = repo_root().join("data");
    let again = run_ok(dir, &["ingest", &data.to_string_lossy()])?;
    let summary = String::from_utf8_lossy(&again.stdout);
    assert!(
        summary.contains("0 added, 5 unchanged"),
        "second ingest: {summary}"
    );

    let out = run_ok(dir, &["search", "--json", "--k", "3", "Waymo 停电 路口"])?;
    let body: Value = serde_json::from_slice(&out.stdout)?;
    let results = body["results"].as_array().context("results")?;
    assert!(!results.is_empty() && results.len() <= 3);
    for r in results {
        assert_exact_span(r)?;
    }

    let out = run_ok(
        dir,
        &[
            "ask",
            "--mode",
            "extractive",
            "--json",
            "张璐把现在的AI公司分成哪两类？",
        ],
    )?;
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(answer["mode"], "extractive");
    assert_eq!(answer["language"], "zh");
    let citations = answer["citations"].as_array().context("citations")?;
    assert!(!citations.is_empty(), "{answer}");
    for c in citations {
        assert_exact_span(c)?;
    }

    let out = run_ok(dir, &["documents", "list"])?;
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), 5, "{listing}");

    let out = run_ok(dir, &["models", "list"])?;
    let models = String::from_utf8_lossy(&out.stdout);
    assert!(
        models.contains("multilingual-e5-small") && models.contains("verified"),
        "{models}"
    );
    Ok(())
}

#[test]
fn refuses_public_bind_without_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let output = tingwen(dir.path())?
        .args(["serve", "--addr", "0.0.0.0:0"])
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("without an API key"));
    Ok(())
}

#[test]
fn native_api_search_ask_and_stream() -> Result<()> {
    let server = shared_server()?;
    let health = client().get(server.url("/healthz")).send()?;
    assert_eq!(health.status().as_u16(), 200);

    let (status, body) = post_json(
        server,
        "/api/search",
        &json!({"query": "特斯拉 FSD V14", "k": 5}),
    )?;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().context("results")?;
    assert!(!results.is_empty());
    for r in results {
        assert_exact_span(r)?;
        assert!(r["score"].is_number() && r["title"].is_string());
    }

    let (status, answer) = post_json(
        server,
        "/api/ask",
        &json!({"question": "What valuation numbers did Bruce give for SpaceX?", "mode": "extractive"}),
    )?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["language"], "en");
    for c in answer["citations"].as_array().context("citations")? {
        assert_exact_span(c)?;
    }
    assert!(answer["timings_ms"].is_object());

    // Streaming: sources first, then text, then the final answer; well-formed SSE.
    let response = client()
        .post(server.url("/api/ask"))
        .json(&json!({"question": "老于为什么不太满意FSD V14第一版？", "mode": "extractive", "stream": true}))
        .send()?;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let text = response.text()?;
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event:").map(str::trim))
        .collect();
    assert_eq!(events.first(), Some(&"sources"), "{text}");
    assert!(events.contains(&"delta"), "{text}");
    assert!(events.last().is_some_and(|e| *e == "done"), "{text}");
    Ok(())
}

#[test]
fn openai_compatible_endpoints() -> Result<()> {
    let server = shared_server()?;
    let models: Value = client().get(server.url("/v1/models")).send()?.json()?;
    let model = models["data"][0]["id"]
        .as_str()
        .context("model id")?
        .to_string();

    let (status, completion) = post_json(
        server,
        "/v1/chat/completions",
        &json!({"model": model, "messages": [{"role": "user", "content": "张璐觉得2025年最超出预期的转变是什么？"}]}),
    )?;
    assert_eq!(status, 200, "{completion}");
    let content = completion["choices"][0]["message"]["content"]
        .as_str()
        .context("content")?;
    assert!(!content.is_empty());
    assert!(completion["citations"].is_array(), "{completion}");

    let (status, unknown) = post_json(
        server,
        "/v1/chat/completions",
        &json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}),
    )?;
    assert!((400..500).contains(&status), "{unknown}");
    assert!(unknown["error"]["message"].is_string());

    let (status, embeddings) = post_json(
        server,
        "/v1/embeddings",
        &json!({"input": ["你好", "hello"]}),
    )?;
    assert_eq!(status, 200, "{embeddings}");
    assert_eq!(embeddings["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        embeddings["data"][0]["embedding"].as_array().map(Vec::len),
        Some(384)
    );
    Ok(())
}

#[test]
fn malformed_requests_get_json_errors_and_server_survives() -> Result<()> {
    let server = shared_server()?;
    let http = client();
    let huge = "问".repeat(700_000);
    let cases: Vec<(&str, reqwest::blocking::RequestBuilder)> = vec![
        (
            "bad json",
            http.post(server.url("/api/ask"))
                .header("content-type", "application/json")
                .body("{not json"),
        ),
        (
            "wrong type",
            http.post(server.url("/api/search"))
                .json(&json!({"query": 42})),
        ),
        (
            "empty question",
            http.post(server.url("/api/ask"))
                .json(&json!({"question": "  "})),
        ),
        (
            "2 MB question",
            http.post(server.url("/api/ask"))
                .json(&json!({"question": huge})),
        ),
        (
            "k = 0",
            http.post(server.url("/api/search"))
                .json(&json!({"query": "AI", "k": 0})),
        ),
        (
            "k huge",
            http.post(server.url("/api/search"))
                .json(&json!({"query": "AI", "k": 100000})),
        ),
        (
            "invalid utf-8",
            http.post(server.url("/api/search"))
                .header("content-type", "application/json")
                .body(vec![b'{', b'"', b'q', 0xff, 0xfe, b'"', b'}']),
        ),
        (
            "empty messages",
            http.post(server.url("/v1/chat/completions"))
                .json(&json!({"model": "x", "messages": []})),
        ),
        (
            "escaping id",
            http.delete(server.url("/api/documents/..%2F..%2Fetc%2Fpasswd")),
        ),
    ];
    for (name, request) in cases {
        let response = request.send()?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .with_context(|| format!("{name}: error body is not JSON"))?;
        assert!(
            (400..500).contains(&status),
            "{name}: status {status} {body}"
        );
        assert!(body["error"]["message"].is_string(), "{name}: {body}");
    }
    assert_eq!(
        http.get(server.url("/healthz")).send()?.status().as_u16(),
        200
    );
    Ok(())
}

#[test]
fn auth_upload_delete_and_graceful_shutdown() -> Result<()> {
    // A private collection: this test changes documents.
    let dir = tempfile::tempdir()?;
    let fixture = repo_root().join("crates/tingwen-transcript/tests/fixtures");
    let srt = std::fs::read_dir(&fixture)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "srt"))
        .context("an SRT fixture")?;
    let server = Server::start(dir.path(), &["--api-key", "test-key"])?;
    let http = client();
    assert_eq!(
        http.get(server.url("/healthz")).send()?.status().as_u16(),
        200
    );
    let denied = http.get(server.url("/api/documents")).send()?;
    assert_eq!(denied.status().as_u16(), 401);
    let wrong = http
        .get(server.url("/api/documents"))
        .bearer_auth("nope")
        .send()?;
    assert_eq!(wrong.status().as_u16(), 401);

    let bytes = std::fs::read(&srt)?;
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(bytes).file_name("talk.srt"),
    );
    let uploaded: Value = http
        .post(server.url("/api/documents"))
        .bearer_auth("test-key")
        .multipart(form)
        .send()?
        .json()?;
    assert_eq!(uploaded["status"], "added", "{uploaded}");
    let listed: Value = http
        .get(server.url("/api/documents"))
        .bearer_auth("test-key")
        .send()?
        .json()?;
    assert_eq!(
        listed["documents"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let results: Value = http
        .post(server.url("/api/search"))
        .bearer_auth("test-key")
        .json(&json!({"query": "the", "k": 3}))
        .send()?
        .json()?;
    let first = &results["results"][0];
    assert_eq!(first["doc_id"], "talk.srt", "{results}");
    assert!(
        first["time"]["start"].is_number(),
        "SRT times carried through: {first}"
    );

    let deleted = http
        .delete(server.url("/api/documents/talk.srt"))
        .bearer_auth("test-key")
        .send()?;
    assert!(deleted.status().is_success());
    let listed: Value = http
        .get(server.url("/api/documents"))
        .bearer_auth("test-key")
        .send()?
        .json()?;
    assert_eq!(
        listed["documents"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
    assert!(server.shutdown()?, "graceful shutdown exits 0");
    Ok(())
}

/// The official `openai` Python client and `curl -N` (tests/python), against the real server.
#[test]
fn openai_python_client_and_curl_streaming() -> Result<()> {
    let server = shared_server()?;
    let script = repo_root().join("tests/python/test_openai_client.py");
    let status = Command::new(python()?)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&script)
        .env("TINGWEN_URL", &server.base_url)
        .status()?;
    assert!(status.success(), "{} failed", script.display());
    Ok(())
}

/// The reference MCP Python SDK over streamable HTTP and stdio.
#[test]
fn mcp_python_sdk_over_http_and_stdio() -> Result<()> {
    let server = shared_server()?;
    let copy = copy_of_demo_collection()?;
    let dir = copy.path();
    let bin = tingwen_e2e::tingwen_bin()?;
    let stdio_cmd = format!(
        "{} --data-dir {} --models-dir {} --chat-model none mcp",
        bin.display(),
        dir.display(),
        repo_root().join("models").display()
    );
    let script = repo_root().join("tests/python/test_mcp.py");
    let status = Command::new(python()?)
        .arg(&script)
        .env("TINGWEN_MCP_URL", server.url("/mcp"))
        .env("TINGWEN_MCP_CMD", stdio_cmd)
        .status()?;
    assert!(status.success(), "{} failed", script.display());
    Ok(())
}

/// The web page in a real browser (Debian chromium via playwright-core).
#[test]
fn web_ui_in_chromium() -> Result<()> {
    // Its own server (the page test uploads and deletes a document), without
    // a chat model so "auto" answers extractively: the page's behaviour is
    // under test here, generation is covered by the OpenAI tests.
    let copy = copy_of_demo_collection()?;
    let server = Server::start(copy.path(), &["--chat-model", "none"])?;
    let web = repo_root().join("tests/web");
    anyhow::ensure!(
        web.join("node_modules/playwright-core").exists(),
        "tests/web/node_modules missing: run `make test` (it runs npm ci there)"
    );
    let artifacts = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let status = Command::new("node")
        .arg("ui.test.mjs")
        .current_dir(&web)
        .env("TINGWEN_URL", &server.base_url)
        .env("TINGWEN_ARTIFACTS", &artifacts)
        .status()?;
    assert!(
        status.success(),
        "browser test failed (screenshot in {})",
        artifacts.display()
    );
    Ok(())
}
