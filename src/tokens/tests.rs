use super::image::tiles;
use super::*;
use crate::types::{ContentPart, Image, ImageDetail, ImageSource, Role, ToolCall};

#[test]
fn encodings_follow_the_model_families() {
    for model in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-5",
        "o3-mini",
        "openai/gpt-4o",
    ] {
        assert_eq!(Encoding::for_model(model), Some(Encoding::O200kBase), "{model}");
    }
    for model in ["gpt-4", "gpt-4-0613", "gpt-3.5-turbo", "text-embedding-3-small"] {
        assert_eq!(Encoding::for_model(model), Some(Encoding::Cl100kBase), "{model}");
    }
    for model in ["claude-sonnet-4-5", "gemini-2.5-pro", "llama3", "davinci"] {
        assert_eq!(Encoding::for_model(model), None, "{model}");
    }
}

#[test]
fn special_token_spellings_count_as_text() {
    let plain = Encoding::Cl100kBase.count("<|endoftext|>");
    assert!(plain > 1, "{plain}");
}

#[test]
fn tiles_follow_the_published_examples() {
    // OpenAI's examples: 1024 × 1024 is 4 tiles (765 tokens); 2048 × 4096
    // becomes 768 × 1536, 6 tiles (1105 tokens).
    assert_eq!(tiles(1024, 1024), 4);
    assert_eq!(tiles(2048, 4096), 6);
    assert_eq!(tiles(512, 512), 1);
    assert_eq!(tiles(100, 100), 1);
    assert_eq!(tiles(0, 10), 0);
    assert_eq!(tiles(u32::MAX as u64, 1), 4, "a thin strip fits 2048 wide");
}

/// A 1024 × 1024 PNG's header, base64.
fn png_1024() -> String {
    use base64::Engine;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&1024u32.to_be_bytes());
    png.extend_from_slice(&1024u32.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(png)
}

#[test]
fn images_cost_by_detail_and_size() {
    let counter = TokenCounter::new();
    let with = |image: ContentPart| {
        let message = Message::new(Role::User, vec![image]);
        counter.count_message("gpt-4o", &message).tokens
            - counter
                .count_message("gpt-4o", &Message::new(Role::User, vec![]))
                .tokens
    };
    let mut low = ContentPart::image_url("https://example.com/cat.png");
    if let ContentPart::Image(image) = &mut low {
        image.detail = Some(ImageDetail::Low);
    }
    assert_eq!(with(low), 85);
    assert_eq!(
        with(ContentPart::image_base64("image/png", png_1024())),
        85 + 4 * 170
    );
    assert_eq!(
        with(ContentPart::image_url(format!(
            "data:image/png;base64,{}",
            png_1024()
        ))),
        85 + 4 * 170
    );
    // Size unknown: the largest the formula allows.
    assert_eq!(
        with(ContentPart::image_url("https://example.com/cat.png")),
        85 + 8 * 170
    );
    // Bytes that are no image: the largest too.
    assert_eq!(
        with(ContentPart::image_base64("image/png", "bm90IGFuIGltYWdl")),
        85 + 8 * 170
    );
    let mini = Message::new(
        Role::User,
        vec![ContentPart::Image(Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: png_1024(),
            },
            detail: Some(ImageDetail::High),
        })],
    );
    let empty = Message::new(Role::User, vec![]);
    assert_eq!(
        counter.count_message("gpt-4o-mini", &mini).tokens
            - counter.count_message("gpt-4o-mini", &empty).tokens,
        2833 + 4 * 5667
    );
    // A fine-tune is priced as its base model.
    let tuned = "ft:gpt-4o-mini-2024-07-18:acme::abc123";
    assert_eq!(
        counter.count_message(tuned, &mini).tokens - counter.count_message(tuned, &empty).tokens,
        2833 + 4 * 5667
    );
}

