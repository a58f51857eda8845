//! [`PiiGuard`]: personal data and secrets kept out of prompts and replies.

use std::collections::HashMap;
use std::hash::BuildHasher;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::detect::{Detector, EntityKind, Finding};
use super::guard::{Guard, GuardInput, Hit, HitAction, Verdict};
use crate::error::Result;
use crate::types::{ChatRequest, FindingAction};

/// What a [`PiiGuard`] does with one kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Redaction {
    /// A typed placeholder (`<EMAIL_1>`) the reply's originals come back
    /// from (in a reply, the kind alone: `<EMAIL>`).
    Placeholder,
    /// `****` and the value's last four characters (`****1234`); a value
    /// of fewer than eight characters is `****` alone.
    Mask,
    /// A stable, salted hash: `<EMAIL#3f2a9c1b7d0e4a65>`, the same for the
    /// same value and salt (see [`PiiGuard::hash_salt`]).
    Hash,
    /// Removed.
    Remove,
    /// The call is refused.
    Block,
    /// Left as it is, and noted.
    Flag,
}

/// A guard that finds personal data and secrets with a [`Detector`] and
/// redacts, masks, hashes, removes or refuses them, per kind, in the
/// request and (unless [`check_replies`](Self::check_replies) is off) in
/// the reply.
///
/// By default every kind becomes a placeholder, but deny-listed words,
/// which refuse the call. Placeholders are numbered per kind in the order
/// values first appear in the conversation, so a conversation that grows
/// turn by turn keeps its earlier placeholders (`<EMAIL_1>` stays
/// `<EMAIL_1>`), and the same value gets the same placeholder wherever it
/// appears.
///
/// ```
/// use tower_ai::guardrail::detect::{Detector, EntityKind};
/// use tower_ai::guardrail::{PiiGuard, Redaction};
///
/// let detector = Detector::builder().deny_list("CODENAME", ["Bluebird"])?.build()?;
/// let guard = PiiGuard::new(detector)
///     .action(EntityKind::Card, Redaction::Mask)
///     .secret_action(Redaction::Block)
///     .hash_salt(b"per-deployment salt");
/// # let _ = guard;
/// # Ok::<(), tower_ai::Error>(())
/// ```
pub struct PiiGuard {
    name: String,
    detector: Detector,
    actions: HashMap<EntityKind, Redaction>,
    pii: Redaction,
    secrets: Redaction,
    replies: bool,
    salt: Vec<u8>,
}

impl std::fmt::Debug for PiiGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiGuard")
            .field("name", &self.name)
            .field("actions", &self.actions)
            .field("pii", &self.pii)
            .field("secrets", &self.secrets)
            .field("replies", &self.replies)
            .finish_non_exhaustive()
    }
}

/// The guard name a [`PiiGuard`] has unless renamed.
pub const PII_GUARD: &str = "pii";

impl PiiGuard {
    /// A guard over `detector`'s findings, named `pii`.
    pub fn new(detector: Detector) -> Self {
        // A salt of 32 bytes from the standard library's randomly keyed
        // hasher: stable for this guard, unknown outside the process.
        let random = std::collections::hash_map::RandomState::new();
        let salt = (0u64..4).flat_map(|i| random.hash_one(i).to_le_bytes()).collect();
        Self {
            name: PII_GUARD.to_owned(),
            detector,
            actions: HashMap::new(),
            pii: Redaction::Placeholder,
            secrets: Redaction::Placeholder,
            replies: true,
            salt,
        }
    }

    /// Renames the guard (in verdicts and refusals).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// What to do with findings of `kind` (overrides the defaults below).
    #[must_use]
    pub fn action(mut self, kind: EntityKind, redaction: Redaction) -> Self {
        self.actions.insert(kind, redaction);
        self
    }

    /// What to do with personal data (every kind that is not a secret)
    /// without an action of its own (default: placeholder).
    #[must_use]
    pub fn pii_action(mut self, redaction: Redaction) -> Self {
        self.pii = redaction;
        self
    }

    /// What to do with secrets ([`EntityKind::is_secret`]) without an
    /// action of their own (default: placeholder).
    #[must_use]
    pub fn secret_action(mut self, redaction: Redaction) -> Self {
        self.secrets = redaction;
        self
    }

