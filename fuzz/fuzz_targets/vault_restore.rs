//! Reversible redaction (`Vault`, `Restorer`): the input is cut points (see
//! `take_cuts`), then, read as UTF-8 (invalid bytes replaced) and split at
//! NUL, a reply's text and the values to put in a vault (each of a kind in
//! turn). `Vault::restore` equals a plain replacement of the placeholders,
//! and the streamed restoration (the text pushed to a `Restorer` piece by
//! piece, then `finish`) equals `Vault::restore` of the whole text, for any
//! cut points; the same for the vault's JSON-escaped copy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ai::guardrail::detect::EntityKind;
use tower_ai::guardrail::vault::{Restorer, Vault};
use tower_ai_fuzz::{split_text, take_cuts};

/// The kinds the values get, in turn: names with digits and `_`, so that
/// a kind's name can look like a count.
fn kinds() -> [EntityKind; 4] {
    [
        EntityKind::Email,
        EntityKind::Custom("NOTE_2".into()),
        EntityKind::OpenAiKey,
        EntityKind::DenyListed("X".into()),
    ]
}

/// `text` with each placeholder replaced by its original, scanning left to
/// right (a placeholder ends at its only `>`, so none starts another).
fn reference(text: &str, placeholders: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        for (placeholder, original) in placeholders {
            if let Some(after) = rest.strip_prefix(placeholder.as_str()) {
                out.push_str(original);
                rest = after;
                continue 'scan;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The text pushed to a restorer piece by piece, then finished.
fn streamed(vault: &Vault, pieces: &[&str]) -> String {
    let mut restorer = Restorer::new();
    let mut out = String::new();
    for piece in pieces {
        out.push_str(&restorer.push(vault, piece));
    }
    out.push_str(&restorer.finish());
    assert_eq!(restorer.finish(), "", "held after finish");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((cuts, rest)) = take_cuts(data, 32) else {
        return;
    };
    let rest = String::from_utf8_lossy(rest);
    let mut fields = rest.split('\0');
    let text = fields.next().unwrap_or_default();
    let kinds = kinds();
    let mut vault = Vault::new();
    // Always two, so that a text alone has placeholders to find.
    let fixed = ["ana@example.com", "sk-proj-abc"];
    let values = fixed.into_iter().chain(fields.take(30));
    let mut placeholders: Vec<(String, String)> = Vec::new();
    for (i, value) in values.enumerate() {
        let kind = &kinds[if i < 2 { i * 2 } else { i % kinds.len() }];
        let placeholder = vault.placeholder(kind, value);
        let name = kind.as_str();
        assert!(
            placeholder.starts_with(&format!("<{name}_")) && placeholder.ends_with('>'),
            "{placeholder}"
        );
        assert_eq!(vault.original(&placeholder), Some(value));
        assert_eq!(
            vault.placeholder(kind, value),
            placeholder,
            "not the same placeholder again"
        );
        if !placeholders.iter().any(|(p, _)| *p == placeholder) {
            placeholders.push((placeholder, value.to_owned()));
        }
    }
    assert_eq!(vault.len(), placeholders.len());
    assert_eq!(
        vault.longest_placeholder(),
        placeholders.iter().map(|(p, _)| p.len()).max().unwrap_or(0)
    );

    let pieces = split_text(text, cuts);
    let whole = vault.restore(text);
    assert_eq!(
        whole,
        reference(text, &placeholders),
        "restore differs from the reference"
    );
    assert_eq!(streamed(&vault, &pieces), whole, "cut into {pieces:?}");

    let escaped = vault.json_escaped();
    let escaped_placeholders: Vec<(String, String)> = placeholders
        .iter()
        .map(|(p, _)| {
            (
                p.clone(),
                escaped.original(p).expect("the same placeholders").to_owned(),
            )
        })
        .collect();
    let whole = escaped.restore(text);
    assert_eq!(
        whole,
        reference(text, &escaped_placeholders),
        "escaped restore differs from the reference"
    );
    assert_eq!(streamed(&escaped, &pieces), whole, "escaped, cut into {pieces:?}");
});
