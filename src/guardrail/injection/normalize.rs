//! The folded view of a text that phrases are matched against, with a map
//! back to the original bytes, and what was hidden in the text on the way.

use std::cell::OnceCell;
use std::ops::Range;

use unicode_script::{Script, UnicodeScript};

/// The most tag characters decoded from one text.
const MAX_TAG_BYTES: usize = 16 * 1024;

/// The original bytes (start and end) one folded byte came from.
type Span = (u32, u32);

/// What [`fold`] makes of a text.
#[derive(Debug, Default)]
pub(super) struct Folded<'t> {
    /// Lower case, accents and invisible characters removed, look-alike
    /// letters of mixed-script words replaced by their skeleton, every run
    /// of other characters (spaces, punctuation) one space, or ` | ` when
    /// it ends a sentence (`.`, `!`, `?`, `;`); starts and ends with a
    /// space.
    pub(super) text: String,
    /// For each byte of `text`, the original bytes it came from; empty
    /// for an ASCII text, whose spans are made when first asked for
    /// ([`later`](Self::later)).
    spans: Vec<Span>,
    /// The spans of an ASCII text, made by folding it again, with them,
    /// the first time a range is mapped back: most texts have nothing to
    /// map back, and an ASCII text folds twice as fast without them.
    later: Option<(&'t str, OnceCell<Vec<Span>>)>,
    /// Runs of invisible characters (zero-width, bidi overrides) between
    /// letters, in the original text.
    pub(super) invisible: Vec<Range<usize>>,
    /// Runs of Unicode tag characters, in the original text, and the ASCII
    /// they spell.
    pub(super) tags: Vec<(Range<usize>, String)>,
    /// Words that mix Latin letters with Cyrillic, Greek, Armenian or
    /// Cherokee ones, in the original text.
    pub(super) mixed_script: Vec<Range<usize>>,
}

impl Folded<'_> {
    /// The original byte range of `range` of [`text`](Self::text), spaces
    /// at either end left out.
    pub(super) fn original(&self, range: Range<usize>) -> Range<usize> {
        let spans = match &self.later {
            Some((text, spans)) => spans.get_or_init(|| fold_with_spans(text).spans),
            None => &self.spans,
        };
        let bytes = self.text.as_bytes();
        let (mut start, mut end) = (range.start, range.end.min(bytes.len()));
        while start < end && bytes[start] == b' ' {
            start += 1;
        }
        while end > start && bytes[end - 1] == b' ' {
            end -= 1;
        }
        if start >= end {
            let at = spans.get(start).map_or(0, |s| s.0 as usize);
            return at..at;
        }
        spans[start].0 as usize..spans[end - 1].1 as usize
    }
}

/// Zero-width characters, joiners, word joiner, byte-order mark, soft
/// hyphen, invisible operators, Mongolian vowel separator.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// Bidirectional embeddings, overrides and isolates (not the plain marks
/// LRM / RLM, which right-to-left text uses).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A Unicode tag character (U+E0000 to U+E007F).
fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// Scripts with letters that pass for Latin ones.
fn is_lookalike_script(script: Script) -> bool {
    matches!(
        script,
        Script::Cyrillic | Script::Greek | Script::Armenian | Script::Cherokee
    )
}

/// A combining mark that NFD leaves after a base letter (accents, cedilla,
/// tilde, umlaut...).
fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// One character kept for folding: the character and where it was.
#[derive(Clone, Copy)]
struct Kept {
    c: char,
    start: u32,
    end: u32,
}

/// Folds `text`. Texts longer than `u32::MAX` bytes are folded up to there.
///
/// An ASCII text is folded without its spans, made later if needed
/// ([`Folded::original`]); any other as [`fold_with_spans`] does.
pub(super) fn fold(text: &str) -> Folded<'_> {
    if !text.is_ascii() || u32::try_from(text.len()).is_err() {
        return fold_with_spans(text);
    }
    let mut folded = Folded {
        text: String::with_capacity(text.len() + 2),
        later: Some((text, OnceCell::new())),
        ..Folded::default()
    };
    folded.text.push(' ');
    fold_ascii::<false>(&mut folded, text, 0..text.len());
    if !folded.text.ends_with(' ') {
        folded.text.push(' ');
    }
    folded
}

