//! The local embedder's cost: all-MiniLM-L6-v2 on candle, on the CPU, through
//! `LocalEmbedder::embed_blocking` (the forward pass `embed` runs on a
//! blocking thread): one short prompt, one prompt cut at 256 word pieces,
//! and a batch of 16 prompts of the semantic-eval set.
//!
//! Needs the model's directory in `TOWER_AI_MINILM_DIR` (see "A local
//! embedder" in `docs/caching.md`); without it the bench says so and
//! measures nothing.
//!
//! ```text
//! TOWER_AI_MINILM_DIR=... cargo bench --bench local_embedder --features local-embedder
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tower_ai::cache::LocalEmbedder;

fn prompts(n: usize) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/semantic-eval/pairs.jsonl");
    std::fs::read_to_string(path)
        .expect("pairs.jsonl")
        .lines()
        .step_by(37)
        .take(n)
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            row["a"].as_str().expect("a prompt").to_string()
        })
        .collect()
}

fn local_embedder(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("TOWER_AI_MINILM_DIR") else {
        println!("skipping the local embedder bench: TOWER_AI_MINILM_DIR is not set");
        return;
    };
    let embedder = LocalEmbedder::from_dir(dir).expect("the model loads");

    let mut group = c.benchmark_group("local_embedder");
    let short = vec!["How do I reset my password?".to_string()];
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_short_prompt", |b| {
        b.iter(|| embedder.embed_blocking(black_box(&short)).unwrap())
    });
    let long = vec!["the cat sat on the mat and ".repeat(60)];
    group.bench_function("one_prompt_of_256_pieces", |b| {
        b.iter(|| embedder.embed_blocking(black_box(&long)).unwrap())
    });
    let batch = prompts(16);
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("batch_of_16_prompts", |b| {
        b.iter(|| embedder.embed_blocking(black_box(&batch)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, local_embedder);
criterion_main!(benches);
