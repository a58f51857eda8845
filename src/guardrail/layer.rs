//! [`GuardrailLayer`]: runs guards on each call, in order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::guard::{Guard, GuardInput, Verdict};
use super::reply::{OutputEntry, ReplyGuard};
use super::vault::Vault;
use crate::error::{Error, Result};
use crate::observe::attach;
use crate::types::{
    FindingLocation, GuardAction, GuardFinding, GuardStage, GuardVerdict, GuardVerdicts, LlmRequest,
    LlmResponse, Operation, Principal,
};

type Predicate = Arc<dyn Fn(&Principal) -> bool + Send + Sync>;

/// How a guard runs in a [`GuardrailLayer`]: for whom, and whether it acts.
#[derive(Clone, Default)]
pub struct GuardOptions {
    dry_run: bool,
    fail_open: bool,
    when: Option<Predicate>,
}

impl fmt::Debug for GuardOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardOptions")
            .field("dry_run", &self.dry_run)
            .field("fail_open", &self.fail_open)
            .field("only_for", &self.when.is_some())
            .finish()
    }
}

impl GuardOptions {
    /// The defaults: the guard acts, for everyone, and its own failure
    /// fails the call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Flag only: the guard runs and its verdict is noted (marked
    /// [`dry_run`](crate::types::GuardVerdict::dry_run), with the action it
    /// would have taken), but it changes nothing and refuses nothing. For
    /// measuring a guard before enforcing it.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// When the guard itself fails (a judge model is down), the call goes
    /// on and the failure is noted as a flag, instead of failing the call.
    #[must_use]
    pub fn fail_open(mut self) -> Self {
        self.fail_open = true;
        self
    }

    /// Runs the guard only for the principals `when` accepts (a tenant with
    /// stricter rules, say).
    #[must_use]
    pub fn only_for(mut self, when: impl Fn(&Principal) -> bool + Send + Sync + 'static) -> Self {
        self.when = Some(Arc::new(when));
        self
    }
}

#[derive(Clone)]
struct Entry {
    guard: Arc<dyn Guard>,
    options: GuardOptions,
}

struct Shared {
    entries: Vec<Entry>,
    dry_run: bool,
    window: usize,
}

/// The default [`stream_window`](GuardrailLayer::stream_window), in bytes.
pub const DEFAULT_STREAM_WINDOW: usize = 128;

/// A layer that runs guards on every chat call: on the request before it
/// goes on, in the order they were added, and on the reply on its way
/// back, complete or streamed.
///
/// - An input [`Verdict::Block`] fails the call with
///   [`Error::Blocked`](crate::Error::Blocked) before the inner service is
///   called; later guards do not run.
/// - Redactions change the request that goes on; placeholders are kept in
///   a vault made for the call, dropped with the reply, and the reply gets
///   the originals back (in its text and in tool calls' arguments, also
///   when a placeholder is split across stream deltas).
/// - Reply checks see the reply through a sliding window (see
///   [`stream_window`](Self::stream_window)); a block ends the stream with
///   [`Error::Blocked`](crate::Error::Blocked), never a clean end.
/// - Every guard's verdict, with its findings (kinds, places, actions, never
///   the text), is in the [`GuardVerdicts`] in the response's extensions;
///   a request that arrives with a `GuardVerdicts` handle in its extensions
///   (put there by an audit layer further out) gets them too, refusals
///   included.
///
/// Embeddings requests pass through unchecked.
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_ai::guardrail::detect::Detector;
/// use tower_ai::guardrail::{GuardrailLayer, PiiGuard};
/// use tower_ai::provider::{mock::MockProvider, ProviderService};
/// use tower_ai::types::{ChatRequest, GuardVerdicts};
/// use tower_ai::LlmRequest;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_ai::Error> {
/// // The model answers with the placeholder it was sent.
/// let model = MockProvider::new().with_text_reply("I will write to <EMAIL_1>.");
/// let service = ServiceBuilder::new()
///     .layer(GuardrailLayer::new().guard(PiiGuard::new(Detector::builder().build()?)))
///     .service(ProviderService::new(model.clone()));
///
/// let request = LlmRequest::new(ChatRequest::new("m").user("Mail ana@example.com, please."));
/// let response = service.oneshot(request).await?;
/// let verdicts = response.extensions.get::<GuardVerdicts>().cloned().unwrap();
/// let reply = response.into_complete().await?;
///
/// // The vendor saw a placeholder; the caller sees the address.
/// assert_eq!(model.requests()[0].last_user_text().unwrap(), "Mail <EMAIL_1>, please.");
/// assert_eq!(reply.text(), "I will write to ana@example.com.");
/// assert_eq!(verdicts.verdicts()[0].findings[0].entity, "EMAIL");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GuardrailLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for GuardrailLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.shared.entries.iter().map(|e| e.guard.name()).collect();
        f.debug_struct("GuardrailLayer")
            .field("guards", &names)
            .field("dry_run", &self.shared.dry_run)
            .field("stream_window", &self.shared.window)
            .finish()
    }
}