/// Folds `text`, with the span of each folded byte.
///
/// Runs of ASCII are folded a byte at a time; the stretches around
/// other characters go through [`fold_stretch`]. Both cut only after an
/// ASCII character that is neither a letter nor a digit, where no word,
/// invisible run or tag run goes on, so the stretches fold as the whole
/// text would.
fn fold_with_spans(text: &str) -> Folded<'_> {
    let mut folded = Folded {
        text: String::with_capacity(text.len() + 2),
        spans: Vec::with_capacity(text.len() + 2),
        ..Folded::default()
    };
    folded.text.push(' ');
    folded.spans.push((0, 0));
    let mut kept: Vec<Kept> = Vec::new();
    let mut tag_bytes = 0;
    if u32::try_from(text.len()).is_err() {
        fold_stretch(&mut folded, &mut kept, &mut tag_bytes, text, 0);
    } else {
        let bytes = text.as_bytes();
        let is_cut = |b: u8| b.is_ascii() && !b.is_ascii_alphanumeric();
        let mut from = 0;
        while from < bytes.len() {
            let Some(other) = bytes[from..].iter().position(|b| !b.is_ascii()).map(|i| from + i) else {
                fold_ascii::<true>(&mut folded, text, from..bytes.len());
                break;
            };
            // The ASCII before the word the other character is in.
            let start = bytes[from..other]
                .iter()
                .rposition(|&b| is_cut(b))
                .map_or(from, |i| from + i + 1);
            fold_ascii::<true>(&mut folded, text, from..start);
            // Up to the first cut after it.
            let end = bytes[other..]
                .iter()
                .position(|&b| is_cut(b))
                .map_or(bytes.len(), |i| other + i + 1);
            fold_stretch(&mut folded, &mut kept, &mut tag_bytes, &text[start..end], start);
            from = end;
        }
    }
    if !folded.text.ends_with(' ') {
        let end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        folded.text.push(' ');
        folded.spans.push((end, end));
    }
    folded
}

