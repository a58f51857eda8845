//! What layers note about a call, in types every layer can read.
//!
//! A layer leaves these in [`LlmResponse::extensions`](super::LlmResponse::extensions)
//! (or, for [`Outcome`], derives it from the call's end); telemetry and audit
//! read them without depending on the feature that wrote them.
//!
//! ```
//! use tower_ai::types::{CacheStatus, Outcome, ServedBy, LlmResponse, Reply, ChatResponse};
//! use tower_ai::Error;
//!
//! let mut response = LlmResponse::new(Reply::Complete(ChatResponse::text_reply("r", "m", "hi")));
//! response.extensions.insert(CacheStatus::HitExact);
//! assert_eq!(Outcome::of_response(&response), Outcome::Cached);
//!
//! let refused = Error::budget_exceeded("tenant:acme", "100 requests per minute", None);
//! assert_eq!(Outcome::of_error(&refused), Outcome::BudgetExceeded);
//! assert_eq!(Outcome::of_error(&refused).as_str(), "budget_exceeded");
//! # let _ = ServedBy::new("p", "m");
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Attempt, Error};

use super::llm::LlmResponse;

/// How a call ended, as telemetry and audit report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A reply came from a provider and was read to its end.
    Ok,
    /// A reply was served from a cache; no provider was called.
    Cached,
    /// A guardrail refused the request or the reply.
    Blocked,
    /// A budget refused the call.
    BudgetExceeded,
    /// The call failed, with an error of this [`kind`](Error::kind).
    Failed {
        /// The error's kind.
        kind: &'static str,
    },
    /// The caller dropped the call or its stream before the end.
    Cancelled,
}

impl Outcome {
    /// The outcome of a call that failed with `error`.
    pub fn of_error(error: &Error) -> Self {
        match error {
            Error::Blocked { .. } => Outcome::Blocked,
            Error::BudgetExceeded { .. } => Outcome::BudgetExceeded,
            other => Outcome::Failed { kind: other.kind() },
        }
    }

    /// The outcome of a call whose reply was read to its end: [`Cached`](Self::Cached)
    /// when a cache answered, else [`Ok`](Self::Ok).
    pub fn of_response(response: &LlmResponse) -> Self {
        match response.extensions.get::<CacheStatus>() {
            Some(status) if status.is_hit() => Outcome::Cached,
            _ => Outcome::Ok,
        }
    }

    /// A short, stable name: `ok`, `cached`, `blocked`, `budget_exceeded`,
    /// `error` or `cancelled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Cached => "cached",
            Outcome::Blocked => "blocked",
            Outcome::BudgetExceeded => "budget_exceeded",
            Outcome::Failed { .. } => "error",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// What went wrong, for a call that did not succeed: the error's
    /// [`kind`](Error::kind) (`blocked` and `budget_exceeded` included), or
    /// `cancelled`. `None` for a success.
    pub fn error_type(&self) -> Option<&'static str> {
        match self {
            Outcome::Ok | Outcome::Cached => None,
            Outcome::Blocked => Some("blocked"),
            Outcome::BudgetExceeded => Some("budget_exceeded"),
            Outcome::Failed { kind } => Some(kind),
            Outcome::Cancelled => Some("cancelled"),
        }
    }

    /// Whether the caller received a whole reply.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Cached)
    }
}

/// What a cache did with a call.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served from an entry with the same canonical key.
    HitExact,
    /// Served from a semantically similar entry.
    HitSemantic {
        /// The similarity of the prompt to the entry's (higher is closer).
        score: f32,
    },
    /// Looked up, not found; the reply may be stored.
    Miss,
    /// Not looked up (the request asked not to be cached, or cannot be).
    Bypass,
}

impl CacheStatus {
    /// Whether the reply came from the cache.
    pub fn is_hit(&self) -> bool {
        matches!(self, CacheStatus::HitExact | CacheStatus::HitSemantic { .. })
    }
}

