//! `fake: email` and `fake: username`: the person-like unique form (see
//! `person`), and `{ kind: email, keep_domain: true }`, the local part
//! encrypted in its own format with the domain kept.

use super::super::keyed::{Prf, TextCipher};
use super::super::{RowView, Transform, ValueError, Written};
use super::Setup;

pub(super) fn build(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    Ok(Box::new(person(setup, true)))
}

pub(super) fn build_username(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    Ok(Box::new(person(setup, false)))
}

/// One form for every column of the namespace, unique or not: a
/// person-like address whose tag keeps inputs apart.
fn person(setup: &Setup<'_>, with_domain: bool) -> Person {
    Person {
        prf: Prf::derive(setup.ctx.key, &setup.namespace),
        with_domain,
    }
}

pub(super) fn build_keeping_domain(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    let prf = Prf::derive(setup.ctx.key, &setup.namespace);
    Ok(Box::new(KeptDomainEmail {
        cipher: TextCipher::new(prf),
        prf,
    }))
}

/// `fake: { kind: email, keep_domain: true }`: the local part encrypted
/// in its own format under the (lower-cased) domain, the real domain kept.
/// Split at the last `@`; a value without one is encrypted whole and stays
/// without one. The local part's map is a bijection given the domain, and
/// the domain is kept, so the whole map is one.
struct KeptDomainEmail {
    cipher: TextCipher,
    prf: Prf,
}

/// Tweak of a value without `@`.
const TWEAK_NO_DOMAIN: u64 = 0x6e6f_2d64_6f6d;

impl Transform for KeptDomainEmail {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let Some(at) = memchr::memrchr(b'@', input) else {
            self.cipher.encrypt(TWEAK_NO_DOMAIN, input, &|_| false, out);
            return Ok(Written::Value);
        };
        let (local, domain) = (&input[..at], &input[at + 1..]);
        let domain_tweak = self.prf.bytes(&domain.to_ascii_lowercase());
        self.cipher.encrypt(domain_tweak, local, &|_| false, out);
        out.push(b'@');
        out.extend_from_slice(domain);
        Ok(Written::Value)
    }
}

/// `fake: email` and `fake: username`: a person-like address or handle
/// (`jane.roberts.k7q2…@example.net`), unique by construction (see
/// `person`). Every column of the namespace gets this one form, with or
/// without `unique: true` or a unique constraint, so they all join.
struct Person {
    prf: Prf,
    with_domain: bool,
}

impl Transform for Person {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        super::person::write(&self.prf, input, self.with_domain, out);
        Ok(Written::Value)
    }
}
