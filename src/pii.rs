//! Recognising personal data, by a column's name and by what its values
//! look like. `init` uses it to suggest rules, `verify` to scan columns
//! that are kept unchanged.
//!
//! Values are only looked at here: never stored, printed or logged. Callers
//! report counts, never the values that matched.

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    FirstName,
    LastName,
    FullName,
    Username,
    Street,
    City,
    Zip,
    BirthDate,
    NationalId,
    TaxId,
    Iban,
    Card,
    Ip,
    Secret,
    /// A latitude/longitude pair (`48.8566, 2.3522`).
    GeoPoint,
    LicensePlate,
}

impl Kind {
    /// Plural noun for messages ("12 of 20 sampled values are emails").
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Email => "email addresses",
            Kind::Phone => "phone numbers",
            Kind::FirstName => "first names",
            Kind::LastName => "last names",
            Kind::FullName => "names",
            Kind::Username => "user names",
            Kind::Street => "street addresses",
            Kind::City => "cities",
            Kind::Zip => "postal codes",
            Kind::BirthDate => "birth dates",
            Kind::NationalId => "national id numbers",
            Kind::TaxId => "tax ids",
            Kind::Iban => "IBANs",
            Kind::Card => "card numbers",
            Kind::Ip => "IP addresses",
            Kind::Secret => "secrets",
            Kind::GeoPoint => "latitude/longitude pairs",
            Kind::LicensePlate => "licence plates",
        }
    }
}

/// Splits an identifier into lower-case words: `billingEmail`,
/// `billing_email` and `Billing Email` all give `["billing", "email"]`.
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Table words that say a row is a person, where a bare `name` column is
/// the person's name (and not, say, a product's).
const PERSON_TABLES: &[&str] = &[
    "user",
    "customer",
    "person",
    "people",
    "employee",
    "contact",
    "member",
    "patient",
    "client",
    "account",
    "guest",
    "student",
    "staff",
    "profile",
    "author",
    "owner",
    "applicant",
    "subscriber",
    "recipient",
    "sender",
    "buyer",
    "seller",
    "driver",
    "passenger",
    "tenant",
    "lead",
];

/// The kind of personal data a column's name suggests. `table` is the bare
/// table name; it decides whether a bare `name` is a person's.
pub fn by_name(table: &str, column: &str) -> Option<Kind> {
    let w = words(column);
    let joined: String = w.concat();
    let has = |list: &[&str]| w.iter().any(|t| list.contains(&t.as_str()));
    let joined_has = |list: &[&str]| list.iter().any(|s| joined.contains(s));
    // Order matters: `ip_address` and `email_address` are not street
    // addresses, `mac_address` is not personal here.
    if has(&["ip", "ipaddr", "ipv4", "ipv6"]) || joined_has(&["ipaddress", "remoteaddr"]) {
        return Some(Kind::Ip);
    }
    if has(&["email", "mail", "emails"]) || joined_has(&["emailaddress"]) {
        return Some(Kind::Email);
    }
    if has(&[
        "password", "passwd", "pwd", "secret", "token", "salt", "otp", "totp", "apikey",
    ]) || joined_has(&["password", "apikey", "accesskey", "privatekey"])
    {
        return Some(Kind::Secret);
    }
    if has(&[
        "phone",
        "mobile",
        "tel",
        "telephone",
        "fax",
        "cell",
        "cellphone",
        "msisdn",
        "phonenumber",
    ]) {
        return Some(Kind::Phone);
    }
    if joined_has(&["firstname", "givenname", "forename"]) || has(&["fname"]) {
        return Some(Kind::FirstName);
    }
    if joined_has(&["lastname", "surname", "familyname"]) || has(&["lname"]) {
        return Some(Kind::LastName);
    }
    if joined_has(&["username", "nickname", "screenname"]) || has(&["login", "nick"]) {
        return Some(Kind::Username);
    }
    if joined_has(&[
        "fullname",
        "displayname",
        "contactname",
        "customername",
        "personname",
        "realname",
        "holdername",
        "accountholder",
        "billingname",
        "shippingname",
        "recipientname",
    ]) {
        return Some(Kind::FullName);
    }
    if joined == "name" && is_person_table(table) {
        return Some(Kind::FullName);
    }
    if has(&["iban"]) || joined_has(&["iban", "bankaccount", "accountnumber"]) {
        return Some(Kind::Iban);
    }
    if joined_has(&["creditcard", "cardnumber", "ccnumber", "ccnum", "cardno"]) || has(&["pan"]) {
        return Some(Kind::Card);
    }
    if has(&["ssn", "sin", "nino", "passport"])
        || joined_has(&[
            "socialsecurity",
            "nationalid",
            "passport",
            "driverlicense",
            "driverslicense",
            "licensenumber",
            "personalnumber",
            "idcard",
        ])
    {
        return Some(Kind::NationalId);
    }
    if has(&["tin"])
        || [
            "taxid",
            "taxnumber",
            "taxno",
            "taxcode",
            "vatid",
            "vatnumber",
            "vatno",
        ]
        .iter()
        .any(|s| joined.ends_with(s))
    {
        return Some(Kind::TaxId);
    }
    if has(&["dob", "birthday", "birthdate", "birth", "born"]) || joined_has(&["dateofbirth"]) {
        return Some(Kind::BirthDate);
    }
    if has(&["mac"]) {
        return None;
    }
    if has(&[
        "street",
        "address",
        "addr",
        "address1",
        "address2",
        "addressline",
        "streetaddress",
    ]) || joined.contains("address")
    {
        return Some(Kind::Street);
    }
    if has(&["city", "town"]) {
        return Some(Kind::City);
    }
    if has(&["zip", "zipcode", "postcode", "postal", "postalcode", "plz"]) {
        return Some(Kind::Zip);
    }
    None
}

