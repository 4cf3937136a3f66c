//! `word`, `words`, `sentence`, `paragraph`: lorem ipsum from the locale's
//! word list.

use fake::faker::lorem::raw::{Paragraph, Sentence, Word, Words};
use fake::Fake;

use super::draw::{put, Params, Rng};
use super::locale::by_locale;

pub(super) fn word(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Word(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn words(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Words(L, 3..7).fake_with_rng::<Vec<String>, _>(rng).join(" ")))
}

pub(super) fn sentence(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Sentence(L, 4..11).fake_with_rng::<String, _>(rng)))
}

pub(super) fn paragraph(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &Paragraph(L, 3..7).fake_with_rng::<String, _>(rng)))
}
