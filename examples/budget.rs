//! A user limit and a team limit over an offline provider: calls go through
//! until one would pass a limit, which refuses it with `BudgetExceeded`
//! before any upstream call; then a spend report.
//!
//! ```text
//! cargo run --example budget
//! ```

use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::budget::{BudgetLayer, Limit, Metric, Period, Scope};
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::store::MemoryCounterStore;
use tower_ai::types::ChatRequest;
use tower_ai::{Error, LlmRequest, Principal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let user_tokens = Limit::new(Scope::User, Metric::TotalTokens, Period::Day, 600);
    let team_requests = Limit::new(Scope::Team, Metric::Requests, Period::Hour, 5);
    let budget =
        BudgetLayer::new(MemoryCounterStore::new()).limits([user_tokens.clone(), team_requests.clone()]);
    let mut service = ServiceBuilder::new()
        .layer(budget.clone())
        .service(ProviderService::new(MockProvider::new().with_text_reply(
            "Two high tides a day, because the earth turns under two bulges.",
        )));

    // Ann's third question asks for up to 1,000 tokens: more than her 600 a
    // day could cover, so it is refused before any call. Bob's third is the
    // team's sixth call this hour.
    let calls = [
        ("ann", 1, 150),
        ("ann", 2, 150),
        ("bob", 1, 150),
        ("ann", 3, 1_000),
        ("bob", 2, 150),
        ("bob", 3, 150),
        ("bob", 4, 150),
    ];
    for (user, turn, max_tokens) in calls {
        let request = LlmRequest::new(
            ChatRequest::new("gpt-4o-mini")
                .user(format!("Question {turn}: why are there two tides a day?"))
                .max_tokens(max_tokens),
        )
        .with_principal(Principal::new().team("blue").user(user));
        match service.ready().await?.call(request).await {
            Ok(response) => {
                let reply = response.into_complete().await?;
                println!("{user} #{turn}: {}", reply.text());
            }
            Err(error @ Error::BudgetExceeded { .. }) => println!("{user} #{turn}: refused: {error}"),
            Err(error) => return Err(error),
        }
    }

    budget.settled().await;
    println!();
    for (limit, value) in [
        (&user_tokens, "ann"),
        (&user_tokens, "bob"),
        (&team_requests, "blue"),
    ] {
        let spend = budget.spend(limit, value).await?;
        println!(
            "{value}: {} spent of {limit}, {} left, resets in {:?}",
            spend.value.spent,
            spend.remaining(),
            spend.value.reset_after.unwrap_or_default()
        );
    }
    Ok(())
}
