//! Measures the default [`Detector`]'s precision and recall per entity kind
//! on span-labelled texts, and prints them as a Markdown table.
//!
//! ```text
//! cargo run --release --features guardrail --example pii_eval -- data/pii-eval/heldout.jsonl
//! cargo run --release --features guardrail --example pii_eval -- data/pii-eval/tune.jsonl --errors
//! ```
//!
//! The input is JSONL, one `{"text": ..., "spans": [{"start", "end",
//! "label"}]}` a line, offsets in UTF-8 bytes, labels `email`, `phone`,
//! `card`, `iban`, `ssn` and `ip_address` (`data/pii-eval/prepare.py`
//! writes such files). The matching rule is in `pii_eval/score.rs`: a
//! finding counts when it overlaps a labelled span of its kind. With
//! `--errors`, each miss and false positive is listed after the table.
//!
//! [`Detector`]: tower_ai::guardrail::detect::Detector

#[cfg(feature = "guardrail")]
#[path = "pii_eval/score.rs"]
mod score;

#[cfg(feature = "guardrail")]
fn main() -> std::process::ExitCode {
    use std::process::ExitCode;

    use tower_ai::guardrail::detect::Detector;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let errors = args.iter().any(|a| a == "--errors");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: pii_eval DATA.jsonl [--errors]");
        return ExitCode::FAILURE;
    };
    let records = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|jsonl| score::load(&jsonl))
    {
        Ok(records) => records,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let detector = match Detector::builder().build() {
        Ok(detector) => detector,
        Err(e) => {
            eprintln!("the detector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = score::evaluate(&detector, &records);
    println!("{} records from {path}\n", report.records);
    print!("{}", report.table());
    if !report.unscored.is_empty() {
        println!("\nFindings of kinds not scored: {:?}", report.unscored);
    }
    if errors {
        for (what, list) in [
            ("miss", &report.misses),
            ("false positive", &report.false_positives),
        ] {
            println!();
            for e in list {
                println!("{what} {}: {:?} in {:?}", e.label, e.value, e.record);
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(not(feature = "guardrail"))]
fn main() {
    eprintln!("pii_eval needs the guardrail feature: cargo run --features guardrail --example pii_eval -- DATA.jsonl");
}
