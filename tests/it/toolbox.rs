//! Issue 24: the tool fits the PostgreSQL toolbox. Global options before
//! or after the subcommand, the same data-moving options on sync, export
//! and load, and `--help` of every command as a snapshot.

use crate::harness::bench::pg_tool;
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
        "",
        "sync",
        "check",
        "init",
        "verify",
        "demo",
        "export",
        "load",
        "filter",
        "worker",
        "completions",
        "man",
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

/// The `PG*` variables that point at `db`, as a psql user would set them.
fn pg_env(db: &crate::harness::Db) -> Vec<(&'static str, String)> {
    let cfg: tokio_postgres::Config = db.url.parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let mut env = vec![
        ("PGHOST", host),
        ("PGPORT", cfg.get_ports()[0].to_string()),
        ("PGDATABASE", cfg.get_dbname().unwrap().to_string()),
        ("PGUSER", cfg.get_user().unwrap().to_string()),
    ];
    if let Some(p) = cfg.get_password() {
        env.push(("PGPASSWORD", String::from_utf8_lossy(p).into_owned()));
    }
    env
}

fn refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn without_source_the_pg_environment_is_the_source_and_never_the_target() {
    let source = app_source("tb_pgenv");
    let rules = app_rules();
    let env = pg_env(&source);
    let run = anonymize(&fixtures(), &["check", "--rules", &rules], &refs(&env)).expect(0);
    assert!(
        run.stdout.contains("every column has a rule that fits it"),
        "{}",
        run.stdout
    );
    // Without the variables, the error says how to give a source.
    let run = anonymize(&fixtures(), &["check", "--rules", &rules], &[]).expect(2);
    assert!(
        run.stderr.contains("PGHOST/PGDATABASE or PGSERVICE"),
        "{}",
        run.stderr
    );
    // A sync with PG* set and no --target refuses: PG* is never the target.
    let mut env2 = refs(&env);
    env2.push(("ANONYMIZE_SECRET", SECRET));
    let run = anonymize(
        &fixtures(),
        &["sync", "--rules", &rules, "--no-progress"],
        &env2,
    )
    .expect(2);
    assert!(run.stderr.contains("no target database"), "{}", run.stderr);
}

