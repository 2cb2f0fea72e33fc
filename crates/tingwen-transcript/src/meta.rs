//! Document metadata: YAML front matter (English or Chinese keys) and
//! `key：value` lists such as a `## 文档信息` section.

use tingwen_core::DocumentMeta;

/// Metadata gathered before the body is parsed.
#[derive(Debug, Default)]
pub(crate) struct FrontMatter {
    /// Fields found so far.
    pub meta: DocumentMeta,
    /// Speakers named in the metadata (hosts, guests).
    pub speakers: Vec<String>,
    /// Byte offset where the body starts (after the closing `---`).
    pub body_start: usize,
}

/// Which `DocumentMeta` field a metadata key fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Title,
    Date,
    Author,
    Url,
    /// "来源"/"source": a URL when it looks like one, else a channel name.
    Source,
    Tags,
    Speakers,
}

pub(crate) fn field_for_key(key: &str) -> Option<Field> {
    let key = key.trim().trim_matches('*').trim().to_lowercase();
    Some(match key.as_str() {
        "title" | "标题" | "题目" | "名称" => Field::Title,
        "date" | "published" | "pubdate" | "publish_date" | "发布日期" | "日期" | "发布时间"
        | "时间" => Field::Date,
        "author" | "channel" | "作者" | "频道" | "发布者" | "up主" | "公众号" => {
            Field::Author
        }
        "url" | "link" | "original_url" | "video" | "原文链接" | "链接" | "原文" | "网址"
        | "视频链接" => Field::Url,
        "source" | "来源" | "出处" => Field::Source,
        "tags" | "keywords" | "标签" | "关键词" | "categories" => Field::Tags,
        "speakers" | "guest" | "guests" | "host" | "hosts" | "嘉宾" | "主讲" | "主讲人"
        | "主持人" | "讲者" | "发言人" => Field::Speakers,
        _ => return None,
    })
}

fn looks_like_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://") || value.starts_with("www.")
}

/// Normalises `2026-1-4`, `2026/01/04`, `2026年1月4日` to `2026-01-04`;
/// anything else is kept as written.
pub(crate) fn normalise_date(value: &str) -> String {
    let digits: Vec<&str> = value
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .collect();
    if digits.len() >= 3 && digits[0].len() == 4 {
        if let (Ok(y), Ok(m), Ok(d)) = (
            digits[0].parse::<u32>(),
            digits[1].parse::<u32>(),
            digits[2].parse::<u32>(),
        ) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) {
                return format!("{y:04}-{m:02}-{d:02}");
            }
        }
    }
    value.trim().to_string()
}

/// Records one `key: value` pair; values already set are kept (first wins).
pub(crate) fn apply(
    meta: &mut DocumentMeta,
    speakers: &mut Vec<String>,
    field: Field,
    values: Vec<String>,
) {
    let values: Vec<String> = values
        .into_iter()
        .map(|v| {
            v.trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .trim()
                .to_string()
        })
        .filter(|v| !v.is_empty())
        .collect();
    let Some(first) = values.first().cloned() else {
        return;
    };
    match field {
        Field::Title if meta.title.is_empty() => meta.title = first,
        Field::Date if meta.date.is_none() => meta.date = Some(normalise_date(&first)),
        Field::Author if meta.author.is_none() => meta.author = Some(first),
        Field::Url if meta.url.is_none() => meta.url = Some(first),
        Field::Source => {
            if looks_like_url(&first) {
                if meta.url.is_none() {
                    meta.url = Some(first);
                }
            } else if meta.author.is_none() {
                meta.author = Some(first);
            }
        }
        Field::Tags => {
            for value in values {
                for tag in value.split([',', '，', '、']) {
                    let tag = tag.trim();
                    if !tag.is_empty() && !meta.tags.iter().any(|t| t == tag) {
                        meta.tags.push(tag.to_string());
                    }
                }
            }
        }
        Field::Speakers => {
            for value in values {
                for name in value.split([',', '，', '、']) {
                    let name = name.trim();
                    if !name.is_empty() && !speakers.iter().any(|s| s == name) {
                        speakers.push(name.to_string());
                    }
                }
            }
        }
        _ => {}
    }
}

fn yaml_strings(value: &serde_yaml::Value) -> Vec<String> {
    use serde_yaml::Value;
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Sequence(items) => items.iter().flat_map(yaml_strings).collect(),
        Value::Tagged(tagged) => yaml_strings(&tagged.value),
        Value::Null | Value::Mapping(_) => Vec::new(),
    }
}

