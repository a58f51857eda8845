//! Model access policy: which principal may use which models, how many
//! tokens a reply may take, and whether tools and images are allowed.
//!
//! ```
//! use tower_ai::guardrail::policy::{ModelPolicy, PolicyRule};
//! use tower_ai::types::{ChatRequest, Tool};
//! use tower_ai::Principal;
//!
//! let policy = ModelPolicy::new()
//!     // Everyone: no preview models, replies of at most 4,096 tokens.
//!     .rule(PolicyRule::new("everyone")?.deny_models(["*-preview"])?.max_tokens(4096))
//!     // The free tier: small models only, no tools.
//!     .rule(
//!         PolicyRule::new("free-tier")?
//!             .for_teams(["free-*"])?
//!             .allow_models(["gpt-4o-mini", "claude-*-haiku*"])?
//!             .tools(false),
//!     );
//!
//! let free = Principal::new().tenant("acme").team("free-eu");
//! let paid = Principal::new().tenant("acme").team("pro");
//! let ask = |model: &str| ChatRequest::new(model).user("Hi").max_tokens(500);
//!
//! assert!(policy.check(&free, &ask("gpt-4o-mini")).is_ok());
//! assert!(policy.check(&paid, &ask("gpt-4o")).is_ok());
//!
//! let refused = policy.check(&free, &ask("gpt-4o")).unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "blocked by the model_policy guard: rule `free-tier`: model `gpt-4o` is not allowed"
//! );
//! assert!(policy.check(&paid, &ask("o3-preview")).is_err());
//! assert!(policy.check(&paid, &ask("gpt-4o").max_tokens(10_000)).is_err());
//! let with_tool = ask("gpt-4o-mini").tool(Tool::function("f", "", serde_json::json!({})));
//! assert!(policy.check(&free, &with_tool).is_err());
//! # Ok::<(), tower_ai::Error>(())
//! ```
//!
//! Every rule whose principal patterns match the caller applies, in the
//! order they were added, and the request must pass each of them: a rule for
//! one team adds to the rules for everyone, it never loosens them. A rule
//! with no principal pattern applies to everyone. A principal field the
//! caller does not have (no team, say) matches no pattern for it.
//!
//! Patterns are globs (`*` any run of characters, `?` one, `[abc]` a
//! class; `/` is an ordinary character), matched against the whole name,
//! case-sensitively. The model checked is the one the request names, before
//! any router resolves an alias, so a policy over aliases is written with
//! the aliases.
//!
//! A refusal is [`Error::Blocked`] with the guard `model_policy` and a
//! reason that names the rule and what it refused, never the prompt.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::types::{ChatRequest, ContentPart, Principal};

/// The guard name a refusal carries.
pub const GUARD: &str = "model_policy";

/// Rules over who may call which models, and how. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct ModelPolicy {
    rules: Vec<PolicyRule>,
}

impl ModelPolicy {
    /// A policy with no rule: everything is allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `rule`, checked after the rules added before it.
    #[must_use]
    pub fn rule(mut self, rule: PolicyRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[PolicyRule] {
        &self.rules
    }

    /// Whether `principal` may send `chat`.
    ///
    /// # Errors
    ///
    /// [`Error::Blocked`] (guard [`GUARD`]) from the first rule that applies
    /// to `principal` and refuses the request, naming the rule.
    pub fn check(&self, principal: &Principal, chat: &ChatRequest) -> Result<()> {
        self.rules
            .iter()
            .filter(|rule| rule.applies_to(principal))
            .try_for_each(|rule| rule.check(chat))
    }
}

/// One rule of a [`ModelPolicy`]: whom it applies to and what it allows.
#[derive(Debug, Clone)]
pub struct PolicyRule {
    name: String,
    tenants: Option<Patterns>,
    teams: Option<Patterns>,
    users: Option<Patterns>,
    keys: Option<Patterns>,
    allow: Option<Patterns>,
    deny: Option<Patterns>,
    max_tokens: Option<u32>,
    tools: bool,
    images: bool,
}

/// Compiled globs, with their text for `Debug`.
#[derive(Clone)]
struct Patterns {
    set: GlobSet,
    texts: Vec<String>,
}

impl std::fmt::Debug for Patterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.texts).finish()
    }
}

