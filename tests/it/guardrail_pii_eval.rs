//! The detector's measured precision and recall per entity kind on the
//! committed PII sample (`data/pii-eval/`, see its `SOURCES.md` and
//! `docs/guardrails.md`), pinned with a small margin so that a change
//! that loses entities or finds false ones fails here.
//!
//! The scoring is the `pii_eval` example's: a finding counts when it
//! overlaps a labelled span of its kind.

#[path = "../../examples/pii_eval/score.rs"]
mod score;

use std::sync::LazyLock;

use tower_ai::guardrail::detect::Detector;

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| Detector::builder().build().unwrap());

/// How far under the measured figure a run may fall: about two spans in 200.
const MARGIN: f64 = 0.01;

/// The measured figures: label, precision, recall, support, set apart.
type Pinned = [(&'static str, f64, f64, usize, usize); 6];

fn check(file: &str, pinned: &Pinned) {
    let path = format!("{}/data/pii-eval/{file}", env!("CARGO_MANIFEST_DIR"));
    let jsonl = std::fs::read_to_string(&path).unwrap();
    let records = score::load(&jsonl).unwrap();
    let report = score::evaluate(&DETECTOR, &records);
    assert_eq!(report.records, records.len());
    let table = format!(
        "{}\nfindings of kinds not scored: {:?}",
        report.table(),
        report.unscored
    );
    let errors: Vec<String> = report
        .misses
        .iter()
        .map(|e| format!("miss {} {:?}", e.label, e.value))
        .chain(
            report
                .false_positives
                .iter()
                .map(|e| format!("false positive {} {:?} in {:?}", e.label, e.value, e.record)),
        )
        .collect();
    for ((label, precision, recall, support, set_apart), ((name, _), counts)) in
        pinned.iter().zip(score::LABELS.iter().zip(&report.counts))
    {
        assert_eq!(label, name);
        assert_eq!(
            (counts.support, counts.set_apart),
            (*support, *set_apart),
            "{file} {label}: the sample changed\n{table}"
        );
        assert!(
            counts.precision() >= precision - MARGIN,
            "{file} {label} precision {:.3}, was {precision}\n{table}\n{errors:#?}",
            counts.precision()
        );
        assert!(
            counts.recall() >= recall - MARGIN,
            "{file} {label} recall {:.3}, was {recall}\n{table}\n{errors:#?}",
            counts.recall()
        );
    }
}

#[test]
fn held_out_sample_precision_and_recall_per_kind() {
    check(
        "heldout.jsonl",
        &[
            ("email", 1.0, 1.0, 213, 0),
            ("phone", 1.0, 0.98, 200, 0),
            ("card", 1.0, 1.0, 183, 17),
            ("iban", 1.0, 1.0, 200, 0),
            ("ssn", 1.0, 1.0, 200, 0),
            ("ip_address", 1.0, 1.0, 200, 0),
        ],
    );
}

#[test]
fn tuning_sample_precision_and_recall_per_kind() {
    check(
        "tune.jsonl",
        &[
            ("email", 1.0, 1.0, 217, 0),
            ("phone", 1.0, 0.94, 200, 0),
            ("card", 1.0, 1.0, 183, 17),
            ("iban", 1.0, 1.0, 200, 0),
            ("ssn", 1.0, 1.0, 200, 0),
            ("ip_address", 1.0, 1.0, 200, 0),
        ],
    );
}

#[test]
fn the_stated_goal_holds_on_the_held_out_sample() {
    let path = format!("{}/data/pii-eval/heldout.jsonl", env!("CARGO_MANIFEST_DIR"));
    let records = score::load(&std::fs::read_to_string(path).unwrap()).unwrap();
    let report = score::evaluate(&DETECTOR, &records);
    for ((label, _), counts) in score::LABELS.iter().zip(&report.counts) {
        assert!(
            counts.recall() >= 0.95 && counts.precision() >= 0.9,
            "{label}\n{}",
            report.table()
        );
    }
}

#[test]
fn spans_are_byte_offsets_on_character_boundaries() {
    let records = score::load(
        r#"{"text": "Ünïcödé mail: ana@example.org", "spans": [{"start": 18, "end": 33, "label": "email"}]}"#,
    )
    .unwrap();
    assert_eq!(&records[0].text[records[0].spans[0].0.clone()], "ana@example.org");
    let report = score::evaluate(&DETECTOR, &records);
    assert_eq!(report.counts[0].true_positives, 1);
    assert!(score::load(r#"{"text": "é", "spans": [{"start": 1, "end": 2, "label": "email"}]}"#).is_err());
    assert!(score::load(r#"{"text": "x", "spans": [{"start": 0, "end": 1, "label": "name"}]}"#).is_err());
}
