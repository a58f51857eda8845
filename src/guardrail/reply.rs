//! The reply side of a guardrail: output checks over a sliding window, and
//! the vault's originals put back, on complete and streamed replies alike.

use std::sync::Arc;

use super::detect::token_byte;
use super::guard::{apply_hits, Guard, Hit, HitAction, Verdict};
use super::vault::{Restorer, Vault};
use crate::error::{Error, Result};
use crate::observe::{Emit, End, Filter};
use crate::types::{
    CacheDiscard, ChatRequest, ChatResponse, FindingAction, FindingLocation, GuardAction, GuardFinding,
    GuardStage, GuardVerdict, GuardVerdicts, LlmResponse, StreamAccumulator, StreamEvent,
};

/// One guard that checks the reply, with what it found so far.
pub(crate) struct OutputEntry {
    pub(crate) guard: Arc<dyn Guard>,
    pub(crate) dry_run: bool,
    pub(crate) text: bool,
    pub(crate) whole: bool,
    findings: Vec<GuardFinding>,
    reason: Option<String>,
    blocked: bool,
}

impl OutputEntry {
    pub(crate) fn new(guard: Arc<dyn Guard>, dry_run: bool, text: bool, whole: bool) -> Self {
        Self {
            guard,
            dry_run,
            text,
            whole,
            findings: Vec::new(),
            reason: None,
            blocked: false,
        }
    }
}

/// A stretch of reply content (the text, or one tool call's arguments)
/// held until checked.
#[derive(Default)]
struct Channel {
    /// The last bytes already passed on (`context` of them, as they
    /// arrived), then the content held.
    pending: String,
    /// How many bytes at the start of `pending` were already passed on:
    /// checked again only as the context of what follows them.
    context: usize,
    /// Bytes of this channel's content passed on (before
    /// `pending[context..]`).
    consumed: usize,
    restorer: Restorer,
}

/// How many bytes already passed on a check sees before the text held, so
/// that a detector reads the held text's start as in the whole reply (a
/// word or a digit before a number, a context word before a phone number).
const CONTEXT: usize = 32;

/// The most context kept, when a token reaches back past [`CONTEXT`].
const MAX_CONTEXT: usize = 256;

