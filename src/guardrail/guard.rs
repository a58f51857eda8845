//! The [`Guard`] trait, its verdicts, and what a guard is given.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;

use super::detect::EntityKind;
use super::vault::Vault;
use crate::error::Result;
use crate::types::{
    ChatRequest, ChatResponse, ContentPart, FindingAction, FindingLocation, GuardFinding, LlmRequest,
    Principal, Role,
};

/// One check a [`GuardrailLayer`](super::GuardrailLayer) runs on a call: on
/// the request before it goes upstream, on the reply on its way back, or
/// both.
///
/// Every method has a default that checks nothing, so a guard implements
/// only what it looks at. Simple guards are closures:
/// [`input_guard_fn`] and [`output_guard_fn`].
///
/// An input check is async (it may ask a model, see
/// [`LlmJudge`](super::injection::LlmJudge)); output checks are synchronous
/// and cheap, since they run while a stream is read: on stretches of the
/// reply's text as they arrive ([`check_reply_text`](Guard::check_reply_text)),
/// and on the whole reply once it ended ([`check_reply`](Guard::check_reply)).
#[async_trait]
pub trait Guard: Send + Sync + 'static {
    /// The guard's name, in verdicts and in [`Error::Blocked`](crate::Error::Blocked).
    fn name(&self) -> &str;

    /// Checks the request before the call. The guard may change it
    /// ([`GuardInput::redact`], [`GuardInput::chat_mut`]) and says what it
    /// did in its verdict. A [`Verdict::Block`] refuses the call before any
    /// upstream call.
    ///
    /// # Errors
    ///
    /// The guard could not decide (a judge model failed, say). The call
    /// fails with the error, unless the guard was added with
    /// [`GuardOptions::fail_open`](super::GuardOptions::fail_open).
    async fn check_input(&self, input: &mut GuardInput<'_>) -> Result<Verdict> {
        let _ = input;
        Ok(Verdict::Allow)
    }

    /// Whether [`check_reply_text`](Self::check_reply_text) should see the
    /// reply to `chat`.
    fn checks_reply_text(&self, chat: &ChatRequest) -> bool {
        let _ = chat;
        false
    }

    /// Finds what should not reach the caller in a stretch of the reply's
    /// text (or of a tool call's arguments), pushing one [`Hit`] per
    /// finding, with byte ranges into `text`.
    ///
    /// On a stream, the layer calls it over a sliding window: the text
    /// held back so far (at least the last
    /// [`stream_window`](super::GuardrailLayer::stream_window) bytes, so a
    /// finding split across deltas is whole in it). The same text may be
    /// shown again with more after it; a hit that reaches into the part
    /// still held is found again next time, so report every hit each time.
    fn check_reply_text(&self, text: &str, hits: &mut Vec<Hit>) {
        let _ = (text, hits);
    }

    /// Whether [`check_reply`](Self::check_reply) should see the reply to
    /// `chat`.
    fn checks_reply(&self, chat: &ChatRequest) -> bool {
        let _ = chat;
        false
    }

    /// Checks the whole reply once it ended, before its end reaches the
    /// caller (on a stream, the text has gone out by then: a block ends the
    /// stream with [`Error::Blocked`](crate::Error::Blocked) instead of its
    /// clean end). Only [`Verdict::Allow`], [`Verdict::Flag`] and
    /// [`Verdict::Block`] mean something here.
    fn check_reply(&self, chat: &ChatRequest, reply: &ChatResponse) -> Verdict {
        let _ = (chat, reply);
        Verdict::Allow
    }
}

#[async_trait]
impl<G: Guard + ?Sized> Guard for Arc<G> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn check_input(&self, input: &mut GuardInput<'_>) -> Result<Verdict> {
        (**self).check_input(input).await
    }
    fn checks_reply_text(&self, chat: &ChatRequest) -> bool {
        (**self).checks_reply_text(chat)
    }
    fn check_reply_text(&self, text: &str, hits: &mut Vec<Hit>) {
        (**self).check_reply_text(text, hits);
    }
    fn checks_reply(&self, chat: &ChatRequest) -> bool {
        (**self).checks_reply(chat)
    }
    fn check_reply(&self, chat: &ChatRequest, reply: &ChatResponse) -> Verdict {
        (**self).check_reply(chat, reply)
    }
}

