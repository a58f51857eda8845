//! Reversible redaction: typed placeholders for redacted values, and the
//! originals put back into a reply, complete or streamed.
//!
//! ```
//! use tower_ai::guardrail::detect::EntityKind;
//! use tower_ai::guardrail::vault::{Restorer, Vault};
//!
//! let mut vault = Vault::new();
//! let email = vault.placeholder(&EntityKind::Email, "ana@example.com");
//! assert_eq!(email, "<EMAIL_1>");
//! // The same value gets the same placeholder, wherever it appears again.
//! assert_eq!(vault.placeholder(&EntityKind::Email, "ana@example.com"), "<EMAIL_1>");
//! assert_eq!(vault.placeholder(&EntityKind::Email, "bo@example.com"), "<EMAIL_2>");
//!
//! // A complete reply.
//! assert_eq!(vault.restore("Write to <EMAIL_1>."), "Write to ana@example.com.");
//!
//! // A streamed reply, with the placeholder split across deltas.
//! let mut restorer = Restorer::new();
//! let mut out = String::new();
//! for delta in ["Write to <EMA", "IL_2", ">, thanks"] {
//!     out.push_str(&restorer.push(&vault, delta));
//! }
//! out.push_str(&restorer.finish());
//! assert_eq!(out, "Write to bo@example.com, thanks");
//! ```
//!
//! A placeholder is `<`, the entity kind's name ([`EntityKind::as_str`]),
//! `_`, a number counted per kind from 1, and `>`. Text that looks like a
//! placeholder but is not one of the vault's passes through unchanged.
//!
//! A [`Restorer`] holds back only what could still become a placeholder: a
//! `<` followed by capital letters, digits and underscores, no longer than
//! the vault's longest placeholder. Everything else is passed on at once,
//! so a stream is delayed by at most that many bytes.

use std::borrow::Cow;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::detect::EntityKind;

/// The placeholders of one call (or one conversation): each redacted value
/// and the placeholder that stands for it.
///
/// A vault holds the original values, personal data and secrets among
/// them: keep it for the call that made it and never share it between
/// tenants. Its `Debug` output names the placeholders, never the values.
#[derive(Clone, Default)]
pub struct Vault {
    /// Every placeholder, in the order they were made.
    entries: Vec<Entry>,
    /// Indices of `entries` by kind and original.
    by_original: HashTable<usize>,
    /// Indices of `entries` by placeholder.
    by_placeholder: HashTable<usize>,
    /// Per kind name, how many placeholders it has.
    counts: Vec<(EntityKind, usize)>,
    hasher: RandomState,
    /// The longest placeholder's length in bytes.
    longest: usize,
}

/// One placeholder, the kind it was made for, and its original.
#[derive(Clone)]
struct Entry {
    kind: EntityKind,
    original: String,
    placeholder: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.entries.iter().map(|e| e.placeholder.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("Vault").field("placeholders", &names).finish()
    }
}

impl Vault {
    /// An empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder for `value` of `kind`: the one it already has, or
    /// the kind's next (`<EMAIL_1>`, `<EMAIL_2>`, ...).
    pub fn placeholder(&mut self, kind: &EntityKind, value: &str) -> String {
        self.placeholder_str(kind, value).to_owned()
    }

