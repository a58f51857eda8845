//! The checks a candidate passes before it is reported: checksums, ranges,
//! structure and boundaries. Each takes the whole text and the candidate's
//! byte range, and answers the range to report (a check may shorten it) with
//! how sure it is, or `None`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::Confidence;

/// Which check a pattern's candidates pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// None: the pattern says it all (custom patterns).
    None,
    /// Not glued to letters or digits on either side.
    Word,
    /// A token of letters, digits, `_` and `-`: not glued to more of them.
    Token,
    Email,
    Phone,
    /// A phone number's digits next to a word that says it is one.
    PhoneNearWord,
    Card,
    Iban,
    Ssn,
    Ipv4,
    Ipv6,
    DateOfBirth,
    AwsSecret,
    Jwt,
    ConnectionString,
}

impl Check {
    /// The range to report and its confidence, or `None` when the candidate
    /// fails the check.
    pub(super) fn apply(
        self,
        text: &str,
        range: Range<usize>,
        require_card_prefix: bool,
    ) -> Option<(Range<usize>, Confidence)> {
        let value = text.get(range.clone())?;
        let pattern = Some((range.clone(), Confidence::Pattern));
        let validated = Some((range.clone(), Confidence::Validated));
        match self {
            Check::None => pattern,
            Check::Word => word_bounded(text, &range).then_some(()).and(pattern),
            Check::Token => {
                let glued = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
                (!before(text, &range).is_some_and(glued) && !after(text, &range).is_some_and(glued))
                    .then_some(())?;
                pattern
            }
            Check::Email => {
                (email(value) && !before(text, &range).is_some_and(|c| c.is_alphanumeric())).then_some(())?;
                pattern
            }
            Check::Phone => phone(text, range),
            Check::PhoneNearWord => phone_near_word(text, range),
            Check::Card => card_range(text, range, require_card_prefix),
            Check::Iban => iban(text, range),
            Check::Ssn => (word_bounded(text, &range) && ssn(value))
                .then_some(())
                .and(validated),
            Check::Ipv4 => {
                let glued = |c: char| c.is_alphanumeric() || c == '.';
                let dotted_on = after(text, &range) == Some('.')
                    && text[range.end + 1..].starts_with(|c: char| c.is_ascii_digit());
                (!before(text, &range).is_some_and(glued)
                    && !after(text, &range).is_some_and(|c| c.is_alphanumeric())
                    && !dotted_on
                    && value.parse::<Ipv4Addr>().is_ok())
                .then_some(())?;
                validated
            }
            Check::Ipv6 => {
                let glued = |c: char| c.is_alphanumeric() || c == ':' || c == '.';
                (!before(text, &range).is_some_and(glued)
                    && !after(text, &range).is_some_and(glued)
                    && ipv6(value))
                .then_some(())?;
                validated
            }
            Check::DateOfBirth => {
                (!after(text, &range).is_some_and(|c| c.is_ascii_digit()) && date(value)).then_some(())?;
                pattern
            }
            Check::AwsSecret => {
                let glued = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=');
                let mixed = value.bytes().any(|b| b.is_ascii_lowercase())
                    && value.bytes().any(|b| b.is_ascii_uppercase())
                    && value.bytes().any(|b| b.is_ascii_digit());
                (mixed
                    && !before(text, &range).is_some_and(glued)
                    && !after(text, &range).is_some_and(glued))
                .then_some(())?;
                Some((range, Confidence::Heuristic))
            }
            Check::Jwt => {
                let glued = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
                (!before(text, &range).is_some_and(glued)
                    && !after(text, &range).is_some_and(glued)
                    && jwt_header_has_alg(value))
                .then_some(())?;
                validated
            }
            Check::ConnectionString => connection_string(value).then_some(()).and(pattern),
        }
    }
}

/// The character just before `range`.
pub(super) fn before(text: &str, range: &Range<usize>) -> Option<char> {
    text.get(..range.start)?.chars().next_back()
}

/// The character just after `range`.
pub(super) fn after(text: &str, range: &Range<usize>) -> Option<char> {
    text.get(range.end..)?.chars().next()
}

/// Not glued to a letter or digit (of any script) on either side.
pub(super) fn word_bounded(text: &str, range: &Range<usize>) -> bool {
    !before(text, range).is_some_and(char::is_alphanumeric)
        && !after(text, range).is_some_and(char::is_alphanumeric)
}

