//! The `demo` command: the whole pipeline on an embedded sample database.
//! (Filled in below once the sample lands.)

use anyhow::Result;

use crate::cli::DemoArgs;

/// Runs the demo.
pub async fn run(_args: &DemoArgs) -> Result<()> {
    anyhow::bail!("demo is not wired yet")
}
