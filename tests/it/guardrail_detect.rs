//! The personal-data and secret detectors: each kind found where it is and
//! not where it only looks like it, byte ranges right on multibyte text,
//! overlaps settled, and no input that makes `find` panic.
//!
//! Secrets in these tests are fake, built by concatenation so that no
//! scanner mistakes this file for a leak.

use std::sync::LazyLock;

use proptest::prelude::*;
use tower_ai::guardrail::detect::{Confidence, Detector, EntityKind, Finding};

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| Detector::builder().build().unwrap());

/// What the default detector finds: each finding's name and text.
fn found(text: &str) -> Vec<(String, &str)> {
    DETECTOR
        .find(text)
        .into_iter()
        .map(|f| (f.kind.as_str().to_owned(), f.text(text)))
        .collect()
}

/// The texts of the findings of `kind`.
fn of(kind: &str, text: &str) -> Vec<String> {
    found(text)
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, t)| t.to_owned())
        .collect()
}

#[track_caller]
fn finds(kind: &str, text: &str, expected: &str) {
    assert_eq!(
        of(kind, text),
        [expected],
        "{kind} in {text:?}: {:?}",
        found(text)
    );
}

#[track_caller]
fn misses(kind: &str, text: &str) {
    assert!(of(kind, text).is_empty(), "{kind} in {text:?}: {:?}", found(text));
}

#[test]
fn emails() {
    finds(
        "EMAIL",
        "write to ana.lopez+news@mail.example.com today",
        "ana.lopez+news@mail.example.com",
    );
    finds(
        "EMAIL",
        "адрес: пользователь@пример.рф.",
        "пользователь@пример.рф",
    );
    finds("EMAIL", "(bob@xn--mller-kva.de)", "bob@xn--mller-kva.de");
    misses("EMAIL", "ssh root@localhost");
    misses("EMAIL", "a..b@example.com is not valid");
    misses("EMAIL", "user@host.123");
    misses("EMAIL", "decorators like @example.com and foo@bar");
}

#[test]
fn phone_numbers() {
    finds("PHONE", "call +1 (555) 234-5678 now", "+1 (555) 234-5678");
    finds("PHONE", "tel. +44 20 7946 0958.", "+44 20 7946 0958");
    finds("PHONE", "office: (555) 234-5678", "(555) 234-5678");
    finds("PHONE", "office: 555.234.5678", "555.234.5678");
    finds("PHONE", "toll-free 1-800-555-0199.", "1-800-555-0199");
    finds("PHONE", "Festnetz 030 1234 5678", "030 1234 5678");
    finds("PHONE", "portable 06 12 34 56 78", "06 12 34 56 78");
    finds("PHONE", "Tel 0171/2345678", "0171/2345678");
    // A number followed by unrelated figures is cut where they start.
    finds("PHONE", "+1 555 234 5678 - 2 lines", "+1 555 234 5678");
    misses("PHONE", "order 5552345678 shipped");
    misses("PHONE", "on 01-12-2024 at 10:30");
    misses("PHONE", "+12 is not a number");
    misses("PHONE", "version 1.2.3 and 2024");
    misses("PHONE", "at 2024-03-12T10:30:00Z, $1,234,567.89");
}

#[test]
fn phone_extensions_are_part_of_the_number() {
    finds("PHONE", "call 555-234-5678x123 today", "555-234-5678x123");
    finds("PHONE", "office (270)676-5365x721.", "(270)676-5365x721");
    finds("PHONE", "desk +1-245-333-7829x600", "+1-245-333-7829x600");
    finds(
        "PHONE",
        "desk 555.234.5678 ext. 42, ask for Ann",
        "555.234.5678 ext. 42",
    );
    // Letters after the `x` are no extension.
    misses("PHONE", "ref 555-234-5678xyz");
}

#[test]
fn phone_numbers_after_the_00_call_prefix() {
    finds("PHONE", "Ruf an: 0049 30 1234567.", "0049 30 1234567");
    finds("PHONE", "from abroad 001-231-836-1641", "001-231-836-1641");
    finds("PHONE", "London 0044 20 7946 0958", "0044 20 7946 0958");
    // One run of digits after `00` is an id as often as a number.
    misses("PHONE", "batch 00493012345678 done");
}

#[test]
fn national_phone_numbers_with_the_area_code_in_parentheses() {
    finds("PHONE", "ring (0161) 496 0473 today", "(0161) 496 0473");
    finds("PHONE", "Büro (06302) 41960", "(06302) 41960");
    finds("PHONE", "tel (017)-2253683.", "(017)-2253683");
    misses("PHONE", "see (01) 12");
}

