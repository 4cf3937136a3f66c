//! Internet kinds: `safe_email`, `user_agent`, `password`, `ipv4`, `ipv6`,
//! `mac_address`, `url`, `domain`.

use std::io::Write as _;

use fake::faker::internet::raw::{SafeEmail, UserAgent};
use fake::faker::lorem::raw::Word;
use fake::locales::{Data, EN};
use fake::Fake;
use rand::RngExt;

use super::draw::{put, Params, Rng};
use super::locale::by_locale;

pub(super) fn safe_email(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &SafeEmail(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn user_agent(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    by_locale!(p.locale, L => put(out, &UserAgent(L).fake_with_rng::<String, _>(rng)))
}

const PASSWORD_CHARS: &[u8] =
    b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%*+-=?@_";

pub(super) fn password(_: &Params, input: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let start = out.len();
    let len = 10 + rng.below(7);
    for _ in 0..len {
        out.push(*rng.pick(PASSWORD_CHARS));
    }
    // A password is never the input, whatever the odds.
    if &out[start..] == input {
        out.push(b'!');
    }
}

pub(super) fn ipv4(_: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let b: [u8; 4] = rng.random();
    let _ = write!(out, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
}

pub(super) fn ipv6(_: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    for i in 0..8 {
        if i > 0 {
            out.push(b':');
        }
        let _ = write!(out, "{:x}", rng.random::<u16>());
    }
}

pub(super) fn mac_address(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let n = if p.mac8 { 8 } else { 6 };
    for i in 0..n {
        if i > 0 {
            out.push(b':');
        }
        let _ = write!(out, "{:02x}", rng.random::<u8>());
    }
}

/// A domain from English last names: ASCII whatever the locale, as most
/// real domains are.
pub(super) fn domain(_: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let names = <EN as Data>::NAME_LAST_NAME;
    let name = names[rng.random_range(0..names.len())];
    out.extend(
        name.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase()),
    );
    let suffixes = <EN as Data>::INTERNET_DOMAIN_SUFFIX;
    out.push(b'.');
    put(out, suffixes[rng.random_range(0..suffixes.len())]);
}

pub(super) fn url(p: &Params, input: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    put(out, "https://www.");
    domain(p, input, rng, out);
    out.push(b'/');
    put(out, Word(EN).fake_with_rng::<&str, _>(rng));
}
