//! `fake`: a plausible value of a kind (`{ fake: first_name }`), drawn
//! deterministically from the input, in the rule's or the rules' `locale`.
//!
//! Two families:
//! - unique-capable kinds (`email`, `username`, `phone_number`, and
//!   `uuid` for uuid values) encrypt the value with a keyed permutation of
//!   its own format (see `keyed`): different inputs never collide, with or
//!   without `unique: true` (which only asserts it), so a column faked with
//!   `unique: true` still joins with one faked without it;
//! - every other kind picks from the fake crate's locale data with a
//!   ChaCha20 generator seeded from `HMAC(secret, namespace ‖ value)`.
//!   Those are lossy: two people may both become "Maria".

use std::fmt::Write as _;

use fake::faker::{
    address, company, creditcard, currency, finance, internet, job, lorem, name, phone_number,
};
use fake::Fake;
use rand::RngExt;
use rand_chacha::ChaCha20Rng;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::datetime;
use super::keyed::{Prf, TextCipher};
use super::{
    BuildContext, Key, RowView, Transform, TransformOptions, Uniqueness, ValueError, Written,
};
use crate::catalog::TypeKind;

/// `{ fake: KIND }` or `{ fake: { kind: KIND, ...options } }`
///
/// Kinds: first_name, last_name, name, name_with_title, email, safe_email,
/// username, password, phone_number, cell_number, street_address,
/// secondary_address, building_number, street_name, city, state,
/// state_abbr, zip, postcode, country, country_code, latitude, longitude,
/// time_zone, company, industry, job_title, ipv4, ipv6, mac_address, url,
/// domain, user_agent, uuid, iban, license_plate, bic, credit_card, currency_code, word,
/// words, sentence, paragraph, date, date_of_birth.
///
/// Options: `keep_domain: true` (email: keep the input's domain), `min`,
/// `max` (date: `YYYY-MM-DD` bounds, default 1970-01-01 to 2030-12-31),
/// `min_age`, `max_age` (date_of_birth: ages on 2025-01-01, default 18
/// to 90).
///
/// email, username and phone_number are collision-free by construction
/// (format-preserving encryption of the value itself: same length, letters
/// stay letters, digits stay digits, punctuation kept); uuid permutes uuids
/// and gives other text 122 bits of HMAC (collision-free); the other kinds
/// are lossy.
#[derive(Debug, Clone)]
pub struct Options {
    kind: Kind,
    keep_domain: bool,
    min: Option<(String, i64)>,
    max: Option<(String, i64)>,
    min_age: Option<u32>,
    max_age: Option<u32>,
}

macro_rules! kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// What `fake` makes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind { $($variant,)* }

        /// Every kind with its YAML name (the docs test reads this).
        pub const KINDS: &[(&str, Kind)] = &[$(($name, Kind::$variant),)*];
    };
}

kinds! {
    FirstName => "first_name",
    LastName => "last_name",
    Name => "name",
    NameWithTitle => "name_with_title",
    Email => "email",
    SafeEmail => "safe_email",
    Username => "username",
    Password => "password",
    PhoneNumber => "phone_number",
    CellNumber => "cell_number",
    StreetAddress => "street_address",
    SecondaryAddress => "secondary_address",
    BuildingNumber => "building_number",
    StreetName => "street_name",
    City => "city",
    State => "state",
    StateAbbr => "state_abbr",
    Zip => "zip",
    Postcode => "postcode",
    Country => "country",
    CountryCode => "country_code",
    Latitude => "latitude",
    Longitude => "longitude",
    TimeZone => "time_zone",
    Company => "company",
    Industry => "industry",
    JobTitle => "job_title",
    Ipv4 => "ipv4",
    Ipv6 => "ipv6",
    MacAddress => "mac_address",
    Url => "url",
    Domain => "domain",
    UserAgent => "user_agent",
    Uuid => "uuid",
    Iban => "iban",
    LicensePlate => "license_plate",
    Bic => "bic",
    CreditCard => "credit_card",
    CurrencyCode => "currency_code",
    Word => "word",
    Words => "words",
    Sentence => "sentence",
    Paragraph => "paragraph",
    Date => "date",
    DateOfBirth => "date_of_birth",
}

impl Kind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every kind is listed")
    }

    fn parse(s: &str) -> Result<Kind, String> {
        KINDS
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                let mut msg = format!("unknown fake kind `{s}`");
                if let Some(x) = super::suggest(s, &names) {
                    let _ = write!(msg, " (did you mean `{x}`?)");
                }
                let _ = write!(msg, "; kinds: {}", names.join(", "));
                msg
            })
    }

    /// About how many outputs the kind draws from, for `verify`. Counts are
    /// rough (the locale data of the fake crate); what matters is their
    /// order of magnitude.
    fn output_space(self) -> super::OutputSpace {
        use super::OutputSpace::{Dense, Shape, Values};
        match self {
            Kind::Username => Shape {
                radix: 26.0,
                kept: 0,
            },
            // `+` and a country code of up to three digits stay.
            Kind::PhoneNumber => Shape {
                radix: 10.0,
                kept: 4,
            },
            Kind::FirstName => Values(3_000.0),
            Kind::LastName => Values(400.0),
            Kind::State | Kind::StateAbbr => Values(50.0),
            Kind::Country | Kind::CountryCode | Kind::CurrencyCode => Values(200.0),
            Kind::TimeZone | Kind::Industry | Kind::UserAgent | Kind::Word => Values(100.0),
            Kind::City | Kind::JobTitle => Values(1_000.0),
            Kind::BuildingNumber | Kind::StreetName | Kind::SecondaryAddress => Values(10_000.0),
            Kind::Company | Kind::Domain | Kind::Url | Kind::Bic => Values(10_000.0),
            Kind::Zip | Kind::Postcode => Values(100_000.0),
            Kind::LicensePlate => Values(super::license_plate::OUTPUTS),
            Kind::Date | Kind::DateOfBirth => Dense,
            Kind::Name | Kind::NameWithTitle => Values(1e6),
            Kind::StreetAddress | Kind::CellNumber | Kind::Words => Values(1e7),
            _ => Values(f64::INFINITY),
        }
    }

    /// What the kind promises about equal outputs: the format-preserving
    /// kinds are bijections; `uuid` permutes uuids but turns other text into
    /// 122 bits of HMAC, so only collision-free is true of it in general.
    fn uniqueness(self) -> Uniqueness {
        match self {
            Kind::Email | Kind::Username | Kind::PhoneNumber => Uniqueness::Injective,
            Kind::Uuid => Uniqueness::CollisionFree,
            _ => Uniqueness::Lossy,
        }
    }
}

/// Locales of the fake crate, by the name users write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locale {
    En,
    FrFr,
    DeDe,
    ItIt,
    PtBr,
    PtPt,
    JaJp,
    ZhCn,
    ZhTw,
    ArSa,
    CyGb,
    FaIr,
    NlNl,
    TrTr,
}

