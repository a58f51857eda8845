//! A lexical guard against false hits of the semantic cache.
//!
//! Embeddings place "How do I enable X?" next to "How do I disable X?", and
//! "Python 3.11" next to "Python 3.12". Before a stored answer is served for
//! a similar prompt, [`Features::conflict`] compares what embeddings blur:
//!
//! - **Negation**: one prompt negates and the other does not (`not`, `no`,
//!   `never`, `without`, `cannot`, any `n't` contraction; German `nicht`,
//!   `kein…`, `nie`, `niemals`, `ohne`; French `ne`, `n'…`, `pas`, `jamais`,
//!   `sans`; Spanish `nunca`, `jamás`, `ningún`, `tampoco`; Italian `non`;
//!   Portuguese `não`; Dutch `niet`, `geen`, `nooit`), or each holds one side
//!   of an antonym pair the other does not (`enable`/`disable`,
//!   `install`/`uninstall`, `before`/`after`, `max`/`min`, `under`/`over`,
//!   ...), inflected forms included, or holds a word the other holds with
//!   a negating prefix (`safe`/`unsafe`, `suitable`/`unsuitable`); `avoid`
//!   counts as a negation.
//! - **Number**: the numeric tokens differ as multisets. A token is numeric
//!   when it holds an ASCII digit (`3`, `3.11`, `1,000`, `v2`, `gpt-4o`'s
//!   `4o`); a unit written after a number, joined or not (`100ms`,
//!   `100 ms`, `50%`), belongs to it. Number words are not numbers: "two"
//!   and "2" conflict, which costs a miss, never a wrong answer.
//! - **Quoted**: the texts in `"…"`, `` `…` ``, `“…”`, `'…'` and `‘…’`
//!   differ as multisets, compared exactly.
//! - **Entity**: the sets of names differ, compared case-sensitively. A name
//!   is a capitalised word not at a sentence's start (the pronoun `I`
//!   aside), an ALL-CAPS token, a CamelCase identifier, or a code-like token
//!   with `_`, `::`, `/`, or a `.` between letters; a possessive `'s` is
//!   dropped. A title-cased prompt therefore conflicts with its lower-case
//!   twin, again a miss rather than a wrong answer.
//!
//! - **Order**: the same words in another order, one of them a word of
//!   direction (`from`, `to`, `into`, `than`, `vs`, ...): "convert Word to
//!   PDF" against "convert PDF to Word".
//!
//! Otherwise word order and the case of ordinary words do not matter, so
//! paraphrases pass. The stored side's [`Features`] are computed once, at insert time;
//! each comparison is then a few slice comparisons, with no allocation.

use std::cmp::Ordering;

/// Why two similar prompts must not share an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// One negates, or takes the other side of an antonym pair.
    Negation,
    /// Their numbers differ.
    Number,
    /// Their quoted strings differ.
    Quoted,
    /// Their names (proper nouns, identifiers) differ.
    Entity,
    /// The same words in another order around a word of direction
    /// (`from`, `to`, `than`, ...): "from A to B" against "from B to A".
    Order,
}

impl Conflict {
    /// A short lower-case name, for metrics and logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Negation => "negation",
            Self::Number => "number",
            Self::Quoted => "quoted",
            Self::Entity => "entity",
            Self::Order => "order",
        }
    }
}

/// Why `asked` must not be answered with the answer stored for `stored`;
/// `None` when nothing lexical tells them apart.
#[cfg_attr(not(test), allow(dead_code))] // the tests' and the bench's entry
pub(crate) fn conflict(asked: &str, stored: &str) -> Option<Conflict> {
    Features::of(asked).conflict(&Features::of(stored))
}

/// A byte range of [`Features::text`].
type Span = (usize, usize);

/// What the guard compares, taken from one prompt in a single pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Features {
    text: Box<str>,
    negated: bool,
    /// Two bits per pair of [`ANTONYMS`]: the first side seen, the second side seen.
    polarity: u128,
    /// Every word, lower-cased, in order (for the prefix and order checks).
    words: Vec<Box<str>>,
    /// Number and unit (empty when none), sorted.
    numbers: Vec<(Span, Span)>,
    /// Sorted.
    quoted: Vec<Span>,
    /// Sorted, without repeats.
    entities: Vec<Span>,
}

