//! Sentence segmentation (Chinese and English), clause packing for
//! unpunctuated speech recognition, and the cleaning that turns a source
//! slice into the text the encoder sees.

use tingwen_core::Span;

/// Chinese, Japanese and full-width characters: no spaces between words.
pub(crate) fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFFEF | 0x20000..=0x2FA1F)
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Sentence-ending marks that end a sentence wherever they stand.
fn is_wide_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '…' | '．' | '｡')
}

/// Closing quotes and brackets that stay with the sentence they close.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '”' | '’' | '"' | '\'' | '）' | ')' | ']' | '】' | '」' | '』' | '》' | '〉' | '〕' | '｝'
    )
}

/// Words that end in a period without ending the sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "corp", "no", "fig", "approx", "dept", "est", "gen", "gov", "mt", "ph.d", "u.s", "u.k",
    "a.m", "p.m", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "cf", "al", "vol", "op", "rev",
];

/// Whether the `.` at byte `dot` of `text` ends an English sentence.
fn period_ends_sentence(text: &str, dot: usize) -> bool {
    let after = &text[dot + 1..];
    let mut rest = after.chars().skip_while(|c| *c == '.' || is_closer(*c));
    match rest.next() {
        None => {}
        Some(c) if c.is_whitespace() => {
            // "etc. and so on": a lowercase continuation means no break.
            if let Some(next) = rest.find(|c| !c.is_whitespace()) {
                if next.is_lowercase() {
                    return false;
                }
            }
        }
        Some(c) if is_wide(c) => {}
        Some(_) => return false, // "3.5", "example.com", "U.S"
    }
    let before = &text[..dot];
    if before.ends_with('.') {
        // An ellipsis "..." ends a sentence when what follows allows it.
        return true;
    }
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[word_start..];
    if word.is_empty() {
        return true;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return false;
    }
    // Initials such as "J." or "U.S.": single letters separated by periods.
    let is_initials = word
        .split('.')
        .all(|part| part.chars().count() == 1 && part.chars().all(|c| c.is_uppercase()));
    !is_initials
}

/// Splits `source[start..end]` into sentence spans (absolute offsets),
/// trimmed of whitespace and surrounding markup, appended to `out`.
pub(crate) fn split_sentences(source: &str, start: usize, end: usize, out: &mut Vec<Span>) {
    let text = &source[start..end];
    let first_new = out.len();
    let mut sentence_start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = if is_wide_terminator(c) {
            true
        } else if c == '!' || c == '?' {
            let next = text[i + 1..].chars().next();
            next.is_none_or(|n| {
                n.is_whitespace() || is_wide(n) || is_closer(n) || n == '!' || n == '?'
            })
        } else if c == '.' {
            period_ends_sentence(text, i)
        } else {
            false
        };
        if !ends {
            continue;
        }
        let mut boundary = i + c.len_utf8();
        while let Some(&(j, n)) = chars.peek() {
            if is_wide_terminator(n) || is_closer(n) || matches!(n, '!' | '?' | '.') {
                boundary = j + n.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        push_piece(
            source,
            start + sentence_start,
            start + boundary,
            first_new,
            out,
        );
        sentence_start = boundary;
    }
    push_piece(source, start + sentence_start, end, first_new, out);
}

/// Adds a trimmed piece; punctuation-only leftovers join the previous sentence.
fn push_piece(source: &str, start: usize, end: usize, first_new: usize, out: &mut Vec<Span>) {
    let Some(span) = trim_span(source, start, end) else {
        return;
    };
    let text = &source[span.start..span.end];
    let has_content = text.chars().any(|c| c.is_alphanumeric());
    if !has_content && out.len() > first_new {
        if let Some(last) = out.last_mut() {
            last.end = span.end;
            return;
        }
    }
    out.push(span);
}

/// Trims whitespace and balanced `**` emphasis from both ends; `None` when
/// nothing but whitespace or markup remains.
pub(crate) fn trim_span(source: &str, mut start: usize, mut end: usize) -> Option<Span> {
    loop {
        let text = &source[start..end];
        let trimmed_start = text.len() - text.trim_start().len();
        let trimmed_end = text.trim_end().len();
        if trimmed_start >= trimmed_end {
            return None;
        }
        end = start + trimmed_end;
        start += trimmed_start;
        let text = &source[start..end];
        if text.len() >= 4 && text.starts_with("**") && text.ends_with("**") {
            start += 2;
            end -= 2;
            continue;
        }
        // An unbalanced marker whose partner lies in a neighbouring sentence.
        if text.matches("**").count() % 2 == 1 {
            if text.starts_with("**") {
                start += 2;
                continue;
            }
            if text.ends_with("**") {
                end -= 2;
                continue;
            }
        }
        if text
            .chars()
            .all(|c| matches!(c, '*' | '_' | '#' | '-' | '=' | '>' | '|' | '`'))
        {
            return None;
        }
        return Some(Span::new(start, end));
    }
}

/// Breaks a span into pieces at clause marks (，、,：:) and whitespace, the
/// places a long sentence can be split while staying readable.
fn clause_pieces(source: &str, span: Span, pauses_only: bool) -> Vec<Span> {
    let text = &source[span.start..span.end];
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut prev: Option<char> = None;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next = iter.peek().map(|(_, n)| *n);
        let split_after = if c.is_whitespace() {
            // In speech recognition output a space between two Han characters
            // is a pause; a space next to a Latin word is just a word gap.
            !pauses_only || (prev.is_some_and(is_han) && next.is_some_and(is_han))
        } else {
            !pauses_only && matches!(c, '，' | '、' | ',' | '：' | ':' | '—')
        };
        if split_after {
            let end = i + c.len_utf8();
            if let Some(piece) = trim_span(source, span.start + piece_start, span.start + end) {
                pieces.push(piece);
            }
            piece_start = end;
        }
        prev = Some(c);
    }
    if let Some(piece) = trim_span(source, span.start + piece_start, span.end) {
        pieces.push(piece);
    }
    pieces
}