#[test]
fn phone_numbers_in_one_run_next_to_a_word_that_names_them() {
    finds("PHONE", "please call me at 5552345678", "5552345678");
    finds("PHONE", "Mobile: 0612345678", "0612345678");
    finds("PHONE", "Phone:\n0612345678\n", "0612345678");
    finds("PHONE", "0437971277 mobile", "0437971277");
    finds("PHONE", "042537780-Fax", "042537780");
    finds("PHONE", "Tel.: 0612345678", "0612345678");
    // Without the word, or with the word too far, a run of digits is not one.
    misses("PHONE", "order 5552345678 shipped");
    misses("PHONE", "phone order reference number ABC 5552345678");
    misses("PHONE", "call 1111111111");
    misses("PHONE", "call 123 times");
}

#[test]
fn payment_cards() {
    finds("CARD", "card 4111 1111 1111 1111 please", "4111 1111 1111 1111");
    finds("CARD", "amex 3782-822463-10005", "3782-822463-10005");
    finds("CARD", "mc:5555555555554444.", "5555555555554444");
    // The expiry after the number is not part of it.
    finds("CARD", "4111 1111 1111 1111 12 26", "4111 1111 1111 1111");
    misses("CARD", "card 4111 1111 1111 1112");
    misses("CARD", "4111 1111-1111 1111");
    misses("CARD", "id 411111111111");
    misses("CARD", "0000 0000 0000 0000");
}

#[test]
fn card_prefixes_are_required_on_request() {
    // Luhn-valid, but no network issues numbers starting with 9.
    let text = "ref 9111 1111 1111 1110";
    assert_eq!(of("CARD", text), ["9111 1111 1111 1110"]);
    let strict = Detector::builder().require_card_prefix(true).build().unwrap();
    assert!(strict.find(text).iter().all(|f| f.kind != EntityKind::Card));
}

#[test]
fn ibans() {
    finds(
        "IBAN",
        "IBAN DE89 3704 0044 0532 0130 00, thanks",
        "DE89 3704 0044 0532 0130 00",
    );
    finds("IBAN", "to GB82WEST12345698765432.", "GB82WEST12345698765432");
    finds(
        "IBAN",
        "FR14 2004 1010 0505 0001 3M02 606",
        "FR14 2004 1010 0505 0001 3M02 606",
    );
    // Belgium's 16 characters, followed by a word the pattern also takes.
    finds("IBAN", "BE68 5390 0754 7034 BANK", "BE68 5390 0754 7034");
    misses("IBAN", "DE89 3704 0044 0532 0130 01");
    misses("IBAN", "XX89 3704 0044 0532 0130 00");
    misses("IBAN", "DE89 3704 0044 0532 0130");
}

#[test]
fn us_social_security_numbers() {
    finds("SSN", "SSN 123-45-6789.", "123-45-6789");
    finds("SSN", "ssn 123 45 6789", "123 45 6789");
    for never_issued in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        misses("SSN", &format!("ssn {never_issued}"));
    }
    misses("SSN", "123-45 6789");
}

#[test]
fn ip_addresses() {
    finds("IP_ADDRESS", "from 192.168.1.10:8080", "192.168.1.10");
    finds(
        "IP_ADDRESS",
        "addr 2001:db8::8a2e:370:7334 ok",
        "2001:db8::8a2e:370:7334",
    );
    finds(
        "IP_ADDRESS",
        "link fe80::1ff:fe23:4567:890a%eth0,",
        "fe80::1ff:fe23:4567:890a%eth0",
    );
    finds("IP_ADDRESS", "mapped ::ffff:192.0.2.1", "::ffff:192.0.2.1");
    misses("IP_ADDRESS", "256.1.1.1");
    misses("IP_ADDRESS", "oid 1.2.3.4.5");
    misses("IP_ADDRESS", "at 12:30:45");
    misses("IP_ADDRESS", "std::vector<int>");
    misses("IP_ADDRESS", "mac 00:1A:2B:3C:4D:5E");
}

