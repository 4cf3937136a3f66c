//! Address kinds from the locale's data: streets, buildings, cities,
//! states, countries, time zones. (Postal codes are `local_format`.)
//! Streets and buildings, the common ones, are written from the locale's
//! lists and templates directly; the rest through the fake crate.

use fake::faker::address::raw::{
    CityName, CountryCode, CountryName, SecondaryAddress, StateAbbr, StateName, TimeZone,
};
use fake::locales::Data;
use fake::Fake;

use super::draw::{numerify, put, render, Params, Rng};
use super::locale::{by_locale, Locale};
use super::names::{write_first, write_last};

/// The street address layout of each locale.
fn street_address_layout(locale: Locale) -> &'static str {
    match locale {
        Locale::DeDe | Locale::NlNl => "{street} {number}",
        Locale::ItIt | Locale::PtBr | Locale::PtPt | Locale::TrTr => "{street}, {number}",
        Locale::ZhCn | Locale::ZhTw => "{street}{number}号",
        _ => "{number} {street}",
    }
}

pub(super) fn street_address(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => render(street_address_layout(p.locale), out, |part, out| {
        match part {
            "number" => write_building_number(L, rng, out),
            _ => write_street_name(L, rng, out),
        }
    }))
}

pub(super) fn building_number(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => write_building_number(L, rng, out))
}

pub(super) fn street_name(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => write_street_name(L, rng, out))
}

fn write_building_number<L: Data>(_: L, rng: &mut Rng, out: &mut Vec<u8>) {
    let format = *rng.pick(L::ADDRESS_BUILDING_NUMBER_FORMATS);
    numerify(format, rng, out);
}

/// A first or last name and a street suffix, in the locale's template.
fn write_street_name<L: Data + Copy>(l: L, rng: &mut Rng, out: &mut Vec<u8>) {
    render(L::ADDRESS_STREET_TPL, out, |part, out| match part {
        "StreetName" if rng.word() & 1 == 0 => write_first(l, rng, out),
        "StreetName" => write_last(l, rng, out),
        "StreetSuffix" => out.extend_from_slice(rng.pick(L::ADDRESS_STREET_SUFFIX).as_bytes()),
        other => out.extend_from_slice(other.as_bytes()),
    })
}

pub(super) fn secondary_address(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &SecondaryAddress(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn city(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &CityName(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn state(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, StateName(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn state_abbr(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, StateAbbr(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn country(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, CountryName(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn country_code(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, CountryCode(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn time_zone(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, TimeZone(L).fake_with_rng::<&str, _>(rng)))
}
