//! Anthropic error bodies and error events to typed [`Error`]s.
//!
//! Anthropic answers `{"type": "error", "error": {"type", "message"},
//! "request_id"}`, with the same envelope in a stream's `error` event,
//! classified by the table every dialect shares (the one in the
//! [module docs](super) is its Anthropic part).

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{ApiError, Error};
use crate::provider::error_answer::{body_snippet, header_str, retry_after};
use crate::provider::error_table;

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

/// The typed error: the shared table ([`error_table`]) decides, from the
/// error type, the status and the message.
fn classify(
    provider: &str,
    status: Option<u16>,
    fields: ErrorFields,
    retry_after: Option<Duration>,
) -> Error {
    let message = fields.message.unwrap_or_else(|| match status {
        Some(status) => format!("HTTP {status}"),
        None => "error event without a message".to_owned(),
    });
    let class = error_table::classify(status, [fields.kind.as_deref()], &message);
    let mut api = ApiError::new(provider, message);
    api.status = status.and_then(|s| http::StatusCode::from_u16(s).ok());
    api.code = fields.kind;
    api.request_id = fields.request_id;
    class.into_error(api, retry_after)
}