/// The route a router took: the deployment that answered and the attempts
/// that failed before it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouteTaken {
    /// The deployment that answered (the router's name for it).
    pub deployment: String,
    /// The concrete model it was asked for.
    pub model: String,
    /// Attempts that failed before, oldest first.
    pub failed_attempts: Vec<Attempt>,
}

impl RouteTaken {
    /// The route through `deployment` for `model`, with no failed attempt.
    pub fn new(deployment: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            deployment: deployment.into(),
            model: model.into(),
            failed_attempts: Vec::new(),
        }
    }

    /// How many attempts were made in all.
    pub fn attempts(&self) -> usize {
        self.failed_attempts.len() + 1
    }
}

/// Where a guard looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuardStage {
    /// The request, before the call.
    Input,
    /// The reply.
    Output,
}

/// What a guard did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardAction {
    /// Nothing to do.
    Passed,
    /// Let through, and noted.
    Flagged,
    /// Changed this many findings (placeholders, masks, hashes, removals).
    Redacted {
        /// How many.
        count: usize,
    },
    /// Refused.
    Blocked,
}

/// One guard's verdict on one call.
///
/// It never holds the text a guard found: only what kind of thing was
/// found, where, and what was done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardVerdict {
    /// The guard's name.
    pub guard: String,
    /// Where it looked.
    pub stage: GuardStage,
    /// What it did (in a dry run: what it would have done).
    pub action: GuardAction,
    /// What it found, in order.
    pub findings: Vec<GuardFinding>,
    /// For a refusal or a flag: why, in words safe to show the caller.
    pub reason: Option<String>,
    /// Whether the guard ran in dry-run mode: it only noted what it would
    /// have done, and the call went on unchanged.
    pub dry_run: bool,
    /// For a reply refused part-way through a stream: how many bytes of the
    /// reply's content (text and tool-call arguments) had already reached
    /// the caller.
    pub delivered: Option<usize>,
}

impl GuardVerdict {
    /// A verdict with no finding.
    pub fn new(guard: impl Into<String>, stage: GuardStage, action: GuardAction) -> Self {
        Self {
            guard: guard.into(),
            stage,
            action,
            findings: Vec::new(),
            reason: None,
            dry_run: false,
            delivered: None,
        }
    }

    /// Sets the findings.
    #[must_use]
    pub fn with_findings(mut self, findings: Vec<GuardFinding>) -> Self {
        self.findings = findings;
        self
    }

    /// Sets the reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Marks the verdict as a dry run's.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }
}

/// One thing a guard found: its kind, where it was, and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardFinding {
    /// What was found: an entity kind (`EMAIL`, `CARD`, `AWS_ACCESS_KEY`) or
    /// a guard's own label (`injection`, a deny list's name).
    pub entity: String,
    /// Where.
    pub location: FindingLocation,
    /// The byte range of the finding in that text, as the guard saw it.
    pub range: std::ops::Range<usize>,
    /// What was done with it.
    pub action: FindingAction,
}

impl GuardFinding {
    /// A finding.
    pub fn new(
        entity: impl Into<String>,
        location: FindingLocation,
        range: std::ops::Range<usize>,
        action: FindingAction,
    ) -> Self {
        Self {
            entity: entity.into(),
            location,
            range,
            action,
        }
    }
}

/// Which text of a call a [`GuardFinding`] is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingLocation {
    /// A text of the request: part `part` of message `message` (both
    /// counted from 0), or, for a text inside a tool result, text `inner`
    /// of that tool result's content. A tool call's arguments are its part.
    Request {
        /// The message's index.
        message: usize,
        /// The part's index within the message.
        part: usize,
        /// The index within a tool result's content, for a text inside one.
        inner: Option<usize>,
    },
    /// The whole request (a check that is not about one text).
    RequestAsAWhole,
    /// The reply's text; the range counts bytes from the reply's start.
    ReplyText,
    /// The arguments of the reply's tool call `index`.
    ReplyToolCall {
        /// The tool call's index.
        index: usize,
    },
    /// The whole reply.
    ReplyAsAWhole,
}

