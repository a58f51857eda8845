//! Token counting: exact for OpenAI models, an estimate labelled as such for
//! the others, memoised per message.
//!
//! ```
//! use tower_ai::tokens::{Accuracy, TokenCounter};
//! use tower_ai::types::{ChatRequest, Message};
//!
//! let counter = TokenCounter::new();
//! let request = ChatRequest::new("gpt-4o")
//!     .system("You are terse.")
//!     .user("How many tokens is this?");
//! let count = counter.count_request(&request);
//! assert_eq!(count.accuracy, Accuracy::Exact);
//! assert_eq!(count.tokens, 21);
//!
//! // Anthropic publishes no local tokenizer: the count is an estimate.
//! let claude = counter.count_request(&ChatRequest::new("claude-sonnet-4-5").user("Hi"));
//! assert_eq!(claude.accuracy, Accuracy::Estimated);
//! ```
//!
//! # OpenAI models
//!
//! The encoding comes from the model name, as OpenAI's `tiktoken` maps it
//! (through [`tiktoken-rs`](https://docs.rs/tiktoken-rs)): `o200k_base` for
//! the gpt-4o, gpt-4.1, gpt-5 and o-series families, `cl100k_base` for gpt-4
//! and gpt-3.5; a provider prefix (`openai/gpt-4o`) and a fine-tune
//! (`ft:gpt-4o:...`) resolve to their base model, and an alias of the
//! application's to the model it names ([`TokenCounter::with_alias`]). The prompt is counted the
//! way OpenAI's cookbook *How to count tokens with tiktoken* describes it:
//! 3 tokens per message, the role, the content, 1 more for a `name`, and 3
//! that prime the reply. The cookbook's own examples, with the counts
//! OpenAI's API reported for them, are in the tests
//! (`tests/it/fixtures/tokens/`): text-only chats are exact.
//!
//! Tool definitions follow the cookbook's per-function formula, which
//! reproduces the API's figure for its example (105 tokens on `cl100k_base`,
//! 101 on `o200k_base`); schemas richer than name, type, description and
//! `enum` (nested objects, arrays) are counted by their JSON text, which
//! overcounts. Tool calls in the conversation count their name and
//! arguments plus one token, and tool results their text; the API's own
//! framing of these differs by a few tokens per call.
//!
//! Images follow OpenAI's tile formula: `detail: low` is 85 tokens; `high`
//! and `auto` scale the image to fit 2048 × 2048, then its shorter side to
//! 768 pixels, and count 170 tokens per 512-pixel tile plus 85 (gpt-4o-mini:
//! 2 833 and 5 667). The size is read from an inline image's header (PNG,
//! JPEG, GIF, WebP and others); an image given by URL, whose size is not
//! known before the vendor fetches it, counts as the largest image the
//! formula allows (8 tiles), so a budget reserved on the count is never
//! short. Models that price images by 32-pixel patches (gpt-4.1-mini and
//! later small models) are counted by tiles too.
//!
//! # Other vendors
//!
//! Anthropic, Gemini and the others publish no tokenizer to run locally. Their
//! prompts are counted with `o200k_base` and raised by a quarter, plus the
//! same per-message framing, and the count says
//! [`Accuracy::Estimated`]. Anthropic's own guidance is that OpenAI's
//! tokenizers undercount Claude's tokens by 15–20 % on typical English text,
//! more on code and other languages; the quarter covers typical text, not
//! every text. Where an exact figure matters, the vendor's reported usage
//! settles it after the call.
//!
//! # The memo
//!
//! Counting a conversation that grew by one message should cost one
//! message. [`TokenCounter`] keeps the count of each prefix of the
//! conversations it counted in a bounded cache ([`moka`](https://docs.rs/moka)),
//! keyed by a chained hash of the prefix's messages (seeded per counter), so
//! a request seen before costs its hashing and one lookup, and one grown by
//! a turn costs two lookups and the new messages. Clones of a counter share
//! the memo.

mod image;
mod openai;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use tiktoken_rs::tokenizer::Tokenizer;
use tiktoken_rs::CoreBPE;

