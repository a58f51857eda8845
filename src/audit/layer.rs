//! [`AuditLayer`]: one record per call, through the lifecycle observer.

use std::fmt;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use futures_util::future::Either;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::OwnedPermit;
use tokio::sync::oneshot;
use tower_layer::Layer;
use tower_service::Service;

use super::hold::Held;
use super::log::{AuditLog, Entry, QueuePolicy, Rest};
use super::record::{
    AuditAttempt, AuditCharge, AuditFinding, AuditGuard, AuditOutcome, AuditPrincipal, AuditRecord,
    AuditServed, AuditUsage,
};
use crate::error::Error;
use crate::observe::{End, Lifecycle, Observer};
use crate::types::{
    BudgetCharge, CacheStatus, ChatResponse, FindingLocation, GuardAction, GuardStage, GuardVerdicts,
    LlmRequest, LlmResponse, Operation, ReplyMode, RouteTaken, ServedBy, StreamEvent, UsageSource,
};

/// Records every call through it into an [`AuditLog`]: see
/// [`AuditLog::layer`].
#[derive(Debug, Clone)]
pub struct AuditLayer {
    log: AuditLog,
}

impl AuditLayer {
    pub(super) fn new(log: AuditLog) -> Self {
        Self { log }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = Audit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Audit {
            inner,
            log: self.log.clone(),
            permit: None,
            reserving: None,
        }
    }
}

type Reserving = Pin<
    Box<
        dyn Future<Output = Result<OwnedPermit<Entry>, tokio::sync::mpsc::error::SendError<()>>>
            + Send
            + Sync,
    >,
>;

/// The service of [`AuditLayer`].
pub struct Audit<S> {
    inner: S,
    log: AuditLog,
    /// A place in the queue, taken when ready ([`QueuePolicy::Wait`]).
    permit: Option<OwnedPermit<Entry>>,
    reserving: Option<Reserving>,
}

impl<S: Clone> Clone for Audit<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            log: self.log.clone(),
            permit: None,
            reserving: None,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Audit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audit")
            .field("inner", &self.inner)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl<S> Service<LlmRequest> for Audit<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = Held<Lifecycle<Either<S::Future, Ready<Result<LlmResponse, Error>>>, Recorder>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.log.shared.policy == QueuePolicy::Wait && self.permit.is_none() {
            let queue = self.log.queue.clone();
            let reserving = self
                .reserving
                .get_or_insert_with(|| Box::pin(queue.reserve_owned()));
            match reserving.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(reserved) => {
                    self.reserving = None;
                    // A closed queue: the call is refused in `call`.
                    self.permit = reserved.ok();
                }
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: LlmRequest) -> Self::Future {
        let permit = match self.log.shared.policy {
            QueuePolicy::Wait => self.permit.take().ok_or("writer stopped"),
            QueuePolicy::Refuse | QueuePolicy::DropAndCount => {
                match self.log.queue.clone().try_reserve_owned() {
                    Ok(permit) => Ok(permit),
                    Err(TrySendError::Full(_)) => Err("queue full"),
                    Err(TrySendError::Closed(_)) => Err("writer stopped"),
                }
            }
        };
        let permit = match permit {
            Ok(permit) => Some(permit),
            Err("queue full") if self.log.shared.policy == QueuePolicy::DropAndCount => None,
            Err(reason) => {
                // Refused: nothing is sent upstream, and nothing recorded
                // (the log cannot take it).
                let recorder = Recorder::start(&request, None, &self.log, GuardVerdicts::new(), false);
                let refused = std::future::ready(Err(Error::AuditUnavailable { reason }));
                return Held::new(Lifecycle::new(Either::Right(refused), recorder), None);
            }
        };
        let verdicts = match request.extensions.get::<GuardVerdicts>() {
            Some(verdicts) => verdicts.clone(),
            None => {
                let verdicts = GuardVerdicts::new();
                request.extensions.insert(verdicts.clone());
                verdicts
            }
        };
        let mut recorder = Recorder::start(&request, permit, &self.log, verdicts, true);
        let acknowledged = if self.log.shared.hold {
            let (ack, acknowledged) = oneshot::channel();
            recorder.ack = Some(ack);
            Some(acknowledged)
        } else {
            None
        };
        Held::new(
            Lifecycle::new(Either::Left(self.inner.call(request)), recorder),
            acknowledged,
        )
    }
}

