//! Regressions from the black-box correctness sweep (issue 16): each test
//! failed on the build it was filed against, with wrong or missing data
//! behind an exit 0, or a run that broke late instead of early.

use std::path::Path;

use crate::harness::{anonymize, sync_args, Db, Pg, Run};

const SECRET: &str = "correctness-test-secret-0123456789abcdef";

fn write_rules(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), text).unwrap();
    dir
}

fn sync(dir: &Path, source: &str, target: &str, extra: &[&str]) -> Run {
    let args = sync_args(source, target, "rules.yml", extra);
    anonymize(dir, &args, &[("ANONYMIZE_SECRET", SECRET)])
}

fn as_role(db: &Db, role: &str) -> String {
    db.url_as(role)
}

// 1. Row-level security must never filter the copy silently.
#[test]
fn row_level_security_that_hides_rows_is_refused_and_listed_by_check() {
    let pg = Pg::get();
    let source = pg.db("rls_src");
    let role = format!("rls_reader_{}", std::process::id());
    pg.db_admin().exec(&format!(
        "CREATE ROLE {role} LOGIN{}; GRANT pg_read_all_data TO {role}",
        pg.password_clause()
    ));
    source.exec(
        "CREATE TABLE notes (id int PRIMARY KEY, owner text);
         INSERT INTO notes SELECT i, CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END
           FROM generate_series(1, 100) i;
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY mine ON notes USING (owner = 'alice');
         CREATE TABLE plain (id int PRIMARY KEY);",
    );
    let dir = write_rules(
        "version: 1\ntables:\n  public.notes: { columns: { id: keep, owner: keep } }\n  public.plain: { columns: { id: keep } }\n",
    );
    let target = pg.fresh_name("rls_dst");
    let run = sync(dir.path(), &as_role(&source, &role), &target.url, &[]).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "row-level security would hide rows of public.notes from the source role `{role}`"
        )) && run.stderr.contains(&format!(
            "run `ALTER ROLE \"{role}\" BYPASSRLS;` as a superuser"
        )),
        "{}",
        run.stderr
    );
    assert!(!pg.exists(&target.name), "nothing was created");

    let check = anonymize(
        dir.path(),
        &[
            "check",
            "--source",
            &as_role(&source, &role),
            "--rules",
            "rules.yml",
        ],
        &[],
    )
    .expect(3);
    assert!(
        check
            .stdout
            .contains("row-level security: public.notes (applies to this role)"),
        "{}",
        check.stdout
    );
    assert!(check.stdout.contains("BYPASSRLS"), "{}", check.stdout);

    pg.db_admin().exec(&format!("ALTER ROLE {role} BYPASSRLS"));
    let check = anonymize(
        dir.path(),
        &[
            "check",
            "--source",
            &as_role(&source, &role),
            "--rules",
            "rules.yml",
        ],
        &[],
    )
    .expect(0);
    assert!(
        check.stdout.contains(
            "row-level security: public.notes (this role bypasses it; every row is copied)"
        ),
        "{}",
        check.stdout
    );
    sync(dir.path(), &as_role(&source, &role), &target.url, &[]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM notes"), "100");
}

// 2. Sequences carry last_value and is_called exactly.
#[test]
fn sequences_continue_where_the_source_is_in_both_schema_modes() {
    let pg = Pg::get();
    let source = pg.db("seq_src");
    source.exec(
        "CREATE SEQUENCE free_reset;
         SELECT setval('free_reset', 500, false);
         CREATE SEQUENCE free_used;
         SELECT setval('free_used', 77, true);
         CREATE SEQUENCE free_fresh START 10;
         CREATE TABLE ser (id serial PRIMARY KEY, v text);
         INSERT INTO ser (v) VALUES ('a'), ('b');
         CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
         INSERT INTO ident (v) VALUES ('a');
         ALTER TABLE ident ALTER COLUMN id RESTART WITH 1000;",
    );
    let dir = write_rules(
        "version: 1\ntables:\n  public.ser: { columns: { id: keep, v: keep } }\n  public.ident: { columns: { id: keep, v: keep } }\n",
    );
    let target = pg.fresh_name("seq_dst");
    let expect = |t: &Db| {
        assert_eq!(t.value("SELECT nextval('free_reset')"), "500");
        assert_eq!(t.value("SELECT nextval('free_used')"), "78");
        assert_eq!(t.value("SELECT nextval('free_fresh')"), "10");
        assert_eq!(
            t.value("INSERT INTO ser (v) VALUES ('c') RETURNING id"),
            "3"
        );
        assert_eq!(
            t.value("INSERT INTO ident (v) VALUES ('b') RETURNING id"),
            "1000"
        );
    };
    sync(dir.path(), &source.url, &target.url, &[]).expect(0);
    expect(&target);
    // The target's sequences moved on above: the existing-schema load must
    // put them back to the source's state.
    sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing"],
    )
    .expect(0);
    expect(&target);
}

