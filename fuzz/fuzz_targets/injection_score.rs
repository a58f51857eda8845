//! The prompt-injection scorer (`InjectionScorer::score`): the input, read
//! as UTF-8 (invalid bytes replaced), is scored by the built-in scorer and by
//! one with extra phrases, then again after a benign ASCII prefix. The score
//! is in `0..=1` and equals the signals combined as the docs say (the
//! strongest of each kind, `1 - Π(1 - w)`); every signal's range is in
//! bounds on character boundaries, its weight in `0..=1`, in text order;
//! scoring twice gives the same result.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_ai::guardrail::injection::{InjectionScore, InjectionScorer, SignalKind};

static BUILT_IN: LazyLock<InjectionScorer> = LazyLock::new(InjectionScorer::default);

static CUSTOM: LazyLock<InjectionScorer> = LazyLock::new(|| {
    InjectionScorer::builder()
        .threshold(0.4)
        .phrase("open the pod bay doors")
        .weighted_phrase("reveal the vault", 0.9)
        .build()
        .expect("a scorer")
});

/// The strongest signal of each kind, combined as independent evidence.
fn reference(score: &InjectionScore) -> f32 {
    let mut strongest: Vec<(SignalKind, f32)> = Vec::new();
    for s in &score.signals {
        match strongest.iter_mut().find(|(k, _)| *k == s.kind) {
            Some((_, w)) => *w = w.max(s.weight),
            None => strongest.push((s.kind, s.weight)),
        }
    }
    1.0 - strongest.iter().map(|(_, w)| 1.0 - w).product::<f32>()
}

fn check(scorer: &InjectionScorer, text: &str) {
    let score = scorer.score(text);
    assert!((0.0..=1.0).contains(&score.score), "score {}", score.score);
    assert_eq!(score.threshold, scorer.threshold());
    assert_eq!(score.is_injection(), score.score >= score.threshold);
    let mut last = (0, 0);
    for s in &score.signals {
        assert!(
            s.range.start <= s.range.end && s.range.end <= text.len(),
            "{s:?} in {} bytes",
            text.len()
        );
        assert!(
            text.is_char_boundary(s.range.start) && text.is_char_boundary(s.range.end),
            "{s:?} not on character boundaries"
        );
        assert_eq!(s.text(text), &text[s.range.clone()]);
        assert!((0.0..=1.0).contains(&s.weight), "{s:?}");
        assert!(
            (s.range.start, s.range.end) >= last,
            "signals out of order: {:?}",
            score.signals
        );
        last = (s.range.start, s.range.end);
    }
    if score.signals.is_empty() {
        assert_eq!(score.score, 0.0);
    }
    let expected = reference(&score);
    assert!(
        (score.score - expected).abs() <= 1e-5,
        "{} vs {expected}",
        score.score
    );
    if let Some(strongest) = score.strongest() {
        assert!(score.score + 1e-6 >= strongest.weight, "{score:?}");
    }
    assert_eq!(scorer.score(text), score, "a second scoring differs");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for scorer in [&*BUILT_IN, &*CUSTOM] {
        check(scorer, &text);
        check(scorer, &format!("Please summarise this: {text}"));
    }
});
