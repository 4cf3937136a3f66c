//! `first_name`, `last_name`, `name`, `name_with_title`: from the locale's
//! name lists, in the locale's name templates.

use fake::locales::Data;

use super::draw::{render, Params, Rng};
use super::locale::by_locale;

pub(super) fn first_name(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => write_first(L, rng, out))
}

pub(super) fn last_name(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => write_last(L, rng, out))
}

pub(super) fn name(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => write_name(L, false, rng, out))
}

pub(super) fn name_with_title(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => write_name(L, true, rng, out))
}

pub(super) fn write_first<L: Data>(_: L, rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(rng.pick(L::NAME_FIRST_NAME).as_bytes());
}

pub(super) fn write_last<L: Data>(_: L, rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(rng.pick(L::NAME_LAST_NAME).as_bytes());
}

/// A name in the locale's template (`{FirstName} {LastName}`,
/// `{LastName}{FirstName}`, with `{Title}`).
pub(super) fn write_name<L: Data + Copy>(l: L, with_title: bool, rng: &mut Rng, out: &mut Vec<u8>) {
    let template = if with_title {
        L::NAME_WITH_TITLE_TPL
    } else {
        L::NAME_TPL
    };
    render(template, out, |part, out| match part {
        "FirstName" => write_first(l, rng, out),
        "LastName" => write_last(l, rng, out),
        "Title" => out.extend_from_slice(rng.pick(L::NAME_TITLE).as_bytes()),
        other => out.extend_from_slice(other.as_bytes()),
    })
}
