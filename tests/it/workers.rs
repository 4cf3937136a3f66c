//! One run, many workers (issue 28): `sync --workers external` (the
//! coordinator) and `anonymize worker` processes, the same commands the
//! Kubernetes Pods of `deploy/kubernetes/` run, here as local processes on
//! the benchmark dataset with its `rules.yml`.
//!
//! The default run loads the dataset at `WORKERS_SCALE` (0.05: the same
//! shape, ~75,000 rows); `WORKERS_SCALE=1` runs the issue's SCALE=1.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::harness::{self, anonymize, env_refs, spawn, wait_within, Db, Failpoint, Pg, Run};

const SECRET: &str = "Wk7qLr2ZpX9vNc4TbHs6YdGf1MjQe8RuAo3KiPl5SwEz0VxC";
const OTHER_SECRET: &str = "Hn3RfT8kLq1ZwXe6YvBm9PcJd4SaGu7NoKi2MtQz5VrEy0Wx";

/// Work units of about 1 MiB, so that even the small dataset has tables
/// in several page ranges.
const SPLIT_MB: &str = "1";

/// Long enough for any run here; a guard against a hang, not a race.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// How long workers may take to stop once the coordinator is gone: they
/// wait on its lock, so they stop at once; the bound only catches a hang.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// A source holding the benchmark dataset at `scale`, and its rules path.
fn bench_source(test: &str, scale: &str) -> (Db, String) {
    let source = harness::bench::loaded(test, scale);
    let rules = harness::bench::dir().join("rules.yml");
    (source, rules.display().to_string())
}

fn scale() -> String {
    std::env::var("WORKERS_SCALE").unwrap_or_else(|_| "0.05".into())
}

fn coordinator_args<'a>(source: &'a Db, target: &'a Db, rules: &'a str) -> Vec<&'a str> {
    harness::sync_args(&source.url, &target.url, rules, &["--workers", "external"])
}

fn worker_args<'a>(source: &'a Db, target: &'a Db, rules: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "worker",
        "--source",
        &source.url,
        "--target",
        &target.url,
        "--rules",
        rules,
        "--name",
        name,
        "--no-progress",
    ]
}

