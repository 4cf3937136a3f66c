//! Hardening (issue 23): nothing but reads on production, and nothing of
//! production in staging or in an error that the rules did not allow.

use crate::harness::{anonymize, rules_dir, sync_args, verify_args, Db, Pg};

/// A path the server (running as its own OS user) could write, unique to
/// this test run, and not there yet.
fn marker_path(test: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let path = std::env::temp_dir().join(format!(
        "anonymize-{test}-{}-{nanos}.out",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// A source with one small table, whose sessions the server logs
/// statement by statement (`log_statement = all`).
fn logged_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, note text);
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    db.exec(&format!(
        "ALTER DATABASE \"{}\" SET log_statement = 'all'",
        db.name
    ));
    db
}

/// The lines of the shared server's log that mention `needle` (empty for
/// a server the harness did not start, whose log it cannot read).
fn log_lines_with(needle: &str) -> Vec<String> {
    let Some(log) = Pg::get().server_log() else {
        return Vec::new();
    };
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// The audit's filter: as a simple query, `EXPLAIN … WHERE (<it>)` became
/// three statements, the second writing a file on the server.
fn injection(path: &std::path::Path) -> String {
    format!(
        "true); COPY (SELECT current_user) TO '{}'; SELECT (1",
        path.display()
    )
}

#[test]
fn a_where_filter_cannot_run_a_second_statement_on_the_source() {
    let pg = Pg::get();
    let source = logged_source("sec_inject_src");
    let target = pg.fresh_name("sec_inject_dst");
    let marker = marker_path("inject");
    let rules = format!(
        "version: 1\nunknown_columns: keep\ntables:\n  public.t:\n    where: \"{}\"\n",
        injection(&marker)
    );
    let dir = rules_dir(&rules);
    let expected = "rules.yml:5:5: the `where:` of table public.t is not one SQL condition: \
                    it has a `)` that closes nothing the condition opened at character 5\n  \
                    hint: write one condition, as after WHERE: no `;`, no comments, every \
                    quote and parenthesis closed";
    let runs = [
        vec!["check", "--source", &source.url, "--rules", "rules.yml"],
        sync_args(&source.url, &target.url, "rules.yml", &["--dry-run"]),
        sync_args(&source.url, &target.url, "rules.yml", &[]),
    ];
    for args in &runs {
        let run = anonymize(dir.path(), args, &[]).expect(2);
        assert!(run.stderr.contains(expected), "{args:?}:\n{}", run.stderr);
        assert!(
            !marker.exists(),
            "{args:?}: the server wrote {}",
            marker.display()
        );
    }
    // Nothing carrying the filter reached the server at all: no statement
    // and no failed parse of one names the file.
    let marker_text = marker.display().to_string();
    assert_eq!(log_lines_with(&marker_text), Vec::<String>::new());
    // The log does record this database's statements (the check above
    // would pass vacuously otherwise).
    if pg.server_log().is_some() {
        assert!(
            !log_lines_with("pg_export_snapshot").is_empty(),
            "log_statement = all logs the snapshot export"
        );
    }
    assert!(!pg.exists(&target.name));
}

/// Defence in depth: should a filter get past the rules' check, the server
/// still only ever prepares it (one statement, nothing run).
#[test]
fn a_filter_past_the_rules_check_is_only_prepared_never_run() {
    let source = logged_source("sec_prepare_src");
    let marker = marker_path("prepare");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result: anyhow::Result<()> = runtime.block_on(async {
        let mut rules = anonymize::rules::load::load_str(
            "r.yml",
            "version: 1\nunknown_columns: keep\ntables:\n  public.t:\n    where: \"id > 0\"\n",
        )?;
        rules.tables[0].filter = Some(injection(&marker));
        let info = anonymize::conn::ConnInfo::parse(&source.url, "--source")?;
        let snapshot = anonymize::source::open_snapshot(&info).await?;
        let catalog = anonymize::catalog::Catalog::read(&snapshot.client).await?;
        anonymize::plan::check_filters(&rules, &catalog, &snapshot.client).await
    });
    let err = format!("{:#}", result.expect_err("the filter is refused"));
    assert!(
        err.contains("r.yml:5:5: the `where:` of table public.t does not run on the source")
            && err.contains("cannot insert multiple commands into a prepared statement"),
        "{err}"
    );
    assert!(!marker.exists(), "the server wrote {}", marker.display());
    // The server saw the text only as a failed parse, never as a statement
    // it logged before running it.
    let statements: Vec<String> = log_lines_with(&marker.display().to_string())
        .into_iter()
        .filter(|l| l.contains("LOG:  statement:") || l.contains("LOG:  execute"))
        .collect();
    assert_eq!(statements, Vec::<String>::new());
}

/// JSON object keys are row data (a map keyed by email): an `unlisted:
/// fail` error names the key by its position, in stderr and in the
/// report, never the key itself.
#[test]
fn a_json_key_is_never_printed_in_an_error_or_the_report() {
    let pg = Pg::get();
    let source = pg.db("sec_jsonkey_src");
    source.exec(
        r#"CREATE TABLE docs (id int PRIMARY KEY, acl jsonb);
           INSERT INTO docs VALUES
             (1, '{"shared_with": {"jane.doe.private@gmail.com": "edit"}}');"#,
    );
    let target = pg.fresh_name("sec_jsonkey_dst");
    let dir = rules_dir(
        "version: 1\ntables:\n  public.docs:\n    columns:\n      id: keep\n      \
         acl: { json: { unlisted: fail, paths: { shared_with.owner: { fake: email } } } }\n",
    );
    let args = sync_args(
        &source.url,
        &target.url,
        "rules.yml",
        &["--report", "report.json"],
    );
    let run = anonymize(
        dir.path(),
        &args,
        &[(
            "ANONYMIZE_SECRET",
            "mNZkf6ExkvadhMN1KHvzLeYkORhaG9lkyxhlXxDIAGb1qaQ2PIZLMxAq",
        )],
    )
    .expect(1);
    assert!(
        run.stderr
            .contains("json key `shared_with[key 1]` in public.docs.acl is named by no path"),
        "{}",
        run.stderr
    );
    let report = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(
        report.contains("json key `shared_with[key 1]` in public.docs.acl"),
        "{report}"
    );
    for text in [&run.stderr, &run.stdout, &report] {
        assert!(!text.contains("jane.doe"), "{text}");
    }
}

/// pg_dump labels the entries of a foreign object in its own ways (`FOREIGN
/// SERVER x` for an ACL, `TABLE t` for a foreign table's ACL, `COLUMN t.c`
/// for a comment): each is stripped by the object it refers to, as are
/// `dblink` and `postgres_fdw` themselves, and the run loads.
#[test]
fn every_entry_of_a_foreign_object_and_the_remote_extensions_are_stripped() {
    let pg = Pg::get();
    let source = pg.db("sec_fdw_src");
    source.exec(
        "CREATE EXTENSION postgres_fdw;
         CREATE EXTENSION dblink;
         CREATE SERVER prod FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.prod.internal');
         DO $$ BEGIN CREATE ROLE sec_fdw_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         GRANT USAGE ON FOREIGN SERVER prod TO sec_fdw_reader;
         CREATE FOREIGN TABLE remote_users (id int, email text) SERVER prod;
         GRANT SELECT ON remote_users TO sec_fdw_reader;
         COMMENT ON COLUMN remote_users.email IS 'their email';
         COMMENT ON EXTENSION dblink IS 'links';
         CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);
         GRANT SELECT ON t TO sec_fdw_reader;",
    );
    let target = pg.fresh_name("sec_fdw_dst");
    let dir = rules_dir("version: 1\ntables:\n  public.t:\n    columns: { id: keep }\n");
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    let run = anonymize(dir.path(), &args, &[]).expect(0);
    assert_eq!(
        target.value("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"),
        "plpgsql"
    );
    assert_eq!(target.value("SELECT count(*) FROM pg_foreign_server"), "0");
    assert_eq!(target.value("SELECT count(*) FROM pg_foreign_table"), "0");
    assert_eq!(
        target.value("SELECT count(*) FROM pg_foreign_data_wrapper"),
        "0"
    );
    // The ordinary table and its grant are there.
    assert_eq!(target.value("SELECT count(*) FROM t"), "1");
    assert_eq!(
        target.value("SELECT has_table_privilege('sec_fdw_reader', 't', 'SELECT')"),
        "t"
    );
    for named in [
        "SERVER prod",
        "FOREIGN TABLE public.remote_users",
        "EXTENSION dblink",
        "EXTENSION postgres_fdw",
    ] {
        assert!(run.stderr.contains(named), "names {named}: {}", run.stderr);
    }
}

/// pg_dump connects as strictly as we do: every libpq setting the user
/// gave reaches it (through the environment, or `--dbname` for those
/// without a `PG*` variable), read here by an `ANONYMIZE_PG_DUMP` wrapper.
#[test]
fn pg_dump_gets_every_libpq_setting_the_user_gave() {
    let pg = Pg::get();
    let source = pg.db("sec_pgdump_src");
    source.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    let target = pg.fresh_name("sec_pgdump_dst");
    let dir = rules_dir("version: 1\ntables:\n  public.t:\n    columns: { id: keep }\n");
    let real = anonymize::pgdump::find_pg_dump(0).unwrap().path;
    let wrapper = dir.path().join("pg_dump");
    let seen = dir.path().join("seen.txt");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n/usr/bin/env >> '{seen}'\nfor a in \"$@\"; do echo \"arg: $a\" >> '{seen}'; done\nexec '{}' \"$@\"\n",
            real.display(),
            seen = seen.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let url = format!(
        "{}?channel_binding=prefer&sslsni=0&gssencmode=disable&keepalives_idle=30\
         &keepalives_count=4&tcp_user_timeout=9000",
        source.url
    );
    let args = sync_args(&url, &target.url, "rules.yml", &[]);
    anonymize(
        dir.path(),
        &args,
        &[("ANONYMIZE_PG_DUMP", wrapper.to_str().unwrap())],
    )
    .expect(0);
    let seen = std::fs::read_to_string(&seen).unwrap();
    for line in [
        "PGCHANNELBINDING=prefer",
        "PGSSLSNI=0",
        "PGGSSENCMODE=disable",
        "arg: --dbname=keepalives_idle='30' keepalives_count='4' tcp_user_timeout='9000'",
    ] {
        assert!(seen.lines().any(|l| l == line), "{line} in:\n{seen}");
    }
    // The password stays out of the command line.
    assert!(
        !seen
            .lines()
            .any(|l| l.starts_with("arg:") && l.contains("password")),
        "{seen}"
    );
}

/// A view holding a dblink connection string with a password would reach
/// staging verbatim: `check`, `sync --dry-run`, `sync` and `export` refuse
/// it naming the object, never the string; listing the object under
/// `allow_schema_text:` lets it through.
#[test]
fn a_connection_string_in_the_schema_is_refused_unless_allowed() {
    let pg = Pg::get();
    let source = pg.db("sec_link_src");
    source.exec(
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);
         CREATE VIEW partner_feed AS
           SELECT 'host=db.prod.internal dbname=app password=hunter2'::text AS link;
         CREATE FUNCTION pull() RETURNS text LANGUAGE sql
           AS $$ SELECT 'postgresql://etl:s3cret@db.prod.internal/app' $$;",
    );
    let target = pg.fresh_name("sec_link_dst");
    let rules = "version: 1\ntables:\n  public.t:\n    columns: { id: keep }\n";
    let dir = rules_dir(rules);
    let runs = [
        (
            vec!["check", "--source", &source.url, "--rules", "rules.yml"],
            3,
        ),
        (
            sync_args(&source.url, &target.url, "rules.yml", &["--dry-run"]),
            2,
        ),
        (sync_args(&source.url, &target.url, "rules.yml", &[]), 2),
        (
            vec![
                "export",
                "--source",
                &source.url,
                "--rules",
                "rules.yml",
                "--out",
                "out",
                "--no-progress",
            ],
            2,
        ),
    ];
    for (args, code) in &runs {
        let run = anonymize(dir.path(), args, &[]).expect(*code);
        let all = format!("{}{}", run.stdout, run.stderr);
        for object in ["view public.partner_feed", "function public.pull()"] {
            assert!(
                all.contains(&format!("{object} holds a connection string or a password")),
                "{args:?} names {object}:\n{all}"
            );
        }
        for never in ["hunter2", "s3cret", "db.prod.internal"] {
            assert!(!all.contains(never), "{args:?} printed {never}:\n{all}");
        }
    }
    assert!(!pg.exists(&target.name));
    assert!(!dir.path().join("out").exists());
    // Into the application's own schema nothing of the source's schema is
    // copied, so nothing is refused.
    let existing = pg.db("sec_link_existing");
    existing.exec("CREATE TABLE t (id int PRIMARY KEY)");
    let args = sync_args(
        &source.url,
        &existing.url,
        "rules.yml",
        &["--schema", "existing", "--force"],
    );
    anonymize(dir.path(), &args, &[]).expect(0);
    assert_eq!(existing.value("SELECT count(*) FROM t"), "1");
    // Reviewed and allowed: the run goes on.
    let allowed = format!(
        "{rules}allow_schema_text:\n  view public.partner_feed: \"points at the partner sandbox\"\n  \
         function public.pull(): \"reviewed\"\n"
    );
    let dir = rules_dir(&allowed);
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    anonymize(dir.path(), &args, &[]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM partner_feed"), "1");
}

/// Emails and phone numbers written into the schema (a default, a CHECK,
/// a comment) reach staging verbatim: `check` warns naming each object,
/// `verify` fails (exit 3), and neither prints the value.
#[test]
fn personal_data_in_schema_literals_is_reported_by_check_and_fails_verify() {
    let pg = Pg::get();
    let source = pg.db("sec_literal_src");
    source.exec(
        "CREATE TABLE t (id int PRIMARY KEY,
                         contact text DEFAULT 'ceo@realcorp.com',
                         hotline text CHECK (hotline <> '+1 415 222 0100'));
         INSERT INTO t (id) VALUES (1);
         COMMENT ON TABLE t IS 'owner: jane.doe@realcorp.com';",
    );
    let target = pg.fresh_name("sec_literal_dst");
    let rules = "version: 1\ntables:\n  public.t:\n    columns: { id: keep, contact: null, hotline: null }\n";
    let dir = rules_dir(rules);
    let objects = [
        "default of public.t.contact holds what looks like email addresses",
        "constraint t_hotline_check on public.t holds what looks like phone numbers",
        "comment on table public.t holds what looks like email addresses",
    ];
    let run = anonymize(
        dir.path(),
        &["check", "--source", &source.url, "--rules", "rules.yml"],
        &[],
    )
    .expect(0);
    for object in objects {
        assert!(
            run.stdout.contains(object),
            "check names {object}:\n{}",
            run.stdout
        );
    }
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    anonymize(dir.path(), &args, &[]).expect(0);
    let run = anonymize(
        dir.path(),
        &verify_args(&source.url, &target.url, "rules.yml", &[]),
        &[],
    )
    .expect(3);
    for object in objects {
        assert!(
            run.stderr.contains(object),
            "verify names {object}:\n{}",
            run.stderr
        );
    }
    for text in [&run.stdout, &run.stderr] {
        for never in ["ceo@", "jane.doe", "222 0100"] {
            assert!(!text.contains(never), "{never} printed:\n{text}");
        }
    }
    // Reviewed and allowed: verify passes.
    let allowed = format!(
        "{rules}allow_schema_text:\n  default of public.t.contact: \"a role address\"\n  \
         constraint t_hotline_check on public.t: \"the public hotline\"\n  \
         comment on table public.t: \"reviewed\"\n"
    );
    let dir = rules_dir(&allowed);
    anonymize(
        dir.path(),
        &verify_args(&source.url, &target.url, "rules.yml", &[]),
        &[],
    )
    .expect(0);
}

