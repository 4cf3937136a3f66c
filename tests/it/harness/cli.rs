//! Runs the built `anonymize` binary with a clean environment.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A fresh temporary directory holding `rules` as `rules.yml`: the working
/// directory of the runs that read it (kept alive by the caller).
pub fn rules_dir(rules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    dir
}

/// `sync` from `source` to `target` with the rules file `rules` and no
/// progress bar, then `extra`: the command line most tests run.
pub fn sync_args<'a>(
    source: &'a str,
    target: &'a str,
    rules: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "sync",
        "--source",
        source,
        "--target",
        target,
        "--rules",
        rules,
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    args
}

/// `verify` of `target` against `source` with the rules file `rules`,
/// then `extra`.
pub fn verify_args<'a>(
    source: &'a str,
    target: &'a str,
    rules: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "verify", "--source", source, "--target", target, "--rules", rules,
    ];
    args.extend_from_slice(extra);
    args
}

/// Runs `anonymize args…` with `env` (and no inherited `ANONYMIZE_*`,
/// `SOURCE_*`, `TARGET_*` variables), in `dir`.
pub fn anonymize(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    wait(spawn(dir, args, env))
}

/// Runs `anonymize args…` like `anonymize` does, with `input` on its
/// stdin (written from a thread, so a run that streams its output while it
/// reads cannot deadlock); stdout is kept as bytes.
pub fn anonymize_stdin(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Vec<u8>,
) -> (Run, Vec<u8>) {
    let mut child = command(dir, args, env)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start anonymize");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The run may stop reading early (an error): not the test's failure.
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let out = child.wait_with_output().expect("wait for anonymize");
    writer.join().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, out.stdout)
}

/// Starts `anonymize args…` like `anonymize` does, without waiting: for
/// tests that act on a run while it copies.
pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    command(dir, args, env)
        .stdin(Stdio::null())
        .spawn()
        .expect("start anonymize")
}

/// The command line of a run, with a clean environment and piped output.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anonymize"));
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        // The PG* variables that say where to connect would become the
        // source of a run without --source.
        if k.starts_with("ANONYMIZE_")
            || k.starts_with("SOURCE_DATABASE")
            || k.starts_with("TARGET_DATABASE")
            || anonymize::conn::LOCATION_VARIABLES.contains(&k.as_str())
            || k == "PGSERVICEFILE"
            || k == "PGSYSCONFDIR"
        {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for a started run and collects what it printed.
pub fn wait(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait for anonymize");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits for a started run like `wait`, but no longer than `limit`. A run
/// still going then is hung (limits are minutes, runs take seconds): it is
/// killed and the test fails with `why()`, what the test can tell about the
/// hang, instead of stalling the suite. A guard, not a race.
pub fn wait_within(child: Child, limit: Duration, why: impl FnOnce() -> String) -> Run {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(wait(child));
    });
    match rx.recv_timeout(limit) {
        Ok(run) => run,
        Err(_) => {
            let detail = why();
            // SAFETY: kill(2) on the pid of the child this test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("the run did not end within {limit:?}: it hangs.\n{detail}");
        }
    }
}
