//! The fake kinds' unit tests: goldens, locales, the unique forms.

use super::locale::{Locale, LOCALES};
use super::*;
use crate::transform::test_support::{
    apply, build, build_err, build_locale, build_with_secret, column, parse, parse_err, ColumnExt,
};
use crate::transform::RowView;
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
        ("first_name", "Orin"),
        ("last_name", "Feeney"),
        ("name", "Edmund Lang"),
        ("name_with_title", "Ms. Sherwood Kuvalis"),
        ("email", "pearlie_hegmann_0b64vsztle7kvlhxezc4rhbx02t34y7t0st2dmqu28@example.net"),
        ("safe_email", "terry@example.net"),
        ("username", "russ_legros_1iodzobd6vmvaxgih6b8xszl0u473ag12xb8w8chod"),
        ("password", "3Q_MT7%_RJH"),
        ("phone_number", "Zoë.Müller+4@Example.com"),
        ("cell_number", "868-481-8319"),
        ("street_address", "8041 Domenick Cape"),
        ("secondary_address", "Apt. 71"),
        ("building_number", "37517"),
        ("street_name", "Abdullah Mission"),
        ("city", "Colbytown"),
        ("state", "Pennsylvania"),
        ("state_abbr", "IN"),
        ("zip", "08213"),
        ("postcode", "12240-1047"),
        ("country", "South Africa"),
        ("country_code", "KE"),
        ("latitude", "30.017696"),
        ("longitude", "75.990694"),
        ("time_zone", "Asia/Kabul"),
        ("company", "Pfeffer and Sons"),
        ("industry", "Motion Pictures and Film"),
        ("job_title", "Principal Advertising Technician"),
        ("ipv4", "69.115.142.2"),
        ("ipv6", "ddfa:15aa:16f8:f3f5:c0dd:fa4d:ab7c:d1d5"),
        ("mac_address", "51:b5:17:1d:3c:20"),
        ("url", "https://www.bailey.io/voluptatibus"),
        ("domain", "sporer.com"),
        ("user_agent", "Mozilla/5.0 (iPhone; U; CPU iPhone OS 4_2_1 like Mac OS X; nb-no) AppleWebKit/533.17.9 (KHTML, like Gecko) Version/5.0.2 Mobile/8C148a Safari/6533.18.5"),
        ("uuid", "3073f0ff-f266-4706-a642-fee13f8c786d"),
        ("iban", "GB79FPXV81561365543145"),
        ("license_plate", "HEG-8249"),
        ("bic", "OITONLC1"),
        ("credit_card", "4556338744968987"),
        ("currency_code", "KYD"),
        ("word", "quisquam"),
        ("words", "repellat qui et"),
        ("sentence", "magni et placeat dolor molestiae reprehenderit eos perferendis occaecati repudiandae."),
        ("paragraph", "aliquam aut est facilis ex ratione facere.\nquo dolorum numquam dolorum repellat.\nvoluptatem odio sed odio.\nsint tenetur et et veritatis.\nipsa ullam earum blanditiis necessitatibus."),
        ("date", "2029-11-25"),
        ("date_of_birth", "1989-01-11"),
    ];
    assert_eq!(expected.len(), KINDS.len(), "one golden per kind");
    let mut changed = Vec::new();
    for (kind, want) in expected {
        let got = run(&format!("fake: {kind}"), "Zoë.Müller+1@Example.com");
        if got != *want {
            changed.push(format!("(\"{kind}\", {got:?}),"));
        }
    }
    assert!(
        changed.is_empty(),
        "changed goldens:\n{}",
        changed.join("\n")
    );
}

#[test]
fn null_stays_null_for_every_kind() {
    for kind in KINDS.iter().map(|k| k.name) {
        assert_eq!(
            apply(&*fake(&format!("fake: {kind}")), None),
            None,
            "{kind}"
        );
    }
}

#[test]
fn outputs_depend_on_input_and_secret_only() {
    for kind in KINDS.iter().map(|k| k.name) {
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
        ["Jadon", "Hortense", "Ruth", "Gaia", "Joaquin", "杏", "若菲"]
    );
    // Every locale of the fake crate, in its usual spellings.
    for (l, _) in LOCALES {
        let t = build_locale(&*parse("fake: street_address"), &text(), l);
        assert!(!apply(&*t, Some("x")).unwrap().is_empty());
    }
    assert_eq!(Locale::parse("fr-FR"), Ok(Locale::FrFr));
    assert_eq!(Locale::parse("en_US"), Ok(Locale::En));
    let e = crate::transform::test_support::try_build_full(&*o, &text(), &[text()], b"s", "xx_yy")
        .err()
        .unwrap();
    assert!(
        e.starts_with("column public.t.c: unknown locale `xx_yy`; locales: en, fr_fr"),
        "{e}"
    );
    let de = build_locale(&*parse("fake: street_address"), &text(), "de_de");
    assert_eq!(apply(&*de, Some("x")).unwrap(), "Lerch steg 577");
}