/// The call's [`Observer`]: builds its record, and sends it through the
/// place it holds in the queue when the call ends, however it ends.
pub struct Recorder {
    record: Box<AuditRecord>,
    operation: Operation,
    /// When the call started, by the wall clock.
    wall: SystemTime,
    permit: Option<OwnedPermit<Entry>>,
    log: AuditLog,
    verdicts: GuardVerdicts,
    started: Instant,
    first_content: Option<Instant>,
    head_returned: bool,
    cached: bool,
    budget: Option<BudgetCharge>,
    request_content: Option<serde_json::Value>,
    /// Told the record's sequence number once it is acknowledged, when the
    /// reply waits for that.
    ack: Option<oneshot::Sender<u64>>,
    /// Whether there is a record to send (not for a refused call).
    live: bool,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("id", &self.record.id)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// `live`: whether the call has a record to send (a place in the queue,
    /// or one to drop and count); not for a call refused by the log.
    fn start(
        request: &LlmRequest,
        permit: Option<OwnedPermit<Entry>>,
        log: &AuditLog,
        verdicts: GuardVerdicts,
        live: bool,
    ) -> Self {
        let meta = &request.meta;
        let started = meta.started;
        let wall = SystemTime::now()
            .checked_sub(started.elapsed())
            .unwrap_or_else(SystemTime::now);
        let principal = &meta.principal;
        let mut record = Box::new(AuditRecord::new(meta.id.clone()));
        record.principal = AuditPrincipal {
            tenant: principal.tenant.clone(),
            team: principal.team.clone(),
            user: principal.user.clone(),
            key_id: principal.key_id.clone(),
        };
        record.tags = meta.tags.clone();
        record.model = request.model().to_owned();
        record.mode = match request.mode {
            ReplyMode::Stream => "stream",
            _ => "complete",
        }
        .to_owned();
        let request_content = if log.shared.content {
            request.chat().and_then(|chat| serde_json::to_value(chat).ok())
        } else {
            None
        };
        Self {
            record,
            operation: request.operation.clone(),
            wall,
            permit,
            log: log.clone(),
            verdicts,
            started,
            first_content: None,
            head_returned: false,
            cached: false,
            budget: None,
            request_content,
            ack: None,
            live,
        }
    }

    /// Fills in what the end tells, and sends the record.
    fn finish(mut self, outcome: AuditOutcome, reply: Option<&ChatResponse>) {
        if !self.live {
            return;
        }
        let ended = SystemTime::now();
        let record = &mut self.record;
        record.latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        record.ttft_ms = self
            .first_content
            .map(|t| t.duration_since(self.started).as_secs_f64() * 1000.0);
        record.outcome = outcome;
        record.guards = self.verdicts.verdicts().iter().map(guard).collect();
        if let Some(charge) = &self.budget {
            let charged = charge.settled().unwrap_or(charge.reserved);
            record.budget = Some(AuditCharge {
                scopes: charge.scopes.clone(),
                tokens: charged.tokens,
                cost_usd: charged.cost_usd,
                requests: charged.requests,
                estimated: charged.estimated,
            });
            record.cost_usd = charged.cost_usd;
        }
        if let Some(reply) = reply {
            if let Some(usage) = &reply.usage {
                record.usage = Some(AuditUsage {
                    input: usage.input_tokens,
                    output: usage.output_tokens,
                    cached_input: usage.cache_read_tokens,
                    reasoning: usage.reasoning_tokens,
                    source: match usage.source {
                        UsageSource::Reported => "reported",
                        UsageSource::Estimated => "estimated",
                        _ => "cache_hit",
                    }
                    .to_owned(),
                });
            }
            if self.log.shared.content {
                let mut content = serde_json::Map::new();
                if let Some(request) = self.request_content.take() {
                    content.insert("request".to_owned(), request);
                }
                if let Ok(reply) = serde_json::to_value(&reply.message) {
                    content.insert("reply".to_owned(), reply);
                }
                record.content = Some(serde_json::Value::Object(content));
            }
        } else if let Some(request) = self.request_content.take() {
            let mut content = serde_json::Map::new();
            content.insert("request".to_owned(), request);
            record.content = Some(serde_json::Value::Object(content));
        }
        match self.permit.take() {
            Some(permit) => {
                let rest = Rest {
                    operation: self.operation,
                    started: self.wall,
                    ended,
                    reply: reply.map(|r| r.message.clone()),
                };
                permit.send(Entry::Record {
                    record: self.record,
                    rest,
                    ack: self.ack.take(),
                });
            }
            None => {
                self.log.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.log.shared.dropped_since.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "telemetry")]
                metrics::counter!("tower_ai.audit.dropped").increment(1);
            }
        }
    }
}

