//! [`Strategy`]: how a group chooses among its available deployments.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::deployment::Member;
use crate::types::{ContentPart, LlmRequest, ModelInfo, Operation};

/// Chooses one deployment for a call among those available now.
///
/// The router hands a strategy only the deployments that may take the call
/// (not cooling down, circuit not open, under their rate limits, not
/// drained, not tried yet by this call); the strategy answers the index of
/// its choice in `candidates`, or `None` when none suits the request (the
/// call then fails with [`Error::Unavailable`](crate::Error::Unavailable)
/// or falls back).
///
/// A closure `Fn(&LlmRequest, &[Candidate<'_>]) -> Option<usize>` is a strategy:
///
/// ```
/// use tower_ai::router::{Candidate, Group};
/// use tower_ai::LlmRequest;
///
/// // Tenant "acme" is served in the EU; everyone else by the first available.
/// let group = Group::new("gpt-4o").strategy(|request: &LlmRequest, candidates: &[Candidate<'_>]| {
///     let eu = request.meta.principal.tenant.as_deref() == Some("acme");
///     candidates
///         .iter()
///         .position(|c| !eu || c.tag("region") == Some("eu"))
/// });
/// # let _ = group;
/// ```
pub trait Strategy: Send + Sync + 'static {
    /// The index in `candidates` (never empty) of the deployment to call.
    fn pick(&self, request: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize>;
}

impl<F> Strategy for F
where
    F: Fn(&LlmRequest, &[Candidate<'_>]) -> Option<usize> + Send + Sync + 'static,
{
    fn pick(&self, request: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        self(request, candidates)
    }
}

impl Strategy for Arc<dyn Strategy> {
    fn pick(&self, request: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        (**self).pick(request, candidates)
    }
}

/// A deployment a [`Strategy`] may choose, as the router sees it now.
pub struct Candidate<'a> {
    pub(crate) member: &'a Member,
    /// Its place in its group.
    pub(crate) index: usize,
    pub(crate) now: u64,
    pub(crate) decay: Duration,
}

impl Candidate<'_> {
    /// The deployment's name.
    pub fn name(&self) -> &str {
        self.member.name()
    }

    /// The concrete model it serves.
    pub fn model(&self) -> &str {
        &self.member.spec.model
    }

    /// Its weight now.
    pub fn weight(&self) -> u32 {
        self.member.weight.load(Ordering::Relaxed)
    }

    /// Calls in flight on it, open streams included.
    pub fn in_flight(&self) -> usize {
        self.member.in_flight()
    }

    /// Its latency estimate (time to the first content of a stream, or to a
    /// whole complete reply; peak-sensitive, decaying while idle), once measured.
    pub fn latency(&self) -> Option<Duration> {
        self.member.latency(self.now, self.decay)
    }

    /// Its [`ModelInfo`], if it was given one.
    pub fn info(&self) -> Option<&ModelInfo> {
        self.member.spec.info.as_ref()
    }

    /// The value of one of its tags.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.member.spec.tags.get(key).map(String::as_str)
    }
}

impl fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("name", &self.name())
            .field("weight", &self.weight())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Random, in proportion to the weights (the default strategy).
#[derive(Debug, Clone, Copy, Default)]
pub struct WeightedRandom;

impl Strategy for WeightedRandom {
    fn pick(&self, _: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        let total: u64 = candidates.iter().map(|c| u64::from(c.weight())).sum();
        if total == 0 {
            return Some(fastrand::usize(0..candidates.len()));
        }
        let mut point = fastrand::u64(0..total);
        for (i, c) in candidates.iter().enumerate() {
            let weight = u64::from(c.weight());
            if point < weight {
                return Some(i);
            }
            point -= weight;
        }
        Some(candidates.len() - 1)
    }
}

/// Each available deployment in turn (weights are not read).
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// Starts with the first deployment.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Strategy for RoundRobin {
    fn pick(&self, _: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        Some(self.next.fetch_add(1, Ordering::Relaxed) % candidates.len())
    }
}