#[test]
fn emails_look_like_a_persons_at_a_reserved_domain() {
    assert_eq!(
        run("fake: email", "john.smith42@gmail.com"),
        "webster.mcglynn.6b5eqlkg9rv2sas0rqkxwsy@example.org"
    );
    // Case gives the same person, and another tag.
    assert_eq!(
        run("fake: email", "JOHN.Smith42@GMAIL.com"),
        "webster_mcglynn.1hzjfnhymjrx783k1pwtdvdt2ud@example.org"
    );
    let first = <fake::locales::EN as fake::locales::Data>::NAME_FIRST_NAME;
    for i in 0..2000 {
        let out = run("fake: email", &format!("p{i}@realmail.example"));
        let (local, domain) = out.split_once('@').unwrap();
        assert!(super::person::EXAMPLE_DOMAINS.contains(&domain), "{out}");
        let name = local.split('.').next().unwrap();
        assert!(
            first.iter().any(|f| f.to_ascii_lowercase() == name),
            "{out}"
        );
        assert!(
            local
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.'),
            "{out}"
        );
    }
}

/// Issue 22: `unique: true` (which a unique constraint implies) never
/// changes the value an input gets, for any kind.
#[test]
fn unique_never_changes_the_output() {
    for kind in KINDS.iter().map(|k| k.name) {
        let o = parse(&format!("fake: {kind}"));
        if o.uniqueness() == Uniqueness::Lossy {
            continue;
        }
        let plain = build(&*o, &text());
        let unique = crate::transform::test_support::build_unique(&*o, &text());
        for input in [
            "john.smith42@gmail.com",
            "Zoë@x.org",
            "+1-555-123-4567",
            "n/a",
        ] {
            assert_eq!(
                apply(&*plain, Some(input)),
                apply(&*unique, Some(input)),
                "fake: {kind}"
            );
        }
    }
}

#[test]
fn kept_domains_encrypt_the_local_part_only() {
    assert_eq!(
        run(
            "{ fake: { kind: email, keep_domain: true } }",
            "john.smith42@gmail.com"
        ),
        "mcpr.exkuu61@gmail.com"
    );
    // Not an email: encrypted whole, and still no `@`.
    assert_eq!(
        run("{ fake: { kind: email, keep_domain: true } }", "n/a"),
        "t/d"
    );
}

#[test]
fn phone_numbers_keep_layout_and_country_code() {
    assert_eq!(
        run("fake: phone_number", "+1-555-123-4567"),
        "+1-584-158-8059"
    );
    assert_eq!(
        run("fake: phone_number", "+44 20 7946 0958"),
        "+44 25 5056 8772"
    );
    assert_eq!(
        run("fake: phone_number", "(555) 123-4567 x89"),
        "(722) 124-3208 x26"
    );
    assert_eq!(run("fake: phone_number", "020 7946 0958"), "022 0221 9483");
    assert_eq!(phone::country_code_units(b"+15551234567"), 1);
    assert_eq!(phone::country_code_units(b"+351 21"), 4);
    assert_eq!(phone::country_code_units(b"0555"), 0);
}

/// NANPA: the area code (NPA) and the exchange (NXX) start with 2–9,
/// so a valid North American number stays one (`+1 087 …` before
/// issue 22); E.164: a national number does not start with 0 after the
/// country code, and a trunk 0 stays.
#[test]
fn phone_numbers_stay_valid_in_their_plan() {
    let t = fake("fake: phone_number");
    let nanp = regex::Regex::new(r"^(\+1-|1-)?[2-9]\d\d-[2-9]\d\d-\d{4}$").unwrap();
    let mut seen = HashSet::new();
    for i in 0..20_000u32 {
        let area = 200 + i % 800;
        let exchange = 200 + (i * 7) % 800;
        for input in [
            format!("+1-{area}-{exchange}-{:04}", i % 10_000),
            format!("1-{area}-{exchange}-{:04}", i % 10_000),
            format!("{area}-{exchange}-{:04}", i % 10_000),
        ] {
            let out = apply(&*t, Some(&input)).unwrap();
            assert!(nanp.is_match(&out), "{out}");
            assert_eq!(out.len(), input.len());
            assert!(seen.insert(out), "two numbers gave one");
        }
        let uk = apply(&*t, Some(&format!("+44 {} {:04}", 20 + i % 70, i))).unwrap();
        assert!(uk.starts_with("+44 ") && !uk.starts_with("+44 0"), "{uk}");
        let trunk = apply(&*t, Some(&format!("0{} {:04}", 20 + i % 70, i))).unwrap();
        assert!(
            trunk.starts_with('0') && !trunk.starts_with("00"),
            "{trunk}"
        );
    }
}

#[test]
fn uuids_stay_uuids() {
    let u = run("fake: uuid", "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    assert_eq!(u, "7f2c2f24-5b25-4e5c-8d6c-6f70f0f7fccb");
    let t = run("fake: uuid", "not a uuid");
    assert_eq!(&t[14..15], "4");
    assert!(crate::transform::hash::parse_uuid(t.as_bytes()).is_some());
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
    assert_eq!(apply(&*ts, Some("x")).unwrap(), "2019-03-16 06:22:29+00");
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
    assert_eq!(apply(&*lat, Some("x")).unwrap(), "-2.47939");
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
    // A unique email that does not fit is an error, never cut.
    let e = crate::transform::test_support::build_unique(&*parse("fake: email"), &v);
    assert!(e
        .apply(b"ab@c.com", &RowView::empty(), &mut Vec::new())
        .is_err());
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
            .map(|k| k.name)
            .filter(|n| parse(&format!("fake: {n}")).uniqueness() == u)
            .collect()
    };
    assert_eq!(
        with(Uniqueness::Injective),
        ["email", "username", "phone_number"]
    );
    assert_eq!(with(Uniqueness::CollisionFree), ["uuid"]);
}
