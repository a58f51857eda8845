//! Finds personal data and secrets in text: the detection engine of the
//! guardrails.
//!
//! A [`Detector`] is built once and shared (cloning it is a reference
//! count); [`find`](Detector::find) answers the [`Finding`]s in a text,
//! sorted, never overlapping, each a byte range on character boundaries
//! with its [`EntityKind`]:
//!
//! ```
//! use tower_ai::guardrail::detect::{Confidence, Detector, EntityKind};
//!
//! let detector = Detector::builder()
//!     .pattern("EMPLOYEE_ID", r"EMP-\d{6}")?
//!     .deny_list("PROJECT", ["Bluebird"])?
//!     .build()?;
//!
//! let text = "Почта: ivan@example.ru, card 4111 1111 1111 1111, EMP-123456 on project bluebird.";
//! let found: Vec<_> = detector
//!     .find(text)
//!     .into_iter()
//!     .map(|f| (f.kind.as_str().to_owned(), &text[f.range]))
//!     .collect();
//! assert_eq!(
//!     found,
//!     [
//!         ("EMAIL".to_owned(), "ivan@example.ru"),
//!         ("CARD".to_owned(), "4111 1111 1111 1111"),
//!         ("EMPLOYEE_ID".to_owned(), "EMP-123456"),
//!         ("PROJECT".to_owned(), "bluebird"),
//!     ]
//! );
//!
//! // A card number whose checksum fails is not one.
//! assert!(detector.find("card 4111 1111 1111 1112").is_empty());
//! # let _ = (Confidence::Validated, EntityKind::Card);
//! # Ok::<(), tower_ai::Error>(())
//! ```
//!
//! # How a text is read
//!
//! A search for digits, 32 bytes at a time, first notes whether the text
//! has one at all. Then:
//!
//! - the secret patterns led by a literal of three bytes or more (`sk-`,
//!   `AKIA`, `ghp_`, `eyJ`, `-----BEGIN`, ...) are read together by one set,
//!   whose prefilter skips the text to any of their literals at once; only
//!   the patterns the set says match then locate their matches;
//! - the other patterns that start with, or hold, a literal (`@`, `+`,
//!   `:`, `://`, `aws`) run one by one, each only when the text holds its
//!   byte (a one-byte search is cheaper than starting a regex search): the
//!   regex crate then skips the text to the literal with a vectorised
//!   search;
//! - the patterns that need a digit (cards, IBANs, SSNs, IPv4, phone
//!   numbers without `+`, dates of birth) run only on a text with digits.
//!   Those whose matches have a bounded length (all but the two led by
//!   context words, which may be followed by any run of white space) read
//!   only the windows of the text within their longest match of a digit:
//!   every match holds a digit, so none lies outside them. In each window
//!   one lazy DFA over all of them (`regex-automata`'s, overlapping, every
//!   match kept) reports where each pattern's matches end, and each
//!   pattern that matches there then reads only the stretch from its first
//!   end less its longest match to its last end (ends further apart than a
//!   match is long make separate stretches). Prose between numbers is not
//!   read by them at all, and a pattern reads only around its own matches;
//! - the two patterns led by context words (phone numbers after `call`,
//!   dates of birth) run on their own, skipping to their words, from the
//!   text's start up to the end of its last window: their matches end
//!   with a digit, so none lies after it;
//! - custom patterns run one by one, or from four on through a set of
//!   their own.
//!
//! Each candidate then passes its check: the Luhn checksum for cards,
//! mod-97 and the registry length for IBANs, the never-issued ranges for US
//! SSNs, the standard library's parsers for IP addresses, the header of a
//! JWT, day and month ranges for dates. Deny lists are one Aho–Corasick
//! automaton over an ASCII-lower-cased copy of the text (case-insensitive
//! words would get no prefilter); the high-entropy scan is one loop over
//! the bytes, which skips prose a window at a time.
//!
//! Why not one set for everything: a set has no literal to skip to when
//! its patterns have many first bytes, so it runs its automaton over every
//! byte, which is what the literal-led patterns avoid, and a text with no
//! digit skips the digit-led ones outright. Why windows: reading a 2 KB
//! prompt with five entities, the set over the whole text and the one
//! digit-led pattern without a literal (North American phone numbers) that
//! then read it again were most of the detector's time; the windows around
//! the digits are a few hundred bytes, and the stretches around each
//! pattern's matches a few dozen. `cargo bench --bench guard_detect`
//! compares, for all the built-in patterns without gates or checks, each
//! regex on its own, a set read followed by the matched regexes, and one
//! regex of named alternatives (its captures say which pattern matched).
//!
//! The regex crate runs in linear time in the text for any pattern, custom
//! ones included: there is no backtracking to exploit. Compiled patterns are
//! bounded ([`MAX_PATTERN_BYTES`] each, custom patterns included), and a
//! pattern too large is a [`Config`](crate::Error::Config) error at build
//! time.
//!
//! # Overlaps
//!
//! When findings overlap, one is kept, by these rules in order: anything
//! beats [`HIGH_ENTROPY`](EntityKind::HighEntropy) (it is the fallback for
//! what nothing else named); the longer span wins (a connection string over
//! the IP address inside it); the higher [`Confidence`] wins (a card over
//! a phone number on the same digits); the more specific kind wins (an
//! Anthropic key over the OpenAI `sk-` pattern that also matches it). The
//! result is the same for the same text and configuration, always.
//!
//! # Phone numbers
//!
//! Phone numbers are found by a documented set of patterns, not by the
//! `phonenumber` crate (libphonenumber's metadata). That crate is
//! maintained (its metadata follows libphonenumber 9.0), but it weighs
//! 2.2 MB compressed, parses its XML metadata in a build script, depends on
//! `nom`, `quick-xml`, `postcard`, `regex-cache`, `strum`, `either` and
//! `fnv` beyond what this crate has, and checks a number against per-region
//! regexes compiled on first use: too much for a pass meant to stay under
//! tens of microseconds per prompt. The patterns:
//!
//! - international: `+` and a country code, then digit groups split by
//!   spaces, dots, dashes or one parenthesised group, 8 to 15 digits in all
//!   (E.164): `+81 3-1234-5678`, `+1 (555) 234-5678`, `+49 30 1234567`;
//!   or the same after the `00` call prefix, in at least two groups:
//!   `0049 30 1234567`, `001-555-234-5678`;
//! - North American: `(555) 234-5678`, `555-234-5678`, `555.234.5678`,
//!   `1-800-555-0199`;
//! - national with a trunk `0`, at least one separator, 9 to 12 digits, the
//!   area code maybe in parentheses: `030 1234 5678`, `06 12 34 56 78`,
//!   `020 7946 0958`, `0171/2345678`, `(0161) 496 0473`;
//! - one run of 9 to 12 digits next to a word that names it: after `call`,
//!   `phone`, `tel`, `telephone`, `mobile`, `cell`, `fax`, `SMS` or
//!   `WhatsApp` (within 16 characters on the same line, or at the start of
//!   the next), or right before `phone`, `tel`, `mobile`, `cell` or `fax`:
//!   `call me at 5552345678`, `Mobile: 0612345678`, `0612345678 (fax)`.
//!   These are [`Heuristic`](Confidence::Heuristic).
//!
//! An extension right after a number (`x123`, `ext. 123`) is part of it.
//! Numbers written without any separator, without `+` and without such a
//! word (`order 5552345678`) are not reported: too many order numbers look
//! the same.
//!
//! # High entropy
//!
//! A token (a run of `[A-Za-z0-9+/_-]` and its `=` padding) of at least
//! [`min_len`](DetectorBuilder::entropy_min_len) bytes (24 by default) is
//! reported when its Shannon entropy reaches
//! [`bits_per_char`](DetectorBuilder::entropy_threshold) (4.0 by default)
//! and it holds letters and digits. Random base64 of 24 characters averages
//! 4.2 bits per character; English words and identifiers stay under 4.0
//! (`state-of-the-art-transformer-model-2024` is 3.7). Hex strings top out
//! at 4.0 and in practice sit near 3.7, so hex digests (commit hashes) are
//! not reported, and neither are hex-only keys. UUIDs are skipped
//! outright: in prompts they are request and record ids far more often
//! than credentials.
//!
//! # What is not detected
//!
//! Names, postal addresses and other entities that need a language model;
//! national ids other than the US SSN; card numbers split other than by
//! single spaces or dashes, and card numbers under 13 digits (some old
//! Maestro numbers have 12); phone numbers without separators and without a
//! word that names them; dates of birth without one of the context words
//! before them; secrets of vendors not
//! listed in [`EntityKind`] unless their entropy gives them away.
//!
//! # False positives
//!
//! Version strings such as `1.2.3.4` are IP addresses. One digit string in
//! ten of 13 to 19 digits passes the Luhn checksum, so long reference
//! numbers written in groups can be cards ([`require_card_prefix`]
//! narrows them to the networks' prefixes). National phone numbers are any
//! `0` and 9 to 12 digits in groups, which some postal codes followed by a
//! number match. A 9- to 12-digit reference within 16 characters after
//! `call` or `phone` is a phone number (`phone order 123456789`). `sk-` and 20 token characters is an OpenAI key whatever
//! follows. A 40-character base64 run within 48 characters after `aws` or
//! `secret` is an AWS secret key. Long identifiers mixing letters and
//! digits can reach the entropy threshold. Deny-list words fold ASCII case
//! only.
//!
//! [`require_card_prefix`]: DetectorBuilder::require_card_prefix

