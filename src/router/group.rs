//! [`Group`]: a public model name (or alias) and the deployments that serve it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::deployment::{Deployment, InFlight, Member, Unfit};
use super::policy::FallbackOn;
use super::strategy::{estimated_prompt_tokens, Candidate, Strategy, WeightedRandom};
use crate::types::LlmRequest;

/// A public model name, such as `"gpt-4o"` or an alias such as `"fast"`,
/// with the deployments that serve it, the [`Strategy`] that chooses among
/// them, and where to fall back when they cannot answer.
///
/// The request's model selects the group (by its name or one of its
/// [aliases](Self::alias)); the chosen deployment's concrete model replaces
/// it on the way down.
///
/// ```
/// use tower_ai::provider::mock::MockProvider;
/// use tower_ai::router::{Deployment, FallbackOn, Group, LeastLatency};
///
/// let group = Group::new("gpt-4o-mini")
///     .alias("fast")
///     .strategy(LeastLatency)
///     .deployment(Deployment::provider("openai", "gpt-4o-mini", MockProvider::new()))
///     .deployment(Deployment::provider("azure-eu", "gpt-4o-mini-eu", MockProvider::new()))
///     .fallback(FallbackOn::ContextLength, "gpt-4.1");
/// # let _ = group;
/// ```
#[must_use]
pub struct Group {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) deployments: Vec<Deployment>,
    pub(crate) strategy: Arc<dyn Strategy>,
    pub(crate) fallbacks: Vec<(FallbackOn, String)>,
    pub(crate) hedge: Option<Duration>,
}

impl Group {
    /// A group for the public model name `name`, with no deployment yet,
    /// choosing by [`WeightedRandom`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            aliases: Vec::new(),
            deployments: Vec::new(),
            strategy: Arc::new(WeightedRandom),
            fallbacks: Vec::new(),
            hedge: None,
        }
    }

    /// Another name a request may ask for this group by.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Adds a deployment.
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployments.push(deployment);
        self
    }

    /// Sets how the group chooses among its available deployments.
    pub fn strategy(mut self, strategy: impl Strategy) -> Self {
        self.strategy = Arc::new(strategy);
        self
    }

    /// When a call fails in this group with an error of class `on`, tries
    /// the group `to` (by name or alias). Fallbacks are tried in the order
    /// they were added, the first whose class matches and whose group was
    /// not visited by the call yet; the group fallen back to follows its own
    /// fallbacks in turn.
    pub fn fallback(mut self, on: FallbackOn, to: impl Into<String>) -> Self {
        self.fallbacks.push((on, to.into()));
        self
    }

    /// Hedges the first attempt of a call in this group: when it has not
    /// answered after `delay` (for a stream: produced its first content
    /// event), a second attempt starts on another available deployment of
    /// the group; the first to answer wins and the other is dropped
    /// (cancelled). A failed one leaves the other running. The hedge takes a
    /// token of the [`RetryBudget`](super::RetryBudget), so hedging adds a
    /// bounded load; with none left, or no other deployment available, the
    /// first attempt runs alone.
    pub fn hedge(mut self, delay: Duration) -> Self {
        self.hedge = Some(delay);
        self
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("deployments", &self.deployments)
            .field("fallbacks", &self.fallbacks)
            .field("hedge", &self.hedge)
            .finish_non_exhaustive()
    }
}

/// A group as the router holds it.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) name: Arc<str>,
    pub(crate) members: Vec<Arc<Member>>,
    pub(crate) strategy: Arc<dyn Strategy>,
    pub(crate) fallbacks: Arc<[(FallbackOn, String)]>,
    pub(crate) hedge: Option<Duration>,
}

impl Live {
    /// Chooses an available member not in `tried` (indices in `members`)
    /// and takes it for the call. With none, the router-clock instant at
    /// which the first one may take calls again, when known.
    pub(crate) fn pick(
        &self,
        request: &LlmRequest,
        tried: &[usize],
        now: u64,
        decay: Duration,
        tokens: &mut Option<u64>,
    ) -> Result<(usize, InFlight), Option<u64>> {
        let mut soonest: Option<u64> = None;
        let mut candidates = Vec::with_capacity(self.members.len());
        for (index, member) in self.members.iter().enumerate() {
            if tried.contains(&index) {
                continue;
            }
            match member.fit(now) {
                Ok(()) => candidates.push(Candidate {
                    member,
                    index,
                    now,
                    decay,
                }),
                Err(Unfit::Until(until)) => soonest = Some(soonest.map_or(until, |s| s.min(until))),
                Err(Unfit::Unknown) => {}
            }
        }
        while !candidates.is_empty() {
            let Some(k) = self
                .strategy
                .pick(request, &candidates)
                .filter(|&k| k < candidates.len())
            else {
                break;
            };
            let index = candidates[k].index;
            let member = &self.members[index];
            // Tokens are counted only for deployments with a tpm limit.
            let tokens = match member.spec.tpm {
                Some(_) => *tokens.get_or_insert_with(|| estimated_prompt_tokens(request)),
                None => 0,
            };
            if let Some(guard) = member.acquire(now, tokens) {
                return Ok((index, guard));
            }
            // Lost a race for its probe or its rate window since `fit`.
            candidates.swap_remove(k);
        }
        Err(soonest)
    }
}
