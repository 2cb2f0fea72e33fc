//! Turning retrieved passages into numbered citations with links.

use tingwen_core::{Citation, Hit};

/// Builds citation `n` for a passage, linking to the document's URL (with a
/// time offset for video pages when the passage has a time).
pub(crate) fn citation_from_hit(n: usize, hit: &Hit, doc_url: Option<&str>) -> Citation {
    let url = doc_url.map(|u| link_with_time(u, hit.time.map(|t| t.start)));
    Citation::from_hit(n, hit, url)
}

/// Adds `t=SECONDS` to links of video sites that understand it.
pub fn link_with_time(url: &str, seconds: Option<f64>) -> String {
    let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return url.to_string();
    };
    let lower = url.to_ascii_lowercase();
    let is_video = [
        "youtube.com/",
        "youtu.be/",
        "bilibili.com/video/",
        "vimeo.com/",
    ]
    .iter()
    .any(|host| lower.contains(host));
    if !is_video || lower.contains("?t=") || lower.contains("&t=") {
        return url.to_string();
    }
    let secs = seconds.floor() as u64;
    let (base, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}t={secs}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_links_get_time_offsets() {
        assert_eq!(
            link_with_time("https://www.youtube.com/watch?v=abc", Some(754.6)),
            "https://www.youtube.com/watch?v=abc&t=754"
        );
        assert_eq!(
            link_with_time("https://youtu.be/abc", Some(12.0)),
            "https://youtu.be/abc?t=12"
        );
        assert_eq!(
            link_with_time("https://example.com/post", Some(12.0)),
            "https://example.com/post"
        );
        assert_eq!(
            link_with_time("https://www.youtube.com/watch?v=abc", None),
            "https://www.youtube.com/watch?v=abc"
        );
    }
}
