//! Harness for the end-to-end tests: finds the real `tingwen` binary,
//! ingests the demo corpus once into a temporary collection, and starts
//! servers on loopback ports chosen by the OS.
//!
//! The binary is the one `cargo test --workspace` builds next to this test
//! (the `tingwen` crate has integration tests, so cargo builds its binary
//! before running any test). Real models are needed: `make test` fetches them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Path of the `tingwen` binary built by the same cargo invocation.
pub fn tingwen_bin() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("TINGWEN_BIN") {
        return Ok(PathBuf::from(path));
    }
    // target/<profile>/deps/<this test> → target/<profile>/tingwen
    let exe = std::env::current_exe().context("locating the test executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target/<profile> directory")?;
    let bin = profile_dir.join("tingwen");
    if !bin.exists() {
        bail!(
            "{} not found: run the suite with `cargo test --workspace` (or build it with `cargo build -p tingwen`)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A `tingwen` command with the repository's models directory, not yet run.
pub fn tingwen(data_dir: &Path) -> Result<Command> {
    let mut cmd = Command::new(tingwen_bin()?);
    cmd.current_dir(repo_root())
        .env_remove("TINGWEN_API_KEY")
        .env_remove("TINGWEN_CONFIG")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--models-dir")
        .arg(repo_root().join("models"));
    Ok(cmd)
}

/// Runs a `tingwen` command to completion, returning its output; fails with
/// both streams when it exits non-zero.
pub fn run_ok(data_dir: &Path, args: &[&str]) -> Result<Output> {
    let output = tingwen(data_dir)?
        .args(args)
        .output()
        .with_context(|| format!("running tingwen {args:?}"))?;
    if !output.status.success() {
        bail!(
            "tingwen {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// A collection holding the five demo transcripts, ingested once per test
/// binary and shared (read-only use only: tests that modify documents make
/// their own collection).
pub fn demo_collection() -> Result<&'static Path> {
    static DIR: OnceLock<std::result::Result<tempfile::TempDir, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = repo_root().join("data");
        let data = data.to_string_lossy().to_string();
        run_ok(dir.path(), &["ingest", &data]).map_err(|e| format!("{e:#}"))?;
        Ok(dir)
    });
    match dir {
        Ok(dir) => Ok(dir.path()),
        Err(message) => bail!("ingesting the demo corpus failed: {message}"),
    }
}

/// A private copy of the demo collection, for a process that opens it (a
/// server, a CLI command) or a test that changes it. The ingested original is
/// never opened again, so concurrent tests cannot race on one SQLite/tantivy
/// directory from two processes.
pub fn copy_of_demo_collection() -> Result<tempfile::TempDir> {
    let original = demo_collection()?;
    let copy = tempfile::tempdir()?;
    copy_dir(original, copy.path())?;
    Ok(copy)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A running `tingwen serve`, killed on drop.
pub struct Server {
    child: Child,
    /// e.g. `http://127.0.0.1:38123`
    pub base_url: String,
}

impl Server {
    /// Starts `tingwen serve --addr 127.0.0.1:0 EXTRA…` and waits until it
    /// prints the address it bound and answers `/healthz`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Result<Server> {
        let mut child = tingwen(data_dir)?
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning tingwen serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base_url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                bail!("tingwen serve did not report its address within 120 s");
            }
        };
        let server = Server { child, base_url };
        server.wait_healthy(Duration::from_secs(60))?;
        Ok(server)
    }

    fn wait_healthy(&self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let addr = self.base_url.trim_start_matches("http://").to_string();
        while started.elapsed() < limit {
            if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
                use std::io::{Read, Write};
                let request =
                    format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                if stream.write_all(request.as_bytes()).is_ok() {
                    let mut response = String::new();
                    let _ = stream.read_to_string(&mut response);
                    if response.starts_with("HTTP/1.1 200") {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("{} did not become healthy", self.base_url)
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited 0.
    pub fn shutdown(mut self) -> Result<bool> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("server did not stop within 30 s of SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's Python interpreter (the venv `make test` prepares).
pub fn python() -> Result<PathBuf> {
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        bail!(
            "{} missing: run `make python-deps` (make test does)",
            venv.display()
        )
    }
}
