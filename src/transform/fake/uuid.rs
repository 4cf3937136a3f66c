//! `fake: uuid`: uuids permuted, other text turned into a v4 uuid.

use super::super::keyed::Prf;
use super::super::{hash, RowView, Transform, ValueError, Written};
use super::Setup;

pub(super) fn build(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    Ok(Box::new(FakeUuid {
        prf: Prf::derive(setup.ctx.key, &setup.namespace),
    }))
}

/// `fake: uuid`: a uuid input is permuted (version and variant kept); any
/// other text becomes a v4 uuid from two SipHash outputs of it (122
/// random bits, as many as the HMAC it replaced kept).
struct FakeUuid {
    prf: Prf,
}

/// Separate the text's two halves from each other and from the
/// permutation's tweaks.
const TWEAK_TEXT_HIGH: u64 = 0x7575_6964_7468;
const TWEAK_TEXT_LOW: u64 = 0x7575_6964_746c;

impl Transform for FakeUuid {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let u = match hash::parse_uuid(input) {
            Some(u) => hash::permute_uuid(&self.prf, u),
            None => {
                let high = self.prf.bytes_after(TWEAK_TEXT_HIGH, input);
                let low = self.prf.bytes_after(TWEAK_TEXT_LOW, input);
                let v = (u128::from(high) << 64) | u128::from(low);
                (v & !((0xf << 76) | (0b11 << 62))) | (0x4 << 76) | (0b10 << 62)
            }
        };
        hash::write_uuid(u, out);
        Ok(Written::Value)
    }
}