/// The environment of every run here, plus `extra`.
fn env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("ANONYMIZE_SECRET", SECRET.to_string()),
        ("ANONYMIZE_SPLIT_MB", SPLIT_MB.to_string()),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn start(dir: &Path, args: &[&str], extra: &[(&'static str, String)]) -> Child {
    let env = env(extra);
    spawn(dir, args, &env_refs(&env))
}

fn finish(child: Child) -> Run {
    wait_within(child, RUN_LIMIT, String::new)
}

/// Waits until every one of `names` has joined the run in `next` (a state
/// the test reads, not a time). With the coordinator paused at
/// `workers.units_ready` meanwhile, no worker can arrive after the run ended.
fn wait_joined(next: &Db, names: &[&str]) {
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT count(*) FROM anonymize_run.workers WHERE name IN ({list})");
    let deadline = Instant::now() + RUN_LIMIT;
    while next.value(&sql) != names.len().to_string() {
        assert!(Instant::now() < deadline, "the workers {list} never joined");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The load database of `target`.
fn next_of(target: &Db) -> Db {
    let name = format!("{}__next", target.name);
    Db {
        url: Pg::get().url(&name),
        name,
    }
}

/// A one-process sync of `source` into a fresh target: the reference.
fn one_process(dir: &Path, source: &Db, rules: &str, test: &str) -> Db {
    let target = Pg::get().fresh_name(test);
    sync_into(dir, source, &target, rules);
    target
}

/// A one-process sync of `source` into `target`, which must succeed.
fn sync_into(dir: &Path, source: &Db, target: &Db, rules: &str) {
    let env = env(&[]);
    anonymize(
        dir,
        &harness::sync_args(&source.url, &target.url, rules, &[]),
        &env_refs(&env),
    )
    .expect(0);
}

/// Rows (count and digest per table, so a duplicate shows), sequences,
/// constraints, indexes and triggers: what "the same target" means.
fn fingerprint(db: &Db) -> Vec<String> {
    crate::export::fingerprint(db)
}

/// The report's `workers`: (worker, units it finished).
fn units_by_worker(report: &Path) -> Vec<(String, Vec<i64>)> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    report["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("no workers in the report: {report}"))
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_string(),
                w["units"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["unit"].as_i64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// Every unit once, and more units than tables (some tables in parts).
fn assert_each_unit_once(by_worker: &[(String, Vec<i64>)]) {
    let mut all: Vec<i64> = by_worker.iter().flat_map(|(_, u)| u.clone()).collect();
    all.sort();
    let n = all.len() as i64;
    assert_eq!(all, (1..=n).collect::<Vec<_>>(), "each unit exactly once");
    assert!(n > 6, "the dataset's 6 tables come in more units: {n}");
}

/// A Pod's command line and environment in `deploy/kubernetes/<file>`,
/// run here as a local process: `args`, and `env` with the Secret's and
/// the ConfigMap's values put in (`values` maps a name to its value here).
fn pod(file: &str, values: &[(&str, String)]) -> (Vec<String>, Vec<(&'static str, String)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(file);
    let job: serde_json::Value =
        anonymize::yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut env = Vec::new();
    for e in container["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{file}: no value here for {name}"));
        // 'static for `spawn`: the few names the manifests use.
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        env.push((name, value));
    }
    (args, env)
}

/// The issue's first acceptance point: a coordinator and 3 workers give
/// the target a one-process sync gives (rows, sequences, constraints), and
/// no control table survives into it. They run the commands and the
/// environment of the Pods in `deploy/kubernetes/` (the secret from a
/// file, as the Secret is mounted), and the workers start first, as Pods
/// may.
#[test]
fn three_workers_give_the_target_one_process_gives() {
    let (source, rules) = bench_source("wk_same", &scale());
    let dir = tempfile::tempdir().unwrap();
    let single = one_process(dir.path(), &source, &rules, "wk_same_one");
    let target = Pg::get().fresh_name("wk_same_many");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    // As the Secret is mounted: defaultMode 0440.
    std::fs::set_permissions(
        &secret_file,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o440),
    )
    .unwrap();
    let values = [
        ("SOURCE_DATABASE_URL", source.url.clone()),
        ("TARGET_DATABASE_URL", target.url.clone()),
        ("ANONYMIZE_SECRET_FILE", secret_file.display().to_string()),
        ("ANONYMIZE_RULES", rules.clone()),
        // Small units, so that the small dataset comes in parts too.
        ("ANONYMIZE_SPLIT_MB", SPLIT_MB.to_string()),
    ];
    let (worker_args, worker_env) = pod("workers-job.yaml", &values);
    let (coordinator_args, coordinator_env) = pod("coordinator-job.yaml", &values);
    assert!(coordinator_args.iter().any(|a| a == "--workers=external"));
    let run_pod = |args: &[String], env: &[(&'static str, String)]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn(dir.path(), &args, &env_refs(env))
    };
    let workers: Vec<Child> = (0..3)
        .map(|i| {
            let mut env = worker_env.clone();
            env.push(("JOB_COMPLETION_INDEX", i.to_string()));
            run_pod(&worker_args, &env)
        })
        .collect();
    let ready = Failpoint::new("workers.units_ready");
    let mut coordinator_env = coordinator_env;
    coordinator_env.extend(ready.env());
    let mut coordinator = run_pod(&coordinator_args, &coordinator_env);
    ready.wait_reached(&mut coordinator);
    wait_joined(&next_of(&target), &["worker-0", "worker-1", "worker-2"]);
    ready.resume();
    let runs: Vec<Run> = workers.into_iter().map(finish).collect();
    let run = finish(coordinator).expect(0);
    let mut units_said = 0;
    let said_re = regex::Regex::new(r"worker worker-\d: (\d+) unit\(s\)").unwrap();
    for r in runs {
        let r = r.expect(0);
        let said = said_re
            .captures(&r.stdout)
            .unwrap_or_else(|| panic!("{}", r.stdout));
        units_said += said[1].parse::<usize>().unwrap();
    }
    // Progress: units done of total, rows per second, each worker's lag.
    let last = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["message"] == "workers' progress")
        .unwrap_or_else(|| panic!("no progress line:\n{}", run.stderr));
    let fields = &last;
    let (done, total) = fields["units"].as_str().unwrap().split_once('/').unwrap();
    assert_eq!(done, total, "{last}");
    assert!(
        fields["rows_per_second"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    for i in 0..3 {
        assert!(
            fields["lag"]
                .as_str()
                .unwrap()
                .contains(&format!("worker-{i} ")),
            "{last}"
        );
    }

    assert_eq!(fingerprint(&single), fingerprint(&target));
    assert_eq!(
        target.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'anonymize_run'"),
        "0"
    );
    assert!(!Pg::get().exists(&next_of(&target).name));
    // `--report=-`: the report is stdout's one line.
    let report = dir.path().join("report.json");
    std::fs::write(&report, &run.stdout).unwrap();
    let by_worker = units_by_worker(&report);
    assert_each_unit_once(&by_worker);
    assert_documented_worker_fields(&run.stdout);
    assert_eq!(
        units_said,
        by_worker.iter().map(|(_, u)| u.len()).sum::<usize>()
    );
}

/// Every field of the report's `workers[]` and `workers[].units[]` is in
/// docs/report.md, and every documented one is there.
fn assert_documented_worker_fields(report: &str) {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.md"))
        .unwrap();
    let row = regex::Regex::new(r"^\| `(workers\[\][^`]*)` \|").unwrap();
    let mut documented: Vec<String> = doc
        .lines()
        .filter_map(|l| row.captures(l))
        .map(|c| c[1].to_string())
        .collect();
    documented.sort();
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    let mut found = std::collections::BTreeSet::new();
    for w in report["workers"].as_array().unwrap() {
        for (k, v) in w.as_object().unwrap() {
            found.insert(format!("workers[].{k}"));
            if k == "units" {
                for u in v.as_array().unwrap() {
                    for k in u.as_object().unwrap().keys() {
                        found.insert(format!("workers[].units[].{k}"));
                    }
                }
            }
        }
    }
    assert_eq!(found.into_iter().collect::<Vec<_>>(), documented);
}

/// A worker SIGKILLed with a unit's rows written but not committed: its
/// rows and its claim roll back together, another worker redoes the unit,
/// and the result is the one-process result, with no row twice.
#[test]
fn a_worker_killed_mid_unit_has_its_unit_redone_once() {
    let (source, rules) = bench_source("wk_kill", "0.05");
    let dir = tempfile::tempdir().unwrap();
    let single = one_process(dir.path(), &source, &rules, "wk_kill_one");
    let target = Pg::get().fresh_name("wk_kill_many");
    let report = dir.path().join("report.json");
    let report_arg = report.display().to_string();
    let mut args = coordinator_args(&source, &target, &rules);
    args.extend(["--report", &report_arg]);
    let ready = Failpoint::new("workers.units_ready");
    let mut coordinator = start(dir.path(), &args, &ready.env());
    ready.wait_reached(&mut coordinator);

    let fp = Failpoint::new("worker.unit_copied");
    let mut doomed = start(
        dir.path(),
        &worker_args(&source, &target, &rules, "doomed"),
        &fp.env(),
    );
    fp.wait_reached(&mut doomed);
    // Its first unit's rows are in the target, in its open transaction.
    let held = next_of(&target).value(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE c.relname = 'units' AND l.mode = 'RowShareLock'",
    );
    assert_eq!(held, "1", "the doomed worker holds a claim");
    doomed.kill().unwrap();
    let killed = doomed.wait().unwrap();
    assert!(!killed.success());

    let others: Vec<Child> = ["w1", "w2"]
        .iter()
        .map(|name| {
            start(
                dir.path(),
                &worker_args(&source, &target, &rules, name),
                &[],
            )
        })
        .collect();
    wait_joined(&next_of(&target), &["w1", "w2"]);
    ready.resume();
    for r in others.into_iter().map(finish) {
        r.expect(0);
    }
    finish(coordinator).expect(0);

    assert_eq!(fingerprint(&single), fingerprint(&target));
    let by_worker = units_by_worker(&report);
    assert_each_unit_once(&by_worker);
    assert!(
        by_worker.iter().all(|(name, _)| name != "doomed"),
        "the killed worker finished no unit: {by_worker:?}"
    );
}

/// A worker with other rules, or another secret, exits 2 before it takes
/// a unit; the run then goes on with a right one.
#[test]
fn a_worker_with_other_rules_or_secret_exits_2_and_takes_no_unit() {
    let (source, rules) = bench_source("wk_other", "0.02");
    let dir = tempfile::tempdir().unwrap();
    let other_rules = dir.path().join("other.yml");
    std::fs::write(
        &other_rules,
        std::fs::read_to_string(&rules)
            .unwrap()
            .replace("phone: { fake: phone_number }", "phone: null"),
    )
    .unwrap();
    let other_rules = other_rules.display().to_string();
    let target = Pg::get().fresh_name("wk_other");
    let fp = Failpoint::new("workers.units_ready");
    let mut coordinator = start(
        dir.path(),
        &coordinator_args(&source, &target, &rules),
        &fp.env(),
    );
    fp.wait_reached(&mut coordinator);
    let next = next_of(&target);

    let run = finish(start(
        dir.path(),
        &worker_args(&source, &target, &other_rules, "other-rules"),
        &[],
    ))
    .expect(2);
    assert!(
        run.stderr.contains("rules") && run.stderr.contains("are not the run's"),
        "{}",
        run.stderr
    );
    let run = finish(start(
        dir.path(),
        &worker_args(&source, &target, &rules, "other-secret"),
        &[("ANONYMIZE_SECRET", OTHER_SECRET.to_string())],
    ))
    .expect(2);
    assert!(
        run.stderr.contains("secret is not the run's"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(OTHER_SECRET) && !run.stderr.contains(SECRET));
    let taken = next.value(
        "SELECT (SELECT count(*) FROM anonymize_run.units WHERE done) \
              + (SELECT count(*) FROM anonymize_run.workers)",
    );
    assert_eq!(
        taken, "0",
        "the refused workers took no unit and never joined"
    );
    let stored = next.value("SELECT secret_fingerprint FROM anonymize_run.run");
    assert!(!stored.contains(SECRET) && stored.len() == 32);

    fp.resume();
    finish(start(
        dir.path(),
        &worker_args(&source, &target, &rules, "right"),
        &[],
    ))
    .expect(0);
    finish(coordinator).expect(0);
}

/// The coordinator killed while workers run: every worker stops (non-zero)
/// within moments, since each waits on the coordinator's lock; the next
/// sync leaves no `__next` and no control table behind.
#[test]
fn the_coordinator_killed_stops_every_worker_and_the_next_run_cleans_up() {
    let (source, rules) = bench_source("wk_coord", "0.02");
    let dir = tempfile::tempdir().unwrap();
    let target = Pg::get().fresh_name("wk_coord");
    let next = next_of(&target);
    let ready = Failpoint::new("workers.units_ready");
    let mut coordinator = start(
        dir.path(),
        &coordinator_args(&source, &target, &rules),
        &ready.env(),
    );
    ready.wait_reached(&mut coordinator);
    // One worker stopped inside a unit, two that then wait for it.
    let mid_unit = Failpoint::new("worker.unit_copied");
    let mut first = start(
        dir.path(),
        &worker_args(&source, &target, &rules, "mid-unit"),
        &mid_unit.env(),
    );
    mid_unit.wait_reached(&mut first);
    let mut workers = vec![first];
    for name in ["w2", "w3"] {
        workers.push(start(
            dir.path(),
            &worker_args(&source, &target, &rules, name),
            &[],
        ));
    }
    // Until both have joined (a state the test reads, not a time).
    let deadline = Instant::now() + RUN_LIMIT;
    while next.value("SELECT count(*) FROM anonymize_run.workers") != "3" {
        assert!(Instant::now() < deadline, "the workers never joined");
        std::thread::sleep(Duration::from_millis(20));
    }
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();

    for w in workers {
        let started = Instant::now();
        let run = wait_within(w, STOP_LIMIT, || "a worker outlived its coordinator".into());
        assert_ne!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("the coordinator of this run is gone"),
            "{}",
            run.stderr
        );
        assert!(started.elapsed() < STOP_LIMIT);
    }
    assert!(
        Pg::get().exists(&next.name),
        "the killed run left its load database"
    );

    sync_into(dir.path(), &source, &target, &rules);
    assert!(!Pg::get().exists(&next.name));
    assert_eq!(
        target.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'anonymize_run'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM public.customers"),
        source.value("SELECT count(*) FROM public.customers")
    );
}

/// A worker whose unit fails (here a transform, at a failpoint) records
/// the error: the coordinator ends the run with it (exit 1) instead of
/// waiting for a unit that fails wherever it runs, and drops `__next`.
#[test]
fn a_unit_that_fails_in_a_worker_ends_the_run_with_its_error() {
    let (source, rules) = bench_source("wk_fail", "0.02");
    let dir = tempfile::tempdir().unwrap();
    let target = Pg::get().fresh_name("wk_fail");
    let coordinator = start(dir.path(), &coordinator_args(&source, &target, &rules), &[]);
    let worker = finish(start(
        dir.path(),
        &worker_args(&source, &target, &rules, "failing"),
        &[("ANONYMIZE_FAILPOINT", "transform.panic".to_string())],
    ));
    assert_eq!(worker.code, 1, "{}", worker.stderr);
    // It reads the failure on its next look at the units (every 200 ms);
    // the limit only tells that from waiting for good.
    let run = wait_within(coordinator, Duration::from_secs(120), || {
        "the coordinator kept waiting for a unit that failed".into()
    })
    .expect(1);
    assert!(
        run.stderr.contains("worker failing failed on unit")
            && run
                .stderr
                .contains("a transform stopped on an internal error"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("PRIVATE-PAYLOAD"));
    assert!(!Pg::get().exists(&next_of(&target).name));
    assert!(!Pg::get().exists(&target.name));
}

/// The coordinator's `--subset` and table selection reach the workers
/// through the control table: the same rows as one process with them.
#[test]
fn workers_copy_the_coordinators_subset_and_selection() {
    let (source, rules) = bench_source("wk_subset", "0.02");
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--subset", "7%", "--exclude-table-data", "public.employees"];
    let single = Pg::get().fresh_name("wk_subset_one");
    let env = env(&[]);
    anonymize(
        dir.path(),
        &harness::sync_args(&source.url, &single.url, &rules, &flags),
        &env_refs(&env),
    )
    .expect(0);
    let target = Pg::get().fresh_name("wk_subset_many");
    let mut args = coordinator_args(&source, &target, &rules);
    args.extend(flags);
    let ready = Failpoint::new("workers.units_ready");
    let mut coordinator = start(dir.path(), &args, &ready.env());
    ready.wait_reached(&mut coordinator);
    let workers: Vec<Child> = ["w1", "w2"]
        .iter()
        .map(|name| {
            start(
                dir.path(),
                &worker_args(&source, &target, &rules, name),
                &[],
            )
        })
        .collect();
    wait_joined(&next_of(&target), &["w1", "w2"]);
    ready.resume();
    for r in workers.into_iter().map(finish) {
        r.expect(0);
    }
    finish(coordinator).expect(0);
    assert_eq!(fingerprint(&single), fingerprint(&target));
    let customers: i64 = target
        .value("SELECT count(*) FROM public.customers")
        .parse()
        .unwrap();
    assert!(customers > 0 && customers < 1000, "a subset: {customers}");
    assert_eq!(target.value("SELECT count(*) FROM public.employees"), "0");
}

/// A worker started for a run that ends before it gets in (a Pod scheduled
/// late) sees the target replaced and exits 0 at once, instead of waiting
/// out `--wait` and failing the Job. The run here is a one-process sync.
#[test]
fn a_worker_that_misses_its_run_exits_0_when_the_target_is_replaced() {
    let (source, rules) = bench_source("wk_late", "0.02");
    let dir = tempfile::tempdir().unwrap();
    let target = Pg::get().fresh_name("wk_late");
    let mut late = start(
        dir.path(),
        &worker_args(&source, &target, &rules, "late"),
        &[],
    );
    // Until it is waiting: its session, named for the target, is open.
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'anonymize worker waiting for {}'",
        target.name
    );
    let deadline = Instant::now() + RUN_LIMIT;
    while Pg::get().db_admin().value(&waiting) != "1" {
        assert!(late.try_wait().unwrap().is_none(), "the worker ended early");
        assert!(Instant::now() < deadline, "the worker never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
    sync_into(dir.path(), &source, &target, &rules);
    let run = wait_within(late, STOP_LIMIT, || "the late worker kept waiting".into()).expect(0);
    assert!(
        run.stdout.contains("worker late: 0 unit(s), 0 rows"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("the target was replaced by a run this worker did not join"),
        "{}",
        run.stderr
    );
}
