//! The semantic cache's building blocks: a k = 1 search of 1,000, 4,096,
//! 10,000 and 100,000 vectors of 384 dimensions, by exact scan and through
//! the HNSW graph, over the same storage; an insert into a full index, which
//! evicts one entry; and the lexical guard on typical prompts, taking a
//! prompt's features and comparing two prompts.
//!
//! The graph is timed on two data sets and two kinds of query each.
//! Random unit vectors in 384 dimensions are nearly orthogonal to one
//! another, so the graph's links carry little information about where a
//! query's nearest vector lies: the worst case for a graph. Clustered
//! vectors are closer to what an embedder gives prompts on a few thousand
//! topics: one cluster centre for every 32 entries, each entry at a cosine
//! between 0.6 and 0.8 to its centre.
//!
//! A near duplicate is a stored vector with noise added, at a cosine of
//! about 0.95 to it: what a semantic cache looks up when a prompt is asked
//! again in other words. A fresh query is drawn like the stored vectors (a
//! random unit vector, or a new member of a random cluster) and has no
//! close match, only the least distant of many vectors. Each index size
//! and data set prints the graph's build time and its recall@1 for both:
//! for near duplicates, how often it returns the vector the query was made
//! from; for fresh queries, how often it agrees with the exact scan.
//!
//! Building the 100,000-entry graph takes a few minutes on a shared
//! two-core machine; a filter skips sizes not wanted, and a `$` anchors
//! it at the end of the name (`/10000` would also match 100,000):
//!
//! ```text
//! cargo bench --bench semantic_index -- --warm-up-time 1 --measurement-time 3 --sample-size 10 '/10000$'
//! cargo bench --bench semantic_index -- --warm-up-time 1 --measurement-time 3 --sample-size 10 '/100000$'
//! ```
//!
//! A filter on the data set's name (`random` or `clustered`) skips the
//! other set's build.

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
const SIZES: [usize; 4] = [1_000, 4_096, 10_000, 100_000];
/// Norm of the noise added to a stored vector to make a near duplicate:
/// the cosine between the two is about `1 / sqrt(1 + NOISE^2)`, 0.95.
const NOISE: f32 = 0.33;
const QUERIES: usize = 500;
/// Stored entries per cluster centre in the clustered set.
const PER_CLUSTER: usize = 32;

fn random_unit(rng: &mut fastrand::Rng) -> Vec<f32> {
    // Sum of uniforms: close enough to Gaussian for direction sampling.
    let mut v: Vec<f32> = (0..DIMENSIONS)
        .map(|_| (0..4).map(|_| rng.f32() - 0.5).sum())
        .collect();
    normalise(&mut v);
    v
}

fn normalise(v: &mut [f32]) {
    let norm = index::dot(v, v).sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
}

/// `source` with noise of norm `noise` in a random direction, normalised:
/// at a cosine of about `1 / sqrt(1 + noise^2)` to `source`.
fn noisy(source: &[f32], noise: f32, rng: &mut fastrand::Rng) -> Vec<f32> {
    let direction = random_unit(rng);
    let mut v: Vec<f32> = source
        .iter()
        .zip(&direction)
        .map(|(s, n)| s + noise * n)
        .collect();
    normalise(&mut v);
    v
}

/// The two data sets.
#[derive(Clone, Copy)]
enum Data {
    /// Random unit vectors.
    Random,
    /// Members of clusters, at a cosine of 0.6 to 0.8 to their centre.
    Clustered,
}

impl Data {
    fn name(self) -> &'static str {
        match self {
            Data::Random => "random",
            Data::Clustered => "clustered",
        }
    }
}

/// Draws vectors from one data set of `n` entries.
struct Source {
    centres: Vec<Vec<f32>>,
}

impl Source {
    fn new(data: Data, n: usize, rng: &mut fastrand::Rng) -> Self {
        let centres = match data {
            Data::Random => Vec::new(),
            Data::Clustered => (0..n.div_ceil(PER_CLUSTER)).map(|_| random_unit(rng)).collect(),
        };
        Self { centres }
    }

    fn draw(&self, rng: &mut fastrand::Rng) -> Vec<f32> {
        if self.centres.is_empty() {
            return random_unit(rng);
        }
        let centre = &self.centres[rng.usize(0..self.centres.len())];
        let cosine = 0.6 + 0.2 * rng.f32();
        noisy(centre, (1.0 / (cosine * cosine) - 1.0).sqrt(), rng)
    }
}

