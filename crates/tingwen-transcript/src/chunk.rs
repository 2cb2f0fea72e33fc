//! Packs units into chunks: close to the target size, cut at the strongest
//! nearby boundary (heading > speaker turn > paragraph/cue > line >
//! sentence), with a small overlap when a cut falls inside a turn.

use tingwen_core::{Chunk, Span, TimeRange};

use crate::segment::needs_space;
use crate::units::{Break, Unit};
use crate::ChunkOptions;

/// What the chunker needs besides the units.
pub(crate) struct ChunkInput<'a> {
    pub doc_id: &'a str,
    pub units: &'a [Unit],
    pub sections: &'a [Vec<String>],
    pub speakers: &'a [String],
    pub options: &'a ChunkOptions,
    pub count_tokens: &'a dyn Fn(&str) -> usize,
}

fn strength(brk: Break) -> u8 {
    match brk {
        Break::None => 0,
        Break::Line => 1,
        Break::Paragraph => 2,
        Break::Turn => 3,
        Break::Section => 4,
    }
}

struct Costs {
    overhead: usize,
    section: Vec<Option<usize>>,
    speaker: Vec<Option<usize>>,
}

impl Costs {
    fn count(&self, input: &ChunkInput<'_>, text: &str) -> usize {
        (input.count_tokens)(text).saturating_sub(self.overhead)
    }

    fn section(&mut self, input: &ChunkInput<'_>, id: usize) -> usize {
        if let Some(cost) = self.section[id] {
            return cost;
        }
        let cost = section_prefix(input, id).map_or(0, |p| self.count(input, &p));
        self.section[id] = Some(cost);
        cost
    }

    fn speaker(&mut self, input: &ChunkInput<'_>, id: usize) -> usize {
        if let Some(cost) = self.speaker[id] {
            return cost;
        }
        let cost = self.count(input, &format!("{}: ", input.speakers[id])) + 1;
        self.speaker[id] = Some(cost);
        cost
    }
}

fn section_prefix(input: &ChunkInput<'_>, id: usize) -> Option<String> {
    let path = &input.sections[id];
    (!path.is_empty()).then(|| path.join(" › "))
}

/// The encoder's text for units `[start, end)`.
fn embed_text(input: &ChunkInput<'_>, start: usize, end: usize, with_prefix: bool) -> String {
    let units = &input.units[start..end];
    let mut text =
        String::with_capacity(units.iter().map(|u| u.clean.len() + 1).sum::<usize>() + 64);
    if with_prefix {
        if let Some(prefix) = section_prefix(input, units[0].section) {
            text.push_str(&prefix);
            text.push('\n');
        }
    }
    let mut last_speaker = None;
    for (i, unit) in units.iter().enumerate() {
        if unit.speaker.is_some() && unit.speaker != last_speaker {
            if i > 0 {
                text.push('\n');
            }
            if let Some(name) = unit.speaker.and_then(|id| input.speakers.get(id)) {
                text.push_str(name);
                text.push_str(": ");
            }
            last_speaker = unit.speaker;
        } else if i > 0 {
            match unit.brk {
                Break::Paragraph | Break::Turn | Break::Section => text.push('\n'),
                Break::Line => text.push(' '),
                Break::None => {
                    if needs_space(text.chars().next_back(), unit.clean.chars().next()) {
                        text.push(' ');
                    }
                }
            }
        }
        text.push_str(&unit.clean);
    }
    text
}

/// Splits the units into chunks.
pub(crate) fn chunk_units(input: &ChunkInput<'_>, warnings: &mut Vec<String>) -> Vec<Chunk> {
    let units = input.units;
    let options = input.options;
    let target = options.target_tokens;
    let mut costs = Costs {
        overhead: (input.count_tokens)(""),
        section: vec![None; input.sections.len()],
        speaker: vec![None; input.speakers.len()],
    };
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut previous_end = 0;
    while start < units.len() {
        let section = units[start].section;
        let mut cumulative = vec![costs.section(input, section)];
        let mut last_speaker = None;
        let mut end = start;
        let mut tokens = cumulative[0];
        // Every chunk takes at least one unit it did not share with the previous one.
        let must_reach = previous_end.max(start + 1);
        while end < units.len() {
            let unit = &units[end];
            let speaker_cost = match unit.speaker {
                Some(id) if unit.speaker != last_speaker => costs.speaker(input, id),
                _ => 0,
            };
            let cost = unit.tokens + speaker_cost + 1;
            if end >= must_reach {
                if unit.section != section || unit.brk == Break::Section {
                    break;
                }
                if unit.brk == Break::Turn && tokens >= target / 2 {
                    break;
                }
                if tokens + cost > target {
                    end = best_break(units, &cumulative, start, must_reach, end, target);
                    break;
                }
            }
            tokens += cost;
            cumulative.push(tokens);
            last_speaker = unit.speaker.or(last_speaker);
            end += 1;
        }
        let (end, embed) = fit(input, start, end, must_reach, warnings);
        chunks.push(make_chunk(input, chunks.len(), start, end, embed));
        previous_end = end;
        start = next_start(input, start, end);
    }
    chunks
}