/// Greedily merges neighbouring pieces while `measure` of the merged span
/// stays within `budget`.
fn pack(pieces: &[Span], budget: usize, measure: &dyn Fn(Span) -> usize) -> Vec<Span> {
    let mut packed: Vec<Span> = Vec::new();
    let mut current: Option<Span> = None;
    for &piece in pieces {
        current = Some(match current {
            None => piece,
            Some(open) => {
                let merged = Span::new(open.start, piece.end);
                if measure(merged) <= budget {
                    merged
                } else {
                    packed.push(open);
                    piece
                }
            }
        });
    }
    packed.extend(current);
    packed
}

/// Cuts a span with no usable break into pieces of at most `budget` as
/// measured, at character boundaries.
fn hard_split(
    source: &str,
    span: Span,
    budget: usize,
    measure: &dyn Fn(Span) -> usize,
) -> Vec<Span> {
    let mut pieces = Vec::new();
    let mut start = span.start;
    while start < span.end {
        let text = &source[start..span.end];
        let total_chars = text.chars().count().max(1);
        let total = measure(Span::new(start, span.end)).max(1);
        if total <= budget {
            pieces.push(Span::new(start, span.end));
            break;
        }
        // Proportional guess, then shrink until it fits (at least one char).
        let mut take = (total_chars * budget / total).max(1);
        loop {
            let end = text
                .char_indices()
                .nth(take)
                .map_or(span.end, |(i, _)| start + i);
            if take == 1 || measure(Span::new(start, end)) <= budget {
                pieces.push(Span::new(start, end));
                start = end;
                break;
            }
            take = (take * 3 / 4).max(1);
        }
    }
    pieces
        .into_iter()
        .filter_map(|p| trim_span(source, p.start, p.end).or(Some(p)))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Splits a too-long sentence into readable pieces, each within `budget`
/// as measured: clauses first, then (if still too long) character cuts.
pub(crate) fn split_long(
    source: &str,
    span: Span,
    budget: usize,
    pauses_only: bool,
    measure: &dyn Fn(Span) -> usize,
) -> Vec<Span> {
    if measure(span) <= budget {
        return vec![span];
    }
    let mut fitting = Vec::new();
    for piece in clause_pieces(source, span, pauses_only) {
        if measure(piece) <= budget {
            fitting.push(piece);
        } else if pauses_only {
            // A long stretch without pauses: any whitespace, then a hard cut.
            for sub in clause_pieces(source, piece, false) {
                if measure(sub) <= budget {
                    fitting.push(sub);
                } else {
                    fitting.extend(hard_split(source, sub, budget, measure));
                }
            }
        } else {
            fitting.extend(hard_split(source, piece, budget, measure));
        }
    }
    pack(&fitting, budget, measure)
}

/// Whether the text between two joined pieces needs a space.
pub(crate) fn needs_space(left: Option<char>, right: Option<char>) -> bool {
    match (left, right) {
        (Some(l), Some(r)) => !(is_wide(l) && is_wide(r)),
        _ => false,
    }
}

/// Appends the encoder's view of a source slice to `out`: Markdown images
/// dropped, links reduced to their text, bare URLs, emphasis markers and
/// HTML/WebVTT tags removed, whitespace collapsed (and dropped between
/// Chinese characters, where line breaks are only layout).
pub(crate) fn clean_into(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut pending_space = false;
    let mut space_is_pause = false;
    let start_len = out.len();
    let push = |out: &mut String, s: &str, pending_space: &mut bool, pause: bool| {
        if s.is_empty() {
            return;
        }
        if *pending_space && out.len() > start_len {
            let left = out.chars().next_back();
            if pause || needs_space(left, s.chars().next()) {
                out.push(' ');
            }
        }
        *pending_space = false;
        out.push_str(s);
    };
    while i < text.len() {
        let rest = &text[i..];
        let b = bytes[i];
        if b == b'!' && rest.starts_with("![") {
            if let Some(len) = link_len(&rest[1..]) {
                i += 1 + len.total;
                pending_space = true;
                space_is_pause = false;
                continue;
            }
        }
        if b == b'[' {
            if let Some(inner) = rest
                .strip_prefix("[[")
                .and_then(|r| r.find("]]").map(|e| &r[..e]))
            {
                if !inner.contains('\n') {
                    let label = inner.rsplit('|').next().unwrap_or(inner);
                    let mut cleaned = String::new();
                    clean_into(label, &mut cleaned);
                    push(out, &cleaned, &mut pending_space, space_is_pause);
                    i += 4 + inner.len();
                    continue;
                }
            }
            if let Some(len) = link_len(rest) {
                let mut cleaned = String::new();
                clean_into(&rest[1..1 + len.text], &mut cleaned);
                push(out, &cleaned, &mut pending_space, space_is_pause);
                i += len.total;
                continue;
            }
        }
        if (b == b'h' && (rest.starts_with("https://") || rest.starts_with("http://")))
            || (b == b'w' && rest.starts_with("www."))
        {
            let len = rest
                .find(|c: char| {
                    c.is_whitespace() || !c.is_ascii() || matches!(c, ')' | ']' | '>' | '"' | '\'')
                })
                .unwrap_or(rest.len());
            i += len;
            pending_space = true;
            space_is_pause = false;
            continue;
        }
        if b == b'<' {
            let tag_end = rest[1..].find(['>', '\n']).map(|e| e + 1);
            let looks_like_tag = rest[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c.is_ascii_digit());
            if let Some(end) = tag_end.filter(|e| rest.as_bytes()[*e] == b'>' && *e <= 80) {
                if looks_like_tag {
                    i += end + 1;
                    continue;
                }
            }
        }
        if b == b'*' || b == b'`' {
            i += 1;
            continue;
        }
        if b == b'_' && rest.starts_with("__") {
            i += 2;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            // A line break between Chinese characters is layout; a space
            // there is a speech-recognition pause and is kept.
            if c != '\n' && c != '\r' && !pending_space {
                pending_space = true;
                space_is_pause = true;
            } else if c == '\n' || c == '\r' {
                pending_space = true;
                space_is_pause = false;
            }
        } else {
            let mut buf = [0u8; 4];
            push(
                out,
                c.encode_utf8(&mut buf),
                &mut pending_space,
                space_is_pause,
            );
            space_is_pause = false;
        }
        i += c.len_utf8();
    }
}

/// The cleaned text of a source slice.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    clean_into(text, &mut out);
    out
}