fn is_person_table(table: &str) -> bool {
    words(table).iter().any(|t| {
        let singular = t.strip_suffix('s').unwrap_or(t);
        PERSON_TABLES.contains(&t.as_str()) || PERSON_TABLES.contains(&singular)
    })
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")
        .expect("valid regex")
});
/// An email address inside text (Rust `regex` syntax): `verify` looks for
/// it and `init` writes it into the `regex` rules it suggests.
pub const EMAIL_PATTERN: &str =
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}";
/// A phone number inside text: international (`+44 20 7946 0958`) or
/// North American with separators.
pub const PHONE_PATTERN: &str =
    r"\+\d[\d\s().\-]{5,20}\d|\(\d{3}\)\s?\d{3}[\s.\-]\d{4}|\b\d{3}[.\-]\d{3}[.\-]\d{4}\b";
/// A run of 13 to 19 digits, grouped by spaces or dashes or not: a card
/// number's shape (`is_card` adds the Luhn check).
pub const CARD_PATTERN: &str = r"\b(?:\d[ \-]?){12,18}\d\b";

static EMAIL_IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(EMAIL_PATTERN).expect("valid regex"));
/// North American numbers written with separators, and national numbers
/// with a trunk 0 (`030 1234567`). A bare run of digits is not a phone
/// number here: it is far more often an id.
static PHONE_NATIONAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}$|^0\d{1,4}[\s/\-]\d{3,}(?:[\s\-]\d+)*$",
    )
    .expect("valid regex")
});
static PHONE_IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(PHONE_PATTERN).expect("valid regex"));
static CARD_IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(CARD_PATTERN).expect("valid regex"));
/// A house number, a street name and a street word (`12 Oak Street`,
/// `221B Baker St.`), or a street word first (`Rue de Rivoli 5`,
/// `Hauptstraße 5`).
static STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\d{1,5}[a-z]?,?\s+[\p{L}'. -]{2,40}\s(street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|terrace|close|crescent|square|sq|highway|hwy|parkway|pkwy)\.?(\s|,|$)|^(rue|avenue|via|calle|rua|chemin|boulevard)\s[\p{L}'. -]{2,40}\s?\d{0,5}|^[\p{L}-]{2,30}(stra(ss|ß)e|str\.|weg|gasse|platz|allee)\s\d{1,5}[a-z]?$",
    )
    .expect("valid regex")
});
/// Two decimal degrees, latitude first: `48.8566, 2.3522`, `(-33.86 151.21)`.
static GEO_POINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\(?\s*(-?\d{1,2}\.\d{3,})\s*[,; ]\s*(-?\d{1,3}\.\d{3,})\s*\)?$")
        .expect("valid regex")
});
/// Common licence plate layouts: UK `AB12 CDE`, French/Italian `AB-123-CD`,
/// German `B-AB 1234` / `M AB 123`, US-like `7ABC123` / `ABC-1234`.
static LICENSE_PLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Z]{2}\d{2}\s?[A-Z]{3}|[A-Z]{2}-\d{3}-[A-Z]{2}|[A-ZÄÖÜ]{1,3}[- ][A-Z]{1,2}\s?\d{1,4}|\d[A-Z]{3}\d{3}|[A-Z]{3}[- ]\d{3,4})$",
    )
    .expect("valid regex")
});
/// Last words that make a name a company's (`Acme Corp.`, `Globex GmbH`).
const COMPANY_WORDS: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "plc",
    "pty",
    "oy",
    "ab",
    "lp",
    "llp",
    "group",
    "holdings",
    "partners",
    "industries",
    "solutions",
    "systems",
    "technologies",
    "labs",
    "studio",
    "studios",
    "gbr",
    "ug",
    "kk",
];
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$").expect("valid regex"));

