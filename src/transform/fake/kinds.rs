//! THE table of fake kinds: one row per kind, with everything `plan`,
//! `check`, `verify` and the docs test read about it, and the function
//! that makes its values. Adding a kind is a generator in a file of this
//! folder and a row here; the docs test then asks for its documentation.

use super::super::{MaxLength, OutputSpace, Shape, Transform, Uniqueness};
use super::draw::Generate;
use super::{
    address, company, coordinate, date, email, finance, internet, license_plate, local_format,
    lorem, names, person, phone, uuid, Setup,
};
use crate::catalog::TypeKind;

/// One fake kind.
pub struct Kind {
    /// The YAML name (`first_name`).
    pub name: &'static str,
    /// Column types the kind can write, and how a message names them.
    pub produces: Produces,
    /// About how many outputs the kind draws from, for `verify`. Counts are
    /// rough (the locale data of the fake crate); what matters is their
    /// order of magnitude.
    pub output_space: OutputSpace,
    /// The longest text it writes (see `MaxLength`).
    pub max_length: MaxLength,
    /// What the kind promises about equal outputs: the unique forms are
    /// keyed permutations of the value (`Injective`), or 122 bits of SipHash
    /// (`CollisionFree`); every other kind is `Lossy`.
    pub unique: Uniqueness,
    /// For a unique form: about how many outputs a value of this shape has.
    pub domain_of: Option<fn(Shape) -> f64>,
    /// The options it takes besides `kind`.
    pub options: &'static [&'static str],
    pub generator: Generator,
}