impl Patterns {
    fn new<I, S>(rule: &str, what: &str, patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut builder = GlobSetBuilder::new();
        let mut texts = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let glob = Glob::new(pattern).map_err(|error| {
                Error::config(format!(
                    "model policy rule `{rule}`: {what} pattern `{pattern}` is not a glob: {error}"
                ))
            })?;
            builder.add(glob);
            texts.push(pattern.to_owned());
        }
        if texts.is_empty() {
            return Err(Error::config(format!(
                "model policy rule `{rule}`: no {what} pattern given (a rule without one applies to everyone)"
            )));
        }
        let set = builder.build().map_err(|error| {
            Error::config(format!("model policy rule `{rule}`: {what} patterns: {error}"))
        })?;
        Ok(Self { set, texts })
    }

    fn matches(&self, name: &str) -> bool {
        self.set.is_match(name)
    }
}

impl PolicyRule {
    /// A rule named `name` (the name a refusal gives), applying to everyone
    /// and allowing everything until narrowed.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::config("a model policy rule needs a name"));
        }
        Ok(Self {
            name,
            tenants: None,
            teams: None,
            users: None,
            keys: None,
            allow: None,
            deny: None,
            max_tokens: None,
            tools: true,
            images: true,
        })
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Applies the rule to the tenants matching one of `patterns` only.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a pattern that is not a glob, or for none.
    pub fn for_tenants<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, patterns: I) -> Result<Self> {
        self.tenants = Some(Patterns::new(&self.name, "tenant", patterns)?);
        Ok(self)
    }

    /// Applies the rule to the teams matching one of `patterns` only.
    ///
    /// # Errors
    ///
    /// As [`for_tenants`](Self::for_tenants).
    pub fn for_teams<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, patterns: I) -> Result<Self> {
        self.teams = Some(Patterns::new(&self.name, "team", patterns)?);
        Ok(self)
    }

    /// Applies the rule to the users matching one of `patterns` only.
    ///
    /// # Errors
    ///
    /// As [`for_tenants`](Self::for_tenants).
    pub fn for_users<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, patterns: I) -> Result<Self> {
        self.users = Some(Patterns::new(&self.name, "user", patterns)?);
        Ok(self)
    }

    /// Applies the rule to the API keys (`Principal::key_id`) matching one
    /// of `patterns` only.
    ///
    /// # Errors
    ///
    /// As [`for_tenants`](Self::for_tenants).
    pub fn for_keys<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, patterns: I) -> Result<Self> {
        self.keys = Some(Patterns::new(&self.name, "key", patterns)?);
        Ok(self)
    }

    /// Allows only the models matching one of `patterns`.
    ///
    /// # Errors
    ///
    /// As [`for_tenants`](Self::for_tenants).
    pub fn allow_models<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, patterns: I) -> Result<Self> {
        self.allow = Some(Patterns::new(&self.name, "model", patterns)?);
        Ok(self)
    }

    /// Refuses the models matching one of `patterns`, even allowed ones.
    ///
    /// # Errors
    ///
    /// As [`for_tenants`](Self::for_tenants).
    pub fn deny_models<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, patterns: I) -> Result<Self> {
        self.deny = Some(Patterns::new(&self.name, "model", patterns)?);
        Ok(self)
    }

    /// Refuses a request whose `max_tokens` is above `limit`, or unset (a
    /// vendor's default can be far larger).
    #[must_use]
    pub fn max_tokens(mut self, limit: u32) -> Self {
        self.max_tokens = Some(limit);
        self
    }

    /// Whether requests may offer tools (default: yes).
    #[must_use]
    pub fn tools(mut self, allowed: bool) -> Self {
        self.tools = allowed;
        self
    }

    /// Whether requests may hold images (default: yes).
    #[must_use]
    pub fn images(mut self, allowed: bool) -> Self {
        self.images = allowed;
        self
    }

    /// Whether the rule applies to `principal`: every principal pattern it
    /// has matches the principal's field.
    pub fn applies_to(&self, principal: &Principal) -> bool {
        let matches = |patterns: &Option<Patterns>, value: &Option<String>| match patterns {
            None => true,
            Some(patterns) => value.as_deref().is_some_and(|value| patterns.matches(value)),
        };
        matches(&self.tenants, &principal.tenant)
            && matches(&self.teams, &principal.team)
            && matches(&self.users, &principal.user)
            && matches(&self.keys, &principal.key_id)
    }

    /// Whether the rule allows `chat` (whoever sends it).
    ///
    /// # Errors
    ///
    /// [`Error::Blocked`] naming the rule and what it refused.
    pub fn check(&self, chat: &ChatRequest) -> Result<()> {
        let refuse = |what: String| Err(Error::blocked(GUARD, format!("rule `{}`: {what}", self.name)));
        let model = chat.model.as_str();
        if self.deny.as_ref().is_some_and(|deny| deny.matches(model))
            || self.allow.as_ref().is_some_and(|allow| !allow.matches(model))
        {
            return refuse(format!("model `{model}` is not allowed"));
        }
        if let Some(limit) = self.max_tokens {
            match chat.max_tokens {
                None => return refuse(format!("max_tokens must be set, at most {limit}")),
                Some(asked) if asked > limit => {
                    return refuse(format!("max_tokens {asked} is above {limit}"));
                }
                Some(_) => {}
            }
        }
        if !self.tools && !chat.tools.is_empty() {
            return refuse("tools are not allowed".to_owned());
        }
        let has_image = || {
            chat.messages
                .iter()
                .flat_map(|message| &message.content)
                .any(|part| matches!(part, ContentPart::Image(_)))
        };
        if !self.images && has_image() {
            return refuse("images are not allowed".to_owned());
        }
        Ok(())
    }
}

