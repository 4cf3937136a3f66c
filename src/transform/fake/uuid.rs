//! `fake: uuid`: uuids permuted, other text turned into a v4 uuid.

use super::super::keyed::Prf;
use super::super::{hash, Key, RowView, Transform, ValueError, Written};
use super::Setup;

pub(super) fn build(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    Ok(Box::new(FakeUuid {
        prf: Prf::derive(setup.ctx.key, &setup.namespace),
        key: setup.ctx.key.clone(),
        namespace: setup.namespace.clone(),
    }))
}

/// `fake: uuid`: a uuid input is permuted (version and variant kept); any
/// other text becomes a v4 uuid from its HMAC.
struct FakeUuid {
    prf: Prf,
    key: Key,
    namespace: Vec<u8>,
}

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
                let d = self.key.digest(&self.namespace, input);
                let v = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
                (v & !((0xf << 76) | (0b11 << 62))) | (0x4 << 76) | (0b10 << 62)
            }
        };
        hash::write_uuid(u, out);
        Ok(Written::Value)
    }
}
