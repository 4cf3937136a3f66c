//! Internet kinds: `safe_email`, `user_agent`, `password`, `ipv4`, `ipv6`,
//! `mac_address`, `url`, `domain`.

use std::fmt::Write as _;

use fake::faker::internet::raw::{SafeEmail, UserAgent};
use fake::faker::lorem::raw::Word;
use fake::locales::{Data, EN};
use fake::Fake;
use rand::RngExt;

use super::draw::{Params, Rng};
use super::locale::by_locale;

pub(super) fn safe_email(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&SafeEmail(L).fake_with_rng::<String, _>(rng)))
}

pub(super) fn user_agent(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    by_locale!(p.locale, L => s.push_str(&UserAgent(L).fake_with_rng::<String, _>(rng)))
}

const PASSWORD_CHARS: &[u8] =
    b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%*+-=?@_";

pub(super) fn password(_: &Params, input: &[u8], rng: &mut Rng, s: &mut String) {
    let len = rng.random_range(10..=16);
    for _ in 0..len {
        s.push(PASSWORD_CHARS[rng.random_range(0..PASSWORD_CHARS.len())] as char);
    }
    // A password is never the input, whatever the odds.
    if s.as_bytes() == input {
        s.push('!');
    }
}

pub(super) fn ipv4(_: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    let b: [u8; 4] = rng.random();
    let _ = write!(s, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
}

pub(super) fn ipv6(_: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    for i in 0..8 {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{:x}", rng.random::<u16>());
    }
}

pub(super) fn mac_address(p: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    let n = if p.mac8 { 8 } else { 6 };
    for i in 0..n {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{:02x}", rng.random::<u8>());
    }
}

/// A domain from English last names: ASCII whatever the locale, as most
/// real domains are.
pub(super) fn domain(_: &Params, _: &[u8], rng: &mut Rng, s: &mut String) {
    let names = <EN as Data>::NAME_LAST_NAME;
    let name = names[rng.random_range(0..names.len())];
    s.extend(
        name.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase()),
    );
    let suffixes = <EN as Data>::INTERNET_DOMAIN_SUFFIX;
    s.push('.');
    s.push_str(suffixes[rng.random_range(0..suffixes.len())]);
}

pub(super) fn url(p: &Params, input: &[u8], rng: &mut Rng, s: &mut String) {
    s.push_str("https://www.");
    domain(p, input, rng, s);
    s.push('/');
    s.push_str(Word(EN).fake_with_rng::<&str, _>(rng));
}
