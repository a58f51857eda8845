//! OpenAI error bodies to typed [`Error`]s.
//!
//! OpenAI answers `{"error": {"message", "type", "param", "code"}}`; Azure puts
//! the status in `code` as a string, and an `innererror` for content filtering;
//! vLLM and Mistral answer `{"object": "error", "message", "type", "code"}` at
//! the top level; others `{"error": "text"}` or `{"detail": ...}`. All are read.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{ApiError, Error};
use crate::provider::error_answer::{body_snippet, header_str, retry_after};
use crate::provider::error_table;

/// A non-2xx answer.
pub(super) fn from_response(provider: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let mut fields = Fields::parse(body);
    if fields.message.is_empty() {
        fields.message = status.canonical_reason().unwrap_or("unknown error").to_owned();
    }
    let request_id = header_str(headers, "x-request-id").or_else(|| header_str(headers, "apim-request-id"));
    let retry_after = retry_after(headers).or_else(|| retry_hint(&fields.message));
    classify(provider, Some(status.as_u16()), fields, request_id, retry_after)
}

/// An error payload met in a 2xx body or inside a stream, where there is no
/// status to go by: the code and type decide.
pub(super) fn from_payload(provider: &str, body: &[u8]) -> Error {
    let mut fields = Fields::parse(body);
    if fields.message.is_empty() {
        fields.message = "the provider reported an error".to_owned();
    }
    // vLLM puts the status in `code`, Azure puts it there as a string.
    let status = fields
        .code
        .as_deref()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|s| (400..=599).contains(s));
    let retry_after = retry_hint(&fields.message);
    classify(provider, status, fields, None, retry_after)
}

/// The parts of an error body that matter.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    code: Option<String>,
    kind: Option<String>,
    inner_code: Option<String>,
}

impl Fields {
    fn parse(body: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => Self::from_value(&value),
            Err(_) => Self {
                message: body_snippet(body).unwrap_or_default(),
                ..Self::default()
            },
        }
    }

    fn from_value(value: &Value) -> Self {
        let object = match value.get("error") {
            Some(Value::String(message)) => {
                return Self {
                    message: message.clone(),
                    ..Self::default()
                }
            }
            Some(error @ Value::Object(_)) => error,
            _ => value,
        };
        let message = object
            .get("message")
            .or_else(|| object.get("detail"))
            .map(text_of)
            .unwrap_or_default();
        let inner_code = object
            .get("innererror")
            .and_then(|i| i.get("code"))
            .and_then(scalar_of);
        Self {
            message,
            code: object.get("code").and_then(scalar_of),
            kind: object.get("type").and_then(scalar_of),
            inner_code,
        }
    }
}

/// The typed error: the shared table ([`error_table`]) decides, from the
/// status, the code, the type, Azure's inner code and the message.
fn classify(
    provider: &str,
    status: Option<u16>,
    fields: Fields,
    request_id: Option<String>,
    retry_after: Option<Duration>,
) -> Error {
    let class = error_table::classify(
        status,
        [
            fields.code.as_deref(),
            fields.kind.as_deref(),
            fields.inner_code.as_deref(),
        ],
        &fields.message,
    );
    let mut api = ApiError::new(provider, fields.message);
    api.status = status.and_then(|s| http::StatusCode::from_u16(s).ok());
    // Servers that put the HTTP status in `code` ("400", 429) lose nothing:
    // the type says more.
    let code_is_status = fields
        .code
        .as_deref()
        .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
    api.code = if code_is_status {
        fields.kind.or(fields.code)
    } else {
        fields.code.or(fields.kind)
    };
    api.request_id = request_id;
    class.into_error(api, retry_after)
}

/// A JSON value as message text: strings as they are, anything else as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A code or type: strings as they are, numbers written out, `null` as nothing.
fn scalar_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The delay named in a message: OpenAI's "Please try again in 20s." (also
/// `1.5s`, `6m0s`, `120ms`), Azure's "Please retry after 6 seconds."
pub(super) fn retry_hint(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let rest = ["try again in ", "retry after "]
        .iter()
        .find_map(|phrase| lower.find(phrase).map(|at| &lower[at + phrase.len()..]))?;
    let mut words = rest.split_whitespace();
    let first = words.next()?.trim_end_matches(['.', ',', ';', ')']);
    if let Some(delay) = parse_go_duration(first) {
        return Some(delay);
    }
    let amount: f64 = first.parse().ok()?;
    let unit = words
        .next()
        .unwrap_or("seconds")
        .trim_end_matches(['.', ',', ';', ')']);
    let secs = match unit {
        "ms" | "millisecond" | "milliseconds" => amount / 1000.0,
        "s" | "sec" | "secs" | "second" | "seconds" => amount,
        "m" | "min" | "mins" | "minute" | "minutes" => amount * 60.0,
        "h" | "hour" | "hours" => amount * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// A Go-style duration as OpenAI writes them: `20s`, `1.5s`, `6m0s`, `120ms`, `1h2m3s`.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0.0f64;
    let mut any = false;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let amount: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "us" | "µs" => 0.000_001,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += amount * scale;
        any = true;
    }
    if !any {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("20s"), Some(Duration::from_secs(20)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("120ms"), Some(Duration::from_millis(120)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration("12"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn hints_in_messages() {
        assert_eq!(
            retry_hint("Limit 3, Used 3, Requested 1. Please try again in 20s. Visit ..."),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            retry_hint("Please retry after 6 seconds. To increase ..."),
            Some(Duration::from_secs(6))
        );
        assert_eq!(retry_hint("Please try again later."), None);
        assert_eq!(retry_hint("try again in"), None);
    }
}
