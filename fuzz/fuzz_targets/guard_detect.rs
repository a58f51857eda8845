//! The PII and secret detector (`Detector::find`): the input, read as UTF-8
//! (invalid bytes replaced), is searched by the default detector and by one
//! with a deny list and a custom pattern. The findings are sorted, apart, in
//! bounds and on character boundaries, the same on a second search, and
//! every whole-word deny-listed word and every custom match (found here with
//! a plain search) is covered by a finding.
#![no_main]

use std::ops::Range;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_ai::guardrail::detect::{Confidence, Detector, EntityKind, Finding};

/// Deny-listed words, none of which can overlap itself or another.
const DENIED: [&str; 2] = ["bluebird", "orion"];
/// The custom pattern: its `value` group is what is reported.
const TICKET: &str = r"(?:ticket|TKT)[ #:]*(?P<value>[A-Z]{2,5}-[0-9]{1,6})";

static DEFAULT: LazyLock<Detector> =
    LazyLock::new(|| Detector::builder().build().expect("the default detector"));

static CUSTOM: LazyLock<Detector> = LazyLock::new(|| {
    Detector::builder()
        .deny_list("CODENAME", DENIED)
        .expect("a deny list")
        .pattern("TICKET", TICKET)
        .expect("a pattern")
        .build()
        .expect("a detector")
});

static TICKET_RE: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(TICKET).expect("the pattern"));

/// The findings' shape: sorted, apart, non-empty, in bounds, on boundaries.
fn check_findings(text: &str, findings: &[Finding]) {
    let mut end = 0;
    for f in findings {
        let Range { start, end: stop } = f.range.clone();
        assert!(start < stop, "an empty finding: {f:?}");
        assert!(start >= end, "findings overlap or are unsorted: {findings:?}");
        assert!(stop <= text.len(), "out of bounds: {f:?} in {} bytes", text.len());
        assert!(
            text.is_char_boundary(start) && text.is_char_boundary(stop),
            "not on character boundaries: {f:?}"
        );
        assert_eq!(f.text(text), &text[start..stop]);
        end = stop;
    }
}

/// Whether some finding overlaps `range`.
fn covered(findings: &[Finding], range: &Range<usize>) -> bool {
    findings
        .iter()
        .any(|f| f.range.start < range.end && range.start < f.range.end)
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// The whole-word, ASCII-case-insensitive occurrences of the deny-listed
/// words, found plainly.
fn denied(text: &str) -> Vec<Range<usize>> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for word in DENIED {
        for (at, _) in lower.match_indices(word) {
            let range = at..at + word.len();
            if !is_word_char(text[..range.start].chars().next_back())
                && !is_word_char(text[range.end..].chars().next())
            {
                out.push(range);
            }
        }
    }
    out
}

fn check(detector: &Detector, text: &str) -> Vec<Finding> {
    let findings = detector.find(text);
    check_findings(text, &findings);
    assert_eq!(detector.find(text), findings, "a second search differs");
    let mut reused = vec![Finding::new(EntityKind::Email, 0..1, Confidence::Pattern)];
    detector.find_into(text, &mut reused);
    assert_eq!(reused, findings, "find_into differs from find");
    findings
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&DEFAULT, &text);
    let findings = check(&CUSTOM, &text);
    for range in denied(&text) {
        assert!(
            covered(&findings, &range),
            "{:?} at {range:?} not found: {findings:?}",
            &text[range.clone()]
        );
    }
    for captures in TICKET_RE.captures_iter(&text) {
        let range = captures.name("value").expect("a value group").range();
        assert!(
            covered(&findings, &range),
            "{:?} at {range:?} not found: {findings:?}",
            &text[range.clone()]
        );
    }
});