// 3. `--into existing` must not commit rows that break the target's keys.
#[test]
fn schema_existing_refuses_rows_that_break_a_foreign_key() {
    let pg = Pg::get();
    let ddl = "CREATE TABLE p (code text PRIMARY KEY, name text);
               CREATE TABLE c (id int PRIMARY KEY, code text REFERENCES p);";
    let source = pg.db("fk_src");
    source.exec(ddl);
    source.exec(
        "INSERT INTO p SELECT 'K' || lpad(i::text, 4, '0'), 'n' || i FROM generate_series(1, 50) i;
         INSERT INTO c SELECT i, 'K' || lpad((1 + i % 50)::text, 4, '0') FROM generate_series(1, 200) i;",
    );
    let target = pg.db("fk_dst");
    target.exec(ddl);
    target.exec("INSERT INTO p VALUES ('OLD1', 'old'); INSERT INTO c VALUES (1, 'OLD1');");
    let before = target.column("SELECT c::text FROM c UNION ALL SELECT p::text FROM p ORDER BY 1");
    let fingerprint =
        |t: &Db| t.column("SELECT c::text FROM c UNION ALL SELECT p::text FROM p ORDER BY 1");

    // The parent's key is rewritten, the child's kept: every child would be
    // an orphan. The plan refuses such rules before any row moves (issue
    // 16 item 11, exit 2); the check after the load is the safety net for
    // keys only the target has (below).
    let dir = write_rules(
        "version: 1\ntables:\n  public.p: { columns: { code: { fpe: {} }, name: keep } }\n  public.c: { columns: { id: keep, code: keep } }\n",
    );
    let run = sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing"],
    )
    .expect(2);
    assert!(
        run.stderr.contains(
            "column public.c.code references public.p.code (constraint c_code_fkey), but their rules differ"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(fingerprint(&target), before, "the target changed");

    // A skipped parent leaves the children pointing at nothing.
    let dir = write_rules(
        "version: 1\ntables:\n  public.p: { skip: true }\n  public.c: { columns: { id: keep, code: keep } }\n",
    );
    let run = sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing"],
    )
    .expect(2);
    assert!(
        run.stderr
            .contains("table public.p is `skip: true`, but public.c references it"),
        "{}",
        run.stderr
    );
    assert_eq!(fingerprint(&target), before);

    // A key the target has and the source lacks.
    source.exec("ALTER TABLE c DROP CONSTRAINT c_code_fkey; INSERT INTO c VALUES (999, 'NOPE')");
    let dir = write_rules(
        "version: 1\ntables:\n  public.p: { columns: { code: keep, name: keep } }\n  public.c: { columns: { id: keep, code: keep } }\n",
    );
    // The target was made by its own DDL, not by anonymize: --force.
    let run = sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing", "--force"],
    )
    .expect(1);
    assert!(
        run.stderr
            .contains("1 row(s) of public.c point at no row of public.p"),
        "{}",
        run.stderr
    );
    assert_eq!(fingerprint(&target), before);

    // With matching keys the load goes through.
    source.exec("DELETE FROM c WHERE id = 999");
    sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing", "--force"],
    )
    .expect(0);
    assert_eq!(target.value("SELECT count(*) FROM c"), "200");
}

fn two_tables(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE a (id int PRIMARY KEY, v text);
         INSERT INTO a SELECT i, 'v' || i FROM generate_series(1, 20) i;",
    );
    db
}

const TWO_TABLES_RULES: &str =
    "version: 1\ntables:\n  public.a: { columns: { id: keep, v: keep } }\n";

/// Starts a sync and waits until it has created `<target>__next` but not
/// yet marked it (the `target.created_unmarked` failpoint).
fn sync_paused_before_the_marker(
    dir: &Path,
    source: &Db,
    target: &Db,
) -> (std::process::Child, crate::harness::Failpoint) {
    let point = crate::harness::Failpoint::new("target.created_unmarked");
    let env = point.env();
    let mut env = crate::harness::env_refs(&env);
    env.push(("ANONYMIZE_SECRET", SECRET));
    let args = [
        "sync",
        "--source",
        &source.url,
        "--target",
        &target.url,
        "--rules",
        "rules.yml",
        "--no-progress",
    ];
    let mut child = crate::harness::spawn(dir, &args, &env);
    point.wait_reached(&mut child);
    (child, point)
}