/// An export is a copy of production's rows: every file and directory of
/// it is its owner's only (0600/0700), whatever the umask (0022 here).
#[test]
fn export_files_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let pg = Pg::get();
    let source = pg.db("sec_modes_src");
    source.exec("CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'a')");
    let dir =
        rules_dir("version: 1\ntables:\n  public.t:\n    columns: { id: keep, note: keep }\n");
    // SAFETY: umask(2) has no preconditions; the old mask is put back.
    let old = unsafe { libc::umask(0o022) };
    for (format, out) in [
        ("csv", "out_csv"),
        ("jsonl", "out_jsonl"),
        ("sql", "out.sql"),
    ] {
        anonymize(
            dir.path(),
            &[
                "export",
                "--source",
                &source.url,
                "--rules",
                "rules.yml",
                "--out",
                out,
                "--format",
                format,
                "--no-progress",
            ],
            &[],
        )
        .expect(0);
        let root = dir.path().join(out);
        let mut paths = vec![root.clone()];
        if root.is_dir() {
            paths.extend(std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()));
        }
        for p in paths {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            let want = if p.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode, want, "{} is {mode:o}", p.display());
        }
    }
    // SAFETY: as above.
    unsafe { libc::umask(old) };
}

/// The throwaway clusters of `demo` and the tests start with a cleared
/// environment: nothing of ours (`ANONYMIZE_SECRET`, cargo's variables,
/// `HOME`) crosses to the server, which runs as another OS user.
#[test]
fn a_throwaway_cluster_inherits_none_of_our_environment() {
    let cluster =
        anonymize::ephemeral::Cluster::start_with(&crate::harness::clusters::setup()).unwrap();
    let pid_file = cluster.socket_dir().join("data").join("postmaster.pid");
    let pid = std::fs::read_to_string(pid_file).unwrap();
    let pid = pid.lines().next().unwrap().trim().to_string();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let names: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let v = String::from_utf8_lossy(v);
            v.split('=').next().unwrap().to_string()
        })
        .collect();
    // What pg_ctl, its shell and the server set for themselves (PGDATA,
    // PGSYSCONFDIR, PWD, ...) besides what we pass.
    let allowed = |n: &str| {
        matches!(
            n,
            "PATH"
                | "LANG"
                | "TZ"
                | "PWD"
                | "PGDATA"
                | "PGSYSCONFDIR"
                | "PG_GRANDPARENT_PID"
                | "PGLOCALEDIR"
        ) || n.starts_with("LC_")
            || n.starts_with("PG_OOM")
    };
    let foreign: Vec<&String> = names.iter().filter(|n| !allowed(n)).collect();
    assert!(foreign.is_empty(), "the server inherited {foreign:?}");
    assert!(names.iter().any(|n| n == "PATH"), "{names:?}");
}

