//! Crash safety: a child process (this test binary, re-executed) ingests in a
//! loop and is killed with SIGKILL; the collection must open, pass the
//! integrity check and hold exactly the documents committed before the kill.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tingwen_core::{SearchFilter, SearchMode, SearchQuery};

const CHILD_DIR_ENV: &str = "TINGWEN_INDEX_CRASH_CHILD_DIR";
const CHILD_START_ENV: &str = "TINGWEN_INDEX_CRASH_CHILD_START";

fn crash_doc(n: usize) -> Fixture {
    let lines: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("speaker{}", i % 3),
                format!("文档{n}第{i}句 crash test sentence {n} {i} 数据不能丢失。"),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = lines
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    fixture(
        &format!("crash-{n:04}.md"),
        &format!("崩溃测试 {n}"),
        &borrowed,
        3,
    )
}

/// The doc id in a child's announcement (the test harness may print its own
/// text on the same line first).
fn announced(line: &str) -> Option<&str> {
    line.find("COMMITTED ")
        .map(|i| line[i + "COMMITTED ".len()..].trim())
}

/// The child: ingest forever, announcing each committed document.
#[test]
fn crash_child_ingest_loop() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return; // only meaningful when re-executed by `killed_ingest_leaves_committed_documents`
    };
    let start: usize = std::env::var(CHILD_START_ENV).unwrap().parse().unwrap();
    let c = open(std::path::Path::new(&dir));
    for n in start.. {
        let f = crash_doc(n);
        upsert(&c, &f);
        // Every few documents, replace an older one too, so kills also land in replacements.
        if n % 5 == 4 {
            let mut again = crash_doc(n - 2);
            again.doc.source.push_str("\n追加的一行。\n");
            again.doc.content_hash.push('x');
            upsert(&c, &again);
        }
        println!("COMMITTED {}", f.doc.doc_id);
    }
}

#[test]
fn killed_ingest_leaves_committed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut committed: BTreeSet<String> = BTreeSet::new();
    let mut next = 0usize;
    // Kill after a varying number of commits and a varying delay, so the
    // kill lands in different phases (SQLite write, tantivy commit, graph insert).
    for (round, (wait_commits, extra_ms)) in [(3usize, 0u64), (2, 7), (4, 23), (1, 3)]
        .into_iter()
        .enumerate()
    {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_ingest_loop",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_START_ENV, next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < wait_commits {
            let line = lines.next().expect("child exited early").unwrap();
            if let Some(id) = announced(&line) {
                committed.insert(id.to_string());
                seen += 1;
                next += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Announcements already written before the kill still count.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = announced(&line) {
                committed.insert(id.to_string());
                next += 1;
            }
        }

        let c = open(dir.path());
        let report = c.check_integrity().unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        let stored: BTreeSet<String> = c
            .list_documents()
            .unwrap()
            .into_iter()
            .map(|d| d.doc_id)
            .collect();
        // The kill may land after a commit but before its announcement: at most
        // the one document after the last announced may be there too.
        let in_flight = crash_doc(next).doc.doc_id;
        let unexpected: Vec<&String> = stored
            .difference(&committed)
            .filter(|id| **id != in_flight)
            .collect();
        assert!(
            unexpected.is_empty(),
            "round {round}: unexpected {unexpected:?}"
        );
        let lost: Vec<&String> = committed.difference(&stored).collect();
        assert!(lost.is_empty(), "round {round}: lost {lost:?}");
        if stored.contains(&in_flight) {
            committed.insert(in_flight);
            next += 1;
        }
        // Every committed document is searchable by its own words.
        for id in &committed {
            let n: usize = id[6..10].parse().unwrap();
            let text = format!("文档{n}第5句 crash test sentence {n} 5");
            let hits = c
                .search(&SearchQuery {
                    text: text.clone(),
                    vector: Some(embed(&text)),
                    k: 1,
                    mode: SearchMode::Hybrid,
                    filter: SearchFilter {
                        doc_ids: vec![id.clone()],
                        speaker: None,
                    },
                })
                .unwrap();
            assert_eq!(hits.len(), 1, "{id} not searchable");
        }
    }
    assert!(committed.len() >= 10);
}
