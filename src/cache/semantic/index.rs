//! A bounded vector index for one tenant's cached prompts.
//!
//! Vectors arrive L2-normalised, so cosine similarity is a dot product.
//! Up to [`EXACT_LIMIT`] entries the index scans them all: the vectors sit
//! in one contiguous `Vec<f32>` and the dot product runs over fixed-size
//! chunks that the compiler turns into SIMD. Past that it builds an HNSW
//! graph (Malkov and Yashunin, 2016) and searches it approximately.
//!
//! The graph walks on a second copy of the vectors quantised to `i8`, one
//! scale per vector: a walk reads vectors in no useful order and is bound
//! by memory, and a code is a quarter of the vector's size (384 bytes
//! against 1.5 KB at 384 dimensions). The integer dot product vectorises
//! with the SSE2 baseline, and the codes of the neighbours about to be
//! scored are read one byte per cache line first, so their loads overlap.
//! A quantised similarity was within 0.002 of the exact one (0.0005 root
//! mean square) over 90,000 pairs of random unit vectors of 384
//! dimensions; the candidates the walk returns that may be among the best
//! `k` and above the threshold are re-scored with the `f32` vectors, so
//! the similarities returned, and the threshold, are exact. The codes add
//! a quarter to the index's memory.
//!
//! The graph is written here rather than taken from a crate. `hnsw_rs`
//! inserts incrementally but cannot delete, and brings about a hundred
//! crates (`env_logger`, `mmap-rs`, `rayon`, a second `rand`);
//! `instant-distance` is light but builds once from a full set, with
//! neither insert nor delete. A cache inserts on every miss and evicts on
//! every insert once full, so it needs both. The graph below is about two
//! hundred lines, uses no dependency beyond `fastrand`, and is checked
//! against the exact scan in the tests.
//!
//! Deletion marks a tombstone: the node keeps routing searches but is never
//! returned. When tombstones outnumber live entries the storage is
//! compacted and the graph rebuilt from the live vectors, so memory stays
//! within twice the capacity and the rebuild's cost, a pause of its own on
//! the insert or remove that triggers it, is spread over as many operations
//! as there are entries.
//!
//! Eviction is FIFO: when full, an insert evicts the entry inserted
//! earliest. LRU would make every search a write, serialising the readers
//! of a tenant's index; a cache that wants hit-aware eviction can remove
//! and re-insert an entry on a hit.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// Entries up to which search is an exact scan.
///
/// Measured with `benches/semantic_index.rs` (`cargo bench --bench
/// semantic_index -- --warm-up-time 1 --measurement-time 3 --sample-size 10
/// '/100000$'`, and likewise for the other sizes; 384 dimensions, one core
/// of a shared two-core machine, so expect noise of twenty per cent or
/// more). A k = 1 search took, exact scan against graph, with the graph's
/// recall@1 for near duplicates (a stored vector plus noise, cosine 0.95
/// to it: found the vector it was made from) and for fresh queries (drawn
/// like the stored vectors: agreed with the scan), on random unit vectors
/// and on clustered ones (a centre per 32 entries, each at a cosine of 0.6
/// to 0.8 to its centre):
///
/// | entries | data      | exact   | graph, near dup. | graph, fresh | recall@1 near dup. | recall@1 fresh |
/// |--------:|-----------|--------:|-----------------:|-------------:|-------------------:|---------------:|
/// |   4,096 | random    | 304 µs  | 109 µs           | 119 µs       | 1.00               | 0.67           |
/// |   4,096 | clustered | 302 µs  | 123 µs           | 92 µs        | 1.00               | 1.00           |
/// |  10,000 | random    | 1.0 ms  | 0.13 ms          | 0.15 ms      | 1.00               | 0.42           |
/// |  10,000 | clustered | 0.73 ms | 0.10 ms          | 0.11 ms      | 1.00               | 1.00           |
/// | 100,000 | random    | 16 ms   | 0.54 ms          | 0.58 ms      | 0.98               | 0.13           |
/// | 100,000 | clustered | 14 ms   | 0.63 ms          | 0.52 ms      | 1.00               | 1.00           |
///
/// The graph's recall on random fresh queries falls with size: random
/// vectors in 384 dimensions are nearly orthogonal (the cosine between
/// two has a standard deviation of 1/sqrt(384), about 0.05), so the
/// nearest one is hardly nearer than the rest and the graph's links say
/// little about where it lies. A near duplicate stands out, and clustered
/// vectors have real neighbours. `docs/benchmarks.md` has the figures
/// before the graph walked on quantised vectors, and the recall at other
/// search widths.
///
/// The scan and the graph crossed near 4,096 entries before the graph
/// walked on quantised vectors; they now cross lower, but below this
/// limit the scan still saves the graph's inserts: an insert into a full index took
/// about 2 µs exact against 0.8 ms with the graph at 10,000 entries (the
/// rebuild amortised in).
pub(crate) const EXACT_LIMIT: usize = 4_096;