/// A pragmatic address check on what the pattern found: a local part of at
/// most 64 bytes without leading, trailing or doubled dots, and a domain
/// whose last label is alphabetic (of any script) or punycode.
pub(super) fn email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || value.len() > 254 {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    if domain.split('.').any(|label| label.len() > 63) {
        return false;
    }
    let Some(tld) = domain.rsplit('.').next() else {
        return false;
    };
    tld.starts_with("xn--") || (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
}

/// A phone number: digits in groups split by one separator (a space, `.`,
/// `-`, `/`) or a parenthesised group. A candidate that runs on into
/// unrelated digits is cut at the first odd separator; what is left must
/// have 8 to 15 digits after a `+` or `00` and a country code (at least two
/// groups after `00`), else 9 to 12 in at least two groups. An extension
/// right after the number (`x123`, ` ext. 123`) is part of it.
fn phone(text: &str, range: Range<usize>) -> Option<(Range<usize>, Confidence)> {
    let glued = |c: char| c.is_alphanumeric() || c == '+' || c == '.' || c == '-';
    if before(text, &range).is_some_and(glued) {
        return None;
    }
    let value = &text[range.clone()];
    let call_prefix = value.starts_with("00");
    let international = value.starts_with('+') || call_prefix;
    let mut digits = 0usize;
    let mut end = 0usize; // bytes of `value` kept: up to the last digit accepted
    let mut separator_run = 0usize;
    let mut paren_in_run = false;
    let mut open = false;
    let mut slashes = 0usize;
    let mut groups = 0usize;
    for (i, b) in value.bytes().enumerate() {
        match b {
            b'0'..=b'9' => {
                if separator_run > 0 || digits == 0 {
                    groups += 1;
                }
                digits += 1;
                end = i + 1;
                separator_run = 0;
                paren_in_run = false;
            }
            b'+' if i == 0 => {}
            b'(' | b')' => {
                let ok = if b == b'(' { !open } else { open };
                if !ok || separator_run >= 2 {
                    break;
                }
                open = b == b'(';
                separator_run += 1;
                paren_in_run = true;
            }
            b' ' | b'.' | b'-' | b'/' => {
                if b == b'/' {
                    slashes += 1;
                    // A slash splits an area code from the number, once.
                    if slashes > 1 || groups != 1 {
                        break;
                    }
                }
                if separator_run >= 2 || (separator_run == 1 && !paren_in_run) {
                    break;
                }
                separator_run += 1;
            }
            _ => break,
        }
    }
    if open && value[..end].rfind('(') > value[..end].rfind(')') {
        // An unclosed parenthesis: cut before it.
        end = value[..end].rfind('(')?;
        end = value[..end].trim_end_matches([' ', '.', '-']).len();
        digits = value[..end].bytes().filter(u8::is_ascii_digit).count();
    }
    let mut kept = range.start..range.start + end;
    kept.end += extension_len(&text[kept.end..]);
    if after(text, &kept).is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    let plausible = if call_prefix {
        (8..=15).contains(&(digits - 2)) && groups >= 2
    } else if international {
        (8..=15).contains(&digits)
    } else {
        (9..=12).contains(&digits) && groups >= 2
    };
    plausible.then_some((kept, Confidence::Pattern))
}

/// The length in bytes of the phone extension `rest` starts with, or 0:
/// an optional space, `x`, `ext` or `ext.` (any case), an optional space,
/// then 1 to 6 digits not followed by a letter or digit.
fn extension_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b' '));
    let marker = [&b"ext."[..], b"ext", b"x"]
        .into_iter()
        .find(|m| bytes.len() >= i + m.len() && bytes[i..i + m.len()].eq_ignore_ascii_case(m));
    let Some(marker) = marker else {
        return 0;
    };
    i += marker.len();
    i += usize::from(bytes.get(i) == Some(&b' '));
    let digits = bytes[i.min(bytes.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = i + digits;
    let glued = rest[end.min(rest.len())..]
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric);
    if (1..=6).contains(&digits) && !glued {
        end
    } else {
        0
    }
}

/// A phone number found next to a word such as `call` or `mobile`: one run
/// of 9 to 12 digits, not one digit repeated, not glued to a letter.
fn phone_near_word(text: &str, range: Range<usize>) -> Option<(Range<usize>, Confidence)> {
    let value = text.get(range.clone())?.as_bytes();
    let one_run = (9..=12).contains(&value.len()) && value.iter().all(u8::is_ascii_digit);
    let repeated = value.iter().all(|&b| Some(&b) == value.first());
    (one_run && !repeated && !after(text, &range).is_some_and(char::is_alphanumeric))
        .then_some((range, Confidence::Heuristic))
}

