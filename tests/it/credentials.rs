//! Credentials stay with the host they were configured for, and out of
//! everything the crate prints: no redirect is followed, a key an upstream
//! echoes is redacted from its error, and headers that carry credentials are
//! marked sensitive.

use http::StatusCode;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{HttpProviderBuilder, Provider, ProviderService};
use tower_ai::types::ChatRequest;
use tower_ai::{Error, LlmRequest};

use crate::conformance::{anthropic, openai, Endpoint};
use crate::support::{call, FakeUpstream, Reply};

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
            up.push(Reply::json(status, "{}").with_header("location", &location));
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
