//! The patterns for credentials, and the high-entropy token scan.
//!
//! Vendor formats, as their documentation and their own secret scanning
//! describe them:
//!
//! | kind | format |
//! |---|---|
//! | `OPENAI_KEY` | `sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-` and 20 or more of `[A-Za-z0-9_-]` |
//! | `ANTHROPIC_KEY` | `sk-ant-`, a kind and version (`api03-`, `admin01-`), 32 or more of `[A-Za-z0-9_-]` |
//! | `AWS_ACCESS_KEY` | `AKIA` (long-term) or `ASIA` (temporary) and 16 of `[A-Z0-9]` |
//! | `AWS_SECRET_KEY` | 40 of `[A-Za-z0-9/+]` within 48 characters after `aws` or `secret` |
//! | `GITHUB_TOKEN` | `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36 or more alphanumerics; `github_pat_` and 50 or more of `[A-Za-z0-9_]` |
//! | `GITLAB_TOKEN` | `glpat-` and 20 or more of `[A-Za-z0-9_-]` |
//! | `SLACK_TOKEN` | `xoxa-`, `xoxb-`, `xoxp-`, `xoxo-`, `xoxs-`, `xoxr-` and 10 or more of `[A-Za-z0-9-]` |
//! | `GOOGLE_API_KEY` | `AIza` and 35 of `[A-Za-z0-9_-]` |
//! | `STRIPE_KEY` | `sk_live_`, `rk_live_`, `sk_test_`, `rk_test_` and 20 or more alphanumerics |
//! | `PRIVATE_KEY` | a PEM block `-----BEGIN ... PRIVATE KEY-----`, its body and its `END` line; to the end of its body when cut short |
//! | `JWT` | three base64url segments (`eyJ...`), the first decoding to a JSON object with `alg` |
//! | `CONNECTION_STRING` | `scheme://user:password@host...` with a password that is not a placeholder |

use super::validate::Check;
use super::{EntityKind, Gate, Spec};

const OPENAI_KEY: &str = r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}";
const ANTHROPIC_KEY: &str = r"sk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_\-]{32,}";
const AWS_ACCESS_KEY: &str = r"(?:AKIA|ASIA)[A-Z0-9]{16}";
const AWS_SECRET_KEY: &str = r"(?i:aws|secret)[^\n]{0,48}?(?P<value>[A-Za-z0-9/+]{40})";
const GITHUB_TOKEN: &str = r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,}";
const GITLAB_TOKEN: &str = r"glpat-[A-Za-z0-9_\-]{20,}";
const SLACK_TOKEN: &str = r"xox[abposr]-[A-Za-z0-9\-]{10,}";
const GOOGLE_API_KEY: &str = r"AIza[A-Za-z0-9_\-]{35}";
const STRIPE_KEY: &str = r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,}";
/// A PEM private key: the `BEGIN` line, then its body, chunk by chunk
/// (base64 lines, or words of 16 characters and more when the block was
/// flattened onto one line; the last, shorter chunk ends in `=`; header
/// lines such as `Proc-Type: 4,ENCRYPTED`, and the blank line after them),
/// and the `END` line when it is there. Written without a lazy "anything up to `END`", which would make
/// every `BEGIN` without an `END` read the rest of the text.
const PRIVATE_KEY: &str = concat!(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    r"(?:(?:[ \t]*(?:\r?\n[ \t]*){1,2}|[ \t]+)",
    r"(?:[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9+/]{1,15}={1,2}|[A-Za-z][A-Za-z\-]*: [^\r\n]*))*",
    r"(?:(?:[ \t]*(?:\r?\n[ \t]*){1,2}|[ \t]+)-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?"
);
const JWT: &str = r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*";
const CONNECTION_STRING: &str =
    r"(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@]+:[^\s@/]+@[^\s/?#'<>]+(?:/[^\s'<>]*)?";

/// The secret patterns, in priority order.
pub(super) static SPECS: &[Spec] = &[
    Spec::new(EntityKind::AnthropicKey, ANTHROPIC_KEY, Check::Token).prefixed(),
    Spec::new(EntityKind::OpenAiKey, OPENAI_KEY, Check::Token).prefixed(),
    Spec::new(EntityKind::AwsAccessKey, AWS_ACCESS_KEY, Check::Word).prefixed(),
    Spec::new(EntityKind::AwsSecretKey, AWS_SECRET_KEY, Check::AwsSecret),
    Spec::new(EntityKind::GithubToken, GITHUB_TOKEN, Check::Token).prefixed(),
    Spec::new(EntityKind::GitlabToken, GITLAB_TOKEN, Check::Token).prefixed(),
    Spec::new(EntityKind::SlackToken, SLACK_TOKEN, Check::Token).prefixed(),
    Spec::new(EntityKind::GoogleApiKey, GOOGLE_API_KEY, Check::Token).prefixed(),
    Spec::new(EntityKind::StripeKey, STRIPE_KEY, Check::Token).prefixed(),
    Spec::new(EntityKind::PrivateKey, PRIVATE_KEY, Check::None).prefixed(),
    Spec::new(EntityKind::Jwt, JWT, Check::Jwt).prefixed(),
    Spec::new(
        EntityKind::ConnectionString,
        CONNECTION_STRING,
        Check::ConnectionString,
    )
    .gated(Gate::Byte(b':')),
];