mod pii;
mod secrets;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use regex_automata::meta::Regex as MetaRegex;
use regex_automata::Input;

use super::lazy_set::LazySet;
use crate::error::{Error, Result};

pub(crate) use self::secrets::token_byte;
use self::secrets::Entropy;
use self::validate::Check;

/// The largest compiled size of one pattern, in bytes (the regex crate's
/// `size_limit`); a larger custom pattern is a configuration error.
pub const MAX_PATTERN_BYTES: usize = 2 << 20;

/// From how many custom patterns on they share a [`RegexSet`] read.
const CUSTOM_SET_FROM: usize = 4;

/// From how many digit-gated built-in patterns of bounded length on they
/// share a set read of each window around digits (eight when all are on).
const DIGIT_SET_FROM: usize = 3;

/// The largest compiled size of the set of custom patterns, and of its lazy
/// automaton's cache.
const MAX_SET_BYTES: usize = 32 << 20;

/// What a [`Finding`] is.
///
/// [`as_str`](Self::as_str) is a stable upper-case name, used in
/// placeholders such as `<EMAIL_1>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EntityKind {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number (Luhn-checked).
    Card,
    /// An IBAN (mod-97 and length checked).
    Iban,
    /// A US Social Security number.
    Ssn,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A date given as someone's date of birth.
    DateOfBirth,
    /// An OpenAI API key.
    OpenAiKey,
    /// An Anthropic API key.
    AnthropicKey,
    /// An AWS access key id.
    AwsAccessKey,
    /// An AWS secret access key.
    AwsSecretKey,
    /// A GitHub token.
    GithubToken,
    /// A GitLab personal access token.
    GitlabToken,
    /// A Slack token.
    SlackToken,
    /// A Google API key.
    GoogleApiKey,
    /// A Stripe secret or restricted key.
    StripeKey,
    /// A PEM private key block.
    PrivateKey,
    /// A JSON Web Token.
    Jwt,
    /// A URL or connection string with a password in it.
    ConnectionString,
    /// A token random enough to be a secret.
    HighEntropy,
    /// A match of a pattern given to [`DetectorBuilder::pattern`], by its name.
    Custom(Arc<str>),
    /// A word of a list given to [`DetectorBuilder::deny_list`], by the list's name.
    DenyListed(Arc<str>),
}

/// Every built-in kind, in declaration order.
static BUILT_IN: [EntityKind; 20] = [
    EntityKind::Email,
    EntityKind::Phone,
    EntityKind::Card,
    EntityKind::Iban,
    EntityKind::Ssn,
    EntityKind::IpAddress,
    EntityKind::DateOfBirth,
    EntityKind::OpenAiKey,
    EntityKind::AnthropicKey,
    EntityKind::AwsAccessKey,
    EntityKind::AwsSecretKey,
    EntityKind::GithubToken,
    EntityKind::GitlabToken,
    EntityKind::SlackToken,
    EntityKind::GoogleApiKey,
    EntityKind::StripeKey,
    EntityKind::PrivateKey,
    EntityKind::Jwt,
    EntityKind::ConnectionString,
    EntityKind::HighEntropy,
];

