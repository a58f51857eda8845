//! The semantic cache's building blocks: a k = 1 search of 1,000, 2,048, 4,096,
//! 10,000 and 50,000 vectors of 384 dimensions, by exact scan and through
//! the HNSW graph, over the same storage; an insert into a full index, which
//! evicts one entry; and the lexical guard on typical prompts, taking a
//! prompt's features and comparing two prompts.
//!
//! Each index size also prints the graph's recall@1 against the exact scan
//! over 500 random queries. The vectors are random unit vectors, the hardest
//! case for the graph: real embeddings cluster, and the graph finds their
//! neighbours more easily.
//!
//! ```text
//! cargo bench --bench semantic_index
//! ```

// The index and the guard are crate-private: the cache is their only user
// and their shapes may change with it. Rather than widen the crate's API
// with a hidden module for the bench's sake, the bench compiles the two
// files as modules of its own; both depend on nothing else in the crate.
#[allow(dead_code)]
#[path = "../src/cache/semantic/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "../src/cache/semantic/index.rs"]
mod index;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use guard::Features;
use index::VectorIndex;

const DIMENSIONS: usize = 384;
const SIZES: [usize; 5] = [1_000, 2_048, 4_096, 10_000, 50_000];
const QUERIES: usize = 500;

fn random_unit(rng: &mut fastrand::Rng) -> Vec<f32> {
    // Sum of uniforms: close enough to Gaussian for direction sampling.
    let mut v: Vec<f32> = (0..DIMENSIONS)
        .map(|_| (0..4).map(|_| rng.f32() - 0.5).sum())
        .collect();
    let norm = index::dot(&v, &v).sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// A full index of `n` random vectors that searches through its graph at
/// any size; `search_exact` scans the same storage.
fn graph_index(n: usize, rng: &mut fastrand::Rng) -> VectorIndex {
    let mut index = VectorIndex::new(DIMENSIONS, n).with_exact_limit(0);
    for id in 0..n as u64 {
        index
            .insert(id, random_unit(rng))
            .expect("a unit vector of the index's dimensions");
    }
    index
}

fn search(c: &mut Criterion) {
    let mut rng = fastrand::Rng::with_seed(1);
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| random_unit(&mut rng)).collect();
    let mut group = c.benchmark_group("semantic_index/search_k1");
    for n in SIZES {
        let index = graph_index(n, &mut rng);
        let agree = queries
            .iter()
            .filter(|q| {
                index.search(q, 1, -1.0).first().map(|h| h.0)
                    == index.search_exact(q, 1, -1.0).first().map(|h| h.0)
            })
            .count();
        eprintln!(
            "semantic_index: {n} entries, recall@1 of the graph {:.3}",
            agree as f64 / QUERIES as f64
        );
        let mut next = queries.iter().cycle();
        group.bench_function(BenchmarkId::new("exact", n), |b| {
            b.iter(|| index.search_exact(black_box(next.next().expect("cycles")), 1, -1.0));
        });
        let mut next = queries.iter().cycle();
        group.bench_function(BenchmarkId::new("hnsw", n), |b| {
            b.iter(|| index.search(black_box(next.next().expect("cycles")), 1, -1.0));
        });
    }
    group.finish();
}

fn insert(c: &mut Criterion) {
    let mut rng = fastrand::Rng::with_seed(2);
    let vectors: Vec<Vec<f32>> = (0..QUERIES).map(|_| random_unit(&mut rng)).collect();
    let mut group = c.benchmark_group("semantic_index/insert_full");
    for n in [2_048, 10_000] {
        for (name, exact_limit) in [("exact", usize::MAX), ("hnsw", 0)] {
            let mut index = VectorIndex::new(DIMENSIONS, n).with_exact_limit(exact_limit);
            for id in 0..n as u64 {
                index.insert(id, random_unit(&mut rng)).expect("a valid vector");
            }
            let mut id = n as u64;
            let mut next = vectors.iter().cycle();
            // Amortises the graph's rebuild, one per `n` evictions.
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    id += 1;
                    index.insert(id, next.next().expect("cycles").clone())
                });
            });
        }
    }
    group.finish();
}

const PROMPTS: [&str; 6] = [
    "How do I enable dark mode in VS Code?",
    "how can I turn on dark mode in vs code",
    "What is new in Python 3.12 compared to 3.11?",
    "Translate 'good morning' to French, keeping the tone informal.",
    "Why doesn't my Rust build find `serde_json` when I run cargo test?",
    "Summarise the following paragraph in two sentences: The quarterly report \
     shows revenue of $4.2M, up 12% from Q2, driven by the EU launch.",
];

fn guard(c: &mut Criterion) {
    let mut group = c.benchmark_group("semantic_guard");
    group.bench_function("features_of", |b| {
        b.iter(|| {
            for prompt in PROMPTS {
                black_box(Features::of(black_box(prompt)));
            }
        });
    });
    let features: Vec<Features> = PROMPTS.iter().map(|p| Features::of(p)).collect();
    group.bench_function("conflict_stored_features", |b| {
        b.iter(|| {
            for a in &features {
                for stored in &features {
                    black_box(a.conflict(black_box(stored)));
                }
            }
        });
    });
    group.bench_function("conflict_paraphrase", |b| {
        b.iter(|| guard::conflict(black_box(PROMPTS[0]), black_box(PROMPTS[1])));
    });
    group.finish();
}

criterion_group!(benches, search, insert, guard);
criterion_main!(benches);