/// A byte of a token as the high-entropy scan reads one, its padding
/// included (ASCII, so a char boundary is on either side of it).
fn is_token_byte(byte: u8) -> bool {
    token_byte(byte) || byte == b'='
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chan {
    Text,
    Tool(usize),
}

/// The filter a guardrail puts on a reply.
pub(crate) struct ReplyGuard {
    entries: Vec<OutputEntry>,
    chat: Arc<ChatRequest>,
    vault: Vault,
    /// The vault with its originals escaped for a JSON string, for tool
    /// calls' arguments; made on the first tool call.
    json_vault: Option<Vault>,
    verdicts: GuardVerdicts,
    discard: Option<CacheDiscard>,
    window: usize,
    step: usize,
    max_hold: usize,
    text: Channel,
    tools: Vec<Channel>,
    current: Option<Chan>,
    whole: Option<StreamAccumulator>,
    finished: bool,
    delivered: usize,
    scratch: Vec<(usize, Hit)>,
    found: Vec<Hit>,
}

impl ReplyGuard {
    pub(crate) fn new(
        entries: Vec<OutputEntry>,
        chat: Arc<ChatRequest>,
        vault: Vault,
        verdicts: GuardVerdicts,
        window: usize,
    ) -> Self {
        let whole = entries.iter().any(|e| e.whole).then(StreamAccumulator::new);
        let window = window.max(1);
        Self {
            entries,
            chat,
            vault,
            json_vault: None,
            verdicts,
            discard: None,
            window,
            step: (window / 2).max(1),
            max_hold: window.saturating_mul(16).max(64 * 1024),
            text: Channel::default(),
            tools: Vec::new(),
            current: None,
            whole,
            finished: false,
            delivered: 0,
            scratch: Vec::new(),
            found: Vec::new(),
        }
    }

    fn emit(&mut self, event: StreamEvent, out: &mut Emit) {
        if let Some(whole) = &mut self.whole {
            whole.push(&event);
        }
        out.push(event);
    }

    /// Finishes the channel being filled when content of another begins,
    /// so the reply's parts keep their order.
    fn switch(&mut self, to: Option<Chan>, out: &mut Emit) -> Result<()> {
        if let Some(current) = self.current {
            if Some(current) != to {
                self.advance(current, true, out)?;
            }
        }
        self.current = to;
        Ok(())
    }

    /// Checks what a channel holds and passes on what is safe: everything
    /// but the last `window` bytes (and any finding reaching into them),
    /// or everything when `last`.
    fn advance(&mut self, chan: Chan, last: bool, out: &mut Emit) -> Result<()> {
        let channel = match chan {
            Chan::Text => &mut self.text,
            Chan::Tool(index) => &mut self.tools[index],
        };
        let context = channel.context;
        let len = channel.pending.len();
        let held_len = len - context;
        let last = last || held_len > self.max_hold;
        if held_len == 0 || (!last && held_len < self.window + self.step) {
            return if last {
                self.flush_restorer(chan, out)
            } else {
                Ok(())
            };
        }
        self.scratch.clear();
        for (owner, entry) in self.entries.iter().enumerate() {
            if entry.text {
                self.found.clear();
                entry.guard.check_reply_text(&channel.pending, &mut self.found);
                self.scratch.extend(self.found.drain(..).map(|hit| (owner, hit)));
            }
        }
        // Findings within the context were dealt with when it was held; one
        // that begins there and reaches into the held text is dealt with for
        // its held part (the rest went out: a finding longer than the
        // window, see `GuardrailLayer::stream_window`).
        self.scratch.retain(|(_, hit)| hit.range.end > context);
        for (_, hit) in &mut self.scratch {
            hit.range.start = hit.range.start.max(context);
        }
        let mut cut = if last {
            len
        } else {
            floor_boundary(&channel.pending, len - self.window).max(context)
        };
        // A finding reaching into the part still held waits, whole.
        loop {
            let before = cut;
            for (_, hit) in &self.scratch {
                if hit.range.start < cut && hit.range.end > cut {
                    cut = hit.range.start;
                }
            }
            if cut == before {
                break;
            }
        }
        self.scratch.retain(|(_, hit)| hit.range.end <= cut);
        for (_, hit) in &mut self.scratch {
            hit.range = hit.range.start - context..hit.range.end - context;
        }
        let location = match chan {
            Chan::Text => FindingLocation::ReplyText,
            Chan::Tool(index) => FindingLocation::ReplyToolCall { index },
        };
        // Dry-run guards only note; the others act.
        let mut acting = Vec::with_capacity(self.scratch.len());
        for (owner, hit) in self.scratch.drain(..) {
            if self.entries[owner].dry_run {
                let entry = &mut self.entries[owner];
                entry.findings.push(finding(&hit, location, channel.consumed));
                entry.blocked |= hit.action == HitAction::Block;
            } else {
                acting.push((owner, hit));
            }
        }
        let held = &channel.pending[context..cut];
        let edited = apply_hits(held, &mut acting, &mut |kind, _, out| {
            out.push('<');
            out.push_str(kind.as_str());
            out.push('>');
            true
        });
        let mut blocked = None;
        for (owner, hit) in &acting {
            let entry = &mut self.entries[*owner];
            entry.findings.push(finding(hit, location, channel.consumed));
            if hit.action == HitAction::Block && blocked.is_none() {
                entry.blocked = true;
                blocked = Some((*owner, hit.kind.as_str().to_owned()));
            }
        }
        if let Some((owner, kind)) = blocked {
            let reason = format!("the reply contains {}", super::guard::describe(&kind));
            self.entries[owner].reason = Some(reason.clone());
            return Err(self.refuse(owner, reason));
        }
        let released = edited.unwrap_or_else(|| held.to_owned());
        let mut keep_from = floor_boundary(&channel.pending, cut.saturating_sub(CONTEXT));
        // Back to the start of a token cut there (up to MAX_CONTEXT bytes),
        // so the high-entropy scan judges the token, not a part of it.
        let bytes = channel.pending.as_bytes();
        while keep_from > 0 && cut - keep_from < MAX_CONTEXT && is_token_byte(bytes[keep_from - 1]) {
            keep_from -= 1;
        }
        channel.pending.drain(..keep_from);
        channel.context = cut - keep_from;
        channel.consumed += cut - context;
        let mut restored = match chan {
            Chan::Text => channel.restorer.push(&self.vault, &released),
            Chan::Tool(_) => {
                let vault = self.json_vault.get_or_insert_with(|| self.vault.json_escaped());
                channel.restorer.push(vault, &released)
            }
        };
        if last {
            restored.push_str(&channel.restorer.finish());
        }
        self.send(chan, restored, out);
        Ok(())
    }

    fn flush_restorer(&mut self, chan: Chan, out: &mut Emit) -> Result<()> {
        let channel = match chan {
            Chan::Text => &mut self.text,
            Chan::Tool(index) => &mut self.tools[index],
        };
        let rest = channel.restorer.finish();
        self.send(chan, rest, out);
        Ok(())
    }

    fn send(&mut self, chan: Chan, content: String, out: &mut Emit) {
        if content.is_empty() {
            return;
        }
        self.delivered += content.len();
        let event = match chan {
            Chan::Text => StreamEvent::TextDelta { text: content },
            Chan::Tool(index) => StreamEvent::ToolCallDelta {
                index,
                id: None,
                name: None,
                arguments: content,
            },
        };
        self.emit(event, out);
    }

    /// A refusal by entry `owner`: the cache above, if any, must not keep
    /// the reply.
    fn refuse(&mut self, owner: usize, reason: String) -> Error {
        if let Some(discard) = &self.discard {
            discard.discard();
        }
        Error::blocked(self.entries[owner].guard.name(), reason)
    }

    /// Passes on everything held, then runs the whole-reply checks.
    fn finish(&mut self, out: &mut Emit) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.current = None;
        self.advance(Chan::Text, true, out)?;
        for index in 0..self.tools.len() {
            self.advance(Chan::Tool(index), true, out)?;
        }
        let Some(whole) = &self.whole else {
            return Ok(());
        };
        let reply = whole.snapshot();
        for owner in 0..self.entries.len() {
            let entry = &mut self.entries[owner];
            if !entry.whole {
                continue;
            }
            match entry.guard.check_reply(&self.chat, &reply) {
                Verdict::Allow | Verdict::Redact { .. } => {}
                Verdict::Flag { reason, findings } => {
                    entry.findings.extend(findings);
                    entry.reason = entry.reason.take().or(reason);
                }
                Verdict::Block { reason, findings } => {
                    entry.findings.extend(findings);
                    entry.reason = Some(reason.clone());
                    entry.blocked = true;
                    if !entry.dry_run {
                        return Err(self.refuse(owner, reason));
                    }
                }
            }
        }
        Ok(())
    }

    /// Notes every output guard's verdict.
    fn report(self) {
        let delivered = self.delivered;
        for entry in self.entries {
            let edits = entry.findings.iter().filter(|f| f.action.edits()).count();
            let action = if entry.blocked {
                GuardAction::Blocked
            } else if edits > 0 {
                GuardAction::Redacted { count: edits }
            } else if !entry.findings.is_empty() || entry.reason.is_some() {
                GuardAction::Flagged
            } else {
                GuardAction::Passed
            };
            let blocked = action == GuardAction::Blocked && !entry.dry_run;
            let mut verdict = GuardVerdict::new(entry.guard.name(), GuardStage::Output, action)
                .with_findings(entry.findings);
            verdict.reason = entry.reason;
            verdict.dry_run = entry.dry_run;
            if blocked {
                verdict.delivered = Some(delivered);
            }
            self.verdicts.push(verdict);
        }
    }
}

