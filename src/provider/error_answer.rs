//! Reading a vendor's error answer: what every codec needs from the status
//! line, the headers and a body that may not be JSON.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// The most characters of a non-JSON error body kept as its message.
const SNIPPET_CHARS: usize = 512;

/// A header's value, trimmed; `None` when absent, empty or not text.
pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The delay a vendor asked for: `retry-after-ms` (Azure, OpenAI), else
/// `retry-after` in seconds (whole or fractional) or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Ok(delay) = Duration::try_from_secs_f64(ms / 1000.0) {
            return Some(delay);
        }
    }
    let value = header_str(headers, "retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(&value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The start of a body that is not a vendor's error JSON, as a message:
/// trimmed, cut at a character boundary; `None` when the body is empty.
pub(crate) fn body_snippet(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn retry_after_in_every_form() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "20")])),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250"), ("retry-after", "9")])),
            Some(Duration::from_millis(250))
        );
        // A date in the past means "now".
        assert_eq!(
            retry_after(&headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")])),
            Some(Duration::ZERO)
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
        let delay = retry_after(&headers(&[("retry-after", &later)])).unwrap();
        assert!(
            delay > Duration::from_secs(3500) && delay <= Duration::from_secs(3600),
            "{delay:?}"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn absurd_delays_parse_without_overflow() {
        // Parsed as they are (a provider sets the ones over its limit apart);
        // none of them panics or wraps.
        for (name, value) in [
            ("retry-after", "99999999999"),
            ("retry-after", "1e19"),
            ("retry-after", "1e300"),
            ("retry-after-ms", "1e20"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            let delay = retry_after(&headers(&[(name, value)]));
            if let Some(delay) = delay {
                assert!(delay > Duration::from_secs(3600), "{name}: {value}");
            }
        }
        assert_eq!(retry_after(&headers(&[("retry-after", "1e300")])), None);
    }

    #[test]
    fn a_snippet_is_cut_at_a_char_boundary() {
        let body = "é".repeat(600);
        let text = body_snippet(body.as_bytes()).unwrap();
        assert_eq!(text.chars().count(), SNIPPET_CHARS + 1);
        assert!(text.ends_with('…'));
        assert_eq!(body_snippet(b"  \n"), None);
        assert_eq!(body_snippet(b" upstream down ").as_deref(), Some("upstream down"));
    }
}
