//! Connection service files (`pg_service.conf`), as libpq reads them: a
//! `[name]` section per service holding `key=value` connection
//! parameters. The user's file (`PGSERVICEFILE`, else
//! `~/.pg_service.conf`) is searched first, then the system's
//! (`$PGSYSCONFDIR/pg_service.conf`, else Debian's
//! `/etc/postgresql-common/pg_service.conf`).

use std::path::PathBuf;

/// Where libpq looks for the system-wide file when `PGSYSCONFDIR` is unset
/// (Debian and Ubuntu packages).
const SYSCONFDIR: &str = "/etc/postgresql-common";

/// One parameter of a service: its key, value, and where it was written
/// (`file:line`) for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub at: String,
}

/// The files searched, in order.
fn files(env: &impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let user = match env("PGSERVICEFILE") {
        Some(f) => Some(PathBuf::from(f)),
        None => env("HOME").map(|h| PathBuf::from(h).join(".pg_service.conf")),
    };
    let system = PathBuf::from(env("PGSYSCONFDIR").unwrap_or_else(|| SYSCONFDIR.into()))
        .join("pg_service.conf");
    user.into_iter().chain([system]).collect()
}

/// The parameters of service `name`, from the first file that defines it.
/// Errors name the files searched and what to do.
pub fn lookup(name: &str, env: &impl Fn(&str) -> Option<String>) -> Result<Vec<Entry>, String> {
    let files = files(env);
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Some(entries) = section(&text, name, &file.display().to_string())? {
            return Ok(entries);
        }
    }
    let searched: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Err(format!(
        "service \"{name}\" is not defined in {}; add a [{name}] section there, or set \
         PGSERVICEFILE to the file that has it",
        searched.join(" or ")
    ))
}

/// The `key=value` lines of section `[name]` of one file, or `None` when
/// the file has no such section.
fn section(text: &str, name: &str, file: &str) -> Result<Option<Vec<Entry>>, String> {
    let mut found: Option<Vec<Entry>> = None;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            let group = group
                .strip_suffix(']')
                .ok_or_else(|| format!("{file}:{}: a section name lacks its closing ']'", i + 1))?;
            inside = group == name;
            if inside && found.is_none() {
                found = Some(Vec::new());
            }
            continue;
        }
        if !inside {
            continue;
        }
        // The line may hold a password: the error never quotes it.
        let (key, value) = line.split_once('=').ok_or_else(|| {
            format!(
                "{file}:{}: not a key=value line (in service \"{name}\")",
                i + 1
            )
        })?;
        let key = key.trim();
        if key == "service" {
            return Err(format!(
                "{file}:{}: a service cannot name another service (libpq does not nest them)",
                i + 1
            ));
        }
        if let Some(entries) = found.as_mut() {
            entries.push(Entry {
                key: key.to_string(),
                value: value.trim().to_string(),
                at: format!("{file}:{}", i + 1),
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_of_the_service_is_read_and_others_are_not() {
        let text =
            "# comment\n[other]\nhost=x\n\n[prod]\nhost = db.internal\nport=6543\ndbname=app\n";
        let entries = section(text, "prod", "f").unwrap().unwrap();
        let pairs: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("host", "db.internal"), ("port", "6543"), ("dbname", "app")]
        );
        assert_eq!(entries[1].at, "f:7");
        assert_eq!(section(text, "absent", "f").unwrap(), None);
    }

    #[test]
    fn the_user_file_comes_before_the_system_one() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.conf");
        std::fs::write(&user, "[a]\nhost=user\n").unwrap();
        std::fs::write(
            dir.path().join("pg_service.conf"),
            "[a]\nhost=system\n[b]\nhost=sys-b\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "PGSERVICEFILE" => Some(user.display().to_string()),
            "PGSYSCONFDIR" => Some(dir.path().display().to_string()),
            _ => None,
        };
        assert_eq!(lookup("a", &env).unwrap()[0].value, "user");
        assert_eq!(lookup("b", &env).unwrap()[0].value, "sys-b");
        let e = lookup("c", &env).unwrap_err();
        assert!(e.contains("service \"c\" is not defined in"), "{e}");
    }
}