#[test]
fn dates_of_birth_need_context() {
    finds("DATE_OF_BIRTH", "I was born on 12/03/1985 in Lyon", "12/03/1985");
    finds("DATE_OF_BIRTH", "DOB: 1985-03-12", "1985-03-12");
    finds("DATE_OF_BIRTH", "Date of birth: March 3, 1985", "March 3, 1985");
    finds("DATE_OF_BIRTH", "geboren am 3. März 1985", "3. März 1985");
    finds("DATE_OF_BIRTH", "née le 12 mars 1985 à Paris", "12 mars 1985");
    misses("DATE_OF_BIRTH", "the meeting on 12/03/2025");
    misses("DATE_OF_BIRTH", "born on 13/13/1985");
    misses("DATE_OF_BIRTH", "reborn on 12/03/1985");
}

fn openai_key() -> String {
    ["sk-", "proj-", "FAKEfakeFAKEfake", "0123456789abcdefghij"].concat()
}

fn jwt() -> String {
    // {"alg":"HS256","typ":"JWT"} . {"sub":"1234567890"} . a fake signature
    [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        ".",
        "c2lnbmF0dXJlLWZha2UtZmFrZS1mYWtl",
    ]
    .concat()
}

#[test]
fn vendor_keys() {
    let cases = [
        ("OPENAI_KEY", openai_key()),
        (
            "OPENAI_KEY",
            ["sk-", "FAKEfakeFAKEfake0123456789FAKEfake012345678901"].concat(),
        ),
        (
            "ANTHROPIC_KEY",
            ["sk-", "ant-", "api03-", &"FAKE0fake1".repeat(5)].concat(),
        ),
        ("AWS_ACCESS_KEY", ["AK", "IA", "FAKEEXAMPLE01234"].concat()),
        ("AWS_ACCESS_KEY", ["AS", "IA", "FAKEEXAMPLE01234"].concat()),
        (
            "GITHUB_TOKEN",
            ["gh", "p_", "FAKE", "0123456789abcdefghijklmnopqrstuv"].concat(),
        ),
        (
            "GITHUB_TOKEN",
            ["gh", "s_", "FAKE", "0123456789abcdefghijklmnopqrstuv"].concat(),
        ),
        (
            "GITHUB_TOKEN",
            ["github", "_pat_", "11FAKE0000", "_", &"fakeFAKE01".repeat(5)].concat(),
        ),
        ("GITLAB_TOKEN", ["gl", "pat-", "FAKEfake0123456789ab"].concat()),
        (
            "SLACK_TOKEN",
            ["xo", "xb-", "1234567890-", "FAKEfakeFAKE"].concat(),
        ),
        (
            "GOOGLE_API_KEY",
            ["AI", "za", "SyFAKE", "fake0123456789FAKEfake0123456"].concat(),
        ),
        (
            "STRIPE_KEY",
            ["sk", "_live_", "FAKEfake0123456789abcdEF"].concat(),
        ),
        (
            "STRIPE_KEY",
            ["rk", "_live_", "FAKEfake0123456789abcdEF"].concat(),
        ),
    ];
    for (kind, key) in cases {
        finds(kind, &format!("key = \"{key}\" in the config"), &key);
        // Glued to more token characters, it is something else.
        misses(kind, &format!("x{key}"));
    }
    misses("OPENAI_KEY", "task-force and sk-short");
}

#[test]
fn aws_secret_keys_need_context() {
    let secret = ["wJalrXUtnFEMI", "/K7MDENG/bPxRfi", "CYFAKEKEY012"].concat();
    assert_eq!(secret.len(), 40);
    finds(
        "AWS_SECRET_KEY",
        &format!("aws_secret_access_key = {secret}\n"),
        &secret,
    );
    // Without the context it is only a high-entropy token.
    assert_eq!(
        found(&format!("value {secret}")),
        [("HIGH_ENTROPY".to_owned(), secret.as_str())]
    );
}

#[test]
fn private_keys() {
    let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nFAKEfakeFAKEfakeFAKEfakeFAKEfake==";
    let pem = [
        "-----BEGIN ",
        "RSA PRIVATE KEY-----\n",
        body,
        "\n-----END ",
        "RSA PRIVATE KEY-----",
    ]
    .concat();
    finds("PRIVATE_KEY", &format!("here:\n{pem}\nthanks"), &pem);
    // A block cut short is still found, to the end of its body.
    let cut = [
        "-----BEGIN ",
        "OPENSSH PRIVATE KEY-----\n",
        "b3BlbnNzaC1rZXktdjEAAAAAFAKE",
    ]
    .concat();
    finds("PRIVATE_KEY", &format!("{cut}\n\nWhat is this?"), &cut);
    misses(
        "PRIVATE_KEY",
        "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----",
    );
}