    /// Like [`placeholder`](Self::placeholder), borrowed from the vault.
    pub(crate) fn placeholder_str(&mut self, kind: &EntityKind, value: &str) -> &str {
        let name = kind.as_str();
        let hash = self.hasher.hash_one((name, value));
        let entries = &self.entries;
        let found = self.by_original.find(hash, |&i| {
            entries[i].kind.as_str() == name && entries[i].original == value
        });
        if let Some(&i) = found {
            return &self.entries[i].placeholder;
        }
        let count = match self.counts.iter_mut().find(|(k, _)| k.as_str() == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                self.counts.push((kind.clone(), 1));
                1
            }
        };
        // Written out rather than through `format!`, which was a third of
        // the time of making a placeholder.
        let mut placeholder = String::with_capacity(name.len() + 8);
        placeholder.push('<');
        placeholder.push_str(name);
        placeholder.push('_');
        push_decimal(&mut placeholder, count);
        placeholder.push('>');
        self.longest = self.longest.max(placeholder.len());
        self.push(Entry {
            kind: kind.clone(),
            original: value.to_owned(),
            placeholder,
        });
        &self.entries[self.entries.len() - 1].placeholder
    }

    /// Adds `entry` and indexes it.
    fn push(&mut self, entry: Entry) {
        let i = self.entries.len();
        if i == 0 {
            // Room for a few at once rather than growing one by one: most
            // calls that redact anything redact several values.
            // (The tables are empty: nothing is rehashed.)
            self.entries.reserve(8);
            self.by_original.reserve(8, |_| 0);
            self.by_placeholder.reserve(8, |_| 0);
        }
        let (by_original, by_placeholder) = (
            self.hasher
                .hash_one((entry.kind.as_str(), entry.original.as_str())),
            self.hasher.hash_one(entry.placeholder.as_str()),
        );
        self.entries.push(entry);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.by_original.insert_unique(by_original, i, |&j| {
            hasher.hash_one((entries[j].kind.as_str(), entries[j].original.as_str()))
        });
        self.by_placeholder.insert_unique(by_placeholder, i, |&j| {
            hasher.hash_one(entries[j].placeholder.as_str())
        });
    }

    /// The value `placeholder` stands for.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        let hash = self.hasher.hash_one(placeholder);
        self.by_placeholder
            .find(hash, |&i| self.entries[i].placeholder == placeholder)
            .map(|&i| self.entries[i].original.as_str())
    }

    /// How many placeholders the vault holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the vault holds no placeholder.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The longest placeholder's length in bytes: the most a [`Restorer`]
    /// holds back.
    pub fn longest_placeholder(&self) -> usize {
        self.longest
    }

    /// The vault with each original escaped as the inside of a JSON
    /// string, for putting originals back inside JSON text (a tool call's
    /// arguments), where a quote or a backslash in an original would
    /// otherwise break the JSON.
    ///
    /// ```
    /// use tower_ai::guardrail::detect::EntityKind;
    /// use tower_ai::guardrail::vault::Vault;
    ///
    /// let mut vault = Vault::new();
    /// vault.placeholder(&EntityKind::Custom("NOTE".into()), r#"say "hi""#);
    /// let args = r#"{"note":"<NOTE_1>"}"#;
    /// assert_eq!(vault.json_escaped().restore(args), r#"{"note":"say \"hi\""}"#);
    /// ```
    pub fn json_escaped(&self) -> Vault {
        let mut vault = Vault {
            counts: self.counts.clone(),
            hasher: self.hasher.clone(),
            longest: self.longest,
            ..Vault::default()
        };
        for entry in &self.entries {
            let quoted = serde_json::Value::String(entry.original.clone()).to_string();
            vault.push(Entry {
                kind: entry.kind.clone(),
                original: quoted[1..quoted.len() - 1].to_owned(),
                placeholder: entry.placeholder.clone(),
            });
        }
        vault
    }

    /// `text` with every placeholder of this vault replaced by its original.
    pub fn restore<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() || !text.contains('<') {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('<') {
            out.push_str(&rest[..at]);
            let candidate = &rest[at..];
            match self.placeholder_at(candidate) {
                Some((len, original)) => {
                    out.push_str(original);
                    rest = &candidate[len..];
                }
                None => {
                    out.push('<');
                    rest = &candidate[1..];
                }
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// The placeholder `text` starts with, if it is one of this vault's:
    /// its length and the original.
    fn placeholder_at(&self, text: &str) -> Option<(usize, &str)> {
        let body = text.as_bytes().get(1..)?;
        let len = body.iter().take(self.longest).position(|&b| b == b'>')? + 2;
        self.original(&text[..len]).map(|original| (len, original))
    }
}

/// Appends `n` in decimal to `out`.
fn push_decimal(out: &mut String, n: usize) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Puts a vault's originals back into a streamed reply, delta by delta.
///
/// A placeholder split across deltas (`<EMA` then `IL_1>`) is held back
/// until it is whole (see the [module docs](self)). Call
/// [`finish`](Restorer::finish) at the end of the stream for what is still
/// held.
#[derive(Debug, Default, Clone)]
pub struct Restorer {
    held: String,
}

impl Restorer {
    /// A restorer with nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text to pass on for `delta`: what was held and this delta, with
    /// the placeholders restored, less a tail that could still become one.
    pub fn push(&mut self, vault: &Vault, delta: &str) -> String {
        self.held.push_str(delta);
        let keep = Self::held_back(vault, &self.held);
        let ready = self.held.len() - keep;
        let out = vault.restore(&self.held[..ready]).into_owned();
        self.held.drain(..ready);
        out
    }

    /// What is still held at the end of the stream, as it is: it did not
    /// become a placeholder.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// How many bytes is `text`'s tail that could still grow into one of
    /// `vault`'s placeholders: from its last `<`, if only placeholder
    /// characters follow and it is shorter than the longest placeholder.
    fn held_back(vault: &Vault, text: &str) -> usize {
        if vault.is_empty() {
            return 0;
        }
        let Some(at) = text.rfind('<') else {
            return 0;
        };
        let tail = &text[at..];
        let could_grow = tail.len() < vault.longest_placeholder()
            && tail
                .bytes()
                .skip(1)
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if could_grow {
            tail.len()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        let mut vault = Vault::new();
        vault.placeholder(&EntityKind::Email, "ana@example.com");
        vault.placeholder(&EntityKind::Card, "4111 1111 1111 1111");
        vault.placeholder(&EntityKind::OpenAiKey, "sk-proj-abc");
        vault
    }

    #[test]
    fn a_value_keeps_its_placeholder_and_kinds_count_apart() {
        let mut vault = vault();
        assert_eq!(
            vault.placeholder(&EntityKind::Email, "ana@example.com"),
            "<EMAIL_1>"
        );
        assert_eq!(
            vault.placeholder(&EntityKind::Card, "4111 1111 1111 1111"),
            "<CARD_1>"
        );
        assert_eq!(
            vault.placeholder(&EntityKind::Email, "bo@example.com"),
            "<EMAIL_2>"
        );
        // The same text as another kind is another entity.
        assert_eq!(
            vault.placeholder(&EntityKind::Custom("NOTE".into()), "ana@example.com"),
            "<NOTE_1>"
        );
        assert_eq!(vault.len(), 5);
        assert_eq!(vault.original("<EMAIL_2>"), Some("bo@example.com"));
        assert_eq!(vault.original("<EMAIL_3>"), None);
    }

    #[test]
    fn a_thousand_values_keep_their_numbers_and_originals() {
        let mut vault = Vault::new();
        for round in 0..2 {
            for i in 1..=1000 {
                let value = format!("user{i}@example.com");
                assert_eq!(
                    vault.placeholder(&EntityKind::Email, &value),
                    format!("<EMAIL_{i}>"),
                    "round {round}"
                );
            }
        }
        assert_eq!(vault.len(), 1000);
        assert_eq!(vault.original("<EMAIL_100>"), Some("user100@example.com"));
        assert_eq!(vault.original("<EMAIL_1001>"), None);
        assert_eq!(vault.longest_placeholder(), "<EMAIL_1000>".len());
        // An escaped copy keeps the placeholders, and the original keeps
        // counting where it was.
        let escaped = vault.json_escaped();
        assert_eq!(escaped.original("<EMAIL_1000>"), Some("user1000@example.com"));
        assert_eq!(
            vault.placeholder(&EntityKind::Email, "new@example.com"),
            "<EMAIL_1001>"
        );
    }

    #[test]
    fn debug_never_shows_a_value() {
        let shown = format!("{:?}", vault());
        assert!(shown.contains("<EMAIL_1>"));
        assert!(!shown.contains("ana@") && !shown.contains("4111") && !shown.contains("sk-proj"));
    }

    #[test]
    fn a_complete_text_gets_its_originals_and_nothing_else_changes() {
        let vault = vault();
        assert_eq!(
            vault.restore("Mail <EMAIL_1>, card <CARD_1>, key <OPENAI_KEY_1>."),
            "Mail ana@example.com, card 4111 1111 1111 1111, key sk-proj-abc."
        );
        for untouched in [
            "a < b",
            "<EMAIL_9>",
            "<email_1>",
            "<EMAIL_1",
            "<<EMAIL_1",
            "x<",
            "",
            "<>",
        ] {
            let expected = untouched.replace("<EMAIL_1>", "ana@example.com");
            assert_eq!(vault.restore(untouched), expected, "{untouched:?}");
        }
        assert_eq!(vault.restore("<<EMAIL_1>>"), "<ana@example.com>");
        assert!(matches!(vault.restore("no placeholder"), Cow::Borrowed(_)));
        assert_eq!(Vault::new().restore("<EMAIL_1>"), "<EMAIL_1>");
    }

    /// Every way of cutting a reply into two or three deltas gives the
    /// same text as restoring it whole.
    #[test]
    fn a_stream_cut_anywhere_reads_as_the_whole_reply() {
        let vault = vault();
        let reply = "Hi <EMAIL_1>! Card <CARD_1> and <OPENAI_KEY_1>; not <EMAIL_7> or a < b <CARD_1>";
        let expected = vault.restore(reply).into_owned();
        let cuts: Vec<usize> = (0..=reply.len()).filter(|&i| reply.is_char_boundary(i)).collect();
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a) {
                let mut restorer = Restorer::new();
                let mut out = String::new();
                for delta in [&reply[..a], &reply[a..b], &reply[b..]] {
                    out.push_str(&restorer.push(&vault, delta));
                    assert!(restorer.held.len() < vault.longest_placeholder());
                }
                out.push_str(&restorer.finish());
                assert_eq!(out, expected, "cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn a_stream_byte_by_byte_holds_back_only_a_possible_placeholder() {
        let vault = vault();
        let mut restorer = Restorer::new();
        assert_eq!(restorer.push(&vault, "a <"), "a ");
        assert_eq!(restorer.push(&vault, "EMA"), "");
        assert_eq!(restorer.push(&vault, "IL_1"), "");
        assert_eq!(restorer.push(&vault, ">."), "ana@example.com.");
        // Not a placeholder's characters: passed on at once.
        assert_eq!(restorer.push(&vault, "<b"), "<b");
        // An unfinished placeholder at the end is passed on as it is.
        assert_eq!(restorer.push(&vault, " <CARD"), " ");
        assert_eq!(restorer.finish(), "<CARD");
        // With an empty vault nothing is held.
        assert_eq!(Restorer::new().push(&Vault::new(), "<EMA"), "<EMA");
    }
}
