//! One conversation, two vendors: tool calls made by one model continue on the other.

use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::Provider;
use tower_ai::types::{ChatRequest, Message, Tool};

use crate::conformance::{anthropic, openai, Endpoint};
use crate::support::json_fixture;
use tower_ai::testing::FakeUpstream;
use tower_ai::types::RequestMeta;

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather for a city",
        serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn providers(up: &FakeUpstream) -> (OpenAi, Anthropic) {
    (
        openai::provider(Endpoint::upstream(up)),
        anthropic::provider(Endpoint::upstream(up)),
    )
}

#[tokio::test]
async fn openai_tool_calls_continue_on_anthropic() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, "openai/chat_completion_tool_calls.json"));
    let (openai, anthropic) = providers(&up);

    let request = ChatRequest::new("gpt-4o-mini")
        .system("You report the weather.")
        .user("Weather in Paris and Tokyo?")
        .tool(weather_tool());
    let reply = openai.chat(&request.clone(), &RequestMeta::new()).await.unwrap();
    let calls: Vec<_> = reply.tool_calls().cloned().collect();
    assert_eq!(calls.len(), 2);

    let mut next = request.message(reply.message.clone());
    for (call, answer) in calls.iter().zip(["18°C, cloudy", "24°C, sunny"]) {
        next = next.message(Message::tool_result(call.id.clone(), answer));
    }
    next.model = "claude-sonnet-4-5".into();
    let answer = anthropic.chat(&next, &RequestMeta::new()).await.unwrap();
    assert_eq!(answer.text(), "Hello! How can I help you today?");

    let body = up.requests()[1].json();
    assert!(body["system"].to_string().contains("You report the weather."));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        3,
        "user, assistant tool_use, user tool_result: {messages:?}"
    );
    let tool_uses: Vec<_> = messages[1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .collect();
    assert_eq!(tool_uses.len(), 2);
    assert_eq!(tool_uses[0]["id"], calls[0].id.as_str());
    assert_eq!(
        tool_uses[0]["input"]["city"], "Paris",
        "arguments become a JSON object"
    );
    assert_eq!(tool_uses[1]["input"]["city"], "Tokyo");
    assert_eq!(messages[2]["role"], "user");
    let results = messages[2]["content"].as_array().unwrap();
    assert_eq!(results.len(), 2, "both results in one user turn");
    assert_eq!(results[0]["type"], "tool_result");
    assert_eq!(results[0]["tool_use_id"], calls[0].id.as_str());
    assert_eq!(results[1]["tool_use_id"], calls[1].id.as_str());
    assert_eq!(body["tools"][0]["name"], "get_weather");
    assert_eq!(body["tools"][0]["input_schema"]["required"][0], "city");
}

#[tokio::test]
async fn anthropic_tool_use_continues_on_openai() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, "anthropic/message_tool_use.json"));
    let (openai, anthropic) = providers(&up);

    let request = ChatRequest::new("claude-sonnet-4-5")
        .user("Weather in Paris and Tokyo?")
        .tool(weather_tool());
    let reply = anthropic
        .chat(&request.clone(), &RequestMeta::new())
        .await
        .unwrap();
    let calls: Vec<_> = reply.tool_calls().cloned().collect();
    assert_eq!(calls.len(), 2);

    let mut next = request.message(reply.message.clone());
    for call in &calls {
        next = next.message(Message::tool_result(call.id.clone(), "mild"));
    }
    next.model = "gpt-4o-mini".into();
    openai.chat(&next, &RequestMeta::new()).await.unwrap();

    let body = up.requests()[1].json();
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "user, assistant, tool, tool: {messages:?}");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"], "I'll check both cities.");
    let tool_calls = messages[1]["tool_calls"].as_array().unwrap();
    assert_eq!(tool_calls.len(), 2);
    assert_eq!(tool_calls[0]["id"], calls[0].id.as_str());
    assert_eq!(tool_calls[0]["type"], "function");
    // OpenAI carries arguments as a JSON string.
    let args: serde_json::Value =
        serde_json::from_str(tool_calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "Paris");
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], calls[0].id.as_str());
    assert_eq!(messages[3]["tool_call_id"], calls[1].id.as_str());
}

#[tokio::test]
async fn anthropic_thinking_is_left_out_for_openai_and_kept_for_anthropic() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, "anthropic/message_thinking.json"));
    let (openai, anthropic) = providers(&up);
    let request = ChatRequest::new("claude-sonnet-4-5").user("Think, then answer.");
    let reply = anthropic
        .chat(&request.clone(), &RequestMeta::new())
        .await
        .unwrap();
    let signature = reply.reasoning().collect::<Vec<_>>()[0]
        .signature
        .clone()
        .unwrap();
    let next = request.message(reply.message.clone()).user("And now?");

    anthropic.chat(&next.clone(), &RequestMeta::new()).await.unwrap();
    openai.chat(&next, &RequestMeta::new()).await.unwrap();

    let to_anthropic = up.requests()[1].json();
    let thinking = &to_anthropic["messages"][1]["content"][0];
    assert_eq!(thinking["type"], "thinking");
    assert_eq!(thinking["signature"], signature.as_str());

    let to_openai = up.requests()[2].json();
    assert!(!to_openai.to_string().contains(&signature));
    assert_eq!(to_openai["messages"][1]["role"], "assistant");
}