    /// Whether replies are checked too (default: yes), with the same
    /// actions: a value the model wrote itself (it never saw the
    /// originals) is redacted or refused before it reaches the caller.
    #[must_use]
    pub fn check_replies(mut self, check: bool) -> Self {
        self.replies = check;
        self
    }

    /// The salt of [`Redaction::Hash`] (default: random for each guard, so
    /// hashes are stable only for the guard's lifetime). Set one to compare
    /// hashes across processes; keep it secret, or the hash of a guessable
    /// value (a phone number) can be found by trying them all.
    #[must_use]
    pub fn hash_salt(mut self, salt: impl AsRef<[u8]>) -> Self {
        self.salt = salt.as_ref().to_vec();
        self
    }

    /// The action for `kind`.
    pub fn action_for(&self, kind: &EntityKind) -> Redaction {
        if let Some(action) = self.actions.get(kind) {
            return *action;
        }
        match kind {
            EntityKind::DenyListed(_) => Redaction::Block,
            kind if kind.is_secret() => self.secrets,
            _ => self.pii,
        }
    }

    fn hit(&self, text: &str, finding: &Finding) -> Hit {
        let value = finding.text(text);
        let action = match self.action_for(&finding.kind) {
            Redaction::Placeholder => HitAction::Placeholder,
            Redaction::Mask => HitAction::Replace {
                text: mask(value),
                noted: FindingAction::Masked,
            },
            Redaction::Hash => HitAction::Replace {
                text: self.hash(&finding.kind, value),
                noted: FindingAction::Hashed,
            },
            Redaction::Remove => HitAction::Replace {
                text: String::new(),
                noted: FindingAction::Removed,
            },
            Redaction::Block => HitAction::Block,
            Redaction::Flag => HitAction::Flag,
        };
        Hit::new(finding.kind.clone(), finding.range.clone(), action)
    }

    fn hash(&self, kind: &EntityKind, value: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update((self.salt.len() as u64).to_le_bytes());
        hasher.update(&self.salt);
        hasher.update(kind.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        let digest = hasher.finalize();
        format!("<{}#{}>", kind.as_str(), crate::types::key::to_hex(&digest[..8]))
    }

    fn find(&self, text: &str, findings: &mut Vec<Finding>, hits: &mut Vec<Hit>) {
        findings.clear();
        self.detector.find_into(text, findings);
        hits.extend(findings.iter().map(|finding| self.hit(text, finding)));
    }
}

/// `****` and the last four characters of values of eight or more.
fn mask(value: &str) -> String {
    let chars = value.chars().count();
    let mut out = String::from("****");
    if chars >= 8 {
        out.extend(value.chars().skip(chars - 4));
    }
    out
}

#[async_trait]
impl Guard for PiiGuard {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check_input(&self, input: &mut GuardInput<'_>) -> Result<Verdict> {
        let mut findings = Vec::new();
        Ok(input.redact(|text, hits| self.find(text.text, &mut findings, hits)))
    }

    fn checks_reply_text(&self, _: &ChatRequest) -> bool {
        self.replies
    }

    fn check_reply_text(&self, text: &str, hits: &mut Vec<Hit>) {
        self.find(text, &mut Vec::new(), hits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_four_characters_of_long_values_only() {
        assert_eq!(mask("4111 1111 1111 1111"), "****1111");
        assert_eq!(mask("ab@c.de"), "****");
        assert_eq!(mask("ñandú@ejemplo.es"), "****o.es");
    }

    #[test]
    fn hashes_are_stable_per_salt_and_kind() {
        let detector = || Detector::builder().build().unwrap();
        let a = PiiGuard::new(detector()).hash_salt("s");
        let b = PiiGuard::new(detector()).hash_salt("s");
        let c = PiiGuard::new(detector()).hash_salt("t");
        let email = |g: &PiiGuard| g.hash(&EntityKind::Email, "ana@example.com");
        assert_eq!(email(&a), email(&b));
        assert_ne!(email(&a), email(&c));
        assert_ne!(email(&a), a.hash(&EntityKind::Phone, "ana@example.com"));
        assert!(email(&a).starts_with("<EMAIL#") && email(&a).len() == "<EMAIL#>".len() + 16);
    }
}
