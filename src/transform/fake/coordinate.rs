//! `latitude` and `longitude`, with as many decimals as the column keeps
//! (at most 6).

use std::io::Write as _;

use rand::RngExt;

use super::super::Transform;
use super::draw::{Drawn, Generate, Params, Rng};
use super::Setup;
use crate::catalog::TypeKind;

pub(super) fn build_latitude(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    build(setup, 2, latitude)
}

pub(super) fn build_longitude(setup: &Setup<'_>) -> Result<Box<dyn Transform>, String> {
    build(setup, 3, longitude)
}

/// A numeric column must hold `int_digits` before the point.
fn build(
    setup: &Setup<'_>,
    int_digits: u32,
    generate: Generate,
) -> Result<Box<dyn Transform>, String> {
    let column = setup.ctx.column;
    let numeric = setup.params.column == TypeKind::Numeric;
    let scale = if numeric {
        column.numeric_scale.unwrap_or(6).min(6)
    } else {
        6
    };
    if let (true, Some(p)) = (numeric, column.numeric_precision) {
        let before_point = p.saturating_sub(column.numeric_scale.unwrap_or(0));
        if before_point < int_digits {
            return Err(format!(
                "`{}` needs {int_digits} digits before the point, column {}.{} ({}) has {before_point}",
                setup.transform, setup.ctx.table, column.name, column.type_name
            ));
        }
    }
    let mut params = setup.params();
    params.scale = scale;
    Ok(Box::new(Drawn::new(
        setup.ctx.key,
        &setup.namespace,
        params,
        generate,
    )))
}

fn latitude(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    write(90, p.scale, rng, out)
}

fn longitude(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    write(180, p.scale, rng, out)
}

fn write(bound: i64, scale: u32, rng: &mut Rng, out: &mut Vec<u8>) {
    let unit = 10i64.pow(scale);
    let v = rng.random_range(-bound * unit..=bound * unit);
    let _ = write!(out, "{}{}", if v < 0 { "-" } else { "" }, v.abs() / unit);
    if scale > 0 {
        let _ = write!(out, ".{:0w$}", v.abs() % unit, w = scale as usize);
    }
}