impl Default for GuardrailLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl GuardrailLayer {
    /// A layer with no guard yet.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                entries: Vec::new(),
                dry_run: false,
                window: DEFAULT_STREAM_WINDOW,
            }),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        Arc::get_mut(&mut self.shared).expect("a layer is configured before it is cloned")
    }

    /// Adds a guard, acting for everyone.
    #[must_use]
    pub fn guard(self, guard: impl Guard) -> Self {
        self.guard_with(guard, GuardOptions::new())
    }

    /// Adds a guard with options: for whom it runs, dry run, fail open.
    #[must_use]
    pub fn guard_with(mut self, guard: impl Guard, options: GuardOptions) -> Self {
        self.shared_mut().entries.push(Entry {
            guard: Arc::new(guard),
            options,
        });
        self
    }

    /// Runs every guard in dry-run mode (see [`GuardOptions::dry_run`]).
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.shared_mut().dry_run = dry_run;
        self
    }

    /// How many bytes of a streamed reply's text are held back while reply
    /// checks look for a finding that the next delta may complete (default
    /// [`DEFAULT_STREAM_WINDOW`]). Text is checked once at least
    /// `window + window / 2` bytes are held, and passed on but for the last
    /// `window`, so the caller reads the text about that many bytes late; a
    /// finding longer than the window may be passed on in part before it
    /// can be recognised, so raise it for long entities (PEM blocks). Each
    /// check also reads the 32 bytes passed on just before the held text,
    /// as context, so where a stream is cut does not change what is found.
    /// The layer holds at most 16 windows (and at least 64 KiB) at once.
    #[must_use]
    pub fn stream_window(mut self, bytes: usize) -> Self {
        self.shared_mut().window = bytes.max(1);
        self
    }
}

impl<S> Layer<S> for GuardrailLayer {
    type Service = Guardrail<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guardrail {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`GuardrailLayer`] makes.
#[derive(Clone)]
pub struct Guardrail<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Guardrail<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guardrail")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Service<LlmRequest> for Guardrail<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<LlmResponse>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(guarded(inner, shared, request))
    }
}

async fn guarded<S>(mut inner: S, shared: Arc<Shared>, mut request: LlmRequest) -> Result<LlmResponse>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    if request.chat().is_none() {
        return inner.call(request).await;
    }
    let verdicts = match request.extensions.get::<GuardVerdicts>() {
        Some(verdicts) => verdicts.clone(),
        None => {
            let verdicts = GuardVerdicts::new();
            request.extensions.insert(verdicts.clone());
            verdicts
        }
    };
    let mut vault = Vault::new();
    let mut output = Vec::new();
    for entry in &shared.entries {
        if let Some(when) = &entry.options.when {
            if !when(&request.meta.principal) {
                continue;
            }
        }
        let guard = entry.guard.clone();
        let dry_run = shared.dry_run || entry.options.dry_run;
        let checked = if dry_run {
            // A dry run checks a copy: its edits go nowhere.
            let mut scratch = request.clone();
            let mut scratch_vault = vault.clone();
            guard
                .check_input(&mut GuardInput::new(&mut scratch, &mut scratch_vault))
                .await
        } else {
            guard
                .check_input(&mut GuardInput::new(&mut request, &mut vault))
                .await
        };
        let verdict = match checked {
            Ok(verdict) => verdict,
            Err(error) if entry.options.fail_open => {
                let reason = format!("the guard failed ({}); the call went on", error.kind());
                verdicts.push(
                    GuardVerdict::new(guard.name(), GuardStage::Input, GuardAction::Flagged)
                        .with_reason(reason),
                );
                continue;
            }
            Err(error) => return Err(error),
        };
        let (action, findings, reason) = match verdict {
            Verdict::Allow => (GuardAction::Passed, Vec::new(), None),
            Verdict::Flag { reason, findings } => (GuardAction::Flagged, findings, reason),
            Verdict::Redact { findings } => {
                let count = findings.iter().filter(|f| f.action.edits()).count();
                (GuardAction::Redacted { count }, findings, None)
            }
            Verdict::Block { reason, findings } => (GuardAction::Blocked, findings, Some(reason)),
        };
        let mut noted =
            GuardVerdict::new(guard.name(), GuardStage::Input, action.clone()).with_findings(findings);
        noted.reason = reason.clone();
        noted.dry_run = dry_run;
        verdicts.push(noted);
        if action == GuardAction::Blocked && !dry_run {
            return Err(Error::blocked(guard.name(), reason.unwrap_or_default()));
        }
        if let Some(chat) = request.chat() {
            let text = guard.checks_reply_text(chat);
            let whole = guard.checks_reply(chat);
            if text || whole {
                output.push(OutputEntry::new(guard, dry_run, text, whole));
            }
        }
    }
    let chat = match &request.operation {
        Operation::Chat(chat) if !(output.is_empty() && vault.is_empty()) => Some(chat.clone()),
        _ => None,
    };
    let mut response = inner.call(request).await?;
    match chat {
        Some(chat) => attach(
            response,
            ReplyGuard::new(output, chat, vault, verdicts, shared.window),
        ),
        None => {
            response.extensions.insert(verdicts);
            Ok(response)
        }
    }
}

/// A finding about the request as a whole, for guards that judge it
/// rather than a text in it.
pub(crate) fn whole_request(entity: &str, action: crate::types::FindingAction) -> GuardFinding {
    GuardFinding::new(entity, FindingLocation::RequestAsAWhole, 0..0, action)
}
