//! Limits as configuration: who, what, over which period, how much.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::Window;
use crate::types::LlmRequest;

/// Whose calls a limit counts together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scope {
    /// Every call through the layer.
    Global,
    /// Each tenant apart ([`Principal::tenant`](crate::Principal::tenant)).
    Tenant,
    /// Each team apart.
    Team,
    /// Each user apart.
    User,
    /// Each application key apart (its id).
    Key,
    /// Each model apart (the model the request names).
    Model,
    /// Each value of the request's tag of this name apart.
    Tag(String),
}

impl Scope {
    /// The name the scope goes by in keys and errors.
    fn name(&self) -> String {
        match self {
            Scope::Global => "global".to_owned(),
            Scope::Tenant => "tenant".to_owned(),
            Scope::Team => "team".to_owned(),
            Scope::User => "user".to_owned(),
            Scope::Key => "key".to_owned(),
            Scope::Model => "model".to_owned(),
            Scope::Tag(name) => format!("tag.{name}"),
        }
    }

    /// The value of this scope for `request`; `None` when the request has
    /// none (a per-user limit and a call without a user).
    fn value<'a>(&self, request: &'a LlmRequest) -> Option<&'a str> {
        let principal = &request.meta.principal;
        match self {
            Scope::Global => Some(""),
            Scope::Tenant => principal.tenant.as_deref(),
            Scope::Team => principal.team.as_deref(),
            Scope::User => principal.user.as_deref(),
            Scope::Key => principal.key_id.as_deref(),
            Scope::Model => Some(request.model()),
            Scope::Tag(name) => request.meta.tags.get(name).map(String::as_str),
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Calls.
    Requests,
    /// Prompt tokens.
    InputTokens,
    /// Generated tokens.
    OutputTokens,
    /// Prompt and generated tokens.
    TotalTokens,
    /// Cost in micro-dollars (millionths of a US dollar), from the model's prices.
    CostMicros,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::InputTokens => "input tokens",
            Metric::OutputTokens => "output tokens",
            Metric::TotalTokens => "tokens",
            Metric::CostMicros => "micro-dollars",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Metric::Requests => "req",
            Metric::InputTokens => "in",
            Metric::OutputTokens => "out",
            Metric::TotalTokens => "tok",
            Metric::CostMicros => "usd_u",
        }
    }
}

/// The period a limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Period {
    /// The calendar minute (UTC).
    Minute,
    /// The calendar hour (UTC).
    Hour,
    /// The calendar day (UTC).
    Day,
    /// The calendar month (UTC).
    Month,
    /// The last so many seconds, rolling.
    RollingSecs(u64),
    /// For ever.
    Lifetime,
}

impl Period {
    pub(crate) fn window(self) -> Window {
        match self {
            Period::Minute => Window::MINUTE,
            Period::Hour => Window::HOUR,
            Period::Day => Window::DAY,
            Period::Month => Window::Month,
            Period::RollingSecs(secs) => Window::Rolling(Duration::from_secs(secs.max(1))),
            Period::Lifetime => Window::Unbounded,
        }
    }

    fn name(self) -> String {
        match self {
            Period::Minute => "per minute".to_owned(),
            Period::Hour => "per hour".to_owned(),
            Period::Day => "per day".to_owned(),
            Period::Month => "per month".to_owned(),
            Period::RollingSecs(secs) => format!("per rolling {secs} s"),
            Period::Lifetime => "in all".to_owned(),
        }
    }

    /// The key of a period without a length of its own.
    fn fixed_key(self) -> &'static str {
        match self {
            Period::Minute => "m",
            Period::Hour => "h",
            Period::Day => "d",
            Period::Month => "mo",
            Period::Lifetime => "all",
            Period::RollingSecs(_) => "r",
        }
    }
}

/// One limit: at most `max` of a metric, per scope, over a period.
///
/// ```
/// use tower_ai::budget::{Limit, Metric, Period, Scope};
///
/// // 100 000 tokens a day for each user, and for user "ann", 1 000 000.
/// let each = Limit::new(Scope::User, Metric::TotalTokens, Period::Day, 100_000);
/// let ann = Limit::new(Scope::User, Metric::TotalTokens, Period::Day, 1_000_000).only("ann");
/// // The same, as configuration.
/// let parsed: Limit = serde_json::from_str(
///     r#"{"scope":"user","metric":"total_tokens","period":"day","max":100000}"#,
/// ).unwrap();
/// assert_eq!(parsed, each);
/// # let _ = ann;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Limit {
    /// Whose calls count together.
    pub scope: Scope,
    /// What is counted.
    pub metric: Metric,
    /// Over which period.
    pub period: Period,
    /// The most allowed.
    pub max: u64,
    /// When set, the limit applies only to this value of the scope (one
    /// user, one tenant), and replaces any limit of the same scope, metric
    /// and period without a value for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
}