#[test]
fn jwts_are_found_once() {
    let token = jwt();
    let text = format!("Authorization: Bearer {token}");
    assert_eq!(found(&text), [("JWT".to_owned(), token.as_str())]);
    // A header without `alg` is not a JWT.
    let no_alg = ["eyJmb28iOjF9", ".", "eyJzdWIiOiIxIn0", ".", "c2ln"].concat();
    misses("JWT", &no_alg);
}

#[test]
fn connection_strings() {
    let url = [
        "postgres://app:",
        "s3cr3t-FAKE",
        "@db.internal:5432/orders?sslmode=require",
    ]
    .concat();
    let text = format!("DATABASE_URL={url} ");
    // The whole string, not the address-looking part inside it.
    assert_eq!(found(&text), [("CONNECTION_STRING".to_owned(), url.as_str())]);
    let with_ip = ["mongodb://root:", "hunter2FAKE", "@10.0.0.5:27017"].concat();
    assert_eq!(
        found(&with_ip),
        [("CONNECTION_STRING".to_owned(), with_ip.as_str())]
    );
    misses(
        "CONNECTION_STRING",
        "postgres://app:${DB_PASSWORD}@db:5432/orders",
    );
    misses("CONNECTION_STRING", "https://example.com/path");
}

#[test]
fn high_entropy_tokens() {
    let token = ["Zx8qL2vN", "r4TmW9yB", "k1Hs7PdQ", "u3Jc"].concat();
    assert_eq!(
        found(&format!("token: {token}")),
        [("HIGH_ENTROPY".to_owned(), token.as_str())]
    );
    misses("HIGH_ENTROPY", "commit 3f786850e387550fdab836ed7e6dc881de23001b");
    misses("HIGH_ENTROPY", "request 0b8f5c9e-4d2a-4c1b-9e7f-3a6d2c1b0e9f");
    misses(
        "HIGH_ENTROPY",
        "Donaudampfschifffahrtsgesellschaft uses get_user_by_email_address_v2 in node_modules/react-dom",
    );
    // Stricter settings leave it alone.
    let strict = Detector::builder().entropy_threshold(5.0).build().unwrap();
    assert!(strict.find(&token).is_empty());
    let long = Detector::builder().entropy_min_len(40).build().unwrap();
    assert!(long.find(&token).is_empty());
}

#[test]
fn the_more_specific_key_wins() {
    let key = ["sk-", "ant-", "api03-", &"FAKE0fake1".repeat(5)].concat();
    // The OpenAI pattern and the entropy scan match the same bytes too.
    assert_eq!(
        found(&format!("ANTHROPIC_API_KEY={key}")),
        [("ANTHROPIC_KEY".to_owned(), key.as_str())]
    );
}

#[test]
fn custom_patterns_and_deny_lists() {
    let detector = Detector::builder()
        .pattern("EMPLOYEE_ID", r"EMP-\d{6}")
        .unwrap()
        .pattern("TICKET", r"ticket #(?P<value>\d{4,})")
        .unwrap()
        .deny_list("PROJECT", ["Bluebird", "night jar"])
        .unwrap()
        .build()
        .unwrap();
    let text = "EMP-123456 on ticket #98765: BLUEBIRD and Night Jar, not bluebirds.";
    let found: Vec<_> = detector
        .find(text)
        .into_iter()
        .map(|f| (f.kind.to_string(), f.text(text)))
        .collect();
    assert_eq!(
        found,
        [
            ("EMPLOYEE_ID".to_owned(), "EMP-123456"),
            ("TICKET".to_owned(), "98765"),
            ("PROJECT".to_owned(), "BLUEBIRD"),
            ("PROJECT".to_owned(), "Night Jar"),
        ]
    );
    let finding = &detector.find("EMP-000001")[0];
    assert_eq!(finding.kind, EntityKind::Custom("EMPLOYEE_ID".into()));
    assert_eq!(finding.confidence, Confidence::Pattern);
}

#[test]
fn bad_custom_patterns_are_config_errors() {
    let error = Detector::builder().pattern("TICKET", r"T-(\d+").unwrap_err();
    assert_eq!(error.kind(), "config");
    // Past the size limit: a bounded repetition of a large class.
    let error = Detector::builder()
        .pattern("HUGE", r"\w{1000}\w{1000}")
        .unwrap_err();
    assert_eq!(error.kind(), "config");
    assert!(Detector::builder().pattern("lower", "x").is_err());
    assert!(Detector::builder().deny_list("PHONE", ["x"]).is_err());
}