/// The high-entropy scan's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entropy {
    pub(super) min_len: usize,
    pub(super) bits_per_char: f64,
}

/// Bytes a token is made of: base64 and base64url letters.
static TOKEN_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-');
        b += 1;
    }
    table
};

/// Whether `b` is a byte of a token the high-entropy scan reads (its `=`
/// padding aside).
pub(crate) fn token_byte(b: u8) -> bool {
    TOKEN_BYTE[usize::from(b)]
}

impl Entropy {
    /// Calls `found` with the byte range of every token of at least
    /// `min_len` bytes whose Shannon entropy per character reaches
    /// `bits_per_char`, that has letters and digits, and is not a UUID.
    /// Tokens are runs of `[A-Za-z0-9+/_-]` with their `=` padding.
    pub(super) fn scan(&self, text: &str, mut found: impl FnMut(usize, usize)) {
        let bytes = text.as_bytes();
        let min_len = self.min_len.max(1);
        // `i` is always where a token could start (the text's start, or just
        // after a byte that is not a token's). A window of `min_len` bytes
        // from it holding a non-token byte rules out every token starting
        // before that byte, so the scan jumps past it: in prose, it reads a
        // few bytes per window rather than all of them.
        let mut i = 0;
        while i + min_len <= bytes.len() {
            if let Some(q) = bytes[i..i + min_len].iter().rposition(|&b| !token_byte(b)) {
                i += q + 1;
                continue;
            }
            let start = i;
            let mut end = i + min_len;
            while end < bytes.len() && token_byte(bytes[end]) {
                end += 1;
            }
            let token_end = end;
            while end < bytes.len() && end - token_end < 2 && bytes[end] == b'=' {
                end += 1;
            }
            i = end;
            // Glued to letters of another script, or a dot-joined name, it
            // is part of something else.
            let glued_before = start > 0 && (bytes[start - 1] >= 0x80 || bytes[start - 1] == b'.');
            let glued_after = end < bytes.len() && bytes[end] >= 0x80;
            if glued_before || glued_after {
                continue;
            }
            let token = &bytes[start..end];
            if !is_uuid(token) && self.high_entropy(token) {
                found(start, end);
            }
        }
    }

    fn high_entropy(&self, token: &[u8]) -> bool {
        let mut counts = [0u32; 128];
        let (mut letters, mut digits) = (false, false);
        for &b in token {
            counts[usize::from(b & 0x7f)] += 1;
            letters |= b.is_ascii_alphabetic();
            digits |= b.is_ascii_digit();
        }
        if !(letters && digits) {
            return false;
        }
        shannon(&counts, token.len()) >= self.bits_per_char
    }
}

/// Shannon entropy, in bits per symbol, of `len` symbols counted in `counts`.
pub(super) fn shannon(counts: &[u32], len: usize) -> f64 {
    let n = len as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(token: &[u8]) -> bool {
    token.len() == 36
        && token.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Vec<&str> {
        let mut found = Vec::new();
        Entropy {
            min_len: 24,
            bits_per_char: 4.0,
        }
        .scan(text, |s, e| found.push(&text[s..e]));
        found
    }

    #[test]
    fn random_tokens_are_found_and_words_are_not() {
        let token = ["Zx8qL2vN", "r4TmW9yB", "k1Hs7PdQ", "u3Jc"].concat();
        assert_eq!(scan(&format!("token {token} here")), [token.as_str()]);
        assert!(scan("internationalization state-of-the-art-transformer-model-2024").is_empty());
        assert!(scan("node_modules/react-dom/cjs/react get_user_by_email_address_v2").is_empty());
        // Hex digests and UUIDs are not secrets by themselves.
        assert!(scan("3f786850e387550fdab836ed7e6dc881de23001b").is_empty());
        assert!(scan("0b8f5c9e-4d2a-4c1b-9e7f-3a6d2c1b0e9f").is_empty());
    }

    #[test]
    fn entropy_of_known_strings() {
        let mut counts = [0u32; 128];
        for b in b"aabb" {
            counts[usize::from(*b)] += 1;
        }
        assert!((shannon(&counts, 4) - 1.0).abs() < 1e-9);
    }
}
