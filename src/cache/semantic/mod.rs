//! The semantic lookup: the last user turn embedded and searched in a
//! bounded vector index per tenant, among entries whose everything else
//! (model, system prompt, tools, parameters, earlier turns) matches
//! exactly, and a lexical guard that refuses a similar prompt differing in
//! negation, numbers, quoted text or names.

pub(crate) mod guard;
pub(crate) mod index;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock, TryLockError};

use guard::Features;
use index::VectorIndex;

use super::embed::Embedder;
use crate::types::{ChatRequest, ContentPart, RequestKey, Role};

/// How many candidates above the threshold are looked at.
const CANDIDATES: usize = 8;

/// The most tenants whose indexes are kept at once.
const MAX_TENANTS: u64 = 10_000;

/// The semantic side of one cache layer.
#[derive(Clone)]
pub(crate) struct Semantic {
    embedder: Arc<dyn Embedder>,
    threshold: f32,
    /// Prompts indexed per tenant.
    pub(crate) capacity: usize,
    /// Whether the lexical guard refuses conflicting candidates.
    pub(crate) guard: bool,
    /// Lookups share a tenant's index; an insert (or the rebuild one may
    /// start) has it alone.
    tenants: moka::sync::Cache<String, Arc<RwLock<TenantIndex>>>,
}

impl fmt::Debug for Semantic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semantic")
            .field("embedder", &self.embedder)
            .field("threshold", &self.threshold)
            .field("capacity", &self.capacity)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// One tenant's index and what each of its vectors stands for.
#[derive(Default)]
struct TenantIndex {
    /// Made at the first insert, when the embedder's length is known.
    index: Option<VectorIndex>,
    entries: HashMap<u64, Indexed>,
    next_id: u64,
}

/// What an indexed vector stands for.
struct Indexed {
    /// The request without its last user turn: what must match exactly.
    context: RequestKey,
    /// The entry's key in the store.
    exact: RequestKey,
    /// The last user turn's features, for the guard.
    features: Features,
}

/// A request made ready for the semantic lookup.
pub(crate) struct Probe {
    scope: String,
    context: RequestKey,
    vector: Vec<f32>,
    features: Features,
}

/// A semantic match.
pub(crate) struct Found {
    /// The stored entry's key.
    pub(crate) exact: RequestKey,
    /// The similarity of the two last user turns.
    pub(crate) score: f32,
    id: u64,
}

impl Semantic {
    pub(crate) fn new(embedder: Arc<dyn Embedder>, threshold: f32, capacity: usize, guard: bool) -> Self {
        Self {
            embedder,
            threshold,
            capacity,
            guard,
            tenants: moka::sync::Cache::new(MAX_TENANTS),
        }
    }

    /// Embeds `chat`'s last user turn, if its last message is a user's with
    /// text; `None` otherwise, or when the embedder fails (logged).
    pub(crate) async fn probe(&self, chat: &ChatRequest, scope: &str) -> Option<Probe> {
        let last = chat.messages.last().filter(|m| m.role == Role::User)?;
        let text = last.text();
        if text.trim().is_empty() {
            return None;
        }
        let mut context = chat.clone();
        if let Some(last) = context.messages.last_mut() {
            last.content = vec![ContentPart::text(String::new())];
        }
        let context = context.canonical_key().scoped(scope);
        let vector = match self.embedder.embed(std::slice::from_ref(&text)).await {
            Ok(mut vectors) if vectors.len() == 1 => vectors.pop()?,
            Ok(_) => return None,
            Err(error) => {
                tracing::warn!(%error, "the cache's embedder failed; no semantic lookup");
                return None;
            }
        };
        let vector = normalised(vector)?;
        Some(Probe {
            scope: scope.to_owned(),
            context,
            vector,
            features: Features::of(&text),
        })
    }

    /// The best stored entry like `probe`, if one is above the threshold,
    /// has the same context and passes the guard.
    ///
    /// Never waits for the index: while an insert holds it (at most about a
    /// millisecond at 100,000 entries, but a rebuild that compacts
    /// tombstones takes far longer), the lookup is a semantic miss, counted
    /// as `semantic_busy`. A miss only costs the upstream call.
    pub(crate) fn find(&self, probe: &Probe) -> Option<Found> {
        let tenant = self.tenants.get(&probe.scope)?;
        let tenant = match tenant.try_read() {
            Ok(tenant) => tenant,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                super::count("semantic_busy");
                return None;
            }
        };
        let index = tenant.index.as_ref()?;
        for (id, score) in index.search(&probe.vector, CANDIDATES, self.threshold) {
            let Some(indexed) = tenant.entries.get(&id) else {
                continue;
            };
            if indexed.context != probe.context {
                continue;
            }
            if self.guard {
                if let Some(conflict) = probe.features.conflict(&indexed.features) {
                    tracing::debug!(score, conflict = conflict.name(), "a similar prompt was refused");
                    super::count("semantic_refused");
                    continue;
                }
            }
            return Some(Found {
                exact: indexed.exact,
                score,
                id,
            });
        }
        None
    }

    /// Forgets a match whose entry the store no longer has.
    pub(crate) fn forget(&self, probe: &Probe, found: &Found) {
        if let Some(tenant) = self.tenants.get(&probe.scope) {
            let mut tenant = tenant.write().unwrap_or_else(|p| p.into_inner());
            tenant.entries.remove(&found.id);
            if let Some(index) = tenant.index.as_mut() {
                index.remove(found.id);
            }
        }
    }

    /// Indexes `probe` for the entry stored under `exact`.
    pub(crate) fn insert(&self, probe: Probe, exact: RequestKey) {
        let tenant = self.tenants.get_with(probe.scope.clone(), || {
            Arc::new(RwLock::new(TenantIndex::default()))
        });
        let mut guard = tenant.write().unwrap_or_else(|p| p.into_inner());
        let tenant = &mut *guard;
        let id = tenant.next_id;
        tenant.next_id += 1;
        let (dimensions, capacity) = (probe.vector.len(), self.capacity);
        let index = tenant
            .index
            .get_or_insert_with(|| VectorIndex::new(dimensions, capacity));
        match index.insert(id, probe.vector) {
            Ok(evicted) => {
                if let Some(evicted) = evicted {
                    tenant.entries.remove(&evicted);
                }
                tenant.entries.insert(
                    id,
                    Indexed {
                        context: probe.context,
                        exact,
                        features: probe.features,
                    },
                );
            }
            Err(error) => tracing::warn!(%error, "a prompt's vector was not indexed"),
        }
    }
}