#[test]
fn tool_calls_and_results_count_their_text() {
    let counter = TokenCounter::new();
    let call = Message::new(
        Role::Assistant,
        vec![ContentPart::ToolCall(ToolCall::new(
            "call_1",
            "get_weather",
            r#"{"city":"Paris"}"#,
        ))],
    );
    let bare = Message::new(Role::Assistant, vec![]);
    let extra = counter.count_message("gpt-4o", &call).tokens - counter.count_message("gpt-4o", &bare).tokens;
    let expected =
        Encoding::O200kBase.count("get_weather") + Encoding::O200kBase.count(r#"{"city":"Paris"}"#) + 1;
    assert_eq!(extra, expected as u64);

    let result = Message::tool_result("call_1", "18 degrees and sunny");
    let tool = Message::new(Role::Tool, vec![]);
    let extra =
        counter.count_message("gpt-4o", &result).tokens - counter.count_message("gpt-4o", &tool).tokens;
    assert_eq!(extra, Encoding::O200kBase.count("18 degrees and sunny") as u64);
}

#[test]
fn estimates_are_raised_by_a_quarter_and_labelled() {
    let counter = TokenCounter::new();
    let request = ChatRequest::new("claude-sonnet-4-5").user("The quick brown fox jumps over the lazy dog.");
    let exact = counter.count_request(&ChatRequest {
        model: "gpt-4o".into(),
        ..request.clone()
    });
    let estimate = counter.count_request(&request);
    assert_eq!(estimate.accuracy, Accuracy::Estimated);
    assert_eq!(estimate.tokens, exact.tokens + exact.tokens.div_ceil(4));
}

#[test]
fn an_alias_is_counted_as_its_model() {
    let counter = TokenCounter::new()
        .with_alias("fast", "gpt-4o-mini")
        .with_alias("old", "gpt-4");
    assert_eq!(
        counter.encoding_for("fast"),
        (Encoding::O200kBase, Accuracy::Exact)
    );
    assert_eq!(
        counter.encoding_for("old"),
        (Encoding::Cl100kBase, Accuracy::Exact)
    );
    assert_eq!(
        counter.encoding_for("mystery"),
        (Encoding::O200kBase, Accuracy::Estimated)
    );
    // The alias takes its model's image prices too (gpt-4o-mini's).
    let image = Message::new(
        Role::User,
        vec![ContentPart::image_base64("image/png", png_1024())],
    );
    let bare = Message::new(Role::User, vec![]);
    let cost = counter.count_message("fast", &image).tokens - counter.count_message("fast", &bare).tokens;
    assert_eq!(cost, 2833 + 4 * 5667);
}

#[test]
fn the_memo_counts_a_repeated_message_once() {
    let counter = TokenCounter::new();
    let mut request = ChatRequest::new("gpt-4o");
    for turn in 0..20 {
        request = request
            .user(format!("question {turn}"))
            .assistant(format!("answer {turn}"));
    }
    let first = counter.count_request(&request);
    assert_eq!(counter.memo_len(), 40, "one entry per prefix");
    assert_eq!(
        counter.count_request(&request),
        first,
        "a repeated request adds nothing"
    );
    assert_eq!(counter.memo_len(), 40);
    let grown = request.clone().user("one more");
    let second = counter.count_request(&grown);
    assert_eq!(counter.memo_len(), 41, "only the new message was counted");
    assert_eq!(
        second.tokens - first.tokens,
        counter.count_message("gpt-4o", &Message::user("one more")).tokens
    );
    // The memo never changes a figure.
    let fresh = TokenCounter::with_memo_entries(0).count_request(&grown);
    assert_eq!(fresh, second);
    // Same text, other name: another prefix.
    let renamed = ChatRequest::new("gpt-4o").message(Message::user("question 0").with_name("ann"));
    let plain = ChatRequest::new("gpt-4o").user("question 0");
    assert_ne!(counter.count_request(&renamed), counter.count_request(&plain));
    // The same messages for a model of another encoding are counted apart.
    let older = ChatRequest {
        model: "gpt-4".into(),
        ..request.clone()
    };
    assert_eq!(
        counter.count_request(&older),
        TokenCounter::new().count_request(&older)
    );
}