/// Neighbours per node on the upper layers.
const M: usize = 16;
/// Neighbours per node on the bottom layer.
const M0: usize = 2 * M;
/// Width of the candidate list while inserting. At 100,000 random vectors
/// 200 against 100 raised the near-duplicate recall of a 128-wide search
/// from 0.96 to 0.98 and doubled the build, to about 90 s.
const EF_CONSTRUCTION: usize = 200;
/// Width of the candidate list while searching a graph of more than
/// [`SMALL_GRAPH`] entries (at least `k`). At 100,000 random vectors, 64
/// found 0.89 of near duplicates, 128 found 0.98, and 256 found 1.00 in
/// about twice the time of 128.
pub(crate) const EF_SEARCH: usize = 128;
/// Width of the candidate list while searching a graph of up to
/// [`SMALL_GRAPH`] entries: at 10,000 entries 64 found every near
/// duplicate, random or clustered, in about half the time of 128.
const SMALL_EF_SEARCH: usize = 64;
/// Entries up to which a search uses [`SMALL_EF_SEARCH`]; between 10,000
/// and 100,000 entries, where the two widths were measured, the switch is
/// not measured.
const SMALL_GRAPH: usize = 32_768;
/// How far below the threshold, or below the k-th best quantised
/// similarity, a candidate's quantised similarity may be and still be
/// re-scored exactly: well beyond the quantisation's error, which for unit
/// vectors of 384 dimensions is about 0.002.
const RERANK_SLACK: f32 = 0.05;
/// Highest layer a node can be drawn on.
const MAX_LEVEL: usize = 12;
/// Largest capacity: storage holds up to twice the capacity, and slots are `u32`.
const MAX_CAPACITY: usize = (u32::MAX / 4) as usize;

/// Why a vector was not inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum IndexError {
    /// The vector's length is not the index's dimensions.
    #[error("vector has {found} dimensions, the index {expected}")]
    Dimensions {
        /// The index's dimensions.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// The vector holds a NaN or an infinity.
    #[error("vector holds a value that is not finite")]
    NotFinite,
}

/// A bounded index of L2-normalised vectors keyed by `u64` ids.
#[derive(Debug)]
pub(crate) struct VectorIndex {
    dimensions: usize,
    capacity: usize,
    /// Entries up to which search is an exact scan.
    exact_limit: usize,
    /// Slot `s` holds `vectors[s * dimensions..(s + 1) * dimensions]`.
    vectors: Vec<f32>,
    /// The same vectors quantised to `i8`, which the graph walks on: slot
    /// `s` holds `codes[s * dimensions..(s + 1) * dimensions]`, scaled by
    /// `scales[s]`.
    codes: Vec<i8>,
    /// The scale of each slot's code.
    scales: Vec<f32>,
    /// The id in each slot.
    ids: Vec<u64>,
    /// The insertion number of each slot, to tell a live entry in `order`
    /// from a stale one.
    seqs: Vec<u64>,
    /// False for a tombstone (only while a graph is built).
    alive: Vec<bool>,
    /// Live id to slot.
    slots: HashMap<u64, u32, foldhash::fast::RandomState>,
    /// Ids in insertion order, with their insertion numbers; entries whose
    /// id was removed since are skipped when evicting.
    order: VecDeque<(u64, u64)>,
    next_seq: u64,
    tombstones: usize,
    /// Width of the graph's candidate list while searching, when set; by
    /// default it depends on the number of entries.
    ef_search: Option<usize>,
    /// Present above `exact_limit` entries.
    graph: Option<Graph>,
}

impl VectorIndex {
    /// An empty index of vectors with `dimensions` components, holding at
    /// most `capacity` entries (at least one), searched exactly up to
    /// [`EXACT_LIMIT`] entries.
    pub(crate) fn new(dimensions: usize, capacity: usize) -> Self {
        Self {
            dimensions,
            capacity: capacity.clamp(1, MAX_CAPACITY),
            exact_limit: EXACT_LIMIT,
            vectors: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            ids: Vec::new(),
            seqs: Vec::new(),
            alive: Vec::new(),
            slots: HashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            tombstones: 0,
            ef_search: None,
            graph: None,
        }
    }

    /// Sets the number of entries up to which search is an exact scan; past
    /// it the index builds its graph. Zero builds the graph from the first
    /// entry. Set it on an empty index.
    #[must_use]
    #[cfg_attr(not(test), allow(dead_code))] // the tests and the bench reach the graph at small sizes
    pub(crate) fn with_exact_limit(mut self, limit: usize) -> Self {
        debug_assert!(self.is_empty(), "the exact limit is set on an empty index");
        self.exact_limit = limit;
        self
    }

    /// Sets the width of the graph's candidate list while searching
    /// (default [`SMALL_EF_SEARCH`] up to [`SMALL_GRAPH`] entries,
    /// [`EF_SEARCH`] above): wider finds more and takes longer. `None`
    /// restores the default.
    #[must_use]
    #[allow(dead_code)] // the bench compares widths
    pub(crate) fn with_ef_search(mut self, ef: Option<usize>) -> Self {
        self.ef_search = ef.map(|ef| ef.max(1));
        self
    }

