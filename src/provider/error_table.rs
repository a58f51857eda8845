//! How every error dialect is classified: one table of the names servers put
//! in an error's `code` and `type`, one of the phrases they use in its
//! message, and one rule that weighs them against the HTTP status.
//!
//! The dialects, and where each name comes from (the fixtures in
//! `tests/it/fixtures/errors/` hold a real body of each, with its source):
//!
//! | dialect | shape |
//! |---|---|
//! | OpenAI | `{"error": {"message", "type", "param", "code"}}` |
//! | Azure OpenAI | OpenAI's, with the status in `code` as a string and `innererror` for content filtering |
//! | vLLM | `{"object": "error", "message", "type", "code": 400}`, newer versions in OpenAI's envelope; exception names as `type` (`BadRequestError`) |
//! | llama.cpp server | OpenAI's envelope, `code` the status as a number, its own types (`exceed_context_size_error`, `unavailable_error`) |
//! | Ollama | OpenAI's envelope on `/v1` (`invalid_request_error`, `not_found_error`, `api_error`); `{"error": "text"}` natively |
//! | LiteLLM-style proxies | OpenAI's envelope, `code` the status as a string, the exception's name in the message (`litellm.RateLimitError: ...`) |
//! | Anthropic | `{"type": "error", "error": {"type", "message"}}` |
//!
//! The rule, in order:
//!
//! 1. A content filter, then a context overflow, named or worded anywhere,
//!    wins on a client error (4xx but 429) or where there is no status.
//! 2. An account out of quota or credit is that, whatever the status (OpenAI
//!    sends it with 429; no retry cures it, another account may).
//! 3. Otherwise the status decides: 429 rate limited, 401/403
//!    authentication, 503/529 overloaded, other 5xx a server error (or
//!    overloaded, when named so), other 4xx an invalid request.
//! 4. Without a status (an error inside a stream or a 2xx body), the names
//!    and phrases decide, and with none a server error.

use crate::error::{ApiError, Error};

/// What an error is, before it becomes an [`Error`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    // In priority order: when several names are given, the first class wins.
    ContentFilter,
    ContextLength,
    /// Out of quota, credit or billing: the account, not the request.
    Account,
    RateLimited,
    Overloaded,
    Auth,
    Invalid,
    Server,
}

/// Names in `code` or `type`, and the class each means. Compared exactly.
static NAMES: &[(&str, Class)] = &[
    // Context overflow: OpenAI, Azure; llama.cpp.
    ("context_length_exceeded", Class::ContextLength),
    ("exceed_context_size_error", Class::ContextLength),
    // Content filters: Azure (`code`, and `innererror.code`); OpenAI images.
    ("content_filter", Class::ContentFilter),
    ("ResponsibleAIPolicyViolation", Class::ContentFilter),
    ("content_policy_violation", Class::ContentFilter),
    // Quota and billing: OpenAI's error-codes guide; Anthropic's `billing_error`.
    ("insufficient_quota", Class::Account),
    ("billing_hard_limit_reached", Class::Account),
    ("billing_not_active", Class::Account),
    ("credit_balance_exhausted", Class::Account),
    ("project_spend_limit_exceeded", Class::Account),
    ("access_terminated", Class::Account),
    ("billing_error", Class::Account),
    // Rate limits: OpenAI (`rate_limit_exceeded`, and the older `requests` /
    // `tokens` codes), Anthropic; vLLM / LiteLLM exception names.
    ("rate_limit_exceeded", Class::RateLimited),
    ("rate_limit_error", Class::RateLimited),
    ("requests", Class::RateLimited),
    ("tokens", Class::RateLimited),
    ("RateLimitError", Class::RateLimited),
    // Overloaded: OpenAI, Anthropic, llama.cpp (`unavailable_error`, 503
    // while loading a model).
    ("server_is_overloaded", Class::Overloaded),
    ("service_unavailable_error", Class::Overloaded),
    ("overloaded_error", Class::Overloaded),
    ("engine_overloaded", Class::Overloaded),
    ("unavailable_error", Class::Overloaded),
    ("ServiceUnavailableError", Class::Overloaded),
    // Credentials: OpenAI, Anthropic, llama.cpp; exception names.
    ("invalid_api_key", Class::Auth),
    ("authentication_error", Class::Auth),
    ("invalid_authentication", Class::Auth),
    ("permission_error", Class::Auth),
    ("AuthenticationError", Class::Auth),
    ("PermissionDeniedError", Class::Auth),
    // The request: OpenAI, Anthropic, llama.cpp, Ollama; vLLM exception names.
    ("invalid_request_error", Class::Invalid),
    ("not_found_error", Class::Invalid),
    ("request_too_large", Class::Invalid),
    ("not_supported_error", Class::Invalid),
    ("BadRequestError", Class::Invalid),
    ("NotFoundError", Class::Invalid),
    ("UnprocessableEntityError", Class::Invalid),
    // The server: OpenAI, llama.cpp (`server_error`), Anthropic, Ollama
    // (`api_error`), Anthropic's `timeout_error`; vLLM.
    ("server_error", Class::Server),
    ("api_error", Class::Server),
    ("timeout_error", Class::Server),
    ("InternalServerError", Class::Server),
];