/// A card number in `range`, or in its longest prefix that ends before a
/// separator and passes (a number followed by its expiry, `4111 1111 1111
/// 1111 12 26`, is read as one run of digits first).
fn card_range(text: &str, range: Range<usize>, require_prefix: bool) -> Option<(Range<usize>, Confidence)> {
    if before(text, &range).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let value = text.get(range.clone())?;
    let ends = value
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == b' ' || b == b'-')
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect::<Vec<_>>();
    for &end in ends.iter().rev() {
        let kept = range.start..range.start + end;
        if end == value.len() && after(text, &kept).is_some_and(char::is_alphanumeric) {
            return None;
        }
        if card(&value[..end], require_prefix) {
            return Some((kept, Confidence::Validated));
        }
    }
    None
}

/// A payment card number: 13 to 19 digits, one kind of separator if any,
/// not one digit repeated, and the Luhn checksum; with `require_prefix`, an
/// issuer prefix from the major networks too.
pub(super) fn card(value: &str, require_prefix: bool) -> bool {
    let mut digits = [0u8; 19];
    let mut n = 0usize;
    let mut separator = None;
    for b in value.bytes() {
        match b {
            b'0'..=b'9' => {
                if n == digits.len() {
                    return false;
                }
                digits[n] = b - b'0';
                n += 1;
            }
            b' ' | b'-' => match separator {
                None => separator = Some(b),
                Some(s) if s == b => {}
                Some(_) => return false,
            },
            _ => return false,
        }
    }
    let digits = &digits[..n];
    if !(13..=19).contains(&n) || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    luhn(digits) && (!require_prefix || known_card_prefix(digits))
}

/// The Luhn (mod 10) checksum over digit values.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Issuer prefixes of Visa, Mastercard, American Express, Discover, JCB,
/// Diners Club, UnionPay and Maestro.
fn known_card_prefix(digits: &[u8]) -> bool {
    let prefix = |len: usize| {
        digits
            .iter()
            .take(len)
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    p1 == 4
        || (51..=55).contains(&p2)
        || (2221..=2720).contains(&p4)
        || p2 == 34
        || p2 == 37
        || p4 == 6011
        || p2 == 65
        || (644..=649).contains(&p3)
        || (3528..=3589).contains(&p4)
        || (300..=305).contains(&p3)
        || p2 == 36
        || p2 == 38
        || p2 == 39
        || p2 == 62
        || p2 == 50
        || (56..=69).contains(&p2)
}

/// IBAN lengths by country, from the SWIFT IBAN registry.
pub(super) const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The registry length of an IBAN for `country`.
pub(super) fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(code, _)| code.as_slice() == country)
        .map(|&(_, len)| len)
}

/// An IBAN: the country's length from the registry and the mod-97 check.
/// The candidate may run on into a following word; it is cut at the
/// country's length, which must end the candidate or come before a space.
fn iban(text: &str, range: Range<usize>) -> Option<(Range<usize>, Confidence)> {
    if before(text, &range).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let value = text.get(range.clone())?.as_bytes();
    let len = iban_length(value.get(..2)?)?;
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut end = 0;
    for (i, &b) in value.iter().enumerate() {
        if b == b' ' {
            continue;
        }
        if n == len {
            break;
        }
        chars[n] = b;
        n += 1;
        end = i + 1;
    }
    if n != len || value.get(end).is_some_and(|&b| b != b' ') {
        return None;
    }
    let kept = range.start..range.start + end;
    if after(text, &kept).is_some_and(char::is_alphanumeric) || !iban_checksum(&chars[..n]) {
        return None;
    }
    Some((kept, Confidence::Validated))
}

