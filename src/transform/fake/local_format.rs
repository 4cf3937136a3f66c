//! `fake: zip`, `postcode` and `cell_number`: values in the real format of
//! the rule's locale, drawn from the value's keyed generator like the
//! other lossy kinds. The fake crate's own data mixes formats (3- and
//! 4-digit US ZIP codes, US phone layouts in `de_de`, area codes starting
//! with 0), so these kinds are written from the tables below, each with
//! the authority that defines the format.
//!
//! A layout is text where `#` is a digit, `%` a digit 1–9, `^` a digit
//! 2–9, `L` an upper-case letter, and anything else is written as is.

use rand::RngExt;

use super::draw::{put_char, Params, Rng};

/// Postal code layouts per locale (by its name in `fake`'s list); a draw
/// picks one of the alternatives. Locales without their own use `en`'s.
fn postal_layouts(locale: &str) -> &'static [&'static str] {
    match locale {
        // USPS Publication 28, §2: ZIP Code, or ZIP+4.
        "en" => &["#####", "#####", "#####", "#####-####"],
        // La Poste: code postal, 5 digits, the first two the département.
        "fr_fr" => &["%####"],
        // Deutsche Post: Postleitzahl, 5 digits.
        "de_de" => &["#####"],
        // Poste Italiane: CAP, 5 digits.
        "it_it" => &["#####"],
        // Correios: CEP, 5 digits, a hyphen, 3 digits.
        "pt_br" => &["#####-###"],
        // CTT: código postal, 4 digits (the first 1–9), a hyphen, 3 digits.
        "pt_pt" => &["%###-###"],
        // Japan Post: 〒 3 digits, a hyphen, 4 digits.
        "ja_jp" => &["###-####"],
        // China Post: 6 digits.
        "zh_cn" => &["%#####"],
        // Chunghwa Post: 3+2 or 3+3 digits.
        "zh_tw" => &["%####", "%#####"],
        // Saudi Post (National Address): 5 digits.
        "ar_sa" => &["%####"],
        // Royal Mail: outward code (area letters, district digits), a
        // space, inward code (a digit, two letters).
        "cy_gb" => &["LL# #LL", "L# #LL", "L## #LL", "LL## #LL"],
        // Iran Post: 10 digits, written 5-5.
        "fa_ir" => &["%####-#####"],
        // PostNL: 4 digits (the first 1–9), a space, 2 letters.
        "nl_nl" => &["%### LL"],
        // PTT: posta kodu, 5 digits.
        "tr_tr" => &["#####"],
        _ => postal_layouts("en"),
    }
}

/// Mobile number layouts per locale.
fn cell_layouts(locale: &str) -> &'static [&'static str] {
    match locale {
        // NANPA: NPA (area code) and NXX (exchange) start with 2–9.
        "en" => &[
            "(^##) ^##-####",
            "^##-^##-####",
            "^##.^##.####",
            "+1 ^##-^##-####",
        ],
        // ARCEP: mobile numbers start 06 or 07, written in pairs.
        "fr_fr" => &["06 ## ## ## ##", "07 ## ## ## ##", "+33 6 ## ## ## ##"],
        // Bundesnetzagentur: mobile prefixes 015x, 016x, 017x.
        "de_de" => &[
            "015# #######",
            "016# #######",
            "017# #######",
            "+49 17# #######",
        ],
        // AGCOM: mobile numbers start with 3, 10 digits.
        "it_it" => &["+39 3## #######", "3## ### ####"],
        // ANATEL: (DDD) 9XXXX-XXXX, DDD 11–99.
        "pt_br" => &["(%%) 9####-####"],
        // ANACOM: mobile numbers start 91, 92, 93 or 96.
        "pt_pt" => &[
            "+351 91# ### ###",
            "+351 92# ### ###",
            "+351 93# ### ###",
            "+351 96# ### ###",
        ],
        // MIC: mobile numbers 070, 080, 090 and 8 digits.
        "ja_jp" => &["070-####-####", "080-####-####", "090-####-####"],
        // MIIT: 11 digits from 13x, 15x, 18x.
        "zh_cn" => &["13# #### ####", "15# #### ####", "18# #### ####"],
        // NCC: mobile numbers 09 and 8 digits.
        "zh_tw" => &["09##-###-###"],
        // CST: mobile numbers 05 and 8 digits.
        "ar_sa" => &["05# ### ####", "+966 5# ### ####"],
        // Ofcom: mobile numbers 07 and 9 digits.
        "cy_gb" => &["07### ######", "+44 7### ######"],
        // CRA: mobile numbers 09 and 9 digits.
        "fa_ir" => &["+98 9## #######", "09## ### ####"],
        // ACM: mobile numbers 06 and 8 digits.
        "nl_nl" => &["06 ########", "+31 6 ########"],
        // BTK: mobile numbers 05 and 9 digits.
        "tr_tr" => &["+90 5## ### ####", "05## ### ## ##"],
        _ => cell_layouts("en"),
    }
}