const LOCALES: &[(&str, Locale)] = &[
    ("en", Locale::En),
    ("fr_fr", Locale::FrFr),
    ("de_de", Locale::DeDe),
    ("it_it", Locale::ItIt),
    ("pt_br", Locale::PtBr),
    ("pt_pt", Locale::PtPt),
    ("ja_jp", Locale::JaJp),
    ("zh_cn", Locale::ZhCn),
    ("zh_tw", Locale::ZhTw),
    ("ar_sa", Locale::ArSa),
    ("cy_gb", Locale::CyGb),
    ("fa_ir", Locale::FaIr),
    ("nl_nl", Locale::NlNl),
    ("tr_tr", Locale::TrTr),
];

impl Locale {
    /// The name users write (`fr_fr`).
    fn name(self) -> &'static str {
        LOCALES
            .iter()
            .find(|(_, l)| *l == self)
            .map(|(n, _)| *n)
            .expect("every locale is listed")
    }

    /// `fr_FR`, `fr-fr` and `fr_fr` are the same locale; `en_US` is `en`.
    fn parse(s: &str) -> Result<Locale, String> {
        let norm = s.to_ascii_lowercase().replace('-', "_");
        let norm = if norm == "en_us" || norm == "en_gb" {
            "en".to_string()
        } else {
            norm
        };
        LOCALES
            .iter()
            .find(|(n, _)| *n == norm)
            .map(|(_, l)| *l)
            .ok_or_else(|| {
                let names: Vec<&str> = LOCALES.iter().map(|(n, _)| *n).collect();
                format!("unknown locale `{s}`; locales: {}", names.join(", "))
            })
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OptionsVisitor)
    }
}

struct OptionsVisitor;

impl OptionsVisitor {
    fn plain(kind: Kind) -> Options {
        Options {
            kind,
            keep_domain: false,
            min: None,
            max: None,
            min_age: None,
            max_age: None,
        }
    }
}

impl<'de> Visitor<'de> for OptionsVisitor {
    type Value = Options;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a fake kind such as `email`, or a map such as `{ kind: email, keep_domain: true }`",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Options, E> {
        Kind::parse(v).map(Self::plain).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Options, A::Error> {
        let mut kind = None;
        let mut o = Self::plain(Kind::Word);
        let mut given: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "kind" => kind = Some(Kind::parse(&map.next_value::<String>()?).map_err(de::Error::custom)?),
                "keep_domain" => o.keep_domain = map.next_value()?,
                "min" | "max" => {
                    let text: String = map.next_value()?;
                    let days = datetime::parse_date(&text)
                        .ok_or_else(|| de::Error::custom(format!("`{key}` must be a date such as 2000-01-31")))?;
                    if key == "min" {
                        o.min = Some((text, days));
                    } else {
                        o.max = Some((text, days));
                    }
                }
                "min_age" => o.min_age = Some(map.next_value()?),
                "max_age" => o.max_age = Some(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown fake option `{other}`; options: kind, keep_domain (email), min and max (date), min_age and max_age (date_of_birth)"
                    )))
                }
            }
            given.push(key);
        }
        let kind = kind.ok_or_else(|| {
            de::Error::custom("a fake map needs `kind`, e.g. `{ kind: email, keep_domain: true }`")
        })?;
        o.kind = kind;
        let allowed: &[&str] = match kind {
            Kind::Email => &["kind", "keep_domain"],
            Kind::Date => &["kind", "min", "max"],
            Kind::DateOfBirth => &["kind", "min_age", "max_age"],
            _ => &["kind"],
        };
        if let Some(bad) = given.iter().find(|k| !allowed.contains(&k.as_str())) {
            return Err(de::Error::custom(format!(
                "fake option `{bad}` does not apply to kind `{}`",
                kind.name()
            )));
        }
        if let (Some((_, a)), Some((_, b))) = (&o.min, &o.max) {
            if a > b {
                return Err(de::Error::custom("fake date: `min` is after `max`"));
            }
        }
        if o.min_age.unwrap_or(DEFAULT_MIN_AGE) > o.max_age.unwrap_or(DEFAULT_MAX_AGE) {
            return Err(de::Error::custom(
                "fake date_of_birth: `min_age` is above `max_age`",
            ));
        }
        Ok(o)
    }
}

const DEFAULT_MIN_AGE: u32 = 18;
const DEFAULT_MAX_AGE: u32 = 90;
/// Ages are counted on this fixed day, not today: outputs must not change
/// from one run to the next.
const AGE_REFERENCE: (i64, u32, u32) = (2025, 1, 1);

impl Options {
    /// The default namespace: the kind and its options, stable forever.
    fn default_namespace(&self) -> String {
        let mut ns = format!("fake:{}", self.kind.name());
        match self.kind {
            Kind::Email if self.keep_domain => ns.push_str(":keep_domain"),
            Kind::Date => {
                let (min, max) = self.date_range();
                let _ = write!(ns, ":{min}:{max}");
            }
            Kind::DateOfBirth => {
                let _ = write!(
                    ns,
                    ":{}:{}",
                    self.min_age.unwrap_or(DEFAULT_MIN_AGE),
                    self.max_age.unwrap_or(DEFAULT_MAX_AGE)
                );
            }
            _ => {}
        }
        ns
    }

    /// Inclusive day range of `date` and `date_of_birth`.
    fn date_range(&self) -> (i64, i64) {
        match self.kind {
            Kind::DateOfBirth => {
                let (y, m, d) = AGE_REFERENCE;
                let min_age = i64::from(self.min_age.unwrap_or(DEFAULT_MIN_AGE));
                let max_age = i64::from(self.max_age.unwrap_or(DEFAULT_MAX_AGE));
                // Born after (ref - max_age - 1 years) and on or before (ref - min_age years).
                let oldest = datetime::days_from_civil(y - max_age - 1, m, d) + 1;
                let youngest = datetime::days_from_civil(y - min_age, m, d);
                (oldest, youngest)
            }
            _ => (
                self.min.as_ref().map_or(0, |(_, d)| *d),
                self.max
                    .as_ref()
                    .map_or(datetime::days_from_civil(2030, 12, 31), |(_, d)| *d),
            ),
        }
    }

