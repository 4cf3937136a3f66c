//! `export` and `load` on the fixture database: byte-identical files run
//! after run, a sql export that psql loads into what `sync` makes, csv and
//! jsonl through `anonymize load`, compressed exports, an interrupted
//! export that leaves nothing, a subset whose foreign keys hold, `--verify`
//! and a golden export.

use std::path::{Path, PathBuf};

use crate::harness::{anonymize, env_refs, spawn, wait, Db, Failpoint, Pg, Run};
use crate::sync::{app_source, fixtures, SECRET};

/// Runs `anonymize export` of `source` with fixture rules `rules`.
fn export(source: &Db, rules: &str, out: &Path, extra: &[&str]) -> Run {
    let rules = fixtures().join(rules);
    let mut args = vec![
        "export",
        "--source",
        &source.url,
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    anonymize(&fixtures(), &args, &[("ANONYMIZE_SECRET", SECRET)])
}

/// Runs `anonymize load path --target target`.
fn load(path: &Path, target: &Db, extra: &[&str]) -> Run {
    let mut args = vec!["load", path.to_str().unwrap(), "--target", &target.url];
    args.extend_from_slice(extra);
    anonymize(&fixtures(), &args, &[])
}

/// psql, found like the harness finds initdb: PATH, then the versioned
/// Debian directories.
pub fn psql() -> PathBuf {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(anonymize::ephemeral::versioned_bin_dirs())
        .map(|d| d.join("psql"))
        .find(|p| p.is_file())
        .expect("psql on PATH or under /usr/lib/postgresql/*/bin")
}

/// `psql -v ON_ERROR_STOP=1 -f file` into `db`, as the postgres image's
/// entrypoint runs it.
pub fn psql_file(db: &Db, file: &Path) {
    let out = std::process::Command::new(psql())
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a loaded database holds: every table's rows, sequences, schema
/// objects and the materialized view, in one comparable list.
pub fn fingerprint(db: &Db) -> Vec<String> {
    let tables = db.column(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    let mut out = Vec::new();
    for t in tables {
        out.push(format!(
            "{t}: {} rows, {}",
            db.value(&format!("SELECT count(*) FROM ONLY {t}")),
            db.value(&format!(
                "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ONLY {t} x"
            ))
        ));
    }
    out.extend(db.column(
        "SELECT 'seq ' || schemaname || '.' || sequencename || '=' || coalesce(last_value::text, '-') \
         FROM pg_sequences ORDER BY 1",
    ));
    out.extend(db.column(
        "SELECT 'object ' || conname || ':' || contype::text || ':' || convalidated FROM pg_constraint \
         WHERE connamespace <> 'pg_catalog'::regnamespace \
         UNION ALL SELECT 'object ' || indexname FROM pg_indexes WHERE schemaname <> 'pg_catalog' \
         UNION ALL SELECT 'object ' || tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    ));
    out.extend(db.column(
        "SELECT 'matview ' || matviewname || ':' || ispopulated FROM pg_matviews ORDER BY 1",
    ));
    out
}

/// Every file under `dir` (relative name, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The entries of `dir`, for "nothing was left behind".
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn two_exports_are_byte_identical() {
    let source = app_source("exp_same_src");
    let dir = tempfile::tempdir().unwrap();
    let first = |name: &str| dir.path().join(format!("a-{name}"));
    let second = |name: &str| dir.path().join(format!("b-{name}"));
    for (name, format) in [("seed.sql", "sql"), ("csv", "csv"), ("jsonl", "jsonl")] {
        export(&source, "app.yml", &first(name), &["--format", format]).expect(0);
    }
    // Rewriting rows moves them to the end of the heap: a plain scan would
    // now return them in another order.
    source.exec("UPDATE customers SET phone = phone WHERE id % 2 = 1; UPDATE orders SET status = status WHERE id < 50");
    for (name, format) in [("seed.sql", "sql"), ("csv", "csv"), ("jsonl", "jsonl")] {
        export(
            &source,
            "app.yml",
            &second(name),
            &["--format", format, "--jobs", "1"],
        )
        .expect(0);
    }
    let a = std::fs::read(first("seed.sql")).unwrap();
    assert!(a.len() > 10_000, "the sql export holds the rows");
    assert_eq!(
        a,
        std::fs::read(second("seed.sql")).unwrap(),
        "sql exports differ"
    );
    for name in ["csv", "jsonl"] {
        let a = files(&first(name));
        assert!(
            a.len() >= 9,
            "{name}: a file per table, schema.sql, manifest.json: {:?}",
            a.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert_eq!(a, files(&second(name)), "{name} exports differ");
    }
    let text = String::from_utf8(a).unwrap();
    assert!(
        !text.contains("Dumped by pg_dump version"),
        "no version inside"
    );
    // Rows come by primary key.
    let ids: Vec<&str> = text
        .split("COPY \"public\".\"orders\"")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take(60)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let expected: Vec<String> = (1..=60).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_sql_export_loaded_by_psql_is_what_sync_makes() {
    let pg = Pg::get();
    let source = app_source("exp_psql_src");
    let synced = pg.fresh_name("exp_psql_sync");
    crate::sync::sync(&source, &synced, "app.yml", SECRET, &[]).expect(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.sql");
    let run = export(&source, "app.yml", &file, &[]).expect(0);
    assert!(run.stdout.contains("public.customers"), "{}", run.stdout);
    assert!(run.stdout.contains("wrote "), "{}", run.stdout);

    let loaded = pg.db("exp_psql_load");
    psql_file(&loaded, &file);
    let expected = fingerprint(&synced);
    assert!(
        expected
            .iter()
            .any(|l| l.starts_with("public.customers: 60 rows")),
        "{expected:#?}"
    );
    assert!(
        expected
            .iter()
            .any(|l| l == "seq public.customers_id_seq=1000"),
        "{expected:#?}"
    );
    assert!(
        expected.iter().any(|l| l == "matview order_totals:true"),
        "{expected:#?}"
    );
    assert_eq!(fingerprint(&loaded), expected);
    // The trigger was created after the rows, and works.
    loaded.exec("INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'new')");
    assert_eq!(loaded.value("SELECT count(*) FROM audit"), "151");

    // The same file without psql.
    let target = pg.fresh_name("exp_psql_anon");
    let run = load(&file, &target, &[]).expect(0);
    assert!(
        run.stdout.contains("\"public\".\"customers\"") && run.stdout.contains("60"),
        "{}",
        run.stdout
    );
    assert_eq!(fingerprint(&target), expected);
}

#[test]
fn csv_and_jsonl_load_to_the_same_data() {
    let pg = Pg::get();
    let source = app_source("exp_dir_src");
    let synced = pg.fresh_name("exp_dir_sync");
    crate::sync::sync(&source, &synced, "app.yml", SECRET, &[]).expect(0);
    let expected = fingerprint(&synced);
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "jsonl"] {
        let out = dir.path().join(format);
        export(&source, "app.yml", &out, &["--format", format]).expect(0);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        let order: Vec<&str> = manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["table"].as_str().unwrap())
            .collect();
        let pos = |t: &str| order.iter().position(|x| *x == t).unwrap();
        assert!(
            pos("public.customers") < pos("public.orders"),
            "parents first: {order:?}"
        );
        assert_eq!(manifest["tables"][pos("public.customers")]["rows"], 60);
        assert_eq!(
            manifest["tables"][pos("public.customers")]["columns"][1]["type"],
            "text"
        );
        assert_eq!(manifest["tool"]["name"], "anonymize");

        // A database someone else made is not replaced without --force.
        let target = pg.db(&format!("exp_dir_{format}"));
        target.exec("CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)");
        let run = load(&out, &target, &[]).expect(2);
        assert!(run.stderr.contains("--force"), "{}", run.stderr);
        assert_eq!(target.value("SELECT count(*) FROM precious"), "1");

        let run = load(&out, &target, &["--force"]).expect(0);
        assert!(
            run.stdout.contains("public.customers") && run.stdout.contains("60"),
            "{}",
            run.stdout
        );
        assert_eq!(fingerprint(&target), expected, "{format}");
    }
    // The kept hard text comes through CSV and JSON byte for byte.
    let csv = std::fs::read_to_string(dir.path().join("csv/public.notes_raw.csv")).unwrap();
    assert!(csv.starts_with("id,body,tags\r\n"), "{csv}");
    assert!(csv.contains("\"crlf\r\nline\""), "{csv}");
}

#[test]
fn compressed_exports_load() {
    let pg = Pg::get();
    let source = app_source("exp_zip_src");
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("seed.sql");
    export(&source, "app.yml", &plain, &[]).expect(0);
    let plain_text = std::fs::read_to_string(&plain).unwrap();
    let reference = pg.db("exp_zip_ref");
    psql_file(&reference, &plain);
    let expected = fingerprint(&reference);
    for (name, magic) in [
        ("seed.sql.gz", &[0x1f, 0x8b][..]),
        ("seed.sql.zst", &[0x28, 0xb5, 0x2f, 0xfd][..]),
    ] {
        let file = dir.path().join(name);
        export(&source, "app.yml", &file, &[]).expect(0);
        assert!(
            std::fs::read(&file).unwrap().starts_with(magic),
            "{name} is compressed"
        );
        // The same script inside, as gunzip/zstd -d give it to psql.
        assert_eq!(
            anonymize::export::compress::read_to_string(&file).unwrap(),
            plain_text,
            "{name}"
        );
        let target = pg.fresh_name("exp_zip_dst");
        load(&file, &target, &[]).expect(0);
        assert_eq!(fingerprint(&target), expected, "{name}");
    }
    // A compressed directory export makes no sense: refused up front.
    let run = export(
        &source,
        "app.yml",
        &dir.path().join("x.gz"),
        &["--format", "csv"],
    )
    .expect(2);
    assert!(
        run.stderr.contains("only --format sql is compressed"),
        "{}",
        run.stderr
    );
}

#[test]
fn sigterm_mid_export_leaves_nothing_and_exits_143() {
    let source = app_source("exp_term_src");
    let dir = tempfile::tempdir().unwrap();
    // An earlier export at the csv path must survive an interrupted one.
    let csv = dir.path().join("csv");
    export(&source, "app.yml", &csv, &["--format", "csv"]).expect(0);
    let before = files(&csv);
    for (out, format) in [(dir.path().join("seed.sql"), "sql"), (csv.clone(), "csv")] {
        let point = Failpoint::new("copy.after_first_batch:public.customers");
        let rules = fixtures().join("app.yml");
        let args = [
            "export",
            "--source",
            &source.url,
            "--rules",
            rules.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--format",
            format,
            "--no-progress",
        ];
        let point_env = point.env();
        let env: Vec<(&str, &str)> = env_refs(&point_env)
            .into_iter()
            .chain([("ANONYMIZE_SECRET", SECRET)])
            .collect();
        let mut child = spawn(dir.path(), &args, &env);
        point.wait_reached(&mut child);
        // Mid-copy: customers has a batch in its file, the rest is open.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let run = wait(child).expect(143);
        assert!(
            run.stderr.contains("interrupted by SIGTERM"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    }
    // Nothing at the sql path, no temporary left, the earlier csv export intact.
    assert_eq!(entries(dir.path()), vec!["csv".to_string()]);
    assert_eq!(files(&csv), before);
}

#[test]
fn a_subset_export_keeps_every_foreign_key_valid() {
    let pg = Pg::get();
    let source = pg.db("exp_sub_src");
    source.exec(&std::fs::read_to_string(fixtures().join("subset.sql")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "version: 1\nunknown_columns: keep\n",
    )
    .unwrap();
    let rules = dir.path().join("rules.yml");
    for (out, format) in [("seed.sql", "sql"), ("jsonl", "jsonl")] {
        let out = dir.path().join(out);
        let run = anonymize(
            dir.path(),
            &[
                "export",
                "--source",
                &source.url,
                "--rules",
                rules.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--format",
                format,
                "--subset",
                "10%",
                "--no-progress",
            ],
            &[("ANONYMIZE_SECRET", SECRET)],
        )
        .expect(0);
        let target = if format == "sql" {
            // psql stops at the first error: a foreign key added in
            // post-data over an orphan row would fail the load.
            let target = pg.db("exp_sub_psql");
            psql_file(&target, &out);
            target
        } else {
            let target = pg.fresh_name("exp_sub_load");
            load(&out, &target, &[]).expect(0);
            target
        };
        check_subset(&source, &target, &run);
    }
}

/// Every foreign key of the source is in `target` and validated, and the
/// subset is smaller than the source but not empty.
fn check_subset(source: &Db, target: &Db, run: &Run) {
    let fks = |db: &Db| {
        db.column(
            "SELECT conrelid::regclass || ':' || conname || ':' || convalidated \
             FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
        )
    };
    assert_eq!(fks(source).len(), 12, "the fixture's foreign keys");
    assert_eq!(fks(target), fks(source));
    let count = |db: &Db, t: &str| -> u64 {
        db.value(&format!("SELECT count(*) FROM {t}"))
            .parse()
            .unwrap()
    };
    let kept = count(target, "customers");
    assert!(
        kept > 0 && kept < count(source, "customers"),
        "{kept} customers; {}",
        run.stdout
    );
    assert!(count(target, "orders") < count(source, "orders"));
    // Every kept order's customer is there (the foreign key says so too).
    assert_eq!(
        target.value("SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)"),
        "0"
    );
}

#[test]
fn export_verify_stops_on_a_leak_and_writes_nothing() {
    let source = app_source("exp_verify_src");
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.sql");
    let run = export(&source, "app.yml", &ok, &["--verify"]).expect(0);
    assert!(run.stderr.contains("verify done"), "{}", run.stderr);
    assert!(ok.is_file());

    // Customers' emails kept by mistake: verify finds them in the rows.
    let rules = std::fs::read_to_string(fixtures().join("app.yml"))
        .unwrap()
        .replace("email: { fake: email, unique: true }", "email: keep");
    std::fs::write(dir.path().join("leaky.yml"), rules).unwrap();
    let leaky = dir.path().join("leaky.sql");
    let run = export(
        &source,
        dir.path().join("leaky.yml").to_str().unwrap(),
        &leaky,
        &["--verify"],
    )
    .expect(3);
    assert!(
        run.stderr.contains("public.customers") && run.stderr.contains("email"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("@realmail.example"),
        "never a value: {}",
        run.stderr
    );
    assert!(!leaky.exists(), "nothing written on a leak");
    assert_eq!(
        entries(dir.path()),
        vec!["leaky.yml".to_string(), "ok.sql".to_string()]
    );
}

/// The golden export: data files and manifest of a small export, pinned.
/// Its rules (`tests/fixtures/export/rules.yml`) hash rather than fake, so
/// the files pin the export's format, order and escaping.
/// `ANONYMIZE_UPDATE_GOLDEN=1 cargo test --test it golden` rewrites them
/// (review the diff: it means every user's fixtures change).
#[test]
fn a_small_export_matches_its_golden_files() {
    let source = app_source("exp_golden_src");
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "jsonl"] {
        let out = dir.path().join(format);
        export(&source, "export/rules.yml", &out, &["--format", format]).expect(0);
        // schema.sql is pg_dump's text, which changes with its version.
        let got: Vec<(String, Vec<u8>)> = files(&out)
            .into_iter()
            .filter(|f| f.0 != "schema.sql")
            .collect();
        let golden = fixtures().join("export").join(format);
        if std::env::var_os("ANONYMIZE_UPDATE_GOLDEN").is_some() {
            let _ = std::fs::remove_dir_all(&golden);
            std::fs::create_dir_all(&golden).unwrap();
            for (name, bytes) in &got {
                std::fs::write(golden.join(name), bytes).unwrap();
            }
        }
        let want = files(&golden);
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want), "{format}: files");
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            assert!(
                g == w,
                "{format}/{name} differs from tests/fixtures/export/{format}/{name}; \
                 if the change is intended, rerun with ANONYMIZE_UPDATE_GOLDEN=1 and review the diff"
            );
        }
    }
}

/// Issue 8: the database with every type and structure (`hostile.sql`)
/// exports in each format; the export loads into a fresh database with
/// every table's rows identical to the source's under `keep`, and a second
/// export is byte-identical to the first.
#[test]
fn the_hostile_database_exports_byte_identical_and_loads_back_equal() {
    use crate::hostile::{rows, schema_facts, source, TABLES};
    let pg = Pg::get();
    let source = source("hostile_exp_src");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("keep.yml");
    std::fs::write(&rules, "version: 1\nunknown_columns: keep\n").unwrap();
    let rules = rules.to_str().unwrap();
    for format in ["sql", "csv", "jsonl"] {
        let first = dir.path().join(format!("first-{format}"));
        let second = dir.path().join(format!("second-{format}"));
        export(&source, rules, &first, &["--format", format]).expect(0);
        export(
            &source,
            rules,
            &second,
            &["--format", format, "--jobs", "1"],
        )
        .expect(0);
        if format == "sql" {
            assert!(
                std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
                "sql: two exports differ"
            );
        } else {
            let (a, b) = (files(&first), files(&second));
            assert!(a.len() >= TABLES.len(), "{format}: a file per table");
            for ((name, x), (_, y)) in a.iter().zip(&b) {
                assert!(x == y, "{format}/{name}: two exports differ");
            }
            assert_eq!(a.len(), b.len());
        }

        let target = pg.fresh_name(&format!("hostile_exp_{format}"));
        load(&first, &target, &[]).expect(0);
        for table in TABLES {
            assert_eq!(
                rows(&target, table),
                rows(&source, table),
                "{format}: rows of {table}"
            );
        }
        assert_eq!(schema_facts(&target), schema_facts(&source), "{format}");
    }
}