// 4. A signal between CREATE DATABASE and its marker leaves nothing behind.
#[test]
fn a_signal_between_create_and_marker_leaves_no_unmarked_database() {
    let pg = Pg::get();
    let source = two_tables("mark_src");
    let target = pg.fresh_name("mark_dst");
    let dir = write_rules(TWO_TABLES_RULES);
    let (child, point) = sync_paused_before_the_marker(dir.path(), &source, &target);
    assert!(
        pg.exists(&format!("{}__next", target.name)),
        "paused after CREATE DATABASE"
    );
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    point.resume();
    let run = crate::harness::wait(child).expect(143);
    assert!(
        run.stderr.contains("interrupted by SIGTERM"),
        "{}",
        run.stderr
    );
    assert!(
        !pg.exists(&format!("{}__next", target.name)),
        "the load database was left"
    );
    assert!(!pg.exists(&target.name));
    // The next run is not refused.
    sync(dir.path(), &source.url, &target.url, &[]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM a"), "20");
}

// 5. The report's path is checked before the copy, and a report that fails
// after the swap does not claim the target is unchanged.
#[test]
fn an_unwritable_report_is_refused_up_front_and_a_late_failure_says_the_sync_succeeded() {
    let pg = Pg::get();
    let source = two_tables("rep_src");
    let target = pg.fresh_name("rep_dst");
    let dir = write_rules(TWO_TABLES_RULES);
    let run = sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--report", "no/such/dir/report.json"],
    )
    .expect(2);
    assert!(
        run.stderr
            .contains("--report no/such/dir/report.json: cannot write in no/such/dir"),
        "{}",
        run.stderr
    );
    assert!(!pg.exists(&target.name), "nothing was created");

    std::fs::create_dir(dir.path().join("out")).unwrap();
    let point = crate::harness::Failpoint::new("report.before_write");
    let env = point.env();
    let mut env = crate::harness::env_refs(&env);
    env.push(("ANONYMIZE_SECRET", SECRET));
    let args = [
        "sync",
        "--source",
        &source.url,
        "--target",
        &target.url,
        "--rules",
        "rules.yml",
        "--no-progress",
        "--report",
        "out/report.json",
    ];
    let mut child = crate::harness::spawn(dir.path(), &args, &env);
    point.wait_reached(&mut child);
    std::fs::remove_dir(dir.path().join("out")).unwrap();
    point.resume();
    let run = crate::harness::wait(child).expect(4);
    assert!(
        run.stderr.contains(
            "the sync succeeded and the target was replaced, but the report could not be written"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(target.value("SELECT count(*) FROM a"), "20");
}

// 6. Tables with no column to copy keep their row count.
#[test]
fn tables_without_copyable_columns_keep_their_rows() {
    let pg = Pg::get();
    let source = pg.db("nocol_src");
    source.exec(
        "CREATE TABLE z ();
         INSERT INTO z SELECT FROM generate_series(1, 3);
         CREATE TABLE g (x int GENERATED ALWAYS AS (7) STORED);
         INSERT INTO g SELECT FROM generate_series(1, 5);",
    );
    let dir = write_rules(
        "version: 1\ntables:\n  public.z: { columns: {} }\n  public.g: { columns: {} }\n",
    );
    for mode in ["new", "existing"] {
        let target = pg.fresh_name("nocol_dst");
        if mode == "existing" {
            sync(dir.path(), &source.url, &target.url, &[]).expect(0);
        }
        sync(dir.path(), &source.url, &target.url, &["--into", mode]).expect(0);
        assert_eq!(target.value("SELECT count(*) FROM z"), "3", "{mode}");
        assert_eq!(
            target.value("SELECT count(*) FROM g WHERE x = 7"),
            "5",
            "{mode}"
        );
    }
}

// 7. Owners and grants survive the weekly sync; --no-owner/--no-acl opt out.
#[test]
fn owners_and_grants_are_restored_unless_opted_out() {
    let pg = Pg::get();
    let pid = std::process::id();
    let (owner, web) = (format!("app_owner_{pid}"), format!("webuser_{pid}"));
    pg.db_admin().exec(&format!(
        "DO $$ BEGIN CREATE ROLE {owner}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         DO $$ BEGIN CREATE ROLE {web}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    ));
    let source = two_tables("own_src");
    source.exec(&format!(
        "ALTER TABLE a OWNER TO {owner}; GRANT SELECT ON a TO {web};"
    ));
    let dir = write_rules(TWO_TABLES_RULES);
    let target = pg.fresh_name("own_dst");
    sync(dir.path(), &source.url, &target.url, &[]).expect(0);
    assert_eq!(
        target.value("SELECT tableowner FROM pg_tables WHERE tablename = 'a'"),
        owner
    );
    assert_eq!(
        target.value(&format!(
            "SELECT has_table_privilege('{web}', 'public.a', 'SELECT')"
        )),
        "t"
    );

    sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--no-owner", "--no-acl"],
    )
    .expect(0);
    assert_eq!(
        target.value("SELECT tableowner FROM pg_tables WHERE tablename = 'a'"),
        "postgres"
    );
    assert_eq!(
        target.value(&format!(
            "SELECT has_table_privilege('{web}', 'public.a', 'SELECT')"
        )),
        "f"
    );
}

// 17. A target that holds no table but other objects is someone's too.
#[test]
fn a_target_with_only_a_view_a_sequence_or_a_large_object_needs_force() {
    let pg = Pg::get();
    let source = two_tables("obj_src");
    let dir = write_rules(TWO_TABLES_RULES);
    for (what, sql) in [
        ("matview", "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x"),
        ("sequence", "CREATE SEQUENCE precious_seq"),
        ("large object", "SELECT lo_from_bytea(0, 'precious')"),
    ] {
        let target = pg.db("obj_dst");
        target.exec(sql);
        let run = sync(dir.path(), &source.url, &target.url, &[]).expect(2);
        assert!(
            run.stderr.contains("object(s) (tables, views, sequences or large objects) and was not made by anonymize; pass --force"),
            "{what}: {}",
            run.stderr
        );
        sync(dir.path(), &source.url, &target.url, &["--force"]).expect(0);
    }
}

// 18. The dry-run report names no target.
#[test]
fn a_dry_run_report_has_a_null_target() {
    let pg = Pg::get();
    let source = two_tables("dry_src");
    let target = pg.fresh_name("dry_dst");
    let dir = write_rules(TWO_TABLES_RULES);
    sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--dry-run", "--report", "r.json"],
    )
    .expect(0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert!(report["target"].is_null(), "{report}");
    assert!(!pg.exists(&target.name));
}

// Issue 10: `--into existing` empties every table of the rules in place,
// so a database anonymize never loaded needs `--force`, as replacing one
// does; the load marks it, and the weekly run needs no flag after that.
#[test]
fn schema_existing_into_a_foreign_target_needs_force_once() {
    let pg = Pg::get();
    let source = two_tables("exforce_src");
    let target = pg.db("exforce_dst");
    target.exec("CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'mine')");
    let dir = write_rules(TWO_TABLES_RULES);
    let run = sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing"],
    )
    .expect(2);
    assert!(
        run.stderr.contains(&format!(
            "target database {} holds 1 object(s) and was not made or loaded by anonymize; \
             --into existing empties every table in the rules: pass --force",
            target.name
        )),
        "{}",
        run.stderr
    );
    assert_eq!(target.value("SELECT string_agg(v, ',') FROM a"), "mine");

    sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing", "--force"],
    )
    .expect(0);
    assert_eq!(target.value("SELECT count(*) FROM a"), "20");
    source.exec("INSERT INTO a VALUES (21, 'v21')");
    sync(
        dir.path(),
        &source.url,
        &target.url,
        &["--into", "existing"],
    )
    .expect(0);
    assert_eq!(target.value("SELECT count(*) FROM a"), "21");

    let missing = pg.fresh_name("exforce_missing");
    let run = sync(
        dir.path(),
        &source.url,
        &missing.url,
        &["--into", "existing"],
    )
    .expect(2);
    assert!(
        run.stderr
            .contains(&format!("target database {} does not exist", missing.name)),
        "{}",
        run.stderr
    );
}

// Issue 10: a run killed (SIGKILL, no cleanup) between CREATE DATABASE and
// its marker leaves an unmarked `<target>__next`; the next run refuses the
// name and prints the exact statement that clears it.
#[test]
fn an_unmarked_leftover_is_reported_with_the_command_that_clears_it() {
    let pg = Pg::get();
    let source = two_tables("leftover_src");
    let target = pg.fresh_name("leftover_dst");
    let dir = write_rules(TWO_TABLES_RULES);
    let (mut child, _paused) = sync_paused_before_the_marker(dir.path(), &source, &target);
    child.kill().unwrap();
    child.wait().unwrap();
    let next = format!("{}__next", target.name);
    assert!(pg.exists(&next), "a SIGKILL leaves the unmarked database");

    let run = sync(dir.path(), &source.url, &target.url, &[]).expect(2);
    let statement = format!("DROP DATABASE {};", anonymize::sql::quote_ident(&next));
    assert!(
        run.stderr.contains(&format!(
            "database {next} exists, empty and without anonymize's mark: a run killed right after creating it leaves it so. \
             If nobody else uses that name, clear it with `{statement}`"
        )),
        "{}",
        run.stderr
    );
    pg.db_admin().exec(&statement);
    sync(dir.path(), &source.url, &target.url, &[]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM a"), "20");
}