impl EntityKind {
    /// Every built-in kind (all but [`Custom`](Self::Custom) and
    /// [`DenyListed`](Self::DenyListed)).
    pub fn built_in() -> &'static [EntityKind] {
        &BUILT_IN
    }

    /// The stable name: `EMAIL`, `PHONE`, `CARD`, `IBAN`, `SSN`,
    /// `IP_ADDRESS`, `DATE_OF_BIRTH`, `OPENAI_KEY`, `ANTHROPIC_KEY`,
    /// `AWS_ACCESS_KEY`, `AWS_SECRET_KEY`, `GITHUB_TOKEN`, `GITLAB_TOKEN`,
    /// `SLACK_TOKEN`, `GOOGLE_API_KEY`, `STRIPE_KEY`, `PRIVATE_KEY`, `JWT`,
    /// `CONNECTION_STRING`, `HIGH_ENTROPY`; a custom pattern's or deny
    /// list's own name.
    pub fn as_str(&self) -> &str {
        match self {
            EntityKind::Email => "EMAIL",
            EntityKind::Phone => "PHONE",
            EntityKind::Card => "CARD",
            EntityKind::Iban => "IBAN",
            EntityKind::Ssn => "SSN",
            EntityKind::IpAddress => "IP_ADDRESS",
            EntityKind::DateOfBirth => "DATE_OF_BIRTH",
            EntityKind::OpenAiKey => "OPENAI_KEY",
            EntityKind::AnthropicKey => "ANTHROPIC_KEY",
            EntityKind::AwsAccessKey => "AWS_ACCESS_KEY",
            EntityKind::AwsSecretKey => "AWS_SECRET_KEY",
            EntityKind::GithubToken => "GITHUB_TOKEN",
            EntityKind::GitlabToken => "GITLAB_TOKEN",
            EntityKind::SlackToken => "SLACK_TOKEN",
            EntityKind::GoogleApiKey => "GOOGLE_API_KEY",
            EntityKind::StripeKey => "STRIPE_KEY",
            EntityKind::PrivateKey => "PRIVATE_KEY",
            EntityKind::Jwt => "JWT",
            EntityKind::ConnectionString => "CONNECTION_STRING",
            EntityKind::HighEntropy => "HIGH_ENTROPY",
            EntityKind::Custom(name) | EntityKind::DenyListed(name) => name,
        }
    }

    /// Whether this is a credential rather than personal data:
    /// the vendor keys, private keys, JWTs, connection strings and
    /// high-entropy tokens.
    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            EntityKind::OpenAiKey
                | EntityKind::AnthropicKey
                | EntityKind::AwsAccessKey
                | EntityKind::AwsSecretKey
                | EntityKind::GithubToken
                | EntityKind::GitlabToken
                | EntityKind::SlackToken
                | EntityKind::GoogleApiKey
                | EntityKind::StripeKey
                | EntityKind::PrivateKey
                | EntityKind::Jwt
                | EntityKind::ConnectionString
                | EntityKind::HighEntropy
        )
    }

    /// How specific the kind is, for overlaps: lower wins.
    fn specificity(&self) -> u8 {
        match self {
            EntityKind::PrivateKey => 0,
            EntityKind::AnthropicKey => 1,
            EntityKind::OpenAiKey
            | EntityKind::AwsAccessKey
            | EntityKind::GithubToken
            | EntityKind::GitlabToken
            | EntityKind::SlackToken
            | EntityKind::GoogleApiKey
            | EntityKind::StripeKey => 2,
            EntityKind::Jwt => 3,
            EntityKind::ConnectionString => 4,
            EntityKind::Custom(_) => 5,
            EntityKind::DenyListed(_) => 6,
            EntityKind::Card | EntityKind::Iban | EntityKind::Ssn => 7,
            EntityKind::Email => 8,
            EntityKind::IpAddress => 9,
            EntityKind::DateOfBirth => 10,
            EntityKind::Phone => 11,
            EntityKind::AwsSecretKey => 12,
            EntityKind::HighEntropy => 13,
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure a [`Finding`] is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Confidence {
    /// Found by a heuristic: entropy, a secret-shaped value near a word
    /// such as `aws` or `secret`, or a run of digits near a word such as
    /// `phone`.
    Heuristic,
    /// The text has the entity's format (a vendor's key prefix, an address,
    /// a phone number, a date after "born", a custom pattern, a deny-listed
    /// word).
    Pattern,
    /// The format and a check on the value: a checksum (cards, IBANs), an
    /// issued range (SSNs), a parser (IP addresses), a decoded header (JWTs).
    Validated,
}

/// One entity found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Finding {
    /// What it is.
    pub kind: EntityKind,
    /// Where it is: byte offsets into the text, on character boundaries.
    pub range: Range<usize>,
    /// How sure the detector is.
    pub confidence: Confidence,
}

impl Finding {
    /// A finding of `kind` at `range`.
    pub fn new(kind: EntityKind, range: Range<usize>, confidence: Confidence) -> Self {
        Self {
            kind,
            range,
            confidence,
        }
    }

    /// The found text, out of the text it was found in (empty if `text` is
    /// not that text and the range does not fit it).
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.range.clone()).unwrap_or("")
    }
}

/// One pattern's source, kind and check, before compilation.
#[derive(Debug)]
struct Spec {
    kind: EntityKind,
    source: &'static str,
    check: Check,
    gate: Gate,
    /// Whether every match starts with one of a few literals of three
    /// bytes or more (`sk-`, `AKIA`, `eyJ`).
    prefixed: bool,
}

impl Spec {
    const fn new(kind: EntityKind, source: &'static str, check: Check) -> Self {
        Self {
            kind,
            source,
            check,
            gate: Gate::Always,
            prefixed: false,
        }
    }

    /// Marks a pattern whose every match starts with a literal of three
    /// bytes or more: such patterns share one set, whose scan for all
    /// their literals at once is as fast as each one's own.
    const fn prefixed(mut self) -> Self {
        self.prefixed = true;
        self
    }

    /// Runs the pattern only on texts that pass `gate`.
    const fn gated(mut self, gate: Gate) -> Self {
        self.gate = gate;
        self
    }
}

/// What a text must hold for a pattern to be worth running: a cheaper
/// test than the pattern's own literal search where that one is slow (the
/// IBAN country codes, the date-of-birth words) or where the text is read
/// anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Always,
    /// An ASCII digit.
    Digit,
    /// Two upper-case ASCII letters and two digits: an IBAN's start.
    IbanStart,
    /// This byte, which every match holds. A search for one byte is far
    /// cheaper than starting a regex search, which on a short text (a
    /// reply's few words) costs more than reading the text.
    Byte(u8),
}

/// What the gates ask of a text, read once.
#[derive(Debug, Clone, Copy)]
struct Profile {
    digit: bool,
}