    /// Column kinds this fake kind can produce, and their description.
    fn produces(&self) -> (&'static [TypeKind], &'static str) {
        use TypeKind as T;
        match self.kind {
            Kind::Uuid => (&[T::Uuid, T::Text], "uuid or text"),
            Kind::Ipv4 | Kind::Ipv6 => (&[T::Inet, T::Text], "inet or text"),
            Kind::MacAddress => (&[T::MacAddr, T::Text], "macaddr or text"),
            Kind::Latitude | Kind::Longitude => {
                (&[T::Numeric, T::Float, T::Text], "numeric, float or text")
            }
            Kind::Date | Kind::DateOfBirth => (
                &[T::Date, T::Timestamp, T::TimestampTz, T::Text],
                "date, timestamp, timestamptz or text",
            ),
            _ => (&[T::Text], "text"),
        }
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        let transform = format!("fake: {}", self.kind.name());
        let (kinds, can_produce) = self.produces();
        if !ctx.is_fragment() {
            ctx.require(&transform, kinds, can_produce)?;
        }
        let locale = Locale::parse(ctx.locale)
            .map_err(|e| format!("column {}.{}: {e}", ctx.table, ctx.column.name))?;
        let namespace = ctx.namespace(&self.default_namespace());
        let column_kind = if ctx.is_fragment() {
            TypeKind::Text
        } else {
            ctx.column.kind
        };
        let t: Box<dyn Transform> = match self.kind {
            // Without `unique: true` (or `keep_domain`), an address a person
            // might have, at a reserved domain.
            Kind::Email if !ctx.unique && !self.keep_domain => Box::new(PersonEmail {
                key: ctx.key.clone(),
                namespace,
            }),
            Kind::Email => {
                let prf = Prf::derive(ctx.key, &namespace);
                Box::new(Email {
                    cipher: TextCipher::new(prf),
                    prf,
                    id: prf.id(),
                    keep_domain: self.keep_domain,
                })
            }
            Kind::Username => Box::new(Username {
                cipher: TextCipher::new(Prf::derive(ctx.key, &namespace)),
            }),
            Kind::PhoneNumber => Box::new(Phone {
                cipher: TextCipher::new(Prf::derive(ctx.key, &namespace)),
            }),
            Kind::Uuid => Box::new(FakeUuid {
                prf: Prf::derive(ctx.key, &namespace),
                key: ctx.key.clone(),
                namespace,
            }),
            Kind::Latitude | Kind::Longitude => {
                let int_digits = if self.kind == Kind::Latitude { 2 } else { 3 };
                let scale = match column_kind {
                    TypeKind::Numeric => ctx.column.numeric_scale.unwrap_or(6).min(6),
                    _ => 6,
                };
                if let (TypeKind::Numeric, Some(p)) = (column_kind, ctx.column.numeric_precision) {
                    let s = ctx.column.numeric_scale.unwrap_or(0);
                    if p.saturating_sub(s) < int_digits {
                        return Err(format!(
                            "`{transform}` needs {int_digits} digits before the point, column {}.{} ({}) has {}",
                            ctx.table,
                            ctx.column.name,
                            ctx.column.type_name,
                            p.saturating_sub(s)
                        ));
                    }
                }
                Box::new(Generated {
                    key: ctx.key.clone(),
                    namespace,
                    kind: self.kind,
                    locale,
                    column: column_kind,
                    scale,
                    range: (0, 0),
                    mac8: false,
                })
            }
            _ => Box::new(Generated {
                key: ctx.key.clone(),
                namespace,
                kind: self.kind,
                locale,
                column: column_kind,
                scale: 6,
                range: self.date_range(),
                mac8: ctx.column.base_type == "macaddr8",
            }),
        };
        Ok(ctx.finish(t, self.uniqueness()))
    }

    fn max_length(&self, unique: bool) -> super::MaxLength {
        use super::MaxLength::{Fixed, InputPlus, Unbounded};
        match self.kind {
            // The person-like form: the longest names, a dot, two digits,
            // `@` and the longest reserved domain.
            Kind::Email if !unique && !self.keep_domain => Fixed(person_email_max_length()),
            Kind::Email if self.keep_domain => InputPlus(0),
            // The encrypted domain gets `.invalid`.
            Kind::Email => InputPlus(RESERVED_SUFFIX.len()),
            // Format-preserving: the input's own length.
            Kind::Username | Kind::PhoneNumber => InputPlus(0),
            Kind::Uuid => Fixed(36),
            Kind::CountryCode | Kind::StateAbbr => Fixed(2),
            Kind::CurrencyCode => Fixed(3),
            Kind::Ipv4 => Fixed(15),
            Kind::Ipv6 => Fixed(39),
            Kind::MacAddress => Fixed(23),
            Kind::Date | Kind::DateOfBirth => Fixed(10),
            // Drawn from the fake crate's word lists.
            _ => Unbounded,
        }
    }

    fn output_space(&self) -> super::OutputSpace {
        self.kind.output_space()
    }

    fn describe(&self) -> String {
        let mut s = format!("fake({}", self.kind.name());
        if self.keep_domain {
            s.push_str(", keep_domain");
        }
        if let Some((m, _)) = &self.min {
            let _ = write!(s, ", min={m}");
        }
        if let Some((m, _)) = &self.max {
            let _ = write!(s, ", max={m}");
        }
        if let Some(a) = self.min_age {
            let _ = write!(s, ", min_age={a}");
        }
        if let Some(a) = self.max_age {
            let _ = write!(s, ", max_age={a}");
        }
        s.push(')');
        s
    }

    fn uniqueness(&self) -> Uniqueness {
        self.kind.uniqueness()
    }
}

/// `fake: email`: the local part encrypted under the (lower-cased) domain,
/// the domain's labels encrypted but its last one (the TLD) kept, or the
/// whole domain kept with `keep_domain`. Split at the last `@`; a value
/// without one is encrypted whole and stays without one. Each part is a
/// bijection given the other's plaintext, and the domain part is one on
/// its own, so the whole map is one.
struct Email {
    cipher: TextCipher,
    prf: Prf,
    /// `prf.id()`, for the domain cache.
    id: u64,
    keep_domain: bool,
}

/// Tweaks separating the parts of an email (and the no-domain case).
const TWEAK_NO_DOMAIN: u64 = 0x6e6f_2d64_6f6d;
const TWEAK_DOMAIN: u64 = 0x646f_6d61_696e;

impl Transform for Email {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let Some(at) = memchr::memrchr(b'@', input) else {
            self.cipher.encrypt(TWEAK_NO_DOMAIN, input, &|_| false, out);
            return Ok(Written::Value);
        };
        let (local, domain) = (&input[..at], &input[at + 1..]);
        let mut lower = [0u8; 64];
        let domain_tweak = if domain.len() <= lower.len() {
            let l = &mut lower[..domain.len()];
            l.copy_from_slice(domain);
            l.make_ascii_lowercase();
            self.prf.bytes(l)
        } else {
            self.prf.bytes(&domain.to_ascii_lowercase())
        };
        self.cipher.encrypt(domain_tweak, local, &|_| false, out);
        out.push(b'@');
        if self.keep_domain {
            out.extend_from_slice(domain);
        } else {
            // The encrypted domain keeps the addresses apart (the map stays
            // a bijection); `.invalid` (RFC 6761) makes sure no mail server
            // anywhere accepts them.
            self.encrypt_domain(domain_tweak, domain, out);
            out.extend_from_slice(RESERVED_SUFFIX);
        }
        Ok(Written::Value)
    }
}