/// The kind of personal data a whole value is, judged by its shape alone:
/// emails, phone numbers, IBANs, card numbers (Luhn-valid), IP addresses.
pub fn by_value(value: &str) -> Option<Kind> {
    let v = value.trim();
    if v.is_empty() || v.len() > 320 {
        return None;
    }
    if EMAIL.is_match(v) {
        return Some(Kind::Email);
    }
    if is_card(v) {
        return Some(Kind::Card);
    }
    if is_iban(v) {
        return Some(Kind::Iban);
    }
    if is_ip(v) {
        return Some(Kind::Ip);
    }
    if is_phone(v) {
        return Some(Kind::Phone);
    }
    if is_geo_point(v) {
        return Some(Kind::GeoPoint);
    }
    if STREET.is_match(v) {
        return Some(Kind::Street);
    }
    if LICENSE_PLATE.is_match(v) {
        return Some(Kind::LicensePlate);
    }
    None
}

/// A latitude/longitude pair within range (|lat| <= 90, |long| <= 180).
pub fn is_geo_point(v: &str) -> bool {
    let Some(c) = GEO_POINT.captures(v) else {
        return false;
    };
    let lat: f64 = c[1].parse().unwrap_or(f64::NAN);
    let long: f64 = c[2].parse().unwrap_or(f64::NAN);
    lat.abs() <= 90.0 && long.abs() <= 180.0
}

/// A company's name rather than a person's: it ends in a legal form or a
/// word like `Group` (`Acme Corp.`, `Globex GmbH`, `Initech Holdings`).
pub fn is_company(v: &str) -> bool {
    let words: Vec<String> = v
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.trim_matches(|c: char| c == '.' || c == '&')
                .to_lowercase()
        })
        .collect();
    words.len() >= 2
        && words
            .last()
            .is_some_and(|w| COMPANY_WORDS.contains(&w.as_str()))
}

/// Every email address, phone number and (Luhn-valid) card number in
/// free text, with its kind, in the order found. A phone number inside an
/// email address or a card number is not counted again.
pub fn fragments(text: &str) -> Vec<(Kind, &str)> {
    let mut out: Vec<(Kind, std::ops::Range<usize>)> = Vec::new();
    let free = |out: &[(Kind, std::ops::Range<usize>)], r: &std::ops::Range<usize>| {
        out.iter()
            .all(|(_, o)| o.end <= r.start || r.end <= o.start)
    };
    for m in EMAIL_IN_TEXT.find_iter(text) {
        out.push((Kind::Email, m.range()));
    }
    for m in CARD_IN_TEXT.find_iter(text) {
        if is_card(m.as_str()) && free(&out, &m.range()) {
            out.push((Kind::Card, m.range()));
        }
    }
    for m in PHONE_IN_TEXT.find_iter(text) {
        let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
        if (7..=15).contains(&digits) && free(&out, &m.range()) {
            out.push((Kind::Phone, m.range()));
        }
    }
    out.sort_by_key(|(_, r)| r.start);
    out.into_iter().map(|(k, r)| (k, &text[r])).collect()
}

/// The top-level domain the tool's unique email fakes end in (RFC 6761:
/// it never resolves).
const RESERVED_TLD: &str = "invalid";

/// Domains reserved for examples (RFC 2606): the tool's email fakes use them.
const EXAMPLE_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