/// Phrases in a message (compared in lower case, anywhere in it), and the
/// class each means. Servers word the same failure differently, and proxies
/// pass an upstream's error on inside their own message.
static PHRASES: &[(&str, Class)] = &[
    // OpenAI, Azure, vLLM ("This model's maximum context length is ...").
    ("maximum context length", Class::ContextLength),
    ("context_length_exceeded", Class::ContextLength),
    ("reduce the length of the messages", Class::ContextLength),
    ("context window", Class::ContextLength),
    ("exceeds the context", Class::ContextLength),
    ("exceed context limit", Class::ContextLength),
    // Anthropic ("prompt is too long: 210000 tokens > 200000 maximum").
    ("prompt is too long", Class::ContextLength),
    // llama.cpp's server, two versions.
    ("exceeds the available context size", Class::ContextLength),
    ("larger than the max context size", Class::ContextLength),
    ("exceed_context_size_error", Class::ContextLength),
    // LiteLLM-style proxies name the exception in the message.
    ("contextwindowexceedederror", Class::ContextLength),
    ("contentpolicyviolationerror", Class::ContentFilter),
    ("ratelimiterror", Class::RateLimited),
];

/// The class of the first of `names` the table knows, by priority.
fn by_name<'a>(names: impl IntoIterator<Item = Option<&'a str>>) -> Option<Class> {
    names
        .into_iter()
        .flatten()
        .filter_map(|name| NAMES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c))
        .min()
}

/// The class a message's wording says, by priority.
fn by_phrase(message: &str) -> Option<Class> {
    let lower = message.to_ascii_lowercase();
    PHRASES
        .iter()
        .filter(|(phrase, _)| lower.contains(phrase))
        .map(|(_, class)| *class)
        .min()
}

/// Whether a message says the prompt does not fit the context window.
#[cfg(test)]
pub(crate) fn mentions_context_overflow(message: &str) -> bool {
    by_phrase(message) == Some(Class::ContextLength)
}

/// Classifies an error by its status (if it has one), the names in its
/// `code`, `type` and the like, and its message: the rule in the module docs.
pub(crate) fn classify<'a>(
    status: Option<u16>,
    names: impl IntoIterator<Item = Option<&'a str>>,
    message: &str,
) -> Class {
    let named = by_name(names);
    let worded = by_phrase(message);
    let says = |class: Class| named == Some(class) || worded == Some(class);
    let client_error = status.is_none_or(|s| (400..500).contains(&s) && s != 429);
    if client_error && says(Class::ContentFilter) {
        return Class::ContentFilter;
    }
    if client_error && says(Class::ContextLength) {
        return Class::ContextLength;
    }
    if named == Some(Class::Account) {
        return Class::Account;
    }
    match status {
        Some(429) => Class::RateLimited,
        Some(401 | 403) => Class::Auth,
        // 529 is Anthropic's "overloaded", and proxies pass it on.
        Some(503 | 529) => Class::Overloaded,
        Some(500..) if named == Some(Class::Overloaded) => Class::Overloaded,
        Some(500..) => Class::Server,
        Some(_) => Class::Invalid,
        None => named.or(worded).unwrap_or(Class::Server),
    }
}