    /// The width of the graph's candidate list for a search now.
    fn ef_search(&self) -> usize {
        self.ef_search.unwrap_or(if self.len() <= SMALL_GRAPH {
            SMALL_EF_SEARCH
        } else {
            EF_SEARCH
        })
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the index holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether searches go through the HNSW graph.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_approximate(&self) -> bool {
        self.graph.is_some()
    }

    /// Adds `vector` under `id`, replacing an entry of the same id. When the
    /// index is full, evicts the entry inserted earliest and returns its id,
    /// so the caller can drop what it keeps for that entry in the same step.
    pub(crate) fn insert(&mut self, id: u64, vector: Vec<f32>) -> Result<Option<u64>, IndexError> {
        if vector.len() != self.dimensions {
            return Err(IndexError::Dimensions {
                expected: self.dimensions,
                found: vector.len(),
            });
        }
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(IndexError::NotFinite);
        }
        self.remove(id);
        let evicted = if self.len() >= self.capacity {
            self.evict_oldest()
        } else {
            None
        };

        let slot = self.ids.len();
        self.vectors.extend_from_slice(&vector);
        let scale = quantise(&vector, &mut self.codes);
        self.scales.push(scale);
        self.ids.push(id);
        self.seqs.push(self.next_seq);
        self.alive.push(true);
        self.slots.insert(id, slot_u32(slot));
        self.order.push_back((id, self.next_seq));
        self.next_seq += 1;
        if self.order.len() > 2 * self.capacity + 16 {
            let slots = &self.slots;
            let seqs = &self.seqs;
            self.order
                .retain(|(id, seq)| slots.get(id).is_some_and(|&s| seqs[s as usize] == *seq));
        }

        let over_limit = self.len() > self.exact_limit;
        match &mut self.graph {
            Some(graph) => graph.insert(
                Quantised {
                    codes: &self.codes,
                    scales: &self.scales,
                    d: self.dimensions,
                },
                slot_u32(slot),
            ),
            None if over_limit => self.rebuild(),
            None => {}
        }
        Ok(evicted)
    }

    /// Removes the entry of `id`; false when there was none.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        let slot = slot as usize;
        if self.graph.is_some() {
            self.alive[slot] = false;
            self.tombstones += 1;
            if self.tombstones > self.slots.len() {
                self.rebuild();
            }
        } else {
            // Exact mode keeps the slots dense: the last slot moves into the hole.
            let last = self.ids.len() - 1;
            if slot != last {
                let d = self.dimensions;
                self.vectors.copy_within(last * d..(last + 1) * d, slot * d);
                self.codes.copy_within(last * d..(last + 1) * d, slot * d);
                self.scales[slot] = self.scales[last];
                self.ids[slot] = self.ids[last];
                self.seqs[slot] = self.seqs[last];
                self.slots.insert(self.ids[slot], slot_u32(slot));
            }
            self.vectors.truncate(last * self.dimensions);
            self.codes.truncate(last * self.dimensions);
            self.scales.truncate(last);
            self.ids.truncate(last);
            self.seqs.truncate(last);
            self.alive.truncate(last);
        }
        true
    }

    /// Up to `k` entries whose similarity to `query` is at least
    /// `min_similarity`, best first. A query of other dimensions than the
    /// index's, a query holding a NaN or an infinity, and a NaN
    /// `min_similarity` match nothing.
    pub(crate) fn search(&self, query: &[f32], k: usize, min_similarity: f32) -> Vec<(u64, f32)> {
        if !self.searchable(query, k, min_similarity) || self.is_empty() {
            return Vec::new();
        }
        match &self.graph {
            None => self.search_exact(query, k, min_similarity),
            Some(graph) => {
                let mut code = Vec::with_capacity(self.dimensions);
                let scale = quantise(query, &mut code);
                let found = graph.search(
                    self.quantised(),
                    (&code, scale),
                    k.max(self.ef_search()),
                    &self.alive,
                );
                // The walk ranks by the quantised similarity; the candidates
                // that may be above the threshold and among the best `k`
                // are re-scored exactly. The k-th best quantised similarity
                // is within the error of an exact one at least as good, so
                // no exact top-k candidate is more than twice the error
                // below it.
                let kth = found.get(k - 1).map_or(f32::NEG_INFINITY, |c| c.sim);
                let floor = min_similarity.max(kth) - RERANK_SLACK;
                let mut hits: Vec<(u64, f32)> = found
                    .into_iter()
                    .filter(|c| c.sim >= floor)
                    .map(|c| {
                        let sim = dot(query, vector_of(&self.vectors, self.dimensions, c.node));
                        (self.ids[c.node as usize], sim)
                    })
                    .filter(|&(_, sim)| sim >= min_similarity)
                    .collect();
                hits.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
                hits.truncate(k);
                hits
            }
        }
    }

    /// The quantised vectors, as the graph reads them.
    fn quantised(&self) -> Quantised<'_> {
        Quantised {
            codes: &self.codes,
            scales: &self.scales,
            d: self.dimensions,
        }
    }

    /// The exact answer to [`search`](Self::search), by scanning every live
    /// entry whichever mode the index is in.
    pub(crate) fn search_exact(&self, query: &[f32], k: usize, min_similarity: f32) -> Vec<(u64, f32)> {
        if !self.searchable(query, k, min_similarity) {
            return Vec::new();
        }
        let mut best: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k.min(self.len()) + 1);
        for slot in 0..self.ids.len() {
            if !self.alive[slot] {
                continue;
            }
            let sim = dot(query, vector_of(&self.vectors, self.dimensions, slot_u32(slot)));
            if sim < min_similarity {
                continue;
            }
            if best.len() < k {
                best.push(Reverse(Scored {
                    sim,
                    node: slot_u32(slot),
                }));
            } else if best.peek().is_some_and(|worst| sim > worst.0.sim) {
                best.pop();
                best.push(Reverse(Scored {
                    sim,
                    node: slot_u32(slot),
                }));
            }
        }
        let mut hits: Vec<(u64, f32)> = best
            .into_iter()
            .map(|Reverse(c)| (self.ids[c.node as usize], c.sim))
            .collect();
        hits.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        hits
    }

    /// Whether a search for `query` can find anything at all.
    fn searchable(&self, query: &[f32], k: usize, min_similarity: f32) -> bool {
        query.len() == self.dimensions
            && k > 0
            && !min_similarity.is_nan()
            && query.iter().all(|x| x.is_finite())
    }

    fn evict_oldest(&mut self) -> Option<u64> {
        while let Some((id, seq)) = self.order.pop_front() {
            if self.slots.get(&id).is_some_and(|&s| self.seqs[s as usize] == seq) {
                self.remove(id);
                return Some(id);
            }
        }
        None
    }

    /// Drops tombstones, then builds the graph from the live entries when
    /// they are more than the exact limit, or goes back to exact search.
    fn rebuild(&mut self) {
        let d = self.dimensions;
        let mut kept = 0;
        for slot in 0..self.ids.len() {
            if !self.alive[slot] {
                continue;
            }
            if kept != slot {
                self.vectors.copy_within(slot * d..(slot + 1) * d, kept * d);
                self.codes.copy_within(slot * d..(slot + 1) * d, kept * d);
                self.scales[kept] = self.scales[slot];
                self.ids[kept] = self.ids[slot];
                self.seqs[kept] = self.seqs[slot];
                self.slots.insert(self.ids[kept], slot_u32(kept));
            }
            kept += 1;
        }
        self.vectors.truncate(kept * d);
        self.codes.truncate(kept * d);
        self.scales.truncate(kept);
        self.ids.truncate(kept);
        self.seqs.truncate(kept);
        self.alive.clear();
        self.alive.resize(kept, true);
        self.tombstones = 0;
        let codes = Quantised {
            codes: &self.codes,
            scales: &self.scales,
            d,
        };
        self.graph = (kept > self.exact_limit).then(|| {
            let mut graph = Graph::new();
            for slot in 0..kept {
                graph.insert(codes, slot_u32(slot));
            }
            graph
        });
    }
}

