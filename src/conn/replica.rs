//! Hot standbys as the source: what we read about one, and what we tell
//! the user when its recovery cancels our read.
//!
//! A standby replays the primary's changes; when a change removes row
//! versions our snapshot still needs (VACUUM on the primary), the standby
//! either waits up to `max_standby_streaming_delay` or cancels our query.
//! `hot_standby_feedback = on` makes the primary keep those rows instead.

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::PgResultExt;

/// A source that is a hot standby.
#[derive(Debug, Clone)]
pub struct Standby {
    pub hot_standby_feedback: bool,
    pub max_standby_streaming_delay: String,
    /// `pg_last_xact_replay_timestamp()` in RFC 3339 UTC: how fresh the
    /// snapshot is. `None` before the first replayed transaction.
    pub last_replay: Option<String>,
}

/// Reads whether the server is a standby, and if so its settings.
pub async fn standby(client: &Client) -> Result<Option<Standby>> {
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), \
                    current_setting('hot_standby_feedback') = 'on', \
                    current_setting('max_standby_streaming_delay'), \
                    to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', \
                            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            &[],
        )
        .await
        .pg_context(|| "reading whether the source is a standby".into())?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    Ok(Some(Standby {
        hot_standby_feedback: row.get(1),
        max_standby_streaming_delay: row.get(2),
        last_replay: row.get(3),
    }))
}

impl Standby {
    /// The advance warning for `check` and the start of a sync, when a long
    /// read could be cancelled.
    pub fn warning(&self) -> Option<String> {
        if self.hot_standby_feedback || self.max_standby_streaming_delay == "-1" {
            return None;
        }
        Some(format!(
            "the source is a hot standby with hot_standby_feedback = off and \
             max_standby_streaming_delay = {}: a VACUUM on the primary can cancel a long copy \
             (\"conflict with recovery\"); set hot_standby_feedback = on on the standby",
            self.max_standby_streaming_delay
        ))
    }
}
