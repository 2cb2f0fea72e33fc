//! Reader for text formats: Markdown (headings, speaker turns, lists,
//! images), punctuated plain text, one-caption-per-line subtitles and
//! unpunctuated speech recognition output.

use std::collections::HashMap;

use tingwen_core::{DocumentMeta, SourceFormat};

use crate::meta::{apply, field_for_key, split_key_value};
use crate::segment::clean;
use crate::units::{Break, Builder, Division};

/// One line of the body: `[start, end)` without the line ending; `next`
/// is where the following line starts.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    end: usize,
}

fn lines(source: &str, from: usize) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = from;
    let bytes = source.as_bytes();
    while start < source.len() {
        let newline = memchr_newline(&bytes[start..]).map(|i| start + i);
        let next = newline.map_or(source.len(), |i| i + 1);
        let mut end = newline.unwrap_or(source.len());
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        out.push(Line { start, end });
        start = next;
    }
    out
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

const SENTENCE_PUNCT: &[char] = &[
    '。', '，', '！', '？', ',', '.', '!', '?', '：', ':', '；', ';', '、',
];

/// `**Name**: text`, `**Name：** text` → (name, byte offset of the text).
fn bold_label(line: &str) -> Option<(&str, usize)> {
    let inner_start = 2;
    let rest = line.strip_prefix("**")?;
    let close = rest.find("**")?;
    let inner = &rest[..close];
    let after = inner_start + close + 2;
    let (name, content) =
        if let Some(name) = inner.strip_suffix(':').or_else(|| inner.strip_suffix('：')) {
            (name, after)
        } else {
            let tail = &line[after..];
            let trimmed = tail.trim_start();
            let colon = trimmed.chars().next().filter(|c| *c == ':' || *c == '：')?;
            (
                inner,
                after + (tail.len() - trimmed.len()) + colon.len_utf8(),
            )
        };
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > 24 || name.contains(SENTENCE_PUNCT) {
        return None;
    }
    Some((name, content))
}

/// A line holding only a name, answered on the next line by `：text`
/// (the WeChat layout).
fn name_line<'s>(line: &'s str, next: Option<&str>) -> Option<&'s str> {
    let name = line.trim();
    let next = next?.trim_start();
    if !(next.starts_with('：') || next.starts_with(':')) {
        return None;
    }
    let chars = name.chars().count();
    let markup_start = name.starts_with(['#', '*', '-', '!', '[', '|', '>', '`']);
    (chars > 0 && chars <= 20 && !markup_start && !name.contains(SENTENCE_PUNCT)).then_some(name)
}

fn atx_heading(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &trimmed[level..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim()))
}

fn setext_level(line: &str) -> Option<usize> {
    let t = line.trim();
    if t.len() < 2 || line.len() - line.trim_start().len() > 3 {
        return None;
    }
    if t.bytes().all(|b| b == b'=') {
        Some(1)
    } else if t.bytes().all(|b| b == b'-') {
        Some(2)
    } else {
        None
    }
}

fn is_thematic_break(line: &str) -> bool {
    let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3
        && (t.bytes().all(|b| b == b'-')
            || t.bytes().all(|b| b == b'*')
            || t.bytes().all(|b| b == b'_'))
}

fn is_image_line(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("![") && t.ends_with(')') && clean(t).is_empty()
}

/// Byte offset of the text after a list, quote or table marker.
fn block_marker(line: &str) -> Option<usize> {
    let indent = line.len() - line.trim_start().len();
    let t = &line[indent..];
    let marker =
        if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ") || t.starts_with("> ")
        {
            1
        } else if t.starts_with('|') {
            return Some(indent);
        } else {
            let digits = t.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 && digits < 4 && t[digits..].starts_with(['.', ')', '、']) {
                let punct = t[digits..].chars().next().map_or(1, char::len_utf8);
                let after = &t[digits + punct..];
                if !(after.starts_with([' ', '\t']) || after.is_empty()) {
                    return None;
                }
                digits + punct
            } else {
                return None;
            }
        };
    let after = &t[marker..];
    Some(indent + marker + (after.len() - after.trim_start().len()))
}

