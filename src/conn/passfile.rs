//! The libpq password file (`PGPASSFILE`, `passfile=`, or `~/.pgpass`):
//! lines of `hostname:port:database:username:password`, where `*` matches
//! anything and `\` escapes `:` and `\`. The first matching line wins.

use std::path::{Path, PathBuf};

/// The password file to read: `passfile` (from the URL or `PGPASSFILE`),
/// else `~/.pgpass`.
pub fn location(given: Option<&str>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")),
    }
}

/// The password for this host, port, database and user, if the file has
/// one. A missing file is no error; a file others can read is ignored with
/// a warning, as libpq does, so a leaked mode does not silently keep
/// working.
pub fn lookup(path: &Path, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            // Once per run, not once per connection.
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    passfile = %path.display(),
                    "the password file is readable by group or others and is ignored; run chmod 0600 on it"
                )
            });
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    find(&text, host, port, db, user)
}

/// The first line of `text` matching the connection.
fn find(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    // A Unix socket matches `localhost` entries, as in libpq.
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            // The password is the rest of the line, colons included.
            return Some(fields[4..].join(":"));
        }
    }
    None
}

/// Splits at unescaped `:` and removes the escapes.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("one").extend(chars.next()),
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# comment\n\
        db.internal:5432:prod:app:first\n\
        *:*:*:app:fall\\:back\n\
        localhost:5433:*:*:sock\n";

    #[test]
    fn first_match_wins_with_wildcards_and_escapes() {
        assert_eq!(
            find(FILE, "db.internal", 5432, "prod", "app").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(FILE, "other", 1, "x", "app").as_deref(),
            Some("fall:back")
        );
        assert_eq!(find(FILE, "other", 1, "x", "bob"), None);
    }

    #[test]
    fn a_socket_directory_matches_localhost() {
        assert_eq!(
            find(FILE, "/var/run/postgresql", 5433, "x", "bob").as_deref(),
            Some("sock")
        );
    }
}
