//! Issue 21 §1: `check` finds everything `sync` would refuse that the
//! catalog can tell. Each case once passed `check` (exit 0) and failed the
//! sync after the copy (exit 1), or left a sequence behind its column:
//! now `check` names it (exit 3), `sync` and `--dry-run` refuse it before
//! any row moves (exit 2), and once fixed both pass.

use crate::harness::{anonymize, rules_dir, sync_args, Db, Pg, Run};

const SECRET: &str = "YXECw7t8lqcL2fKT96THJG0R33RpfT0DeP5vDXo4K2TKEvNSwupUNZxV";

/// One thing `sync` would refuse, in a source of its own.
struct Case {
    /// Source SQL, run as the superuser; `{role}` is the source role.
    sql: &'static str,
    /// The case's tables under `tables:`.
    rules: &'static str,
    /// What `check` and `sync` say about it.
    named: &'static str,
    /// Fixes it: SQL on the source (as the superuser) ...
    fix_sql: &'static str,
    /// ... or other rules for its tables.
    fix_rules: Option<&'static str>,
}

const CASES: &[Case] = &[
    // A unique index on lower(col), under a rule that repeats values.
    Case {
        sql: "CREATE TABLE acct_a (id int PRIMARY KEY, handle text);
              CREATE UNIQUE INDEX acct_a_handle_lower ON acct_a (lower(handle));
              INSERT INTO acct_a SELECT i, 'user' || i FROM generate_series(1, 300) i;
              GRANT SELECT ON acct_a TO {role};",
        rules: "  public.acct_a:\n    columns: { id: keep, handle: { fake: first_name } }\n",
        named: "column public.acct_a.handle is unique (index acct_a_handle_lower on lower(handle)), but `fake(first_name)` can give two rows the same value",
        fix_sql: "",
        fix_rules: Some("  public.acct_a:\n    columns: { id: keep, handle: { fake: username } }\n"),
    },
    // A partial unique index.
    Case {
        sql: "CREATE TABLE acct_b (id int PRIMARY KEY, nick text, active bool NOT NULL);
              CREATE UNIQUE INDEX acct_b_nick_active ON acct_b (nick) WHERE active;
              INSERT INTO acct_b SELECT i, 'nick' || i, true FROM generate_series(1, 300) i;
              GRANT SELECT ON acct_b TO {role};",
        rules: "  public.acct_b:\n    columns: { id: keep, nick: { fake: last_name }, active: keep }\n",
        named: "column public.acct_b.nick is unique (index acct_b_nick_active on nick where active)",
        fix_sql: "",
        fix_rules: Some(
            "  public.acct_b:\n    columns: { id: keep, nick: { fpe: {} }, active: keep }\n",
        ),
    },
    // A unique index on another expression of a masked column.
    Case {
        sql: "CREATE TABLE acct_c (id int PRIMARY KEY, code text NOT NULL);
              CREATE UNIQUE INDEX acct_c_code_prefix ON acct_c (left(code, 4));
              INSERT INTO acct_c SELECT i, 'C' || lpad(i::text, 3, '0') || '-x' FROM generate_series(1, 300) i;
              GRANT SELECT ON acct_c TO {role};",
        rules: "  public.acct_c:\n    columns: { id: keep, code: { fake: word } }\n",
        named: "column public.acct_c.code is read by unique index acct_c_code_prefix on",
        fix_sql: "",
        fix_rules: Some("  public.acct_c:\n    columns: { id: keep, code: keep }\n"),
    },
    // varchar(n) and the unique email form, whose tag grows with its input
    // (issue 22): a varchar(30) holds no output at all.
    Case {
        sql: "CREATE TABLE contact_d (id int PRIMARY KEY, email varchar(30) NOT NULL UNIQUE);
              INSERT INTO contact_d SELECT i, 'someone.number' || lpad(i::text, 4, '0') || '@mail.test'
                FROM generate_series(1, 100) i;
              GRANT SELECT ON contact_d TO {role};",
        rules: "  public.contact_d:\n    columns: { id: keep, email: { fake: email, unique: true } }\n",
        named: "column public.contact_d.email is character varying(30), but `fake(email)` can write values of any length",
        fix_sql: "ALTER TABLE contact_d ALTER COLUMN email TYPE varchar(100)",
        fix_rules: None,
    },
    // varchar(n) and a rule whose output is always longer.
    Case {
        sql: "CREATE TABLE tokens_e (id int PRIMARY KEY, token varchar(20) UNIQUE);
              INSERT INTO tokens_e SELECT i, 'tok' || i FROM generate_series(1, 50) i;
              GRANT SELECT ON tokens_e TO {role};",
        rules: "  public.tokens_e:\n    columns: { id: keep, token: { fake: uuid } }\n",
        named: "column public.tokens_e.token is character varying(20), but `fake(uuid)` writes up to 36 characters",
        fix_sql: "ALTER TABLE tokens_e ALTER COLUMN token TYPE varchar(36)",
        fix_rules: None,
    },
    // A column-level grant.
    Case {
        sql: "CREATE TABLE notes_f (id int PRIMARY KEY, body text);
              INSERT INTO notes_f SELECT i, 'b' FROM generate_series(1, 10) i;
              GRANT SELECT (id) ON notes_f TO {role};",
        rules: "  public.notes_f:\n    columns: { id: keep, body: null }\n",
        named: "may read only columns id of table public.notes_f (a column-level grant)",
        fix_sql: "GRANT SELECT ON notes_f TO {role}",
        fix_rules: None,
    },
    // No grant on a table.
    Case {
        sql: "CREATE TABLE hidden_g (id int PRIMARY KEY);
              INSERT INTO hidden_g SELECT generate_series(1, 10);",
        rules: "  public.hidden_g:\n    columns: { id: keep }\n",
        named: "may not read table public.hidden_g",
        fix_sql: "GRANT SELECT ON hidden_g TO {role}",
        fix_rules: None,
    },
    // No USAGE on a schema.
    Case {
        sql: "CREATE SCHEMA private_h;
              CREATE TABLE private_h.things (id int PRIMARY KEY);
              INSERT INTO private_h.things SELECT generate_series(1, 10);
              GRANT SELECT ON private_h.things TO {role};",
        rules: "  private_h.things:\n    columns: { id: keep }\n",
        named: "may not use schema private_h",
        fix_sql: "GRANT USAGE ON SCHEMA private_h TO {role}",
        fix_rules: None,
    },
    // A sequence the role cannot read: the target's would start at 1.
    Case {
        sql: "CREATE TABLE items_i (id serial PRIMARY KEY, label text);
              INSERT INTO items_i (label) SELECT 'x' FROM generate_series(1, 300);
              GRANT SELECT ON items_i TO {role};",
        rules: "  public.items_i:\n    columns: { id: keep, label: keep }\n",
        named: "may not read sequence public.items_i_id_seq",
        fix_sql: "GRANT SELECT ON SEQUENCE items_i_id_seq TO {role}",
        fix_rules: None,
    },
    // A unique key over two columns, one under a rule that repeats values:
    // two names of one tenant would become one.
    Case {
        sql: "CREATE TABLE team_k (id int PRIMARY KEY, tenant int NOT NULL, name text NOT NULL,
                                   UNIQUE (tenant, name));
              INSERT INTO team_k SELECT i, i % 3, 'name' || i FROM generate_series(1, 300) i;
              GRANT SELECT ON team_k TO {role};",
        rules: "  public.team_k:\n    columns: { id: keep, tenant: keep, name: { fake: first_name } }\n",
        named: "column public.team_k.name is unique (constraint team_k_tenant_name_key on (tenant, name)), but `fake(first_name)` can give two rows the same value",
        fix_sql: "",
        fix_rules: Some(
            "  public.team_k:\n    columns: { id: keep, tenant: keep, name: { fake: username } }\n",
        ),
    },
    // An exclusion constraint comparing a column by `=`, under a rule that
    // repeats values: two rows apart in the source would conflict.
    Case {
        sql: "CREATE TABLE slot_x (id int PRIMARY KEY, code text NOT NULL,
                                   EXCLUDE USING btree (code WITH =));
              INSERT INTO slot_x SELECT i, 'code' || i FROM generate_series(1, 300) i;
              GRANT SELECT ON slot_x TO {role};",
        rules: "  public.slot_x:\n    columns: { id: keep, code: { fake: first_name } }\n",
        named: "column public.slot_x.code is compared by exclusion constraint slot_x_code_excl (code WITH =), and `fake(first_name)` changes its values",
        fix_sql: "",
        fix_rules: Some("  public.slot_x:\n    columns: { id: keep, code: { fake: username } }\n"),
    },
    // An exclusion constraint on overlap: no rule keeps ranges apart.
    Case {
        sql: "CREATE TABLE book_x (id int PRIMARY KEY, during int4range,
                                   EXCLUDE USING gist (during WITH &&));
              INSERT INTO book_x SELECT i, int4range(i * 10, i * 10 + 5) FROM generate_series(1, 300) i;
              GRANT SELECT ON book_x TO {role};",
        rules: "  public.book_x:\n    columns: { id: keep, during: { set: '[1,9)' } }\n",
        named: "column public.book_x.during is compared by exclusion constraint book_x_during_excl (during WITH &&)",
        fix_sql: "",
        fix_rules: Some("  public.book_x:\n    columns: { id: keep, during: null }\n"),
    },
];

