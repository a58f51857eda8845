//! Scoring a [`Detector`] against span-labelled texts: the labelled
//! records, the matching rule and the per-kind table. Shared by the
//! `pii_eval` example and the integration test that pins its figures.
//!
//! The rule: a finding of a scored kind is a true positive when it
//! overlaps (by one byte or more) a labelled span of the same kind, and a
//! false positive otherwise; a labelled span is found when at least one
//! finding of its kind overlaps it. Precision is true positives over
//! findings of the kind, recall found spans over labelled spans (the
//! support). Findings of kinds that are not scored (dates of birth,
//! secrets) are counted apart and judged neither way.
//!
//! Labelled spans that the detector is documented not to report are set
//! apart, out of the support, and findings over them are judged neither
//! way: card numbers of fewer than 13 digits (Faker writes 12-digit Maestro
//! numbers; the detector, like Presidio's recogniser, reads 13 to 19).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use tower_ai::guardrail::detect::{Detector, EntityKind};

/// The labels of the data set and the kinds they stand for, in table order.
pub(crate) const LABELS: [(&str, EntityKind); 6] = [
    ("email", EntityKind::Email),
    ("phone", EntityKind::Phone),
    ("card", EntityKind::Card),
    ("iban", EntityKind::Iban),
    ("ssn", EntityKind::Ssn),
    ("ip_address", EntityKind::IpAddress),
];

/// Whether a labelled span is out of the detector's documented scope.
pub(crate) fn set_apart(label: &str, value: &str) -> bool {
    label == "card" && value.bytes().filter(u8::is_ascii_digit).count() < 13
}

/// One labelled text.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) text: String,
    /// Byte ranges with the index of their label in [`LABELS`].
    pub(crate) spans: Vec<(Range<usize>, usize)>,
}

/// The records of a JSONL file of `{"text", "spans": [{"start", "end",
/// "label"}]}` lines, offsets in bytes.
pub(crate) fn load(jsonl: &str) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    for (n, line) in jsonl.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| format!("line {}: {what}", n + 1);
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let text = value["text"].as_str().ok_or_else(|| bad("no text"))?.to_owned();
        let mut spans = Vec::new();
        for span in value["spans"].as_array().ok_or_else(|| bad("no spans"))? {
            let offset = |key: &str| {
                span[key]
                    .as_u64()
                    .and_then(|o| usize::try_from(o).ok())
                    .ok_or_else(|| bad(&format!("a span without {key}")))
            };
            let range = offset("start")?..offset("end")?;
            if text.get(range.clone()).is_none_or(str::is_empty) {
                return Err(bad("a span off the text's character boundaries"));
            }
            let label = span["label"].as_str().unwrap_or_default();
            let index = LABELS
                .iter()
                .position(|(name, _)| *name == label)
                .ok_or_else(|| bad(&format!("unknown label {label:?}")))?;
            spans.push((range, index));
        }
        records.push(Record { text, spans });
    }
    Ok(records)
}

/// The counts for one kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Findings of the kind that overlap a span of the kind.
    pub(crate) true_positives: usize,
    /// Findings of the kind that overlap none.
    pub(crate) false_positives: usize,
    /// Labelled spans of the kind.
    pub(crate) support: usize,
    /// Labelled spans that a finding of the kind overlaps.
    pub(crate) found: usize,
    /// Labelled spans out of scope (see [`set_apart`]), not in the support.
    pub(crate) set_apart: usize,
}

impl Counts {
    pub(crate) fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    pub(crate) fn recall(&self) -> f64 {
        ratio(self.found, self.support)
    }

    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// An empty ratio is 1: no findings are all right, no spans all found.
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// One error, for reading: the label, the text of the span or finding, and
/// the whole record.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    pub(crate) record: String,
}

/// What a detector did on a set of records.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) records: usize,
    /// By index in [`LABELS`].
    pub(crate) counts: [Counts; LABELS.len()],
    /// Findings of kinds not scored, by kind name.
    pub(crate) unscored: BTreeMap<String, usize>,
    pub(crate) misses: Vec<Error>,
    pub(crate) false_positives: Vec<Error>,
}

/// Runs `detector` over `records` and scores it by the module's rule.
pub(crate) fn evaluate(detector: &Detector, records: &[Record]) -> Report {
    let mut report = Report {
        records: records.len(),
        ..Report::default()
    };
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    let mut findings = Vec::new();
    for record in records {
        detector.find_into(&record.text, &mut findings);
        let apart: Vec<&Range<usize>> = record
            .spans
            .iter()
            .filter(|(range, i)| set_apart(LABELS[*i].0, &record.text[range.clone()]))
            .map(|(range, _)| range)
            .collect();
        for finding in &findings {
            if apart.iter().any(|range| overlaps(range, &finding.range)) {
                continue;
            }
            let Some(index) = LABELS.iter().position(|(_, kind)| *kind == finding.kind) else {
                *report
                    .unscored
                    .entry(finding.kind.as_str().to_owned())
                    .or_default() += 1;
                continue;
            };
            let hit = record
                .spans
                .iter()
                .any(|(range, i)| *i == index && overlaps(range, &finding.range));
            if hit {
                report.counts[index].true_positives += 1;
            } else {
                report.counts[index].false_positives += 1;
                report.false_positives.push(Error {
                    label: LABELS[index].0,
                    value: finding.text(&record.text).to_owned(),
                    record: record.text.clone(),
                });
            }
        }
        for (range, index) in &record.spans {
            let counts = &mut report.counts[*index];
            if apart.contains(&range) {
                counts.set_apart += 1;
                continue;
            }
            counts.support += 1;
            let kind = &LABELS[*index].1;
            if findings
                .iter()
                .any(|f| f.kind == *kind && overlaps(range, &f.range))
            {
                counts.found += 1;
            } else {
                report.misses.push(Error {
                    label: LABELS[*index].0,
                    value: record.text[range.clone()].to_owned(),
                    record: record.text.clone(),
                });
            }
        }
    }
    report
}

impl Report {
    /// The per-kind table in Markdown.
    pub(crate) fn table(&self) -> String {
        let mut out = String::from(
            "| entity | precision | recall | F1 | support | TP | FP | FN | set apart |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for ((label, _), c) in LABELS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "| {label} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} | {} |",
                c.precision(),
                c.recall(),
                c.f1(),
                c.support,
                c.true_positives,
                c.false_positives,
                c.support - c.found,
                c.set_apart,
            );
        }
        out
    }
}