#[test]
fn kinds_can_be_turned_off_and_on() {
    let text = "ana@example.com from 10.0.0.1";
    let no_ip = Detector::builder()
        .disable(EntityKind::IpAddress)
        .build()
        .unwrap();
    assert_eq!(no_ip.find(text).len(), 1);
    let only_ip = Detector::builder().only([EntityKind::IpAddress]).build().unwrap();
    assert_eq!(only_ip.find(text)[0].kind, EntityKind::IpAddress);
    assert_eq!(only_ip.find(text).len(), 1);
    let again = Detector::builder()
        .only([EntityKind::IpAddress])
        .enable(EntityKind::Email)
        .build()
        .unwrap();
    assert_eq!(again.find(text).len(), 2);
    let nothing = Detector::builder().only([]).build().unwrap();
    assert!(nothing.find(text).is_empty());
}

#[test]
fn byte_ranges_hold_on_multibyte_text() {
    let text = "Почта: ivan@example.ru, 電話 +81 3-1234-5678, IBAN：DE89 3704 0044 0532 0130 00。";
    let findings = DETECTOR.find(text);
    let seen: Vec<_> = findings.iter().map(|f| (f.kind.as_str(), f.text(text))).collect();
    assert_eq!(
        seen,
        [
            ("EMAIL", "ivan@example.ru"),
            ("PHONE", "+81 3-1234-5678"),
            ("IBAN", "DE89 3704 0044 0532 0130 00"),
        ]
    );
    // Five two-byte letters, a colon and a space.
    assert_eq!(findings[0].range, 12..27);
    for f in &findings {
        assert!(text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end));
    }
}

#[test]
fn a_realistic_prompt() {
    let key = openai_key();
    let text = format!(
        "Hi! I'm Jane (jane.doe@example.org, +1 415-555-0132). My card 5555 5555 5555 4444 was charged \
         twice; my SSN is 123-45-6789 if needed. Our server 203.0.113.7 logs show the key {key}. \
         Can you draft a complaint?"
    );
    let kinds: Vec<_> = found(&text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        ["EMAIL", "PHONE", "CARD", "SSN", "IP_ADDRESS", "OPENAI_KEY"]
    );
    misses(
        "HIGH_ENTROPY",
        "Can you summarise the attached quarterly report for the board meeting?",
    );
}

#[test]
fn find_into_reuses_and_answers_the_same() {
    let mut findings = vec![Finding::new(EntityKind::Jwt, 0..1, Confidence::Validated)];
    let text = "mail ana@example.com or 10.0.0.1";
    DETECTOR.find_into(text, &mut findings);
    assert_eq!(findings, DETECTOR.find(text));
    assert_eq!(findings.len(), 2);
}

/// Every finding is inside the text, on character boundaries, sorted and
/// apart from the others.
fn well_formed(text: &str, findings: &[Finding]) -> Result<(), TestCaseError> {
    let mut last_end = 0;
    for f in findings {
        prop_assert!(f.range.start < f.range.end && f.range.end <= text.len());
        prop_assert!(text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end));
        prop_assert!(f.range.start >= last_end, "{findings:?}");
        last_end = f.range.end;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn find_never_panics_on_any_text(text in any::<String>()) {
        well_formed(&text, &DETECTOR.find(&text))?;
    }

    #[test]
    fn find_never_panics_on_entity_shaped_text(
        text in r"[0-9a-fA-Z +().:/@=_\-%\n電話é]{0,80}|(sk-|AKIA|eyJ|ghp_|-----BEGIN |[a-z]+://|\+)[0-9A-Za-z .:/@_\-]{0,80}"
    ) {
        well_formed(&text, &DETECTOR.find(&text))?;
    }
}

#[test]
fn flattened_and_encrypted_private_keys() {
    let flat = [
        "-----BEGIN ",
        "PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASC FAKEfakeFAKEfake AB== -----END ",
        "PRIVATE KEY-----",
    ]
    .concat();
    finds("PRIVATE_KEY", &format!("key: {flat}."), &flat);
    let encrypted = [
        "-----BEGIN ",
        "RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,FAKE\n\n",
        "FAKEfakeFAKEfakeFAKEfakeFAKEfake\n-----END ",
        "RSA PRIVATE KEY-----",
    ]
    .concat();
    finds("PRIVATE_KEY", &encrypted, &encrypted);
}

