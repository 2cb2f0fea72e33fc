//! Readers for timed formats: SubRip (SRT), WebVTT (with `<v Speaker>`
//! voice tags) and Whisper-style JSON (`segments` with `start`/`end`/`text`).

use serde::Deserialize;
use serde_json::value::RawValue;
use tingwen_core::{Span, TimeRange};

use crate::segment::trim_span;
use crate::units::{Break, Builder, Division};
use crate::TranscriptError;

/// Parses `01:02:03,456`, `02:03.456` or `1:02:03.4` into seconds.
pub(crate) fn parse_clock(text: &str) -> Option<f64> {
    let text = text.trim();
    let parts: Vec<&str> = text.split(':').collect();
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] => (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?, *s),
        [m, s] => (0, m.parse::<u64>().ok()?, *s),
        _ => return None,
    };
    let seconds = seconds.replace(',', ".");
    let (whole, fraction) = seconds.split_once('.').unwrap_or((&seconds, "0"));
    if whole.is_empty() || whole.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    if minutes >= 60 || whole >= 60 {
        return None;
    }
    let fraction: f64 = format!("0.{fraction}").parse().ok()?;
    Some((hours * 3600 + minutes * 60 + whole) as f64 + fraction)
}

/// Parses a `start --> end [settings]` line.
fn parse_timing(line: &str) -> Result<TimeRange, String> {
    let (left, right) = line
        .split_once("-->")
        .ok_or_else(|| format!("no '-->' in timing line '{}'", line.trim()))?;
    let right = right.split_whitespace().next().unwrap_or("");
    let start =
        parse_clock(left).ok_or_else(|| format!("malformed start time '{}'", left.trim()))?;
    let end = parse_clock(right).ok_or_else(|| format!("malformed end time '{right}'"))?;
    if end < start {
        return Err(format!(
            "end time {right} is before start time {}",
            left.trim()
        ));
    }
    Ok(TimeRange { start, end })
}

/// Line spans of `source[from..]`, line endings excluded.
fn line_spans(source: &str, from: usize) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = from;
    while start < source.len() {
        let newline = source[start..].find('\n').map(|i| start + i);
        let mut end = newline.unwrap_or(source.len());
        if end > start && source.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        out.push(Span::new(start, end));
        start = newline.map_or(source.len(), |i| i + 1);
    }
    out
}

