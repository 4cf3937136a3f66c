//! Issue 24: the tool fits the PostgreSQL toolbox. Global options before
//! or after the subcommand, the same data-moving options on sync, export
//! and load, and `--help` of every command as a snapshot.

use crate::harness::{anonymize, Run};
use crate::sync::{app_source, fixtures, SECRET};

/// The rules that cover the fixture database.
fn app_rules() -> String {
    fixtures().join("app.yml").display().to_string()
}

/// Whether stderr holds a log line of `level` (`INFO`, `DEBUG`; coloured
/// or not).
fn has_level(run: &Run, level: &str) -> bool {
    run.stderr
        .lines()
        .any(|l| l.contains(&format!(" {level} ")) || l.contains(&format!("{level}\u{1b}[0m")))
}

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    let source = app_source("tb_global");
    let rules = app_rules();
    let before = anonymize(
        &fixtures(),
        &["--source", &source.url, "--rules", &rules, "check"],
        &[],
    )
    .expect(0);
    let after = anonymize(
        &fixtures(),
        &["check", "--source", &source.url, "--rules", &rules],
        &[],
    )
    .expect(0);
    assert_eq!(before.stdout, after.stdout);
    // A sync option before another subcommand would be ignored: refused.
    let run = anonymize(&fixtures(), &["--subset", "10%", "check"], &[]).expect(2);
    assert!(
        run.stderr
            .contains("--subset is an option of `sync`, not of `check`"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_command_takes_no_progress_log_format_and_quiet_or_verbose() {
    let source = app_source("tb_every");
    let rules = app_rules();
    let dir = tempfile::tempdir().unwrap();
    let init_out = dir.path().join("init.yml");
    let init_out = init_out.to_str().unwrap();
    for args in [
        vec!["check"],
        vec!["verify", "--target", &source.url],
        vec!["init", "--out", init_out],
    ] {
        let mut quiet = args.clone();
        quiet.extend([
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--no-progress",
            "-q",
        ]);
        let run = anonymize(&fixtures(), &quiet, &[("ANONYMIZE_SECRET", SECRET)]);
        assert!(run.code != 2, "{args:?} -q refused:\n{}", run.stderr);
        assert!(
            !has_level(&run, "INFO"),
            "{args:?} -q logs INFO:\n{}",
            run.stderr
        );
        let mut json = args.clone();
        json.extend([
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--log-format",
            "json",
            "--force",
        ]);
        if args[0] != "init" {
            json.pop(); // --force is init's
        }
        let run = anonymize(&fixtures(), &json, &[("ANONYMIZE_SECRET", SECRET)]);
        assert!(
            run.code != 2,
            "{args:?} --log-format json refused:\n{}",
            run.stderr
        );
        for line in run.stderr.lines().filter(|l| !l.is_empty()) {
            assert!(line.starts_with('{'), "{args:?}: not JSON: {line}");
        }
    }
    // -v shows debug lines (the connection log), which info hides.
    let run = anonymize(
        &fixtures(),
        &["check", "--source", &source.url, "--rules", &rules, "-v"],
        &[],
    )
    .expect(0);
    assert!(has_level(&run, "DEBUG"), "{}", run.stderr);
    let run = anonymize(
        &fixtures(),
        &["check", "--source", &source.url, "--rules", &rules],
        &[],
    )
    .expect(0);
    assert!(!has_level(&run, "DEBUG"), "{}", run.stderr);
}

#[test]
fn load_takes_jobs_and_report_and_sync_verify_takes_sample() {
    let source = app_source("tb_data");
    let rules = app_rules();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    let report = dir.path().join("export.json");
    anonymize(
        &fixtures(),
        &[
            "export",
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
            "--no-progress",
            "--jobs",
            "2",
            "--report",
            report.to_str().unwrap(),
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    let export: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(export["outcome"], "success");
    assert_eq!(export["tables"].as_array().unwrap().len(), 7, "{export}");

    let target = crate::harness::Pg::get().fresh_name("tb_data_load");
    let report = dir.path().join("load.json");
    anonymize(
        &fixtures(),
        &[
            "load",
            out.to_str().unwrap(),
            "--target",
            &target.url,
            "--jobs",
            "2",
            "--no-progress",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .expect(0);
    let load: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(load["outcome"], "success");
    assert_eq!(load["rows_written"], export["rows_written"], "{load}");
    assert_eq!(
        target.value("SELECT count(*) FROM customers"),
        source.value("SELECT count(*) FROM customers")
    );

    let synced = crate::harness::Pg::get().fresh_name("tb_data_sync");
    let report = dir.path().join("sync.json");
    crate::sync::sync(
        &source,
        &synced,
        "app.yml",
        SECRET,
        &[
            "--verify",
            "--sample",
            "7",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .expect(0);
    let sync: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(sync["verify"]["sample"], 7, "{sync}");
}

/// `--help` of the tool and of every command, as users read it.
#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        "", "sync", "check", "init", "verify", "demo", "export", "load",
    ] {
        let args: Vec<&str> = [command, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let run = anonymize(dir.path(), &args, &[]).expect(0);
        let name = if command.is_empty() {
            "anonymize"
        } else {
            command
        };
        insta::assert_snapshot!(format!("help_{name}"), run.stdout);
    }
}
