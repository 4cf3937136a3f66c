//! `anonymize demo`: the embedded sample and rules through the real
//! pipeline, on its own throwaway cluster.
//!
//! Needs the `fake`, `hash`, `shift`, `json` and `template` transforms,
//! which `rules/demo.yml` uses.

use crate::harness::anonymize;

const SECRET: &str = "demo-test-secret-4f9c1d-0123456789abcdef";

/// The lines of stdout after the line `title`, up to the next blank line.
fn section<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

fn emails(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .filter(|w| w.contains('@'))
        .map(str::to_string)
        .collect()
}

fn shipping(stdout: &str, title: &str) -> serde_json::Value {
    let lines = section(stdout, title);
    assert_eq!(lines.len(), 1, "one jsonb line under {title:?}:\n{stdout}");
    serde_json::from_str(lines[0]).expect("shipping is JSON")
}

#[test]
fn demo_runs_the_pipeline_from_any_directory() {
    // Not the repo: the sample and the rules must come from the binary.
    let dir = tempfile::tempdir().unwrap();
    let run = anonymize(
        dir.path(),
        &["demo", "--no-progress", "--customers", "50"],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    let out = &run.stdout;

    // The summary names every table; customers has exactly the asked rows.
    for table in [
        "public.addresses",
        "public.customers",
        "public.employees",
        "public.order_items",
        "public.orders",
        "public.products",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(table)),
            "{table} missing from the summary:\n{out}"
        );
    }
    let customers: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("public.customers "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(customers[1], "50", "customers rows:\n{out}");
    assert!(out.lines().any(|l| l.starts_with("total ")), "{out}");

    // Five customers before and after, and no email survives.
    let before = emails(&section(out, "customers, before (demo_source):"));
    let after = emails(&section(out, "customers, after (demo_target):"));
    assert_eq!(before.len(), 5, "{out}");
    assert_eq!(after.len(), 5, "{out}");
    for email in &before {
        assert!(!after.contains(email), "{email} survived:\n{out}");
    }

    // The sample's North American numbers are valid, and so are their
    // fakes: area code and exchange start with 2–9 (NANPA).
    let nanp = regex::Regex::new(r"\+1 \([2-9]\d\d\) [2-9]\d\d-\d{4}").unwrap();
    let before = section(out, "customers, before (demo_source):");
    let after = section(out, "customers, after (demo_target):");
    for (b, a) in before
        .iter()
        .zip(&after)
        .filter(|(b, _)| b.contains("+1 ("))
    {
        assert!(nanp.is_match(b), "the sample's number is not valid: {b}");
        assert!(nanp.is_match(a), "the fake number is not valid: {a}");
    }
    assert!(before.iter().any(|l| l.contains("+1 (")), "{out}");

    // The jsonb document: name and street replaced, other keys kept.
    let b = shipping(out, "orders.shipping of order 1, before:");
    let a = shipping(out, "orders.shipping of order 1, after:");
    assert_ne!(a["name"], b["name"]);
    assert_ne!(a["address"]["street"], b["address"]["street"]);
    assert_eq!(a["carrier"], b["carrier"]);
    assert_eq!(a["gift"], b["gift"]);

    // The secret is never printed.
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    assert!(out.contains("secret: ANONYMIZE_SECRET"), "{out}");
}
