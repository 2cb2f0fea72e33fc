//! Serves the router over a fake, in-memory service holding the demo corpus,
//! for trying the API, the Python client tests and the load-test script
//! without models:
//!
//! `cargo run -p tingwen-server --example fake_server -- 127.0.0.1:8089 [data-dir]`
//!
//! `TINGWEN_API_KEY` turns on auth; `FAKE_DELTA_MS` slows streamed answers.

use std::sync::Arc;
use std::time::Duration;

use tingwen_server::fake::FakeService;
use tingwen_server::{serve, shutdown_signal, AppService, AppState, ServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:8089".into());
    let data_dir = args.next().unwrap_or_else(|| "data".into());

    let service = FakeService::default();
    let mut entries: Vec<_> = std::fs::read_dir(&data_dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path())?;
        service.add_document(&name, &bytes)?;
    }
    if let Some(ms) = std::env::var("FAKE_DELTA_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        *service.delta_delay.lock() = Duration::from_millis(ms);
    }
    let config = ServerConfig {
        api_key: std::env::var("TINGWEN_API_KEY")
            .ok()
            .filter(|key| !key.is_empty()),
        ..ServerConfig::default()
    };
    let state = AppState::new(Arc::new(service), config);
    let listener = tokio::net::TcpListener::bind(&address).await?;
    serve(listener, state, shutdown_signal()).await?;
    Ok(())
}