/// Appended to every encrypted email domain: a top-level domain reserved so
/// that it never resolves.
const RESERVED_SUFFIX: &[u8] = b".invalid";

/// Domains reserved for examples (RFC 2606): no one can own them, so mail
/// sent to them reaches no one.
const EXAMPLE_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

/// `fake: email` without `unique: true`: an address a person might have
/// (`destiney.heathcote@example.net`), drawn from English first and last
/// names, at a reserved domain. Lossy: two people may get the same one.
/// The seed is the address in ASCII lower case, so `JOHN@X.COM` and
/// `john@x.com` get the same fake.
struct PersonEmail {
    key: Key,
    namespace: Vec<u8>,
}

impl Transform for PersonEmail {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        use fake::locales::Data;
        let mut rng = self.key.rng(&self.namespace, &input.to_ascii_lowercase());
        let pick = |rng: &mut ChaCha20Rng, names: &[&str], out: &mut Vec<u8>| {
            let name = names[rng.random_range(0..names.len())];
            out.extend(
                name.bytes()
                    .filter(u8::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase()),
            );
        };
        let first = <fake::locales::EN as Data>::NAME_FIRST_NAME;
        let last = <fake::locales::EN as Data>::NAME_LAST_NAME;
        match rng.random_range(0..10u32) {
            // first.last, the common case
            0..=4 => {
                pick(&mut rng, first, out);
                out.push(b'.');
                pick(&mut rng, last, out);
            }
            // first_last
            5 => {
                pick(&mut rng, first, out);
                out.push(b'_');
                pick(&mut rng, last, out);
            }
            // firstlast
            6 => {
                pick(&mut rng, first, out);
                pick(&mut rng, last, out);
            }
            // first.last and two digits
            7 | 8 => {
                pick(&mut rng, first, out);
                out.push(b'.');
                pick(&mut rng, last, out);
                let _ = write!(ByteWriter(out), "{:02}", rng.random_range(0..100u32));
            }
            // initial and last name
            _ => {
                let start = out.len();
                pick(&mut rng, first, out);
                out.truncate(start + 1);
                pick(&mut rng, last, out);
            }
        }
        out.push(b'@');
        out.extend_from_slice(
            EXAMPLE_DOMAINS[rng.random_range(0..EXAMPLE_DOMAINS.len())].as_bytes(),
        );
        Ok(Written::Value)
    }
}

/// The longest address `PersonEmail` writes, in characters.
fn person_email_max_length() -> usize {
    use fake::locales::Data;
    let longest = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.chars().filter(char::is_ascii_alphanumeric).count())
            .max()
            .unwrap_or(0)
    };
    let first = longest(<fake::locales::EN as Data>::NAME_FIRST_NAME);
    let last = longest(<fake::locales::EN as Data>::NAME_LAST_NAME);
    let domain = EXAMPLE_DOMAINS.iter().map(|d| d.len()).max().unwrap_or(0);
    first + 1 + last + 2 + 1 + domain
}

/// `write!` into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Recently encrypted domains, per worker thread: a handful of domains
/// (gmail.com, ...) make up most addresses, and encrypting one costs as
/// much as the local part. Slots are picked by the domain's keyed hash;
/// an entry holds the transform's id so two rules never share one.
struct DomainSlot {
    owner: u64,
    domain: Vec<u8>,
    encrypted: Vec<u8>,
}

const DOMAIN_SLOTS: usize = 64;

thread_local! {
    static DOMAINS: std::cell::RefCell<Vec<Option<DomainSlot>>> =
        std::cell::RefCell::new((0..DOMAIN_SLOTS).map(|_| None).collect());
}

impl Email {
    fn encrypt_domain(&self, hash: u64, domain: &[u8], out: &mut Vec<u8>) {
        let slot = (hash % DOMAIN_SLOTS as u64) as usize;
        let hit = DOMAINS.with(|d| match &d.borrow()[slot] {
            Some(e) if e.owner == self.id && e.domain == domain => {
                out.extend_from_slice(&e.encrypted);
                true
            }
            _ => false,
        });
        if hit {
            return;
        }
        let start = out.len();
        self.encrypt_domain_uncached(domain, out);
        if domain.len() <= 253 {
            let entry = DomainSlot {
                owner: self.id,
                domain: domain.to_vec(),
                encrypted: out[start..].to_vec(),
            };
            DOMAINS.with(|d| d.borrow_mut()[slot] = Some(entry));
        }
    }

    /// The domain's labels encrypted, the top-level one (from the last
    /// dot) kept.
    fn encrypt_domain_uncached(&self, domain: &[u8], out: &mut Vec<u8>) {
        let tld_start = match std::str::from_utf8(domain) {
            Ok(s) => s.rfind('.').map(|i| s[..i].chars().count()),
            Err(_) => memchr::memrchr(b'.', domain),
        }
        .unwrap_or(usize::MAX);
        self.cipher
            .encrypt(TWEAK_DOMAIN, domain, &|i| i >= tld_start, out);
    }
}

/// `fake: username`: the value encrypted with its format kept.
struct Username {
    cipher: TextCipher,
}

impl Transform for Username {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        self.cipher.encrypt(0, input, &|_| false, out);
        Ok(Written::Value)
    }
}

/// `fake: phone_number`: the digits (and any letters) encrypted in place,
/// the layout kept; a leading `+` country code of up to three digits
/// followed by a separator stays, so numbers keep their country.
struct Phone {
    cipher: TextCipher,
}

/// How many leading units of a phone number are kept: `+` and the country
/// code when it is set off (`+1-`, `+44 `, `+351 `).
fn country_code_units(input: &[u8]) -> usize {
    if input.first() != Some(&b'+') {
        return 0;
    }
    let digits = input[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let sep = input.get(1 + digits);
    if (1..=3).contains(&digits) && sep.is_some_and(|c| !c.is_ascii_digit()) {
        1 + digits
    } else {
        1
    }
}

impl Transform for Phone {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        // The kept prefix is ASCII, so byte and char positions agree there.
        let kept = country_code_units(input);
        self.cipher.encrypt(0, input, &|i| i < kept, out);
        Ok(Written::Value)
    }
}

/// `fake: uuid`: a uuid input is permuted (version and variant kept); any
/// other text becomes a v4 uuid from its HMAC.
struct FakeUuid {
    prf: Prf,
    key: Key,
    namespace: Vec<u8>,
}

impl Transform for FakeUuid {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let u = match super::hash::parse_uuid(input) {
            Some(u) => super::hash::permute_uuid(&self.prf, u),
            None => {
                let d = self.key.digest(&self.namespace, input);
                let v = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
                (v & !((0xf << 76) | (0b11 << 62))) | (0x4 << 76) | (0b10 << 62)
            }
        };
        super::hash::write_uuid(u, out);
        Ok(Written::Value)
    }
}

