//! `fake: phone_number`: the number's digits under a keyed permutation,
//! its layout and country code kept.

use super::super::keyed::{self, Prf};
use super::super::{RowView, Shape, Transform, ValueError, Written};
use super::Setup;

pub(super) fn build(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    Ok(Box::new(Phone {
        prf: Prf::derive(setup.ctx.key, &setup.namespace),
    }))
}

/// Digits encrypted (a `+` country code, when there is one, is kept: a
/// number without it is the common case).
pub(super) fn domain(shape: Shape) -> f64 {
    10f64.powi(shape.digits as i32)
}

/// `fake: phone_number`: the digits encrypted in place, everything else
/// (separators, an extension's `x`, a leading `+` country code of up to
/// three digits set off by a separator) kept, so numbers keep their layout
/// and country. Digits that a numbering plan constrains keep their class,
/// so a valid number stays valid (see `digit_radices`); the classes and the
/// kept characters are the tweak, so the map is a bijection.
struct Phone {
    prf: Prf,
}

/// A worker's buffers for one number, reused number after number.
#[derive(Default)]
struct Scratch {
    positions: Vec<usize>,
    digits: Vec<u8>,
    radices: Vec<(u8, u8)>,
    shape: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

impl Phone {
    fn encrypt(&self, input: &[u8], s: &mut Scratch, out: &mut Vec<u8>) {
        let kept = country_code_units(input);
        s.positions.clear();
        s.positions
            .extend((kept..input.len()).filter(|&i| input[i].is_ascii_digit()));
        s.digits.clear();
        s.digits
            .extend(s.positions.iter().map(|&i| input[i] - b'0'));
        digit_radices(&input[..kept], &s.digits, &mut s.radices);
        // The shape: kept bytes as they are, each digit as its class.
        s.shape.clear();
        s.shape.extend_from_slice(input);
        for (&i, &(low, radix)) in s.positions.iter().zip(&s.radices) {
            s.shape[i] = 0x80 | (low << 4) | radix;
        }
        let tweak = self.prf.bytes(&s.shape);
        keyed::with_symbols(|symbols| {
            symbols.extend(
                s.digits
                    .iter()
                    .zip(&s.radices)
                    .filter(|(_, &(_, radix))| radix > 1)
                    .map(|(&d, &(low, radix))| keyed::pack(u32::from(d - low), u32::from(radix))),
            );
            let only = (symbols.len() == 1).then(|| symbols[0]);
            self.prf.permute_symbols(tweak, symbols);
            // One digit is shifted by a keyed amount; never by 0.
            if let Some(before) = only {
                if symbols[0] == before {
                    let (v, r) = keyed::unpack(before);
                    symbols[0] = keyed::pack((v + 1) % r, r);
                }
            }
            let base = out.len();
            out.extend_from_slice(input);
            let mut next = symbols.iter();
            for (&i, &(low, radix)) in s.positions.iter().zip(&s.radices) {
                if radix > 1 {
                    let (v, _) = keyed::unpack(*next.next().expect("one per digit"));
                    out[base + i] = b'0' + low + v as u8;
                }
            }
        });
    }
}

/// How many leading units of a phone number are kept: `+` and the country
/// code when it is set off (`+1-`, `+44 `, `+351 `).
pub(super) fn country_code_units(input: &[u8]) -> usize {
    if input.first() != Some(&b'+') {
        return 0;
    }
    let digits = input[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let sep = input.get(1 + digits);
    if (1..=3).contains(&digits) && sep.is_some_and(|c| !c.is_ascii_digit()) {
        1 + digits
    } else {
        1
    }
}

impl Transform for Phone {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        SCRATCH.with(|cell| {
            let scratch = &mut *cell.borrow_mut();
            self.encrypt(input, scratch, out);
        });
        Ok(Written::Value)
    }
}

/// Per digit of a phone number (after a kept country code), the lowest
/// value and the count of values it may take: a digit stays in its class,
/// so what a numbering plan requires of it still holds.
/// - NANP (country code 1, or 10 digits or more without a leading 0, an
///   extension's included; a leading trunk `1` is kept): the area code and the exchange start with 2–9 (NANPA), or stay
///   0–1 in a number that was not valid.
/// - Elsewhere (ITU-T E.164): a leading trunk `0` is kept, and the first
///   significant digit stays 1–9.
fn digit_radices(country: &[u8], digits: &[u8], radices: &mut Vec<(u8, u8)>) {
    radices.clear();
    radices.resize(digits.len(), (0u8, 10u8));
    let nanp = country == b"+1" || (country.is_empty() && digits.len() >= 10 && digits[0] != 0);
    let class = |d: u8, split: u8| {
        if d >= split {
            (split, 10 - split)
        } else {
            (0, split)
        }
    };
    if nanp && digits.len() >= 4 {
        let national = if digits.len() >= 11 && digits[0] == 1 {
            radices[0] = (1, 1);
            1
        } else {
            0
        };
        for at in [national, national + 3] {
            if at < digits.len() {
                radices[at] = class(digits[at], 2);
            }
        }
    } else if let Some(first) = digits.first() {
        if *first == 0 && country.is_empty() {
            radices[0] = (0, 1);
            if let Some(&d) = digits.get(1) {
                radices[1] = class(d, 1);
            }
        } else {
            radices[0] = class(*first, 1);
        }
    }
}
