//! Quickstart: one request, three replies, no API key.
//!
//! Starts a fake OpenAI-compatible server on 127.0.0.1 (`tower_ai::testing`,
//! the one the test suite uses), then sends requests through a `ProviderService`: a complete
//! reply, a streamed reply printed as it arrives, and a tool call with usage.
//! The telemetry layer prints one span per call when it closes, with the
//! OpenTelemetry GenAI attributes it recorded.
//!
//! ```text
//! cargo run --example quickstart --features testing
//! ```
//!
//! To talk to the real OpenAI API instead, set `OPENAI_API_KEY` and run with
//! `-- --live`.

use std::io::{IsTerminal, Write};

use futures_util::StreamExt;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::prelude::HttpProviderBuilder;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::ProviderService;
use tower_ai::testing::{FakeUpstream, Scripted};
use tower_ai::types::{ChatRequest, StreamEvent, Tool};
use tower_ai::{LlmRequest, ServiceBuilderExt};
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Telemetry spans are printed when they close.
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let live = std::env::args().any(|a| a == "--live");
    // Kept alive for the whole run: the server stops when it is dropped.
    let fake = if live {
        None
    } else {
        Some(FakeUpstream::start().await)
    };

    let provider = match &fake {
        // The API key comes from OPENAI_API_KEY.
        None => OpenAi::builder().build()?,
        Some(up) => {
            println!("fake OpenAI-compatible server on {}\n", up.base_url());
            OpenAi::builder()
                .api_key("sk-offline-demo")
                .base_url(format!("{}/v1", up.base_url()))
                .build()?
        }
    };
    // The provider is the bottom of the stack; layers go around it.
    let mut service = ServiceBuilder::new()
        .telemetry()
        .service(ProviderService::new(provider));

    // 1. A complete reply.
    let request = ChatRequest::new("gpt-4o-mini")
        .system("Be brief.")
        .user("Say hello.");
    let reply = service
        .ready()
        .await?
        .call(LlmRequest::new(request.clone()))
        .await?
        .into_complete()
        .await?;
    println!("complete reply: {}", reply.text());
    println!("  usage: {:?}\n", reply.usage);

    // 2. The same request, streamed.
    print!("streamed reply: ");
    let mut stream = service
        .ready()
        .await?
        .call(LlmRequest::stream(request))
        .await?
        .into_stream();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta { text } => {
                print!("{text}");
                std::io::stdout().flush()?;
            }
            StreamEvent::Finish { reason } => println!("\n  finish: {reason:?}"),
            StreamEvent::Usage(usage) => println!("  usage: {usage:?}"),
            _ => {}
        }
    }
    println!();

    // 3. A tool call. The fake server answers with two parallel calls.
    if let Some(up) = &fake {
        up.push(Scripted::openai_tool_calls([
            ("get_weather", serde_json::json!({"city": "Paris"})),
            ("get_weather", serde_json::json!({"city": "Tokyo"})),
        ]));
    }
    let request = ChatRequest::new("gpt-4o-mini")
        .user("What's the weather in Paris and Tokyo?")
        .tool(Tool::function(
            "get_weather",
            "Current weather for a city",
            serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ));
    let reply = service
        .ready()
        .await?
        .call(LlmRequest::new(request))
        .await?
        .into_complete()
        .await?;
    for call in reply.tool_calls() {
        println!("tool call {}: {}({})", call.id, call.name, call.arguments);
    }
    if let Some(usage) = reply.usage {
        println!(
            "  usage: {} input ({} from the prompt cache), {} output, finish: {:?}",
            usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, reply.finish_reason
        );
    }
    Ok(())
}