use crate::types::{ChatRequest, Message};

/// The BPE encodings the counter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// `o200k_base`: gpt-4o, gpt-4.1, gpt-5, the o-series.
    O200kBase,
    /// `cl100k_base`: gpt-4, gpt-3.5-turbo, the `text-embedding-3` models.
    Cl100kBase,
}

impl Encoding {
    /// The encoding OpenAI uses for `model`, or `None` for a model it does
    /// not know (another vendor's, or a name it has never used). A provider
    /// prefix (`openai/gpt-4o`) is ignored.
    ///
    /// ```
    /// use tower_ai::tokens::Encoding;
    ///
    /// assert_eq!(Encoding::for_model("gpt-4o-mini"), Some(Encoding::O200kBase));
    /// assert_eq!(Encoding::for_model("openai/gpt-4"), Some(Encoding::Cl100kBase));
    /// assert_eq!(Encoding::for_model("claude-sonnet-4-5"), None);
    /// ```
    pub fn for_model(model: &str) -> Option<Self> {
        let model = model.strip_prefix("openai/").unwrap_or(model);
        match tiktoken_rs::tokenizer::get_tokenizer(model)? {
            Tokenizer::O200kBase | Tokenizer::O200kHarmony => Some(Encoding::O200kBase),
            Tokenizer::Cl100kBase => Some(Encoding::Cl100kBase),
            // Completion-era encodings: no chat model uses them.
            _ => None,
        }
    }

    /// The encoding's name, as `tiktoken` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// The number of tokens in `text`, read as plain text: a special
    /// token's spelling (`<|endoftext|>`) counts as the characters it is
    /// made of, as the vendor reads text it receives.
    ///
    /// The first call for an encoding loads its table (a few tens of
    /// milliseconds); later calls share it.
    pub fn count(self, text: &str) -> usize {
        self.bpe().encode_ordinary(text).len()
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a count is the vendor's own figure or an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Accuracy {
    /// Counted with the model's own encoding and the vendor's framing rules.
    Exact,
    /// Estimated: the vendor publishes no tokenizer (see the module docs for
    /// the measured error).
    Estimated,
}

/// The tokens of a request's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCount {
    /// The prompt tokens: messages, tool definitions and images (for an
    /// estimate, raised by a quarter: a figure to reserve on).
    pub tokens: u64,
    /// The count before an estimate's margin: equal to `tokens` when exact;
    /// for an estimate, what `o200k_base` counted, which the vendor's own
    /// count is not expected to be below.
    pub counted: u64,
    /// Whether `tokens` is exact.
    pub accuracy: Accuracy,
    /// The encoding the text was counted with.
    pub encoding: Encoding,
}

/// Counts the prompt tokens of requests, remembering each message's count.
///
/// Cheap to clone: clones share the memo. See the [module docs](self) for
/// the rules and their accuracy.
#[derive(Clone)]
pub struct TokenCounter {
    /// The key of a conversation's prefix → its messages' tokens.
    memo: moka::sync::Cache<u64, u64>,
    hasher: foldhash::quality::RandomState,
    aliases: Arc<HashMap<String, String>>,
}

/// How many prefix counts a counter remembers by default.
pub const DEFAULT_MEMO_ENTRIES: u64 = 100_000;

impl Default for TokenCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCounter {
    /// A counter remembering up to [`DEFAULT_MEMO_ENTRIES`] prefix counts.
    pub fn new() -> Self {
        Self::with_memo_entries(DEFAULT_MEMO_ENTRIES)
    }

    /// A counter remembering up to `entries` prefix counts (`0`: none).
    pub fn with_memo_entries(entries: u64) -> Self {
        Self {
            memo: moka::sync::Cache::new(entries),
            hasher: foldhash::quality::RandomState::default(),
            aliases: Arc::default(),
        }
    }