/// Letters of British postcodes: those Royal Mail never uses in the
/// inward code (C, I, K, M, O, V) are left out everywhere.
const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

fn write_layout(layouts: &[&str], rng: &mut Rng, out: &mut Vec<u8>) {
    let layout = layouts[rng.random_range(0..layouts.len())];
    for c in layout.chars() {
        match c {
            '#' => put_char(out, char::from(b'0' + rng.random_range(0..10u8))),
            '%' => put_char(out, char::from(b'0' + rng.random_range(1..10u8))),
            '^' => put_char(out, char::from(b'0' + rng.random_range(2..10u8))),
            'L' => put_char(out, LETTERS[rng.random_range(0..LETTERS.len())] as char),
            other => put_char(out, other),
        }
    }
}

/// Writes a postal code (`zip`, `postcode`) for `locale` into `s`.
pub(super) fn postal_code(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    write_layout(postal_layouts(p.locale.name()), rng, out);
}

/// Writes a mobile number (`cell_number`) for `locale` into `s`.
pub(super) fn cell_number(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    write_layout(cell_layouts(p.locale.name()), rng, out);
}

#[cfg(test)]
mod tests {
    use crate::catalog::TypeKind;
    use crate::transform::test_support::{apply, build_locale, column, parse};

    /// Each locale's zip, postcode and cell number against the real format
    /// (the authorities are named at the layouts above), as regular
    /// expressions written from those formats, not from the layouts.
    #[test]
    fn every_locale_follows_its_real_formats() {
        let formats: &[(&str, &str, &str)] = &[
            (
                "en",
                r"^\d{5}(-\d{4})?$",
                r"^(\+1 )?\(?[2-9]\d\d\)?[ .-]?[2-9]\d\d[.-]\d{4}$",
            ),
            (
                "fr_fr",
                r"^(0[1-9]|[1-9]\d)\d{3}$",
                r"^(0[67]( \d\d){4}|\+33 [67]( \d\d){4})$",
            ),
            (
                "de_de",
                r"^\d{5}$",
                r"^(01[567]\d \d{7}|\+49 1[567]\d \d{7})$",
            ),
            ("it_it", r"^\d{5}$", r"^(\+39 )?3\d\d ?\d{3} ?\d{4}$"),
            ("pt_br", r"^\d{5}-\d{3}$", r"^\([1-9]{2}\) 9\d{4}-\d{4}$"),
            (
                "pt_pt",
                r"^[1-9]\d{3}-\d{3}$",
                r"^\+351 9[1236]\d \d{3} \d{3}$",
            ),
            ("ja_jp", r"^\d{3}-\d{4}$", r"^0[789]0-\d{4}-\d{4}$"),
            ("zh_cn", r"^[1-9]\d{5}$", r"^1[358]\d \d{4} \d{4}$"),
            ("zh_tw", r"^[1-9]\d{4,5}$", r"^09\d\d-\d{3}-\d{3}$"),
            ("ar_sa", r"^[1-9]\d{4}$", r"^(05\d|\+966 5\d) \d{3} \d{4}$"),
            (
                "cy_gb",
                r"^[A-Z]{1,2}\d{1,2} \d[ABD-HJLNP-UW-Z]{2}$",
                r"^(07\d{3}|\+44 7\d{3}) \d{6}$",
            ),
            (
                "fa_ir",
                r"^[1-9]\d{4}-\d{5}$",
                r"^(\+98 9\d\d \d{7}|09\d\d \d{3} \d{4})$",
            ),
            (
                "nl_nl",
                r"^[1-9]\d{3} [A-Z]{2}$",
                r"^(06 \d{8}|\+31 6 \d{8})$",
            ),
            (
                "tr_tr",
                r"^\d{5}$",
                r"^(\+90 5\d\d \d{3} \d{4}|05\d\d \d{3} \d\d \d\d)$",
            ),
        ];
        assert_eq!(
            formats.len(),
            super::super::locale::LOCALES.len(),
            "one row per locale"
        );
        let text = column("c", "text", TypeKind::Text);
        for (locale, postal, cell) in formats {
            let postal_re = regex::Regex::new(postal).unwrap();
            let cell_re = regex::Regex::new(cell).unwrap();
            for (kind, re) in [
                ("zip", &postal_re),
                ("postcode", &postal_re),
                ("cell_number", &cell_re),
            ] {
                let t = build_locale(&*parse(&format!("fake: {kind}")), &text, locale);
                for i in 0..300 {
                    let v = apply(&*t, Some(&i.to_string())).unwrap();
                    assert!(re.is_match(&v), "{locale} {kind}: `{v}`");
                }
            }
        }
    }
}