/// A client key that others may read is refused before any connection,
/// as libpq refuses it (0600, or 0640 when root owns it).
#[test]
fn a_client_key_others_can_read_is_refused_before_connecting() {
    use std::os::unix::fs::PermissionsExt;
    let dir = rules_dir("version: 1\n");
    let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    std::fs::write(&cert, "not read before the check").unwrap();
    std::fs::write(&key, "not read before the check").unwrap();
    // Port 1 on loopback: nothing listens, so a run past the check fails
    // to connect (exit 1) instead.
    let url = format!(
        "postgresql://u@127.0.0.1:1/db?sslmode=require&sslcert={}&sslkey={}&connect_timeout=2",
        cert.display(),
        key.display()
    );
    let run_with = |mode: u32| {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        anonymize(
            dir.path(),
            &["check", "--source", &url, "--rules", "rules.yml"],
            &[],
        )
    };
    let run = run_with(0o644).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "the private key {} (sslkey) has mode 0644, so others on this machine may read it; \
             make it private with `chmod 0600 {}`",
            key.display(),
            key.display()
        )),
        "{}",
        run.stderr
    );
    // 0640 only for a key root owns: the owner of this one is who we are.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    for mode in [0o600].into_iter().chain(root.then_some(0o640)) {
        let run = run_with(mode).expect(1);
        assert!(!run.stderr.contains("(sslkey) has mode"), "{}", run.stderr);
    }
}

