//! `iban`, `bic`, `credit_card`, `currency_code`.

use std::io::Write as _;

use fake::faker::creditcard::raw::CreditCardNumber;
use fake::faker::currency::raw::CurrencyCode;
use fake::faker::finance::raw::Bic;
use fake::Fake;
use rand::RngExt;

use super::draw::{put, Params, Rng};
use super::locale::{by_locale, Locale};

/// An IBAN with valid check digits (ISO 13616) for the locale's country:
/// `A` an upper-case letter, `9` a digit in the BBAN pattern.
pub(super) fn iban(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let (country, pattern) = match p.locale {
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
    let _ = write!(out, "{country}{:02}{bban}", 98 - rem);
}

pub(super) fn bic(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Bic(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn credit_card(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &CreditCardNumber(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn currency_code(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &CurrencyCode(L).fake_with_rng::<String, _>(rng)))
}
