//! Verifies audit log files: the chain across them, the checkpoints'
//! signatures, and the end against a head kept elsewhere.
//!
//! ```text
//! cargo run --example audit_verify -- [--key BASE64] [--head SEQ:HASH] [--any-start] FILE...
//! ```
//!
//! `--key` trusts a checkpoint signer's public key (standard base64 of its
//! 32 bytes, as checkpoint lines name it; repeatable). `--head` is a head
//! kept outside the log (from a checkpoint or an earlier report): a log
//! that ends before it was truncated. `--any-start` accepts files that
//! start after the log's first line (the later files of a rotated log).
//! Files are given in order, oldest first.
//!
//! Prints the report; exits with 1 when the log was tampered with, 2 on a
//! usage or read error.

use std::process::ExitCode;

use tower_ai::audit::{key_from_base64, Head, Verifier};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("audit_verify: {message}");
            eprintln!("usage: audit_verify [--key BASE64] [--head SEQ:HASH] [--any-start] FILE...");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let mut verifier = Verifier::new();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--key" => {
                let text = args.next().ok_or("--key needs a value")?;
                verifier = verifier.trust_key(key_from_base64(&text)?);
            }
            "--head" => {
                let text = args.next().ok_or("--head needs a value")?;
                verifier = verifier.expect_head(text.parse::<Head>()?);
            }
            "--any-start" => verifier = verifier.from_any_start(),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => files.push(file.to_owned()),
        }
    }
    if files.is_empty() {
        return Err("no file given".to_owned());
    }
    let report = verifier.verify_files(&files).map_err(|e| e.to_string())?;
    print!("{report}");
    Ok(report.is_intact())
}
