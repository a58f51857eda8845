//! The heuristic scorer: [`InjectionScorer`].

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use regex::{Regex, RegexSet, RegexSetBuilder};
use regex_automata::{PatternID, PatternSet};

use super::normalize::{fold, Folded};
use super::rules::{Bound, RAW_RULES, RULES};
use crate::error::{Error, Result};
use crate::guardrail::lazy_set::LazySet;

/// The threshold [`InjectionScorer::default`] flags texts at; see the
/// module docs for how it was chosen.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// The weight of an extra phrase added without one.
pub const DEFAULT_PHRASE_WEIGHT: f32 = 0.8;

/// How deep encoded payloads are decoded (base64 of base64 of ...).
const MAX_DEPTH: u8 = 2;
/// The most encoded runs decoded in one text.
const MAX_DECODED_RUNS: usize = 32;
/// The largest compiled size of a set of rules, and of its lazy
/// automaton's cache.
const MAX_SET_BYTES: usize = 16 << 20;
/// The most bytes decoded in one text, all runs together.
const MAX_DECODED_BYTES: usize = 64 * 1024;
/// The most signals of one rule kept for one text.
const MAX_MATCHES_PER_RULE: usize = 8;
/// The longest extra phrase, in bytes.
const MAX_PHRASE_BYTES: usize = 256;

/// What a [`Signal`] is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SignalKind {
    /// An instruction to drop what came before: "ignore all previous
    /// instructions", "olvida todo", "新的指令：".
    InstructionOverride,
    /// A persona without rules: DAN, "you are now ...", "pretend you have
    /// no restrictions", developer mode.
    RolePlay,
    /// A request for the system prompt or what came before the text:
    /// "reveal your system prompt", "print the text above".
    PromptExtraction,
    /// An instruction to send data somewhere: "send the chat history to
    /// https://...".
    Exfiltration,
    /// A chat template's marker or a fake turn boundary: `<|im_start|>`,
    /// `[INST]`, `### system`, `</system>`.
    FakeDelimiter,
    /// A base64, hex, URL-encoded or ROT13 run whose decoded text itself
    /// scores as an injection; the signal's weight is that score.
    EncodedPayload,
    /// Unicode tag characters (U+E0000 to U+E007F), invisible, which spell
    /// ASCII; what they spell is scored too. Flag emoji are not counted.
    TagCharacters,
    /// Zero-width characters inside words, or bidirectional overrides.
    InvisibleCharacters,
    /// A word mixing Latin letters with Cyrillic, Greek, Armenian or
    /// Cherokee look-alikes ("іgnоrе").
    Homoglyph,
    /// One of the scorer's extra phrases
    /// ([`InjectionScorerBuilder::phrase`]).
    Custom,
}

impl SignalKind {
    /// A short, stable name: `instruction_override`, `role_play`,
    /// `prompt_extraction`, `exfiltration`, `fake_delimiter`,
    /// `encoded_payload`, `tag_characters`, `invisible_characters`,
    /// `homoglyph`, `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::InstructionOverride => "instruction_override",
            SignalKind::RolePlay => "role_play",
            SignalKind::PromptExtraction => "prompt_extraction",
            SignalKind::Exfiltration => "exfiltration",
            SignalKind::FakeDelimiter => "fake_delimiter",
            SignalKind::EncodedPayload => "encoded_payload",
            SignalKind::TagCharacters => "tag_characters",
            SignalKind::InvisibleCharacters => "invisible_characters",
            SignalKind::Homoglyph => "homoglyph",
            SignalKind::Custom => "custom",
        }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of evidence: what, where in the scored text, how strong.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Signal {
    /// What it is evidence of.
    pub kind: SignalKind,
    /// Where, as a byte range of the scored text, on character boundaries.
    /// For an encoded payload, the encoded run; for tag characters, the
    /// run of tags.
    pub range: Range<usize>,
    /// How strong, in `0.0..=1.0`.
    pub weight: f32,
}

impl Signal {
    /// The part of `text` (the scored text) the signal covers; empty if
    /// `text` is another text whose range does not fit.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.range.clone()).unwrap_or("")
    }
}

/// What [`InjectionScorer::score`] found in a text.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InjectionScore {
    /// The score, in `0.0..=1.0`: the strongest signal of each kind,
    /// combined as independent evidence (`1 - Π(1 - wₖ)`).
    pub score: f32,
    /// The threshold of the scorer that scored it.
    pub threshold: f32,
    /// The evidence, in the order of the text.
    pub signals: Vec<Signal>,
}

