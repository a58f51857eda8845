//! The local embedder (all-MiniLM-L6-v2 on candle) against the reference
//! cosines of `data/semantic-eval/pairs.jsonl`.
//!
//! The model's directory comes from `TOWER_AI_MINILM_DIR`; when it is unset
//! or missing the tests say so in one line and return, unless
//! `TOWER_AI_REQUIRE_MINILM=1` (as in CI), when they fail.

use std::path::PathBuf;

use tower_ai::cache::{Embedder, LocalEmbedder};

/// How far a cosine may be from the reference figure.
const TOLERANCE: f32 = 1e-3;

fn model_dir() -> Option<PathBuf> {
    let required = std::env::var("TOWER_AI_REQUIRE_MINILM").is_ok_and(|v| v == "1");
    let why = match std::env::var_os("TOWER_AI_MINILM_DIR") {
        None => "TOWER_AI_MINILM_DIR is not set".to_string(),
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.join("model.safetensors").is_file() {
                return Some(dir);
            }
            format!("TOWER_AI_MINILM_DIR={} holds no model.safetensors", dir.display())
        }
    };
    if required {
        panic!("{why}, and TOWER_AI_REQUIRE_MINILM=1");
    }
    println!("skipping the local embedder test: {why} (see docs/caching.md, \"A local embedder\")");
    None
}

fn embedder() -> Option<LocalEmbedder> {
    model_dir().map(|dir| LocalEmbedder::from_dir(dir).expect("the model loads"))
}

/// The largest difference between two vectors' coordinates.
fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max)
}

struct Pair {
    id: String,
    a: String,
    b: String,
    cosine: f32,
}

fn sample() -> Vec<Pair> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/semantic-eval/pairs.jsonl");
    let text = std::fs::read_to_string(path).expect("pairs.jsonl");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 600);
    // Every tenth pair: 60 pairs over every category.
    rows.iter()
        .step_by(10)
        .map(|row| Pair {
            id: row["id"].as_str().unwrap().to_string(),
            a: row["a"].as_str().unwrap().to_string(),
            b: row["b"].as_str().unwrap().to_string(),
            cosine: row["minilm_cosine"].as_f64().unwrap() as f32,
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn cosines_match_the_reference_figures() {
    let Some(embedder) = embedder() else { return };
    let pairs = sample();
    assert_eq!(pairs.len(), 60);

    // The 120 texts ordered by length, then dealt into batches of 12 that
    // each take from both ends: every batch mixes short and long texts, so
    // most rows are padded.
    let mut texts: Vec<&str> = pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]).collect();
    texts.sort_by_key(|t| t.len());
    texts.dedup();
    let mut dealt = Vec::with_capacity(texts.len());
    let (mut lo, mut hi) = (0, texts.len());
    while lo < hi {
        dealt.push(texts[lo]);
        lo += 1;
        if lo < hi {
            hi -= 1;
            dealt.push(texts[hi]);
        }
    }
    let mut vectors = std::collections::HashMap::new();
    for batch in dealt.chunks(12) {
        let batch: Vec<String> = batch.iter().map(|t| t.to_string()).collect();
        let embedded = embedder.embed(&batch).await.expect("the batch embeds");
        assert_eq!(embedded.len(), batch.len());
        for (text, vector) in batch.into_iter().zip(embedded) {
            assert_eq!(vector.len(), 384);
            let norm = dot(&vector, &vector).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm} for {text:?}");
            vectors.insert(text, vector);
        }
    }

    let mut max_diff = 0f32;
    let mut worst = "";
    for pair in &pairs {
        let cosine = dot(&vectors[&pair.a], &vectors[&pair.b]);
        let diff = (cosine - pair.cosine).abs();
        assert!(
            diff <= TOLERANCE,
            "{}: cosine {cosine:.5}, reference {:.5}",
            pair.id,
            pair.cosine
        );
        if diff > max_diff {
            max_diff = diff;
            worst = &pair.id;
        }
    }
    println!("local embedder: 60 pairs, max cosine difference {max_diff:.2e} ({worst})");
}

#[tokio::test]
async fn padding_does_not_leak_into_a_shorter_text() {
    let Some(embedder) = embedder() else { return };
    let short = "Is the clinic open on Sundays?".to_string();
    let long = "Which documents do I need to bring to renew a passport for a child under sixteen \
                whose parents are divorced and live in different countries?"
        .to_string();
    let alone = embedder.embed(std::slice::from_ref(&short)).await.unwrap();
    let batched = embedder
        .embed(&[long.clone(), short.clone(), long])
        .await
        .unwrap();
    let diff = max_difference(&alone[0], &batched[1]);
    assert!(
        diff < 1e-5,
        "the short text moved by {diff} when batched with a longer one"
    );
    assert!(dot(&alone[0], &batched[1]) > 0.99999);
}

#[tokio::test]
async fn a_text_past_256_word_pieces_is_cut_not_refused() {
    let Some(embedder) = embedder() else { return };
    let long = "the cat sat on the mat and ".repeat(100);
    let cut = embedder.embed(std::slice::from_ref(&long)).await.unwrap();
    assert_eq!(cut[0].len(), 384);
    assert!((dot(&cut[0], &cut[0]).sqrt() - 1.0).abs() < 1e-5);
    // Past the limit, more words change nothing: both are cut to 256.
    let longer = embedder
        .embed(&[format!("{long} and then it slept")])
        .await
        .unwrap();
    let diff = max_difference(&cut[0], &longer[0]);
    assert!(diff < 1e-6, "{diff}");
}

#[tokio::test]
async fn no_texts_no_vectors() {
    let Some(embedder) = embedder() else { return };
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}