/// A full index of `n` vectors from `source` that searches through its
/// graph at any size; `search_exact` scans the same storage. Also returns
/// the vectors, to make near duplicates of.
fn graph_index(n: usize, source: &Source, rng: &mut fastrand::Rng) -> (VectorIndex, Vec<Vec<f32>>) {
    let mut index = VectorIndex::new(DIMENSIONS, n).with_exact_limit(0);
    let mut stored = Vec::with_capacity(n);
    for id in 0..n as u64 {
        let v = source.draw(rng);
        stored.push(v.clone());
        index
            .insert(id, v)
            .expect("a unit vector of the index's dimensions");
    }
    (index, stored)
}

/// Whether a filter given on the command line, a substring of the
/// benchmark's name or, ending in `$`, its end, keeps a search of `n`
/// entries of `data`. Building the largest graph takes a while, so sizes
/// the filter leaves out are not built. Numbers are taken for option
/// values (`--measurement-time 3`).
fn wanted(data: Data, n: usize) -> bool {
    let names = ["exact", "hnsw", "hnsw_near_duplicate"]
        .map(|kind| format!("semantic_index/search_k1/{}/{kind}/{n}", data.name()));
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .all(|filter| {
            names.iter().any(|name| match filter.strip_suffix('$') {
                Some(end) => name.ends_with(end),
                None => name.contains(&filter),
            })
        })
}

fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("semantic_index/search_k1");
    for data in [Data::Random, Data::Clustered] {
        let mut rng = fastrand::Rng::with_seed(1);
        for n in SIZES {
            if !wanted(data, n) {
                continue;
            }
            let source = Source::new(data, n, &mut rng);
            let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| source.draw(&mut rng)).collect();
            let started = std::time::Instant::now();
            let (index, stored) = graph_index(n, &source, &mut rng);
            let built = started.elapsed();
            let sources: Vec<u64> = (0..QUERIES).map(|_| rng.u64(0..n as u64)).collect();
            let duplicates: Vec<Vec<f32>> = sources
                .iter()
                .map(|&s| noisy(&stored[s as usize], NOISE, &mut rng))
                .collect();
            drop(stored);
            let agree = queries
                .iter()
                .filter(|q| {
                    index.search(q, 1, -1.0).first().map(|h| h.0)
                        == index.search_exact(q, 1, -1.0).first().map(|h| h.0)
                })
                .count();
            let found = duplicates
                .iter()
                .zip(&sources)
                .filter(|(q, &s)| index.search(q, 1, -1.0).first().map(|h| h.0) == Some(s))
                .count();
            eprintln!(
                "semantic_index: {} {n} entries, graph built in {:.1} s, recall@1 of the graph: \
                 near duplicates {:.3}, fresh queries {:.3}",
                data.name(),
                built.as_secs_f64(),
                found as f64 / QUERIES as f64,
                agree as f64 / QUERIES as f64
            );
            // The candidate list's width trades time for recall; the
            // index's default depends on its size.
            let mut index = index;
            for ef in [32, 64, 128, 256] {
                index = index.with_ef_search(Some(ef));
                let started = std::time::Instant::now();
                let found = duplicates
                    .iter()
                    .zip(&sources)
                    .filter(|(q, &s)| index.search(q, 1, -1.0).first().map(|h| h.0) == Some(s))
                    .count();
                let took = started.elapsed() / QUERIES as u32;
                eprintln!(
                    "semantic_index: {} {n} entries, width {ef}: near duplicates {:.3} in {:.0} µs a search",
                    data.name(),
                    found as f64 / QUERIES as f64,
                    took.as_secs_f64() * 1e6
                );
            }
            let index = index.with_ef_search(None);
            let name = |kind: &str| BenchmarkId::new(format!("{}/{kind}", data.name()), n);
            let mut next = queries.iter().cycle();
            group.bench_function(name("exact"), |b| {
                b.iter(|| index.search_exact(black_box(next.next().expect("cycles")), 1, -1.0));
            });
            let mut next = queries.iter().cycle();
            group.bench_function(name("hnsw"), |b| {
                b.iter(|| index.search(black_box(next.next().expect("cycles")), 1, -1.0));
            });
            let mut next = duplicates.iter().cycle();
            group.bench_function(name("hnsw_near_duplicate"), |b| {
                b.iter(|| index.search(black_box(next.next().expect("cycles")), 1, -1.0));
            });
        }
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