impl InjectionScore {
    /// Whether the score reaches the threshold.
    pub fn is_injection(&self) -> bool {
        self.score >= self.threshold
    }

    /// The strongest signal, if any.
    pub fn strongest(&self) -> Option<&Signal> {
        self.signals.iter().max_by(|a, b| a.weight.total_cmp(&b.weight))
    }
}

/// Scores texts (a user's prompt, a tool's result, a retrieved document)
/// for prompt injection, by rules: phrases in fifteen-odd forms per intent
/// and ten languages, encoded and invisible payloads decoded and scored,
/// look-alike letters folded to the letters they pass for.
///
/// Built once and shared: cloning it is a reference count. Scoring takes
/// time linear in the text and never fails.
#[derive(Clone)]
pub struct InjectionScorer {
    inner: Arc<Inner>,
}

struct Inner {
    threshold: f32,
    set: LazySet,
    regexes: Vec<Regex>,
    raw_set: RegexSet,
    raw_regexes: Vec<Regex>,
    ascii_raw_set: LazySet,
    ascii_raw_regexes: Vec<Regex>,
    non_ascii_word: Regex,
    encoded: Regex,
    rot13_hints: Regex,
    phrases: Option<(AhoCorasick, Vec<f32>)>,
}

impl fmt::Debug for InjectionScorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InjectionScorer")
            .field("threshold", &self.inner.threshold)
            .field("rules", &self.inner.regexes.len())
            .field(
                "phrases",
                &self.inner.phrases.as_ref().map_or(0, |(_, w)| w.len()),
            )
            .finish()
    }
}

impl Default for InjectionScorer {
    /// The built-in rules at [`DEFAULT_THRESHOLD`].
    fn default() -> Self {
        BUILT_IN.clone()
    }
}

static BUILT_IN: std::sync::LazyLock<InjectionScorer> = std::sync::LazyLock::new(|| {
    InjectionScorerBuilder::default()
        .build()
        .unwrap_or_else(|_| unreachable!("the built-in rules compile (tested)"))
});

impl InjectionScorer {
    /// A builder, at [`DEFAULT_THRESHOLD`] with no extra phrases.
    pub fn builder() -> InjectionScorerBuilder {
        InjectionScorerBuilder::default()
    }

    /// The threshold a score must reach to be an injection.
    pub fn threshold(&self) -> f32 {
        self.inner.threshold
    }

    /// Scores `text`.
    pub fn score(&self, text: &str) -> InjectionScore {
        let mut budget = DecodeBudget {
            runs: MAX_DECODED_RUNS,
            bytes: MAX_DECODED_BYTES,
        };
        let mut signals = self.signals(text, 0, &mut budget);
        signals.sort_by_key(|s| (s.range.start, s.range.end, s.kind));
        InjectionScore {
            score: combine(&signals),
            threshold: self.inner.threshold,
            signals,
        }
    }