impl Features {
    /// The features of `text`.
    pub(crate) fn of(text: &str) -> Self {
        let mut features = Self {
            text: text.into(),
            negated: false,
            polarity: 0,
            words: Vec::new(),
            numbers: Vec::new(),
            quoted: Vec::new(),
            entities: Vec::new(),
        };
        features.scan_quotes(text);
        features.scan_words(text);
        features.numbers.sort_unstable_by(|a, b| cmp_number(text, *a, *b));
        features
            .quoted
            .sort_unstable_by(|a, b| slice(text, *a).cmp(slice(text, *b)));
        features
            .entities
            .sort_unstable_by(|a, b| slice(text, *a).cmp(slice(text, *b)));
        features
            .entities
            .dedup_by(|a, b| slice(text, *a) == slice(text, *b));
        features
    }

    /// Why a prompt with these features must not be answered with the
    /// answer stored for `other`; the same answer both ways round.
    pub(crate) fn conflict(&self, other: &Self) -> Option<Conflict> {
        if self.negated != other.negated
            || opposed(self.polarity, other.polarity)
            || prefix_negated(&self.words, &other.words)
        {
            return Some(Conflict::Negation);
        }
        let numbers_equal = self.numbers.len() == other.numbers.len()
            && self
                .numbers
                .iter()
                .zip(&other.numbers)
                .all(|(a, b)| cmp_two_numbers(&self.text, *a, &other.text, *b) == Ordering::Equal);
        if !numbers_equal {
            return Some(Conflict::Number);
        }
        if !same_texts(&self.text, &self.quoted, &other.text, &other.quoted) {
            return Some(Conflict::Quoted);
        }
        if !same_texts(&self.text, &self.entities, &other.text, &other.entities) {
            return Some(Conflict::Entity);
        }
        if reordered(&self.words, &other.words) {
            return Some(Conflict::Order);
        }
        None
    }

    fn scan_quotes(&mut self, text: &str) {
        let mut chars = text.char_indices().peekable();
        let mut previous: Option<char> = None;
        while let Some((at, c)) = chars.next() {
            let close = match c {
                '"' | '`' => Some(c),
                '“' => Some('”'),
                // An apostrophe opens a quote only at a word's start.
                '\'' | '‘' if previous.is_none_or(|p| p.is_whitespace() || "([{".contains(p)) => {
                    Some(if c == '\'' { '\'' } else { '’' })
                }
                _ => None,
            };
            previous = Some(c);
            let Some(close) = close else { continue };
            let start = at + c.len_utf8();
            let rest = &text[start..];
            let end = if matches!(close, '\'' | '’') {
                // ... and is closed by one that ends a word ("it's" does not).
                rest.char_indices()
                    .find(|&(i, q)| {
                        q == close
                            && rest[i + q.len_utf8()..]
                                .chars()
                                .next()
                                .is_none_or(|n| !n.is_alphanumeric())
                    })
                    .map(|(i, _)| i)
            } else {
                rest.find(close)
            };
            let Some(end) = end else { continue };
            if end > 0 {
                self.quoted.push((start, start + end));
            }
            // Skip past the closing mark.
            while chars
                .peek()
                .is_some_and(|&(i, _)| i < start + end + close.len_utf8())
            {
                chars.next();
            }
            previous = Some(close);
        }
    }