/// What a guard decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Nothing to do.
    Allow,
    /// Let through, and noted (with what was found).
    Flag {
        /// Why, in words safe to show the caller.
        reason: Option<String>,
        /// What was found.
        findings: Vec<GuardFinding>,
    },
    /// The guard changed the request (its findings say how).
    Redact {
        /// What was changed.
        findings: Vec<GuardFinding>,
    },
    /// Refused: the call fails with [`Error::Blocked`](crate::Error::Blocked).
    Block {
        /// Why, in words safe to show the caller (never the offending text).
        reason: String,
        /// What was found.
        findings: Vec<GuardFinding>,
    },
}

impl Verdict {
    /// A refusal with no finding.
    pub fn block(reason: impl Into<String>) -> Self {
        Verdict::Block {
            reason: reason.into(),
            findings: Vec::new(),
        }
    }

    /// A flag with a reason and no finding.
    pub fn flag(reason: impl Into<String>) -> Self {
        Verdict::Flag {
            reason: Some(reason.into()),
            findings: Vec::new(),
        }
    }

    /// The findings.
    pub fn findings(&self) -> &[GuardFinding] {
        match self {
            Verdict::Allow => &[],
            Verdict::Flag { findings, .. }
            | Verdict::Redact { findings }
            | Verdict::Block { findings, .. } => findings,
        }
    }

    /// The verdict that findings call for: a block if one of them was
    /// blocked (with `reason`), a redaction if one changed the text, a flag
    /// if there are any, else allow.
    pub fn from_findings(
        findings: Vec<GuardFinding>,
        reason: impl FnOnce(&[GuardFinding]) -> String,
    ) -> Self {
        if findings.iter().any(|f| f.action == FindingAction::Blocked) {
            Verdict::Block {
                reason: reason(&findings),
                findings,
            }
        } else if findings.iter().any(|f| f.action.edits()) {
            Verdict::Redact { findings }
        } else if findings.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Flag {
                reason: None,
                findings,
            }
        }
    }
}

/// Something a guard found in a text, and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hit {
    /// What was found.
    pub kind: EntityKind,
    /// Where, in bytes of the text checked.
    pub range: Range<usize>,
    /// What to do.
    pub action: HitAction,
}

impl Hit {
    /// A hit.
    pub fn new(kind: EntityKind, range: Range<usize>, action: HitAction) -> Self {
        Self { kind, range, action }
    }
}

/// What to do with a [`Hit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HitAction {
    /// Leave it, and note it.
    Flag,
    /// Replace it with a typed placeholder: in a request, a numbered one
    /// (`<EMAIL_1>`) whose original the reply gets back; in a reply, the
    /// kind alone (`<EMAIL>`), since there is nothing to give back.
    Placeholder,
    /// Replace it with `text`, noted as `noted` (masked, hashed, removed).
    Replace {
        /// The replacement.
        text: String,
        /// How the finding is noted.
        noted: FindingAction,
    },
    /// Refuse the call.
    Block,
}

impl HitAction {
    fn noted(&self) -> FindingAction {
        match self {
            HitAction::Flag => FindingAction::Flagged,
            HitAction::Placeholder => FindingAction::Placeholder,
            HitAction::Replace { noted, .. } => *noted,
            HitAction::Block => FindingAction::Blocked,
        }
    }
}

/// One text of a request, as [`GuardInput::texts`] shows it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TextRef<'a> {
    /// Where it is.
    pub location: FindingLocation,
    /// The role of the message it is in.
    pub role: Role,
    /// What it is.
    pub source: TextSource,
    /// The text.
    pub text: &'a str,
}

/// What kind of text a [`TextRef`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextSource {
    /// A message's text part.
    Message,
    /// A text in a tool result (what a tool returned: content the
    /// application did not write, the way indirect prompt injection comes
    /// in).
    ToolResult,
    /// A tool call's arguments (JSON) in an earlier assistant turn.
    ToolCallArguments,
}

