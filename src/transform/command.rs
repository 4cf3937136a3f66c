//! `command:`: values replaced by an external program, for fields no
//! built-in transform knows (one bank's IBANs, national IDs, medical codes).
//!
//! The program is long-lived: started when a batch first needs it, kept
//! for the rest of the run, one per transform worker at most (a pool of
//! idle processes; a batch takes one, or starts one when none is idle).
//!
//! The line protocol (docs/transforms.md, `command`):
//!
//! - a batch is the column's non-NULL values, one per line, in COPY text
//!   form (a tab is `\t`, a newline `\n`, a backslash `\\`), then a line
//!   holding only `\.`, the end-of-data marker of COPY (a value `\.` is
//!   written `\\.`, so it cannot be confused with it);
//! - the program answers one line per value, in order, in the same form
//!   (`\N` writes NULL), then `\.`;
//! - `ANONYMIZE_COMMAND_KEY` in its environment is a key derived for this
//!   rule: HMAC-SHA256 of the master secret and the rule's namespace (its
//!   `namespace:`, else the command line), in hex. The master secret, the
//!   database URLs and `PGPASSWORD` are removed from its environment.
//!   Determinism is the program's contract: the same value and key must
//!   give the same output;
//! - its stderr is discarded (it could quote values); log to a file.
//!
//! The batch end marker makes a wrong line count an error at the batch
//! that has it. A program that exits, answers with the wrong number of
//! lines, or takes longer than `timeout` for a batch ends the run (exit 1,
//! the target as it was) with a message naming the rule and the command,
//! never a value.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::Key;

/// How long one batch may take by default.
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// Variables the program never sees: the master secret and what holds
/// passwords.
const HIDDEN_ENV: &[&str] = &[
    "ANONYMIZE_SECRET",
    "SOURCE_DATABASE_URL",
    "TARGET_DATABASE_URL",
    "PGPASSWORD",
];

/// `command:` as written: `command: "prog arg"` (split on white space, no
/// shell) or `command: { run: [prog, arg], timeout: 30 }`.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl CommandSpec {
    /// The command line, for messages and plans (never a value).
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    pub fn describe(&self) -> String {
        format!("command({})", self.command_line())
    }

    /// Refuses a program that cannot be started, at plan time: a path
    /// (anything with a `/`) must be an executable file, relative to the
    /// current directory; a bare name must be one on `PATH`.
    pub fn check_executable(&self) -> Result<PathBuf, String> {
        let program = &self.argv[0];
        let found = if program.contains('/') {
            Some(PathBuf::from(program)).filter(|p| is_executable(p))
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(program))
                    .find(|p| is_executable(p))
            })
        };
        found.ok_or_else(|| {
            format!(
                "command `{}`: `{program}` is not an executable file{}",
                self.command_line(),
                if program.contains('/') {
                    " (paths are relative to the directory anonymize runs in)"
                } else {
                    " on PATH"
                }
            )
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SpecVisitor)
    }
}

struct SpecVisitor;

const EMPTY: &str = "`command` takes a program and its arguments, e.g. `command: \"python3 scripts/iban.py\"` or `command: { run: [python3, scripts/iban.py], timeout: 30 }`";

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = CommandSpec;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(EMPTY)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandSpec, E> {
        let argv: Vec<String> = v.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err(E::custom(EMPTY));
        }
        Ok(CommandSpec {
            argv,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CommandSpec, A::Error> {
        let mut argv: Option<Vec<String>> = None;
        let mut timeout = DEFAULT_TIMEOUT_SECS;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "run" => argv = Some(map.next_value()?),
                "timeout" => timeout = map.next_value()?,
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown option `{other}` of `command`; it takes `run` (the program and its arguments) and `timeout` (seconds per batch)"
                    )))
                }
            }
        }
        let argv = argv.unwrap_or_default();
        if argv.is_empty() || argv[0].trim().is_empty() {
            return Err(de::Error::custom(EMPTY));
        }
        if timeout == 0 {
            return Err(de::Error::custom(
                "`timeout` of `command` is in seconds and must be at least 1",
            ));
        }
        Ok(CommandSpec {
            argv,
            timeout: Duration::from_secs(timeout),
        })
    }
}

