//! `company`, `industry`, `job_title`: from the locale's data.

use fake::faker::company::raw::{CompanyName, Industry};
use fake::faker::job::raw::Title;
use fake::Fake;

use super::draw::{Params, Rng};
use super::locale::by_locale;

pub(super) fn company(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&CompanyName(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn industry(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&Industry(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn job_title(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&Title(L).fake_with_rng::<String, _>(rng)))
}