/// Whether `value`, an email address or phone number, is one that reaches
/// no one: an address at a domain reserved for examples or under a
/// reserved top-level domain (what the tool's email fakes write, old and
/// new shapes: `example.com/.net/.org` and `.invalid`), or a North American number in the 555-0100..0199 range
/// set aside for fiction. Such a value is never personal data.
pub fn is_reserved(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Email => {
            let Some((_, domain)) = value.rsplit_once('@') else {
                return false;
            };
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let tld = domain.rsplit('.').next().unwrap_or("");
            tld == RESERVED_TLD
                || EXAMPLE_DOMAINS
                    .iter()
                    .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        }
        Kind::Phone => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            let national = match digits.len() {
                11 if digits.starts_with('1') => &digits[1..],
                10 => &digits[..],
                _ => return false,
            };
            &national[3..6] == "555" && &national[6..8] == "01"
        }
        _ => false,
    }
}

/// 13 to 19 digits, optionally grouped by spaces or dashes, passing the
/// Luhn check.
pub fn is_card(v: &str) -> bool {
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let digits: Vec<u32> = v.chars().filter_map(|c| c.to_digit(10)).collect();
    (13..=19).contains(&digits.len()) && luhn(&digits)
}

/// The Luhn checksum used by payment card numbers.
pub fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An IBAN (spaces allowed) whose mod-97 check holds.
pub fn is_iban(v: &str) -> bool {
    let compact: String = v.chars().filter(|c| *c != ' ').collect();
    if !IBAN.is_match(&compact) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let n = c.to_digit(36).expect("checked by the regex");
        for d in n.to_string().chars() {
            rem = (rem * 10 + d.to_digit(10).expect("a digit")) % 97;
        }
    }
    rem == 1
}

/// An IPv4 or IPv6 address, with or without a `/prefix` (PostgreSQL's
/// `inet` text form).
pub fn is_ip(v: &str) -> bool {
    let addr = v.split('/').next().unwrap_or(v);
    // A bare dotted number with fewer than four parts ("1.5") is not an IP.
    addr.parse::<IpAddr>().is_ok() && (addr.contains(':') || addr.matches('.').count() == 3)
}

fn is_phone(v: &str) -> bool {
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || " ()+-./".contains(c))
    {
        return false;
    }
    match v.strip_prefix('+') {
        Some(rest) => !rest.contains('+'),
        None => PHONE_NATIONAL.is_match(v),
    }
}

/// Personal fields inside a JSON document: each path (`$.contact.email`,
/// `$.items[*].phone`) whose key name or string value looks personal, with
/// its kind. Paths come back sorted and without duplicates.
///
/// Keys are row data too (a map keyed by customer name), and no row data
/// may reach a rules file: a key is written as itself only when `schema_key`
/// says it is part of the documents' shape, else as the wildcard `*`.
pub fn json_paths(
    doc: &serde_json::Value,
    schema_key: &dyn Fn(&str) -> bool,
) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    walk(doc, "$", None, schema_key, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The object keys anywhere in `doc`, for counting how many documents of
/// a sample share each key.
pub fn json_keys<'d>(doc: &'d serde_json::Value, out: &mut std::collections::BTreeSet<&'d str>) {
    match doc {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                out.insert(k);
                json_keys(child, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| json_keys(i, out)),
        _ => {}
    }
}

/// Whether a key seen in `docs_with_key` of `docs` sampled documents is
/// part of their shape: a field name this module knows (`email`, `phone`),
/// or an identifier-like key that recurs across documents. A key met once
/// (`"Jane Doe"` in a map keyed by name) or with spaces is data.
pub fn is_schema_key(key: &str, docs_with_key: usize, docs: usize) -> bool {
    if by_name("person", key).is_some() {
        return true;
    }
    let identifier = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    identifier && docs_with_key >= 2 && docs_with_key * 10 >= docs
}