fn slot_u32(slot: usize) -> u32 {
    u32::try_from(slot).expect("an index holds fewer than 2^32 slots")
}

/// Dot product over chunks of 16 lanes, which the compiler vectorises.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// A node with its similarity to the vector at hand, ordered by similarity.
#[derive(Debug, Clone, Copy)]
struct Scored {
    sim: f32,
    node: u32,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim.total_cmp(&other.sim).then(other.node.cmp(&self.node))
    }
}

/// Vectors quantised to `i8`, one scale each: component `i` of slot `s`
/// is about `scales[s] * codes[s * d + i]`. A code is a quarter of the
/// vector's size, so a walk through the graph, which reads vectors in no
/// useful order and is bound by memory, reads a quarter as much.
#[derive(Debug, Clone, Copy)]
struct Quantised<'a> {
    codes: &'a [i8],
    scales: &'a [f32],
    d: usize,
}

/// A quantised vector: its lanes and its scale.
type Code<'a> = (&'a [i8], f32);

impl<'a> Quantised<'a> {
    fn code(&self, node: u32) -> Code<'a> {
        let at = node as usize * self.d;
        (&self.codes[at..at + self.d], self.scales[node as usize])
    }

    /// The approximate similarity of `q` and `node`.
    fn sim(&self, q: Code<'_>, node: u32) -> f32 {
        let (lanes, scale) = self.code(node);
        // An i32 sum of d products of at most 127 * 127 cannot overflow
        // below 133,000 dimensions; as f32 it is exact below 2^24.
        dot_i8(q.0, lanes) as f32 * q.1 * scale
    }

    /// Reads one byte of each cache line of `nodes`' codes, and their
    /// scales, so that the loads are in flight together rather than one
    /// after another when the similarities are computed.
    fn touch(&self, nodes: &[u32]) {
        let mut sum = 0.0f32;
        for &n in nodes {
            let code = self.code(n);
            // The last lane too: a code need not start on a line.
            let lanes = code.0.iter().step_by(64).chain(code.0.last());
            sum += lanes.map(|&lane| f32::from(lane)).sum::<f32>() * code.1;
        }
        std::hint::black_box(sum);
    }
}