/// Reads front matter starting at `start` (just after any BOM). Problems
/// become warnings: an unclosed block is treated as body text, invalid
/// YAML falls back to reading `key: value` lines.
pub(crate) fn parse_front_matter(
    source: &str,
    start: usize,
    warnings: &mut Vec<String>,
) -> FrontMatter {
    let mut front = FrontMatter {
        body_start: start,
        ..FrontMatter::default()
    };
    let text = &source[start..];
    let first_line_end = text.find('\n').map_or(text.len(), |i| i + 1);
    if text[..first_line_end].trim_end() != "---" {
        return front;
    }
    // Find the closing delimiter line.
    let mut offset = first_line_end;
    let mut close: Option<(usize, usize)> = None;
    while offset < text.len() {
        let line_end = text[offset..]
            .find('\n')
            .map_or(text.len(), |i| offset + i + 1);
        let line = text[offset..line_end].trim_end();
        if line == "---" || line == "..." {
            close = Some((offset, line_end));
            break;
        }
        offset = line_end;
    }
    let Some((yaml_end, body_start)) = close else {
        warnings.push(
            "front matter starts with '---' but is never closed; read the whole file as body text"
                .to_string(),
        );
        return front;
    };
    front.body_start = start + body_start;
    let yaml = &text[first_line_end..yaml_end];
    match serde_yaml::from_str::<serde_yaml::Value>(yaml) {
        Ok(serde_yaml::Value::Mapping(map)) => {
            for (key, value) in &map {
                let Some(key) = key.as_str() else { continue };
                if let Some(field) = field_for_key(key) {
                    apply(
                        &mut front.meta,
                        &mut front.speakers,
                        field,
                        yaml_strings(value),
                    );
                }
            }
        }
        Ok(serde_yaml::Value::Null) => {}
        Ok(_) => warnings.push("front matter is not a key/value mapping; ignored".to_string()),
        Err(error) => {
            warnings.push(format!(
                "front matter is not valid YAML ({error}); read its 'key: value' lines leniently"
            ));
            for line in yaml.lines() {
                if let Some((key, value)) = split_key_value(line) {
                    if let Some(field) = field_for_key(key) {
                        apply(
                            &mut front.meta,
                            &mut front.speakers,
                            field,
                            vec![value.to_string()],
                        );
                    }
                }
            }
        }
    }
    front
}

/// Splits `key: value` or `key：value` (the key short and without spaces
/// inside, so ordinary sentences with a colon are not mistaken for it).
pub(crate) fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let (key, value) = match (line.find(':'), line.find('：')) {
        (Some(a), Some(b)) if b < a => (&line[..b], &line[b + '：'.len_utf8()..]),
        (Some(a), _) => (&line[..a], &line[a + 1..]),
        (None, Some(b)) => (&line[..b], &line[b + '：'.len_utf8()..]),
        (None, None) => return None,
    };
    let key = key.trim();
    (!key.is_empty() && key.chars().count() <= 20).then_some((key, value.trim()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chinese_front_matter_keys() {
        let text = "---\ntitle: \"标题A\"\n发布日期: 2026-01-10\n作者: \"卡兹克\"\n来源: \"微信公众号\"\n原文链接: \"https://mp.weixin.qq.com/s?x=1\"\n---\n正文";
        let mut warnings = Vec::new();
        let front = parse_front_matter(text, 0, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(front.meta.title, "标题A");
        assert_eq!(front.meta.date.as_deref(), Some("2026-01-10"));
        assert_eq!(front.meta.author.as_deref(), Some("卡兹克"));
        assert_eq!(
            front.meta.url.as_deref(),
            Some("https://mp.weixin.qq.com/s?x=1")
        );
        assert_eq!(&text[front.body_start..], "正文");
    }

    #[test]
    fn broken_yaml_falls_back_to_lines() {
        let text = "---\ntitle: a: b: [\nauthor: Ann\n---\nbody";
        let mut warnings = Vec::new();
        let front = parse_front_matter(text, 0, &mut warnings);
        assert_eq!(warnings.len(), 1);
        assert_eq!(front.meta.author.as_deref(), Some("Ann"));
        assert_eq!(&text[front.body_start..], "body");
    }

    #[test]
    fn dates_are_normalised() {
        assert_eq!(normalise_date("2026年1月4日"), "2026-01-04");
        assert_eq!(normalise_date("2026/1/4"), "2026-01-04");
        assert_eq!(normalise_date("yesterday"), "yesterday");
    }
}