fn guard(verdict: &crate::types::GuardVerdict) -> AuditGuard {
    AuditGuard {
        guard: verdict.guard.clone(),
        stage: match verdict.stage {
            GuardStage::Input => "input",
            _ => "output",
        }
        .to_owned(),
        action: match verdict.action {
            GuardAction::Passed => "allow",
            GuardAction::Flagged => "flag",
            GuardAction::Redacted { .. } => "redact",
            _ => "block",
        }
        .to_owned(),
        dry_run: verdict.dry_run,
        findings: verdict
            .findings
            .iter()
            .map(|f| AuditFinding {
                entity: f.entity.clone(),
                location: location(&f.location),
                range: [f.range.start, f.range.end],
                action: f.action.as_str().to_owned(),
            })
            .collect(),
    }
}

fn location(location: &FindingLocation) -> String {
    match location {
        FindingLocation::Request {
            message,
            part,
            inner: Some(inner),
        } => format!("message {message} part {part} text {inner}"),
        FindingLocation::Request { message, part, .. } => format!("message {message} part {part}"),
        FindingLocation::RequestAsAWhole => "request".to_owned(),
        FindingLocation::ReplyText => "reply".to_owned(),
        FindingLocation::ReplyToolCall { index } => format!("tool call {index}"),
        _ => "reply as a whole".to_owned(),
    }
}

fn outcome_of_error(error: &Error, after_head: bool) -> AuditOutcome {
    let mut outcome = AuditOutcome {
        after_head,
        ..AuditOutcome::default()
    };
    match error {
        Error::Blocked { guard, .. } => {
            outcome.status = "blocked".to_owned();
            outcome.guard = Some(guard.clone());
        }
        Error::BudgetExceeded { scope, .. } => {
            outcome.status = "budget_exceeded".to_owned();
            outcome.scope = Some(scope.clone());
        }
        other => {
            outcome.status = "error".to_owned();
            outcome.error = Some(other.kind().to_owned());
        }
    }
    outcome
}

impl Observer for Recorder {
    const NEEDS_CONTENT: bool = true;

    fn on_response(&mut self, response: &LlmResponse) {
        self.head_returned = true;
        let extensions = &response.extensions;
        if let Some(status) = extensions.get::<CacheStatus>() {
            self.cached = status.is_hit();
            self.record.cache = Some(
                match status {
                    CacheStatus::HitExact => "hit",
                    CacheStatus::HitSemantic { .. } => "hit_semantic",
                    CacheStatus::Miss => "miss",
                    _ => "bypass",
                }
                .to_owned(),
            );
        }
        let route = extensions.get::<RouteTaken>();
        if let Some(served) = extensions.get::<ServedBy>() {
            self.record.served = Some(AuditServed {
                provider: served.provider.clone(),
                model: served.model.clone(),
                deployment: route.map(|r| r.deployment.clone()),
                failed_attempts: route.map(attempts).unwrap_or_default(),
            });
        } else if let Some(route) = route {
            self.record.served = Some(AuditServed {
                model: route.model.clone(),
                deployment: Some(route.deployment.clone()),
                failed_attempts: attempts(route),
                ..AuditServed::default()
            });
        }
        self.budget = extensions.get::<BudgetCharge>().cloned();
        if let Some(verdicts) = extensions.get::<GuardVerdicts>() {
            // A layer that made its own handle rather than fill the one
            // passed down.
            if self.verdicts.verdicts().is_empty() {
                self.verdicts = verdicts.clone();
            }
        }
    }

    fn on_event(&mut self, event: &StreamEvent) {
        if self.first_content.is_none() && event.is_content() {
            self.first_content = Some(Instant::now());
        }
    }

    fn watches_complete_events(&self) -> bool {
        false
    }

    fn on_end(self, end: End<'_>) {
        let outcome = match end.error() {
            Some(error) => outcome_of_error(error, true),
            None if self.cached => AuditOutcome {
                status: "cached".to_owned(),
                ..AuditOutcome::default()
            },
            None => AuditOutcome::ok(),
        };
        let reply = end.reply();
        self.finish(outcome, reply);
    }

    fn on_error(self, error: &Error) {
        let outcome = outcome_of_error(error, false);
        self.finish(outcome, None);
    }

    fn on_cancel(self, partial: Option<&ChatResponse>) {
        let outcome = AuditOutcome {
            status: "cancelled".to_owned(),
            after_head: self.head_returned,
            ..AuditOutcome::default()
        };
        self.finish(outcome, partial);
    }
}

fn attempts(route: &RouteTaken) -> Vec<AuditAttempt> {
    route
        .failed_attempts
        .iter()
        .map(|a| AuditAttempt {
            deployment: a.deployment.clone(),
            error: a.error.kind().to_owned(),
        })
        .collect()
}