/// Quantises `v` to `i8` lanes appended to `out`, returning the scale: the
/// largest component's magnitude maps to 127, and each lane is within half
/// a step (`scale / 2`) of the component.
fn quantise(v: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        out.resize(out.len() + v.len(), 0);
        return 0.0;
    }
    let inv = 127.0 / max;
    // In range by construction: |x * inv| <= 127.
    #[allow(clippy::cast_possible_truncation)]
    out.extend(v.iter().map(|x| (x * inv).round() as i8));
    max / 127.0
}

/// Integer dot product of two codes over chunks of 16 lanes, which the
/// compiler vectorises with the SSE2 baseline.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 16;
    let mut acc = [0i32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += i32::from(*x) * i32::from(*y);
    }
    sum
}

/// The HNSW graph over the index's slots. It holds only links; it walks
/// on the index's quantised vectors, passed in.
#[derive(Debug)]
struct Graph {
    /// `links[node][layer]`: the node's neighbours on that layer.
    links: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    top: usize,
    rng: fastrand::Rng,
}

fn vector_of(vectors: &[f32], d: usize, node: u32) -> &[f32] {
    let at = node as usize * d;
    &vectors[at..at + d]
}

impl Graph {
    fn new() -> Self {
        // A fixed seed keeps builds, and so results, reproducible.
        Self {
            links: Vec::new(),
            entry: None,
            top: 0,
            rng: fastrand::Rng::with_seed(0x5eed),
        }
    }

    fn random_level(&mut self) -> usize {
        let ml = 1.0 / (M as f64).ln();
        let u = 1.0 - self.rng.f64(); // in (0, 1]
        ((-u.ln() * ml) as usize).min(MAX_LEVEL)
    }

    /// Links `node`, whose code is already in `codes`, into the graph.
    fn insert(&mut self, codes: Quantised<'_>, node: u32) {
        let level = self.random_level();
        debug_assert_eq!(self.links.len(), node as usize);
        self.links.push(vec![Vec::new(); level + 1]);
        let Some(mut entry) = self.entry else {
            self.entry = Some(node);
            self.top = level;
            return;
        };
        let q = codes.code(node);
        let mut entry_sim = codes.sim(q, entry);
        for layer in (level + 1..=self.top).rev() {
            (entry, entry_sim) = self.greedy(codes, q, entry, entry_sim, layer);
        }
        for layer in (0..=level.min(self.top)).rev() {
            let found = self.search_layer(
                codes,
                q,
                Scored {
                    sim: entry_sim,
                    node: entry,
                },
                EF_CONSTRUCTION,
                layer,
            );
            let max = if layer == 0 { M0 } else { M };
            let chosen = select_neighbours(codes, &found, M);
            for &n in &chosen {
                let links = &mut self.links[n as usize][layer];
                links.push(node);
                if links.len() > max {
                    // Keep the closest: cheaper than the heuristic, and
                    // the new node's own list already went through it.
                    let base = codes.code(n);
                    let mut scored: Vec<Scored> = links
                        .iter()
                        .map(|&m| Scored {
                            sim: codes.sim(base, m),
                            node: m,
                        })
                        .collect();
                    scored.sort_unstable_by(|a, b| b.cmp(a));
                    links.clear();
                    links.extend(scored.iter().take(max).map(|s| s.node));
                }
            }
            self.links[node as usize][layer] = chosen;
            if let Some(best) = found.first() {
                (entry, entry_sim) = (best.node, best.sim);
            }
        }
        if level > self.top {
            self.top = level;
            self.entry = Some(node);
        }
    }

    /// Walks to the node most similar to `q` on one layer, one step at a time.
    fn greedy(
        &self,
        codes: Quantised<'_>,
        q: Code<'_>,
        mut at: u32,
        mut sim: f32,
        layer: usize,
    ) -> (u32, f32) {
        loop {
            let mut moved = false;
            let links = &self.links[at as usize][layer];
            codes.touch(links);
            for &n in links {
                let s = codes.sim(q, n);
                if s > sim {
                    (at, sim, moved) = (n, s, true);
                }
            }
            if !moved {
                return (at, sim);
            }
        }
    }