/// The policy as a guard of a [`GuardrailLayer`](super::GuardrailLayer):
/// it checks the request of the call's principal, and refuses it naming
/// the rule.
#[async_trait::async_trait]
impl super::Guard for ModelPolicy {
    fn name(&self) -> &str {
        GUARD
    }

    async fn check_input(&self, input: &mut super::GuardInput<'_>) -> Result<super::Verdict> {
        let Some(chat) = input.chat() else {
            return Ok(super::Verdict::Allow);
        };
        Ok(match self.check(input.principal(), chat) {
            Ok(()) => super::Verdict::Allow,
            Err(Error::Blocked { reason, .. }) => super::Verdict::Block {
                reason,
                findings: vec![super::layer::whole_request(
                    "model_policy",
                    crate::types::FindingAction::Blocked,
                )],
            },
            Err(other) => return Err(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    fn reason(result: Result<()>) -> String {
        match result {
            Err(Error::Blocked { guard, reason }) => {
                assert_eq!(guard, GUARD);
                reason
            }
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn models_are_allowed_and_denied_by_glob() {
        let rule = PolicyRule::new("r")
            .unwrap()
            .allow_models(["gpt-4o*", "openai/*", "claude-?-haiku"])
            .unwrap()
            .deny_models(["*-audio-*"])
            .unwrap();
        for allowed in ["gpt-4o", "gpt-4o-mini", "openai/o3", "claude-3-haiku"] {
            assert!(rule.check(&ChatRequest::new(allowed)).is_ok(), "{allowed}");
        }
        for refused in [
            "gpt-4",
            "GPT-4o",
            "claude-35-haiku",
            "gpt-4o-audio-preview",
            "x/openai/o3",
        ] {
            assert_eq!(
                reason(rule.check(&ChatRequest::new(refused))),
                format!("rule `r`: model `{refused}` is not allowed")
            );
        }
    }

    #[test]
    fn a_rule_applies_only_where_every_principal_pattern_matches() {
        let rule = PolicyRule::new("eu-free")
            .unwrap()
            .for_tenants(["acme"])
            .unwrap()
            .for_teams(["free-*"])
            .unwrap();
        let who = |tenant: Option<&str>, team: Option<&str>| Principal {
            tenant: tenant.map(str::to_owned),
            team: team.map(str::to_owned),
            ..Principal::default()
        };
        assert!(rule.applies_to(&who(Some("acme"), Some("free-eu"))));
        assert!(!rule.applies_to(&who(Some("acme"), Some("pro"))));
        assert!(!rule.applies_to(&who(Some("globex"), Some("free-eu"))));
        // A field the caller lacks matches no pattern.
        assert!(!rule.applies_to(&who(Some("acme"), None)));
        assert!(!rule.applies_to(&Principal::default()));
        // Without principal patterns, everyone.
        assert!(PolicyRule::new("all").unwrap().applies_to(&Principal::default()));
        let keyed = PolicyRule::new("k").unwrap().for_keys(["k-*"]).unwrap();
        assert!(keyed.applies_to(&Principal::new().key_id("k-1")));
        let user = PolicyRule::new("u").unwrap().for_users(["ana"]).unwrap();
        assert!(user.applies_to(&Principal::new().user("ana")));
        assert!(!user.applies_to(&Principal::new().user("bo")));
    }

    #[test]
    fn every_applying_rule_must_pass_and_none_loosens_another() {
        let policy = ModelPolicy::new()
            .rule(PolicyRule::new("all").unwrap().deny_models(["o1*"]).unwrap())
            .rule(
                PolicyRule::new("acme")
                    .unwrap()
                    .for_tenants(["acme"])
                    .unwrap()
                    .allow_models(["o1", "gpt-4o"])
                    .unwrap(),
            );
        let acme = Principal::new().tenant("acme");
        // Allowed by acme's rule, denied by everyone's: refused, by the first.
        assert_eq!(
            reason(policy.check(&acme, &ChatRequest::new("o1"))),
            "rule `all`: model `o1` is not allowed"
        );
        assert!(policy.check(&acme, &ChatRequest::new("gpt-4o")).is_ok());
        assert_eq!(
            reason(policy.check(&acme, &ChatRequest::new("gpt-4"))),
            "rule `acme`: model `gpt-4` is not allowed"
        );
        assert!(policy
            .check(&Principal::new().tenant("globex"), &ChatRequest::new("gpt-4"))
            .is_ok());
        assert!(ModelPolicy::new()
            .check(&acme, &ChatRequest::new("anything"))
            .is_ok());
        assert_eq!(policy.rules().len(), 2);
    }

    #[test]
    fn token_limits_tools_and_images() {
        let rule = PolicyRule::new("r")
            .unwrap()
            .max_tokens(1000)
            .tools(false)
            .images(false);
        let ok = ChatRequest::new("m").user("hi").max_tokens(1000);
        assert!(rule.check(&ok).is_ok());
        assert_eq!(
            reason(rule.check(&ok.clone().max_tokens(1001))),
            "rule `r`: max_tokens 1001 is above 1000"
        );
        assert_eq!(
            reason(rule.check(&ChatRequest::new("m").user("hi"))),
            "rule `r`: max_tokens must be set, at most 1000"
        );
        let tool = crate::types::Tool::function("f", "", serde_json::json!({"type": "object"}));
        assert_eq!(
            reason(rule.check(&ok.clone().tool(tool))),
            "rule `r`: tools are not allowed"
        );
        let image = ok.message(Message::new(
            crate::types::Role::User,
            vec![
                ContentPart::text("look"),
                ContentPart::image_url("https://example.com/a.png"),
            ],
        ));
        assert_eq!(reason(rule.check(&image)), "rule `r`: images are not allowed");
        assert!(PolicyRule::new("open").unwrap().check(&image).is_ok());
    }

    #[test]
    fn bad_rules_are_config_errors() {
        for error in [
            PolicyRule::new(" ").map(|_| ()),
            PolicyRule::new("r")
                .and_then(|r| r.allow_models(["gpt-[4"]))
                .map(|_| ()),
            PolicyRule::new("r")
                .and_then(|r| r.for_tenants(Vec::<String>::new()))
                .map(|_| ()),
        ] {
            assert!(matches!(error, Err(Error::Config { .. })), "{error:?}");
        }
        let message = PolicyRule::new("r")
            .and_then(|r| r.allow_models(["gpt-[4"]))
            .unwrap_err();
        assert!(message.to_string().contains("`gpt-[4`"), "{message}");
    }
}