    /// The signals in `text`, decoding payloads down to `MAX_DEPTH`.
    fn signals(&self, text: &str, depth: u8, budget: &mut DecodeBudget) -> Vec<Signal> {
        let inner = &*self.inner;
        let folded = fold(text);
        let mut signals = Vec::new();
        self.phrase_signals(&folded, &folded.text, &mut signals);

        // The markers' `\b` is Unicode's, which the DFAs of `regex` give up
        // on at the first non-ASCII byte, leaving a slow NFA. Their ASCII
        // twins differ only next to a non-ASCII word character: without
        // one in the text they match the same; with one, they match
        // wherever the markers do (every `\b` sits next to an ASCII letter,
        // unless the text has a letter that folds to one: the Kelvin sign,
        // the long s), so they pick the markers worth running.
        let exact = text.is_ascii() || !inner.non_ascii_word.is_match(text);
        let twins = if exact || !text.contains(['\u{212A}', '\u{017F}']) {
            inner.ascii_raw_set.which(text)
        } else {
            None
        };
        let candidates =
            twins.unwrap_or_else(|| pattern_set(RAW_RULES.len(), inner.raw_set.matches(text).iter()));
        for i in candidates.iter().map(|p| p.as_usize()) {
            let (kind, weight, _) = RAW_RULES[i];
            let regex = if exact {
                &inner.ascii_raw_regexes[i]
            } else {
                &inner.raw_regexes[i]
            };
            for m in regex.find_iter(text).take(MAX_MATCHES_PER_RULE) {
                signals.push(Signal {
                    kind,
                    range: m.range(),
                    weight,
                });
            }
        }

        // Disguise: a phrase with look-alike letters or invisible characters
        // in it counts more than either alone.
        let phrases: Vec<Range<usize>> = signals.iter().map(|s| s.range.clone()).collect();
        let overlaps = |r: &Range<usize>| phrases.iter().any(|p| p.start < r.end && r.start < p.end);
        for word in &folded.mixed_script {
            let weight = if overlaps(word) { 0.6 } else { 0.2 };
            signals.push(Signal {
                kind: SignalKind::Homoglyph,
                range: word.clone(),
                weight,
            });
        }
        let many = folded.invisible.len() >= 3;
        for run in &folded.invisible {
            let weight = if overlaps(run) {
                0.6
            } else if many {
                0.45
            } else {
                0.3
            };
            signals.push(Signal {
                kind: SignalKind::InvisibleCharacters,
                range: run.clone(),
                weight,
            });
        }
        for (range, spelled) in &folded.tags {
            let mut weight = 0.5f32;
            if depth < MAX_DEPTH && !spelled.is_empty() {
                let inside = self.signals(spelled, depth + 1, budget);
                weight = weight.max(combine(&inside));
            }
            signals.push(Signal {
                kind: SignalKind::TagCharacters,
                range: range.clone(),
                weight,
            });
        }

        if depth < MAX_DEPTH {
            self.encoded_signals(text, &folded, depth, budget, &mut signals);
        }
        signals
    }

    /// The rule and extra-phrase matches in a folded text.
    fn phrase_signals(&self, folded: &Folded, haystack: &str, signals: &mut Vec<Signal>) {
        let inner = &*self.inner;
        let matched = (inner.set.which(haystack))
            .unwrap_or_else(|| pattern_set(inner.regexes.len(), 0..inner.regexes.len()));
        for i in matched.iter().map(|p| p.as_usize()) {
            let (kind, weight, _, _) = RULES[i];
            for m in inner.regexes[i].find_iter(haystack).take(MAX_MATCHES_PER_RULE) {
                signals.push(Signal {
                    kind,
                    range: folded.original(m.range()),
                    weight,
                });
            }
        }
        if let Some((automaton, weights)) = &inner.phrases {
            for m in automaton.find_iter(haystack).take(MAX_MATCHES_PER_RULE * 4) {
                signals.push(Signal {
                    kind: SignalKind::Custom,
                    range: folded.original(m.range()),
                    weight: weights[m.pattern().as_usize()],
                });
            }
        }
    }

    /// Base64, hex and URL-encoded runs, and a ROT13 reading of a text that
    /// mentions ROT13: decoded, scored, kept when the decoded text scores.
    fn encoded_signals(
        &self,
        text: &str,
        folded: &Folded,
        depth: u8,
        budget: &mut DecodeBudget,
        signals: &mut Vec<Signal>,
    ) {
        for m in self.inner.encoded.find_iter(text) {
            if budget.runs == 0 || budget.bytes == 0 {
                break;
            }
            let run = m.as_str();
            if run.len() / 4 * 3 > budget.bytes {
                continue;
            }
            let Some(decoded) = decode(run) else {
                continue;
            };
            budget.runs -= 1;
            budget.bytes = budget.bytes.saturating_sub(decoded.len());
            let inside = self.signals(&decoded, depth + 1, budget);
            let weight = combine(&inside);
            if weight >= 0.3 {
                signals.push(Signal {
                    kind: SignalKind::EncodedPayload,
                    range: m.range(),
                    weight,
                });
            }
        }
        if self.inner.rot13_hints.is_match(folded.text.as_str()) {
            let rotated: String = folded.text.chars().map(rot13).collect();
            let mut inside = Vec::new();
            self.phrase_signals(folded, &rotated, &mut inside);
            let weight = combine(&inside);
            if weight >= 0.3 {
                let start = inside.iter().map(|s| s.range.start).min().unwrap_or(0);
                let end = inside.iter().map(|s| s.range.end).max().unwrap_or(0);
                signals.push(Signal {
                    kind: SignalKind::EncodedPayload,
                    range: start..end,
                    weight,
                });
            }
        }
    }
}

/// What is left of the decoding allowance of one [`InjectionScorer::score`].
struct DecodeBudget {
    runs: usize,
    bytes: usize,
}