impl Profile {
    fn of(text: &str) -> Self {
        Profile {
            digit: find_digit(text.as_bytes()).is_some(),
        }
    }

    /// Whether `text` (the one this profile is of) passes `gate`; the
    /// rarer tests are made only when asked.
    fn passes(self, gate: Gate, text: &str) -> bool {
        match gate {
            Gate::Always => true,
            Gate::Digit => self.digit,
            Gate::IbanStart => self.digit && iban_start(text.as_bytes()),
            Gate::Byte(byte) => memchr::memchr(byte, text.as_bytes()).is_some(),
        }
    }
}

/// Whether `bytes` hold two upper-case ASCII letters and two digits.
fn iban_start(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(offset) = find_digit(&bytes[from..]) {
        let i = from + offset;
        if i >= 2
            && bytes[i - 1].is_ascii_uppercase()
            && bytes[i - 2].is_ascii_uppercase()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            return true;
        }
        from = i + 1;
    }
    false
}

/// A compiled pattern.
#[derive(Debug)]
struct Pattern {
    kind: EntityKind,
    regex: Regex,
    /// Whether only the group named `value` is reported.
    value_group: bool,
    check: Check,
    gate: Gate,
}

/// The deny lists: one automaton, and the list each of its words came from.
#[derive(Debug)]
struct DenyLists {
    automaton: AhoCorasick,
    list_of_word: Vec<usize>,
    kinds: Vec<EntityKind>,
}

#[derive(Debug)]
struct Inner {
    /// The built-in patterns led by literals of three bytes or more, read
    /// by one set, then each only when the set says it matches.
    prefixed: Group,
    /// The other built-in patterns with a literal to skip to (or hold: the
    /// `@` of an address), each run on its own.
    literal: Group,
    /// The built-in digit-gated patterns, read only near the text's
    /// digits, or up to its last one.
    near_digits: NearDigits,
    /// The custom patterns, read by one set when there are several.
    custom: Group,
    deny: Option<DenyLists>,
    entropy: Option<Entropy>,
    require_card_prefix: bool,
}

/// Patterns run together: one by one, or, with a set, only those the set's
/// one read of the text says match.
#[derive(Debug)]
struct Group {
    set: Option<RegexSet>,
    patterns: Vec<Pattern>,
}

impl Group {
    /// A group read by a set when it has at least `set_from` patterns.
    fn new(patterns: Vec<Pattern>, set_from: usize) -> Result<Self> {
        let set = if patterns.is_empty() || patterns.len() < set_from {
            None
        } else {
            let set = RegexSetBuilder::new(patterns.iter().map(|p| p.regex.as_str()))
                .size_limit(MAX_SET_BYTES)
                .dfa_size_limit(MAX_SET_BYTES)
                .build()
                .map_err(|e| Error::config_with("the guardrail patterns together are too large", e))?;
            Some(set)
        };
        Ok(Self { set, patterns })
    }

    fn find(&self, text: &str, profile: Profile, require_card_prefix: bool, findings: &mut Vec<Finding>) {
        let mut run = |pattern: &Pattern| {
            if profile.passes(pattern.gate, text) {
                pattern.find(text, require_card_prefix, findings);
            }
        };
        match &self.set {
            Some(set) => set.matches(text).iter().for_each(|i| run(&self.patterns[i])),
            None => self.patterns.iter().for_each(run),
        }
    }
}

/// A digit-gated pattern, compiled to be
/// searched within a span of the text.
#[derive(Debug, Clone)]
struct BoundedPattern {
    kind: EntityKind,
    source: &'static str,
    regex: MetaRegex,
    /// The longest match, in bytes (`usize::MAX` for the patterns of
    /// unbounded length).
    max_len: usize,
    /// The index of the group named `value`, when only it is reported.
    value_group: Option<usize>,
    check: Check,
    gate: Gate,
}

/// The digit-gated patterns. Every match holds an ASCII digit (that is
/// what the gate promises), so every match of a pattern of bounded length
/// lies within `reach` bytes of a digit: the text is read only in the
/// windows around its digits, each window once by a set that reports
/// where each pattern's matches end, then by each pattern that matches
/// there, only over the stretch its matches can span.
#[derive(Debug)]
struct NearDigits {
    /// Read with every pattern at once, `None` when there are too few
    /// patterns for a set to pay.
    set: Option<LazySet>,
    patterns: Vec<BoundedPattern>,
    /// The longest match of any of the patterns, in bytes.
    reach: usize,
    /// The patterns of unbounded length (context words, then any run of
    /// white space, then the value), whose matches all end with a digit
    /// (their value's last): read from the text's start up to the end of
    /// its last window, not after it.
    up_to_digit: Vec<BoundedPattern>,
}

impl NearDigits {
    fn new(patterns: Vec<BoundedPattern>, up_to_digit: Vec<BoundedPattern>) -> Result<Self> {
        let reach = patterns
            .iter()
            .filter_map(|p| max_len(p.source))
            .max()
            .unwrap_or(0);
        let set = if patterns.len() < DIGIT_SET_FROM {
            None
        } else {
            let sources: Vec<&str> = patterns.iter().map(|p| p.source).collect();
            Some(LazySet::new(
                &sources,
                MAX_SET_BYTES,
                "the guardrail patterns together are too large",
            )?)
        };
        Ok(Self {
            set,
            patterns,
            reach,
            up_to_digit,
        })
    }