/// A command ready to run for one column: the pool of its processes.
pub struct Runner {
    spec: CommandSpec,
    /// `table.column`, for messages.
    column: String,
    /// The derived per-rule key, in hex.
    key_hex: String,
    idle: Mutex<Vec<Process>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runner({})", self.spec.command_line())
    }
}

/// One running program: its stdin fed by a writer thread, its stdout read
/// line by line by a reader thread, so neither side can block the other
/// and a batch can time out.
struct Process {
    child: Child,
    input: Option<Sender<Vec<u8>>>,
    lines: Receiver<std::io::Result<Vec<u8>>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Closing stdin tells a well-behaved program to end; the run is
        // over for it either way.
        self.input.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key a command's rule gets: never the master secret, and a different
/// one per rule, so a program learns nothing about other rules' values.
pub fn derived_key(key: &Key, namespace: &str) -> String {
    key.digest(b"anonymize command key", namespace.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Runner {
    /// `namespace`: the rule's `namespace:`, else the command line.
    pub fn new(spec: CommandSpec, column: String, key: &Key, namespace: Option<&str>) -> Runner {
        let ns = namespace
            .map(str::to_string)
            .unwrap_or_else(|| spec.command_line());
        Runner {
            key_hex: derived_key(key, &ns),
            spec,
            column,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn what(&self) -> String {
        format!(
            "the command `{}` of the rule for {}",
            self.spec.command_line(),
            self.column
        )
    }

    fn start(&self) -> Result<Process, String> {
        let mut cmd = Command::new(&self.spec.argv[0]);
        cmd.args(&self.spec.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("ANONYMIZE_COMMAND_KEY", &self.key_hex);
        for name in HIDDEN_ENV {
            cmd.env_remove(name);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{} could not be started: {e}", self.what()))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            for chunk in in_rx {
                if stdin.write_all(&chunk).and_then(|_| stdin.flush()).is_err() {
                    break;
                }
            }
        });
        let (out_tx, out_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        if out_tx.send(Ok(line)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = out_tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        Ok(Process {
            child,
            input: Some(in_tx),
            lines: out_rx,
        })
    }

    /// Sends `values` (COPY text fields, never NULL) through one process
    /// and returns its answer lines, in order (COPY text; `\N` is NULL).
    pub fn run_batch(&self, values: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut process = match idle {
            Some(p) => p,
            None => self.start()?,
        };
        let answer = self.exchange(&mut process, values);
        // A process that failed a batch is not reused (dropped: killed).
        if answer.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(process);
        }
        answer
    }

    fn exchange(&self, p: &mut Process, values: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        let mut batch = Vec::with_capacity(values.iter().map(|v| v.len() + 1).sum::<usize>() + 3);
        for v in values {
            batch.extend_from_slice(v);
            batch.push(b'\n');
        }
        batch.extend_from_slice(b"\\.\n");
        let n = values.len();
        let ended = |p: &mut Process| {
            let status = p
                .child
                .try_wait()
                .ok()
                .flatten()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!(
                "{} ended before answering a batch of {n} values{status}",
                self.what()
            )
        };
        let sent = p.input.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            return Err(ended(p));
        }
        let deadline = Instant::now() + self.spec.timeout;
        let mut out = Vec::with_capacity(n);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match p.lines.recv_timeout(left) {
                Ok(Ok(line)) if line == b"\\." => break,
                Ok(Ok(line)) => out.push(line),
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                    // Give the exit status a moment to be known.
                    let _ = p.child.wait();
                    return Err(ended(p));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{} did not answer a batch of {n} values within {} s (its `timeout:`)",
                        self.what(),
                        self.spec.timeout.as_secs()
                    ))
                }
            }
        }
        if out.len() != n {
            return Err(format!(
                "{} answered {} lines for a batch of {n} values; it must write one line per value, in order, then `\\.`",
                self.what(),
                out.len()
            ));
        }
        Ok(out)
    }
}
