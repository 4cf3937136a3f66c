//! The config file: `anonymize.yml` (or `--config PATH`) gives source,
//! target, rules, subset and jobs, with `${ENV_VAR}` interpolation; flags
//! win over environment variables, which win over the file.

use crate::harness::{anonymize, Pg};

/// Three sources told apart by their one table's name.
fn sources() -> [crate::harness::Db; 3] {
    ["from_file", "from_env", "from_flag"].map(|t| {
        let db = Pg::get().db(&format!("cfg_{t}"));
        db.exec(&format!("CREATE TABLE {t} (id int)"));
        db
    })
}

/// The table a `--dry-run` plan shows, i.e. which source was read.
fn planned(stdout: &str) -> &str {
    ["from_file", "from_env", "from_flag"]
        .into_iter()
        .find(|t| stdout.contains(&format!("public.{t} ")))
        .unwrap_or_else(|| panic!("no known table in the plan: {stdout}"))
}

#[test]
fn flags_beat_environment_which_beats_the_file() {
    let [file, env, flag] = sources();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/rules.yml"),
        "version: 1\nunknown_columns: keep\n",
    )
    .unwrap();
    // The URL is assembled from variables, and the rules path is relative
    // to the file, not to the working directory.
    let port = file
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let password = crate::harness::Pg::get().password().unwrap_or_default();
    std::fs::write(
        dir.path().join("conf/anonymize.yml"),
        "source: postgresql://postgres:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${SOURCE_DB}\nrules: rules.yml\njobs: 1\n",
    )
    .unwrap();
    let vars = [
        ("PG_PORT", port),
        ("PG_PASSWORD", password.as_str()),
        ("SOURCE_DB", file.name.as_str()),
    ];
    let args = ["--dry-run", "--config", "conf/anonymize.yml"];

    let run = anonymize(dir.path(), &args, &vars).expect(0);
    assert_eq!(planned(&run.stdout), "from_file");

    let mut with_env = vars.to_vec();
    with_env.push(("SOURCE_DATABASE_URL", env.url.as_str()));
    let run = anonymize(dir.path(), &args, &with_env).expect(0);
    assert_eq!(planned(&run.stdout), "from_env");

    let mut with_flag = args.to_vec();
    with_flag.extend(["--source", flag.url.as_str()]);
    let run = anonymize(dir.path(), &with_flag, &with_env).expect(0);
    assert_eq!(planned(&run.stdout), "from_flag");

    // `check` reads the same file.
    let run = anonymize(
        dir.path(),
        &["check", "--config", "conf/anonymize.yml"],
        &vars,
    )
    .expect(0);
    assert!(run.stdout.contains("copied unchanged"), "{}", run.stdout);
}

#[test]
fn anonymize_yml_in_the_working_directory_is_read_without_flags() {
    let pg = Pg::get();
    let source = pg.db("cfg_default_src");
    source.exec("CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'x')");
    let target = pg.fresh_name("cfg_default_dst");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "version: 1\ntables:\n  public.t:\n    columns: { id: keep, note: null }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("anonymize.yml"),
        format!(
            "source: {}\ntarget: ${{STAGING_URL}}\nrules: rules.yml\n",
            source.url
        ),
    )
    .unwrap();
    // The weekly job: no flags at all, the target's URL from a secret.
    anonymize(
        dir.path(),
        &["--no-progress"],
        &[("STAGING_URL", target.url.as_str())],
    )
    .expect(0);
    assert_eq!(
        target.value("SELECT count(*) FROM t WHERE note IS NULL"),
        "1"
    );
}

#[test]
fn config_errors_name_the_file_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("anonymize.yml"),
        "source: postgresql://u:${DB_PASSWORD}@db/app\n",
    )
    .unwrap();
    let run = anonymize(dir.path(), &["check"], &[]).expect(2);
    assert!(
        run.stderr.contains(
            "anonymize.yml:1:1: `source` uses ${DB_PASSWORD}, which is not set; export DB_PASSWORD or change the file"
        ),
        "{}",
        run.stderr
    );

    std::fs::write(dir.path().join("anonymize.yml"), "sorce: x\n").unwrap();
    let run = anonymize(dir.path(), &["check"], &[]).expect(2);
    assert!(
        run.stderr
            .contains("anonymize.yml:1:1: unknown key `sorce`; did you mean `source`?"),
        "{}",
        run.stderr
    );

    let run = anonymize(dir.path(), &["check", "--config", "missing.yml"], &[]).expect(2);
    assert!(
        run.stderr
            .contains("cannot read the config file missing.yml"),
        "{}",
        run.stderr
    );

    // A secret from the environment never shows in an error.
    std::fs::write(
        dir.path().join("anonymize.yml"),
        "source: postgresql://u:${DB_PASSWORD}@127.0.0.1:1/app\njobs: many\n",
    )
    .unwrap();
    let run = anonymize(dir.path(), &["--dry-run"], &[("DB_PASSWORD", "s3cr3t-pw")]).expect(2);
    assert!(
        run.stderr.contains("`jobs` must be a whole number"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cr3t-pw"));
}