/// The request as an input check sees it, with the call's vault.
///
/// Edits are copy-on-write: the conversation is shared with the caller's
/// request and copied only when a guard changes it.
#[derive(Debug)]
pub struct GuardInput<'a> {
    request: &'a mut LlmRequest,
    vault: &'a mut Vault,
}

impl<'a> GuardInput<'a> {
    /// The input of a call, with its vault. The
    /// [`GuardrailLayer`](super::GuardrailLayer) makes these; a test of a
    /// guard may too.
    pub fn new(request: &'a mut LlmRequest, vault: &'a mut Vault) -> Self {
        Self { request, vault }
    }

    /// The whole request.
    pub fn request(&self) -> &LlmRequest {
        self.request
    }

    /// Who asks.
    pub fn principal(&self) -> &Principal {
        &self.request.meta.principal
    }

    /// The chat request (`None` for embeddings, which guards do not see).
    pub fn chat(&self) -> Option<&ChatRequest> {
        self.request.chat()
    }

    /// The chat request, to change it (copied on the first change).
    pub fn chat_mut(&mut self) -> Option<&mut ChatRequest> {
        self.request.chat_mut()
    }

    /// The call's vault: the placeholders given so far and their originals.
    pub fn vault(&mut self) -> &mut Vault {
        self.vault
    }

    /// Every text of the request, in order: text parts, texts inside tool
    /// results, and tool calls' arguments, of every message. (Reasoning
    /// kept from earlier turns is not shown: vendors sign it, and a changed
    /// reasoning block is refused.)
    pub fn texts(&self) -> Vec<TextRef<'_>> {
        let mut texts = Vec::new();
        if let Some(chat) = self.request.chat() {
            for_each_text(chat, |text| texts.push(text));
        }
        texts
    }

    /// Runs `find` over every text of the request (as [`texts`](Self::texts)),
    /// applies its hits, and returns the verdict they call for: placeholders
    /// from the vault, replacements, flags, or a block (the request is left
    /// as it was). Overlapping hits: the first to start wins, the longest
    /// of those starting together.
    pub fn redact(&mut self, mut find: impl FnMut(&TextRef<'_>, &mut Vec<Hit>)) -> Verdict {
        let Some(chat) = self.request.chat() else {
            return Verdict::Allow;
        };
        let mut findings = Vec::new();
        let mut edits: Vec<(FindingLocation, String)> = Vec::new();
        let mut found = Vec::new();
        let mut hits = Vec::new();
        let mut blocked = None;
        for_each_text(chat, |text| {
            found.clear();
            find(&text, &mut found);
            if found.is_empty() {
                return;
            }
            hits.clear();
            hits.extend(found.drain(..).map(|hit| (0, hit)));
            let edited = apply_hits(text.text, &mut hits, &mut |kind, value, out| {
                out.push_str(self.vault.placeholder_str(kind, value));
                true
            });
            for (_, hit) in &hits {
                if hit.action == HitAction::Block && blocked.is_none() {
                    blocked = Some(hit.kind.as_str().to_owned());
                }
                findings.push(GuardFinding::new(
                    hit.kind.as_str(),
                    text.location,
                    hit.range.clone(),
                    hit.action.noted(),
                ));
            }
            if let Some(edited) = edited {
                edits.push((text.location, edited));
            }
        });
        if let Some(kind) = blocked {
            return Verdict::Block {
                reason: format!("the request contains {}", describe(&kind)),
                findings,
            };
        }
        if !edits.is_empty() {
            if let Some(chat) = self.request.chat_mut() {
                for (location, edited) in edits {
                    if let Some(text) = text_mut(chat, location) {
                        *text = edited;
                    }
                }
            }
        }
        Verdict::from_findings(findings, |_| String::new())
    }
}

/// A short description of an entity kind for a refusal's reason.
pub(crate) fn describe(kind: &str) -> String {
    format!("a value of a refused kind ({kind})")
}

