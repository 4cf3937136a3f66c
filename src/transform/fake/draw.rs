//! The lossy kinds' transform: each value's output is drawn from a
//! generator seeded by the value's keyed digest, so one value gives one
//! output in every column and every run with the same secret.

use super::super::{Key, RowView, Transform, ValueError, Written};
use super::locale::Locale;
use crate::catalog::TypeKind;

/// The generator the lossy kinds draw from.
pub type Rng = rand_chacha::ChaCha20Rng;

/// What a generator may look at besides the value.
#[derive(Clone, Copy)]
pub struct Params {
    pub locale: Locale,
    /// Kind of the column, for the output's form (dates, numbers).
    pub column: TypeKind,
    /// Decimals of latitude and longitude.
    pub scale: u32,
    /// Inclusive day range of dates.
    pub range: (i64, i64),
    /// A `macaddr8` column: eight bytes, not six.
    pub mac8: bool,
}

/// A lossy kind's transform: its generator, fed the value's keyed stream.
pub struct Drawn {
    pub key: Key,
    pub namespace: Vec<u8>,
    pub params: Params,
    pub generate: fn(&Params, &[u8], &mut Rng, &mut String),
}

impl Transform for Drawn {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let mut rng = self.key.rng(&self.namespace, input);
        let mut s = String::new();
        (self.generate)(&self.params, input, &mut rng, &mut s);
        out.extend_from_slice(s.as_bytes());
        Ok(Written::Value)
    }
}
