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

/// The pg_dump major version the golden schema text was written with:
/// pg_dump's text differs between versions, so `schema.sql` and the sql
/// export are compared only when the export ran this one.
const GOLDEN_PG_DUMP: u32 = 15;

/// The golden export: every file of a small export in each format, pinned
/// (`csv/`, `jsonl/`: data files, manifest and `schema.sql`; `sql/`: the
/// one script). Its rules (`tests/fixtures/export/rules.yml`) hash rather
/// than fake, so the files pin the export's format, order and escaping,
/// and a change to a writer is a diff to review.
/// `ANONYMIZE_UPDATE_GOLDEN=1 cargo test --test it golden` rewrites them
/// (review the diff: it means every user's fixtures change).
#[test]
fn a_small_export_matches_its_golden_files() {
    let source = app_source("exp_golden_src");
    let server: i32 = source
        .value("SELECT current_setting('server_version_num')")
        .parse()
        .unwrap();
    let pg_dump = anonymize::pgdump::find_pg_dump(server).unwrap().major;
    let same_pg_dump = pg_dump == GOLDEN_PG_DUMP;
    if !same_pg_dump {
        eprintln!(
            "skipped: schema.sql and the sql export (pg_dump {pg_dump}, golden files from pg_dump {GOLDEN_PG_DUMP})"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "jsonl", "sql"] {
        let out = dir.path().join(format);
        if format == "sql" {
            std::fs::create_dir(&out).unwrap();
            let file = out.join("export.sql");
            export(&source, "export/rules.yml", &file, &["--format", format]).expect(0);
        } else {
            export(&source, "export/rules.yml", &out, &["--format", format]).expect(0);
        }
        // schema.sql is pg_dump's text, which changes with its version: it
        // is compared only under the golden files' pg_dump, and its digest
        // in the manifest never.
        let got: Vec<(String, Vec<u8>)> = files(&out)
            .into_iter()
            .filter(|f| same_pg_dump || (f.0 != "schema.sql" && f.0 != "export.sql"))
            .map(|(name, bytes)| {
                if name != "manifest.json" {
                    return (name, bytes);
                }
                let text = String::from_utf8(bytes).unwrap();
                let text: Vec<String> = text
                    .lines()
                    .map(|l| match l.find("\"schema_sha256\"") {
                        Some(at) => format!("{}\"schema_sha256\": \"(pg_dump's)\",", &l[..at]),
                        None => l.to_string(),
                    })
                    .collect();
                (name, (text.join("\n") + "\n").into_bytes())
            })
            .collect();
        let golden = fixtures().join("export").join(format);
        if std::env::var_os("ANONYMIZE_UPDATE_GOLDEN").is_some() && same_pg_dump {
            let _ = std::fs::remove_dir_all(&golden);
            std::fs::create_dir_all(&golden).unwrap();
            for (name, bytes) in &got {
                std::fs::write(golden.join(name), bytes).unwrap();
            }
        }
        let want: Vec<(String, Vec<u8>)> = files(&golden)
            .into_iter()
            .filter(|f| same_pg_dump || (f.0 != "schema.sql" && f.0 != "export.sql"))
            .collect();
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

/// Drops the last line of `file`: a cut that falls on a row boundary, so
/// every remaining row still parses.
fn cut_last_line(file: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    let body = text
        .strip_suffix('\n')
        .or_else(|| text.strip_suffix("\r\n"))
        .unwrap();
    let body = body.trim_end_matches('\r');
    let end = body.rfind('\n').unwrap() + 1;
    std::fs::write(file, &text[..end]).unwrap();
}

/// Issue 21 §5: a table file cut short at a line boundary (a partial
/// copy, a disk that filled up) is refused before the swap, exit 1, and
/// the target keeps what it had; so is a cut schema script. The manifest
/// holds each file's rows and sha256.
#[test]
fn a_load_of_a_file_cut_at_a_line_boundary_is_refused_and_the_target_kept() {
    let pg = Pg::get();
    let source = app_source("exp_cut_src");
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "jsonl"] {
        let out = dir.path().join(format);
        export(&source, "app.yml", &out, &["--format", format]).expect(0);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        let customers = manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == "public.customers")
            .unwrap();
        assert_eq!(customers["rows"], 60);
        let file = out.join(customers["file"].as_str().unwrap());
        assert_eq!(
            customers["sha256"].as_str().unwrap(),
            anonymize::export::manifest::content_digest(&file).unwrap()
        );
        assert_eq!(manifest["schema_sha256"].as_str().unwrap().len(), 64);

        let target = pg.fresh_name(&format!("exp_cut_{format}"));
        load(&out, &target, &[]).expect(0);
        assert_eq!(target.value("SELECT count(*) FROM customers"), "60");
        target.exec("UPDATE customers SET email = 'marker@example.com' WHERE id = 1");

        cut_last_line(&file);
        let run = load(&out, &target, &[]).expect(1);
        assert!(
            run.stderr.contains("public.customers")
                && run
                    .stderr
                    .contains("is not what manifest.json says the export wrote"),
            "{format}: {}",
            run.stderr
        );
        assert_eq!(target.value("SELECT count(*) FROM customers"), "60");
        assert_eq!(
            target.value("SELECT email FROM customers WHERE id = 1"),
            "marker@example.com",
            "{format}: the target was replaced"
        );
        assert!(!pg.exists(&format!("{}__next", target.name)));
    }
    // The schema script cut before its post-data: refused before any work.
    let out = dir.path().join("jsonl");
    export(&source, "app.yml", &out, &["--format", "jsonl"]).expect(0);
    cut_last_line(&out.join("schema.sql"));
    let target = pg.fresh_name("exp_cut_schema");
    let run = load(&out, &target, &[]).expect(1);
    assert!(run.stderr.contains("schema.sql"), "{}", run.stderr);
    assert!(!pg.exists(&target.name));
}

/// Issue 21 §5: `--out x.sql.bz2` would be plain SQL under a compressed
/// name: refused, exit 2, nothing written.
#[test]
fn an_unknown_compression_suffix_is_refused() {
    let source = app_source("exp_bz2_src");
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.sql.bz2", "x.sql.xz"] {
        let run = export(&source, "app.yml", &dir.path().join(name), &[]).expect(2);
        assert!(
            run.stderr
                .contains("compression is not supported; name the file .gz (gzip) or .zst (zstd)"),
            "{}",
            run.stderr
        );
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

/// Issue 21 §5: exporting again into a fixtures directory replaces the
/// files the earlier export wrote (its manifest lists them) and nothing
/// else: a README, a `.gitkeep`, a folder of notes stay.
#[test]
fn a_directory_export_deletes_only_the_files_its_manifest_lists() {
    let source = app_source("exp_keep_src");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixtures");
    export(&source, "app.yml", &out, &["--format", "csv"]).expect(0);
    std::fs::write(out.join("README.md"), "how to load these\n").unwrap();
    std::fs::write(out.join(".gitkeep"), "").unwrap();
    std::fs::write(out.join("public.old_table.csv"), "mine\n").unwrap();
    std::fs::create_dir(out.join("notes")).unwrap();
    std::fs::write(out.join("notes/a.txt"), "a\n").unwrap();
    // A file the earlier export listed but this one does not write: the
    // manifest is edited as if an earlier version had exported it.
    let manifest_path = out.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["tables"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "table": "public.gone", "schema": "public", "name": "gone",
            "file": "public.gone.csv", "rows": 1, "columns": []
        }));
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    std::fs::write(out.join("public.gone.csv"), "id\n1\n").unwrap();

    export(&source, "app.yml", &out, &["--format", "csv"]).expect(0);
    let names = entries(&out);
    for kept in ["README.md", ".gitkeep", "public.old_table.csv", "notes"] {
        assert!(
            names.contains(&kept.to_string()),
            "{kept} was deleted: {names:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "how to load these\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes/a.txt")).unwrap(),
        "a\n"
    );
    assert!(!names.contains(&"public.gone.csv".to_string()), "{names:?}");
    assert!(names.contains(&"public.customers.csv".to_string()));
    // Only the export beside it: no temporary directory is left.
    assert_eq!(entries(dir.path()), vec!["fixtures".to_string()]);
}