/// Blocks of consecutive non-blank lines.
fn blocks(source: &str, from: usize) -> Vec<Vec<Span>> {
    let mut out: Vec<Vec<Span>> = Vec::new();
    let mut current = Vec::new();
    for line in line_spans(source, from) {
        if source[line.start..line.end].trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn line_number(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// `<v Name>` / `<v.loud Name>` at the start of a cue: the speaker and the
/// offset just after the tag.
fn voice_tag(text: &str) -> Option<(&str, usize)> {
    let rest = text.strip_prefix("<v")?;
    if !rest.starts_with([' ', '.', '\t']) {
        return None;
    }
    let close = rest.find('>')?;
    let inside = &rest[..close];
    let name = inside.split_once([' ', '\t']).map_or("", |(_, n)| n).trim();
    (!name.is_empty()).then_some((name, 2 + close + 1))
}

/// Reads SRT or WebVTT cues: one unit per cue, with its time and voice.
pub(crate) fn read_cues(
    builder: &mut Builder<'_>,
    body_start: usize,
    vtt: bool,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let source = builder.source;
    let mut title = None;
    let mut previous_speaker: Option<usize> = None;
    let mut cue_count = 0usize;
    let mut broken = 0usize;
    for (block_index, block) in blocks(source, body_start).into_iter().enumerate() {
        let line_text = |i: usize| &source[block[i].start..block[i].end];
        if vtt {
            let first = line_text(0).trim_start();
            if block_index == 0 && first.starts_with("WEBVTT") {
                let header = first
                    .trim_start_matches("WEBVTT")
                    .trim_start_matches([' ', '-', '\t'])
                    .trim();
                if !header.is_empty() {
                    title = Some(header.to_string());
                }
                continue;
            }
            if first.starts_with("NOTE")
                || first.starts_with("STYLE")
                || first.starts_with("REGION")
            {
                continue;
            }
        }
        // Optional numeric index (SRT) or identifier (WebVTT), then timing.
        let looks_like_timing = |line: &str| {
            line.contains("-->")
                || (line.matches(':').count() >= 2
                    && line.contains(['-', '>'])
                    && line.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        };
        let timing_index = (0..block.len().min(2)).find(|i| looks_like_timing(line_text(*i)));
        let (time, text_from) = match timing_index {
            Some(i) => match parse_timing(line_text(i)) {
                Ok(time) => (Some(time), i + 1),
                Err(problem) => {
                    broken += 1;
                    warnings.push(format!(
                        "cue at line {}: {problem}; kept its text without a time",
                        line_number(source, block[i].start)
                    ));
                    (None, i + 1)
                }
            },
            None => {
                let skip = usize::from(
                    block.len() > 1 && line_text(0).trim().bytes().all(|b| b.is_ascii_digit()),
                );
                broken += 1;
                warnings.push(format!(
                    "cue at line {}: no timing line; kept its text without a time",
                    line_number(source, block[0].start)
                ));
                (None, skip)
            }
        };
        if text_from >= block.len() {
            continue; // a cue with a timing but no text
        }
        cue_count += 1;
        let start = block[text_from].start;
        let end = block[block.len() - 1].end;
        let Some(mut span) = trim_span(source, start, end) else {
            continue;
        };
        let mut speaker = None;
        if let Some((name, after)) = voice_tag(&source[span.start..span.end]) {
            speaker = Some(builder.speaker_id(name));
            if let Some(trimmed) = trim_span(source, span.start + after, span.end) {
                span = trimmed;
            }
        }
        if source[span.start..span.end].ends_with("</v>") && span.len() > 4 {
            span.end -= 4;
        }
        let brk = if speaker.is_some() && speaker != previous_speaker {
            Break::Turn
        } else {
            Break::Paragraph
        };
        previous_speaker = speaker.or(previous_speaker);
        builder.add_block(
            span.start,
            span.end,
            Some(start),
            brk,
            speaker,
            0,
            time,
            Division::Whole,
        );
    }
    if cue_count > 0 && broken == cue_count {
        warnings.push("no cue had a valid timing line; the text is kept without times".to_string());
    }
    title
}

#[derive(Deserialize)]
struct WhisperFile<'a> {
    #[serde(borrow)]
    segments: Vec<WhisperSegment<'a>>,
}

#[derive(Deserialize)]
struct WhisperSegment<'a> {
    #[serde(default, borrow)]
    start: Option<&'a RawValue>,
    #[serde(default, borrow)]
    end: Option<&'a RawValue>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default)]
    speaker: Option<String>,
}

/// Where a borrowed JSON value lies in `source`.
fn raw_span(source: &str, raw: &RawValue) -> Option<Span> {
    let text = raw.get();
    let offset = (text.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
    (source.get(offset..offset + text.len()) == Some(text))
        .then(|| Span::new(offset, offset + text.len()))
}

/// Reads Whisper-style JSON: one unit per segment; spans point at the text
/// inside each segment's JSON string.
pub(crate) fn read_whisper_json(
    builder: &mut Builder<'_>,
    doc_id: &str,
    body_start: usize,
    warnings: &mut Vec<String>,
) -> Result<(), TranscriptError> {
    let source = builder.source;
    let json = &source[body_start..];
    let invalid = |message: String| TranscriptError::InvalidJson {
        doc_id: doc_id.to_string(),
        message,
    };
    let segments: Vec<WhisperSegment<'_>> = if json.trim_start().starts_with('[') {
        serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?
    } else {
        serde_json::from_str::<WhisperFile<'_>>(json)
            .map_err(|e| invalid(e.to_string()))?
            .segments
    };
    let mut previous_speaker = None;
    for (index, segment) in segments.iter().enumerate() {
        let Some(text_raw) = segment.text else {
            warnings.push(format!("segment {index} has no text; skipped"));
            continue;
        };
        let decoded: String = match serde_json::from_str(text_raw.get()) {
            Ok(text) => text,
            Err(_) => {
                warnings.push(format!("segment {index}: text is not a string; skipped"));
                continue;
            }
        };
        let Some(raw) = raw_span(json, text_raw) else {
            warnings.push(format!(
                "segment {index}: could not locate its text in the file; skipped"
            ));
            continue;
        };
        let clock =
            |value: Option<&RawValue>| value.and_then(|v| v.get().trim().parse::<f64>().ok());
        let time = match (clock(segment.start), clock(segment.end)) {
            (Some(start), Some(end)) if end >= start && start >= 0.0 => {
                Some(TimeRange { start, end })
            }
            _ => {
                warnings.push(format!(
                    "segment {index}: missing or invalid start/end; kept without a time"
                ));
                None
            }
        };
        let speaker = segment.speaker.as_deref().map(|s| builder.speaker_id(s));
        let brk = if speaker.is_some() && speaker != previous_speaker {
            Break::Turn
        } else {
            Break::Paragraph
        };
        previous_speaker = speaker.or(previous_speaker);
        // Inside the quotes; offsets are relative to `json`.
        let start = body_start + raw.start + 1;
        let end = body_start + raw.end - 1;
        if decoded.contains('\\') || source[start..end].contains('\\') {
            builder.add_decoded(start, end, &decoded, brk, speaker, time);
        } else {
            builder.add_block(start, end, None, brk, speaker, 0, time, Division::Whole);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clocks() {
        assert_eq!(parse_clock("00:01:02,500"), Some(62.5));
        assert_eq!(parse_clock("01:02.25"), Some(62.25));
        assert_eq!(parse_clock("1:00:00.000"), Some(3600.0));
        assert_eq!(parse_clock("00:61:00,000"), None);
        assert_eq!(parse_clock("aa:bb"), None);
        assert!(parse_timing("00:00:01,000 --> 00:00:00,500").is_err());
        assert_eq!(
            parse_timing("00:01.000 --> 00:04.000 align:start").ok(),
            Some(TimeRange {
                start: 1.0,
                end: 4.0
            })
        );
    }

    #[test]
    fn voice_tags() {
        assert_eq!(voice_tag("<v Alice Smith>Hello"), Some(("Alice Smith", 15)));
        assert_eq!(voice_tag("<v.loud Bob>Hi"), Some(("Bob", 12)));
        assert_eq!(voice_tag("<video>"), None);
    }
}