/// Two distinct candidates drawn at random, or `None` with fewer than two.
fn two(len: usize) -> Option<(usize, usize)> {
    if len < 2 {
        return None;
    }
    let a = fastrand::usize(0..len);
    let b = (a + 1 + fastrand::usize(0..len - 1)) % len;
    Some((a, b))
}

/// The deployment with the fewest calls in flight (open streams count until
/// they end), by power of two choices: two deployments drawn at random, the
/// less busy one wins: O(1), after the O(n) availability filter that runs
/// before every strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastBusy;

impl Strategy for LeastBusy {
    fn pick(&self, _: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        let Some((a, b)) = two(candidates.len()) else {
            return Some(0);
        };
        Some(if candidates[b].in_flight() < candidates[a].in_flight() {
            b
        } else {
            a
        })
    }
}

/// The deployment with the lowest expected latency, by power of two
/// choices over a peak-sensitive moving average (after tower's `PeakEwma`)
/// multiplied by the calls in flight plus one.
///
/// What is measured: the time to the first content event of a stream, and
/// the time to a whole complete reply. A deployment never measured wins
/// whenever it is one of the two drawn; the estimate of an idle deployment decays (see
/// [`HealthPolicy::latency_decay`](super::HealthPolicy::latency_decay)), so
/// a deployment that was slow is tried again now and then and gets its
/// traffic back once it recovered.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastLatency;

impl LeastLatency {
    fn cost(candidate: &Candidate<'_>) -> f64 {
        match candidate.latency() {
            Some(latency) => latency.as_nanos() as f64 * (candidate.in_flight() + 1) as f64,
            None => 0.0,
        }
    }
}

impl Strategy for LeastLatency {
    fn pick(&self, _: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        let Some((a, b)) = two(candidates.len()) else {
            return Some(0);
        };
        Some(if Self::cost(&candidates[b]) < Self::cost(&candidates[a]) {
            b
        } else {
            a
        })
    }
}

/// The deployment whose model costs least for this request, from its
/// [`ModelInfo`] prices, the request's
/// [estimated prompt tokens](estimated_prompt_tokens) and its `max_tokens`
/// (or [`LowestCost::assumed_output_tokens`] without one). Deployments
/// without prices come last; ties go to the first.
///
/// O(n) in the deployments: every price is read.
#[derive(Debug, Clone, Copy)]
pub struct LowestCost {
    output_tokens: u32,
}

impl LowestCost {
    /// Assumes 256 output tokens for a request without `max_tokens`.
    pub fn new() -> Self {
        Self { output_tokens: 256 }
    }

    /// Sets the output tokens assumed for a request without `max_tokens`.
    #[must_use]
    pub fn assumed_output_tokens(mut self, tokens: u32) -> Self {
        self.output_tokens = tokens;
        self
    }

    fn cost(info: Option<&ModelInfo>, input: f64, output: f64) -> f64 {
        let Some(prices) = info.map(|i| i.prices) else {
            return f64::INFINITY;
        };
        match (prices.input, prices.output) {
            (Some(i), Some(o)) => i * input + o * output,
            _ => f64::INFINITY,
        }
    }
}

impl Default for LowestCost {
    fn default() -> Self {
        Self::new()
    }
}

impl Strategy for LowestCost {
    fn pick(&self, request: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        let input = estimated_prompt_tokens(request) as f64;
        let output = f64::from(
            request
                .chat()
                .and_then(|c| c.max_tokens)
                .unwrap_or(self.output_tokens),
        );
        let mut best = (0, f64::INFINITY);
        for (i, c) in candidates.iter().enumerate() {
            let cost = Self::cost(c.info(), input, output);
            if cost < best.1 {
                best = (i, cost);
            }
        }
        Some(best.0)
    }
}

