//! Anthropic error bodies and error events to typed [`Error`]s.
//!
//! Anthropic answers `{"type": "error", "error": {"type", "message"},
//! "request_id"}`, with the same envelope in a stream's `error` event. The
//! error type decides the [`Error`] (the table in the [module docs](super));
//! an unknown or missing type is mapped by the HTTP status.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{ApiError, Error};
use crate::provider::error_answer::{body_snippet, header_str, mentions_context_overflow, retry_after};

/// A non-2xx answer.
pub(super) fn from_response(provider: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let mut fields = ErrorFields::from_body(body).unwrap_or_default();
    if fields.message.is_none() {
        fields.message = body_snippet(body).or_else(|| {
            status
                .canonical_reason()
                .map(|r| format!("HTTP {}: {r}", status.as_u16()))
        });
    }
    if fields.request_id.is_none() {
        fields.request_id = header_str(headers, "request-id");
    }
    classify(provider, Some(status.as_u16()), fields, retry_after(headers))
}

/// An error envelope sent with a 2xx status: there is no status to go by.
pub(super) fn from_payload(provider: &str, body: &[u8]) -> Error {
    let fields = ErrorFields::from_body(body).unwrap_or_default();
    classify(provider, None, fields, None)
}

/// A stream's `error` event: its `error` member and `request_id`.
pub(super) fn from_event(provider: &str, error: Option<&Value>, request_id: Option<String>) -> Error {
    let fields = ErrorFields {
        request_id,
        ..ErrorFields::from_parts(error, None)
    };
    classify(provider, None, fields, None)
}

/// What an error body said: `{"type":"error","error":{"type","message"},"request_id"}`.
///
/// Read from a [`Value`] (errors are rare), accepting near misses: an `error`
/// that is a plain string, or a top-level `message`.
#[derive(Default)]
struct ErrorFields {
    kind: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

impl ErrorFields {
    /// Reads the fields of an error envelope; `error` is its `error` member.
    fn from_parts(error: Option<&Value>, top: Option<&Value>) -> Self {
        let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let mut fields = ErrorFields::default();
        match error {
            Some(Value::Object(obj)) => {
                fields.kind = string(obj.get("type"));
                fields.message = string(obj.get("message"));
            }
            Some(Value::String(s)) => fields.message = Some(s.clone()),
            _ => {}
        }
        if let Some(Value::Object(top)) = top {
            if fields.message.is_none() {
                fields.message = string(top.get("message"));
            }
            fields.request_id = string(top.get("request_id"));
        }
        fields
    }

    /// Reads an error body; `None` if it is not a JSON object.
    fn from_body(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        if !value.is_object() {
            return None;
        }
        Some(Self::from_parts(value.get("error"), Some(&value)))
    }
}

/// The typed error for an Anthropic error type and/or HTTP status.
///
/// The error type decides; an unknown or missing type is mapped by status.
fn classify(
    provider: &str,
    status: Option<u16>,
    fields: ErrorFields,
    retry_after: Option<Duration>,
) -> Error {
    #[derive(PartialEq)]
    enum Kind {
        RateLimited,
        Overloaded,
        Auth,
        Invalid,
        Server,
    }
    let kind = match fields.kind.as_deref() {
        Some("rate_limit_error") => Kind::RateLimited,
        Some("overloaded_error") => Kind::Overloaded,
        Some("authentication_error" | "permission_error" | "billing_error") => Kind::Auth,
        Some("invalid_request_error" | "not_found_error" | "request_too_large") => Kind::Invalid,
        Some("api_error" | "timeout_error") => Kind::Server,
        _ => match status {
            Some(429) => Kind::RateLimited,
            Some(503 | 529) => Kind::Overloaded,
            Some(401 | 403) => Kind::Auth,
            Some(400..=499) => Kind::Invalid,
            _ => Kind::Server,
        },
    };
    let message = fields.message.unwrap_or_else(|| match status {
        Some(status) => format!("HTTP {status}"),
        None => "error event without a message".to_owned(),
    });
    let context_length = kind == Kind::Invalid && mentions_context_overflow(&message);
    let mut api = ApiError::new(provider, message);
    api.status = status.and_then(|s| http::StatusCode::from_u16(s).ok());
    api.code = fields.kind;
    api.request_id = fields.request_id;
    api.retry_after = retry_after;
    match kind {
        Kind::RateLimited => Error::RateLimited(Box::new(api)),
        Kind::Overloaded => Error::Overloaded(Box::new(api)),
        Kind::Auth => Error::Authentication(Box::new(api)),
        Kind::Invalid if context_length => Error::ContextLengthExceeded(Box::new(api)),
        Kind::Invalid => Error::InvalidRequest(Box::new(api)),
        Kind::Server => Error::Server(Box::new(api)),
    }
}