/// What a guard did with one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingAction {
    /// Left as it was, and noted.
    Flagged,
    /// Replaced with a typed placeholder (`<EMAIL_1>`); the original is put
    /// back into the reply.
    Placeholder,
    /// Replaced with a mask that keeps its last characters (`****1234`).
    Masked,
    /// Replaced with a stable, salted hash of it.
    Hashed,
    /// Removed.
    Removed,
    /// The call was refused because of it.
    Blocked,
}

impl FindingAction {
    /// A short, stable name: `flagged`, `placeholder`, `masked`, `hashed`,
    /// `removed` or `blocked`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FindingAction::Flagged => "flagged",
            FindingAction::Placeholder => "placeholder",
            FindingAction::Masked => "masked",
            FindingAction::Hashed => "hashed",
            FindingAction::Removed => "removed",
            FindingAction::Blocked => "blocked",
        }
    }

    /// Whether the text was changed.
    pub fn edits(&self) -> bool {
        matches!(
            self,
            FindingAction::Placeholder
                | FindingAction::Masked
                | FindingAction::Hashed
                | FindingAction::Removed
        )
    }
}

/// Every guard's verdict on a call, in the order they ran.
///
/// A shared handle: input verdicts are known before the call, output
/// verdicts only at the reply's end (a stream is checked as it goes), after
/// the response head left the guard. A guard inserts the handle into the
/// response's extensions when the head passes, keeps a clone, and pushes its
/// output verdict at the end; layers further out (audit) read
/// [`verdicts`](Self::verdicts) from their own end hook, which runs after the
/// guard's.
///
/// ```
/// use tower_ai::types::{GuardAction, GuardStage, GuardVerdict, GuardVerdicts};
///
/// let verdicts = GuardVerdicts::new();
/// let kept = verdicts.clone();
/// kept.push(GuardVerdict::new("pii", GuardStage::Output, GuardAction::Redacted { count: 2 }));
/// assert_eq!(verdicts.verdicts()[0].action, GuardAction::Redacted { count: 2 });
/// ```
#[derive(Debug, Clone, Default)]
pub struct GuardVerdicts {
    verdicts: Arc<Mutex<Vec<GuardVerdict>>>,
}

impl GuardVerdicts {
    /// No verdict yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a verdict; every clone of this handle sees it.
    pub fn push(&self, verdict: GuardVerdict) {
        self.lock().push(verdict);
    }

    /// The verdicts so far, in order.
    pub fn verdicts(&self) -> Vec<GuardVerdict> {
        self.lock().clone()
    }

    /// Whether some guard blocked the call (a dry run's would-be refusal
    /// does not count: the call went on).
    pub fn any_blocked(&self) -> bool {
        self.lock()
            .iter()
            .any(|v| v.action == GuardAction::Blocked && !v.dry_run)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<GuardVerdict>> {
        // A panic while holding the lock cannot leave a Vec half-pushed.
        self.verdicts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle that keeps a reply out of the cache, for a layer outside the
/// cache that refuses the reply after the cache let it through (an output
/// guard).
///
/// The cache layer puts one in the extensions of every response it stores
/// or replays. [`discard`](Self::discard) makes sure the reply is not kept:
/// if it is not stored yet (a stream still running) it never will be, and
/// if it is, its entry is removed. Layers inside the cache need nothing of
/// the kind: a reply they fail or mark blocked in [`GuardVerdicts`] is
/// never stored.
///
/// ```
/// use tower_ai::types::CacheDiscard;
///
/// let discard = CacheDiscard::new();
/// assert!(!discard.is_discarded());
/// discard.clone().discard();
/// assert!(discard.is_discarded());
/// ```
#[derive(Clone, Default)]
pub struct CacheDiscard {
    state: Arc<Mutex<DiscardState>>,
}

#[derive(Default)]
struct DiscardState {
    discarded: bool,
    /// Removes the stored entry, once there is one.
    remove: Option<Box<dyn FnOnce() + Send>>,
}

impl fmt::Debug for CacheDiscard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheDiscard")
            .field("discarded", &self.is_discarded())
            .finish_non_exhaustive()
    }
}

impl CacheDiscard {
    /// A handle with nothing stored yet and nothing discarded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the reply out of the cache (every clone of this handle sees it).
    pub fn discard(&self) {
        let remove = {
            let mut state = self.lock();
            state.discarded = true;
            state.remove.take()
        };
        if let Some(remove) = remove {
            remove();
        }
    }

