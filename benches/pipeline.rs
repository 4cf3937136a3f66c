//! End-to-end benchmark: `anonymize` against the raw COPY pipe on the
//! dataset of `benches/dataset/`, in the same cluster and session.
//!
//!     cargo bench --bench pipeline                 # SCALE=1
//!     BENCH_SCALE=5 cargo bench --bench pipeline
//!
//! Env: `BENCH_SCALE` (default 1), `BENCH_DIR` (default benches/dataset),
//! `BENCH_RULES` (default rules-basic.yml in BENCH_DIR), `BENCH_RUNS`
//! (default 3; the median is reported), `BENCH_URL` (a server with the
//! dataset already loaded in database `bench_src`; otherwise an ephemeral
//! cluster is started and loaded, which takes a minute or two).
//!
//! Prints the reference time (raw pipe, then keys and indexes: the
//! baseline's `-p`), anonymize's time, their ratio and anonymize's peak RSS.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anonymize::ephemeral::Cluster;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn psql(bin: &std::path::Path, url: &str, args: &[&str]) {
    let st = Command::new(bin.join("psql"))
        .arg(url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .status()
        .expect("psql");
    assert!(st.success(), "psql {args:?} failed");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Peak RSS in MiB of the largest child that has exited so far.
fn children_max_rss_mib() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we ignore.
    let scale = env_or("BENCH_SCALE", "1");
    let dir = PathBuf::from(env_or(
        "BENCH_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/benches/dataset"),
    ));
    let rules = PathBuf::from(env_or(
        "BENCH_RULES",
        dir.join("rules-basic.yml").to_str().unwrap(),
    ));
    let runs: usize = env_or("BENCH_RUNS", "3")
        .parse()
        .expect("BENCH_RUNS is a number");
    if !dir.join("load.sh").is_file() {
        eprintln!(
            "benchmark dataset not found at {}; set BENCH_DIR",
            dir.display()
        );
        return;
    }

    let (_cluster, url, bin) = match std::env::var("BENCH_URL") {
        Ok(u) => (
            None,
            u,
            anonymize::ephemeral::find_server_bin().expect("psql"),
        ),
        Err(_) => {
            let c = Cluster::start().expect("start a cluster");
            let url = c.url("{db}");
            let bin = c.bin_dir().to_path_buf();
            psql(
                &bin,
                &url.replace("{db}", "postgres"),
                &["-c", "CREATE DATABASE bench_src"],
            );
            eprintln!("loading SCALE={scale} …");
            let st = Command::new("bash")
                .arg(dir.join("load.sh"))
                .arg(&scale)
                .arg(url.replace("{db}", "bench_src"))
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        bin.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                )
                .stdout(std::process::Stdio::null())
                .status()
                .expect("load.sh");
            assert!(st.success());
            (Some(c), url, bin)
        }
    };
    let db = |name: &str| url.replace("{db}", name);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut raw_times = Vec::new();
    let mut anon_times = Vec::new();
    for i in 0..runs {
        // Reference: bare tables, raw text COPY pipe, then constraints.sql.
        let raw = format!("bench_raw_{i}");
        psql(
            &bin,
            &db("postgres"),
            &[
                "-c",
                &format!("DROP DATABASE IF EXISTS {raw}"),
                "-c",
                &format!("CREATE DATABASE {raw}"),
            ],
        );
        psql(
            &bin,
            &db(&raw),
            &["-f", dir.join("schema.sql").to_str().unwrap()],
        );
        let out = Command::new("bash")
            .arg(dir.join("baseline.sh"))
            .args(["-p", &db("bench_src"), &db(&raw)])
            .env("PATH", &path)
            .output()
            .expect("baseline.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let secs: f64 = text
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("total_seconds="))
            .and_then(|s| s.parse().ok())
            .expect("total_seconds");
        raw_times.push(secs);
        psql(
            &bin,
            &db("postgres"),
            &["-c", &format!("DROP DATABASE {raw}")],
        );

        // anonymize, end to end (schema, copy, post-data, swap).
        let target = format!("bench_anon_{i}");
        let start = Instant::now();
        let st = Command::new(env!("CARGO_BIN_EXE_anonymize"))
            .args([
                "--source",
                &db("bench_src"),
                "--target",
                &db(&target),
                "--rules",
                rules.to_str().unwrap(),
                "--no-progress",
            ])
            .env(
                "ANONYMIZE_SECRET",
                "YFTFfFVFjQuzn5SyZvQOz8sRYD65BeJg5IzhbWjr7wszt026Fq0QwOb2",
            )
            .env("ANONYMIZE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("anonymize");
        assert!(st.success());
        anon_times.push(start.elapsed().as_secs_f64());
        psql(
            &bin,
            &db("postgres"),
            &["-c", &format!("DROP DATABASE {target}")],
        );
        eprintln!(
            "run {i}: raw pipe + keys {:.2} s, anonymize {:.2} s",
            raw_times[i], anon_times[i]
        );
    }
    let (raw, anon) = (median(raw_times), median(anon_times));
    println!("scale={scale} rules={}", rules.display());
    println!("reference (raw COPY pipe, then keys and indexes): {raw:.2} s (median of {runs})");
    println!("anonymize (end to end):                            {anon:.2} s (median of {runs})");
    println!("ratio: {:.2}x", anon / raw);
    println!("anonymize peak RSS: {:.0} MiB", children_max_rss_mib());
}