/// Lengths of a Markdown link `[text](target)` at the start of `s`.
struct LinkLen {
    text: usize,
    total: usize,
}

fn link_len(s: &str) -> Option<LinkLen> {
    let after_open = s.strip_prefix('[')?;
    let close = after_open.find(']')?;
    let label = &after_open[..close];
    if label.contains('\n') || label.contains('[') {
        return None;
    }
    let rest = &after_open[close + 1..];
    let target = rest.strip_prefix('(')?;
    let target_end = target.find(')')?;
    if target[..target_end].contains('\n') {
        return None;
    }
    Some(LinkLen {
        text: close,
        total: 1 + close + 1 + 1 + target_end + 1,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split_sentences(text, 0, text.len(), &mut out);
        out.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn chinese_sentences_keep_closing_quotes() {
        assert_eq!(
            sentences("他说：“今天很好。”我们走吧！真的吗？好……那就这样；再见"),
            vec![
                "他说：“今天很好。”",
                "我们走吧！",
                "真的吗？",
                "好……",
                "那就这样；",
                "再见"
            ]
        );
    }

    #[test]
    fn english_abbreviations_and_decimals() {
        assert_eq!(
            sentences("Mr. Smith paid 3.5 dollars, e.g. for tea. He left at 5 p.m. today! Did he?"),
            vec![
                "Mr. Smith paid 3.5 dollars, e.g. for tea.",
                "He left at 5 p.m. today!",
                "Did he?"
            ]
        );
        assert_eq!(
            sentences("The U.S. economy grew. J. K. Rowling wrote it."),
            vec!["The U.S. economy grew.", "J. K. Rowling wrote it."]
        );
        assert_eq!(
            sentences("Visit example.com now. Ok"),
            vec!["Visit example.com now.", "Ok"]
        );
    }

    #[test]
    fn punctuation_only_tail_joins_previous_sentence() {
        assert_eq!(
            sentences("是\nAction\n，是\nDoing things\n。"),
            vec!["是\nAction\n，是\nDoing things\n。"]
        );
        assert_eq!(sentences("好的。\n。"), vec!["好的。\n。"]);
    }

    #[test]
    fn trims_balanced_emphasis() {
        let text = "  **1) 一句话总结**  ";
        let span = trim_span(text, 0, text.len()).unwrap();
        assert_eq!(&text[span.start..span.end], "1) 一句话总结");
        assert!(trim_span("** --- **", 0, 9).is_none());
    }

    #[test]
    fn cleaning_removes_markup_but_keeps_link_text() {
        assert_eq!(
            clean("看**DeepSeek**的 [论文](https://x.org/a) ![图](https://i/x.png) 见 https://a.b/c?d=1 和 [[00-元语/AI]]"),
            "看DeepSeek的 论文见和 00-元语/AI"
        );
        assert_eq!(
            clean("<v Bob>Hello <i>there</i></v>\nfriend"),
            "Hello there friend"
        );
        assert_eq!(clean("是\nAction\n，是"), "是 Action ，是");
        assert_eq!(clean("两年零六个月\n我们"), "两年零六个月我们");
        assert_eq!(clean("两年零六个月 我们"), "两年零六个月 我们");
    }

    #[test]
    fn asr_pauses_pack_into_clauses() {
        let text = "我们算是正好是两年零六个月 我们做第二期 因为这两年的时间 AI 我的感觉是突飞猛进";
        let measure = |s: Span| text[s.start..s.end].chars().count();
        let pieces = split_long(text, Span::new(0, text.len()), 24, true, &measure);
        let parts: Vec<&str> = pieces.iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(
            parts,
            vec![
                "我们算是正好是两年零六个月 我们做第二期",
                "因为这两年的时间 AI 我的感觉是突飞猛进"
            ]
        );
    }

    #[test]
    fn unbreakable_text_is_cut_within_budget() {
        let text = "一".repeat(100);
        let measure = |s: Span| text[s.start..s.end].chars().count();
        let pieces = split_long(&text, Span::new(0, text.len()), 30, false, &measure);
        assert!(pieces.iter().all(|p| measure(*p) <= 30));
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), text.len());
    }
}