fn walk(
    v: &serde_json::Value,
    path: &str,
    key: Option<&str>,
    schema_key: &dyn Fn(&str) -> bool,
    out: &mut Vec<(String, Kind)>,
) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                // A key that is itself personal (a map keyed by email) or
                // otherwise data must not end up in a rules file: it is
                // matched by a wildcard.
                let p = if k.len() > 64 || by_value(k).is_some() || !schema_key(k) {
                    format!("{path}.*")
                } else if is_plain_key(k) {
                    format!("{path}.{k}")
                } else {
                    format!("{path}[{}]", serde_json::Value::String(k.clone()))
                };
                walk(child, &p, Some(k), schema_key, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                walk(item, &format!("{path}[*]"), key, schema_key, out);
            }
        }
        serde_json::Value::String(s) => {
            // Keys are judged as columns of a person table: in a document
            // about someone, `name` is their name.
            if let Some(kind) = key
                .and_then(|k| by_name("person", k))
                .or_else(|| by_value(s))
            {
                out.push((path.to_string(), kind));
            }
        }
        serde_json::Value::Number(_) => {
            if let Some(kind) = key.and_then(|k| by_name("person", k)) {
                out.push((path.to_string(), kind));
            }
        }
        _ => {}
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("billingEmail"), ["billing", "email"]);
        assert_eq!(words("Customer Email"), ["customer", "email"]);
        assert_eq!(words("first_name"), ["first", "name"]);
    }

    #[test]
    fn column_names_suggest_kinds() {
        let cases = [
            ("users", "email", Some(Kind::Email)),
            ("users", "contact_email_address", Some(Kind::Email)),
            ("users", "last_login_ip", Some(Kind::Ip)),
            ("users", "ip_address", Some(Kind::Ip)),
            ("users", "password_hash", Some(Kind::Secret)),
            ("users", "mobilePhone", Some(Kind::Phone)),
            ("users", "first_name", Some(Kind::FirstName)),
            ("users", "surname", Some(Kind::LastName)),
            ("users", "name", Some(Kind::FullName)),
            ("products", "name", None),
            ("customers", "full_name", Some(Kind::FullName)),
            ("users", "iban", Some(Kind::Iban)),
            ("payments", "card_number", Some(Kind::Card)),
            ("payments", "card_brand", None),
            ("users", "ssn", Some(Kind::NationalId)),
            ("users", "tax_id", Some(Kind::TaxId)),
            ("orders", "tax_amount", None),
            ("users", "birth_date", Some(Kind::BirthDate)),
            ("users", "dob", Some(Kind::BirthDate)),
            ("users", "street", Some(Kind::Street)),
            ("users", "billing_address", Some(Kind::Street)),
            ("devices", "mac_address", None),
            ("users", "city", Some(Kind::City)),
            ("users", "zip", Some(Kind::Zip)),
            ("users", "postal_code", Some(Kind::Zip)),
            ("orders", "status", None),
            ("orders", "created_at", None),
            ("orders", "id", None),
        ];
        for (table, column, want) in cases {
            assert_eq!(by_name(table, column), want, "{table}.{column}");
        }
    }

    #[test]
    fn values_are_recognised_by_shape() {
        assert_eq!(by_value("ada@example.org"), Some(Kind::Email));
        assert_eq!(by_value("+44 20 7946 0958"), Some(Kind::Phone));
        assert_eq!(by_value("(555) 010-0199"), Some(Kind::Phone));
        assert_eq!(by_value("030 1234567"), Some(Kind::Phone));
        assert_eq!(by_value("4111 1111 1111 1111"), Some(Kind::Card));
        assert_eq!(by_value("4111111111111112"), None, "fails Luhn");
        assert_eq!(by_value("GB82 WEST 1234 5698 7654 32"), Some(Kind::Iban));
        assert_eq!(by_value("GB82WEST12345698765433"), None, "fails mod 97");
        assert_eq!(by_value("192.168.10.4"), Some(Kind::Ip));
        assert_eq!(by_value("2001:db8::1/128"), Some(Kind::Ip));
        for not_personal in [
            "2024-01-01",
            "12345678",
            "1.5",
            "paid",
            "order 17",
            "3.14159",
            "",
        ] {
            assert_eq!(by_value(not_personal), None, "{not_personal}");
        }
    }

    #[test]
    fn addresses_places_plates_and_companies_are_recognised() {
        for street in [
            "12 Oak Street",
            "221B Baker St.",
            "4 Elm Rd, Springfield",
            "Hauptstraße 5",
            "Rue de Rivoli 99",
        ] {
            assert_eq!(by_value(street), Some(Kind::Street), "{street}");
        }
        for point in ["48.8566, 2.3522", "(-33.8688 151.2093)", "40.7128,-74.0060"] {
            assert_eq!(by_value(point), Some(Kind::GeoPoint), "{point}");
        }
        assert_eq!(by_value("95.1234, 2.3522"), None, "latitude out of range");
        for plate in ["AB12 CDE", "AB-123-CD", "B-XY 1234", "7ABC123", "ABC-1234"] {
            assert_eq!(by_value(plate), Some(Kind::LicensePlate), "{plate}");
        }
        for not in ["order 17", "paid", "Widget 3", "2024-01-01", "12 apples"] {
            assert_eq!(by_value(not), None, "{not}");
        }
        for company in [
            "Acme Corp.",
            "Globex GmbH",
            "Initech Holdings",
            "Smith & Sons Ltd",
        ] {
            assert!(is_company(company), "{company}");
        }
        for person in ["Ada Lovelace", "Corp", "Jane Co-Smith"] {
            assert!(!is_company(person), "{person}");
        }
    }

    #[test]
    fn text_is_scanned_for_embedded_values() {
        let kinds = |t: &str| fragments(t).into_iter().map(|f| f.0).collect::<Vec<_>>();
        assert_eq!(kinds("call me on +1 555 010 0199 tomorrow"), [Kind::Phone]);
        assert_eq!(kinds("mail ada@example.org pls"), [Kind::Email]);
        assert_eq!(kinds("card 4111-1111-1111-1111 expired"), [Kind::Card]);
        assert!(kinds("order 12345 shipped on 2024-01-01").is_empty());
        assert!(kinds("note; with 'quotes' and a tab\t7").is_empty());
    }

    #[test]
    fn fragments_are_found_with_their_kind() {
        let text = "mail ada@real.test or bob@corp.example.com, call +44 20 7946 0958 \
                    or (312) 555-0142; card 4111-1111-1111-1111, order 12345";
        let found = fragments(text);
        assert_eq!(
            found,
            vec![
                (Kind::Email, "ada@real.test"),
                (Kind::Email, "bob@corp.example.com"),
                (Kind::Phone, "+44 20 7946 0958"),
                (Kind::Phone, "(312) 555-0142"),
                (Kind::Card, "4111-1111-1111-1111"),
            ]
        );
        assert!(fragments("order 12345 shipped 2024-01-01").is_empty());
    }

    #[test]
    fn reserved_addresses_and_fictional_numbers_reach_no_one() {
        for own in [
            "destiney.heathcote@example.net",
            "a@example.com",
            "b@mail.example.org",
            "nqjf.qgffj12@hquoj.com.invalid",
        ] {
            assert!(is_reserved(Kind::Email, own), "{own}");
        }
        for real in [
            "ada@gmail.com",
            "a@example.co",
            "a@notexample.com",
            "p1@realmail.example",
        ] {
            assert!(!is_reserved(Kind::Email, real), "{real}");
        }
        assert!(is_reserved(Kind::Phone, "(312) 555-0142"));
        assert!(is_reserved(Kind::Phone, "+1 312 555 0199"));
        assert!(!is_reserved(Kind::Phone, "(312) 555-0200"));
        assert!(!is_reserved(Kind::Phone, "+44 20 7946 0958"));
    }

    #[test]
    fn json_documents_yield_personal_paths() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"contact": {"email": "a@b.example", "phone": "+1 555 010 0199"},
                "theme": "dark", "items": [{"name": "x", "note": "z@y.example"}],
                "odd key": "+44 20 7946 0958", "by_mail": {"k@k.example": "z@y.example"},
                "by_name": {"Jane Doe": {"phone": "+1 555 010 0100"}}}"#,
        )
        .unwrap();
        let paths: Vec<(String, Kind)> = json_paths(&doc, &|k| k != "Jane Doe");
        assert_eq!(
            paths,
            vec![
                ("$.by_mail.*".to_string(), Kind::Email),
                ("$.by_name.*.phone".to_string(), Kind::Phone),
                ("$.contact.email".to_string(), Kind::Email),
                ("$.contact.phone".to_string(), Kind::Phone),
                ("$.items[*].name".to_string(), Kind::FullName),
                ("$.items[*].note".to_string(), Kind::Email),
                ("$[\"odd key\"]".to_string(), Kind::Phone),
            ]
        );
    }

    #[test]
    fn only_recurring_identifier_keys_are_schema() {
        assert!(is_schema_key("email", 1, 100), "a known field name");
        assert!(is_schema_key("billing", 40, 100));
        assert!(is_schema_key("shipTo-2", 2, 20));
        assert!(!is_schema_key("billing", 1, 100), "met once");
        assert!(!is_schema_key("billing", 2, 100), "rare");
        assert!(!is_schema_key("Jane Doe", 50, 100), "spaces");
        assert!(!is_schema_key("Zoë", 50, 100), "not ASCII");
    }
}
