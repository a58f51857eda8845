//! Replies: a chat completion, a stream chunk, an embeddings reply.
//!
//! Deserialised into structs that borrow from the body where they can, with
//! the [lenient](crate::provider::lenient) helpers where compatible servers
//! differ from OpenAI. Unknown keys are ignored.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::provider::lenient::{Arguments, Count, CowStr, MaybeStr, TextContent};
use crate::types::Usage;

/// `usage` of a completion or of the last stream chunk.
#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: Count,
    #[serde(default)]
    completion_tokens: Count,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek reports cache reads here.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<Count>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<Count>,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Count,
}

impl WireUsage {
    pub(crate) fn to_usage(&self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or_default();
        let reasoning = self
            .completion_tokens_details
            .as_ref()
            .map(|d| d.reasoning_tokens)
            .unwrap_or_default();
        Usage::new(self.prompt_tokens.0, self.completion_tokens.0)
            .with_cache_read(cached.0)
            .with_reasoning(reasoning.0)
    }
}

/// Groq reports stream usage under `x_groq`.
#[derive(Deserialize)]
pub(crate) struct XGroq {
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
}

/// A tool call of a message, or a fragment of one in a stream delta.
#[derive(Deserialize)]
pub(crate) struct ToolCallIn<'a> {
    #[serde(default)]
    pub(crate) index: Option<Count>,
    #[serde(default, borrow)]
    pub(crate) id: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) function: Option<FunctionIn<'a>>,
}

/// The `function` of a tool call (and the legacy `function_call`).
#[derive(Deserialize)]
pub(crate) struct FunctionIn<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) arguments: Option<Arguments<'a>>,
}

/// The `message` of a choice, or the `delta` of a stream chunk.
#[derive(Deserialize)]
pub(crate) struct MessageIn<'a> {
    #[serde(default, borrow)]
    pub(crate) content: TextContent<'a>,
    #[serde(default, borrow)]
    pub(crate) refusal: MaybeStr<'a>,
    /// DeepSeek (and vLLM's reasoning parsers).
    #[serde(default, borrow)]
    pub(crate) reasoning_content: MaybeStr<'a>,
    /// OpenRouter, Ollama, newer vLLM.
    #[serde(default, borrow)]
    pub(crate) reasoning: MaybeStr<'a>,
    #[serde(default, borrow)]
    pub(crate) tool_calls: Option<Vec<ToolCallIn<'a>>>,
    /// The legacy functions API.
    #[serde(default, borrow)]
    pub(crate) function_call: Option<FunctionIn<'a>>,
}

impl<'a> MessageIn<'a> {
    /// The reasoning text, under whichever name the server used: a field of
    /// its own, or (Mistral) a `thinking` part of the content.
    pub(crate) fn take_reasoning(&mut self) -> Option<Cow<'a, str>> {
        self.reasoning_content
            .0
            .take()
            .or_else(|| self.reasoning.0.take())
            .or_else(|| self.content.1.take())
            .filter(|r| !r.is_empty())
    }
}

/// One choice of a completion or of a stream chunk.
#[derive(Deserialize)]
pub(crate) struct ChoiceIn<'a> {
    #[serde(default)]
    pub(crate) index: Option<Count>,
    #[serde(default, borrow)]
    pub(crate) message: Option<MessageIn<'a>>,
    #[serde(default, borrow)]
    pub(crate) delta: Option<MessageIn<'a>>,
    #[serde(default, borrow)]
    pub(crate) finish_reason: Option<CowStr<'a>>,
}

impl ChoiceIn<'_> {
    /// Whether this is the first choice (servers that send one choice may leave out `index`).
    pub(crate) fn is_first(&self) -> bool {
        self.index.is_none_or(|i| i.0 == 0)
    }
}

/// A chat completion, or one chunk of a streamed one.
#[derive(Deserialize)]
pub(crate) struct CompletionIn<'a> {
    #[serde(default, borrow)]
    pub(crate) id: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) model: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) object: Option<CowStr<'a>>,
    #[serde(default, borrow, deserialize_with = "first_choice")]
    pub(crate) choices: Option<ChoiceIn<'a>>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    #[serde(default)]
    pub(crate) x_groq: Option<XGroq>,
    /// An error reported in a 2xx body or inside a stream.
    #[serde(default)]
    pub(crate) error: Option<IgnoredAny>,
}

impl CompletionIn<'_> {
    /// Whether the body is an error payload rather than a completion.
    pub(crate) fn is_error(&self) -> bool {
        self.error.is_some() || self.object.as_ref().is_some_and(|o| o.as_str() == "error")
    }

    /// The usage figures, wherever the server put them.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
            .as_ref()
            .or_else(|| self.x_groq.as_ref().and_then(|x| x.usage.as_ref()))
            .map(WireUsage::to_usage)
    }
}

/// Reads the `choices` array keeping only the first choice (index 0), so that
/// no vector is allocated per chunk; `null` is no choice.
fn first_choice<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ChoiceIn<'de>>, D::Error> {
    struct ChoicesVisitor;
    impl<'de> Visitor<'de> for ChoicesVisitor {
        type Value = Option<ChoiceIn<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of choices")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut first = None;
            while let Some(choice) = seq.next_element_seed(ChoiceSeed)? {
                if first.is_none() && choice.is_first() {
                    first = Some(choice);
                }
            }
            Ok(first)
        }
    }
    deserializer.deserialize_any(ChoicesVisitor)
}

struct ChoiceSeed;

impl<'de> DeserializeSeed<'de> for ChoiceSeed {
    type Value = ChoiceIn<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        ChoiceIn::deserialize(deserializer)
    }
}

/// `POST /embeddings` reply.
#[derive(Deserialize)]
pub(crate) struct EmbeddingsIn {
    pub(crate) data: Vec<EmbeddingIn>,
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    #[serde(default)]
    pub(crate) error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(crate) struct EmbeddingIn {
    #[serde(default)]
    pub(crate) index: Option<Count>,
    pub(crate) embedding: Vec<f32>,
}
