//! No input may panic a transform: a panic message can quote the value,
//! and a panic in the rayon pool used to abort the run without cleanup.
//! Every rule of docs/transforms.md, every fake kind, and the typed
//! transforms inside `json` and `regex` get arbitrary bytes and strings.

use proptest::prelude::*;

use super::test_support::{column, parse};
use super::{Key, RowView, Transform, TypeKind};

/// Every rule to try, built for the column type it is written for.
fn transforms() -> Vec<(String, Box<dyn Transform>)> {
    let mut rules: Vec<(String, String)> = Vec::new();
    // The docs' yaml lines carry their column type after `  # `.
    let doc = include_str!("../../docs/transforms.md");
    let mut in_yaml = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_yaml = line == "```yaml";
            continue;
        }
        if let (true, Some((yaml, type_name))) = (in_yaml, line.rsplit_once("  # ")) {
            if let Some((_, rule)) = yaml.split_once(": ") {
                rules.push((rule.trim().to_string(), type_name.trim().to_string()));
            }
        }
    }
    // Every transform of the registry, by its sample case.
    for e in super::entries() {
        rules.push((e.sample.rule.to_string(), e.sample.type_name.to_string()));
    }
    for (kind, _) in super::fake::KINDS {
        rules.push((format!("{{ fake: {kind} }}"), "text".into()));
    }
    for (rule, type_name) in [
        // Typed transforms on fragments parse what they find at run time.
        (
            "{ json: { paths: { t: { shift: { minutes: 5 } }, d: { shift: { days: 3 } }, n: { noise: { percent: 5 } }, e: { fake: email } } } }",
            "jsonb",
        ),
        ("{ regex: { pattern: '\\S+', with: { shift: { minutes: 5 } } } }", "text"),
        ("{ regex: { pattern: '\\S+', with: { shift: { days: 5 } } } }", "text"),
        ("{ regex: { pattern: '\\S+', with: { noise: { percent: 5 } } } }", "text"),
        ("{ regex: { pattern: '\\S+', with: { fpe: { keep_last: 2 } } } }", "text"),
        ("{ shift: { minutes: 5 } }", "time without time zone"),
        ("{ shift: { minutes: 5 } }", "timestamp without time zone"),
        ("{ shift: { minutes: 5 } }", "timestamp with time zone"),
        ("{ shift: { minutes: 5 } }", "time with time zone"),
        ("{ fpe: { keep_first: 3, keep_last: 3 } }", "text"),
        ("{ hash: {} }", "uuid"),
        ("{ hash: {} }", "integer"),
        ("{ fake: { kind: email, keep_domain: true } }", "text"),
        ("{ fake: email, unique: true }", "text"),
        ("{ mask: { keep_last: 4 } }", "varchar(5)"),
    ] {
        rules.push((rule.to_string(), type_name.to_string()));
    }
    let key = Key::new(super::test_support::SECRET);
    let mut out = Vec::new();
    for (rule, type_name) in rules {
        let (base, modifiers) = type_name.split_once('(').unwrap_or((&type_name, ""));
        let mut col = column("c", &type_name, TypeKind::from_type(base, "b"));
        let n: Vec<u32> = modifiers
            .trim_end_matches(')')
            .split(',')
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        match (col.kind, n.as_slice()) {
            (TypeKind::Numeric, [p, s]) => {
                col.numeric_precision = Some(*p);
                col.numeric_scale = Some(*s);
            }
            (TypeKind::Text, [len]) => col.max_length = Some(*len as usize),
            _ => {}
        }
        let parsed: super::rule::ColumnRule = crate::yaml::from_str(&rule).expect("parses");
        let super::rule::Action::Transform(options) = &parsed.action else {
            continue;
        };
        let _ = parse; // the same parser the other tests use
                       // Rules that read other columns (template) get those columns.
        let others: Vec<crate::catalog::Column> = options
            .reads()
            .iter()
            .map(|c| column(c, "text", TypeKind::Text))
            .chain(std::iter::once(col.clone()))
            .collect();
        let ctx = super::BuildContext {
            table: "public.t",
            column: &col,
            columns: &others,
            key: &key,
            locale: parsed.locale.as_deref().unwrap_or("en"),
            unique: parsed.unique,
            namespace: None,
            unknown_fail: false,
        };
        let t = options
            .build(&ctx)
            .unwrap_or_else(|e| panic!("{rule} on {type_name}: {e}"));
        out.push((format!("{rule} on {type_name}"), t));
    }
    out
}

fn all() -> &'static [(String, Box<dyn Transform>)] {
    static ALL: std::sync::OnceLock<Vec<(String, Box<dyn Transform>)>> = std::sync::OnceLock::new();
    ALL.get_or_init(transforms)
}

/// Applies every transform; an error is fine, a panic is not.
fn apply_all(input: &[u8]) {
    let mut out = Vec::new();
    for (_, t) in all() {
        out.clear();
        let _ = t.apply(input, &RowView::empty(), &mut out);
    }
}

#[test]
fn known_panics_are_gone() {
    assert!(all().len() > 60, "every rule was built");
    for input in [
        "12:34:5€",
        "12:34:56.€",
        "2024-01-01 12:34:5€",
        "{\"t\": \"12:34:5€\", \"d\": \"2024-0€-01\", \"n\": 1e400}",
        "€€:€€:€€",
        "",
        "\\",
        "+",
        "@",
        "a@",
        "@b",
        "+12 ",
    ] {
        apply_all(input.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_string_panics(s in "\\PC{0,40}") {
        apply_all(s.as_bytes());
    }

    #[test]
    fn no_time_like_string_panics(s in "[0-9:.+\\- €é]{0,24}") {
        apply_all(s.as_bytes());
    }

    #[test]
    fn no_json_document_panics(t in "\\PC{0,20}", d in "[0-9\\-:€ ]{0,16}", n in "[0-9e.\\-]{1,8}") {
        let doc = serde_json::json!({ "t": t, "d": d, "e": t, "n": n }).to_string();
        apply_all(doc.as_bytes());
        apply_all(format!("{{\"n\": {n}, \"t\": 1}}").as_bytes());
    }

    #[test]
    fn no_bytes_panic(b in proptest::collection::vec(any::<u8>(), 0..48)) {
        apply_all(&b);
    }
}
