//! One run, many workers (`sync --workers external` and `anonymize
//! worker`), on PostgreSQL's own guarantees rather than a scheduler of our
//! own:
//!
//! - **one snapshot**: the coordinator exports it and holds its
//!   transaction for the run; every worker imports it, so all of them read
//!   the source as of one instant, as the copy workers of one process do;
//! - **exactly once**: a worker claims a unit (a table, or a range of its
//!   pages) with `FOR UPDATE SKIP LOCKED` and copies its rows in the same
//!   target transaction that marks it done. A worker that dies rolls back
//!   its rows and its claim together, and another worker takes the unit.
//!
//! `control` holds the control tables in `<target>__next`, `coordinator`
//! writes the units and waits for them (post-data, row counts and the swap
//! stay `sync`'s), `worker` is the loop `anonymize worker` runs.

pub mod control;
pub mod coordinator;
pub mod worker;

use sha2::{Digest, Sha256};

use crate::plan::TablePlan;
use crate::transform::Key;

/// A fingerprint of the secret that the control table may hold: a keyed
/// digest of a fixed label, which tells two secrets apart and reveals
/// nothing of either. `none` when the run needs no secret.
pub fn secret_fingerprint(secret: Option<&[u8]>) -> String {
    match secret {
        None => "none".into(),
        Some(s) => {
            let d = Key::new(s).digest(b"anonymize worker fingerprint", b"");
            d[..16].iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// What a unit's copy runs: its COPY-out query and the COPY-in statement.
/// A worker whose plan gives another digest for a unit would write other
/// rows (another subset, selection or schema), so it takes none.
pub fn plan_digest(plan: &TablePlan, pages: Option<(u32, Option<u32>)>) -> String {
    let query = crate::source::copy_query(
        plan,
        crate::source::Read {
            pages,
            ..Default::default()
        },
    );
    let mut h = Sha256::new();
    h.update(query.as_bytes());
    h.update(b"\n");
    h.update(plan.target_statement().as_bytes());
    crate::hex::lower(&h.finalize())
}

/// `-t/-T/-n/-N/--exclude-table-data` as typed, for the control table: the
/// workers apply the coordinator's selection, not one of their own.
pub fn selection_text(s: &crate::selection::Selection) -> String {
    let list = |v: &[crate::selection::Pattern]| -> Vec<String> {
        v.iter().map(|p| p.written().to_string()).collect()
    };
    serde_json::json!([
        list(&s.tables),
        list(&s.exclude_tables),
        list(&s.schemas),
        list(&s.exclude_schemas),
        list(&s.exclude_data),
    ])
    .to_string()
}

/// The selection `selection_text` wrote.
pub fn selection_from_text(text: &str) -> anyhow::Result<crate::selection::Selection> {
    let lists: [Vec<String>; 5] = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("the run's table selection is unreadable: {e}"))?;
    crate::selection::Selection::parse(&lists[0], &lists[1], &lists[2], &lists[3], &lists[4])
}

/// CPU seconds this process has used (all threads: the rayon pool too).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_tells_secrets_apart_and_holds_neither() {
        let a = secret_fingerprint(Some(b"first secret, long enough to pass"));
        let b = secret_fingerprint(Some(b"second secret, long enough to pass"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            secret_fingerprint(Some(b"first secret, long enough to pass"))
        );
        assert_eq!(a.len(), 32);
        assert!(!a.contains("first"));
        assert_eq!(secret_fingerprint(None), "none");
    }

    #[test]
    fn a_selection_survives_the_control_table() {
        let s = crate::selection::Selection::parse(
            &["public.a*".into()],
            &["\"Odd Name\"".into()],
            &[],
            &["audit".into()],
            &["public.logs".into()],
        )
        .unwrap();
        let text = selection_text(&s);
        assert_eq!(selection_text(&selection_from_text(&text).unwrap()), text);
    }
}
