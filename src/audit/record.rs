//! [`AuditRecord`]: what is kept of one call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What is kept of one call, whatever its outcome: who asked which model
/// for what, what answered, what it cost, and what the layers decided.
///
/// Never a credential, and never a finding's value: guard findings keep
/// their kind, place and action. The content itself is kept only if the
/// application asks, after the guardrail's redaction.
///
/// Fields that do not apply are left out of the JSON (`None`, empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The call's request id.
    pub id: String,
    /// When the call started, RFC 3339 in UTC with microseconds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub start: String,
    /// When the call ended (its reply read to the end, its error, or its
    /// cancellation), RFC 3339 in UTC with microseconds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub end: String,
    /// Who called: tenant, team, user, key id (never the key).
    #[serde(default, skip_serializing_if = "AuditPrincipal::is_empty")]
    pub principal: AuditPrincipal,
    /// The call's tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The model or alias asked for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Complete or stream.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// What answered, when a provider did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<AuditServed>,
    /// How the call ended.
    pub outcome: AuditOutcome,
    /// What the guards decided, findings without their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<AuditGuard>,
    /// The cache's answer: `hit`, `miss`, `bypass`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// What the budget charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<AuditCharge>,
    /// Tokens, as reported (or estimated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<AuditUsage>,
    /// The call's cost in US dollars, when prices are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// From the call's start to its end, in milliseconds.
    #[serde(default)]
    pub latency_ms: f64,
    /// From the call's start to the first content of its reply, in
    /// milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// The SHA-256 (hex) of the request's canonical form: equal requests,
    /// equal hashes, whatever their field order.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_sha256: String,
    /// The SHA-256 (hex) of the reply's text and tool calls, when there was
    /// a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_sha256: Option<String>,
    /// The request and reply themselves, only when asked for, after the
    /// guardrail's redaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<serde_json::Value>,
    /// Records dropped since the one before this, under the drop-and-count
    /// queue policy; 0 otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_before: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl AuditRecord {
    /// A record of call `id`, ended [`ok`](AuditOutcome::ok), the rest
    /// empty: for tests and for sinks' examples.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            outcome: AuditOutcome::ok(),
            ..Self::default()
        }
    }
}

/// Who called.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditPrincipal {
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The key's id (never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl AuditPrincipal {
    fn is_empty(&self) -> bool {
        self.tenant.is_none() && self.team.is_none() && self.user.is_none() && self.key_id.is_none()
    }
}

/// What answered a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditServed {
    /// The provider's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// The router's deployment, when a router chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// The attempts that failed before, in order: deployment and error
    /// kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_attempts: Vec<AuditAttempt>,
}

/// One failed attempt of a routed call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditAttempt {
    /// The deployment tried.
    pub deployment: String,
    /// The error's kind.
    pub error: String,
}

/// How a call ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditOutcome {
    /// `ok`, `cached`, `blocked`, `budget_exceeded`, `error` or
    /// `cancelled`.
    pub status: String,
    /// The error's kind, for `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The guard that refused, for `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// The budget scope that refused, for `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Whether the reply's head had been returned when the call failed or
    /// was cancelled: a stream cut after it started.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_head: bool,
}

impl AuditOutcome {
    /// `ok`.
    pub fn ok() -> Self {
        Self {
            status: "ok".to_owned(),
            ..Self::default()
        }
    }
}

/// What one guard decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditGuard {
    /// The guard's name.
    pub guard: String,
    /// `input` or `output`.
    pub stage: String,
    /// `allow`, `flag`, `redact` or `block`.
    pub action: String,
    /// Whether the guard ran in dry run (noted, not enforced).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// What it found: kinds, places and actions, never values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<AuditFinding>,
}

/// One finding of a guard, without its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditFinding {
    /// What was found: `EMAIL`, `CARD`, `OPENAI_KEY`, ...
    pub entity: String,
    /// Where: `message 2`, `reply`, `tool call 0`, ...
    pub location: String,
    /// The byte range in that text.
    pub range: [usize; 2],
    /// What was done: `placeholder`, `mask`, `hash`, `remove`, `block`,
    /// `flag`.
    pub action: String,
}

/// What a budget charged a call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditCharge {
    /// The scopes charged (`tenant:acme`, `user:ann`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Tokens charged.
    pub tokens: u64,
    /// Cost charged, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Requests charged.
    pub requests: u64,
    /// Whether the charge is an estimate (the provider reported no usage).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// A call's tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditUsage {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_input: u64,
    /// Reasoning tokens (counted in `output` too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning: u64,
    /// `reported`, `estimated` or `cache_hit`.
    pub source: String,
}
