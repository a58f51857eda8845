//! What finding personal data and secrets costs: every built-in detector
//! over a 2 KB prompt with a few entities in it, and over a 2 KB prompt with
//! none. The target for the whole guard pass is under 20 µs per prompt.
//!
//! Then the same with a custom pattern (run like a built-in one) and a deny
//! list (an Aho–Corasick automaton over a lower-case copy of the text).
//!
//! `adversarial`: texts made of one entity's prefix repeated, at 10,000 and
//! 80,000 bytes; equal throughput at both sizes shows no pattern rescans.
//!
//! Beside them, three ways of locating every built-in pattern's matches,
//! without the detector's gates and checks: each regex on its own (each
//! skipping to its literal, when it has one), a `RegexSet` read of the text
//! followed by the matched patterns' regexes, and one regex of named
//! alternatives whose captures say which pattern matched. The detector
//! runs the literal-led patterns the first way, and the digit-led ones the
//! second, but only over the windows of the text near its digits (see the
//! `guardrail::detect` module docs).
//!
//! ```text
//! cargo bench --bench guard_detect
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use regex::{Regex, RegexSet};
use tower_ai::guardrail::detect::Detector;

/// Ordinary prose, 2 KB of ASCII, with no entity in it.
fn clean_prompt() -> String {
    let paragraph = "Could you help me rewrite the introduction of our quarterly report? The draft says \
        that revenue grew in every region except the north, where two stores closed for renovation in \
        the spring. I would like the tone to be confident but not boastful, and the first paragraph \
        should mention the new delivery service, which customers have rated highly since it started. \
        Please keep it under two hundred words and avoid jargon such as synergy or leverage. ";
    let mut text = String::new();
    while text.len() < 2048 {
        text.push_str(paragraph);
    }
    text.truncate(2048);
    text
}

/// About 2 KB of a support request with an address, a phone number, a card
/// number, an IP address and a (fake) API key among the prose.
fn prompt_with_entities() -> String {
    let key = ["sk-", "proj-", "FAKEfakeFAKEfake", "0123456789abcdefghij"].concat();
    let mut text = format!(
        "Hello, my name is Jane and I am writing about order 48213. You can reach me at \
         jane.doe@example.org or on +1 415-555-0132 during office hours. The card ending the \
         payment was 5555 5555 5555 4444 and it was charged twice on the same day. Our integration \
         calls your API from 203.0.113.7 with the key {key}, in case you need to look at the logs. "
    );
    let clean = clean_prompt();
    text.push_str(&clean[..2048 - text.len()]);
    text
}

fn benches(c: &mut Criterion) {
    let detector = Detector::builder().build().unwrap();
    let texts = [
        ("entities_2k", prompt_with_entities()),
        ("clean_2k", clean_prompt()),
    ];
    assert!(
        detector.find(&texts[0].1).len() >= 5,
        "{:?}",
        detector.find(&texts[0].1)
    );
    assert!(detector.find(&texts[1].1).is_empty());

    let mut group = c.benchmark_group("detect");
    for (name, text) in &texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut findings = Vec::new();
        group.bench_function(*name, |b| {
            b.iter(|| {
                detector.find_into(black_box(text), &mut findings);
                black_box(findings.len())
            })
        });
    }
    let custom = Detector::builder()
        .pattern("EMPLOYEE_ID", r"EMP-[0-9]{6}")
        .unwrap()
        .deny_list("PROJECT", ["Bluebird", "Nightjar", "Kestrel"])
        .unwrap()
        .build()
        .unwrap();
    for (name, text) in &texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut findings = Vec::new();
        group.bench_function(format!("with_custom/{name}"), |b| {
            b.iter(|| {
                custom.find_into(black_box(text), &mut findings);
                black_box(findings.len())
            })
        });
    }
    group.finish();

    // Texts made of one entity's prefix over and over, at two sizes: the
    // time per byte should not grow with the text (no pattern rescans).
    let mut group = c.benchmark_group("adversarial");
    let begin = ["-----BEGIN ", "PRIVATE KEY-----\n"].concat();
    let units = [
        ("digits", "1 "),
        ("at_signs", "a@"),
        ("key_prefixes", "sk-"),
        ("jwt_heads", "eyJ."),
        ("url_credentials", "x://a:b@"),
        ("pem_begins", begin.as_str()),
        ("card_groups", "4111 "),
        ("mixed_tokens", "Aa1+"),
    ];
    for (name, unit) in units {
        for len in [10_000, 80_000] {
            let text = unit.repeat(len / unit.len());
            group.throughput(Throughput::Bytes(text.len() as u64));
            let mut findings = Vec::new();
            group.bench_function(format!("{name}/{len}"), |b| {
                b.iter(|| {
                    detector.find_into(black_box(&text), &mut findings);
                    black_box(findings.len())
                })
            });
        }
    }
    group.finish();

    // Locating matches only, all patterns, no gates: each regex, the set and
    // the matched regexes, one alternation with a named group per pattern.
    let sources: Vec<String> = detector
        .patterns()
        .map(|(_, source)| source.replace("(?P<value>", "(?:"))
        .collect();
    let set = RegexSet::new(&sources).unwrap();
    let regexes: Vec<Regex> = sources.iter().map(|s| Regex::new(s).unwrap()).collect();
    let alternation = Regex::new(
        &sources
            .iter()
            .enumerate()
            .map(|(i, s)| format!("(?P<p{i}>{s})"))
            .collect::<Vec<_>>()
            .join("|"),
    )
    .unwrap();
    let mut group = c.benchmark_group("locate");
    for (name, text) in &texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("each_regex/{name}"), |b| {
            b.iter(|| {
                let text = black_box(text);
                black_box(regexes.iter().map(|r| r.find_iter(text).count()).sum::<usize>())
            })
        });
        group.bench_function(format!("set_then_regexes/{name}"), |b| {
            b.iter(|| {
                let mut n = 0;
                for index in set.matches(black_box(text)).iter() {
                    n += regexes[index].find_iter(text).count();
                }
                black_box(n)
            })
        });
        group.bench_function(format!("alternation/{name}"), |b| {
            b.iter(|| {
                let mut n = 0;
                for captures in alternation.captures_iter(black_box(text)) {
                    n += captures.iter().skip(1).position(|m| m.is_some()).unwrap_or(0);
                }
                black_box(n)
            })
        });
    }
    group.finish();
}

criterion_group!(guard_detect, benches);
criterion_main!(guard_detect);