/// Texts built to make a pattern read far ahead, or many candidates fail
/// their checks, take time in proportion to their length.
#[test]
fn adversarial_texts_are_read_through() {
    // Texts made of one entity's prefix over and over, where a pattern that
    // backtracked or rescanned would take quadratic time: each is read to
    // its end. The `regex` crate bounds its own search; how the cost grows
    // with the text is measured in `benches/guard_detect.rs` (`adversarial`),
    // not timed here.
    let detector = Detector::builder()
        .pattern("X", r"[a-z]+X")
        .unwrap()
        .deny_list("D", ["aaa", "a a"])
        .unwrap()
        .build()
        .unwrap();
    let begin = ["-----BEGIN ", "PRIVATE KEY-----\n"].concat();
    for unit in adversarial_units(&begin) {
        let text = unit.repeat(200_000 / unit.len());
        let found = detector.find(&text);
        assert!(
            found
                .windows(2)
                .all(|pair| pair[0].range.end <= pair[1].range.start),
            "{unit:?}: overlapping findings"
        );
        assert!(found.iter().all(|f| f.range.end <= text.len()));
    }
}

/// Prefixes of entities that the detectors start reading at.
fn adversarial_units(begin: &str) -> Vec<&str> {
    vec![
        "1 ", "a@", "+1 ", "1:", "::", "sk-", "eyJ.", "a", "1-", "born 1", "aws ", "AB12 ", "x://a:b@",
        begin, "é", "1.", "4111 ", "Aa1+",
    ]
}

#[test]
fn many_custom_patterns_find_what_few_do() {
    // From four custom patterns on they share one set read; the findings
    // are the same as pattern by pattern.
    let patterns = [
        ("EMPLOYEE_ID", r"EMP-\d{6}"),
        ("TICKET", r"ticket #(?P<value>\d{4,})"),
        ("BADGE", r"\bB[0-9]{5}\b"),
        ("ROOM", r"room [A-Z]-\d{3}"),
        ("NEVER", r"zz\d{9}zz"),
    ];
    let text = "EMP-123456 opened ticket #4521 from room C-204 with badge B12345; EMP-654321 too.";
    let mut expected = Vec::new();
    for (name, pattern) in patterns {
        let one = Detector::builder()
            .only([])
            .pattern(name, pattern)
            .unwrap()
            .build()
            .unwrap();
        expected.extend(one.find(text));
    }
    expected.sort_by_key(|f| f.range.start);
    let mut all = Detector::builder().only([]);
    for (name, pattern) in patterns {
        all = all.pattern(name, pattern).unwrap();
    }
    assert_eq!(all.build().unwrap().find(text), expected);
    assert_eq!(expected.len(), 5);
}

#[test]
fn deny_lists_match_whole_words_in_any_script() {
    let detector = Detector::builder()
        .only([])
        .deny_list("CITY", ["Москва", "Zürich"])
        .unwrap()
        .deny_list("CODENAME", ["Orion"])
        .unwrap()
        .build()
        .unwrap();
    let text = "Из Москва в ZÜRICH? orion, ORION-2, Orionids, Москвай.";
    let found: Vec<_> = detector
        .find(text)
        .into_iter()
        .map(|f| (f.kind.to_string(), f.text(text)))
        .collect();
    // `Zürich` matches as written outside ASCII: `ZÜRICH` is not it.
    assert_eq!(
        found,
        [
            ("CITY".to_owned(), "Москва"),
            ("CODENAME".to_owned(), "orion"),
            ("CODENAME".to_owned(), "ORION"),
        ]
    );
}

#[test]
fn kind_names_are_stable_and_distinct() {
    let names: Vec<&str> = EntityKind::built_in().iter().map(EntityKind::as_str).collect();
    assert_eq!(names.len(), 20);
    for name in &names {
        assert!(
            name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{name}"
        );
        assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{name}");
    }
    assert!(EntityKind::Jwt.is_secret() && EntityKind::HighEntropy.is_secret());
    assert!(!EntityKind::Email.is_secret() && !EntityKind::Custom("X".into()).is_secret());
    assert_eq!(EntityKind::DenyListed("CITY".into()).to_string(), "CITY");
}

#[test]
fn secrets_that_only_look_like_keys() {
    for text in [
        "the AKIA prefix alone",
        "xoxb- is how Slack bot tokens start",
        "AIzaShort",
        "sk_live_short",
        "ghp_tooShort123",
        "glpat-short",
        "eyJhbGciOiJIUzI1NiJ9 alone is no JWT",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}