/// The lossy kinds: drawn from a generator seeded by the value's HMAC.
struct Generated {
    key: Key,
    namespace: Vec<u8>,
    kind: Kind,
    locale: Locale,
    /// Kind of the column, for the output's form (dates, numbers).
    column: TypeKind,
    /// Decimals of latitude and longitude.
    scale: u32,
    /// Inclusive day range of dates.
    range: (i64, i64),
    mac8: bool,
}

impl Transform for Generated {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let mut rng = self.key.rng(&self.namespace, input);
        let mut s = String::new();
        match self.kind {
            Kind::Latitude | Kind::Longitude => {
                let bound = if self.kind == Kind::Latitude { 90 } else { 180 };
                let unit = 10i64.pow(self.scale);
                let v = rng.random_range(-bound * unit..=bound * unit);
                let _ = write!(s, "{}{}", if v < 0 { "-" } else { "" }, v.abs() / unit);
                if self.scale > 0 {
                    let _ = write!(s, ".{:0w$}", v.abs() % unit, w = self.scale as usize);
                }
            }
            Kind::Date | Kind::DateOfBirth => {
                let day = rng.random_range(self.range.0..=self.range.1);
                datetime::write_date(day, &mut s);
                match self.column {
                    TypeKind::Timestamp | TypeKind::TimestampTz => {
                        let micros = rng.random_range(0..86_400i64) * 1_000_000;
                        s.clear();
                        datetime::write_timestamp(
                            day * datetime::DAY_MICROS + micros,
                            if self.column == TypeKind::TimestampTz {
                                "+00"
                            } else {
                                ""
                            },
                            &mut s,
                        );
                    }
                    _ => {}
                }
            }
            Kind::MacAddress => {
                let n = if self.mac8 { 8 } else { 6 };
                for i in 0..n {
                    if i > 0 {
                        s.push(':');
                    }
                    let _ = write!(s, "{:02x}", rng.random::<u8>());
                }
            }
            Kind::Ipv6 => {
                for i in 0..8 {
                    if i > 0 {
                        s.push(':');
                    }
                    let _ = write!(s, "{:x}", rng.random::<u16>());
                }
            }
            Kind::Ipv4 => {
                let b: [u8; 4] = rng.random();
                let _ = write!(s, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
            }
            Kind::Domain => domain(&mut rng, &mut s),
            Kind::Url => {
                s.push_str("https://www.");
                domain(&mut rng, &mut s);
                s.push('/');
                s.push_str(lorem::raw::Word(fake::locales::EN).fake_with_rng::<&str, _>(&mut rng));
            }
            Kind::Iban => iban(self.locale, &mut rng, &mut s),
            Kind::LicensePlate => super::license_plate::write(self.locale.name(), &mut rng, &mut s),
            Kind::Password => {
                let len = rng.random_range(10..=16);
                for _ in 0..len {
                    s.push(PASSWORD_CHARS[rng.random_range(0..PASSWORD_CHARS.len())] as char);
                }
                // A password is never the input, whatever the odds.
                if s.as_bytes() == input {
                    s.push('!');
                }
            }
            _ => generate(self.locale, self.kind, &mut rng, &mut s),
        }
        out.extend_from_slice(s.as_bytes());
        Ok(Written::Value)
    }
}

const PASSWORD_CHARS: &[u8] =
    b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%*+-=?@_";

/// A domain from English last names: ASCII whatever the locale, as most
/// real domains are.
fn domain(rng: &mut ChaCha20Rng, s: &mut String) {
    use fake::locales::Data;
    let names = <fake::locales::EN as Data>::NAME_LAST_NAME;
    let name = names[rng.random_range(0..names.len())];
    s.extend(
        name.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase()),
    );
    let suffixes = <fake::locales::EN as Data>::INTERNET_DOMAIN_SUFFIX;
    s.push('.');
    s.push_str(suffixes[rng.random_range(0..suffixes.len())]);
}

/// An IBAN with valid check digits (ISO 13616) for the locale's country:
/// `A` an upper-case letter, `9` a digit in the BBAN pattern.
fn iban(locale: Locale, rng: &mut ChaCha20Rng, s: &mut String) {
    let (country, pattern) = match locale {
        Locale::FrFr => ("FR", "99999999999999999999999"),
        Locale::DeDe => ("DE", "999999999999999999"),
        Locale::ItIt => ("IT", "A9999999999999999999999"),
        Locale::PtBr => ("BR", "9999999999999999999999AA"),
        Locale::PtPt => ("PT", "999999999999999999999"),
        Locale::NlNl => ("NL", "AAAA9999999999"),
        Locale::TrTr => ("TR", "999999999999999999999999"),
        Locale::ArSa => ("SA", "999999999999999999999"),
        Locale::FaIr => ("IR", "9999999999999999999999"),
        _ => ("GB", "AAAA99999999999999"),
    };
    let bban: String = pattern
        .bytes()
        .map(|p| {
            if p == b'A' {
                (b'A' + rng.random_range(0..26u8)) as char
            } else {
                (b'0' + rng.random_range(0..10u8)) as char
            }
        })
        .collect();
    // Check digits: 98 - (BBAN ‖ country ‖ "00", letters as 10..35) mod 97.
    let mut rem = 0u32;
    for c in bban.chars().chain(country.chars()).chain("00".chars()) {
        let v = c.to_digit(36).expect("alphanumeric");
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    let _ = write!(s, "{country}{:02}{bban}", 98 - rem);
}

/// The street address layout of each locale.
fn street_address_layout(locale: Locale) -> &'static str {
    match locale {
        Locale::DeDe | Locale::NlNl => "{street} {number}",
        Locale::ItIt | Locale::PtBr | Locale::PtPt | Locale::TrTr => "{street}, {number}",
        Locale::ZhCn | Locale::ZhTw => "{street}{number}号",
        _ => "{number} {street}",
    }
}