type RequestTest = Box<dyn Fn(&LlmRequest) -> bool + Send + Sync>;
type CandidateTest = Box<dyn Fn(&Candidate<'_>) -> bool + Send + Sync>;

/// Rules: the first rule whose condition holds for the request restricts
/// the choice to the deployments it names, and the inner strategy chooses
/// among them; when none of them is available, the next rule is tried, and
/// at last the inner strategy chooses among all.
///
/// Conditions read anything in the request: the principal, tags, the
/// [estimated prompt size](estimated_prompt_tokens), [images](has_images),
/// tools.
///
/// ```
/// use tower_ai::router::{estimated_prompt_tokens, has_images, LeastBusy, Rules};
///
/// let rules = Rules::new(LeastBusy)
///     // Long prompts go to the deployments tagged `tier=long`.
///     .rule(|r| estimated_prompt_tokens(r) > 30_000, |c| c.tag("tier") == Some("long"))
///     // Images go to a vision model.
///     .rule(has_images, |c| c.info().is_some_and(|i| i.capabilities.vision))
///     // The "internal" team uses the self-hosted deployment.
///     .rule(
///         |r| r.meta.principal.team.as_deref() == Some("internal"),
///         |c| c.tag("host") == Some("self"),
///     );
/// # let _ = rules;
/// ```
pub struct Rules {
    rules: Vec<(RequestTest, CandidateTest)>,
    inner: Arc<dyn Strategy>,
}

impl Rules {
    /// No rule yet; `inner` chooses among the deployments a rule allows.
    pub fn new(inner: impl Strategy) -> Self {
        Self {
            rules: Vec::new(),
            inner: Arc::new(inner),
        }
    }

    /// Adds a rule: when `when` holds for the request, only deployments for
    /// which `to` holds are chosen.
    #[must_use]
    pub fn rule(
        mut self,
        when: impl Fn(&LlmRequest) -> bool + Send + Sync + 'static,
        to: impl Fn(&Candidate<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rules.push((Box::new(when), Box::new(to)));
        self
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Strategy for Rules {
    fn pick(&self, request: &LlmRequest, candidates: &[Candidate<'_>]) -> Option<usize> {
        for (when, to) in &self.rules {
            if !when(request) {
                continue;
            }
            let allowed: Vec<usize> = (0..candidates.len()).filter(|&i| to(&candidates[i])).collect();
            if allowed.is_empty() {
                continue;
            }
            let subset: Vec<Candidate<'_>> = allowed
                .iter()
                .map(|&i| Candidate {
                    member: candidates[i].member,
                    index: candidates[i].index,
                    now: candidates[i].now,
                    decay: candidates[i].decay,
                })
                .collect();
            return self
                .inner
                .pick(request, &subset)
                .and_then(|k| allowed.get(k).copied());
        }
        self.inner.pick(request, candidates)
    }
}

/// A rough count of the prompt's tokens: about four bytes of text a token,
/// tool definitions included, and 1 000 tokens per image. For choosing,
/// not for billing.
pub fn estimated_prompt_tokens(request: &LlmRequest) -> u64 {
    let bytes: usize = match &request.operation {
        Operation::Chat(chat) => {
            let messages: usize = chat
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .map(|part| match part {
                    ContentPart::Text { text } => text.len(),
                    ContentPart::Image(_) => 4_000,
                    ContentPart::ToolCall(call) => call.name.len() + call.arguments.len(),
                    ContentPart::ToolResult(result) => result
                        .content
                        .iter()
                        .map(|part| match part {
                            ContentPart::Text { text } => text.len(),
                            _ => 0,
                        })
                        .sum(),
                    ContentPart::Reasoning(r) => r.text.len(),
                })
                .sum();
            let tools: usize = chat
                .tools
                .iter()
                .map(|t| {
                    t.name.len()
                        + t.description.as_ref().map_or(0, String::len)
                        + t.parameters.to_string().len()
                })
                .sum();
            messages + tools
        }
        Operation::Embeddings(embeddings) => embeddings.input.iter().map(String::len).sum(),
    };
    bytes.div_ceil(4) as u64
}

/// Whether the request's messages hold an image.
pub fn has_images(request: &LlmRequest) -> bool {
    request.chat().is_some_and(|chat| {
        chat.messages
            .iter()
            .flat_map(|m| &m.content)
            .any(|part| matches!(part, ContentPart::Image(_)))
    })
}

/// Whether the request offers tools.
pub fn has_tools(request: &LlmRequest) -> bool {
    request.chat().is_some_and(|chat| !chat.tools.is_empty())
}
