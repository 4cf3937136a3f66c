//! Records the git commit the binary is built from, for `--version`.
//! Outside a git checkout (a crate tarball) it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ANONYMIZE_GIT_COMMIT={commit}");
    // Rebuilt when HEAD moves (a commit, a checkout), not on every build.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for path in std::iter::once("HEAD").chain(branch.as_deref()) {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