impl Class {
    /// The [`Error`] of this class. `retry_after` is kept for a rate limit
    /// and an overload, where a retry may honour it.
    pub(crate) fn into_error(self, mut api: ApiError, retry_after: Option<std::time::Duration>) -> Error {
        let api = |retry: bool| {
            if retry {
                api.retry_after = retry_after;
            }
            Box::new(api)
        };
        match self {
            Class::ContentFilter => Error::ContentFiltered(api(false)),
            Class::ContextLength => Error::ContextLengthExceeded(api(false)),
            Class::Account | Class::Auth => Error::Authentication(api(false)),
            Class::RateLimited => Error::RateLimited(api(true)),
            Class::Overloaded => Error::Overloaded(api(true)),
            Class::Invalid => Error::InvalidRequest(api(false)),
            Class::Server => Error::Server(api(true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_listed_once() {
        for (i, (name, _)) in NAMES.iter().enumerate() {
            assert!(
                NAMES[i + 1..].iter().all(|(other, _)| other != name),
                "{name} twice"
            );
        }
        for (phrase, _) in PHRASES {
            assert_eq!(*phrase, phrase.to_ascii_lowercase(), "phrases are lower case");
        }
    }

    #[test]
    fn the_rule_weighs_names_phrases_and_status() {
        use Class::*;
        type Case<'a> = (Option<u16>, &'a [Option<&'a str>], &'a str, Class);
        let cases: &[Case] = &[
            // A named overflow is one only on a client error.
            (Some(400), &[Some("exceed_context_size_error")], "", ContextLength),
            (Some(500), &[Some("context_length_exceeded")], "", Server),
            // Worded only, in a proxy's message.
            (
                Some(400),
                &[Some("400")],
                "litellm.ContextWindowExceededError: ...",
                ContextLength,
            ),
            (None, &[], "litellm.RateLimitError: slow down", RateLimited),
            // Quota is the account's, even on a 429.
            (Some(429), &[Some("insufficient_quota")], "", Account),
            (Some(402), &[Some("billing_error")], "", Account),
            // The status decides the rest.
            (Some(403), &[Some("invalid_request_error")], "", Auth),
            (Some(529), &[Some("api_error")], "", Overloaded),
            (Some(500), &[Some("overloaded_error")], "", Overloaded),
            (Some(502), &[], "", Server),
            (Some(404), &[Some("not_found_error")], "", Invalid),
            // No status: names, then phrases, then a server error.
            (None, &[Some("rate_limit_error")], "", RateLimited),
            (None, &[None, Some("overloaded_error")], "", Overloaded),
            (None, &[], "something broke", Server),
            // A filter beats an overflow when both are said.
            (
                Some(400),
                &[Some("content_filter")],
                "maximum context length",
                ContentFilter,
            ),
        ];
        for (status, names, message, class) in cases {
            assert_eq!(
                classify(*status, names.iter().copied(), message),
                *class,
                "{status:?} {names:?} {message:?}"
            );
        }
    }

    #[test]
    fn context_overflow_phrases() {
        assert!(mentions_context_overflow(
            "prompt is too long: 210000 tokens > 200000 maximum"
        ));
        assert!(mentions_context_overflow(
            "This model's maximum context length is 8192 tokens."
        ));
        assert!(!mentions_context_overflow("Invalid value for temperature"));
    }
}