#[test]
fn a_service_file_names_the_source_and_unknown_parameters_are_named() {
    let source = app_source("tb_service");
    let rules = app_rules();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.conf");
    let env = pg_env(&source);
    let mut conf = String::from("# staging and prod\n[other]\nhost=nowhere.invalid\n\n[prod]\n");
    for (k, v) in &env {
        let key = match *k {
            "PGHOST" => "host",
            "PGPORT" => "port",
            "PGDATABASE" => "dbname",
            "PGUSER" => "user",
            _ => "password",
        };
        conf.push_str(&format!("{key}={v}\n"));
    }
    std::fs::write(&file, &conf).unwrap();
    let file_s = file.display().to_string();
    // PGSERVICE, then service= in --source.
    let run = anonymize(
        &fixtures(),
        &["check", "--rules", &rules],
        &[("PGSERVICEFILE", &file_s), ("PGSERVICE", "prod")],
    )
    .expect(0);
    assert!(
        run.stdout.contains("every column has a rule that fits it"),
        "{}",
        run.stdout
    );
    anonymize(
        &fixtures(),
        &["check", "--rules", &rules, "--source", "service=prod"],
        &[("PGSERVICEFILE", &file_s)],
    )
    .expect(0);
    // The system-wide file of PGSYSCONFDIR, when the user's has no such service.
    std::fs::write(dir.path().join("pg_service.conf"), &conf).unwrap();
    anonymize(
        &fixtures(),
        &["check", "--rules", &rules, "--source", "service=prod"],
        &[
            ("PGSYSCONFDIR", &dir.path().display().to_string()),
            ("HOME", &dir.path().join("nohome").display().to_string()),
        ],
    )
    .expect(0);
    let run = anonymize(
        &fixtures(),
        &["check", "--rules", &rules, "--source", "service=stage"],
        &[("PGSERVICEFILE", &file_s)],
    )
    .expect(2);
    assert!(
        run.stderr.contains("service \"stage\" is not defined in"),
        "{}",
        run.stderr
    );
    // An unknown parameter, in the string or in the file, is named.
    let run = anonymize(
        &fixtures(),
        &["check", "--rules", &rules, "--source", "hots=db dbname=x"],
        &[],
    )
    .expect(2);
    assert!(
        run.stderr
            .contains("unknown connection parameter \"hots\"; did you mean \"host\"?"),
        "{}",
        run.stderr
    );
    std::fs::write(&file, conf.replace("port=", "prot=")).unwrap();
    let run = anonymize(
        &fixtures(),
        &["check", "--rules", &rules, "--source", "service=prod"],
        &[("PGSERVICEFILE", &file_s)],
    )
    .expect(2);
    assert!(
        run.stderr.contains(&format!(
            "{file_s}:7: unknown connection parameter \"prot\"; did you mean \"port\"?"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn lock_timeout_takes_postgresql_units() {
    let source = app_source("tb_lock");
    let target = crate::harness::Pg::get().fresh_name("tb_lock_dst");
    let migration = crate::harness::pg::Session::open(&source.url);
    // A plain table: the catalog query locks partitioned roots itself.
    migration.exec("BEGIN; LOCK TABLE audit IN ACCESS EXCLUSIVE MODE");
    let run = crate::sync::sync(
        &source,
        &target,
        "app.yml",
        SECRET,
        &["--lock-timeout", "300ms"],
    )
    .expect(1);
    assert!(
        run.stderr
            .contains("waited 300 ms for it (--lock-timeout); nothing was written"),
        "{}",
        run.stderr
    );
    let run = crate::sync::sync(
        &source,
        &target,
        "app.yml",
        SECRET,
        &["--lock-timeout", "5 parsecs"],
    )
    .expect(2);
    assert!(
        run.stderr.contains("unknown unit `parsecs`"),
        "{}",
        run.stderr
    );
    migration.exec("ROLLBACK");
    // export takes the same spelling.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.sql");
    anonymize(
        &fixtures(),
        &[
            "export",
            "--source",
            &source.url,
            "--rules",
            &app_rules(),
            "--out",
            out.to_str().unwrap(),
            "--lock-timeout",
            "2min",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
}

#[test]
fn export_to_stdout_and_load_from_stdin() {
    let source = app_source("tb_pipe");
    let rules = app_rules();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.sql");
    let export = |out: &str| {
        crate::harness::anonymize_stdin(
            &fixtures(),
            &[
                "export",
                "--source",
                &source.url,
                "--rules",
                &rules,
                "--out",
                out,
                "--no-progress",
            ],
            &[("ANONYMIZE_SECRET", SECRET)],
            Vec::new(),
        )
    };
    let (run, piped) = export("-");
    let run = run.expect(0);
    // stdout holds the script alone; the summary went to stderr.
    assert!(
        piped.starts_with(b"--"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    assert!(run.stderr.contains("total"), "{}", run.stderr);
    export(file.to_str().unwrap()).0.expect(0);
    assert!(
        std::fs::read(&file).unwrap() == piped,
        "stdout differs from --out FILE"
    );

    let from_file = crate::harness::Pg::get().fresh_name("tb_pipe_file");
    anonymize(
        &fixtures(),
        &["load", file.to_str().unwrap(), "--target", &from_file.url],
        &[],
    )
    .expect(0);
    let from_stdin = crate::harness::Pg::get().fresh_name("tb_pipe_stdin");
    let (run, _) = crate::harness::anonymize_stdin(
        &fixtures(),
        &["load", "-", "--target", &from_stdin.url],
        &[],
        piped,
    );
    run.expect(0);
    let digest =
        "SELECT count(*) || ':' || md5(string_agg(c::text, '|' ORDER BY id)) FROM customers c";
    assert_eq!(from_stdin.value(digest), from_file.value(digest));
    assert_eq!(
        from_stdin.value("SELECT count(*) FROM orders"),
        source.value("SELECT count(*) FROM orders")
    );
    // csv cannot go to stdout.
    let (run, _) = crate::harness::anonymize_stdin(
        &fixtures(),
        &[
            "export",
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--out",
            "-",
            "--format",
            "csv",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
        Vec::new(),
    );
    run.expect(2);
}

#[test]
fn the_secret_comes_from_a_file_that_only_its_owner_reads() {
    use std::os::unix::fs::PermissionsExt as _;
    let source = app_source("tb_secret");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    // As `echo` writes it: the final newline is not part of the secret.
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let file_s = file.display().to_string();
    let rules = app_rules();
    let export = |env: &[(&str, &str)]| {
        crate::harness::anonymize_stdin(
            &fixtures(),
            &[
                "export",
                "--source",
                &source.url,
                "--rules",
                &rules,
                "--out",
                "-",
            ],
            env,
            Vec::new(),
        )
    };
    let (run, from_file) = export(&[("ANONYMIZE_SECRET_FILE", &file_s)]);
    run.expect(0);
    let (run, from_env) = export(&[("ANONYMIZE_SECRET", SECRET)]);
    run.expect(0);
    assert!(
        from_file == from_env,
        "the file's secret is not the variable's"
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (run, out) = export(&[("ANONYMIZE_SECRET_FILE", &file_s)]);
    let run = run.expect(2);
    assert!(out.is_empty());
    assert!(
        run.stderr.contains(&format!(
            "ANONYMIZE_SECRET_FILE={file_s} is readable by every user (mode 0644); run `chmod o-r"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(SECRET));
}

#[test]
fn into_replaces_schema_whose_old_spelling_warns() {
    let source = app_source("tb_into");
    let target = crate::harness::Pg::get().fresh_name("tb_into_dst");
    crate::sync::sync(&source, &target, "app.yml", SECRET, &[]).expect(0);
    let run =
        crate::sync::sync(&source, &target, "app.yml", SECRET, &["--into", "existing"]).expect(0);
    assert!(!run.stderr.contains("deprecated"), "{}", run.stderr);
    let run = crate::sync::sync(
        &source,
        &target,
        "app.yml",
        SECRET,
        &["--schema", "existing"],
    )
    .expect(0);
    assert!(
        run.stderr.contains(
            "--schema create|existing is deprecated and will be removed; write --into existing"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        target.value("SELECT count(*) FROM customers"),
        source.value("SELECT count(*) FROM customers")
    );
}

#[test]
fn pg_dump_table_selection_on_sync_export_check_and_init() {
    let source = app_source("tb_select");
    let rules = app_rules();
    // -T of a table nothing references, --exclude-table-data of another
    // (schema kept, no rows), pg_dump patterns.
    let target = crate::harness::Pg::get().fresh_name("tb_select_dst");
    crate::sync::sync(
        &source,
        &target,
        "app.yml",
        SECRET,
        &[
            "-T",
            "public.aud?t",
            "--exclude-table-data",
            "public.notes*",
        ],
    )
    .expect(0);
    let tables = target.column(
        "SELECT relname::text FROM pg_class WHERE relkind IN ('r', 'p') \
         AND relnamespace::regnamespace::text = 'public' AND NOT relispartition ORDER BY 1",
    );
    assert!(!tables.contains(&"audit".to_string()), "{tables:?}");
    assert!(tables.contains(&"notes_raw".to_string()), "{tables:?}");
    assert_eq!(target.value("SELECT count(*) FROM notes_raw"), "0");
    assert_eq!(
        target.value("SELECT count(*) FROM orders"),
        source.value("SELECT count(*) FROM orders")
    );
    // -t keeps only what it names; a kept table that references a left-out
    // one is refused, naming both.
    let run = crate::sync::sync(&source, &target, "app.yml", SECRET, &["-t", "orders"]).expect(2);
    assert!(
        run.stderr
            .contains("public.orders references public.customers (foreign key"),
        "{}",
        run.stderr
    );
    // -n of another schema: only the quoted table of "Billing Dept".
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.sql");
    anonymize(
        &fixtures(),
        &[
            "export",
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--out",
            out.to_str().unwrap(),
            "-n",
            "\"Billing Dept\"",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    let sql = std::fs::read_to_string(&out).unwrap();
    assert!(sql.contains("\"Invoice Lines\""), "no selected table");
    assert!(
        !sql.contains("CREATE TABLE public.customers"),
        "customers was not selected"
    );
    // check plans the selected tables only: rules for the others are not
    // stale, and a table without rules that is left out is no gap.
    source.exec("CREATE TABLE scratch (id int, secret_note text)");
    anonymize(
        &fixtures(),
        &["check", "--source", &source.url, "--rules", &rules],
        &[],
    )
    .expect(3);
    anonymize(
        &fixtures(),
        &[
            "check",
            "--source",
            &source.url,
            "--rules",
            &rules,
            "-T",
            "scratch",
        ],
        &[],
    )
    .expect(0);
    let init = dir.path().join("init.yml");
    anonymize(
        &fixtures(),
        &[
            "init",
            "--source",
            &source.url,
            "--out",
            init.to_str().unwrap(),
            "-N",
            "public",
        ],
        &[],
    )
    .expect(0);
    let text = std::fs::read_to_string(&init).unwrap();
    assert!(text.contains("Invoice Lines"), "{text}");
    assert!(!text.contains("public.customers"), "{text}");
}

/// A PostgreSQL client tool (pg_dump, pg_restore) next to psql.

#[test]
fn filter_on_a_pg_dump_gives_the_rows_sync_gives() {
    let pg = crate::harness::Pg::get();
    let source = app_source("tb_filter");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.sql");
    let status = std::process::Command::new(pg_tool("pg_dump"))
        .args(["-d", &source.url, "-f"])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success());
    let rules = app_rules();
    let filter = |args: &[&str], input: Vec<u8>| {
        let mut all = vec!["filter", "--rules", &rules];
        all.extend_from_slice(args);
        let (run, out) = crate::harness::anonymize_stdin(
            &fixtures(),
            &all,
            &[("ANONYMIZE_SECRET", SECRET)],
            input,
        );
        run.expect(0);
        out
    };
    let from_file = filter(&[dump.to_str().unwrap()], Vec::new());
    let from_stdin = filter(&[], std::fs::read(&dump).unwrap());
    assert!(from_file == from_stdin, "stdin and file differ");
    let text = String::from_utf8(from_file.clone()).unwrap();
    for email in source.column("SELECT email FROM customers") {
        assert!(!text.contains(&email), "an original email is in the output");
    }
    let filtered = dir.path().join("filtered.sql");
    std::fs::write(&filtered, &from_file).unwrap();
    let loaded = pg.db("tb_filter_loaded");
    crate::export::psql_file(&loaded, &filtered);
    let synced = pg.fresh_name("tb_filter_synced");
    crate::sync::sync(&source, &synced, "app.yml", SECRET, &[]).expect(0);
    let rows = |db: &crate::harness::Db| -> Vec<String> {
        crate::export::fingerprint(db)
            .into_iter()
            .filter(|l| !l.starts_with("object "))
            .collect()
    };
    assert_eq!(rows(&loaded), rows(&synced));

    // A custom-format dump, through pg_restore -f -.
    let custom = dir.path().join("dump.pgc");
    let status = std::process::Command::new(pg_tool("pg_dump"))
        .args(["-Fc", "-d", &source.url, "-f"])
        .arg(&custom)
        .status()
        .unwrap();
    assert!(status.success());
    let plain = std::process::Command::new(pg_tool("pg_restore"))
        .args(["-f", "-"])
        .arg(&custom)
        .output()
        .unwrap();
    assert!(plain.status.success());
    let from_custom = filter(&[], plain.stdout);
    let restored = pg.db("tb_filter_custom");
    let path = dir.path().join("custom.sql");
    std::fs::write(&path, &from_custom).unwrap();
    crate::export::psql_file(&restored, &path);
    assert_eq!(rows(&restored), rows(&synced));

    // Rules that do not fit the script's tables: nothing is written, exit 2.
    let (run, out) = crate::harness::anonymize_stdin(
        &fixtures(),
        &["filter", "--rules", &rules],
        &[("ANONYMIZE_SECRET", SECRET)],
        b"CREATE TABLE public.other (id integer, secret text);\nCOPY public.other (id, secret) FROM stdin;\n1\tx\n\\.\n".to_vec(),
    );
    run.expect(2);
    assert!(out.is_empty(), "wrote {} bytes", out.len());
}

#[test]
fn the_config_file_sets_every_option_of_every_command() {
    let source = app_source("tb_config");
    let target = crate::harness::Pg::get().fresh_name("tb_config_dst");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("app.yml"), dir.path().join("rules.yml")).unwrap();
    std::fs::write(
        dir.path().join("anonymize.yml"),
        "source: ${SRC}\ntarget: ${DST}\nrules: rules.yml\nlock_timeout: 2min\nno_progress: true\n\
         quiet: 1\ncheck:\n  format: json\nsync:\n  verify: true\n  sample: 9\n  report: out.json\n  \
         exclude_table_data: [public.notes_raw]\n",
    )
    .unwrap();
    let env = [
        ("SRC", source.url.as_str()),
        ("DST", target.url.as_str()),
        ("ANONYMIZE_SECRET", SECRET),
    ];
    // check: `format: json` from its section; quiet from the top.
    let run = anonymize(dir.path(), &["check"], &env).expect(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("check --format json");
    assert_eq!(json["ok"], true, "{json}");
    assert!(!has_level(&run, "INFO"), "{}", run.stderr);
    // sync: its section's verify, sample, report and table selection.
    anonymize(dir.path(), &[], &env).expect(0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(report["verify"]["sample"], 9, "{report}");
    assert_eq!(target.value("SELECT count(*) FROM notes_raw"), "0");
    // A flag wins over the file.
    let run = anonymize(dir.path(), &["check", "--format", "text"], &env).expect(0);
    assert!(
        run.stdout.contains("every column has a rule"),
        "{}",
        run.stdout
    );
    // Unknown keys, at the top or in a section, with a did-you-mean.
    std::fs::write(
        dir.path().join("anonymize.yml"),
        "source: x\nlock_timout: 5s\n",
    )
    .unwrap();
    let run = anonymize(dir.path(), &["check"], &env).expect(2);
    assert!(
        run.stderr
            .contains("anonymize.yml:2:1: unknown key `lock_timout`; did you mean `lock_timeout`?"),
        "{}",
        run.stderr
    );
    std::fs::write(dir.path().join("anonymize.yml"), "sync:\n  forse: true\n").unwrap();
    let run = anonymize(dir.path(), &["check"], &env).expect(2);
    assert!(
        run.stderr
            .contains("anonymize.yml:2:3: unknown key `forse` in `sync:`; did you mean `force`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn dry_run_draws_the_plan_as_mermaid_or_dot() {
    let source = app_source("tb_diagram");
    let rules = app_rules();
    let run = anonymize(
        &fixtures(),
        &[
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--dry-run",
            "--subset",
            "10%",
            "--format",
            "mermaid",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    let m = &run.stdout;
    assert!(m.starts_with("flowchart LR\n"), "{m}");
    // A box per table with its role and masked columns, an arrow per key.
    // Each box: the table, its subset role and the rows it keeps.
    let boxed = regex::Regex::new(
        r#"\["public\.orders<br/>(root|follows|reference|whole|filtered): ~\d+ rows kept"#,
    )
    .unwrap();
    assert!(boxed.is_match(m), "{m}");
    assert!(m.contains("email: fake(email) unique"), "{m}");
    assert!(m.contains("-->|\"customer_id\"|"), "{m}");
    assert!(
        m.contains("classDef root") && m.contains("class t0 "),
        "{m}"
    );
    let run = anonymize(
        &fixtures(),
        &[
            "--source",
            &source.url,
            "--rules",
            &rules,
            "--dry-run",
            "--format",
            "dot",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    let d = &run.stdout;
    assert!(
        d.starts_with("digraph plan {\n") && d.ends_with("}\n"),
        "{d}"
    );
    assert!(d.contains("[label=\"customer_id\"]"), "{d}");
    assert!(d.contains("\\\"Billing Dept\\\""), "quotes escaped: {d}");
    // A picture needs --dry-run.
    anonymize(&fixtures(), &["--format", "dot"], &[]).expect(2);
}

#[test]
fn check_format_github_annotates_every_gap_at_its_rule() {
    let source = app_source("tb_github");
    let rules = std::fs::read_to_string(fixtures().join("app.yml"))
        .unwrap()
        .replace("      phone: { fake: phone_number }\n", "");
    let dir = crate::harness::rules_dir(&rules);
    source.exec("CREATE TABLE gone_soon (id int)");
    let run = anonymize(
        dir.path(),
        &[
            "check",
            "--source",
            &source.url,
            "--rules",
            "rules.yml",
            "--format",
            "github",
        ],
        &[],
    )
    .expect(3);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::error file=rules.yml,line=3,col=3,title=anonymize check%3A unclassified gap::"
        ) && l.contains("public.customers.phone")),
        "{}",
        run.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("::error file=rules.yml") && l.contains("gone_soon")),
        "{}",
        run.stdout
    );
    assert!(lines.iter().all(|l| l.starts_with("::")), "{}", run.stdout);
}

#[test]
fn completions_man_page_and_version() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _anonymize"),
        ("zsh", "#compdef anonymize"),
        ("fish", "complete -c anonymize"),
    ] {
        let run = anonymize(dir.path(), &["completions", shell], &[]).expect(0);
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200]
        );
        // Every command and the new options are offered.
        for word in ["filter", "lock-timeout", "exclude-table-data"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    let run = anonymize(dir.path(), &["man"], &[]).expect(0);
    assert!(
        run.stdout.starts_with(".ie") && run.stdout.contains(".TH anonymize 1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Exit codes"),
        "the man page lists the exit codes"
    );
    let run = anonymize(dir.path(), &["--version"], &[]).expect(0);
    let version = regex::Regex::new(
        r"^anonymize \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown)\)\nsupports PostgreSQL 13 to 17",
    )
    .unwrap();
    assert!(version.is_match(&run.stdout), "{}", run.stdout);
}

/// Issue 24's acceptance: `filter` on a pg_dump of the benchmark dataset
/// gives the rows `sync` gives with the same rules (enum, jsonb paths,
/// shifted dates, unique fakes, hostile text).
#[test]
fn filter_matches_sync_on_the_benchmark_dataset() {
    let bench = crate::harness::bench::dir();
    let pg = crate::harness::Pg::get();
    let source = crate::harness::bench::loaded("tb_bench", "0.01");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("bench.sql");
    let status = std::process::Command::new(pg_tool("pg_dump"))
        .args(["-d", &source.url, "-f"])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success());
    let rules = bench.join("rules.yml").display().to_string();
    let env = [("ANONYMIZE_SECRET", SECRET)];
    let run = anonymize(
        dir.path(),
        &[
            "filter",
            dump.to_str().unwrap(),
            "--rules",
            &rules,
            "-v",
            "--log-format",
            "json",
        ],
        &env,
    )
    .expect(0);
    let filter_rss = peak_rss(&run);
    let file = dir.path().join("masked.sql");
    std::fs::write(&file, &run.stdout).unwrap();
    let filtered = pg.db("tb_bench_filtered");
    crate::export::psql_file(&filtered, &file);
    let synced = pg.fresh_name("tb_bench_synced");
    let run = anonymize(
        dir.path(),
        &crate::harness::sync_args(
            &source.url,
            &synced.url,
            &rules,
            &["-v", "--log-format", "json"],
        ),
        &env,
    )
    .expect(0);
    let sync_rss = peak_rss(&run);
    // Streaming: the filter holds the schema and a batch, never the dump.
    // Both peak near the same ~30 MB now, so the margin is half the dump:
    // holding it whole would cost at least the whole of it.
    let dump_bytes = std::fs::metadata(&dump).unwrap().len();
    assert!(
        filter_rss <= sync_rss + dump_bytes / 2,
        "filter peaked at {filter_rss} bytes, sync at {sync_rss} bytes, for a dump of {dump_bytes} bytes"
    );
    let rows = |db: &crate::harness::Db| -> Vec<String> {
        crate::export::fingerprint(db)
            .into_iter()
            .filter(|l| !l.starts_with("object "))
            .collect()
    };
    let (a, b) = (rows(&filtered), rows(&synced));
    assert!(a.len() >= 6, "{a:?}");
    assert_eq!(a, b);
}

/// The peak memory a run logged at its end (`-v`, JSON logs): its own
/// VmHWM. The kernel's ru_maxrss of a child would also count the test
/// binary that spawned it.
fn peak_rss(run: &Run) -> u64 {
    run.stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["peak_rss_bytes"].as_u64())
        .unwrap_or_else(|| panic!("no peak memory line:\n{}", run.stderr))
}