/// The ISO 7064 mod-97 check of an IBAN without spaces.
pub(super) fn iban_checksum(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut remainder = 0u32;
    for &b in tail.iter().chain(head) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// A US Social Security number outside the ranges never issued: area 000,
/// 666 and 900–999, group 00, serial 0000 (and the famous 078-05-1120 from a
/// wallet advertisement).
pub(super) fn ssn(value: &str) -> bool {
    let digits: Vec<u32> = value
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect();
    if digits.len() != 9 {
        return false;
    }
    let number = |d: &[u32]| d.iter().fold(0, |acc, &x| acc * 10 + x);
    let (area, group, serial) = (number(&digits[..3]), number(&digits[3..5]), number(&digits[5..]));
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && (area, group, serial) != (78, 5, 1120)
}

/// An IPv6 address as the standard library parses it, with at least two
/// groups written out (`::` alone, or `::1`, says nothing about anyone).
pub(super) fn ipv6(value: &str) -> bool {
    let address = value.split_once('%').map_or(value, |(address, _)| address);
    address.split(':').filter(|group| !group.is_empty()).count() >= 2 && address.parse::<Ipv6Addr>().is_ok()
}

/// A calendar date as the date-of-birth pattern finds it: day and month in
/// range (either order for numeric dates), year 1900–2099 or two digits.
pub(super) fn date(value: &str) -> bool {
    let numbers: Vec<u32> = value
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.parse().ok())
        .collect();
    let day = |d: u32| (1..=31).contains(&d);
    let month = |m: u32| (1..=12).contains(&m);
    match numbers.as_slice() {
        // ISO: year first.
        [y, m, d] if *y >= 1000 => month(*m) && day(*d),
        [a, b, _] => (day(*a) && month(*b)) || (month(*a) && day(*b)),
        // A month written out: the day is the number below 32.
        [a, b] => day(*a.min(b)),
        _ => false,
    }
}

/// A JWT's header decodes (base64url) to a JSON object with an `alg`.
pub(super) fn jwt_header_has_alg(token: &str) -> bool {
    let Some(header) = token.split('.').next() else {
        return false;
    };
    let Some(json) = base64url_decode(header.as_bytes()) else {
        return false;
    };
    matches!(
        serde_json::from_slice::<serde_json::Value>(&json),
        Ok(serde_json::Value::Object(map)) if map.get("alg").is_some_and(serde_json::Value::is_string)
    )
}

/// Decodes unpadded base64url (a JWT segment); `None` on any other byte.
pub(super) fn base64url_decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 4 == 1 || input.len() > 8 * 1024 {
        return None;
    }
    let sextet = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    for chunk in input.chunks(4) {
        let mut acc = 0u32;
        for &b in chunk {
            acc = (acc << 6) | sextet(b)?;
        }
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..1 + bits / 8]);
    }
    Some(out)
}

/// A connection string's password is a value, not a placeholder
/// (`${DB_PASSWORD}`, `{password}`, `<password>`, `****`).
fn connection_string(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let Some((userinfo, _)) = rest.rsplit_once('@') else {
        return false;
    };
    let Some((_, password)) = userinfo.split_once(':') else {
        return false;
    };
    !password.is_empty()
        && !password.starts_with(['$', '{', '<', '%'])
        && !password.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_numbers_and_refuses_a_changed_digit() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&digits("4111111111111111")));
        assert!(luhn(&digits("378282246310005")));
        assert!(!luhn(&digits("4111111111111112")));
    }

    #[test]
    fn cards_need_one_separator_kind_and_a_known_prefix_when_asked() {
        assert!(card("4111 1111 1111 1111", false));
        assert!(card("4111-1111-1111-1111", true));
        assert!(!card("4111 1111-1111 1111", false));
        assert!(!card("0000000000000000", false));
        // Luhn-valid, but no network issues under 9.
        assert!(card("9111111111111110", false));
        assert!(!card("9111111111111110", true));
    }

    #[test]
    fn phone_extensions() {
        assert_eq!(extension_len("x123 more"), 4);
        assert_eq!(extension_len(" ext. 42,"), 8);
        assert_eq!(extension_len(" EXT 7"), 6);
        assert_eq!(extension_len("x1234567"), 0);
        assert_eq!(extension_len("xyz"), 0);
        assert_eq!(extension_len("x12a"), 0);
        assert_eq!(extension_len(" extra"), 0);
        assert_eq!(extension_len(""), 0);
    }

    #[test]
    fn iban_checksums() {
        assert!(iban_checksum(b"DE89370400440532013000"));
        assert!(iban_checksum(b"GB82WEST12345698765432"));
        assert!(!iban_checksum(b"DE89370400440532013001"));
        assert_eq!(iban_length(b"NO"), Some(15));
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn("123-45-6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!ssn(bad), "{bad}");
        }
    }

    #[test]
    fn dates_in_range() {
        assert!(date("12/31/1985"));
        assert!(date("31.12.1985"));
        assert!(date("1985-12-31"));
        assert!(date("3 March 1985"));
        assert!(!date("13/13/1985"));
        assert!(!date("1985-13-01"));
    }

    #[test]
    fn base64url_round_trip() {
        assert_eq!(
            base64url_decode(b"eyJhbGciOiJIUzI1NiJ9").unwrap(),
            br#"{"alg":"HS256"}"#
        );
        assert!(base64url_decode(b"a").is_none());
        assert!(base64url_decode(b"ab+c").is_none());
    }
}
