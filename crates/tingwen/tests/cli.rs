//! The binary's argument handling, without models. (Having an integration
//! test here also makes `cargo test --workspace` build the `tingwen` binary
//! that the end-to-end suite in `tests/` starts.)

use std::process::Command;

fn tingwen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tingwen"))
}

#[test]
fn help_lists_every_command() {
    let output = tingwen().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "ingest",
        "serve",
        "search",
        "ask",
        "eval",
        "documents",
        "models",
        "mcp",
    ] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
}

#[test]
fn bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tingwen.toml");
    std::fs::write(&config, "colour = \"blue\"\n").unwrap();
    let output = tingwen()
        .arg("--config")
        .arg(&config)
        .args(["documents", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tingwen.toml"), "{stderr}");
}

#[test]
fn ingest_of_missing_path_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let output = tingwen()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["ingest", "/no/such/transcripts"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/no/such/transcripts"), "{stderr}");
}

#[test]
fn invalid_k_is_rejected_before_loading_models() {
    let output = tingwen()
        .args(["--default-k", "0", "documents", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("default k"));
}