/// One generator per locale: the fake crate's fakers are generic over the
/// locale type, so each locale gets its own monomorphic copy.
macro_rules! locale_generator {
    ($fn_name:ident, $L:ident) => {
        fn $fn_name(locale: Locale, kind: Kind, rng: &mut ChaCha20Rng, s: &mut String) {
            use fake::locales::$L as L;
            match kind {
                Kind::FirstName => {
                    s.push_str(name::raw::FirstName(L).fake_with_rng::<&str, _>(rng))
                }
                Kind::LastName => s.push_str(name::raw::LastName(L).fake_with_rng::<&str, _>(rng)),
                Kind::Name => s.push_str(&name::raw::Name(L).fake_with_rng::<String, _>(rng)),
                Kind::NameWithTitle => {
                    s.push_str(&name::raw::NameWithTitle(L).fake_with_rng::<String, _>(rng))
                }
                Kind::SafeEmail => {
                    s.push_str(&internet::raw::SafeEmail(L).fake_with_rng::<String, _>(rng))
                }
                Kind::CellNumber => {
                    s.push_str(&phone_number::raw::CellNumber(L).fake_with_rng::<String, _>(rng))
                }
                Kind::StreetAddress => {
                    let number: String = address::raw::BuildingNumber(L).fake_with_rng(rng);
                    let street: String = address::raw::StreetName(L).fake_with_rng(rng);
                    let layout = street_address_layout(locale);
                    s.push_str(
                        &layout
                            .replace("{number}", &number)
                            .replace("{street}", &street),
                    );
                }
                Kind::SecondaryAddress => {
                    s.push_str(&address::raw::SecondaryAddress(L).fake_with_rng::<String, _>(rng))
                }
                Kind::BuildingNumber => {
                    s.push_str(&address::raw::BuildingNumber(L).fake_with_rng::<String, _>(rng))
                }
                Kind::StreetName => {
                    s.push_str(&address::raw::StreetName(L).fake_with_rng::<String, _>(rng))
                }
                Kind::City => {
                    s.push_str(&address::raw::CityName(L).fake_with_rng::<String, _>(rng))
                }
                Kind::State => s.push_str(address::raw::StateName(L).fake_with_rng::<&str, _>(rng)),
                Kind::StateAbbr => {
                    s.push_str(address::raw::StateAbbr(L).fake_with_rng::<&str, _>(rng))
                }
                Kind::Zip => s.push_str(&address::raw::ZipCode(L).fake_with_rng::<String, _>(rng)),
                Kind::Postcode => {
                    s.push_str(&address::raw::PostCode(L).fake_with_rng::<String, _>(rng))
                }
                Kind::Country => {
                    s.push_str(address::raw::CountryName(L).fake_with_rng::<&str, _>(rng))
                }
                Kind::CountryCode => {
                    s.push_str(address::raw::CountryCode(L).fake_with_rng::<&str, _>(rng))
                }
                Kind::TimeZone => {
                    s.push_str(address::raw::TimeZone(L).fake_with_rng::<&str, _>(rng))
                }
                Kind::Company => {
                    s.push_str(&company::raw::CompanyName(L).fake_with_rng::<String, _>(rng))
                }
                Kind::Industry => {
                    s.push_str(&company::raw::Industry(L).fake_with_rng::<String, _>(rng))
                }
                Kind::JobTitle => s.push_str(&job::raw::Title(L).fake_with_rng::<String, _>(rng)),
                Kind::UserAgent => {
                    s.push_str(&internet::raw::UserAgent(L).fake_with_rng::<String, _>(rng))
                }
                Kind::Bic => s.push_str(&finance::raw::Bic(L).fake_with_rng::<String, _>(rng)),
                Kind::CreditCard => s.push_str(
                    &creditcard::raw::CreditCardNumber(L).fake_with_rng::<String, _>(rng),
                ),
                Kind::CurrencyCode => {
                    s.push_str(&currency::raw::CurrencyCode(L).fake_with_rng::<String, _>(rng))
                }
                Kind::Word => s.push_str(&lorem::raw::Word(L).fake_with_rng::<String, _>(rng)),
                Kind::Words => s.push_str(
                    &lorem::raw::Words(L, 3..7)
                        .fake_with_rng::<Vec<String>, _>(rng)
                        .join(" "),
                ),
                Kind::Sentence => {
                    s.push_str(&lorem::raw::Sentence(L, 4..11).fake_with_rng::<String, _>(rng))
                }
                Kind::Paragraph => {
                    s.push_str(&lorem::raw::Paragraph(L, 3..7).fake_with_rng::<String, _>(rng))
                }
                // Handled by `Generated::apply` or by their own transforms.
                Kind::Email
                | Kind::Username
                | Kind::PhoneNumber
                | Kind::Uuid
                | Kind::Password
                | Kind::Latitude
                | Kind::Longitude
                | Kind::Ipv4
                | Kind::Ipv6
                | Kind::MacAddress
                | Kind::Url
                | Kind::Domain
                | Kind::Iban
                | Kind::LicensePlate
                | Kind::Date
                | Kind::DateOfBirth => unreachable!("kind {} has its own generator", kind.name()),
            }
        }
    };
}

locale_generator!(generate_en, EN);
locale_generator!(generate_fr_fr, FR_FR);
locale_generator!(generate_de_de, DE_DE);
locale_generator!(generate_it_it, IT_IT);
locale_generator!(generate_pt_br, PT_BR);
locale_generator!(generate_pt_pt, PT_PT);
locale_generator!(generate_ja_jp, JA_JP);
locale_generator!(generate_zh_cn, ZH_CN);
locale_generator!(generate_zh_tw, ZH_TW);
locale_generator!(generate_ar_sa, AR_SA);
locale_generator!(generate_cy_gb, CY_GB);
locale_generator!(generate_fa_ir, FA_IR);
locale_generator!(generate_nl_nl, NL_NL);
locale_generator!(generate_tr_tr, TR_TR);