    /// Whether there is no pattern to read.
    fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.up_to_digit.is_empty()
    }

    fn find(&self, text: &str, profile: Profile, require_card_prefix: bool, findings: &mut Vec<Finding>) {
        // Per pattern, the ends gathered into the stretch not yet read.
        let mut open: Vec<Option<(usize, usize)>> = vec![None; self.patterns.len()];
        let mut last_end = 0;
        for window in digit_windows(text, self.reach) {
            last_end = window.end;
            if self.patterns.is_empty() {
                continue;
            }
            let read = |index: usize, first: usize, last: usize, findings: &mut Vec<Finding>| {
                // No gate to test: a gate asks for what every match holds,
                // and the set saw matches here.
                let pattern: &BoundedPattern = &self.patterns[index];
                let stretch = stretch(text, &window, first, last, pattern.max_len);
                let input = Input::new(text).span(stretch);
                pattern.find(text, &input, require_card_prefix, findings);
            };
            // Ends come in order. A pattern's ends close enough for one
            // match to reach from one to the next make one stretch, read
            // when the next end is too far or the window is done: memory
            // stays one stretch per pattern, however many ends there are.
            let complete = self.set.as_ref().is_some_and(|set| {
                set.ends(text, window.clone(), |index, end| {
                    let max_len = self.patterns[index].max_len;
                    match &mut open[index] {
                        Some((_, last)) if end.saturating_sub(*last) <= max_len => *last = end,
                        slot => {
                            if let Some((first, last)) = slot.replace((end, end)) {
                                read(index, first, last, findings);
                            }
                        }
                    }
                })
            });
            for (index, slot) in open.iter_mut().enumerate() {
                if let Some((first, last)) = slot.take() {
                    if complete {
                        read(index, first, last, findings);
                    }
                }
            }
            if !complete {
                // Too few patterns for a set, or its automaton gave up (it
                // never does on the built-in patterns, but nothing is lost
                // if it does; what was found twice is one finding after
                // the overlaps are resolved): every pattern reads the
                // whole window.
                for pattern in &self.patterns {
                    if profile.passes(pattern.gate, text) {
                        let input = Input::new(text).span(window.clone());
                        pattern.find(text, &input, require_card_prefix, findings);
                    }
                }
            }
        }
        if last_end > 0 {
            let input = Input::new(text).span(0..last_end);
            for pattern in &self.up_to_digit {
                if profile.passes(pattern.gate, text) {
                    pattern.find(text, &input, require_card_prefix, findings);
                }
            }
        }
    }
}

/// The stretch of `window` a pattern's matches ending from `first_end` to
/// `last_end` lie in: none is longer than `max_len`, so none starts before
/// `first_end - max_len`, and none ends after `last_end`. A leftmost-first
/// search of the stretch finds the same matches as one of the window: a
/// match found in the window that started in the stretch and ended past it
/// would end after `last_end`, and the set reports every end.
fn stretch(
    text: &str,
    window: &Range<usize>,
    first_end: usize,
    last_end: usize,
    max_len: usize,
) -> Range<usize> {
    let mut start = first_end.saturating_sub(max_len).max(window.start);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = last_end.min(window.end);
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

impl BoundedPattern {
    /// Adds the checked matches within `input`'s span to `findings`.
    fn find(&self, text: &str, input: &Input<'_>, require_card_prefix: bool, findings: &mut Vec<Finding>) {
        let mut push =
            |range| push_checked(&self.kind, self.check, text, range, require_card_prefix, findings);
        match self.value_group {
            Some(group) => {
                for captures in self.regex.captures_iter(input.clone()) {
                    if let Some(value) = captures.get_group(group) {
                        push(value.range());
                    }
                }
            }
            None => {
                for found in self.regex.find_iter(input.clone()) {
                    push(found.range());
                }
            }
        }
    }
}

/// Adds the candidate `range` of `kind` to `findings` when it is not empty
/// and passes `check`, which may narrow it.
fn push_checked(
    kind: &EntityKind,
    check: Check,
    text: &str,
    range: Range<usize>,
    require_card_prefix: bool,
    findings: &mut Vec<Finding>,
) {
    if range.is_empty() {
        return;
    }
    if let Some((range, confidence)) = check.apply(text, range, require_card_prefix) {
        findings.push(Finding::new(kind.clone(), range, confidence));
    }
}

/// The longest match of `source`, in bytes, if it has a bound.
fn max_len(source: &str) -> Option<usize> {
    regex_automata::util::syntax::parse(source)
        .ok()?
        .properties()
        .maximum_len()
}

/// How many bytes [`find_digit`] and [`rfind_digit`] test at once.
const DIGIT_CHUNK: usize = 32;

/// Whether `chunk` holds an ASCII digit, testing every byte without an
/// early exit, which the compiler turns into a few vector instructions.
fn has_digit(chunk: &[u8]) -> bool {
    chunk
        .iter()
        .fold(false, |any, &b| any | (b.wrapping_sub(b'0') < 10))
}

/// The first ASCII digit in `bytes`, a chunk of bytes at a time: texts are
/// mostly prose, and a byte-by-byte search was a fifth of the detector's
/// time on a 2 KB prompt.
fn find_digit(bytes: &[u8]) -> Option<usize> {
    let mut offset = 0;
    for chunk in bytes.chunks(DIGIT_CHUNK) {
        if has_digit(chunk) {
            return chunk.iter().position(u8::is_ascii_digit).map(|i| offset + i);
        }
        offset += chunk.len();
    }
    None
}

/// The last ASCII digit in `bytes`, a chunk of bytes at a time.
fn rfind_digit(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    for chunk in bytes.rchunks(DIGIT_CHUNK) {
        end -= chunk.len();
        if has_digit(chunk) {
            return chunk.iter().rposition(u8::is_ascii_digit).map(|i| end + i);
        }
    }
    None
}

/// The spans of `text` within `reach` bytes of an ASCII digit, merged when
/// they touch, widened to character boundaries. A match at most `reach`
/// bytes long that holds a digit lies inside one of them.
fn digit_windows(text: &str, reach: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = text.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        let first = from + find_digit(bytes.get(from..)?)?;
        // Digits whose windows touch, 2 * reach + 1 bytes apart at most,
        // share one window.
        let mut last = first;
        loop {
            let ahead = (last + 2 + 2 * reach).min(bytes.len());
            match rfind_digit(&bytes[last + 1..ahead]) {
                Some(i) => last += 1 + i,
                None => break,
            }
        }
        let mut start = first.saturating_sub(reach);
        let mut end = (last + 1 + reach).min(bytes.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        from = end;
        Some(start..end)
    })
}

/// Finds personal data and secrets in text. Built by [`Detector::builder`];
/// see the [module docs](self).
///
/// `Send + Sync`, and cheap to clone: clones share the compiled patterns.
#[derive(Debug, Clone)]
pub struct Detector {
    inner: Arc<Inner>,
}

impl Detector {
    /// A builder with every built-in kind enabled.
    pub fn builder() -> DetectorBuilder {
        DetectorBuilder::default()
    }

