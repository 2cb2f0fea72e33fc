//! Turning generated token bytes into text pieces: whole UTF-8 characters
//! only, and never text that might turn out to be the start of a stop string.

/// Accumulates token bytes and releases text that is safe to show.
#[derive(Debug, Default)]
pub struct TextStream {
    /// Bytes not yet forming complete characters.
    pending_bytes: Vec<u8>,
    /// Decoded text not yet released (a possible stop-string prefix).
    held: String,
    stops: Vec<String>,
    /// All text released so far.
    emitted: String,
}

/// What pushing a token produced.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// Text safe to send now (possibly empty).
    Text(String),
    /// A stop string was found; this is the text before it, and generation ends.
    Stopped(String),
}

impl TextStream {
    /// A stream that ends at any of `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        TextStream {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            ..Default::default()
        }
    }

    /// Adds a token's bytes.
    pub fn push(&mut self, bytes: &[u8]) -> StreamEvent {
        self.pending_bytes.extend_from_slice(bytes);
        let decoded = take_complete_utf8(&mut self.pending_bytes);
        self.held.push_str(&decoded);
        self.release()
    }

    /// Ends the stream: releases whatever is held (incomplete bytes become U+FFFD).
    pub fn finish(&mut self) -> String {
        if !self.pending_bytes.is_empty() {
            let rest = String::from_utf8_lossy(&self.pending_bytes).into_owned();
            self.pending_bytes.clear();
            self.held.push_str(&rest);
        }
        // A stop string may only now be complete.
        if let Some(cut) = self.earliest_stop() {
            self.held.truncate(cut);
        }
        let text = std::mem::take(&mut self.held);
        self.emitted.push_str(&text);
        text
    }

    /// Everything released so far.
    pub fn emitted(&self) -> &str {
        &self.emitted
    }

    fn earliest_stop(&self) -> Option<usize> {
        self.stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
    }

    fn release(&mut self) -> StreamEvent {
        if let Some(cut) = self.earliest_stop() {
            let text = self.held[..cut].to_string();
            self.held.clear();
            self.emitted.push_str(&text);
            return StreamEvent::Stopped(text);
        }
        // Hold back the longest tail that could still grow into a stop string.
        let mut keep_from = self.held.len();
        for stop in &self.stops {
            for (boundary, _) in self.held.char_indices() {
                if boundary >= keep_from {
                    break;
                }
                if stop.starts_with(&self.held[boundary..]) {
                    keep_from = boundary;
                    break;
                }
            }
        }
        let text = self.held[..keep_from].to_string();
        self.held.drain(..keep_from);
        self.emitted.push_str(&text);
        StreamEvent::Text(text)
    }
}

/// Removes and returns the longest prefix of `bytes` that is complete UTF-8;
/// bytes that can never become valid are replaced by U+FFFD.
fn take_complete_utf8(bytes: &mut Vec<u8>) -> String {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                bytes.clear();
                return out;
            }
            Err(err) => {
                let valid = err.valid_up_to();
                // The prefix was just validated by from_utf8.
                out.push_str(&String::from_utf8_lossy(&bytes[..valid]));
                match err.error_len() {
                    // Incomplete sequence at the end: wait for more bytes.
                    None => {
                        bytes.drain(..valid);
                        return out;
                    }
                    Some(bad) => {
                        out.push('\u{FFFD}');
                        bytes.drain(..valid + bad);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(event: StreamEvent) -> String {
        match event {
            StreamEvent::Text(t) => t,
            StreamEvent::Stopped(t) => panic!("unexpected stop with {t:?}"),
        }
    }

    #[test]
    fn chinese_is_released_character_by_character() {
        let mut stream = TextStream::new(&[]);
        let bytes = "你好".as_bytes();
        assert_eq!(text(stream.push(&bytes[..1])), "");
        assert_eq!(text(stream.push(&bytes[1..3])), "你");
        assert_eq!(text(stream.push(&bytes[3..5])), "");
        assert_eq!(text(stream.push(&bytes[5..])), "好");
        assert_eq!(stream.finish(), "");
        assert_eq!(stream.emitted(), "你好");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut stream = TextStream::new(&[]);
        assert_eq!(text(stream.push(&[b'a', 0xFF, b'b'])), "a\u{FFFD}b");
        assert_eq!(text(stream.push(&[0xE4, 0xBD])), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
    }

    #[test]
    fn holds_back_possible_stop_prefixes_and_cuts_at_stops() {
        let mut stream = TextStream::new(&["END".to_string()]);
        assert_eq!(text(stream.push(b"abc E")), "abc ");
        assert_eq!(text(stream.push(b"x")), "Ex");
        assert_eq!(text(stream.push(b" EN")), " ");
        assert_eq!(stream.push(b"Dmore"), StreamEvent::Stopped("".to_string()));
        assert_eq!(stream.emitted(), "abc Ex ");
    }

    #[test]
    fn stop_inside_one_token_and_at_finish() {
        let mut stream = TextStream::new(&["\n\n".to_string(), "。".to_string()]);
        assert_eq!(
            stream.push("答案。其余".as_bytes()),
            StreamEvent::Stopped("答案".into())
        );
        let mut stream = TextStream::new(&["xyz".to_string()]);
        assert_eq!(text(stream.push(b"ab xy")), "ab ");
        assert_eq!(stream.finish(), "xy");
    }
}