/// A `RAISE` under an SQLSTATE outside the classes known to hold no
/// values (here 38000, from a function a `where:` calls) is redacted to
/// its SQLSTATE: its text, which quotes the row, is never printed.
#[test]
fn a_raise_of_an_unlisted_class_is_redacted() {
    let pg = Pg::get();
    let source = pg.db("sec_raise_src");
    source.exec(
        "CREATE TABLE t (id int PRIMARY KEY, note text);
         INSERT INTO t VALUES (1, 'jane.doe.private@gmail.com');
         CREATE FUNCTION public.screen(v text) RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN
           RAISE EXCEPTION USING ERRCODE = '38000', MESSAGE = 'refused ' || v, HINT = 'see ' || v;
         END $$;",
    );
    let target = pg.fresh_name("sec_raise_dst");
    let dir = rules_dir(
        "version: 1\nunknown_columns: keep\ntables:\n  public.t:\n    where: \"public.screen(note)\"\n",
    );
    let args = sync_args(
        &source.url,
        &target.url,
        "rules.yml",
        &["--report", "r.json"],
    );
    let run = anonymize(dir.path(), &args, &[]).expect(1);
    assert!(
        run.stderr.contains(
            "ERROR (38000 external_routine_exception): the server's message is not shown, \
             as it can quote row values"
        ),
        "{}",
        run.stderr
    );
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    for text in [&run.stderr, &run.stdout, &report] {
        assert!(!text.contains("jane.doe"), "{text}");
    }
    assert!(!pg.exists(&target.name));
}

