//! `first_name`, `last_name`, `name`, `name_with_title`: from the locale's
//! name lists.

use fake::faker::name::raw::{FirstName, LastName, Name, NameWithTitle};
use fake::Fake;

use super::draw::{Params, Rng};
use super::locale::by_locale;

pub(super) fn first_name(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(FirstName(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn last_name(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(LastName(L).fake_with_rng::<&str, _>(rng)))
}

pub(super) fn name(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&Name(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn name_with_title(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&NameWithTitle(L).fake_with_rng::<String, _>(rng)))
}