fn is_bold_line(line: &str) -> bool {
    let t = line.trim();
    t.len() > 4
        && t.starts_with("**")
        && t.ends_with("**")
        && t[2..t.len() - 2].find("**").is_none()
}

/// Metadata found in the body (first heading, `## 文档信息` lists).
pub(crate) struct BodyMeta {
    pub first_heading: Option<String>,
}

/// Reads a text document's body into units.
pub(crate) fn read_text(
    builder: &mut Builder<'_>,
    body_start: usize,
    format: SourceFormat,
    meta: &mut DocumentMeta,
    meta_speakers: &mut Vec<String>,
) -> BodyMeta {
    let source = builder.source;
    let lines = lines(source, body_start);
    match format {
        SourceFormat::Captions | SourceFormat::AsrText => {
            read_line_units(builder, &lines, format);
            return BodyMeta {
                first_heading: None,
            };
        }
        _ => {}
    }
    let text = |l: &Line| &source[l.start..l.end];

    // Which bold labels are speakers: a label used at least twice (or named
    // in the metadata) marks a dialogue, and then every label counts;
    // single bold terms followed by a colon are usually definitions.
    let mut label_counts: HashMap<&str, usize> = HashMap::new();
    for line in &lines {
        if let Some((name, _)) = bold_label(text(line)) {
            *label_counts.entry(name).or_default() += 1;
        }
    }
    let dialogue = label_counts.values().any(|n| *n >= 2);
    let known_speakers = meta_speakers.clone();
    let is_speaker_label = |name: &str| dialogue || known_speakers.iter().any(|s| s == name);

    let mut section_stack: Vec<(usize, String)> = Vec::new();
    let mut section = 0usize;
    let mut speaker: Option<usize> = None;
    let mut first_heading: Option<String> = None;
    let mut in_info_section = false;
    // The paragraph being gathered: content start, end, lead, break, soft.
    let mut open: Option<(usize, usize, Option<usize>, Break, bool)> = None;
    let mut after_blank = true;
    let mut turn_lead: Option<usize> = None;

    macro_rules! close {
        () => {
            if let Some((start, end, lead, brk, _)) = open.take() {
                builder.add_block(
                    start,
                    end,
                    lead,
                    brk,
                    speaker,
                    section,
                    None,
                    Division::Sentences,
                );
            }
        };
    }

    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = text(&line);
        let next = lines.get(i + 1).map(text);
        i += 1;
        if t.trim().is_empty() {
            close!();
            after_blank = true;
            continue;
        }
        let gap = if after_blank {
            Break::Paragraph
        } else {
            Break::Line
        };
        after_blank = false;

        // Answer line of a "name\n：text" turn.
        if let Some(lead) = turn_lead.take() {
            let indent = t.len() - t.trim_start().len();
            let colon = t[indent..].chars().next().map_or(0, char::len_utf8);
            open = Some((
                line.start + indent + colon,
                line.end,
                Some(lead),
                Break::Turn,
                true,
            ));
            continue;
        }

        let heading = atx_heading(t).or_else(|| {
            let level = next.and_then(setext_level)?;
            (open.is_none() && block_marker(t).is_none()).then(|| (level, t.trim()))
        });
        if let Some((level, raw_title)) = heading {
            close!();
            if atx_heading(t).is_none() {
                i += 1; // the setext underline belongs to the heading
            }
            let title = clean(raw_title);
            let is_doc_title = level == 1 && builder.units.is_empty() && first_heading.is_none();
            if first_heading.is_none() && !title.is_empty() {
                first_heading = Some(title.clone());
            }
            in_info_section = matches!(
                title.as_str(),
                "文档信息" | "元信息" | "基本信息" | "Metadata" | "Info"
            );
            if !is_doc_title {
                while section_stack.last().is_some_and(|(l, _)| *l >= level) {
                    section_stack.pop();
                }
                section_stack.push((level, title));
                section =
                    builder.section_id(section_stack.iter().map(|(_, t)| t.clone()).collect());
            }
            speaker = None;
            builder.mark(Some(line.start), Break::Section);
            continue;
        }
        if is_thematic_break(t) || is_image_line(t) {
            close!();
            builder.mark(None, Break::Paragraph);
            after_blank = true;
            continue;
        }
        if let Some(name) = name_line(t, next) {
            close!();
            speaker = Some(builder.speaker_id(name));
            turn_lead = Some(line.start);
            continue;
        }
        if let Some((name, content)) = bold_label(t).filter(|(n, _)| is_speaker_label(n)) {
            close!();
            speaker = Some(builder.speaker_id(name));
            open = Some((
                line.start + content,
                line.end,
                Some(line.start),
                Break::Turn,
                true,
            ));
            continue;
        }
        if let Some((key, _)) = split_key_value(t) {
            if builder.speakers.iter().any(|s| s == key) {
                close!();
                speaker = Some(builder.speaker_id(key));
                let colon = t.find([':', '：']).unwrap_or(0);
                let colon_len = t[colon..].chars().next().map_or(0, char::len_utf8);
                open = Some((
                    line.start + colon + colon_len,
                    line.end,
                    Some(line.start),
                    Break::Turn,
                    true,
                ));
                continue;
            }
        }
        if let Some(content) = block_marker(t) {
            close!();
            if in_info_section {
                if let Some((key, value)) = split_key_value(&t[content..]) {
                    if let Some(field) = field_for_key(key) {
                        apply(meta, meta_speakers, field, vec![value.to_string()]);
                    }
                }
            }
            open = Some((line.start + content, line.end, Some(line.start), gap, false));
            continue;
        }
        if is_bold_line(t) {
            close!();
            open = Some((line.start, line.end, None, gap, false));
            continue;
        }
        match &mut open {
            Some((_, end, _, _, true)) => *end = line.end,
            _ => {
                close!();
                open = Some((line.start, line.end, None, gap, true));
            }
        }
    }
    close!();
    BodyMeta { first_heading }
}