    /// Counts requests for `alias` (a public name such as `"fast"`, which a
    /// router maps to deployments) as requests for `model`.
    #[must_use]
    pub fn with_alias(mut self, alias: impl Into<String>, model: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.aliases).insert(alias.into(), model.into());
        self
    }

    /// How `model`'s prompts are counted: its encoding, and whether the
    /// count is exact.
    pub fn encoding_for(&self, model: &str) -> (Encoding, Accuracy) {
        encoding_of(self.resolve(model))
    }

    fn resolve<'a>(&'a self, model: &'a str) -> &'a str {
        self.aliases.get(model).map_or(model, String::as_str)
    }

    /// The prompt tokens of `request`, for the model it names.
    ///
    /// The memo holds the count of each prefix of a conversation, so a
    /// request whose messages begin with ones already counted (the same
    /// conversation, one turn later) counts only the new messages.
    pub fn count_request(&self, request: &ChatRequest) -> TokenCount {
        let model = self.resolve(&request.model);
        let (encoding, accuracy) = encoding_of(model);
        let profile = openai::Profile::for_model(model, encoding);
        // The key of each prefix: the key of the one before it and the message.
        let mut keys = Vec::with_capacity(request.messages.len());
        let mut previous = {
            let mut hasher = self.hasher.build_hasher();
            encoding.hash(&mut hasher);
            profile.hash(&mut hasher);
            hasher.finish()
        };
        for message in &request.messages {
            let mut hasher = self.hasher.build_hasher();
            previous.hash(&mut hasher);
            openai::hash_message(message, &mut hasher);
            previous = hasher.finish();
            keys.push(previous);
        }
        // The longest prefix already counted, from the end.
        let (mut done, mut tokens) = (0, 0u64);
        for (at, key) in keys.iter().enumerate().rev() {
            if let Some(counted) = self.memo.get(key) {
                (done, tokens) = (at + 1, counted);
                break;
            }
        }
        for (message, key) in request.messages[done..].iter().zip(&keys[done..]) {
            tokens = tokens.saturating_add(openai::message(message, encoding, &profile));
            self.memo.insert(*key, tokens);
        }
        let tokens = tokens
            .saturating_add(openai::REPLY_PRIMING)
            .saturating_add(openai::tools(&request.tools, encoding, &profile));
        TokenCount::of(tokens, encoding, accuracy)
    }

    /// The tokens of one message as `model` reads it: its framing, role,
    /// name and parts. Not remembered.
    pub fn count_message(&self, model: &str, message: &Message) -> TokenCount {
        let model = self.resolve(model);
        let (encoding, accuracy) = encoding_of(model);
        let profile = openai::Profile::for_model(model, encoding);
        TokenCount::of(openai::message(message, encoding, &profile), encoding, accuracy)
    }

    /// The tokens of `text` alone, for `model` (no framing; for a reply's
    /// text, say). Not remembered.
    pub fn count_text(&self, model: &str, text: &str) -> TokenCount {
        let (encoding, accuracy) = self.encoding_for(model);
        TokenCount::of(encoding.count(text) as u64, encoding, accuracy)
    }

    /// How many prefix counts the memo holds now (approximate, as the
    /// cache's own figure is).
    pub fn memo_len(&self) -> u64 {
        self.memo.run_pending_tasks();
        self.memo.entry_count()
    }
}

impl fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCounter")
            .field("memo_entries", &self.memo.entry_count())
            .field("aliases", &self.aliases)
            .finish()
    }
}

/// How `model` (already resolved) is counted.
fn encoding_of(model: &str) -> (Encoding, Accuracy) {
    match Encoding::for_model(model) {
        Some(encoding) => (encoding, Accuracy::Exact),
        None => (Encoding::O200kBase, Accuracy::Estimated),
    }
}

impl TokenCount {
    /// `tokens` counted with `encoding`; an estimate is raised by a
    /// quarter, rounded up.
    fn of(counted: u64, encoding: Encoding, accuracy: Accuracy) -> Self {
        let tokens = match accuracy {
            Accuracy::Exact => counted,
            _ => counted.saturating_add(counted.div_ceil(4)),
        };
        TokenCount {
            tokens,
            counted,
            accuracy,
            encoding,
        }
    }
}

#[cfg(test)]
mod tests;