/// The best end in `[must_reach, overflow]` for a chunk that cannot take
/// the unit at `overflow`: the strongest boundary once the chunk is at
/// least 60% of the target, the latest among equals.
fn best_break(
    units: &[Unit],
    cumulative: &[usize],
    start: usize,
    must_reach: usize,
    overflow: usize,
    target: usize,
) -> usize {
    let min_tokens = target * 3 / 5;
    let mut best = overflow;
    let mut best_strength = strength(units.get(overflow).map_or(Break::Section, |u| u.brk));
    for end in (must_reach..overflow).rev() {
        if cumulative[end - start] < min_tokens {
            break;
        }
        let s = strength(units[end].brk);
        if s > best_strength {
            best = end;
            best_strength = s;
        }
    }
    best.max(must_reach)
}

/// Shrinks `[start, end)` until its embed text fits `max_tokens` as the
/// real counter measures it; drops the heading prefix as a last resort.
fn fit(
    input: &ChunkInput<'_>,
    start: usize,
    mut end: usize,
    must_reach: usize,
    warnings: &mut Vec<String>,
) -> (usize, String) {
    let max = input.options.max_tokens;
    loop {
        let text = embed_text(input, start, end, true);
        if (input.count_tokens)(&text) <= max {
            return (end, text);
        }
        if end > must_reach && end > start + 1 {
            end -= 1;
            continue;
        }
        let bare = embed_text(input, start, end, false);
        let tokens = (input.count_tokens)(&bare);
        if tokens > max {
            warnings.push(format!(
                "chunk at byte {} is {tokens} tokens, over the {max}-token limit, even alone",
                input.units[start].span.start
            ));
        }
        return (end, bare);
    }
}

/// Where the next chunk starts: a few trailing units again when the cut
/// fell inside a speaker's turn and section, so context carries over.
fn next_start(input: &ChunkInput<'_>, start: usize, end: usize) -> usize {
    let units = input.units;
    let overlap = input.options.overlap_tokens;
    if overlap == 0 || end >= units.len() || units[end].brk >= Break::Turn {
        return end;
    }
    // Never carry text across a turn that began inside this chunk.
    let floor = (start + 1..end)
        .rev()
        .find(|i| units[*i].brk >= Break::Turn)
        .unwrap_or(start + 1);
    let mut back = end;
    let mut carried = 0;
    while back > floor && carried + units[back - 1].tokens <= overlap {
        carried += units[back - 1].tokens;
        back -= 1;
    }
    back
}

fn make_chunk(
    input: &ChunkInput<'_>,
    ordinal: usize,
    start: usize,
    end: usize,
    embed_text: String,
) -> Chunk {
    let units = &input.units[start..end];
    let mut speakers: Vec<String> = Vec::new();
    let mut time: Option<TimeRange> = None;
    for unit in units {
        if let Some(name) = unit.speaker.and_then(|id| input.speakers.get(id)) {
            if !speakers.contains(name) {
                speakers.push(name.clone());
            }
        }
        if let Some(t) = unit.time {
            time = Some(match time {
                None => t,
                Some(acc) => TimeRange {
                    start: acc.start.min(t.start),
                    end: acc.end.max(t.end),
                },
            });
        }
    }
    let first = &units[0];
    let last = &units[units.len() - 1];
    Chunk {
        doc_id: input.doc_id.to_string(),
        ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
        span: Span::new(first.lead_start, last.span.end),
        embed_text,
        section: input.sections[first.section].clone(),
        speakers,
        time,
        sentences: units.iter().map(|u| u.span).collect(),
    }
}
