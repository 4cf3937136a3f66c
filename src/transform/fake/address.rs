//! Address kinds from the locale's data: streets, buildings, cities,
//! states, countries, time zones. (Postal codes are `local_format`.)

use fake::faker::address::raw::{
    BuildingNumber, CityName, CountryCode, CountryName, SecondaryAddress, StateAbbr, StateName,
    StreetName, TimeZone,
};
use fake::Fake;

use super::draw::{Params, Rng};
use super::locale::{by_locale, Locale};

/// The street address layout of each locale.
fn street_address_layout(locale: Locale) -> &'static str {
    match locale {
        Locale::DeDe | Locale::NlNl => "{street} {number}",
        Locale::ItIt | Locale::PtBr | Locale::PtPt | Locale::TrTr => "{street}, {number}",
        Locale::ZhCn | Locale::ZhTw => "{street}{number}号",
        _ => "{number} {street}",
    }
}

pub(super) fn street_address(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    let (number, street): (String, String) = by_locale!(p.locale, L => (
        BuildingNumber(L).fake_with_rng(rng),
        StreetName(L).fake_with_rng(rng),
    ));
    s.push_str(
        &street_address_layout(p.locale)
            .replace("{number}", &number)
            .replace("{street}", &street),
    );
}

pub(super) fn secondary_address(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&SecondaryAddress(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn building_number(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&BuildingNumber(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn street_name(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&StreetName(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn city(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&CityName(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn state(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(StateName(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn state_abbr(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(StateAbbr(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn country(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(CountryName(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn country_code(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(CountryCode(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn time_zone(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(TimeZone(L).fake_with_rng::<&str, _>(rng)))
}
