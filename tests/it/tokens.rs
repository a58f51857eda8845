//! Token counts against the figures OpenAI's API reported for the same
//! prompts (`fixtures/tokens/SOURCES.md`).

use serde_json::Value;
use tower_ai::tokens::{Accuracy, TokenCounter};
use tower_ai::types::{ChatRequest, Message, Role, Tool};

use crate::support::fixture_bytes;

fn cookbook() -> Value {
    serde_json::from_slice(&fixture_bytes("tokens/cookbook.json")).unwrap()
}

/// The fixture's messages and tools, as a request for `model`.
fn request(model: &str, case: &Value) -> ChatRequest {
    let mut request = ChatRequest::new(model);
    for m in case["messages"].as_array().unwrap() {
        let role: Role = serde_json::from_value(m["role"].clone()).unwrap();
        let mut message = match role {
            Role::System => Message::system(m["content"].as_str().unwrap()),
            Role::User => Message::user(m["content"].as_str().unwrap()),
            other => panic!("no {other:?} in the fixture"),
        };
        if let Some(name) = m["name"].as_str() {
            message = message.with_name(name);
        }
        request = request.message(message);
    }
    for t in case["tools"].as_array().into_iter().flatten() {
        let f = &t["function"];
        request = request.tool(Tool::function(
            f["name"].as_str().unwrap(),
            f["description"].as_str().unwrap(),
            f["parameters"].clone(),
        ));
    }
    request
}

#[test]
fn text_chats_match_the_apis_figures_exactly() {
    let fixture = cookbook();
    let case = &fixture["text"];
    let counter = TokenCounter::new();
    for (model, reported) in case["reported_prompt_tokens"].as_object().unwrap() {
        let count = counter.count_request(&request(model, case));
        assert_eq!(count.accuracy, Accuracy::Exact, "{model}");
        assert_eq!(count.tokens, reported.as_u64().unwrap(), "{model}");
    }
}

#[test]
fn tool_definitions_match_the_apis_figures() {
    let fixture = cookbook();
    let case = &fixture["tools"];
    let counter = TokenCounter::new();
    for (model, reported) in case["reported_prompt_tokens"].as_object().unwrap() {
        let count = counter.count_request(&request(model, case));
        assert_eq!(count.tokens, reported.as_u64().unwrap(), "{model}");
    }
}
