//! [`SchemaGuard`]: structured output checked against the schema the
//! request asked for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use super::guard::{Guard, Verdict};
use crate::types::{ChatRequest, ChatResponse, FindingAction, FindingLocation, GuardFinding, ResponseFormat};

/// The guard name a [`SchemaGuard`] has.
pub const SCHEMA_GUARD: &str = "json_schema";

/// How many compiled schemas a [`SchemaGuard`] keeps.
const COMPILED: usize = 256;

/// A guard that checks a reply against the structured output its request
/// asked for: with [`ResponseFormat::JsonSchema`], the reply's text must be
/// JSON that validates against the schema (JSON Schema, by the
/// [`jsonschema`] crate; the draft is the one the schema names, else 2020-12);
/// with [`ResponseFormat::JsonObject`], a JSON object. Other replies pass.
///
/// A reply that fails is refused with
/// [`Error::Blocked`](crate::Error::Blocked) (on a stream, in place of its
/// clean end, after its text went out), naming where in the document it
/// failed and which keyword, never the values. A reply that ends in tool
/// calls with no text is not checked (the answer is still to come).
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_ai::guardrail::{GuardrailLayer, SchemaGuard};
/// use tower_ai::provider::{mock::MockProvider, ProviderService};
/// use tower_ai::types::{ChatRequest, ResponseFormat};
/// use tower_ai::{Error, LlmRequest};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let schema = serde_json::json!({
///     "type": "object",
///     "properties": {"age": {"type": "integer"}},
///     "required": ["age"]
/// });
/// let service = ServiceBuilder::new()
///     .layer(GuardrailLayer::new().guard(SchemaGuard::new()))
///     .service(ProviderService::new(MockProvider::new().with_text_reply(r#"{"age": "ten"}"#)));
/// let request = ChatRequest::new("m")
///     .user("How old?")
///     .response_format(ResponseFormat::json_schema("age", schema));
///
/// let refused = service.oneshot(LlmRequest::new(request)).await.unwrap_err();
/// assert_eq!(
///     refused.to_string(),
///     "blocked by the json_schema guard: the reply does not follow the requested schema: at /age, `type` failed"
/// );
/// # }
/// ```
#[derive(Debug, Default)]
pub struct SchemaGuard {
    compiled: Mutex<HashMap<String, Arc<Result<jsonschema::Validator, String>>>>,
}

impl SchemaGuard {
    /// A guard with no schema compiled yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn validator(&self, schema: &Value) -> Arc<Result<jsonschema::Validator, String>> {
        let key = schema.to_string();
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(validator) = compiled.get(&key) {
            return validator.clone();
        }
        let validator = Arc::new(jsonschema::validator_for(schema).map_err(|error| {
            format!(
                "the requested schema is not a valid JSON Schema (at {}, `{}`)",
                location(&error.schema_path().to_string()),
                error.kind().keyword()
            )
        }));
        if compiled.len() >= COMPILED {
            compiled.clear();
        }
        compiled.insert(key, validator.clone());
        validator
    }
}

fn location(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the top"
    } else {
        pointer
    }
}

fn refuse(reason: String) -> Verdict {
    Verdict::Block {
        reason,
        findings: vec![GuardFinding::new(
            "schema",
            FindingLocation::ReplyAsAWhole,
            0..0,
            FindingAction::Blocked,
        )],
    }
}

#[async_trait]
impl Guard for SchemaGuard {
    fn name(&self) -> &str {
        SCHEMA_GUARD
    }

    fn checks_reply(&self, chat: &ChatRequest) -> bool {
        matches!(
            chat.response_format,
            Some(ResponseFormat::JsonSchema { .. } | ResponseFormat::JsonObject)
        )
    }

    fn check_reply(&self, chat: &ChatRequest, reply: &ChatResponse) -> Verdict {
        let text = reply.text();
        if text.trim().is_empty() && reply.tool_calls().next().is_some() {
            return Verdict::Allow;
        }
        let document: Value = match serde_json::from_str(text.trim()) {
            Ok(document) => document,
            Err(error) => {
                return refuse(format!(
                    "the reply is not valid JSON (line {}, column {})",
                    error.line(),
                    error.column()
                ))
            }
        };
        match &chat.response_format {
            Some(ResponseFormat::JsonObject) if !document.is_object() => {
                refuse("the reply is JSON but not an object".to_owned())
            }
            Some(ResponseFormat::JsonSchema { schema, .. }) => match &*self.validator(schema) {
                Err(reason) => refuse(reason.clone()),
                Ok(validator) => match validator.iter_errors(&document).next() {
                    None => Verdict::Allow,
                    Some(error) => refuse(format!(
                        "the reply does not follow the requested schema: at {}, `{}` failed",
                        location(&error.instance_path().to_string()),
                        error.kind().keyword()
                    )),
                },
            },
            _ => Verdict::Allow,
        }
    }
}
