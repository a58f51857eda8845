//! The patterns for personal data. Each finds candidates; its
//! [`Check`] decides. Word boundaries are ASCII (`(?-u:\b)`) or left to the
//! check, which looks at the neighbouring characters in any script: a
//! Unicode `\b` would keep the set off its fast automaton.

use super::validate::Check;
use super::{EntityKind, Gate, Spec};

/// An address: a local part and a domain of letters and digits of any
/// script, hyphens inside labels.
const EMAIL: &str = r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)+";

/// `+` and a country code, then digits in groups.
const PHONE_INTERNATIONAL: &str = r"\+[1-9][0-9 ().\-/]{6,24}[0-9]";

/// `00` (the international call prefix of most countries) and a country
/// code, then digits in groups: `0049 30 1234567`, `001-555-234-5678`.
const PHONE_INTERNATIONAL_00: &str = r"(?-u:\b)00[1-9][0-9 ().\-/]{6,24}[0-9]";

/// North American numbers: `(555) 234-5678`, `555-234-5678`, `555.234.5678`,
/// `1-800-555-0199`, maybe with an extension (`555-234-5678 x123`, which
/// the check takes in).
const PHONE_NANP: &str = concat!(
    r"(?:(?-u:\b)1[ .\-])?(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[ .\-])",
    r"[2-9][0-9]{2}[ .\-][0-9]{4}(?:(?-u:\b)|[xX][0-9])"
);

/// National numbers with a trunk `0`, in groups, the area code maybe in
/// parentheses: `030 1234 5678`, `06 12 34 56 78`, `020 7946 0958`,
/// `0171/2345678`, `03-1234-5678`, `(0161) 496 0473`, `(06302) 41960`.
const PHONE_NATIONAL: &str = concat!(
    r"(?:\(0[1-9][0-9]{0,3}\)[ \-]?|(?-u:\b)0[1-9][0-9]{0,3}[ /\-])",
    r"[0-9]{2,8}(?:[ /\-][0-9]{2,8}){0,3}(?-u:\b)"
);

/// A number written as one run of digits, 9 to 12 of them, shortly after a
/// word that says it is one (`call`, `phone`, `tel`, `mobile`, `cell`,
/// `fax`, `SMS`, `WhatsApp`), on the same line or the next:
/// `call me at 5552345678`, `Mobile: 0612345678`, `Phone:\n0612345678`.
/// Only the number (group `value`) is reported. Without such a word, a run
/// of digits is not reported: too many order numbers look the same.
const PHONE_AFTER_WORD: &str = concat!(
    // Spelled out in lower, title and upper case rather than `(?i)`, so
    // that they are literals the regex skips the text to.
    r"(?-u:\b)(?:[Cc]all(?:ed|ing)?|CALL|[Pp]hone|PHONE|[Tt]el(?:ephone)?|TEL(?:EPHONE)?|[Mm]obile|MOBILE|",
    r"[Cc]ell|CELL|[Ff]ax|FAX|SMS|[Ww]hats[Aa]pp)(?-u:\b)",
    r"[^0-9\n]{0,16}?(?:\n[ \t]*)?",
    r"(?P<value>(?-u:\b)[0-9]{9,12})(?-u:\b)"
);

/// The same run of digits with the word after it, as contact blocks write
/// it: `0612345678 mobile`, `0612345678-Fax`, `5552345678 (cell)`.
const PHONE_BEFORE_WORD: &str = concat!(
    r"(?P<value>(?-u:\b)[0-9]{9,12})(?-u:\b)[ \-]?\(?",
    r"(?:[Pp]hone|PHONE|[Tt]el|TEL|[Mm]obile|MOBILE|[Cc]ell|CELL|[Ff]ax|FAX)(?-u:\b)"
);

/// 13 to 19 digits, single spaces or dashes between them.
const CARD: &str = r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)";

/// A country code of the IBAN registry, check digits, and groups of four
/// (the check cuts it to the country's length). Naming the countries
/// gives the regex a literal prefix to skip the text with.
const IBAN: &str = concat!(
    r"(?-u:\b)(?:AD|AE|AL|AT|AZ|BA|BE|BG|BH|BI|BR|BY|CH|CR|CY|CZ|DE|DJ|DK|DO|EE|EG|ES|FI|FK|FO|FR|GB|GE|GI|",
    r"GL|GR|GT|HR|HU|IE|IL|IQ|IS|IT|JO|KW|KZ|LB|LC|LI|LT|LU|LV|LY|MC|MD|ME|MK|MN|MR|MT|MU|NI|NL|NO|OM|",
    r"PK|PL|PS|PT|QA|RO|RS|RU|SA|SC|SD|SE|SI|SK|SM|SO|ST|SV|TL|TN|TR|UA|VA|VG|XK|YE)",
    r"[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?"
);

