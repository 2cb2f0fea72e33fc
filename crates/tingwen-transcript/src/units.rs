//! The intermediate form every reader produces: a flat list of quotable
//! units (sentences, clauses, captions, cues) with their speaker, section,
//! time and the strength of the boundary before them.

use tingwen_core::{Span, TimeRange};

use crate::segment::{clean, split_long, split_sentences, trim_span};

/// How strongly the text breaks before a unit; the chunker prefers to cut
/// at strong breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Break {
    /// Next sentence of the same paragraph.
    None,
    /// A new line (list item, caption).
    Line,
    /// A new paragraph or subtitle cue.
    Paragraph,
    /// A new speaker turn.
    Turn,
    /// A new heading (section).
    Section,
}

/// One quotable unit.
#[derive(Clone, Debug)]
pub(crate) struct Unit {
    /// Exact, trimmed source span of the unit.
    pub span: Span,
    /// Where a chunk starting with this unit starts: earlier than `span`
    /// when a heading, speaker label or list marker belongs to it.
    pub lead_start: usize,
    /// What the encoder sees of it.
    pub clean: String,
    /// Encoder tokens of `clean`, without the per-call overhead.
    pub tokens: usize,
    /// Index into `Builder::speakers`.
    pub speaker: Option<usize>,
    /// Index into `Builder::sections`.
    pub section: usize,
    /// Time range, for timed formats.
    pub time: Option<TimeRange>,
    /// Boundary before this unit.
    pub brk: Break,
}

/// Longest speech-recognition clause, in characters, before it is split at
/// a pause: about one spoken sentence.
const ASR_CLAUSE_CHARS: usize = 40;

/// How a block of text is divided into units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Division {
    /// Sentences.
    Sentences,
    /// Sentences, then clauses at pauses (unpunctuated speech recognition).
    Clauses,
    /// The whole block is one unit (caption, cue), split only if too long.
    Whole,
}

/// Collects units while a reader walks a document.
pub(crate) struct Builder<'a> {
    pub source: &'a str,
    pub units: Vec<Unit>,
    /// Heading paths; index 0 is the empty path.
    pub sections: Vec<Vec<String>>,
    /// Speaker names in order of first appearance.
    pub speakers: Vec<String>,
    count_tokens: &'a dyn Fn(&str) -> usize,
    overhead: usize,
    unit_budget: usize,
    pending_lead: Option<usize>,
    pending_brk: Break,
}

impl<'a> Builder<'a> {
    pub fn new(
        source: &'a str,
        count_tokens: &'a dyn Fn(&str) -> usize,
        unit_budget: usize,
    ) -> Self {
        Builder {
            source,
            units: Vec::new(),
            sections: vec![Vec::new()],
            speakers: Vec::new(),
            count_tokens,
            overhead: count_tokens(""),
            unit_budget: unit_budget.max(1),
            pending_lead: None,
            pending_brk: Break::None,
        }
    }

    /// Tokens of a text, without the fixed per-call overhead (special tokens, prefix).
    pub fn tokens(&self, text: &str) -> usize {
        (self.count_tokens)(text).saturating_sub(self.overhead)
    }

    pub fn speaker_id(&mut self, name: &str) -> usize {
        if let Some(i) = self.speakers.iter().position(|s| s == name) {
            return i;
        }
        self.speakers.push(name.to_string());
        self.speakers.len() - 1
    }

    pub fn section_id(&mut self, path: Vec<String>) -> usize {
        if self.sections.last() == Some(&path) {
            return self.sections.len() - 1;
        }
        self.sections.push(path);
        self.sections.len() - 1
    }

    /// Marks a boundary (and optionally markup that should lead the next
    /// unit's chunk) without adding text.
    pub fn mark(&mut self, lead: Option<usize>, brk: Break) {
        if let Some(lead) = lead {
            self.pending_lead = Some(self.pending_lead.map_or(lead, |p| p.min(lead)));
        }
        self.pending_brk = self.pending_brk.max(brk);
    }

    /// Adds the text `source[start..end]` divided as asked.
    #[allow(clippy::too_many_arguments)]
    pub fn add_block(
        &mut self,
        start: usize,
        end: usize,
        lead: Option<usize>,
        brk: Break,
        speaker: Option<usize>,
        section: usize,
        time: Option<TimeRange>,
        division: Division,
    ) {
        self.mark(lead, brk);
        let source = self.source;
        let mut spans = Vec::new();
        match division {
            Division::Whole => spans.extend(trim_span(source, start, end)),
            Division::Sentences => split_sentences(source, start, end, &mut spans),
            Division::Clauses => {
                let mut sentences = Vec::new();
                split_sentences(source, start, end, &mut sentences);
                let chars = |s: Span| source[s.start..s.end].chars().count();
                for sentence in sentences {
                    spans.extend(split_long(source, sentence, ASR_CLAUSE_CHARS, true, &chars));
                }
            }
        }
        let count_tokens = self.count_tokens;
        let overhead = self.overhead;
        let measure =
            |s: Span| count_tokens(&clean(&source[s.start..s.end])).saturating_sub(overhead);
        for span in spans {
            let clean_text = clean(&source[span.start..span.end]);
            if clean_text.is_empty() {
                continue; // only markup (an image, a tag): nothing to quote
            }
            let tokens = self.tokens(&clean_text);
            if tokens <= self.unit_budget {
                self.push(span, clean_text, tokens, speaker, section, time);
                continue;
            }
            let pauses_only = division == Division::Clauses;
            for piece in split_long(source, span, self.unit_budget, pauses_only, &measure) {
                let clean_text = clean(&source[piece.start..piece.end]);
                if clean_text.is_empty() {
                    continue;
                }
                let tokens = self.tokens(&clean_text);
                self.push(piece, clean_text, tokens, speaker, section, time);
            }
        }
    }

    /// Adds one unit whose source slice is escaped (a JSON string): the
    /// encoder sees the decoded text. Too long, it is split on the source.
    #[allow(clippy::too_many_arguments)]
    pub fn add_decoded(
        &mut self,
        start: usize,
        end: usize,
        decoded: &str,
        brk: Break,
        speaker: Option<usize>,
        time: Option<TimeRange>,
    ) {
        let clean_text = clean(decoded);
        let tokens = self.tokens(&clean_text);
        match trim_span(self.source, start, end) {
            Some(_) if clean_text.is_empty() => {}
            Some(span) if tokens <= self.unit_budget => {
                self.mark(None, brk);
                self.push(span, clean_text, tokens, speaker, 0, time);
            }
            Some(_) => self.add_block(start, end, None, brk, speaker, 0, time, Division::Whole),
            None => {}
        }
    }

    fn push(
        &mut self,
        span: Span,
        clean: String,
        tokens: usize,
        speaker: Option<usize>,
        section: usize,
        time: Option<TimeRange>,
    ) {
        let lead_start = self
            .pending_lead
            .take()
            .map_or(span.start, |l| l.min(span.start));
        let brk = std::mem::replace(&mut self.pending_brk, Break::None);
        self.units.push(Unit {
            span,
            lead_start,
            clean,
            tokens,
            speaker,
            section,
            time,
            brk,
        });
    }
}