    /// Every entity in `text`, sorted by position, without overlaps.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        self.find_into(text, &mut findings);
        findings
    }

    /// Like [`find`](Self::find), into `findings` (cleared first), so that a
    /// caller checking many texts reuses one allocation.
    pub fn find_into(&self, text: &str, findings: &mut Vec<Finding>) {
        findings.clear();
        let inner = &*self.inner;
        let profile = Profile::of(text);
        let card_prefix = inner.require_card_prefix;
        inner.prefixed.find(text, profile, card_prefix, findings);
        inner.literal.find(text, profile, card_prefix, findings);
        if profile.digit && !inner.near_digits.is_empty() {
            inner.near_digits.find(text, profile, card_prefix, findings);
        }
        inner.custom.find(text, profile, card_prefix, findings);
        if let Some(deny) = &inner.deny {
            // ASCII lower-casing keeps every byte offset.
            let lower = text.to_ascii_lowercase();
            for found in deny.automaton.find_iter(&lower) {
                let range = found.range();
                if validate::word_bounded(text, &range) {
                    let kind = &deny.kinds[deny.list_of_word[found.pattern().as_usize()]];
                    findings.push(Finding::new(kind.clone(), range, Confidence::Pattern));
                }
            }
        }
        if let Some(entropy) = &inner.entropy {
            entropy.scan(text, |start, end| {
                findings.push(Finding::new(
                    EntityKind::HighEntropy,
                    start..end,
                    Confidence::Heuristic,
                ));
            });
        }
        resolve_overlaps(findings);
    }

    /// Every pattern in use, with the kind it reports, in the order they
    /// are tried: the built-in ones enabled, then the custom ones. Shows
    /// which regex finds what; deny lists and the entropy scan are not
    /// patterns.
    pub fn patterns(&self) -> impl Iterator<Item = (&EntityKind, &str)> {
        let inner = &*self.inner;
        fn each(p: &Pattern) -> (&EntityKind, &str) {
            (&p.kind, p.regex.as_str())
        }
        inner
            .prefixed
            .patterns
            .iter()
            .chain(&inner.literal.patterns)
            .map(each)
            .chain(inner.near_digits.patterns.iter().map(|p| (&p.kind, p.source)))
            .chain(inner.near_digits.up_to_digit.iter().map(|p| (&p.kind, p.source)))
            .chain(inner.custom.patterns.iter().map(each))
    }
}

/// Keeps one finding of each overlapping group (see the module docs'
/// rules) and sorts what is kept by position.
fn resolve_overlaps(findings: &mut Vec<Finding>) {
    if findings.len() < 2 {
        return;
    }
    findings.sort_by(|a, b| {
        let fallback = |f: &Finding| f.kind == EntityKind::HighEntropy;
        fallback(a)
            .cmp(&fallback(b))
            .then_with(|| b.range.len().cmp(&a.range.len()))
            .then_with(|| b.confidence.cmp(&a.confidence))
            .then_with(|| a.kind.specificity().cmp(&b.kind.specificity()))
            .then_with(|| a.kind.as_str().cmp(b.kind.as_str()))
            .then_with(|| a.range.start.cmp(&b.range.start))
    });
    // Kept spans by start; they never overlap, so the one starting last
    // before a candidate's end is the only one that can overlap it.
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    findings.retain(|f| {
        let overlaps = kept
            .range(..f.range.end)
            .next_back()
            .is_some_and(|(_, &end)| end > f.range.start);
        if !overlaps {
            kept.insert(f.range.start, f.range.end);
        }
        !overlaps
    });
    findings.sort_by_key(|f| (f.range.start, f.range.end));
}

/// Configures a [`Detector`]: which built-in kinds, custom patterns, deny
/// lists, and the high-entropy scan's thresholds.
///
/// ```
/// use tower_ai::guardrail::detect::{Detector, EntityKind};
///
/// let detector = Detector::builder()
///     .disable(EntityKind::IpAddress)
///     .entropy_min_len(32)
///     .build()?;
/// assert!(detector.find("host 10.0.0.1").is_empty());
///
/// let bad = Detector::builder().pattern("TICKET", r"T-(\d+");
/// assert_eq!(bad.unwrap_err().kind(), "config");
/// # Ok::<(), tower_ai::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DetectorBuilder {
    disabled: Vec<EntityKind>,
    custom: Vec<(EntityKind, String)>,
    deny: Vec<(EntityKind, Vec<String>)>,
    entropy: Entropy,
    require_card_prefix: bool,
}

impl Default for DetectorBuilder {
    fn default() -> Self {
        Self {
            disabled: Vec::new(),
            custom: Vec::new(),
            deny: Vec::new(),
            entropy: Entropy {
                min_len: 24,
                bits_per_char: 4.0,
            },
            require_card_prefix: false,
        }
    }
}

impl DetectorBuilder {
    /// Stops reporting a built-in kind.
    pub fn disable(mut self, kind: EntityKind) -> Self {
        if !self.disabled.contains(&kind) {
            self.disabled.push(kind);
        }
        self
    }

    /// Reports a built-in kind again after [`disable`](Self::disable) or
    /// [`only`](Self::only).
    pub fn enable(mut self, kind: EntityKind) -> Self {
        self.disabled.retain(|k| *k != kind);
        self
    }

    /// Reports only these built-in kinds (custom patterns and deny lists
    /// are kept).
    pub fn only(mut self, kinds: impl IntoIterator<Item = EntityKind>) -> Self {
        let kinds: Vec<EntityKind> = kinds.into_iter().collect();
        self.disabled = EntityKind::built_in()
            .iter()
            .filter(|k| !kinds.contains(k))
            .cloned()
            .collect();
        self
    }

    /// Adds a pattern reported as [`EntityKind::Custom`]`(name)`. When the
    /// regex has a group named `value`, only that group is reported (the
    /// rest is context). The name is upper case letters, digits and `_`,
    /// starting with a letter, and not a built-in kind's name.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad name, a regex that
    /// does not parse, or one that compiles past [`MAX_PATTERN_BYTES`].
    pub fn pattern(mut self, name: &str, regex: &str) -> Result<Self> {
        let kind = EntityKind::Custom(check_name(name)?);
        compile(regex)
            .map_err(|e| Error::config_with(format!("the guardrail pattern {name} does not compile"), e))?;
        self.custom.push((kind, regex.to_owned()));
        Ok(self)
    }

    /// Adds a list of words reported as [`EntityKind::DenyListed`]`(name)`
    /// wherever one stands as a whole word, whatever its ASCII case
    /// (letters of other scripts match as written). The name follows the
    /// rules of [`pattern`](Self::pattern)'s.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad name.
    pub fn deny_list<I>(mut self, name: &str, words: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let kind = EntityKind::DenyListed(check_name(name)?);
        let words = words
            .into_iter()
            .map(Into::into)
            .filter(|w: &String| !w.trim().is_empty())
            .collect();
        self.deny.push((kind, words));
        Ok(self)
    }