/// Calls `f` with every text of `chat` a guard reads.
pub(crate) fn for_each_text<'c>(chat: &'c ChatRequest, mut f: impl FnMut(TextRef<'c>)) {
    for (message, msg) in chat.messages.iter().enumerate() {
        for (part, content) in msg.content.iter().enumerate() {
            let location = FindingLocation::Request {
                message,
                part,
                inner: None,
            };
            match content {
                ContentPart::Text { text } => f(TextRef {
                    location,
                    role: msg.role,
                    source: TextSource::Message,
                    text,
                }),
                ContentPart::ToolCall(call) => f(TextRef {
                    location,
                    role: msg.role,
                    source: TextSource::ToolCallArguments,
                    text: &call.arguments,
                }),
                ContentPart::ToolResult(result) => {
                    for (inner, content) in result.content.iter().enumerate() {
                        if let ContentPart::Text { text } = content {
                            f(TextRef {
                                location: FindingLocation::Request {
                                    message,
                                    part,
                                    inner: Some(inner),
                                },
                                role: msg.role,
                                source: TextSource::ToolResult,
                                text,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The text at `location` in `chat`, to change it.
fn text_mut(chat: &mut ChatRequest, location: FindingLocation) -> Option<&mut String> {
    let FindingLocation::Request { message, part, inner } = location else {
        return None;
    };
    let content = chat.messages.get_mut(message)?.content.get_mut(part)?;
    match (content, inner) {
        (ContentPart::Text { text }, None) => Some(text),
        (ContentPart::ToolCall(call), None) => Some(&mut call.arguments),
        (ContentPart::ToolResult(result), Some(inner)) => match result.content.get_mut(inner)? {
            ContentPart::Text { text } => Some(text),
            _ => None,
        },
        _ => None,
    }
}

/// Sorts `hits` (each tagged with the index of the guard that found it),
/// drops those overlapping an earlier one (the first to start
/// wins, the longest of those starting together; a flag never hides an
/// edit or a block), and returns `text` with the edits made, or `None`
/// when nothing changed. `placeholder` writes a placeholder hit's
/// replacement at the end of the text being built and says whether it did
/// (`false`: the value is left as it is).
pub(crate) fn apply_hits(
    text: &str,
    hits: &mut Vec<(usize, Hit)>,
    placeholder: &mut dyn FnMut(&EntityKind, &str, &mut String) -> bool,
) -> Option<String> {
    hits.retain(|(_, hit)| hit.range.start < hit.range.end && text.get(hit.range.clone()).is_some());
    hits.sort_by(|(_, a), (_, b)| {
        a.range
            .start
            .cmp(&b.range.start)
            .then(b.range.end.cmp(&a.range.end))
            .then(rank(&a.action).cmp(&rank(&b.action)))
    });
    let mut kept: Vec<(usize, Hit)> = Vec::with_capacity(hits.len());
    for (owner, hit) in hits.drain(..) {
        match kept.last() {
            Some((_, last)) if hit.range.start < last.range.end => {
                // Overlaps the one kept: a stronger action takes its place
                // only when the kept one is a mere flag.
                if rank(&hit.action) < rank(&last.action) && last.action == HitAction::Flag {
                    kept.pop();
                    kept.push((owner, hit));
                }
            }
            _ => kept.push((owner, hit)),
        }
    }
    *hits = kept;
    if !hits
        .iter()
        .any(|(_, hit)| matches!(hit.action, HitAction::Placeholder | HitAction::Replace { .. }))
    {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (_, hit) in hits.iter() {
        let before = out.len();
        out.push_str(&text[at..hit.range.start]);
        let replaced = match &hit.action {
            HitAction::Placeholder => placeholder(&hit.kind, &text[hit.range.clone()], &mut out),
            HitAction::Replace { text, .. } => {
                out.push_str(text);
                true
            }
            HitAction::Flag | HitAction::Block => false,
        };
        if replaced {
            at = hit.range.end;
        } else {
            out.truncate(before);
        }
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Blocks first, then edits, then flags.
fn rank(action: &HitAction) -> u8 {
    match action {
        HitAction::Block => 0,
        HitAction::Placeholder | HitAction::Replace { .. } => 1,
        HitAction::Flag => 2,
    }
}

/// A guard from a closure over the request, for simple input checks.
///
/// ```
/// use tower_ai::guardrail::{input_guard_fn, Verdict};
///
/// // Refuses requests without a user.
/// let guard = input_guard_fn("needs_user", |input| {
///     if input.principal().user.is_none() {
///         Verdict::block("calls must name their user")
///     } else {
///         Verdict::Allow
///     }
/// });
/// # let _ = guard;
/// ```
pub fn input_guard_fn<F>(name: impl Into<String>, check: F) -> InputGuardFn<F>
where
    F: Fn(&mut GuardInput<'_>) -> Verdict + Send + Sync + 'static,
{
    InputGuardFn {
        name: name.into(),
        check,
    }
}

/// The guard [`input_guard_fn`] makes.
#[derive(Clone)]
pub struct InputGuardFn<F> {
    name: String,
    check: F,
}

impl<F> std::fmt::Debug for InputGuardFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputGuardFn").field("name", &self.name).finish()
    }
}

#[async_trait]
impl<F> Guard for InputGuardFn<F>
where
    F: Fn(&mut GuardInput<'_>) -> Verdict + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn check_input(&self, input: &mut GuardInput<'_>) -> Result<Verdict> {
        Ok((self.check)(input))
    }
}

/// A guard from a closure over the reply's text, for simple output checks
/// (it sees text as [`Guard::check_reply_text`] does).
///
/// ```
/// use tower_ai::guardrail::detect::EntityKind;
/// use tower_ai::guardrail::{output_guard_fn, Hit, HitAction};
///
/// // Never lets the reply name the internal code name.
/// let guard = output_guard_fn("codename", |text, hits| {
///     for (at, _) in text.match_indices("Bluebird") {
///         hits.push(Hit::new(EntityKind::DenyListed("CODENAME".into()), at..at + 8, HitAction::Block));
///     }
/// });
/// # let _ = guard;
/// ```
pub fn output_guard_fn<F>(name: impl Into<String>, check: F) -> OutputGuardFn<F>
where
    F: Fn(&str, &mut Vec<Hit>) + Send + Sync + 'static,
{
    OutputGuardFn {
        name: name.into(),
        check,
    }
}

/// The guard [`output_guard_fn`] makes.
#[derive(Clone)]
pub struct OutputGuardFn<F> {
    name: String,
    check: F,
}

impl<F> std::fmt::Debug for OutputGuardFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputGuardFn").field("name", &self.name).finish()
    }
}

#[async_trait]
impl<F> Guard for OutputGuardFn<F>
where
    F: Fn(&str, &mut Vec<Hit>) + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn checks_reply_text(&self, _: &ChatRequest) -> bool {
        true
    }

    fn check_reply_text(&self, text: &str, hits: &mut Vec<Hit>) {
        (self.check)(text, hits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(range: Range<usize>, action: HitAction) -> (usize, Hit) {
        (0, Hit::new(EntityKind::Email, range, action))
    }

    #[test]
    fn overlapping_hits_keep_the_first_and_longest_and_a_flag_yields() {
        let text = "abcdefghij";
        let mut hits = vec![
            hit(2..4, HitAction::Placeholder),
            hit(0..3, HitAction::Flag),
            hit(0..2, HitAction::Placeholder),
            hit(
                6..9,
                HitAction::Replace {
                    text: "#".into(),
                    noted: FindingAction::Masked,
                },
            ),
            hit(7..8, HitAction::Placeholder),
        ];
        let out = apply_hits(text, &mut hits, &mut |_, value, out| {
            out.push_str(&format!("<{value}>"));
            true
        });
        // 0..3 (a flag) yields to 0..2; 2..4 starts inside 0..3's span but
        // after 0..2 ends, so it stays; 7..8 is inside 6..9.
        assert_eq!(out.as_deref(), Some("<ab><cd>ef#j"));
        assert_eq!(hits.len(), 3);
    }

    #[test]
    fn hits_outside_the_text_or_inside_a_character_are_dropped() {
        let text = "é@x";
        let mut hits = vec![
            hit(1..3, HitAction::Placeholder),
            hit(2..40, HitAction::Placeholder),
        ];
        assert_eq!(
            apply_hits(text, &mut hits, &mut |_, _, out| {
                out.push('P');
                true
            }),
            None
        );
        assert!(hits.is_empty());
    }
}