/// How a kind makes its values.
pub enum Generator {
    /// Lossy: drawn from the value's keyed generator (`draw::Drawn`).
    Drawn(Generate),
    /// A transform of its own, built for the column (the unique forms, and
    /// kinds that check the column first).
    Own(fn(&Setup<'_>) -> Result<Box<dyn Transform>, String>),
}

/// Column types a kind can write, and how a message names them.
#[derive(Clone, Copy)]
pub struct Produces(pub &'static [TypeKind], pub &'static str);

const TEXT: Produces = Produces(&[TypeKind::Text], "text");
const DATES: Produces = Produces(
    &[
        TypeKind::Date,
        TypeKind::Timestamp,
        TypeKind::TimestampTz,
        TypeKind::Text,
    ],
    "date, timestamp, timestamptz or text",
);
const NUMBERS: Produces = Produces(
    &[TypeKind::Numeric, TypeKind::Float, TypeKind::Text],
    "numeric, float or text",
);
const INET: Produces = Produces(&[TypeKind::Inet, TypeKind::Text], "inet or text");
const MACADDR: Produces = Produces(&[TypeKind::MacAddr, TypeKind::Text], "macaddr or text");
const UUID: Produces = Produces(&[TypeKind::Uuid, TypeKind::Text], "uuid or text");

/// A row with the defaults of a lossy kind (no options, no domain).
const fn kind(
    name: &'static str,
    produces: Produces,
    output_space: OutputSpace,
    max_length: MaxLength,
    unique: Uniqueness,
    generator: Generator,
) -> Kind {
    Kind {
        name,
        produces,
        output_space,
        max_length,
        unique,
        domain_of: None,
        options: &[],
        generator,
    }
}

impl Kind {
    const fn options(mut self, options: &'static [&'static str]) -> Kind {
        self.options = options;
        self
    }

    const fn domain(mut self, domain_of: fn(Shape) -> f64) -> Kind {
        self.domain_of = Some(domain_of);
        self
    }
}

use Generator::{Drawn, Own};
use MaxLength::{Fixed, Grows, InputPlus, Unbounded};
use OutputSpace::{Dense, Shape as Format, Values};
use Uniqueness::{CollisionFree, Injective, Lossy};

const INF: f64 = f64::INFINITY;

/// Every kind, in the order the docs and messages list them.
#[rustfmt::skip] // One row per kind, so the table reads as a table.
pub static KINDS: &[Kind] = &[
    //   name                 produces  output space                                  max length                unique         generator
    kind("first_name",        TEXT,     Values(3_000.0),                              Unbounded,                Lossy,         Drawn(names::first_name)),
    kind("last_name",         TEXT,     Values(400.0),                                Unbounded,                Lossy,         Drawn(names::last_name)),
    kind("name",              TEXT,     Values(1e6),                                  Unbounded,                Lossy,         Drawn(names::name)),
    kind("name_with_title",   TEXT,     Values(1e6),                                  Unbounded,                Lossy,         Drawn(names::name_with_title)),
    kind("email",             TEXT,     Values(INF),                                  Grows(person::email_len), Injective,     Own(email::build)).options(&["keep_domain"]).domain(person::domain),
    kind("safe_email",        TEXT,     Values(INF),                                  Unbounded,                Lossy,         Drawn(internet::safe_email)),
    kind("username",          TEXT,     Format { radix: 26.0, kept: 0 },              Grows(person::username_len), Injective,  Own(email::build_username)).domain(person::domain),
    kind("password",          TEXT,     Values(INF),                                  Unbounded,                Lossy,         Drawn(internet::password)),
    // `+` and a country code of up to three digits stay.
    kind("phone_number",      TEXT,     Format { radix: 10.0, kept: 4 },              InputPlus(0),             Injective,     Own(phone::build)).domain(phone::domain),
    kind("cell_number",       TEXT,     Values(1e7),                                  Unbounded,                Lossy,         Drawn(local_format::cell_number)),
    kind("street_address",    TEXT,     Values(1e7),                                  Unbounded,                Lossy,         Drawn(address::street_address)),
    kind("secondary_address", TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(address::secondary_address)),
    kind("building_number",   TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(address::building_number)),
    kind("street_name",       TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(address::street_name)),
    kind("city",              TEXT,     Values(1_000.0),                              Unbounded,                Lossy,         Drawn(address::city)),
    kind("state",             TEXT,     Values(50.0),                                 Unbounded,                Lossy,         Drawn(address::state)),
    kind("state_abbr",        TEXT,     Values(50.0),                                 Fixed(2),                 Lossy,         Drawn(address::state_abbr)),
    kind("zip",               TEXT,     Values(100_000.0),                            Unbounded,                Lossy,         Drawn(local_format::postal_code)),
    kind("postcode",          TEXT,     Values(100_000.0),                            Unbounded,                Lossy,         Drawn(local_format::postal_code)),
    kind("country",           TEXT,     Values(200.0),                                Unbounded,                Lossy,         Drawn(address::country)),
    kind("country_code",      TEXT,     Values(200.0),                                Fixed(2),                 Lossy,         Drawn(address::country_code)),
    kind("latitude",          NUMBERS,  Values(INF),                                  Unbounded,                Lossy,         Own(coordinate::build_latitude)),
    kind("longitude",         NUMBERS,  Values(INF),                                  Unbounded,                Lossy,         Own(coordinate::build_longitude)),
    kind("time_zone",         TEXT,     Values(100.0),                                Unbounded,                Lossy,         Drawn(address::time_zone)),
    kind("company",           TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(company::company)),
    kind("industry",          TEXT,     Values(100.0),                                Unbounded,                Lossy,         Drawn(company::industry)),
    kind("job_title",         TEXT,     Values(1_000.0),                              Unbounded,                Lossy,         Drawn(company::job_title)),
    kind("ipv4",              INET,     Values(INF),                                  Fixed(15),                Lossy,         Drawn(internet::ipv4)),
    kind("ipv6",              INET,     Values(INF),                                  Fixed(39),                Lossy,         Drawn(internet::ipv6)),
    kind("mac_address",       MACADDR,  Values(INF),                                  Fixed(23),                Lossy,         Drawn(internet::mac_address)),
    kind("url",               TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(internet::url)),
    kind("domain",            TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(internet::domain)),
    kind("user_agent",        TEXT,     Values(100.0),                                Unbounded,                Lossy,         Drawn(internet::user_agent)),
    kind("uuid",              UUID,     Values(INF),                                  Fixed(36),                CollisionFree, Own(uuid::build)),
    kind("iban",              TEXT,     Values(INF),                                  Unbounded,                Lossy,         Drawn(finance::iban)),
    kind("license_plate",     TEXT,     Values(license_plate::OUTPUTS),               Unbounded,                Lossy,         Drawn(license_plate::plate)),
    kind("bic",               TEXT,     Values(10_000.0),                             Unbounded,                Lossy,         Drawn(finance::bic)),
    kind("credit_card",       TEXT,     Values(INF),                                  Unbounded,                Lossy,         Drawn(finance::credit_card)),
    kind("currency_code",     TEXT,     Values(200.0),                                Fixed(3),                 Lossy,         Drawn(finance::currency_code)),
    kind("word",              TEXT,     Values(100.0),                                Unbounded,                Lossy,         Drawn(lorem::word)),
    kind("words",             TEXT,     Values(1e7),                                  Unbounded,                Lossy,         Drawn(lorem::words)),
    kind("sentence",          TEXT,     Values(INF),                                  Unbounded,                Lossy,         Drawn(lorem::sentence)),
    kind("paragraph",         TEXT,     Values(INF),                                  Unbounded,                Lossy,         Drawn(lorem::paragraph)),
    kind("date",              DATES,    Dense,                                        Fixed(10),                Lossy,         Drawn(date::date)).options(&["min", "max"]),
    kind("date_of_birth",     DATES,    Dense,                                        Fixed(10),                Lossy,         Drawn(date::date)).options(&["min_age", "max_age"]),
];

/// `{ kind: email, keep_domain: true }`: the local part encrypted in its
/// own format, the domain kept, so the input's length (not a row of the
/// list: it is `email` with an option).
pub static EMAIL_KEEPING_DOMAIN: Kind = kind(
    "email",
    TEXT,
    Values(INF),
    InputPlus(0),
    Injective,
    Own(email::build_keeping_domain),
)
.options(&["keep_domain"])
.domain(person::domain);

/// The kind called `name`, if any.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}