    /// The shortest token the high-entropy scan looks at, in bytes (24 by
    /// default, at least 8).
    pub fn entropy_min_len(mut self, min_len: usize) -> Self {
        self.entropy.min_len = min_len;
        self
    }

    /// The Shannon entropy, in bits per character, from which a token is
    /// reported (4.0 by default; positive and at most 8).
    pub fn entropy_threshold(mut self, bits_per_char: f64) -> Self {
        self.entropy.bits_per_char = bits_per_char;
        self
    }

    /// Reports a card number only when it starts with an issuer prefix of a
    /// major network (Visa, Mastercard, American Express, Discover, JCB,
    /// Diners Club, UnionPay, Maestro). Off by default: the Luhn checksum
    /// alone decides.
    pub fn require_card_prefix(mut self, require: bool) -> Self {
        self.require_card_prefix = require;
        self
    }

    /// Compiles the patterns.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the entropy settings are
    /// out of range or the patterns together compile past the set's limit.
    pub fn build(self) -> Result<Detector> {
        if self.entropy.min_len < 8 {
            return Err(Error::config("the high-entropy minimum length is under 8 bytes"));
        }
        let bits = self.entropy.bits_per_char;
        if !(bits > 0.0 && bits <= 8.0) {
            return Err(Error::config(format!(
                "the high-entropy threshold {bits} is not in (0, 8] bits per character"
            )));
        }
        let enabled = |kind: &EntityKind| !self.disabled.contains(kind);
        let (mut prefixed, mut literal) = (Vec::new(), Vec::new());
        let (mut bounded, mut up_to_digit) = (Vec::new(), Vec::new());
        for spec in pii::SPECS
            .iter()
            .chain(secrets::SPECS)
            .filter(|s| enabled(&s.kind))
        {
            let built_in = || format!("the built-in {} pattern", spec.kind);
            if matches!(spec.gate, Gate::Digit | Gate::IbanStart) {
                let regex = MetaRegex::builder()
                    .configure(
                        MetaRegex::config()
                            .nfa_size_limit(Some(MAX_PATTERN_BYTES))
                            .hybrid_cache_capacity(MAX_PATTERN_BYTES),
                    )
                    .build(spec.source)
                    .map_err(|e| Error::config_with(built_in(), e))?;
                let value_group = regex
                    .group_info()
                    .to_index(regex_automata::PatternID::ZERO, "value");
                let max_len = max_len(spec.source);
                let pattern = BoundedPattern {
                    kind: spec.kind.clone(),
                    source: spec.source,
                    regex,
                    max_len: max_len.unwrap_or(usize::MAX),
                    value_group,
                    check: spec.check,
                    gate: spec.gate,
                };
                match max_len {
                    Some(_) => bounded.push(pattern),
                    None => up_to_digit.push(pattern),
                }
                continue;
            }
            let regex = compile(spec.source).map_err(|e| Error::config_with(built_in(), e))?;
            let mut pattern = Pattern::new(spec.kind.clone(), regex, spec.check);
            pattern.gate = spec.gate;
            if spec.prefixed {
                prefixed.push(pattern);
            } else {
                literal.push(pattern);
            }
        }
        let mut custom = Vec::new();
        for (kind, source) in self.custom {
            let regex = compile(&source).map_err(|e| {
                Error::config_with(format!("the guardrail pattern {kind} does not compile"), e)
            })?;
            custom.push(Pattern::new(kind, regex, Check::None));
        }
        Ok(Detector {
            inner: Arc::new(Inner {
                prefixed: Group::new(prefixed, 2)?,
                literal: Group::new(literal, usize::MAX)?,
                near_digits: NearDigits::new(bounded, up_to_digit)?,
                custom: Group::new(custom, CUSTOM_SET_FROM)?,
                deny: deny_lists(self.deny)?,
                entropy: enabled(&EntityKind::HighEntropy).then_some(self.entropy),
                require_card_prefix: self.require_card_prefix,
            }),
        })
    }
}

impl Pattern {
    fn new(kind: EntityKind, regex: Regex, check: Check) -> Self {
        let value_group = regex.capture_names().any(|name| name == Some("value"));
        Self {
            kind,
            regex,
            value_group,
            check,
            gate: Gate::Always,
        }
    }

    /// Adds the checked matches in `text` to `findings`.
    fn find(&self, text: &str, require_card_prefix: bool, findings: &mut Vec<Finding>) {
        let mut push =
            |range| push_checked(&self.kind, self.check, text, range, require_card_prefix, findings);
        if self.value_group {
            for captures in self.regex.captures_iter(text) {
                if let Some(value) = captures.name("value") {
                    push(value.range());
                }
            }
        } else {
            for found in self.regex.find_iter(text) {
                push(found.range());
            }
        }
    }
}

/// One pattern, within the size limits.
fn compile(source: &str) -> std::result::Result<Regex, regex::Error> {
    RegexBuilder::new(source)
        .size_limit(MAX_PATTERN_BYTES)
        .dfa_size_limit(MAX_PATTERN_BYTES)
        .build()
}

/// A custom kind's name: `[A-Z][A-Z0-9_]*`, not a built-in name.
fn check_name(name: &str) -> Result<Arc<str>> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(Error::config(format!(
            "the guardrail name {name:?} is not upper case letters, digits and `_`, starting with a letter"
        )));
    }
    if EntityKind::built_in().iter().any(|k| k.as_str() == name) {
        return Err(Error::config(format!(
            "the guardrail name {name} is a built-in kind's"
        )));
    }
    Ok(Arc::from(name))
}

