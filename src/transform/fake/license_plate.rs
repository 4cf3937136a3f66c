//! `fake: license_plate`: a vehicle registration in the layout of the
//! rule's locale (`ABC-1234` in `en`, `AB-123-CD` in `fr_fr`, `M AB 1234`
//! in `de_de`), drawn from the value's keyed generator like the other
//! lossy fake kinds.
//!
//! Letters that plates avoid because they read as digits (I, O, Q) are
//! never drawn. The plates are plausible, not registered ones: nothing here
//! checks a real register, so a draw may still name a real car.

use rand::RngExt;

use super::draw::{put, put_char, Params, Rng};

/// About how many plates the `en` layout draws from (23³ × 10⁴), the
/// smallest of the layouts, for `verify`'s chance-match expectation.
pub(super) const OUTPUTS: f64 = 1.2e8;

/// Letters used on plates: A–Z without I, O and Q.
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// German district codes (Berlin, Munich, Hamburg, Cologne, ...): the first
/// part of a German plate names where the car is registered.
const DE_DISTRICTS: &[&str] = &["B", "M", "HH", "K", "F", "S", "D", "DO", "E", "L"];

/// The layout of each locale, by its name in `fake`'s locale list: `A` is
/// a letter, `9` a digit, anything else is written as is. Locales without
/// their own layout use `en`'s.
fn layout(locale: &str) -> &'static str {
    match locale {
        "fr_fr" => "AA-999-AA",
        "it_it" => "AA 999AA",
        "nl_nl" => "99-AAA-9",
        "pt_pt" | "pt_br" => "AAA-9999",
        "de_de" => "AA 9999",
        _ => "AAA-9999",
    }
}

/// Writes one plate in the rule's locale into `s`.
pub(super) fn plate(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let locale = p.locale.name();
    if locale == "de_de" {
        put(out, DE_DISTRICTS[rng.random_range(0..DE_DISTRICTS.len())]);
        put_char(out, ' ');
    }
    for c in layout(locale).chars() {
        match c {
            'A' => put_char(out, LETTERS[rng.random_range(0..LETTERS.len())] as char),
            '9' => put_char(out, char::from(b'0' + rng.random_range(0..10u8))),
            other => put_char(out, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::TypeKind;
    use crate::transform::test_support::{apply, build, build_locale, column, parse};

    fn shape(plate: &str) -> String {
        plate
            .chars()
            .map(|c| match c {
                'A'..='Z' => 'A',
                '0'..='9' => '9',
                other => other,
            })
            .collect()
    }

    #[test]
    fn plates_follow_the_locale_layout() {
        let o = parse("{ fake: license_plate }");
        let text = column("plate", "text", TypeKind::Text);
        let en = build(&*o, &text);
        let fr = build_locale(&*o, &text, "fr_fr");
        let de = build_locale(&*o, &text, "de_de");
        for i in 0..200 {
            let input = format!("KA-{i:04}");
            let p = apply(&*en, Some(&input)).unwrap();
            assert_eq!(shape(&p), "AAA-9999", "{p}");
            assert!(!p.contains(['I', 'O', 'Q']), "{p}");
            let p = apply(&*fr, Some(&input)).unwrap();
            assert_eq!(shape(&p), "AA-999-AA", "{p}");
            let p = apply(&*de, Some(&input)).unwrap();
            let (district, rest) = p.split_once(' ').unwrap();
            assert!(super::DE_DISTRICTS.contains(&district), "{p}");
            assert_eq!(shape(rest), "AA 9999", "{p}");
        }
        // Deterministic, and NULL stays NULL.
        assert_eq!(apply(&*en, Some("B-XY 123")), apply(&*en, Some("B-XY 123")));
        assert_eq!(apply(&*en, None), None);
    }
}
