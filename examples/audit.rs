//! The audit log, offline: a few calls with different outcomes recorded in
//! a hash-chained file with signed checkpoints, the log printed, then one
//! line edited and the verifier catching it.
//!
//! ```text
//! cargo run --example audit
//! ```

use futures_util::StreamExt;
use tower::{ServiceBuilder, ServiceExt};
use tower_ai::audit::{AuditLog, CheckpointSigner, FileSink, SigningKey, Verifier};
use tower_ai::guardrail::detect::Detector;
use tower_ai::guardrail::{GuardrailLayer, PiiGuard};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::ChatRequest;
use tower_ai::{Error, LlmRequest, Principal, Reply};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tower-ai-audit-example-{}", std::process::id()));
    let path = dir.join("audit.jsonl");

    // The application's own key (from its secret store in production).
    let signer = CheckpointSigner::new(SigningKey::from_bytes(&[42; 32]), 3);
    let public_key = signer.verifying_key();
    let log = AuditLog::builder(FileSink::open(&path)?)
        .checkpoints(signer)
        .start()
        .await?;

    let vendor = MockProvider::new().with_text_reply("Done.");
    let guardrail = GuardrailLayer::new().guard(PiiGuard::new(
        Detector::builder()
            .deny_list("CODENAME", ["project-x"])?
            .build()?,
    ));
    let stack = ServiceBuilder::new()
        .layer(log.layer())
        .layer(guardrail)
        .service(ProviderService::new(vendor.clone()));

    let ask = |id: &str, text: &str| {
        let mut request = LlmRequest::new(ChatRequest::new("gpt-4o-mini").user(text));
        request.meta.id = id.to_owned();
        request.meta.principal = Principal::default().tenant("acme").user("ann");
        request
    };

    // Ok, with an address redacted on the way.
    stack
        .clone()
        .oneshot(ask("call-1", "Mail ann@example.com the report."))
        .await?
        .into_complete()
        .await?;
    // Refused by a guard: nothing reaches the vendor, the record says who.
    let refused = stack.clone().oneshot(ask("call-2", "Status of project-x?")).await;
    assert!(matches!(refused, Err(Error::Blocked { .. })));
    // An upstream failure.
    vendor.enqueue(MockReply::error(Error::transport(std::io::Error::other(
        "connection reset",
    ))));
    assert!(stack.clone().oneshot(ask("call-3", "Hello?")).await.is_err());
    // A stream the caller dropped half-way.
    vendor.enqueue(MockReply::text_stream(["Once ", "upon ", "a ", "time"]));
    let mut request = ask("call-4", "Tell me a story.");
    request.mode = tower_ai::types::ReplyMode::Stream;
    let reply = stack.clone().oneshot(request).await?;
    if let Reply::Stream(mut stream) = reply.reply {
        stream.next().await;
    }

    let head = log.shutdown().await?.expect("four records");
    println!("The log ({}):\n", path.display());
    for line in std::fs::read_to_string(&path)?.lines() {
        println!("{line}\n");
    }

    let files = FileSink::files(&path)?;
    let verifier = Verifier::new().trust_key(public_key).expect_head(head);
    println!("Verified as written:\n{}", verifier.verify_files(&files)?);

    // Someone edits the second record to hide the refusal.
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(
        &path,
        text.replacen("\"status\":\"blocked\"", "\"status\":\"ok\"", 1),
    )?;
    let report = verifier.verify_files(&files)?;
    println!("After one line was edited:\n{report}");
    assert!(!report.is_intact());

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