fn finding(hit: &Hit, location: FindingLocation, offset: usize) -> GuardFinding {
    let noted = match &hit.action {
        HitAction::Flag => FindingAction::Flagged,
        HitAction::Placeholder => FindingAction::Placeholder,
        HitAction::Replace { noted, .. } => *noted,
        HitAction::Block => FindingAction::Blocked,
    };
    GuardFinding::new(
        hit.kind.as_str(),
        location,
        hit.range.start + offset..hit.range.end + offset,
        noted,
    )
}

/// The largest character boundary of `text` at or below `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

impl Filter for ReplyGuard {
    const NEEDS_CONTENT: bool = false;

    fn on_response(&mut self, response: &mut LlmResponse) -> Result<()> {
        self.discard = response.extensions.get::<CacheDiscard>().cloned();
        response.extensions.insert(self.verdicts.clone());
        Ok(())
    }

    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> Result<()> {
        match event {
            StreamEvent::TextDelta { text } => {
                self.switch(Some(Chan::Text), out)?;
                self.text.pending.push_str(&text);
                self.advance(Chan::Text, false, out)
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                self.switch(Some(Chan::Tool(index)), out)?;
                if self.tools.len() <= index {
                    self.tools.resize_with(index + 1, Channel::default);
                }
                if id.is_some() || name.is_some() {
                    self.emit(
                        StreamEvent::ToolCallDelta {
                            index,
                            id,
                            name,
                            arguments: String::new(),
                        },
                        out,
                    );
                }
                self.tools[index].pending.push_str(&arguments);
                self.advance(Chan::Tool(index), false, out)
            }
            StreamEvent::Finish { reason } => {
                self.finish(out)?;
                self.emit(StreamEvent::Finish { reason }, out);
                Ok(())
            }
            event @ StreamEvent::ReasoningDelta { .. } => {
                self.switch(None, out)?;
                self.emit(event, out);
                Ok(())
            }
            event => {
                self.emit(event, out);
                Ok(())
            }
        }
    }

    fn on_stream_end(&mut self, out: &mut Emit) -> Result<()> {
        self.finish(out)
    }

    fn on_end(self, _: End<'_>) {
        self.report();
    }

    fn on_error(self, _: &Error) {
        self.report();
    }

    fn on_cancel(self, _: Option<&ChatResponse>) {
        self.report();
    }
}