    /// The `ef` nodes most similar to `q` found on one layer from `entry`,
    /// best first.
    fn search_layer(
        &self,
        codes: Quantised<'_>,
        q: Code<'_>,
        entry: Scored,
        ef: usize,
        layer: usize,
    ) -> Vec<Scored> {
        // One bit per node: cheaper than hashing at these sizes.
        let mut visited = vec![0u64; self.links.len().div_ceil(64)];
        let mut visit = |n: u32| {
            let (word, bit) = (n as usize / 64, 1u64 << (n % 64));
            let fresh = visited[word] & bit == 0;
            visited[word] |= bit;
            fresh
        };
        visit(entry.node);
        let mut candidates = BinaryHeap::from([entry]);
        let mut found = BinaryHeap::from([Reverse(entry)]);
        let mut fresh: Vec<u32> = Vec::with_capacity(M0);
        while let Some(c) = candidates.pop() {
            if found.len() >= ef && found.peek().is_some_and(|w| c.sim < w.0.sim) {
                break;
            }
            fresh.clear();
            fresh.extend(
                self.links[c.node as usize][layer]
                    .iter()
                    .copied()
                    .filter(|&n| visit(n)),
            );
            codes.touch(&fresh);
            for &n in &fresh {
                let sim = codes.sim(q, n);
                if found.len() < ef || found.peek().is_some_and(|w| sim > w.0.sim) {
                    candidates.push(Scored { sim, node: n });
                    found.push(Reverse(Scored { sim, node: n }));
                    if found.len() > ef {
                        found.pop();
                    }
                }
            }
        }
        let mut out: Vec<Scored> = found.into_iter().map(|r| r.0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }

    /// Live nodes among the `ef` most similar to `q` found, best first,
    /// with their quantised similarities.
    fn search(&self, codes: Quantised<'_>, q: Code<'_>, ef: usize, alive: &[bool]) -> Vec<Scored> {
        let Some(mut entry) = self.entry else {
            return Vec::new();
        };
        let mut sim = codes.sim(q, entry);
        for layer in (1..=self.top).rev() {
            (entry, sim) = self.greedy(codes, q, entry, sim, layer);
        }
        let mut found = self.search_layer(codes, q, Scored { sim, node: entry }, ef, 0);
        found.retain(|c| alive[c.node as usize]);
        found
    }
}

/// The heuristic of the HNSW paper: a candidate joins when it is closer to
/// the new node than to every neighbour chosen so far, which keeps links
/// pointing in different directions; leftover places go to the closest
/// of the rest. `candidates` is best first.
fn select_neighbours(codes: Quantised<'_>, candidates: &[Scored], m: usize) -> Vec<u32> {
    let mut chosen: Vec<Scored> = Vec::with_capacity(m);
    let mut skipped: Vec<u32> = Vec::new();
    for &c in candidates {
        if chosen.len() >= m {
            break;
        }
        let v = codes.code(c.node);
        if chosen.iter().all(|r| codes.sim(v, r.node) < c.sim) {
            chosen.push(c);
        } else {
            skipped.push(c.node);
        }
    }
    let mut out: Vec<u32> = chosen.into_iter().map(|c| c.node).collect();
    let room = m.saturating_sub(out.len());
    out.extend(skipped.into_iter().take(room));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_unit(rng: &mut fastrand::Rng, d: usize) -> Vec<f32> {
        // Sum of uniforms: close enough to Gaussian for direction sampling.
        let mut v: Vec<f32> = (0..d).map(|_| (0..4).map(|_| rng.f32() - 0.5).sum()).collect();
        normalise(&mut v);
        v
    }

    fn normalise(v: &mut [f32]) {
        let norm = dot(v, v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
    }

    /// A full index of `n` random vectors, searched exactly up to `exact_limit`.
    fn filled(d: usize, n: usize, exact_limit: usize, seed: u64) -> VectorIndex {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut index = VectorIndex::new(d, n).with_exact_limit(exact_limit);
        for id in 0..n as u64 {
            assert_eq!(index.insert(id, random_unit(&mut rng, d)).unwrap(), None);
        }
        index
    }

    #[test]
    fn dot_matches_a_plain_sum_at_any_length() {
        let mut rng = fastrand::Rng::with_seed(1);
        for len in [0, 1, 15, 16, 17, 33, 384] {
            let a: Vec<f32> = (0..len).map(|_| rng.f32()).collect();
            let b: Vec<f32> = (0..len).map(|_| rng.f32()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "length {len}");
        }
    }

    #[test]
    fn quantised_lanes_are_within_half_a_step_of_the_vector() {
        let mut rng = fastrand::Rng::with_seed(31);
        for d in [1, 7, 16, 24, 384] {
            let v = random_unit(&mut rng, d);
            let mut code = Vec::new();
            let scale = quantise(&v, &mut code);
            assert_eq!(code.len(), d);
            let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!((scale - max / 127.0).abs() <= f32::EPSILON * max);
            assert!(code.iter().all(|&q| (-127..=127).contains(&q)));
            assert!(
                code.iter().any(|&q| q.abs() == 127),
                "the largest component maps to 127"
            );
            for (x, &q) in v.iter().zip(&code) {
                assert!(
                    (x - scale * f32::from(q)).abs() <= scale / 2.0 * 1.0001,
                    "{x} {q} {scale}"
                );
            }
        }
        // Appends, and a zero vector quantises to zeros with scale zero.
        let mut code = vec![5i8];
        assert_eq!(quantise(&[0.0; 4], &mut code), 0.0);
        assert_eq!(code, [5, 0, 0, 0, 0]);
    }

    #[test]
    fn quantised_similarity_is_close_to_the_exact_one() {
        let mut rng = fastrand::Rng::with_seed(32);
        let d = 384;
        let (mut codes, mut scales) = (Vec::new(), Vec::new());
        let vectors: Vec<Vec<f32>> = (0..50).map(|_| random_unit(&mut rng, d)).collect();
        for v in &vectors {
            scales.push(quantise(v, &mut codes));
        }
        let quantised = Quantised {
            codes: &codes,
            scales: &scales,
            d,
        };
        let mut worst = 0.0f32;
        for (i, a) in vectors.iter().enumerate() {
            for (j, b) in vectors.iter().enumerate() {
                let approx = quantised.sim(quantised.code(slot_u32(i)), slot_u32(j));
                worst = worst.max((approx - dot(a, b)).abs());
            }
        }
        // Each lane is off by at most half a step of about 1/600.
        assert!(worst < RERANK_SLACK / 5.0, "largest error {worst}");
        let (a, b) = ([1i8, -2, 3].repeat(11), [-4i8, 5, 6].repeat(11));
        assert_eq!(dot_i8(&a, &b), 4 * 11);
        assert_eq!(dot_i8(&[127; 33], &[-127; 33]), -127 * 127 * 33);
    }

    #[test]
    fn the_graph_returns_exact_similarities_and_keeps_the_threshold() {
        let (d, n) = (16, 600);
        let index = filled(d, n, 0, 33);
        assert!(index.is_approximate());
        let mut rng = fastrand::Rng::with_seed(34);
        for _ in 0..50 {
            let query = random_unit(&mut rng, d);
            let hits = index.search(&query, 8, -1.0);
            assert_eq!(hits.len(), 8);
            for &(id, sim) in &hits {
                let stored = vector_of(&index.vectors, d, index.slots[&id]);
                assert_eq!(sim, dot(&query, stored), "re-scored with the f32 vectors");
            }
            assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));
            // A threshold between two hits' exact similarities splits them
            // exactly, whatever their quantised ones.
            let cut = (hits[3].1 + hits[4].1) / 2.0;
            let above = index.search(&query, 8, cut);
            assert_eq!(above, hits[..4]);
        }
    }