/// Folds `text`, which starts `base` bytes into the whole text, onto
/// `folded`: invisible characters taken out, then word by word. `kept` is
/// scratch space; `tag_bytes` counts the tag characters decoded so far.
fn fold_stretch(folded: &mut Folded, kept: &mut Vec<Kept>, tag_bytes: &mut usize, text: &str, base: usize) {
    kept.clear();
    // Pass 1: take out what cannot be seen, and note where it was.
    let mut invisible_run: Option<Range<usize>> = None;
    let mut tag_run: Option<(Range<usize>, String)> = None;
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let Ok(end) = u32::try_from(base + at + c.len_utf8()) else {
            break;
        };
        let start = end - c.len_utf8() as u32;
        if is_tag(c) {
            let run = tag_run.get_or_insert_with(|| {
                // A flag emoji (a black flag, then tags) is not smuggling.
                let flag = previous == Some('\u{1F3F4}');
                (
                    at..at,
                    if flag {
                        "\u{1F3F4}".to_owned()
                    } else {
                        String::new()
                    },
                )
            });
            run.0.end = at + c.len_utf8();
            let ascii = c as u32 - 0xE0000;
            if (0x20..0x7F).contains(&ascii) && *tag_bytes < MAX_TAG_BYTES {
                run.1.push(char::from(ascii as u8));
                *tag_bytes += 1;
            }
            continue;
        }
        if let Some(run) = tag_run.take() {
            push_tags(&mut folded.tags, (run.0.start + base..run.0.end + base, run.1));
        }
        if is_zero_width(c) || is_bidi_control(c) {
            // A joiner between emoji, or a byte-order mark, is ordinary
            // text; one inside a word is not.
            let suspicious = is_bidi_control(c) || previous.is_some_and(char::is_alphanumeric);
            if suspicious {
                let run = invisible_run.get_or_insert(at..at);
                run.end = at + c.len_utf8();
            }
            continue;
        }
        if let Some(run) = invisible_run.take() {
            if c.is_alphanumeric() || is_bidi_control(text[run.clone()].chars().next().unwrap_or(' ')) {
                folded.invisible.push(run.start + base..run.end + base);
            }
        }
        kept.push(Kept { c, start, end });
        previous = Some(c);
    }
    if let Some(run) = tag_run.take() {
        push_tags(&mut folded.tags, (run.0.start + base..run.0.end + base, run.1));
    }
    if let Some(run) = invisible_run.take() {
        if is_bidi_control(text[run.clone()].chars().next().unwrap_or(' ')) {
            folded.invisible.push(run.start + base..run.end + base);
        }
    }

    // Pass 2: fold word by word.
    let mut i = 0;
    while i < kept.len() {
        let first = kept[i];
        if !first.c.is_alphanumeric() && !is_combining(first.c) {
            if matches!(
                first.c,
                '.' | '!' | '?' | ';' | '\u{3002}' | '\u{FF01}' | '\u{FF1F}' | '\u{FF1B}'
            ) {
                // The end of a sentence: no phrase runs across it.
                if !folded.text.ends_with(" | ") {
                    if !folded.text.ends_with(' ') {
                        push(folded, ' ', first);
                    }
                    push(folded, '|', first);
                    push(folded, ' ', first);
                }
            } else if !folded.text.ends_with(' ') {
                push(folded, ' ', first);
            }
            i += 1;
            continue;
        }
        let mut j = i;
        let (mut latin, mut lookalike) = (false, false);
        while j < kept.len() && (kept[j].c.is_alphanumeric() || is_combining(kept[j].c)) {
            let c = kept[j].c;
            if !c.is_ascii() {
                let script = c.script();
                lookalike |= is_lookalike_script(script);
                latin |= script == Script::Latin;
            } else if c.is_ascii_alphabetic() {
                latin = true;
            }
            j += 1;
        }
        let mixed = latin && lookalike;
        if mixed {
            folded
                .mixed_script
                .push(first.start as usize..kept[j - 1].end as usize);
        }
        for k in &kept[i..j] {
            fold_char(folded, *k, mixed);
        }
        i = j;
    }
}

/// Folds `range` of `text`, all ASCII, onto `folded`: there is nothing
/// invisible, no look-alike and no accent to fold, so a byte at a time;
/// the spans of the folded bytes too if `SPANS`.
fn fold_ascii<const SPANS: bool>(folded: &mut Folded, text: &str, range: Range<usize>) {
    if range.is_empty() {
        return;
    }
    let mut bytes = std::mem::take(&mut folded.text).into_bytes();
    let spans = &mut folded.spans;
    // Below `u32::MAX`: `fold` only comes here for shorter texts.
    let first = range.start as u32;
    for (at, &b) in (first..).zip(&text.as_bytes()[range]) {
        let span = (at, at + 1);
        if b.is_ascii_alphanumeric() {
            bytes.push(b.to_ascii_lowercase());
            if SPANS {
                spans.push(span);
            }
        } else if matches!(b, b'.' | b'!' | b'?' | b';') {
            // The end of a sentence: no phrase runs across it.
            if !bytes.ends_with(b" | ") {
                if bytes.last() != Some(&b' ') {
                    bytes.push(b' ');
                    if SPANS {
                        spans.push(span);
                    }
                }
                bytes.extend_from_slice(b"| ");
                if SPANS {
                    spans.extend_from_slice(&[span, span]);
                }
            }
        } else if bytes.last() != Some(&b' ') {
            bytes.push(b' ');
            if SPANS {
                spans.push(span);
            }
        }
    }
    folded.text = String::from_utf8(bytes).unwrap_or_else(|_| unreachable!("ASCII added to UTF-8"));
}

/// Keeps a run of tag characters that is not a flag emoji's.
fn push_tags(tags: &mut Vec<(Range<usize>, String)>, run: (Range<usize>, String)) {
    if let Some(flag) = run.1.strip_prefix('\u{1F3F4}') {
        // England, Scotland, Wales: a handful of letters and digits.
        if flag.len() <= 7 && flag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return;
        }
        tags.push((run.0, flag.to_owned()));
        return;
    }
    tags.push(run);
}