/// `123-45-6789` or `123 45 6789`.
const SSN: &str = r"(?-u:\b)(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})(?-u:\b)";

const IPV4: &str = r"(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?-u:\b)";

/// Colon-separated hex groups, maybe ending in dotted IPv4, maybe with a
/// zone; the standard library's parser decides. (Two colons written out
/// first, rather than `(?:h{0,4}:){2,7}`, let the regex skip to them.)
const IPV6: &str = concat!(
    r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:){0,5}",
    r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4})(?:%[0-9A-Za-z]{1,16})?"
);

macro_rules! months {
    () => {
        concat!(
    "jan(?:uary|uar|vier)?|feb(?:ruary|ruar)?|f[ée]vrier|mar(?:ch)?|m[äa]rz|mars|apr(?:il)?|avril|may|mai|",
    "june?|juni|juin|july?|juli|juillet|aug(?:ust)?|ao[ûu]t|sep(?:t(?:ember)?)?|septembre|",
    "oct(?:ober)?|okt(?:ober)?|octobre|nov(?:ember)?|novembre|dec(?:ember)?|dez(?:ember)?|d[ée]cembre|",
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|",
    "gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre"
        )
    };
}

/// A date after words that say it is a birth date, in English, German,
/// French, Spanish and Italian. Only the date (group `value`) is reported.
const DATE_OF_BIRTH: &str = concat!(
    // The context words in lower, title and upper case rather than `(?i)`:
    // spelled out, they are literals the regex skips the text to.
    r"(?-u:\b)(?:[Bb]orn|BORN|DOB|[Dd]ob|[Dd]\.[Oo]\.[Bb]\.?|[Dd]ate\s+of\s+birth|DATE\s+OF\s+BIRTH|",
    r"[Bb]irth\s*date|BIRTH\s*DATE|[Bb]irthday|BIRTHDAY|[Gg]eboren|GEBOREN|[Gg]eb\.|[Gg]eburtsdatum|",
    r"GEBURTSDATUM|[Nn][ée]e?\s+le|[Dd]ate\s+de\s+naissance|[Nn]acid[oa]|[Ff]echa\s+de\s+nacimiento|",
    r"[Nn]at[oa]\s+il|[Dd]ata\s+di\s+nascita)",
    r"[^0-9\n]{0,24}?",
    r"(?P<value>",
    r"[0-9]{1,2}[./\-][0-9]{1,2}[./\-](?:19|20)?[0-9]{2}",
    r"|(?:19|20)[0-9]{2}-[0-9]{1,2}-[0-9]{1,2}",
    r"|[0-9]{1,2}(?:st|nd|rd|th|er|\.)?\s+(?i:",
    months!(),
    r")\.?\s+(?:19|20)[0-9]{2}",
    r"|(?i:",
    months!(),
    r")\.?\s+[0-9]{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)[0-9]{2}",
    r")"
);

/// The personal-data patterns, in priority order.
pub(super) static SPECS: &[Spec] = &[
    Spec::new(EntityKind::Email, EMAIL, Check::Email).gated(Gate::Byte(b'@')),
    Spec::new(EntityKind::Phone, PHONE_INTERNATIONAL, Check::Phone).gated(Gate::Byte(b'+')),
    Spec::new(EntityKind::Phone, PHONE_INTERNATIONAL_00, Check::Phone).gated(Gate::Digit),
    Spec::new(EntityKind::Phone, PHONE_NANP, Check::Phone).gated(Gate::Digit),
    Spec::new(EntityKind::Phone, PHONE_NATIONAL, Check::Phone).gated(Gate::Digit),
    Spec::new(EntityKind::Phone, PHONE_AFTER_WORD, Check::PhoneNearWord).gated(Gate::Digit),
    Spec::new(EntityKind::Phone, PHONE_BEFORE_WORD, Check::PhoneNearWord).gated(Gate::Digit),
    Spec::new(EntityKind::Card, CARD, Check::Card).gated(Gate::Digit),
    Spec::new(EntityKind::Iban, IBAN, Check::Iban).gated(Gate::IbanStart),
    Spec::new(EntityKind::Ssn, SSN, Check::Ssn).gated(Gate::Digit),
    Spec::new(EntityKind::IpAddress, IPV4, Check::Ipv4).gated(Gate::Digit),
    Spec::new(EntityKind::IpAddress, IPV6, Check::Ipv6).gated(Gate::Byte(b':')),
    Spec::new(EntityKind::DateOfBirth, DATE_OF_BIRTH, Check::DateOfBirth).gated(Gate::Digit),
];