/// Captions and speech recognition: every line is its own block.
fn read_line_units(builder: &mut Builder<'_>, lines: &[Line], format: SourceFormat) {
    let division = if format == SourceFormat::AsrText {
        Division::Clauses
    } else {
        Division::Whole
    };
    let mut after_blank = true;
    for line in lines {
        if builder.source[line.start..line.end].trim().is_empty() {
            after_blank = true;
            continue;
        }
        let brk = if after_blank {
            Break::Paragraph
        } else {
            Break::Line
        };
        after_blank = false;
        builder.add_block(line.start, line.end, None, brk, None, 0, None, division);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn recognises_speaker_labels() {
        assert_eq!(bold_label("**张璐**: 好的。"), Some(("张璐", 11)));
        assert_eq!(bold_label("**Lex**：用 Grok"), Some(("Lex", 10)));
        assert_eq!(bold_label("**Host:** hi"), Some(("Host", 9)));
        assert_eq!(bold_label("**1) 一句话总结**"), None);
        assert_eq!(
            name_line("主持人/李广密", Some("：我是主持人")),
            Some("主持人/李广密")
        );
        assert_eq!(name_line("这个活动，叫AGI-NEXT。", Some("：x")), None);
    }

    #[test]
    fn recognises_markers_and_headings() {
        assert_eq!(block_marker("*   **模型**：x"), Some(4));
        assert_eq!(block_marker("1.   获取用户"), Some(5));
        assert_eq!(block_marker("2026年"), None);
        assert_eq!(atx_heading("### 回顾 ##"), Some((3, "回顾")));
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(setext_level("-------------"), Some(2));
        assert!(is_image_line("![Image 1](https://s.baoyu.io/a.jpg)"));
        assert!(!is_image_line("![](x) 文字"));
    }
}