/// `1 - Π(1 - wₖ)` over the strongest signal of each kind.
fn combine(signals: &[Signal]) -> f32 {
    let mut strongest: Vec<(SignalKind, f32)> = Vec::new();
    for s in signals {
        match strongest.iter_mut().find(|(k, _)| *k == s.kind) {
            Some((_, w)) => *w = w.max(s.weight),
            None => strongest.push((s.kind, s.weight)),
        }
    }
    let miss: f32 = strongest.iter().map(|(_, w)| 1.0 - w.clamp(0.0, 1.0)).product();
    (1.0 - miss).clamp(0.0, 1.0)
}

fn rot13(c: char) -> char {
    match c {
        'a'..='m' | 'A'..='M' => char::from(c as u8 + 13),
        'n'..='z' | 'N'..='Z' => char::from(c as u8 - 13),
        _ => c,
    }
}

/// Decodes a run as URL-encoding, hex or base64 (standard or URL-safe,
/// padded or not), to UTF-8 text that is mostly printable.
fn decode(run: &str) -> Option<String> {
    let bytes = if run.contains('\\') {
        unescape(run)?
    } else if run.contains('%') {
        percent_decode(run)?
    } else if run.len() % 2 == 0 && run.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..run.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&run[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        let trimmed = run.trim_end_matches('=');
        let engine = if trimmed.contains(['-', '_']) {
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
        } else {
            &base64::engine::general_purpose::STANDARD_NO_PAD
        };
        engine.decode(trimmed).ok()?
    };
    let text = String::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let total = text.chars().count();
    (total > 0 && printable * 10 >= total * 9 && letters * 2 >= total).then_some(text)
}

/// Decodes `\uXXXX` and `\xXX` escapes, keeping what is between them.
fn unescape(run: &str) -> Option<Vec<u8>> {
    let mut out = String::with_capacity(run.len() / 4);
    let mut rest = run;
    while !rest.is_empty() {
        if let Some(hex) = rest.strip_prefix("\\u").and_then(|r| r.get(..4)) {
            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?).unwrap_or('\u{FFFD}'));
            rest = &rest[6..];
        } else if let Some(hex) = rest.strip_prefix("\\x").and_then(|r| r.get(..2)) {
            out.push(char::from(u8::from_str_radix(hex, 16).ok()?));
            rest = &rest[4..];
        } else {
            let c = rest.chars().next()?;
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(out.into_bytes())
}

fn percent_decode(run: &str) -> Option<Vec<u8>> {
    let bytes = run.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = run.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Base64 (standard or URL-safe) of at least 16 characters, hex of at
/// least 24 digits, a run with at least four %-escapes, or four `\uXXXX` /
/// `\xXX` escapes.
const ENCODED: &str = r"(?:\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}){4,}(?:\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|[ ,.!?'])*|[A-Za-z0-9+/_-]{16,}={0,2}|(?:[0-9A-Fa-f]{2}){12,}|[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){4,}";

/// Builds an [`InjectionScorer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct InjectionScorerBuilder {
    threshold: f32,
    phrases: Vec<(String, f32)>,
}

impl Default for InjectionScorerBuilder {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            phrases: Vec::new(),
        }
    }
}

impl InjectionScorerBuilder {
    /// The score at which a text is an injection ([`DEFAULT_THRESHOLD`]
    /// unless set): lower flags more, injections and benign texts alike.
    /// Must be in `0.0..=1.0`.
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// An extra phrase, at [`DEFAULT_PHRASE_WEIGHT`]: matched like the
    /// built-in ones (case, accents, punctuation and spacing ignored,
    /// look-alike letters folded), as a substring of the folded text.
    pub fn phrase(self, phrase: impl Into<String>) -> Self {
        self.weighted_phrase(phrase, DEFAULT_PHRASE_WEIGHT)
    }

    /// An extra phrase with its own weight, in `0.0..=1.0`.
    pub fn weighted_phrase(mut self, phrase: impl Into<String>, weight: f32) -> Self {
        self.phrases.push((phrase.into(), weight));
        self
    }

    /// Extra phrases, at [`DEFAULT_PHRASE_WEIGHT`].
    pub fn phrases<I>(mut self, phrases: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        for phrase in phrases {
            self = self.phrase(phrase);
        }
        self
    }