    fn scan_words(&mut self, text: &str) {
        let mut sentence_start = true;
        let mut pending_number: Option<Span> = None;
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            let Some(len) = rest
                .find(|c: char| !is_word_char(c))
                .or(Some(rest.len()))
                .filter(|&l| l > 0)
            else {
                let c = rest.chars().next().unwrap_or(' ');
                if matches!(c, '.' | '!' | '?' | '\n' | '¿' | '¡') {
                    sentence_start = true;
                }
                at += c.len_utf8();
                continue;
            };
            let raw = (at, at + len);
            at += len;
            let (start, end) = trim_word(text, raw);
            let ends_sentence = text[raw.0..raw.1].ends_with(['.', '!', '?']);
            if start == end {
                sentence_start |= ends_sentence;
                continue;
            }
            {
                let word = &text[start..end];
                if let Some(number) = pending_number.take() {
                    if is_unit(word) {
                        self.numbers.push((number, (start, end)));
                        sentence_start = ends_sentence;
                        continue;
                    }
                    self.numbers.push((number, (end, end)));
                }
                self.word(word, start, sentence_start, &mut pending_number);
                sentence_start = ends_sentence;
            }
        }
        if let Some(number) = pending_number {
            self.numbers.push((number, (number.1, number.1)));
        }
    }

    /// Classifies one trimmed word starting at byte `start`.
    fn word(&mut self, word: &str, start: usize, sentence_start: bool, pending_number: &mut Option<Span>) {
        let mut buf = [0u8; 32];
        if let Some(lower) = lowercase(word, &mut buf) {
            self.words.push(lower.into());
            if is_negation(lower) {
                self.negated = true;
            }
            if let Some(bit) = antonym_bit(lower) {
                self.polarity |= bit;
            }
        }
        if word.bytes().any(|b| b.is_ascii_digit()) {
            if word.as_bytes()[0].is_ascii_digit() {
                let digits = word
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                    .unwrap_or(word.len());
                let number = (start, start + digits);
                if digits == word.len() {
                    // A unit may follow as the next word.
                    *pending_number = Some(number);
                } else {
                    self.numbers.push((number, (start + digits, start + word.len())));
                }
            } else {
                self.numbers.push((
                    (start, start + word.len()),
                    (start + word.len(), start + word.len()),
                ));
            }
        }
        let name = strip_possessive(word);
        if is_entity(name, sentence_start) {
            self.entities.push((start, start + name.len()));
        }
    }
}

fn slice(text: &str, span: Span) -> &str {
    &text[span.0..span.1]
}

fn same_texts(a_text: &str, a: &[Span], b_text: &str, b: &[Span]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| slice(a_text, *x) == slice(b_text, *y))
}

/// Orders numbers ignoring thousands separators, and units ignoring ASCII case.
fn cmp_two_numbers(a_text: &str, a: (Span, Span), b_text: &str, b: (Span, Span)) -> Ordering {
    fn digits(t: &str, s: Span) -> impl Iterator<Item = char> + '_ {
        slice(t, s).chars().filter(|&c| c != ',')
    }
    fn unit(t: &str, s: Span) -> impl Iterator<Item = char> + '_ {
        slice(t, s).chars().map(|c| c.to_ascii_lowercase())
    }
    digits(a_text, a.0)
        .cmp(digits(b_text, b.0))
        .then_with(|| unit(a_text, a.1).cmp(unit(b_text, b.1)))
}

fn cmp_number(text: &str, a: (Span, Span), b: (Span, Span)) -> Ordering {
    cmp_two_numbers(text, a, text, b)
}

/// Letters, digits, and what joins them inside a token.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '.' | '/' | ':' | '\'' | '’' | '%' | '$' | '€' | '£' | '#' | '@' | '+' | ','
        )
}

/// Drops leading and trailing punctuation (keeping a leading currency sign).
fn trim_word(text: &str, (mut start, mut end): Span) -> Span {
    let word = &text[start..end];
    let trimmed_end = word.trim_end_matches(['.', ',', ':', '\'', '’', '#', '@', '+', '/']);
    end = start + trimmed_end.len();
    let trimmed = trimmed_end.trim_start_matches(['.', ',', ':', '\'', '’', '/', '+']);
    start = end - trimmed.len();
    (start, end)
}

fn strip_possessive(word: &str) -> &str {
    word.strip_suffix("'s")
        .or_else(|| word.strip_suffix("’s"))
        .unwrap_or(word)
}

