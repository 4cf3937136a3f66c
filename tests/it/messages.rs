//! The exact text a user sees for every way a rules file can be wrong and
//! for the faults of `faults.rs` (issue 8), as insta snapshots under
//! `tests/it/snapshots/`. A change of wording shows up as a snapshot diff
//! to review: `cargo insta review`, or `INSTA_UPDATE=always cargo test`
//! then `git diff`.
//!
//! Run-specific parts (temporary paths, ports, per-test database names)
//! are replaced by placeholders, and log lines are left out: what is kept
//! is the exit code, stdout and the `error:`/`warning:` lines.

use crate::harness::{anonymize, Db, Pg, Run};

const SECRET: &str = "dOyWenBSJkQkIWSlqTi3d3HrQWhB4BIX07sIyXBHrPeV4851u10lD2kH";

/// The text of a run as a user reads it, with run-specific parts replaced.
pub fn user_text(run: &Run, dir: &std::path::Path, dbs: &[&Db]) -> String {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains("\u{1b}[") && !l.trim().is_empty())
        .collect();
    let mut text = format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}\n",
        run.code,
        run.stdout,
        errors.join("\n")
    );
    text = text.replace(&dir.display().to_string(), "<dir>");
    for db in dbs {
        text = text.replace(&db.name, "<db>");
    }
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let text = port.replace_all(&text, "<server>");
    let file = regex::Regex::new(r"base/\d+/\d+(\.\d+)?").unwrap();
    file.replace_all(&text, "base/<oid>/<file>").into_owned()
}

fn source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, born date,
                                 status text NOT NULL, score int);
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, note text);
         CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         INSERT INTO customers VALUES (1, 'a@realmail.example', 'Ann', '1990-01-01', 'active', 3);",
    );
    db
}

const GOOD: &str = "version: 1
tables:
  public.customers:
    columns:
      id: keep
      email: { fake: email, unique: true }
      name: { fake: name }
      born: { shift: { days: 30 } }
      status: keep
      score: keep
  public.orders:
    columns: { id: keep, customer_id: keep, note: null }
  public.events:
    columns: { id: keep, at: keep }
";

/// Rules that are wrong in one way each: (snapshot name, edit of GOOD).
fn cases() -> Vec<(&'static str, String)> {
    let edit = |from: &str, to: &str| {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replace(from, to)
    };
    vec![
        (
            "yaml_syntax",
            edit("      id: keep\n      email", "      id: keep\n     email"),
        ),
        ("yaml_tab", edit("      score: keep", "\tscore: keep")),
        ("missing_version", edit("version: 1\n", "")),
        ("wrong_version", edit("version: 1", "version: 2")),
        (
            "unknown_top_level_key",
            edit("version: 1\n", "version: 1\nunknwon_columns: keep\n"),
        ),
        ("unknown_transform", edit("{ fake: name }", "{ fak: name }")),
        (
            "unknown_fake_kind",
            edit("{ fake: name }", "{ fake: nmae }"),
        ),
        (
            "two_transforms",
            edit("{ fake: name }", "{ fake: name, hash: {} }"),
        ),
        (
            "unknown_option",
            edit("{ shift: { days: 30 } }", "{ shift: { dayz: 30 } }"),
        ),
        (
            "bad_option_value",
            edit("{ shift: { days: 30 } }", "{ shift: { days: soon } }"),
        ),
        (
            "unknown_table",
            edit("  public.events:", "  public.evnets:"),
        ),
        (
            "unknown_column",
            edit("      score: keep", "      scroe: keep"),
        ),
        ("column_without_rule", edit("      score: keep\n", "")),
        (
            "type_mismatch",
            edit("{ shift: { days: 30 } }", "{ fake: email }"),
        ),
        (
            "unique_column_under_a_repeating_rule",
            edit("{ fake: email, unique: true }", "{ fake: first_name }"),
        ),
        (
            "null_on_not_null",
            edit("      status: keep", "      status: null"),
        ),
        (
            "constant_that_does_not_fit",
            edit("      score: keep", "      score: { set: lots }"),
        ),
        (
            "template_unknown_column",
            edit("{ fake: name }", "{ template: \"{nmae}\" }"),
        ),
        (
            "partition_named",
            edit("  public.events:", "  public.events_2024:"),
        ),
        (
            "table_twice",
            format!("{GOOD}  public.orders:\n    columns: {{ id: keep }}\n"),
        ),
        (
            "not_a_mapping",
            "version: 1\ntables: [customers]\n".to_string(),
        ),
    ]
}

#[test]
fn every_kind_of_bad_rules_file_reads_as_snapshotted() {
    let source = source("msg_rules_src");
    let target = Pg::get().fresh_name("msg_rules_dst");
    for (name, rules) in cases() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
        let check = anonymize(
            dir.path(),
            &["check", "--source", &source.url, "--rules", "rules.yml"],
            &[],
        );
        assert_ne!(check.code, 0, "{name}: check passed\n{rules}");
        let sync = anonymize(
            dir.path(),
            &[
                "sync",
                "--source",
                &source.url,
                "--target",
                &target.url,
                "--rules",
                "rules.yml",
                "--no-progress",
            ],
            &[("ANONYMIZE_SECRET", SECRET)],
        );
        assert_eq!(sync.code, 2, "{name}: {}", sync.stderr);
        assert!(!Pg::get().exists(&target.name), "{name}: the sync wrote");
        insta::assert_snapshot!(
            format!("rules_{name}"),
            format!(
                "# check\n{}\n# sync\n{}",
                user_text(&check, dir.path(), &[&source, &target]),
                user_text(&sync, dir.path(), &[&source, &target])
            )
        );
    }
}

#[test]
fn a_missing_rules_path_reads_as_snapshotted() {
    let source = source("msg_norules_src");
    let target = Pg::get().fresh_name("msg_norules_dst");
    let dir = tempfile::tempdir().unwrap();
    let run = anonymize(
        dir.path(),
        &[
            "sync",
            "--source",
            &source.url,
            "--target",
            &target.url,
            "--rules",
            "no-such-rules",
            "--no-progress",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    );
    insta::assert_snapshot!(user_text(&run, dir.path(), &[&source, &target]));
}