    #[test]
    fn exact_search_finds_the_vector_itself_first_and_orders_best_first() {
        let mut index = VectorIndex::new(3, 10);
        index.insert(1, vec![1.0, 0.0, 0.0]).unwrap();
        index.insert(2, vec![0.0, 1.0, 0.0]).unwrap();
        index.insert(3, vec![0.6, 0.8, 0.0]).unwrap();
        let hits = index.search(&[1.0, 0.0, 0.0], 3, -1.0);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 3, 2]);
        assert_eq!(hits[0].1, 1.0);
        let above = index.search(&[1.0, 0.0, 0.0], 3, 0.5);
        assert_eq!(above.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(index.search(&[1.0, 0.0, 0.0], 1, -1.0).len(), 1);
    }

    #[test]
    fn a_vector_of_other_dimensions_is_an_error() {
        let mut index = VectorIndex::new(4, 10);
        assert_eq!(
            index.insert(1, vec![1.0; 3]),
            Err(IndexError::Dimensions {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            index.insert(1, vec![f32::NAN, 0.0, 0.0, 0.0]),
            Err(IndexError::NotFinite)
        );
        assert!(index.is_empty());
        assert!(index.search(&[1.0; 3], 1, -1.0).is_empty());
    }

    #[test]
    fn a_query_that_is_not_finite_matches_nothing() {
        for exact_limit in [EXACT_LIMIT, 0] {
            let index = filled(4, 50, exact_limit, 2);
            assert_eq!(index.is_approximate(), exact_limit == 0);
            assert!(index.search(&[f32::NAN, 0.0, 0.0, 0.0], 5, -1.0).is_empty());
            assert!(index.search(&[f32::INFINITY, 0.0, 0.0, 0.0], 5, -1.0).is_empty());
            assert!(index.search(&[1.0, 0.0, 0.0, 0.0], 5, f32::NAN).is_empty());
            assert_eq!(index.search(&[1.0, 0.0, 0.0, 0.0], usize::MAX, -1.0).len(), 50);
            assert!(index.search(&[1.0, 0.0, 0.0, 0.0], 0, -1.0).is_empty());
        }
    }

    #[test]
    fn eviction_returns_the_oldest_ids_in_insertion_order() {
        let mut index = VectorIndex::new(2, 3);
        for id in 0..3 {
            assert_eq!(index.insert(id, vec![1.0, 0.0]).unwrap(), None);
        }
        assert_eq!(index.insert(3, vec![0.0, 1.0]).unwrap(), Some(0));
        assert_eq!(index.insert(4, vec![0.0, 1.0]).unwrap(), Some(1));
        // A removed entry is no longer the oldest; re-inserting an id makes it the newest.
        assert!(index.remove(2));
        assert_eq!(index.insert(3, vec![0.6, 0.8]).unwrap(), None);
        assert_eq!(index.insert(5, vec![0.0, 1.0]).unwrap(), None);
        assert_eq!(index.insert(6, vec![0.0, 1.0]).unwrap(), Some(4));
        assert_eq!(index.insert(7, vec![0.0, 1.0]).unwrap(), Some(3));
        assert_eq!(index.len(), 3);
        let mut ids: Vec<u64> = index
            .search(&[0.0, 1.0], 10, -1.0)
            .into_iter()
            .map(|h| h.0)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [5, 6, 7]);
    }

    #[test]
    fn eviction_order_holds_past_the_exact_limit() {
        let n = 300;
        let mut index = filled(8, n, 200, 7);
        assert!(index.is_approximate());
        let mut rng = fastrand::Rng::with_seed(8);
        // Enough inserts to force rebuilds along the way.
        for i in 0..n as u64 + 50 {
            assert_eq!(
                index.insert(n as u64 + i, random_unit(&mut rng, 8)).unwrap(),
                Some(i)
            );
        }
        assert_eq!(index.len(), n);
    }

    #[test]
    fn remove_works_on_the_exact_path() {
        let mut index = filled(8, 100, EXACT_LIMIT, 3);
        assert!(!index.is_approximate());
        let query = index.vectors[8 * 10..8 * 11].to_vec();
        let id = index.ids[10];
        assert_eq!(index.search(&query, 1, 0.99)[0].0, id);
        assert!(index.remove(id));
        assert!(!index.remove(id));
        assert_eq!(index.len(), 99);
        assert!(index.search(&query, 100, -1.0).iter().all(|h| h.0 != id));
        assert_eq!(index.search(&query, 1000, -1.0).len(), 99);
    }

    #[test]
    fn remove_works_on_the_approximate_path() {
        let n = 700;
        let mut index = filled(16, n, 500, 4);
        assert!(index.is_approximate());
        let mut rng = fastrand::Rng::with_seed(5);
        let mut removed = Vec::new();
        for _ in 0..200 {
            let id = rng.u64(0..n as u64);
            let was_there = index.slots.contains_key(&id);
            let query = was_there.then(|| vector_of(&index.vectors, 16, index.slots[&id]).to_vec());
            assert_eq!(index.remove(id), was_there);
            if let Some(query) = query {
                assert!(index.search(&query, 10, -1.0).iter().all(|h| h.0 != id));
                removed.push(id);
            }
        }
        assert_eq!(index.len(), n - removed.len());
        // The entries left are still found through the graph.
        assert!(index.is_approximate());
        for (&id, &slot) in index.slots.iter().take(100) {
            let query = vector_of(&index.vectors, 16, slot).to_vec();
            assert_eq!(index.search(&query, 1, 0.99).first().map(|h| h.0), Some(id));
        }
        // Removing most entries compacts and falls back to exact search.
        for id in 0..n as u64 {
            index.remove(id);
        }
        assert!(index.is_empty());
        assert!(!index.is_approximate());
        assert!(index.search(&[1.0; 16], 1, -1.0).is_empty());
    }

    #[test]
    fn approximate_top_1_agrees_with_exact_search() {
        // 16 dimensions keep the unoptimised test build quick; the bench
        // measures recall at 384.
        let (d, n, queries) = (16, 5_000, 400);
        let index = filled(d, n, EXACT_LIMIT, 11);
        assert!(index.is_approximate());
        let mut rng = fastrand::Rng::with_seed(12);
        let mut agree = 0;
        for _ in 0..queries {
            let query = random_unit(&mut rng, d);
            let exact = index.search_exact(&query, 1, -1.0);
            let approx = index.search(&query, 1, -1.0);
            if exact.first().map(|h| h.0) == approx.first().map(|h| h.0) {
                agree += 1;
            }
        }
        let recall = f64::from(agree) / f64::from(queries);
        assert!(recall >= 0.95, "recall@1 {recall}");
    }

    #[test]
    fn the_graph_finds_near_duplicates_and_most_of_the_exact_top_8() {
        // What a semantic cache looks up: a stored vector asked again with
        // noise, at a cosine of about 0.95 to it. 24 dimensions keep the
        // unoptimised test build to about half a minute; at 384 random vectors are
        // nearly orthogonal, so the graph's links say little about a
        // random query, and the bench measures that case instead.
        let (d, n, queries) = (24, 10_000, 200);
        let index = filled(d, n, EXACT_LIMIT, 21);
        assert!(index.is_approximate());
        let mut rng = fastrand::Rng::with_seed(22);
        let mut found = 0;
        for _ in 0..queries {
            let source = rng.u64(0..n as u64);
            let stored = vector_of(&index.vectors, d, index.slots[&source]);
            let noise = random_unit(&mut rng, d);
            let mut query: Vec<f32> = stored.iter().zip(&noise).map(|(s, e)| s + 0.33 * e).collect();
            normalise(&mut query);
            assert!(dot(&query, stored) > 0.9);
            if index.search(&query, 1, -1.0).first().map(|h| h.0) == Some(source) {
                found += 1;
            }
        }
        let recall = f64::from(found) / f64::from(queries);
        assert!(recall >= 0.95, "near duplicates found {recall}");

        let mut agree = 0;
        for _ in 0..queries {
            let query = random_unit(&mut rng, d);
            let exact = index.search_exact(&query, 8, -1.0);
            let approx = index.search(&query, 8, -1.0);
            agree += exact.iter().filter(|e| approx.iter().any(|a| a.0 == e.0)).count();
        }
        let recall = agree as f64 / (8 * queries) as f64;
        eprintln!("recall@8 of random queries {recall}");
        assert!(recall >= 0.9, "recall@8 of random queries {recall}");
    }
}
