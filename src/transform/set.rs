//! `set`: every non-NULL value becomes the same constant (`{ set: free }`).
//! NULL stays NULL, so the column keeps its NULL pattern.

use serde::Deserialize;

use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};

/// `{ set: VALUE }`: writes VALUE for every non-NULL input; NULL stays NULL.
/// VALUE is written in PostgreSQL's text form (`set: 0`, `set: "2020-01-01"`).
#[derive(Debug, Clone)]
pub struct Options {
    value: String,
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept any scalar: `set: 0`, `set: true`, `set: free`.
        const EXPECTED: &str = "a scalar value, e.g. `{ set: free }`; use `null` for NULL";
        let value = crate::yaml::scalar_text(d, EXPECTED)?
            .ok_or_else(|| serde::de::Error::custom(format!("`set` takes {EXPECTED}")))?;
        Ok(Options { value })
    }
}

impl TransformOptions for Options {
    fn build(&self, _ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        Ok(Box::new(Set {
            value: self.value.clone().into_bytes(),
        }))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        super::MaxLength::Fixed(self.value.chars().count())
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Constant
    }

    fn describe(&self) -> String {
        format!("set({:?})", self.value)
    }

    fn needs_secret(&self) -> bool {
        false
    }

    fn constants(&self) -> Vec<String> {
        vec![self.value.clone()]
    }
}

struct Set {
    value: Vec<u8>,
}

impl Transform for Set {
    fn apply(
        &self,
        _input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        out.extend_from_slice(&self.value);
        Ok(Written::Value)
    }
}
