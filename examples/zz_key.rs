use std::time::Instant;
use tower_ai::types::ChatRequest;
fn main() {
    let mut long = ChatRequest::new("gpt-4o").system("You answer in one sentence.");
    for turn in 0..9 {
        long = long
            .user(format!("Question {turn}: how do tides work on day {turn}?"))
            .assistant(format!("Answer {turn}: the moon and the sun pull the sea."));
    }
    let long = long.user("And spring tides?").max_tokens(200);
    println!("json {}", serde_json::to_vec(&long).unwrap().len());
    let n = 300_000;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(std::hint::black_box(&long).canonical_key().scoped("acme"));
        }
        println!("key {:?}", t.elapsed() / n);
    }
}