/// Pushes one character of a word, folded.
fn fold_char(folded: &mut Folded, k: Kept, mixed: bool) {
    let c = k.c;
    if c.is_ascii() {
        push(folded, c.to_ascii_lowercase(), k);
        return;
    }
    if is_combining(c) {
        return;
    }
    let script = c.script();
    // Latin letters with accents, full-width forms, mathematical letters:
    // their skeleton, accents dropped. Look-alikes inside a mixed word: the
    // Latin letter they pass for. Other scripts are kept as they are (a
    // Russian word is matched in Russian).
    let skeletal = mixed && is_lookalike_script(script) || matches!(script, Script::Latin | Script::Common);
    let mut buf = [0u8; 4];
    // A sign common to all scripts (a Japanese length mark) keeps its
    // place unless its skeleton is plain ASCII.
    let skeletal = skeletal
        && (script != Script::Common
            || unicode_security::skeleton(c.encode_utf8(&mut buf)).all(|s| s.is_ascii()));
    if skeletal {
        let mut any = false;
        for s in unicode_security::skeleton(c.encode_utf8(&mut buf)) {
            if is_combining(s) {
                continue;
            }
            any = true;
            for l in s.to_lowercase() {
                let l = if l.is_alphanumeric() { l } else { ' ' };
                if l != ' ' || !folded.text.ends_with(' ') {
                    push(folded, l, k);
                }
            }
        }
        if any {
            return;
        }
    }
    for l in c.to_lowercase() {
        push(folded, l, k);
    }
}

/// Appends `c`, each of its bytes mapped to `from`.
fn push(folded: &mut Folded, c: char, from: Kept) {
    folded.text.push(c);
    for _ in 0..c.len_utf8() {
        folded.spans.push((from.start, from.end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_punctuation_and_lookalikes() {
        let f = fold("Ignorá, las  INSTRUCCIONES!! Ya.");
        assert_eq!(f.text, " ignora las instrucciones | ya | ");
        // Cyrillic і, о, е inside a Latin word.
        let f = fold("\u{0456}gn\u{043E}r\u{0435} this");
        assert_eq!(f.text, " ignore this ");
        assert_eq!(f.mixed_script.len(), 1);
        assert_eq!(f.mixed_script[0], 0..9);
        // A Russian sentence stays Russian.
        let f = fold("Игнорируй это");
        assert_eq!(f.text, " игнорируй это ");
        assert!(f.mixed_script.is_empty());
    }

    #[test]
    fn maps_back_to_the_original_bytes() {
        let text = "¡Olvidá TODO!";
        let f = fold(text);
        let at = f.text.find("todo").unwrap();
        assert_eq!(&text[f.original(at..at + 4)], "TODO");
    }

    proptest::proptest! {
        /// An ASCII text folds to the same text without its spans, and the
        /// spans made when first asked for are the ones folding with them
        /// makes.
        #[test]
        fn ascii_texts_fold_the_same_with_spans_made_later(
            text in "[a-zA-Z0-9 .!?;,:'()\\n-]{0,80}",
        ) {
            let later = fold(&text);
            let now = fold_with_spans(&text);
            proptest::prop_assert_eq!(&later.text, &now.text);
            proptest::prop_assert!(later.spans.is_empty());
            for start in 0..=later.text.len() {
                for end in start..=later.text.len() {
                    proptest::prop_assert_eq!(later.original(start..end), now.original(start..end));
                }
            }
            let made = later.later.as_ref().and_then(|(_, spans)| spans.get());
            proptest::prop_assert_eq!(made, Some(&now.spans));
        }
    }

    #[test]
    fn takes_out_invisible_characters_and_decodes_tags() {
        let f = fold("ig\u{200B}nore");
        assert_eq!(f.text, " ignore ");
        assert_eq!(f.invisible.len(), 1);
        let tags: String = "hi there"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let text = format!("ok{tags}");
        let f = fold(&text);
        assert_eq!(f.tags[0].1, "hi there");
        // A flag emoji is not smuggling.
        let f = fold("\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}");
        assert!(f.tags.is_empty());
    }
}