impl Limit {
    /// At most `max` of `metric` per `scope` over `period`.
    pub fn new(scope: Scope, metric: Metric, period: Period, max: u64) -> Self {
        Self {
            scope,
            metric,
            period,
            max,
            only: None,
        }
    }

    /// Applies the limit to one value of its scope only.
    #[must_use]
    pub fn only(mut self, value: impl Into<String>) -> Self {
        self.only = Some(value.into());
        self
    }

    /// The limit made ready for calls, among `all` the layer's limits.
    pub(crate) fn prepare(&self, all: &[Limit]) -> Prepared {
        let scope_prefix = match &self.scope {
            Scope::Global => "global".to_owned(),
            scope => format!("{}:", scope.name()),
        };
        let counter_prefix = self.key_with("");
        let overridden = all
            .iter()
            .filter(|other| self.overridden_by(other))
            .filter_map(|other| other.only.clone())
            .collect();
        Prepared {
            counter_prefix,
            scope_prefix,
            overridden,
        }
    }

    /// The scope with its value, as errors name it (`user:ann`, `global`).
    fn scope_for(&self, value: &str) -> String {
        if matches!(self.scope, Scope::Global) {
            "global".to_owned()
        } else {
            format!("{}:{value}", self.scope.name())
        }
    }

    /// The counter's key for one value of the scope: the metric, the
    /// period and the scope, so two limits that differ in any share nothing.
    pub(crate) fn key_for(&self, value: &str) -> String {
        self.key_with(&self.scope_for(value))
    }

    fn key_with(&self, scope: &str) -> String {
        use std::fmt::Write;
        let mut key = String::with_capacity(16 + scope.len());
        key.push_str(self.metric.key());
        key.push(':');
        match self.period {
            Period::RollingSecs(secs) => {
                let _ = write!(key, "r{secs}");
            }
            period => key.push_str(period.fixed_key()),
        }
        key.push(':');
        key.push_str(scope);
        key
    }

    /// Whether the two limits count on one counter.
    pub(crate) fn same_counter(&self, other: &Limit) -> bool {
        self.scope == other.scope
            && self.metric == other.metric
            && self.period == other.period
            && self.only == other.only
    }

    /// Whether this limit, without a value, gives way to `other`, which
    /// names one.
    pub(crate) fn overridden_by(&self, other: &Limit) -> bool {
        self.only.is_none()
            && other.only.is_some()
            && self.scope == other.scope
            && self.metric == other.metric
            && self.period == other.period
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.max, self.metric.name(), self.period.name())
    }
}

/// A limit made ready for calls ([`Limit::prepare`]): what its keys begin
/// with, and the values of its scope that have a limit of their own.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The counter key up to the scope: metric and period (`tok:d:`).
    counter_prefix: String,
    /// The scope up to its value (`user:`), or all of it (`global`).
    scope_prefix: String,
    /// Values with a limit of the same scope, metric and period of their
    /// own, which replaces this one for them.
    overridden: Vec<String>,
}

impl Prepared {
    /// The counter `limit` uses for `request`, if it applies to it: the
    /// request has a value for its scope, the value is the one the limit is
    /// for (`only`), and no limit for that very value replaces it.
    pub(crate) fn applies(&self, limit: &Limit, request: &LlmRequest) -> Option<Applied> {
        let value = limit.scope.value(request)?;
        match &limit.only {
            Some(only) if only != value => return None,
            Some(_) => {}
            None if self.overridden.iter().any(|v| v == value) => return None,
            None => {}
        }
        let global = matches!(limit.scope, Scope::Global);
        let value = if global { "" } else { value };
        let mut key =
            String::with_capacity(self.counter_prefix.len() + self.scope_prefix.len() + value.len());
        key.push_str(&self.counter_prefix);
        key.push_str(&self.scope_prefix);
        key.push_str(value);
        Some(Applied {
            key,
            scope_at: self.counter_prefix.len(),
        })
    }
}

/// A limit as it applies to one call.
pub(crate) struct Applied {
    /// The counter's key, which ends with the scope.
    pub(crate) key: String,
    /// Where the scope begins in the key.
    scope_at: usize,
}

impl Applied {
    /// The scope with its value, as errors name it (`user:ann`).
    pub(crate) fn scope(&self) -> &str {
        &self.key[self.scope_at..]
    }
}