/// A password typed in `--source` is visible to everyone in `ps`: the run
/// warns and says where to put it instead; the same URL from the
/// environment draws no warning.
#[test]
fn a_password_on_the_command_line_draws_a_warning() {
    let dir = rules_dir("version: 1\n");
    // Nothing listens on port 1: each run fails to connect, after parsing.
    let url = "postgresql://app:pw-in-argv@127.0.0.1:1/db?connect_timeout=2";
    let warning = "--source holds a password on the command line, where every user of this \
                   machine can read it (ps, /proc) while the run lasts; give it through \
                   PGPASSWORD, ~/.pgpass or passfile=";
    let run = anonymize(
        dir.path(),
        &["check", "--source", url, "--rules", "rules.yml"],
        &[],
    )
    .expect(1);
    assert!(run.stderr.contains(warning), "{}", run.stderr);
    assert!(!run.stderr.contains("pw-in-argv"), "{}", run.stderr);
    let run = anonymize(
        dir.path(),
        &["check", "--rules", "rules.yml"],
        &[("SOURCE_DATABASE_URL", url)],
    )
    .expect(1);
    assert!(!run.stderr.contains("holds a password"), "{}", run.stderr);
}

/// `docs/security.md` on chosen values, as the code behaves: a production
/// user who writes a value (an invite to a guessed address) finds its fake
/// in staging through their own row, and so finds every other row that
/// holds the same value; a column with its own `namespace:` does not join.
#[test]
fn a_chosen_value_can_be_looked_up_as_security_md_says() {
    let pg = Pg::get();
    let source = pg.db("sec_chosen_src");
    source.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, email text);
         CREATE TABLE invites (id int PRIMARY KEY, email text);
         CREATE TABLE tickets (id int PRIMARY KEY, email text);
         INSERT INTO customers VALUES (1, 'ceo@realcorp.com'), (2, 'someone@else.org');
         -- The attacker's own rows: an invite and a ticket to a guessed address.
         INSERT INTO invites VALUES (77, 'ceo@realcorp.com');
         INSERT INTO tickets VALUES (78, 'ceo@realcorp.com');",
    );
    let target = pg.fresh_name("sec_chosen_dst");
    let dir = rules_dir(
        "version: 1\ntables:\n  public.customers:\n    columns: { id: keep, email: { fake: email } }\n  \
         public.invites:\n    columns: { id: keep, email: { fake: email } }\n  \
         public.tickets:\n    columns: { id: keep, email: { fake: email, namespace: tickets } }\n",
    );
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    anonymize(
        dir.path(),
        &args,
        &[(
            "ANONYMIZE_SECRET",
            "r7Jx2Qm9WbT4kZpL8vNc3HdF6sYgA1eU5oXiK0tRwBqE",
        )],
    )
    .expect(0);
    let fake = target.value("SELECT email FROM invites WHERE id = 77");
    assert_ne!(fake, "ceo@realcorp.com");
    // The guess is confirmed: the chosen value's fake is a customer's.
    assert_eq!(
        target.column(&format!(
            "SELECT id::text FROM customers WHERE email = '{fake}'"
        )),
        ["1"]
    );
    // Its own namespace: the same value, a fake that joins nothing.
    let own = target.value("SELECT email FROM tickets WHERE id = 78");
    assert_ne!(own, fake);
    let doc = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/security.md"),
    )
    .unwrap();
    assert!(
        !doc.contains("cannot confirm a guess"),
        "security.md overclaims"
    );
    assert!(
        doc.contains("**Chosen values.** A staging reader *can* test some guesses")
            && doc.contains("give that column its own `namespace:`"),
        "security.md explains chosen values"
    );
}
