//! Credentials stay with the host they were configured for, and out of
//! everything the crate prints: no redirect is followed, a key an upstream
//! echoes is redacted from its error, and headers that carry credentials are
//! marked sensitive.

use http::StatusCode;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{HttpProviderBuilder, ProviderService};
use tower_ai::types::ChatRequest;
use tower_ai::{Error, LlmRequest};

use crate::conformance::{anthropic, openai, Endpoint};
use crate::support::{call, json_fixture};
use tower_ai::testing::{FakeUpstream, Scripted};

const AZURE_KEY: &str = "azure-secret-5c2e91";
const ENTRA_TOKEN: &str = "eyJ-entra-7d0a33";

/// Every vendor and auth style, built against `up`, with the header its
/// credential travels in and the credential.
fn providers(up: &FakeUpstream) -> Vec<(&'static str, ProviderService, &'static str, String)> {
    let azure = || OpenAi::azure().endpoint(up.base_url()).deployment("gpt-4o-prod");
    vec![
        (
            "openai",
            ProviderService::new(openai::provider(Endpoint::upstream(up))),
            "authorization",
            format!("Bearer {}", openai::API_KEY),
        ),
        (
            "anthropic",
            ProviderService::new(anthropic::provider(Endpoint::upstream(up))),
            "x-api-key",
            anthropic::API_KEY.to_owned(),
        ),
        (
            "azure api-key",
            ProviderService::new(azure().api_key(AZURE_KEY).build().unwrap()),
            "api-key",
            AZURE_KEY.to_owned(),
        ),
        (
            "azure entra",
            ProviderService::new(azure().entra_token(ENTRA_TOKEN).build().unwrap()),
            "authorization",
            format!("Bearer {ENTRA_TOKEN}"),
        ),
    ]
}

fn hello() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini").user("a prompt that must stay home")
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let up = FakeUpstream::start().await;
    let elsewhere = FakeUpstream::start().await;
    for (name, mut service, header, credential) in providers(&up) {
        let before = up.requests().len();
        for (status, stream) in [(307, false), (308, true), (301, false), (302, true)] {
            let location = format!("{}/v1/chat/completions", elsewhere.base_url());
            up.push(Scripted::json(status, "{}").with_header("location", &location));
            let request = if stream {
                LlmRequest::stream(hello())
            } else {
                LlmRequest::new(hello())
            };
            let err = call(&mut service, request).await.unwrap_err();
            let Error::Redirected {
                provider,
                status: seen,
                location: named,
                ..
            } = &err
            else {
                panic!("{name} {status}: {err:?}");
            };
            assert_eq!(*seen, StatusCode::from_u16(status).unwrap(), "{name}");
            assert_eq!(named, &location, "{name}");
            assert!(!provider.is_empty());
            assert!(!err.is_retryable(), "{name}: retrying a redirect would loop");
            assert!(err.to_string().contains(&location), "{err}");
        }
        // The configured host saw the credential; the other host saw nothing.
        let seen = &up.requests()[before..];
        assert_eq!(seen.len(), 4, "{name}");
        assert!(
            seen.iter().all(|r| r.header(header) == Some(credential.as_str())),
            "{name}"
        );
        assert!(
            elsewhere.requests().is_empty(),
            "{name}: a request reached the other host"
        );
    }
}

/// An upstream that echoes the credential it was sent, in the error body
/// shape both vendors read (Anthropic's envelope, with OpenAI's fields).
fn echoing(credential: &str) -> Scripted {
    let body = serde_json::json!({
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": format!("invalid credential: {credential} was refused"),
            "code": credential,
        }
    });
    Scripted::json(401, body.to_string())
}

/// The bare credential, without a `Bearer ` prefix.
fn bare(credential: &str) -> &str {
    credential.strip_prefix("Bearer ").unwrap_or(credential)
}

