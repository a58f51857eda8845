use tower::{Layer, ServiceExt};
use tower_ai::cache::CacheLayer;
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::store::MemoryCacheStore;
use tower_ai::types::ChatRequest;
use tower_ai::{LlmRequest, Principal};
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let mode = std::env::args().nth(2).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut long = ChatRequest::new("gpt-4o").system("You answer in one sentence.");
    for turn in 0..9 {
        long = long
            .user(format!("Question {turn}: how do tides work on day {turn}?"))
            .assistant(format!("Answer {turn}: the moon and the sun pull the sea."));
    }
    let long = long.user("And spring tides?").max_tokens(200);
    let provider = ProviderService::new(MockProvider::new().with_text_reply("The moon pulls the sea."));
    let cached = CacheLayer::new(MemoryCacheStore::new()).layer(provider.clone());
    let missing = CacheLayer::new(MemoryCacheStore::with_max_bytes(0)).layer(provider.clone());
    let req = || LlmRequest::new(long.clone()).with_principal(Principal::new().tenant("acme"));
    runtime.block_on(async {
        cached
            .clone()
            .oneshot(req())
            .await
            .unwrap()
            .into_complete()
            .await
            .unwrap();
        for _ in 0..n {
            let r = req();
            let reply = match mode.as_str() {
                "bare" => provider.clone().oneshot(r).await.unwrap(),
                "miss" => missing.clone().oneshot(r).await.unwrap(),
                "key" => {
                    std::hint::black_box(r.chat().unwrap().canonical_key().scoped("acme"));
                    continue;
                }
                "build" => {
                    std::hint::black_box(r);
                    continue;
                }
                _ => cached.clone().oneshot(r).await.unwrap(),
            };
            std::hint::black_box(reply.into_complete().await.unwrap());
        }
    });
}
