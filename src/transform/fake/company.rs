//! `company`, `industry`, `job_title`: from the locale's data.

use fake::faker::company::raw::{CompanyName, Industry};
use fake::faker::job::raw::Title;
use fake::Fake;

use super::draw::{put, Params, Rng};
use super::locale::by_locale;

pub(super) fn company(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &CompanyName(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn industry(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Industry(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn job_title(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Title(L).fake_with_rng::<String, _>(rng)))
}