    /// Whether [`discard`](Self::discard) was called.
    pub fn is_discarded(&self) -> bool {
        self.lock().discarded
    }

    /// For the cache: stores the reply with `store` unless it was
    /// discarded, and keeps `remove` to undo that on a later discard.
    /// Returns whether it stored.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn store_unless_discarded(
        &self,
        store: impl FnOnce(),
        remove: impl FnOnce() + Send + 'static,
    ) -> bool {
        let mut state = self.lock();
        if state.discarded {
            return false;
        }
        store();
        state.remove = Some(Box::new(remove));
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiscardState> {
        // The state is a flag and an option: a panic cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An amount charged against a budget.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Charge {
    /// Tokens, input and output.
    pub tokens: u64,
    /// Cost in US dollars, when the model's prices are known.
    pub cost_usd: Option<f64>,
    /// Requests (1 per call).
    pub requests: u64,
    /// Whether the figures were counted or estimated locally rather than
    /// reported by the vendor (a reply without usage, a stream cut before
    /// its usage arrived, a reservation's worst case).
    pub estimated: bool,
}

impl Charge {
    /// A charge of `tokens` tokens and one request, as reported.
    pub fn new(tokens: u64, cost_usd: Option<f64>) -> Self {
        Self {
            tokens,
            cost_usd,
            requests: 1,
            estimated: false,
        }
    }

    /// Marks the figures as estimated.
    #[must_use]
    pub fn estimated(mut self) -> Self {
        self.estimated = true;
        self
    }
}

/// What a budget reserved for a call and, once the reply ended, what it
/// settled to.
///
/// The reservation is known when the reply's head leaves the budget layer;
/// the settlement only at the reply's end (a stream's usage comes last), so
/// it is shared: layers further out read [`settled`](Self::settled) from their
/// own end hook, which runs after the budget's.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BudgetCharge {
    /// The scopes charged (for example `tenant:acme`, `user:u-42`).
    pub scopes: Vec<String>,
    /// What was reserved before the call.
    pub reserved: Charge,
    settled: Arc<OnceLock<Charge>>,
}

impl BudgetCharge {
    /// A reservation against these scopes.
    pub fn new(scopes: Vec<String>, reserved: Charge) -> Self {
        Self {
            scopes,
            reserved,
            settled: Arc::default(),
        }
    }

    /// Records what the call finally cost (once; later calls are ignored).
    /// Every clone of this value sees it.
    pub fn settle(&self, charge: Charge) {
        let _ = self.settled.set(charge);
    }

    /// What the call finally cost, once settled.
    pub fn settled(&self) -> Option<Charge> {
        self.settled.get().copied()
    }

    #[cfg(feature = "budget")]
    /// Where this charge (and every clone of it) learns what the call cost,
    /// for the layer that settles it, without a copy of the scopes.
    pub(crate) fn settlement(&self) -> Settlement {
        Settlement(Arc::clone(&self.settled))
    }
}

/// Settles one [`BudgetCharge`] ([`BudgetCharge::settlement`]).
#[cfg(feature = "budget")]
#[derive(Debug)]
pub(crate) struct Settlement(Arc<OnceLock<Charge>>);

#[cfg(feature = "budget")]
impl Settlement {
    /// Records what the call finally cost (once; later calls are ignored).
    pub(crate) fn settle(&self, charge: Charge) {
        let _ = self.0.set(charge);
    }
}