/// `vector` scaled to length 1; `None` for a zero or non-finite vector.
fn normalised(mut vector: Vec<f32>) -> Option<Vec<f32>> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    for x in &mut vector {
        *x /= norm;
    }
    Some(vector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::embedder_fn;

    #[tokio::test]
    async fn a_lookup_never_waits_for_a_tenants_index() {
        // Every text on the same axis: any prompt is similar to any other.
        let embedder =
            embedder_fn(
                |texts: Vec<String>| async move { Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect()) },
            );
        let semantic = Semantic::new(Arc::new(embedder), 0.9, 100, false);
        let asked = ChatRequest::new("m").user("How do tides work?");
        let stored = semantic.probe(&asked, "acme").await.expect("a probe");
        semantic.insert(stored, asked.canonical_key());
        let again = semantic.probe(&asked, "acme").await.expect("a probe");
        assert!(semantic.find(&again).is_some());

        // An insert (or a rebuild) holding the index: a miss, at once.
        let tenant = semantic.tenants.get("acme").expect("indexed");
        let writing = tenant.write().expect("not poisoned");
        assert!(semantic.find(&again).is_none());
        drop(writing);
        assert!(semantic.find(&again).is_some());
    }
}

#[cfg(test)]
mod evaluation {
    //! The semantic lookup's decision (similar enough, and no lexical
    //! conflict) on the labelled pairs of `data/semantic-eval/`, with the
    //! cosine all-MiniLM-L6-v2 gives each pair. Run with `--nocapture` to
    //! see the table `docs/caching.md` quotes.

    use super::guard::Features;

    struct Pair {
        a: String,
        b: String,
        same_answer: bool,
        cosine: f32,
    }

    fn pairs() -> Vec<Pair> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/semantic-eval/pairs.jsonl");
        let text = std::fs::read_to_string(path).expect("the evaluation pairs");
        text.lines()
            .map(|line| {
                let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                Pair {
                    a: row["a"].as_str().unwrap().to_owned(),
                    b: row["b"].as_str().unwrap().to_owned(),
                    same_answer: row["same_answer"].as_bool().unwrap(),
                    cosine: row["minilm_cosine"].as_f64().unwrap() as f32,
                }
            })
            .collect()
    }

    /// (precision, recall, wrong answers) at `threshold`.
    fn score(pairs: &[Pair], conflicts: &[bool], threshold: f32, guard: bool) -> (f64, f64, usize) {
        let (mut right, mut wrong) = (0usize, 0usize);
        for (pair, conflict) in pairs.iter().zip(conflicts) {
            if pair.cosine >= threshold && !(guard && *conflict) {
                if pair.same_answer {
                    right += 1;
                } else {
                    wrong += 1;
                }
            }
        }
        let positives = pairs.iter().filter(|p| p.same_answer).count();
        let precision = if right + wrong == 0 {
            1.0
        } else {
            right as f64 / (right + wrong) as f64
        };
        (precision, right as f64 / positives as f64, wrong)
    }

    #[test]
    fn the_guard_raises_precision_on_the_labelled_pairs() {
        let pairs = pairs();
        assert_eq!(pairs.len(), 600);
        let conflicts: Vec<bool> = pairs
            .iter()
            .map(|p| Features::of(&p.a).conflict(&Features::of(&p.b)).is_some())
            .collect();
        println!("| threshold | precision | recall | wrong answers | precision, guarded | recall, guarded | wrong, guarded |");
        println!("|---|---|---|---|---|---|---|");
        for threshold in [0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98] {
            let (p, r, w) = score(&pairs, &conflicts, threshold, false);
            let (gp, gr, gw) = score(&pairs, &conflicts, threshold, true);
            println!("| {threshold:.2} | {p:.3} | {r:.3} | {w} | {gp:.3} | {gr:.3} | {gw} |");
            // The guard only ever takes hits away, and takes more wrong
            // ones than right ones.
            assert!(gw <= w && gr <= r);
            assert!(gp >= p, "at {threshold}: {gp} < {p}");
            if threshold == 0.95 {
                // The threshold the guide suggests for this model.
                assert!(gp >= 0.95, "guarded precision at 0.95: {gp}");
            }
        }
        if std::env::var_os("TOWER_AI_SHOW_WRONG").is_some() {
            for (pair, conflict) in pairs.iter().zip(&conflicts) {
                if pair.cosine >= 0.95 && !pair.same_answer && !conflict {
                    println!("{:.3} {:?} / {:?}", pair.cosine, pair.a, pair.b);
                }
            }
        }
    }
}