/// `word` in lower case, in `buf`; `None` when longer than any listed word.
fn lowercase<'b>(word: &str, buf: &'b mut [u8; 32]) -> Option<&'b str> {
    let mut len = 0;
    for c in word.chars().flat_map(char::to_lowercase) {
        let n = c.len_utf8();
        if len + n > buf.len() {
            return None;
        }
        c.encode_utf8(&mut buf[len..]);
        len += n;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

fn is_negation(lower: &str) -> bool {
    matches!(
        lower,
        "not"
            | "no"
            | "never"
            | "avoid"
            | "without"
            | "cannot"
            | "nor"
            | "neither"
            | "nobody"
            | "nothing"
            | "nowhere"
            // German
            | "nicht"
            | "kein"
            | "keine"
            | "keinen"
            | "keinem"
            | "keiner"
            | "keines"
            | "nie"
            | "niemals"
            | "ohne"
            // French
            | "ne"
            | "pas"
            | "jamais"
            | "sans"
            | "aucun"
            | "aucune"
            // Spanish
            | "nunca"
            | "jamás"
            | "ningún"
            | "ninguno"
            | "ninguna"
            | "tampoco"
            // Italian, Portuguese, Dutch
            | "non"
            | "não"
            | "niet"
            | "geen"
            | "nooit"
    ) || lower.ends_with("n't")
        || lower.ends_with("n’t")
        || ((lower.starts_with("n'") || lower.starts_with("n’")) && lower.len() > 2)
}

/// Pairs of words that flip a question's meaning: first side, second side.
/// Each listed stem also matches its inflections (see [`inflects`]).
const ANTONYMS: &[(&[&str], &[&str])] = &[
    (&["enable"], &["disable"]),
    (
        &["allow", "permit"],
        &[
            "deny",
            "denies",
            "denied",
            "block",
            "forbid",
            "forbidden",
            "disallow",
        ],
    ),
    (&["add"], &["remove", "delete"]),
    (&["start"], &["stop"]),
    (&["increase"], &["decrease", "reduce"]),
    (&["install"], &["uninstall"]),
    (&["encrypt"], &["decrypt"]),
    (&["lock"], &["unlock"]),
    (&["show", "shown"], &["hide", "hidden", "hid"]),
    (&["before"], &["after"]),
    (
        &[
            "max", "maximum", "maximize", "maximise", "largest", "highest", "biggest",
        ],
        &["min", "minimum", "minimize", "minimise", "smallest", "lowest"],
    ),
    (&["more", "greater"], &["less", "fewer"]),
    (&["import"], &["export"]),
    (&["upload"], &["download"]),
    (&["connect"], &["disconnect"]),
    (&["mount"], &["unmount"]),
    (&["include"], &["exclude"]),
    (&["accept"], &["reject"]),
    (&["ascending", "asc"], &["descending", "desc"]),
    (&["compress", "zip"], &["decompress", "unzip"]),
    (
        &["encode", "serialize", "serialise"],
        &["decode", "deserialize", "deserialise"],
    ),
    (&["subscribe"], &["unsubscribe"]),
    (&["push"], &["pull"]),
    (&["read"], &["write", "written", "wrote"]),
    (&["open"], &["close"]),
    (&["true"], &["false"]),
    (&["first"], &["last"]),
    (&["above"], &["below"]),
    (&["inner"], &["outer"]),
    (&["public"], &["private"]),
    (&["synchronous", "sync"], &["asynchronous", "async"]),
    (&["under", "below"], &["over"]),
    (&["weekday"], &["weekend"]),
    (&["within", "inside"], &["outside"]),
    (&["full"], &["part"]),
    (&["safe"], &["unsafe", "dangerous"]),
];

/// Whether one prompt holds a word the other holds with a negating prefix
/// (`safe` and `unsafe`, `suitable` and `unsuitable`, `able` and
/// `disable`), neither holding both.
fn prefix_negated(a: &[Box<str>], b: &[Box<str>]) -> bool {
    const PREFIXES: [&str; 6] = ["un", "in", "im", "dis", "non", "ir"];
    let negates = |word: &str, base: &str| {
        base.len() >= 4 && PREFIXES.iter().any(|p| word.strip_prefix(p) == Some(base))
    };
    let only = |word: &str, other: &[Box<str>]| !other.iter().any(|w| &**w == word);
    a.iter()
        .any(|x| only(x, b) && b.iter().any(|y| only(y, a) && (negates(x, y) || negates(y, x))))
}

/// Words of direction or comparison, around which word order carries meaning.
const DIRECTED: [&str; 10] = [
    "from", "to", "into", "than", "vs", "versus", "over", "under", "onto", "before",
];

/// Whether the two prompts hold the same words in another order, one of
/// them a word of direction.
fn reordered(a: &[Box<str>], b: &[Box<str>]) -> bool {
    if a.len() != b.len() || a == b || !a.iter().any(|w| DIRECTED.contains(&&**w)) {
        return false;
    }
    let mut x: Vec<&str> = a.iter().map(|w| &**w).collect();
    let mut y: Vec<&str> = b.iter().map(|w| &**w).collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// The polarity bit of `lower`, when it is a side of an antonym pair.
fn antonym_bit(lower: &str) -> Option<u128> {
    ANTONYMS.iter().enumerate().find_map(|(pair, (first, second))| {
        if first.iter().any(|stem| inflects(lower, stem)) {
            Some(1 << (2 * pair))
        } else if second.iter().any(|stem| inflects(lower, stem)) {
            Some(1 << (2 * pair + 1))
        } else {
            None
        }
    })
}

/// Whether `word` is `stem` or a regular inflection of it: `-s`, `-es`,
/// `-d`, `-ed`, `-ing`, `-ion`, `-ions`, with a final `e` dropped
/// (`enabling`) or a final consonant doubled (`stopped`).
fn inflects(word: &str, stem: &str) -> bool {
    match word.strip_prefix(stem) {
        Some(rest) => {
            matches!(rest, "" | "s" | "es" | "d" | "ed" | "ing" | "ion" | "ions")
                || rest.len() > 1
                    && rest.as_bytes()[0] == *stem.as_bytes().last().unwrap_or(&0)
                    && matches!(&rest[1..], "ed" | "ing")
        }
        None => stem
            .strip_suffix('e')
            .and_then(|s| word.strip_prefix(s))
            .is_some_and(|rest| matches!(rest, "ing" | "ion" | "ions")),
    }
}

/// Whether the two prompts hold opposite sides of some antonym pair, each
/// holding only one side.
fn opposed(a: u128, b: u128) -> bool {
    const FIRST: u128 = 0x5555_5555_5555_5555_5555_5555_5555_5555;
    // Pairs where exactly one side is present, as a mask of both bits.
    let one_sided = |p: u128| {
        let x = (p ^ (p >> 1)) & FIRST;
        x | (x << 1)
    };
    let both = one_sided(a) & one_sided(b);
    (a ^ b) & both != 0
}

fn is_unit(word: &str) -> bool {
    let mut buf = [0u8; 32];
    lowercase(word, &mut buf).is_some_and(|lower| {
        matches!(
            lower,
            "%" | "ms"
                | "s"
                | "sec"
                | "secs"
                | "seconds"
                | "min"
                | "mins"
                | "minutes"
                | "h"
                | "hours"
                | "days"
                | "b"
                | "kb"
                | "mb"
                | "gb"
                | "tb"
                | "kib"
                | "mib"
                | "gib"
                | "px"
                | "em"
                | "rem"
                | "pt"
                | "mm"
                | "cm"
                | "m"
                | "km"
                | "g"
                | "kg"
                | "lb"
                | "lbs"
                | "hz"
                | "khz"
                | "mhz"
                | "ghz"
                | "k"
                | "x"
                | "usd"
                | "eur"
                | "gbp"
                | "tokens"
        )
    })
}

fn is_entity(word: &str, sentence_start: bool) -> bool {
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if word.contains(['_', '/']) || word.contains("::") {
        return true;
    }
    // A dot between letters: `os.path`, `config.yaml`, but not `e.g`.
    let dotted = word
        .as_bytes()
        .windows(3)
        .any(|w| w[1] == b'.' && w[0].is_ascii_alphabetic() && w[2].is_ascii_alphabetic())
        && word.split('.').any(|part| part.len() >= 2);
    if dotted {
        return true;
    }
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    if letters >= 2 && word.chars().all(|c| !c.is_alphabetic() || c.is_uppercase()) {
        return true;
    }
    // CamelCase: an upper-case letter after a lower-case one.
    let camel = word
        .chars()
        .zip(word.chars().skip(1))
        .any(|(a, b)| a.is_lowercase() && b.is_uppercase());
    if camel {
        return true;
    }
    first.is_uppercase()
        && !sentence_start
        && word != "I"
        && !word.starts_with("I'")
        && !word.starts_with("I’")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn assert_conflict(a: &str, b: &str, expected: Option<Conflict>) {
        assert_eq!(conflict(a, b), expected, "{a:?} against {b:?}");
        assert_eq!(conflict(b, a), expected, "{b:?} against {a:?}");
    }

    #[test]
    fn paraphrases_do_not_conflict() {
        for (a, b) in [
            ("How do I enable dark mode?", "How can I turn on dark mode?"),
            ("What is the capital of France?", "what's France's capital city"),
            ("How do tides work", "how do tides work?"),
            ("Sort it, e.g. by date", "sort it, for example by date"),
            ("sort a list in place", "in place, sort a list"),
            (
                "Explain recursion. Give an example.",
                "explain recursion, give an example",
            ),
            ("Why is the sky blue?", "why is the sky blue"),
            (
                "I'm stuck: how do I center a div",
                "How do I center a div? I am stuck",
            ),
            ("Don't use unwrap in Rust", "Never use unwrap in Rust"),
            (
                "Install Python 3.11 on Ubuntu",
                "on Ubuntu, how to install Python 3.11",
            ),
            ("What's 100 ms in seconds?", "what is 100ms in seconds"),
            ("Compare 1,000 and 2", "compare 1000 and 2"),
        ] {
            assert_conflict(a, b, None);
        }
    }

    #[test]
    fn direction_and_prefixed_negation_conflict() {
        assert_eq!(
            conflict(
                "Move money from savings to my current account",
                "Move money from my current account to savings"
            ),
            Some(Conflict::Order)
        );
        assert_eq!(
            conflict("Is it safe to mix these?", "Is it unsafe to mix these?"),
            Some(Conflict::Negation)
        );
        assert_eq!(
            conflict(
                "Is the form suitable for minors?",
                "Is the form unsuitable for minors?"
            ),
            Some(Conflict::Negation)
        );
        assert_eq!(
            conflict("Which foods should I eat?", "Which foods should I avoid?"),
            Some(Conflict::Negation)
        );
        // Reordered without a word of direction: a paraphrase.
        assert_eq!(
            conflict("quickly reset my password", "reset my password quickly"),
            None
        );
    }

    #[test]
    fn negation_conflicts() {
        for (a, b) in [
            ("Why does my build work?", "Why doesn't my build work?"),
            ("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?"),
            ("Can I use async in traits", "I can't use async in traits"),
            ("Start a server with TLS", "Start a server without TLS"),
            ("How do I enable dark mode?", "How do I disable dark mode?"),
            ("How to allow port 22 in ufw", "How to block port 22 in ufw"),
            ("add a column to a table", "remove a column from a table"),
            ("How do I install numpy", "how do i uninstall numpy"),
            ("encrypting a file with gpg", "decrypting a file with gpg"),
            ("show the toolbar", "hide the toolbar"),
            ("events before the war", "events after the war"),
            ("find the maximum of an array", "find the min of an array"),
            ("export contacts", "import contacts"),
            ("stopping a container", "starting a container"),
            (
                "Wie kann ich das Paket installieren",
                "Wie kann ich das Paket nicht installieren",
            ),
            (
                "Comment activer le mode sombre",
                "Comment ne pas activer le mode sombre",
            ),
            ("Ça marche", "Ça n'est jamais marché"),
            ("¿Puedo usar Rust?", "¿No puedo usar Rust?"),
        ] {
            assert_conflict(a, b, Some(Conflict::Negation));
        }
    }

    #[test]
    fn numbers_conflict() {
        for (a, b) in [
            ("What is new in Python 3.11?", "What is new in Python 3.12?"),
            ("set a 100ms timeout", "set a 100s timeout"),
            ("set a 100 ms timeout", "set a 100 s timeout"),
            ("convert 5 km to miles", "convert 7 km to miles"),
            ("top 10 movies", "top movies"),
            ("two plus two", "2 plus 2"),
            ("2 + 2", "2 + 2 + 2"),
            ("price of 50% off", "price of 40% off"),
        ] {
            assert_conflict(a, b, Some(Conflict::Number));
        }
    }

    #[test]
    fn quoted_strings_conflict() {
        for (a, b) in [
            (r#"how do I grep for "foo bar""#, r#"how do I grep for "baz qux""#),
            ("what does `unwrap` do", "what does `expect` do"),
            (
                "translate 'good morning' to french",
                "translate 'good night' to french",
            ),
            (
                "translate “good morning” to french",
                "translate “good night” to french",
            ),
            ("what does 'hello' mean", "what does hello mean"),
        ] {
            assert_conflict(a, b, Some(Conflict::Quoted));
        }
        // An apostrophe inside a word opens no quote.
        assert_conflict("it's John's car", "it's John's car", None);
    }

    #[test]
    fn entities_conflict() {
        for (a, b) in [
            (
                "What is the capital of France?",
                "What is the capital of Germany?",
            ),
            ("how to parse JSON", "how to parse YAML"),
            ("what does HashMap do", "what does BTreeMap do"),
            ("what does os.path.join do", "what does os.path.split do"),
            ("explain std::mem::swap", "explain std::mem::take"),
            ("how to use my_function", "how to use my_other_fn"),
            ("open src/main.rs", "open src/lib.rs"),
            ("best restaurants in Paris", "best restaurants in paris"),
        ] {
            assert_conflict(a, b, Some(Conflict::Entity));
        }
    }

    #[test]
    fn the_first_conflict_in_order_is_reported() {
        assert_eq!(
            conflict("Don't install Python 3.11", "Install Python 3.12"),
            Some(Conflict::Negation)
        );
        assert_eq!(
            conflict("Install Python 3.11", "Install Ruby 3.12"),
            Some(Conflict::Number)
        );
        assert_eq!(Conflict::Quoted.name(), "quoted");
    }

    #[test]
    fn features_kept_from_insert_compare_like_the_free_function() {
        let stored = Features::of("How do I enable dark mode in VS Code?");
        assert_eq!(
            Features::of("how can I turn on dark mode in VS Code").conflict(&stored),
            None
        );
        assert_eq!(
            Features::of("How do I disable dark mode in VS Code?").conflict(&stored),
            Some(Conflict::Negation)
        );
        assert_eq!(
            Features::of("How do I enable dark mode in Vim?").conflict(&stored),
            Some(Conflict::Entity)
        );
    }

    const WORDS: &[&str] = &[
        "how",
        "do",
        "I",
        "not",
        "enable",
        "disable",
        "Paris",
        "3.11",
        "100",
        "ms",
        "\"quoted\"",
        "'x'",
        "don't",
        "HashMap",
        "os.path",
        "The",
        ".",
        "?",
        "nicht",
        "it's",
        "`code`",
        "“a”",
        "‘b’",
        "50%",
        "1,000",
    ];

    proptest! {
        #[test]
        fn a_prompt_never_conflicts_with_itself(text in "\\PC{0,80}") {
            prop_assert_eq!(conflict(&text, &text), None);
        }

        #[test]
        fn conflict_is_symmetric(a in "\\PC{0,60}", b in "\\PC{0,60}") {
            prop_assert_eq!(conflict(&a, &b), conflict(&b, &a));
        }

        #[test]
        fn conflict_is_symmetric_on_prompt_like_text(
            a in proptest::collection::vec(proptest::sample::select(WORDS), 0..12),
            b in proptest::collection::vec(proptest::sample::select(WORDS), 0..12),
        ) {
            let (a, b) = (a.join(" "), b.join(" "));
            prop_assert_eq!(conflict(&a, &a), None);
            prop_assert_eq!(conflict(&a, &b), conflict(&b, &a));
        }
    }
}