#[tokio::test]
async fn a_key_echoed_by_the_upstream_is_redacted_from_the_error() {
    let up = FakeUpstream::start().await;
    for (name, mut service, _, credential) in providers(&up) {
        let key = bare(&credential).to_owned();
        up.push(echoing(&key));
        let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{name}: {err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&key), "{name}: {shown}");
            assert!(shown.contains("***"), "{name}: {shown}");
        }

        // A key given for one call is redacted too.
        let tenant_key = "sk-tenant-91be4f0c";
        up.push(echoing(tenant_key));
        let request = LlmRequest::new(hello()).with_credential(tenant_key);
        let err = call(&mut service, request).await.unwrap_err();
        assert!(!format!("{err:?}").contains(tenant_key), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn a_key_echoed_in_a_stream_error_is_redacted() {
    let up = FakeUpstream::start().await;
    let message = format!("the key {} was revoked", openai::API_KEY);
    let event = serde_json::json!({"error": {"message": message, "type": "server_error"}});
    up.push(Scripted::sse_frames([format!("data: {event}\n\n")]));
    let mut service = ProviderService::new(openai::provider(Endpoint::upstream(&up)));
    let response = call(&mut service, LlmRequest::stream(hello())).await.unwrap();
    let err = response.into_complete().await.unwrap_err();
    assert!(!format!("{err:?} {err}").contains(openai::API_KEY), "{err:?}");
    assert!(err.to_string().contains("***"), "{err}");
}

#[tokio::test]
async fn headers_that_carry_credentials_are_marked_sensitive() {
    let up = FakeUpstream::start().await;
    let provider = OpenAi::builder()
        .api_key(openai::API_KEY)
        .base_url(format!("{}/v1", up.base_url()))
        .header("helicone-auth", "Bearer hk-31f7aa")
        .header("x-portkey-api-key", "pk-77c1d2")
        .header("cf-aig-authorization", "Bearer cf-0b9e44")
        .sensitive_header("x-gateway-pass", "gw-5e8d10")
        .header("x-team", "search")
        .build()
        .unwrap();
    let ctx = tower_ai::types::RequestMeta::new();
    let request = provider
        .prepare_chat(&hello(), tower_ai::ReplyMode::Complete, &ctx)
        .await
        .unwrap();
    let shown = format!("{request:?} {provider:?}");
    for (name, value) in [
        ("authorization", openai::API_KEY),
        ("helicone-auth", "hk-31f7aa"),
        ("x-portkey-api-key", "pk-77c1d2"),
        ("cf-aig-authorization", "cf-0b9e44"),
        ("x-gateway-pass", "gw-5e8d10"),
    ] {
        assert!(request.headers()[name].is_sensitive(), "{name}");
        assert!(!shown.contains(value), "{name} shows in {shown}");
    }
    assert!(!request.headers()["x-team"].is_sensitive());
    // The values still go on the wire.
    let mut service = ProviderService::new(provider);
    call(&mut service, LlmRequest::new(hello())).await.unwrap();
    assert_eq!(up.requests()[0].header("x-portkey-api-key"), Some("pk-77c1d2"));
    assert_eq!(up.requests()[0].header("x-gateway-pass"), Some("gw-5e8d10"));
}

#[tokio::test]
async fn an_absurd_retry_after_is_reported_but_not_honoured() {
    let up = FakeUpstream::start().await;
    let rate_limited = || json_fixture(429, "openai/error_rate_limit.json");
    for value in ["99999999999", "1e19", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        up.push(rate_limited().with_header("retry-after", value));
    }
    up.push(rate_limited().with_header("retry-after-ms", "1e20"));
    up.push(rate_limited().with_header("retry-after", "86400"));
    let mut service = ProviderService::new(openai::provider(Endpoint::upstream(&up)));
    for _ in 0..3 {
        let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), None, "{err:?}");
        assert!(err.api().unwrap().unusable_retry_after.unwrap() > std::time::Duration::from_secs(86_400));
    }
    // Too large to be a duration at all: neither honoured nor reported.
    let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
    assert_eq!(err.retry_after(), None);
    // A day is over the default limit of five minutes...
    let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
    assert_eq!(err.retry_after(), None);
    assert_eq!(
        err.api().unwrap().unusable_retry_after,
        Some(std::time::Duration::from_secs(86_400))
    );
    // ... and within a limit the application raised.
    let patient = OpenAi::builder()
        .api_key(openai::API_KEY)
        .base_url(format!("{}/v1", up.base_url()))
        .max_retry_after(std::time::Duration::from_secs(2 * 86_400))
        .build()
        .unwrap();
    up.push(rate_limited().with_header("retry-after", "86400"));
    let err = call(&mut ProviderService::new(patient), LlmRequest::new(hello()))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(86_400)));
}

/// Everything an error shows: its `Display`, its `Debug` and each source's.
fn everything_shown(err: &Error) -> String {
    let mut shown = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        shown.push_str(&format!(" | {cause} {cause:?}"));
        source = cause.source();
    }
    shown
}

#[tokio::test]
async fn a_key_in_a_malformed_reply_is_redacted_from_the_whole_error_chain() {
    let up = FakeUpstream::start().await;
    for (name, mut service, _, credential) in providers(&up) {
        let key = bare(&credential).to_owned();
        // The key where a list belongs: the parser's own error quotes it.
        let body = serde_json::json!({
            "id": "r", "type": "message", "role": "assistant", "model": "m",
            "object": "chat.completion", "created": 1,
            "choices": key, "content": key,
        });
        up.push(Scripted::json(200, body.to_string()));
        let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{name}: {err:?}");
        let shown = everything_shown(&err);
        assert!(!shown.contains(&key), "{name}: {shown}");
    }
}