    /// The scorer.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a threshold or weight outside `0.0..=1.0`
    /// (or NaN), or an extra phrase that is empty once folded or longer
    /// than 256 bytes.
    pub fn build(self) -> Result<InjectionScorer> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::config(format!(
                "the injection threshold must be in 0.0..=1.0, not {}",
                self.threshold
            )));
        }
        let mut folded_phrases = Vec::with_capacity(self.phrases.len());
        let mut weights = Vec::with_capacity(self.phrases.len());
        for (phrase, weight) in &self.phrases {
            if !(0.0..=1.0).contains(weight) {
                return Err(Error::config(format!(
                    "the weight of the injection phrase {phrase:?} must be in 0.0..=1.0, not {weight}"
                )));
            }
            if phrase.len() > MAX_PHRASE_BYTES {
                return Err(Error::config(format!(
                    "an injection phrase is {} bytes long; the limit is {MAX_PHRASE_BYTES}",
                    phrase.len()
                )));
            }
            let folded = fold(phrase).text;
            let folded = folded.trim_matches([' ', '|']);
            if folded.is_empty() {
                return Err(Error::config(format!(
                    "the injection phrase {phrase:?} has no letters or digits"
                )));
            }
            folded_phrases.push(folded.to_owned());
            weights.push(*weight);
        }
        let phrases = if folded_phrases.is_empty() {
            None
        } else {
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&folded_phrases)
                .map_err(|e| Error::config_with("the injection phrases do not compile", e))?;
            Some((automaton, weights))
        };

        let patterns: Vec<String> = RULES
            .iter()
            .map(|(_, _, bound, pattern)| match bound {
                Bound::Latin => format!(r"(?-u:\b)(?:{pattern})(?-u:\b)"),
                Bound::Spaced => format!("(?:{pattern}) "),
                Bound::Unbounded => (*pattern).to_owned(),
            })
            .collect();
        let what = "the injection rules do not compile";
        let set = LazySet::new(&patterns, MAX_SET_BYTES, what)?;
        let regexes = compile_each(&patterns, what)?;
        let what = "the injection markers do not compile";
        let raw: Vec<&str> = RAW_RULES.iter().map(|r| r.2).collect();
        let raw_set = RegexSetBuilder::new(&raw)
            .build()
            .map_err(|e| Error::config_with(what, e))?;
        let raw_regexes = compile_each(&raw, what)?;
        let ascii_raw: Vec<String> = raw.iter().map(|p| p.replace(r"\b", r"(?-u:\b)")).collect();
        let ascii_raw_set = LazySet::new(&ascii_raw, MAX_SET_BYTES, what)?;
        let ascii_raw_regexes = compile_each(&ascii_raw, what)?;
        let non_ascii_word = Regex::new(r"[\w&&[^\x00-\x7F]]")
            .map_err(|e| Error::config_with("the injection markers do not compile", e))?;
        let encoded = Regex::new(ENCODED)
            .map_err(|e| Error::config_with("the injection decoder does not compile", e))?;
        // A text that mentions ROT13, or holds ROT13 of the words injections use.
        // (One alternation of literals: `regex` finds it with a vector
        // prefilter on the first bytes, where a literal automaton would
        // stop at every space.)
        let rot13_hints = Regex::new(
            " (?:rot13|rot 13|caesar|vtaber|qvfertneq|sbetrg|vafgehpgvbaf|cerivbhf|flfgrz cebzcg|ehyrf) ",
        )
        .map_err(|e| Error::config_with("the injection decoder does not compile", e))?;
        Ok(InjectionScorer {
            inner: Arc::new(Inner {
                threshold: self.threshold,
                set,
                regexes,
                raw_set,
                raw_regexes,
                ascii_raw_set,
                ascii_raw_regexes,
                non_ascii_word,
                encoded,
                rot13_hints,
                phrases,
            }),
        })
    }
}

/// Each of `patterns` compiled on its own, or a configuration error saying
/// `what`.
fn compile_each<S: AsRef<str>>(patterns: &[S], what: &'static str) -> Result<Vec<Regex>> {
    patterns
        .iter()
        .map(|p| Regex::new(p.as_ref()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config_with(what, e))
}

/// A set of `len` patterns holding `indices`: what a lazy set's reading is
/// replaced with when its automaton gives up.
fn pattern_set(len: usize, indices: impl Iterator<Item = usize>) -> PatternSet {
    let mut set = PatternSet::new(len);
    for i in indices {
        set.insert(PatternID::new_unchecked(i));
    }
    set
}
