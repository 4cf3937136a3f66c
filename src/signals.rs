//! SIGINT and SIGTERM: a signal ends a command through its cleanup path
//! (the load database dropped, the staging directory removed), never by
//! killing the process half way.

use anyhow::{Context, Result};

use crate::error::Interrupted;

/// SIGINT and SIGTERM, listened to for the whole run. Creating the
/// streams replaces the default action (die at once) for the process, so
/// they are made once, up front, and every step runs under `guard`.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Runs `fut`, turning SIGINT/SIGTERM into `Interrupted`. The future is
    /// dropped, which aborts every open COPY (a `CopyInSink` dropped without
    /// `finish` sends CopyFail) and closes its connections.
    pub async fn guard<T>(
        &mut self,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::select! {
            r = fut => r,
            _ = self.term.recv() => Err(Interrupted { signal: "SIGTERM", exit_code: 143 }.into()),
            _ = self.int.recv() => Err(Interrupted { signal: "SIGINT", exit_code: 130 }.into()),
        }
    }
}

/// Runs `fut` under SIGINT/SIGTERM handling, for commands other than
/// sync (the demo) that have one long step.
pub async fn with_signals<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    Signals::install()?.guard(fut).await
}