/// A login role for the source, named for the test.
fn source_role(pg: &Pg, test: &str) -> String {
    let role = format!("{test}_{}", std::process::id());
    pg.db_admin()
        .exec(&format!("CREATE ROLE {role} LOGIN{}", pg.password_clause()));
    role
}

fn rules_of(tables: &[&str]) -> String {
    format!("version: 1\ntables:\n{}", tables.concat())
}

fn check(source: &str, rules: &str) -> Run {
    let dir = rules_dir(rules);
    anonymize(
        dir.path(),
        &["check", "--source", source, "--rules", "rules.yml"],
        &[],
    )
}

fn sync(source: &str, target: &Db, rules: &str, extra: &[&str]) -> Run {
    let dir = rules_dir(rules);
    let args = sync_args(source, &target.url, "rules.yml", extra);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)])
}

/// One source database holding every case: `check` exits 3 naming each,
/// `--dry-run` and `sync` exit 2 and nothing is created.
#[test]
fn one_source_with_every_case_is_refused_before_any_row_moves() {
    let pg = Pg::get();
    let role = source_role(pg, "gates_all");
    let source = pg.db("gates_all_src");
    for case in CASES {
        source.exec(&case.sql.replace("{role}", &role));
    }
    let url = source.url_as(&role);
    let rules = rules_of(&CASES.iter().map(|c| c.rules).collect::<Vec<_>>());

    let run = check(&url, &rules).expect(3);
    for case in CASES {
        assert!(
            run.stdout.contains(case.named),
            "check does not name {:?}:\n{}",
            case.named,
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("what the source role cannot read (grants, row-level security):"),
        "{}",
        run.stdout
    );

    let target = pg.fresh_name("gates_all_dst");
    sync(&url, &target, &rules, &["--dry-run"]).expect(2);
    let run = sync(&url, &target, &rules, &[]).expect(2);
    assert!(!pg.exists(&target.name), "nothing was created");
    // Every rules case at once (the access cases come once the rules
    // pass: they are about the server, not the rules).
    for case in &CASES[..5] {
        assert!(run.stderr.contains(case.named), "{}", run.stderr);
    }
    assert!(
        !run.stderr.contains("locking the source tables"),
        "{}",
        run.stderr
    );
}

/// Per case, `check`'s verdict predicts `sync`'s outcome: exit 3 and a
/// refusal (exit 2, nothing created) before the fix, exit 0 and a whole
/// copy after it.
#[test]
fn check_predicts_the_outcome_of_sync_for_each_case() {
    let pg = Pg::get();
    let role = source_role(pg, "gates_each");
    for (i, case) in CASES.iter().enumerate() {
        let source = pg.db(&format!("gates_each{i}_src"));
        source.exec(&case.sql.replace("{role}", &role));
        let url = source.url_as(&role);
        let rules = rules_of(&[case.rules]);

        let verdict = check(&url, &rules);
        let dry = pg.fresh_name(&format!("gates_each{i}_dry"));
        let dry_run = sync(&url, &dry, &rules, &["--dry-run"]);
        let target = pg.fresh_name(&format!("gates_each{i}_a"));
        let outcome = sync(&url, &target, &rules, &[]);
        assert_eq!(
            (verdict.code, dry_run.code, outcome.code),
            (3, 2, 2),
            "{}\n--- check\n{}\n--- sync\n{}",
            case.named,
            verdict.stdout,
            outcome.stderr
        );
        assert!(verdict.stdout.contains(case.named), "{}", verdict.stdout);
        assert!(dry_run.stderr.contains(case.named), "{}", dry_run.stderr);
        assert!(outcome.stderr.contains(case.named), "{}", outcome.stderr);
        assert!(
            !pg.exists(&target.name),
            "{}: nothing was created",
            case.named
        );

        if !case.fix_sql.is_empty() {
            source.exec(&case.fix_sql.replace("{role}", &role));
        }
        let rules = rules_of(&[case.fix_rules.unwrap_or(case.rules)]);
        let verdict = check(&url, &rules);
        let target = pg.fresh_name(&format!("gates_each{i}_b"));
        let outcome = sync(&url, &target, &rules, &[]);
        assert_eq!(
            (verdict.code, outcome.code),
            (0, 0),
            "{} once fixed\n--- check\n{}\n--- sync\n{}",
            case.named,
            verdict.stdout,
            outcome.stderr
        );
    }
    // Once readable, the sequence continues past its column's values.
    let source = pg.db("gates_seq_src");
    source.exec(&CASES[8].sql.replace("{role}", &role));
    source.exec(&CASES[8].fix_sql.replace("{role}", &role));
    let target = pg.fresh_name("gates_seq_dst");
    sync(
        &source.url_as(&role),
        &target,
        &rules_of(&[CASES[8].rules]),
        &[],
    )
    .expect(0);
    assert_eq!(target.value("SELECT nextval('items_i_id_seq')"), "301");
}

/// `--schema existing` into a target where a table the run does not load
/// references one it does: refused before anything is emptied, saying
/// what to do, and never passing on PostgreSQL's `TRUNCATE ... CASCADE`
/// hint (that would empty the user's own table). `check --into existing`
/// with the target tells it too, as a `target` gap; without `--into
/// existing` it has no target to read.
#[test]
fn schema_existing_refuses_a_target_table_outside_the_run_that_references_a_copied_one() {
    let pg = Pg::get();
    let source = pg.db("gates_exist_src");
    let schema = "CREATE TABLE acct_j (id int PRIMARY KEY, name text);";
    source.exec(&format!(
        "{schema} INSERT INTO acct_j SELECT i, 'n' || i FROM generate_series(1, 20) i;"
    ));
    let target = pg.db("gates_exist_dst");
    target.exec(&format!(
        "{schema} INSERT INTO acct_j SELECT i, 'old' FROM generate_series(1, 5) i;
         CREATE TABLE app_notes (id int PRIMARY KEY, acct_id int REFERENCES acct_j);
         INSERT INTO app_notes VALUES (1, 1), (2, 2);"
    ));
    let rules = rules_of(&["  public.acct_j:\n    columns: { id: keep, name: keep }\n"]);
    check(&source.url, &rules).expect(0);
    let dir = rules_dir(&rules);
    let check_existing = |target: &Db| {
        anonymize(
            dir.path(),
            &[
                "check",
                "--source",
                &source.url,
                "--target",
                &target.url,
                "--into",
                "existing",
                "--rules",
                "rules.yml",
            ],
            &[],
        )
    };
    let verdict = check_existing(&target).expect(3);
    assert!(
        verdict.stdout.contains(
            "what --into existing cannot load in the target:\n  target: public.app_notes references public.acct_j (constraint app_notes_acct_id_fkey)"
        ),
        "{}",
        verdict.stdout
    );
    let dry = sync(
        &source.url,
        &target,
        &rules,
        &["--dry-run", "--schema", "existing"],
    )
    .expect(2);
    let run = sync(
        &source.url,
        &target,
        &rules,
        &["--schema", "existing", "--force"],
    )
    .expect(2);
    for out in [&dry.stderr, &run.stderr] {
        assert!(
            out.contains("public.app_notes references public.acct_j (constraint app_notes_acct_id_fkey), and public.app_notes is not a table the run loads"),
            "{out}"
        );
        assert!(
            out.contains("drop or change those foreign keys in the target"),
            "{out}"
        );
        assert!(!out.contains("use TRUNCATE"), "{out}");
    }
    // Nothing was emptied.
    assert_eq!(target.value("SELECT count(*) FROM acct_j"), "5");
    assert_eq!(target.value("SELECT count(*) FROM app_notes"), "2");

    target.exec("ALTER TABLE app_notes DROP CONSTRAINT app_notes_acct_id_fkey");
    check_existing(&target).expect(0);
    sync(
        &source.url,
        &target,
        &rules,
        &["--dry-run", "--schema", "existing"],
    )
    .expect(0);
    sync(
        &source.url,
        &target,
        &rules,
        &["--schema", "existing", "--force"],
    )
    .expect(0);
    assert_eq!(target.value("SELECT count(*) FROM acct_j"), "20");
    assert_eq!(target.value("SELECT count(*) FROM app_notes"), "2");
}