/// The deny lists as one automaton, or `None` when there are no words.
fn deny_lists(lists: Vec<(EntityKind, Vec<String>)>) -> Result<Option<DenyLists>> {
    let mut words = Vec::new();
    let mut list_of_word = Vec::new();
    let mut kinds = Vec::new();
    for (index, (kind, list)) in lists.into_iter().enumerate() {
        list_of_word.extend(std::iter::repeat_n(index, list.len()));
        words.extend(list);
        kinds.push(kind);
    }
    if words.is_empty() {
        return Ok(None);
    }
    // The words are lower-cased here and the text at search time: an
    // automaton of case-insensitive words gets no prefilter, and reads a
    // 2 KB text about twenty times slower than a lower-case copy costs.
    for word in &mut words {
        word.make_ascii_lowercase();
    }
    let automaton = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&words)
        .map_err(|e| Error::config_with("the guardrail deny lists do not compile", e))?;
    Ok(Some(DenyLists {
        automaton,
        list_of_word,
        kinds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_patterns_compile_and_the_detector_is_shareable() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Detector>();
        let detector = Detector::builder().build().unwrap();
        assert_eq!(
            detector.patterns().count(),
            pii::SPECS.len() + secrets::SPECS.len()
        );
    }

    #[test]
    fn the_iban_pattern_names_the_registry_countries() {
        let source = pii::SPECS
            .iter()
            .find(|s| s.kind == EntityKind::Iban)
            .unwrap()
            .source;
        let countries = source.split_once("(?:").unwrap().1.split_once(')').unwrap().0;
        assert_eq!(countries.split('|').count(), validate::IBAN_LENGTHS.len());
        for country in countries.split('|') {
            assert!(validate::iban_length(country.as_bytes()).is_some(), "{country}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(Detector::builder().pattern("employee id", "x").is_err());
        assert!(Detector::builder().pattern("EMAIL", "x").is_err());
        assert!(Detector::builder().deny_list("", ["x"]).is_err());
        assert!(Detector::builder().pattern("EMP_ID2", "x").is_ok());
    }

    #[test]
    fn entropy_settings_are_checked() {
        assert!(Detector::builder().entropy_min_len(4).build().is_err());
        assert!(Detector::builder().entropy_threshold(f64::NAN).build().is_err());
        assert!(Detector::builder().entropy_threshold(9.0).build().is_err());
    }

    #[test]
    fn digit_windows_cover_every_digit_and_its_reach_without_overlapping() {
        let text = "ab 1 cdefghijklmnopqrstuvwxyz 22 é3é and then a long stretch of prose 4";
        for reach in [0, 1, 3, 8, 40, 200] {
            let windows: Vec<_> = digit_windows(text, reach).collect();
            for pair in windows.windows(2) {
                assert!(pair[0].end <= pair[1].start, "{reach}: {windows:?}");
            }
            for (i, b) in text.bytes().enumerate() {
                if b.is_ascii_digit() {
                    let (from, to) = (i.saturating_sub(reach), (i + 1 + reach).min(text.len()));
                    assert!(
                        windows.iter().any(|w| w.start <= from && to <= w.end),
                        "{reach}: {i} in {windows:?}"
                    );
                }
            }
            assert!(windows.iter().all(|w| text.get(w.clone()).is_some()));
        }
        assert_eq!(digit_windows("no digits", 8).count(), 0);
        assert_eq!(digit_windows("", 8).count(), 0);
    }

    /// The bounded digit-gated patterns with their set, and without it.
    static READERS: std::sync::LazyLock<(NearDigits, NearDigits)> = std::sync::LazyLock::new(|| {
        let detector = Detector::builder().build().unwrap();
        let near = &detector.inner.near_digits;
        let sources: Vec<&str> = near.patterns.iter().map(|p| p.source).collect();
        let reader = |set| NearDigits {
            set,
            patterns: near.patterns.clone(),
            reach: near.reach,
            up_to_digit: Vec::new(),
        };
        (
            reader(Some(LazySet::new(&sources, MAX_SET_BYTES, "").unwrap())),
            reader(None),
        )
    });

    proptest::proptest! {
        /// Reading each pattern only around the ends the set reports finds
        /// what reading whole windows with every pattern finds.
        #[test]
        fn stretches_find_what_whole_windows_find(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "4111 1111 1111 1111", "5555-5555-5555-4444", "415-555-0132", "(555) 234-5678",
                    "+1 415 555 0132", "0049 30 1234567", "030 1234 5678", "(0161) 496 0473",
                    "078-05-1120", "203.0.113.7", "10.0.0.1", "DE89 3704 0044 0532 0130 00",
                    "GB82 WEST 1234 5698 7654 32", "0612345678 mobile", "1", "22", "333 ", "4444",
                    "-", " ", ".", "(", ")", "/", "x12", "é", "order ", "phone ", "\n", "ab",
                    "tel: ", "12345678901", "1-800-555-0199", "00", "0",
                ]),
                0..40,
            ),
        ) {
            let text: String = pieces.concat();
            let (only_bounded, whole) = &*READERS;
            let profile = Profile::of(&text);
            let (mut by_stretch, mut by_window) = (Vec::new(), Vec::new());
            only_bounded.find(&text, profile, false, &mut by_stretch);
            whole.find(&text, profile, false, &mut by_window);
            let key = |f: &Finding| (f.range.start, f.range.end, f.kind.as_str().to_owned());
            by_stretch.sort_by_key(key);
            by_window.sort_by_key(key);
            proptest::prop_assert_eq!(by_stretch, by_window, "{:?}", text);
        }
    }

    #[test]
    fn chunked_digit_searches_agree_with_a_byte_by_byte_one() {
        // Digits at every position of texts shorter and longer than a chunk,
        // next to the bytes just outside `0..=9`.
        for len in [0, 1, 31, 32, 33, 64, 70, 100] {
            for at in 0..len {
                for digit in [b'0', b'9'] {
                    let mut bytes = vec![b'/'; len];
                    bytes.iter_mut().skip(1).step_by(2).for_each(|b| *b = b':');
                    bytes[at] = digit;
                    assert_eq!(find_digit(&bytes), Some(at), "{len} {at}");
                    assert_eq!(rfind_digit(&bytes), Some(at), "{len} {at}");
                    if at + 1 < len {
                        bytes[len - 1] = b'5';
                        assert_eq!(find_digit(&bytes), Some(at));
                        assert_eq!(rfind_digit(&bytes), Some(len - 1));
                    }
                }
            }
            assert_eq!(find_digit(&vec![b'a'; len]), None);
            assert_eq!(rfind_digit(&vec![0xff; len]), None);
        }
    }

    #[test]
    fn overlaps_keep_the_longest_and_the_fallback_last() {
        let f = |kind, range, confidence| Finding::new(kind, range, confidence);
        let mut findings = vec![
            f(EntityKind::HighEntropy, 0..40, Confidence::Heuristic),
            f(EntityKind::Jwt, 0..30, Confidence::Validated),
            f(EntityKind::IpAddress, 45..52, Confidence::Validated),
            f(EntityKind::ConnectionString, 41..60, Confidence::Pattern),
            f(EntityKind::Phone, 70..80, Confidence::Pattern),
            f(EntityKind::Card, 70..80, Confidence::Validated),
        ];
        resolve_overlaps(&mut findings);
        let kinds: Vec<_> = findings.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(kinds, ["JWT", "CONNECTION_STRING", "CARD"]);
    }
}
