//! Runs stopped at a failpoint (`src/failpoint.rs`): the test acts on the
//! run at a known moment, then resumes it, with no race against its speed.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// A failpoint armed for one spawned run.
pub struct Failpoint {
    dir: tempfile::TempDir,
    name: String,
}

impl Failpoint {
    pub fn new(name: &str) -> Failpoint {
        Failpoint {
            dir: tempfile::tempdir().unwrap(),
            name: name.to_string(),
        }
    }

    /// The environment that arms it, for `spawn`/`anonymize`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ANONYMIZE_FAILPOINT", self.name.clone()),
            (
                "ANONYMIZE_FAILPOINT_DIR",
                self.dir.path().to_string_lossy().into_owned(),
            ),
        ]
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    /// Waits until the run is paused at the point. Panics if it ends first,
    /// which means it never reached the point.
    pub fn wait_reached(&self, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !self.file().exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the run ended ({status}) without reaching failpoint {}",
                    self.name
                );
            }
            assert!(
                Instant::now() < deadline,
                "the run never reached failpoint {}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the paused run go on.
    pub fn resume(&self) {
        std::fs::remove_file(self.file()).unwrap();
    }
}

/// `env` as the `&[(&str, &str)]` that `spawn` takes.
pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
