//! Measures the prompt-injection scorer on a labelled JSONL file: precision,
//! recall and false-positive rate at several thresholds.
//!
//! ```text
//! cargo run --release --example injection_eval -- data/injection-eval/sample.jsonl [--split tune|heldout] [--misses 0.5]
//! ```
//!
//! Each line is a JSON object with `text` and `label` (1 for an injection,
//! 0 for a benign text), and optionally `split` and `category`. `--misses T`
//! lists the texts scored wrong at threshold `T`.

use std::process::ExitCode;

use tower_ai::guardrail::injection::InjectionScorer;

const THRESHOLDS: [f32; 7] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut paths = Vec::new();
    let mut split: Option<String> = None;
    let mut misses: Option<f32> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--split" => {
                split = args.get(i + 1).cloned();
                i += 1;
            }
            "--misses" => {
                misses = args.get(i + 1).and_then(|t| t.parse().ok());
                i += 1;
            }
            path => paths.push(path.to_owned()),
        }
        i += 1;
    }
    if paths.is_empty() {
        eprintln!("usage: injection_eval FILE.jsonl... [--split tune|heldout] [--misses THRESHOLD]");
        return ExitCode::FAILURE;
    }

    let scorer = InjectionScorer::default();
    let mut scored: Vec<(f32, bool, String, String)> = Vec::new();
    for path in &paths {
        let content = match std::fs::read_to_string(path) {
            Ok(content) => content,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        for (n, line) in content.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: serde_json::Value = match serde_json::from_str(line) {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("{path}:{}: {e}", n + 1);
                    return ExitCode::FAILURE;
                }
            };
            if let Some(split) = &split {
                if row["split"].as_str() != Some(split.as_str()) {
                    continue;
                }
            }
            let text = row["text"].as_str().unwrap_or_default().to_owned();
            let label = row["label"].as_i64() == Some(1);
            let category = row["category"].as_str().unwrap_or("").to_owned();
            scored.push((scorer.score(&text).score, label, category, text));
        }
    }

    let positives = scored.iter().filter(|s| s.1).count();
    println!(
        "{} texts: {positives} injections, {} benign{}",
        scored.len(),
        scored.len() - positives,
        split
            .as_deref()
            .map(|s| format!(" (split {s})"))
            .unwrap_or_default()
    );
    println!("| threshold | precision | recall | false-positive rate | TP | FP | FN | TN |");
    println!("|---|---|---|---|---|---|---|---|");
    for t in THRESHOLDS {
        let tp = scored.iter().filter(|s| s.1 && s.0 >= t).count();
        let fp = scored.iter().filter(|s| !s.1 && s.0 >= t).count();
        let fn_ = scored.iter().filter(|s| s.1 && s.0 < t).count();
        let tn = scored.iter().filter(|s| !s.1 && s.0 < t).count();
        let ratio = |a: usize, b: usize| {
            if b == 0 {
                "n/a".to_owned()
            } else {
                format!("{:.3}", a as f64 / b as f64)
            }
        };
        println!(
            "| {t:.1} | {} | {} | {} | {tp} | {fp} | {fn_} | {tn} |",
            ratio(tp, tp + fp),
            ratio(tp, tp + fn_),
            ratio(fp, fp + tn)
        );
    }
    if let Some(t) = misses {
        for (score, label, category, text) in &scored {
            if (*score >= t) != *label {
                let kind = if *label { "missed" } else { "false positive" };
                let short: String = text.chars().take(160).collect();
                println!("{kind} ({score:.2}, {category}): {short:?}");
            }
        }
    }
    ExitCode::SUCCESS
}