fn generate(locale: Locale, kind: Kind, rng: &mut ChaCha20Rng, s: &mut String) {
    match locale {
        Locale::En => generate_en(locale, kind, rng, s),
        Locale::FrFr => generate_fr_fr(locale, kind, rng, s),
        Locale::DeDe => generate_de_de(locale, kind, rng, s),
        Locale::ItIt => generate_it_it(locale, kind, rng, s),
        Locale::PtBr => generate_pt_br(locale, kind, rng, s),
        Locale::PtPt => generate_pt_pt(locale, kind, rng, s),
        Locale::JaJp => generate_ja_jp(locale, kind, rng, s),
        Locale::ZhCn => generate_zh_cn(locale, kind, rng, s),
        Locale::ZhTw => generate_zh_tw(locale, kind, rng, s),
        Locale::ArSa => generate_ar_sa(locale, kind, rng, s),
        Locale::CyGb => generate_cy_gb(locale, kind, rng, s),
        Locale::FaIr => generate_fa_ir(locale, kind, rng, s),
        Locale::NlNl => generate_nl_nl(locale, kind, rng, s),
        Locale::TrTr => generate_tr_tr(locale, kind, rng, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{
        apply, build, build_err, build_locale, build_with_secret, column, parse, parse_err,
        ColumnExt,
    };
    use std::collections::HashSet;

    fn text() -> crate::catalog::Column {
        column("c", "text", TypeKind::Text)
    }

    fn fake(yaml: &str) -> Box<dyn Transform> {
        build(&*parse(yaml), &text())
    }

    fn run(yaml: &str, input: &str) -> String {
        apply(&*fake(yaml), Some(input)).expect("a value")
    }

    #[test]
    fn golden_outputs_per_kind() {
        // Golden: a change here changes every user's staging data.
        let expected: &[(&str, &str)] = &[
            ("first_name", "Camilla"),
            ("last_name", "Leannon"),
            ("name", "Justice Hyatt"),
            ("name_with_title", "Ms. Mabel Windler"),
            ("email", "felicia.oberbrunner@example.net"),
            ("safe_email", "davonte@example.org"),
            ("username", "Nvë.Sìqmmw+6@Krbpixv.nqp"),
            ("password", "K3XWPL_i6HagRGG"),
            ("phone_number", "Kmö.Eäipzg+0@Gfzaorm.qrx"),
            ("cell_number", "856-005-8945"),
            ("street_address", "81221 Rutherford Ferry"),
            ("secondary_address", "Apt. 73"),
            ("building_number", "46107"),
            ("street_name", "Beahan Courts"),
            ("city", "Lake Keshawn Ebertville"),
            ("state", "Oregon"),
            ("state_abbr", "TN"),
            ("zip", "384"),
            ("postcode", "81434-4906"),
            ("country", "India"),
            ("country_code", "FO"),
            ("latitude", "49.364356"),
            ("longitude", "-30.824875"),
            ("time_zone", "Asia/Baghdad"),
            ("company", "Rogahn and Mayert LLC"),
            ("industry", "Gambling & Casinos"),
            ("job_title", "District Mining Executive"),
            ("ipv4", "2.126.107.187"),
            ("ipv6", "a09f:5cc8:db2f:226d:cece:75eb:74c8:7880"),
            ("mac_address", "48:da:72:70:60:b1"),
            ("url", "https://www.ledner.biz/commodi"),
            ("domain", "gislason.name"),
            ("user_agent", "Opera/9.80 (Macintosh; Intel Mac OS X 10.6.8; U; fr) Presto/2.9.168 Version/11.52"),
            ("uuid", "dd0f7daf-1f39-400b-b642-05359e4f6071"),
            ("iban", "GB89UMJN06192519876346"),
            ("license_plate", "NYB-8793"),
            ("bic", "ZNVUITK1763"),
            ("credit_card", "374922690500025"),
            ("currency_code", "STD"),
            ("word", "eum"),
            ("words", "vel velit dolor"),
            ("sentence", "mollitia et earum quidem quo est quia."),
            ("paragraph", "minima quis occaecati sunt.\nnostrum provident voluptates quia iure sed qui.\nest voluptas ut qui.\nminima rerum consequatur vero facere sequi totam.\nitaque at voluptatem repellendus officiis sit voluptatem."),
            ("date", "1992-07-06"),
            ("date_of_birth", "1981-10-17"),
        ];
        assert_eq!(expected.len(), KINDS.len(), "one golden per kind");
        for (kind, want) in expected {
            let got = run(&format!("fake: {kind}"), "Zoë.Müller+1@Example.com");
            assert_eq!(got, *want, "fake: {kind}");
        }
    }

    #[test]
    fn null_stays_null_for_every_kind() {
        for (kind, _) in KINDS {
            assert_eq!(
                apply(&*fake(&format!("fake: {kind}")), None),
                None,
                "{kind}"
            );
        }
    }

    #[test]
    fn outputs_depend_on_input_and_secret_only() {
        for (kind, _) in KINDS {
            let yaml = format!("fake: {kind}");
            let a = fake(&yaml);
            let b = fake(&yaml);
            let other = build_with_secret(&*parse(&yaml), &text(), b"another secret");
            let inputs = [
                "alice@example.com",
                "bob@example.org",
                "+1-555-123-4567",
                "carol",
            ];
            let outs: Vec<_> = inputs.iter().map(|i| apply(&*a, Some(i))).collect();
            assert_eq!(
                outs,
                inputs
                    .iter()
                    .map(|i| apply(&*b, Some(i)))
                    .collect::<Vec<_>>(),
                "{kind}"
            );
            let others: Vec<_> = inputs.iter().map(|i| apply(&*other, Some(i))).collect();
            assert_ne!(outs, others, "{kind}: the secret must matter");
        }
    }

    #[test]
    fn locales_change_the_data() {
        let o = parse("fake: first_name");
        let names: Vec<String> = ["en", "fr_fr", "de_de", "it_it", "pt_br", "ja_jp", "zh_cn"]
            .iter()
            .map(|l| apply(&*build_locale(&*o, &text(), l), Some("x")).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "General",
                "Frédéric",
                "Marianne",
                "Ettore",
                "Gustavo",
                "愛菜",
                "柯勤"
            ]
        );
        // Every locale of the fake crate, in its usual spellings.
        for (l, _) in LOCALES {
            let t = build_locale(&*parse("fake: street_address"), &text(), l);
            assert!(!apply(&*t, Some("x")).unwrap().is_empty());
        }
        assert_eq!(Locale::parse("fr-FR"), Ok(Locale::FrFr));
        assert_eq!(Locale::parse("en_US"), Ok(Locale::En));
        let e =
            crate::transform::test_support::try_build_full(&*o, &text(), &[text()], b"s", "xx_yy")
                .err()
                .unwrap();
        assert!(
            e.starts_with("column public.t.c: unknown locale `xx_yy`; locales: en, fr_fr"),
            "{e}"
        );
        let de = build_locale(&*parse("fake: street_address"), &text(), "de_de");
        assert_eq!(apply(&*de, Some("x")).unwrap(), "Åsa steg 65821");
    }

    /// `run` with `unique: true`.
    fn run_unique(yaml: &str, input: &str) -> String {
        let t = super::super::test_support::build_unique(&*parse(yaml), &text());
        apply(&*t, Some(input)).unwrap()
    }

    #[test]
    fn emails_look_like_a_persons_at_a_reserved_domain() {
        assert_eq!(
            run("fake: email", "john.smith42@gmail.com"),
            "orval_padberg@example.org"
        );
        // Case does not make another person.
        assert_eq!(
            run("fake: email", "JOHN.Smith42@GMAIL.com"),
            "orval_padberg@example.org"
        );
        for i in 0..2000 {
            let out = run("fake: email", &format!("p{i}@realmail.example"));
            let (local, domain) = out.split_once('@').unwrap();
            assert!(EXAMPLE_DOMAINS.contains(&domain), "{out}");
            assert!(
                !local.is_empty()
                    && local.bytes().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == b'.'
                        || c == b'_'),
                "{out}"
            );
        }
    }

    #[test]
    fn unique_emails_keep_their_shape_at_a_reserved_domain() {
        assert_eq!(
            run_unique("fake: email", "john.smith42@gmail.com"),
            "nqjf.qgffj12@hquoj.com.invalid"
        );
        assert_eq!(
            run_unique("fake: email", "JOHN.Smith42@GMAIL.com"),
            "NQJF.Qgffj12@HQUOJ.com.invalid"
        );
        assert_eq!(
            run(
                "{ fake: { kind: email, keep_domain: true } }",
                "john.smith42@gmail.com"
            ),
            "leig.zlsxe01@gmail.com"
        );
        // Not an email: encrypted whole, and still no `@`.
        assert_eq!(run_unique("fake: email", "n/a"), "c/s");
        // Quoted local parts may hold an `@`: the last one splits.
        let out = run_unique("fake: email", "\"a@b\"@x.org");
        assert!(
            out.ends_with(".org.invalid") && out.matches('@').count() == 2 && out.starts_with('"'),
            "{out}"
        );
        assert_eq!(
            run_unique("fake: email", "мария.иванова@mail.ru"),
            "пэжйх.ющжегкц@hoxn.ru.invalid"
        );
    }

    #[test]
    fn phone_numbers_keep_layout_and_country_code() {
        assert_eq!(
            run("fake: phone_number", "+1-555-123-4567"),
            "+1-700-035-5211"
        );
        assert_eq!(
            run("fake: phone_number", "+44 20 7946 0958"),
            "+44 26 2540 1112"
        );
        assert_eq!(
            run("fake: phone_number", "(555) 123-4567 x89"),
            "(564) 567-2810 n94"
        );
        assert_eq!(country_code_units(b"+15551234567"), 1);
        assert_eq!(country_code_units(b"+351 21"), 4);
        assert_eq!(country_code_units(b"0555"), 0);
    }

    #[test]
    fn uuids_stay_uuids() {
        let u = run("fake: uuid", "7c9e6679-7425-40de-944b-e07fc1f90ae7");
        assert_eq!(u, "7f2c2f24-5b25-4e5c-8d6c-6f70f0f7fccb");
        let t = run("fake: uuid", "not a uuid");
        assert_eq!(&t[14..15], "4");
        assert!(super::super::hash::parse_uuid(t.as_bytes()).is_some());
    }

    #[test]
    fn options_are_checked_where_they_are_written() {
        let e = parse_err("{ fake: emial }");
        assert!(
            e.contains("unknown fake kind `emial` (did you mean `email`?)"),
            "{e}"
        );
        let e = parse_err("{ fake: { kind: first_name, keep_domain: true } }");
        assert!(
            e.contains("fake option `keep_domain` does not apply to kind `first_name`"),
            "{e}"
        );
        let e = parse_err("{ fake: { kind: date, min: 2020-13-01 } }");
        assert!(e.contains("`min` must be a date such as 2000-01-31"), "{e}");
        let e = parse_err("{ fake: { kind: date, min: 2020-01-01, max: 2019-01-01 } }");
        assert!(e.contains("`min` is after `max`"), "{e}");
        let e = parse_err("{ fake: { keep_domain: true } }");
        assert!(e.contains("needs `kind`"), "{e}");
        assert_eq!(
            parse("{ fake: { kind: email, keep_domain: true } }").describe(),
            "fake(email, keep_domain)"
        );
    }

    #[test]
    fn dates_stay_in_their_range() {
        let t = fake("{ fake: { kind: date, min: 2020-02-01, max: 2020-02-29 } }");
        let mut seen = HashSet::new();
        for i in 0..500 {
            let d = apply(&*t, Some(&i.to_string())).unwrap();
            assert!(("2020-02-01"..="2020-02-29").contains(&d.as_str()), "{d}");
            seen.insert(d);
        }
        assert_eq!(seen.len(), 29);
        let dob = fake("{ fake: { kind: date_of_birth, min_age: 30, max_age: 30 } }");
        for i in 0..200 {
            let d = apply(&*dob, Some(&i.to_string())).unwrap();
            // Aged exactly 30 on 2025-01-01.
            assert!(("1994-01-02"..="1995-01-01").contains(&d.as_str()), "{d}");
        }
        let ts = build(
            &*parse("fake: date"),
            &column("t", "timestamp with time zone", TypeKind::TimestampTz),
        );
        assert_eq!(apply(&*ts, Some("x")).unwrap(), "1973-02-21 19:12:11+00");
    }

    #[test]
    fn types_are_checked_at_plan_time() {
        let int = column("n", "integer", TypeKind::Int32);
        let e = build_err(&*parse("fake: email"), &int);
        assert_eq!(e, "`fake: email` cannot produce a value of type integer (column public.t.n); it produces text");
        let e = build_err(
            &*parse("fake: latitude"),
            &column("l", "numeric(3,2)", TypeKind::Numeric).with_numeric(3, 2),
        );
        assert!(e.contains("needs 2 digits before the point"), "{e}");
        let lat = build(
            &*parse("fake: latitude"),
            &column("l", "numeric(8,5)", TypeKind::Numeric).with_numeric(8, 5),
        );
        assert_eq!(apply(&*lat, Some("x")).unwrap(), "-1.94577");
        let inet = build(&*parse("fake: ipv4"), &column("ip", "inet", TypeKind::Inet));
        assert!(apply(&*inet, Some("10.0.0.1"))
            .unwrap()
            .parse::<std::net::Ipv4Addr>()
            .is_ok());
        let ipv6 = build(&*parse("fake: ipv6"), &column("ip", "inet", TypeKind::Inet));
        assert!(apply(&*ipv6, Some("::1"))
            .unwrap()
            .parse::<std::net::Ipv6Addr>()
            .is_ok());
        let mac8 = build(
            &*parse("fake: mac_address"),
            &column("m", "macaddr8", TypeKind::MacAddr),
        );
        assert_eq!(apply(&*mac8, Some("x")).unwrap().len(), 23);
    }

    #[test]
    fn lossy_text_is_cut_to_the_column() {
        let v = column("s", "character varying(16)", TypeKind::Text).with_max_length(16);
        let t = build(&*parse("fake: paragraph"), &v);
        for i in 0..100 {
            assert!(apply(&*t, Some(&i.to_string())).unwrap().chars().count() <= 16);
        }
        // Unique emails keep the input's length plus `.invalid`.
        let e = super::super::test_support::build_unique(&*parse("fake: email"), &v);
        assert_eq!(apply(&*e, Some("ab@c.com")).unwrap().len(), 8 + 8);
    }

    #[test]
    fn ibans_have_valid_check_digits() {
        for (l, _) in LOCALES {
            let t = build_locale(&*parse("fake: iban"), &text(), l);
            for i in 0..50 {
                let iban = apply(&*t, Some(&i.to_string())).unwrap();
                let moved: String = iban[4..].chars().chain(iban[..4].chars()).collect();
                let rem = moved.chars().fold(0u32, |r, c| {
                    let v = c.to_digit(36).unwrap();
                    if v >= 10 {
                        (r * 100 + v) % 97
                    } else {
                        (r * 10 + v) % 97
                    }
                });
                assert_eq!(rem, 1, "{iban}");
            }
        }
    }

    #[test]
    fn only_format_preserving_kinds_are_unique_capable() {
        let with = |u: Uniqueness| -> Vec<&str> {
            KINDS
                .iter()
                .filter(|(n, _)| parse(&format!("fake: {n}")).uniqueness() == u)
                .map(|(n, _)| *n)
                .collect()
        };
        assert_eq!(
            with(Uniqueness::Injective),
            ["email", "username", "phone_number"]
        );
        assert_eq!(with(Uniqueness::CollisionFree), ["uuid"]);
    }
}
