//! What is taken out of a pg_dump script before it runs: psql
//! meta-commands, objects that would give the target a live path to
//! another server, the ownership and grants of roles the target lacks,
//! and the version lines an export leaves out.

use anyhow::{anyhow, Result};

use crate::sql::{quote_ident, split_ident};

/// pg_dump entry types that would give the target a live path to another
/// server: they are never created there.
const REMOTE_TYPES: &[&str] = &[
    "SERVER",
    "USER MAPPING",
    "FOREIGN TABLE",
    "FOREIGN DATA WRAPPER",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "SUBSCRIPTION",
    "SUBSCRIPTION TABLE",
];

/// Extensions whose only use is reaching another server: `CREATE
/// EXTENSION dblink` in staging is a live path waiting for a connection
/// string.
const REMOTE_EXTENSIONS: &[&str] = &["dblink", "postgres_fdw"];

/// One `-- Name: …; Type: …; Schema: …` header of a pg_dump script.
struct Header<'a> {
    name: &'a str,
    kind: &'a str,
    schema: &'a str,
}

impl<'a> Header<'a> {
    fn parse(line: &'a str) -> Option<Header<'a>> {
        let rest = line.trim_end().strip_prefix("-- Name: ")?;
        let mut h = Header {
            name: "",
            kind: "",
            schema: "-",
        };
        for part in rest.split("; ") {
            if let Some(t) = part.strip_prefix("Type: ") {
                h.kind = t;
            } else if let Some(s) = part.strip_prefix("Schema: ") {
                h.schema = s;
            } else if h.name.is_empty() {
                h.name = part;
            }
        }
        Some(h)
    }

    /// The object itself is a remote one: `(kind, schema, name)` as the
    /// entries that refer to it will name it.
    fn remote_object(&self) -> Option<(String, String, String)> {
        let is_remote = REMOTE_TYPES.contains(&self.kind)
            || (self.kind == "EXTENSION" && REMOTE_EXTENSIONS.contains(&self.name));
        is_remote.then(|| {
            (
                self.kind.to_string(),
                self.schema.to_string(),
                self.name.into(),
            )
        })
    }

    /// How the warning names a removed object.
    fn shown(&self) -> String {
        match self.schema {
            _ if self.name.starts_with(self.kind) => self.name.to_string(),
            "-" | "" => format!("{} {}", self.kind, self.name),
            s => format!("{} {s}.{}", self.kind, self.name),
        }
    }
}

/// Whether an entry (an ACL, a COMMENT, a SECURITY LABEL, a constraint)
/// belongs to one of the `remote` objects. pg_dump names what such an
/// entry is attached to in its tag, with labels of its own: `SERVER x`
/// and `FOREIGN SERVER x` (ACL), `TABLE t` (the ACL of a foreign table),
/// `COLUMN t.c` (a comment), `EXTENSION dblink`; a constraint's tag is
/// `t name`.
fn refers_to_remote(h: &Header, remote: &[(String, String, String)]) -> bool {
    let is = |kinds: &[&str], schema: &str, name: &str| {
        remote.iter().any(|(k, s, n)| {
            kinds.contains(&k.as_str())
                && (s == schema || s == "-")
                && (n == name || quote_ident(n) == name)
        })
    };
    let (label, object) = match h.name.split_once(' ') {
        Some(split) => split,
        None => return false,
    };
    // Labels of two words first (`FOREIGN SERVER x`, `FOREIGN TABLE x`,
    // `USER MAPPING …`, `FOREIGN DATA WRAPPER x`).
    for (prefix, kinds) in [
        ("FOREIGN SERVER ", &["SERVER"][..]),
        ("FOREIGN TABLE ", &["FOREIGN TABLE"][..]),
        ("FOREIGN DATA WRAPPER ", &["FOREIGN DATA WRAPPER"][..]),
        ("USER MAPPING ", &["USER MAPPING"][..]),
        ("PUBLICATION ", &["PUBLICATION"][..]),
        ("SUBSCRIPTION ", &["SUBSCRIPTION"][..]),
    ] {
        if let Some(name) = h.name.strip_prefix(prefix) {
            return kinds.contains(&"USER MAPPING") || is(kinds, h.schema, name);
        }
    }
    match label {
        "SERVER" => is(&["SERVER"], h.schema, object),
        "EXTENSION" => is(&["EXTENSION"], h.schema, object),
        "TABLE" => is(&["FOREIGN TABLE"], h.schema, object),
        "COLUMN" => {
            // `t.c` or `"t".c`: a bare name ends at the dot.
            let table = split_ident(object).map(|(t, _)| t).unwrap_or_default();
            is(&["FOREIGN TABLE"], h.schema, &table)
        }
        // `t name`: a constraint, default or trigger of table t.
        _ if matches!(
            h.kind,
            "CONSTRAINT" | "CHECK CONSTRAINT" | "DEFAULT" | "TRIGGER"
        ) =>
        {
            let table = split_ident(h.name).map(|(t, _)| t).unwrap_or_default();
            is(&["FOREIGN TABLE"], h.schema, &table)
        }
        _ => false,
    }
}

/// Removes the remote objects (`REMOTE_TYPES`, `REMOTE_EXTENSIONS`) from a
/// pg_dump script, with every entry that refers to one (its ACL, comments,
/// security labels, constraints), and returns the script and what was
/// removed (`SERVER prod_link`, `FOREIGN TABLE public.remote_users`, ...).
/// Entries are matched by the object they refer to, not by the text of
/// their label: an ACL of a foreign table is labelled `TABLE t`.
/// (`--no-publications` and `--no-subscriptions` already keep those two
/// out; stripping them here too guards an older or wrapped pg_dump.)
pub fn strip_remote_objects(script: &str) -> (String, Vec<String>) {
    let remote: Vec<(String, String, String)> = script
        .lines()
        .filter_map(Header::parse)
        .filter_map(|h| h.remote_object())
        .collect();
    let mut out = String::with_capacity(script.len());
    let mut removed = Vec::new();
    let mut skipping = false;
    for line in script.split_inclusive('\n') {
        if let Some(h) = Header::parse(line) {
            let own = h.remote_object().is_some();
            skipping = own || refers_to_remote(&h, &remote);
            if own {
                removed.push(h.shown());
            }
            if skipping {
                // The header's own `--` lines stay: they are comments.
                continue;
            }
        }
        if !skipping {
            out.push_str(line);
        }
    }
    (out, removed)
}

/// Removes the `\restrict` / `\unrestrict` psql meta-commands that pg_dump
/// 15.14+ writes. Any other meta-command is an error rather than something
/// silently skipped (a skipped line once cost another tool a foreign key).
pub fn strip_meta_commands(text: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('\\') {
            let cmd = rest.split_whitespace().next().unwrap_or("");
            if cmd == "restrict" || cmd == "unrestrict" {
                continue;
            }
            return Err(anyhow!(
                "pg_dump output holds the psql meta-command \\{cmd}, which anonymize cannot run"
            ));
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// A role as the target server knows it.
#[derive(Debug, Clone)]
pub struct TargetRole {
    pub name: String,
    /// Whether the loading role may give objects to it (superuser, or a
    /// member of it): `ALTER … OWNER TO` needs that.
    pub may_own: bool,
}

/// Keeps the ownership and privilege statements of a pg_dump script whose
/// roles exist in the target (and, for ownership, that the loading role may
/// give objects to); drops the others. Returns the script and the sorted
/// names of the roles whose statements were dropped, for one warning.
///
/// pg_dump writes each such statement on one line: `ALTER … OWNER TO r;`,
/// `GRANT … TO r[, …] [WITH GRANT OPTION];`, `REVOKE … FROM r[, …];` and
/// `ALTER DEFAULT PRIVILEGES FOR ROLE r … GRANT|REVOKE …`.
pub fn keep_known_roles(script: &str, roles: &[TargetRole]) -> (String, Vec<String>) {
    let known = |name: &str, owning: bool| {
        name == "PUBLIC"
            || roles
                .iter()
                .any(|r| r.name == name && (!owning || r.may_own))
    };
    let mut missing = std::collections::BTreeSet::new();
    let mut out = String::with_capacity(script.len());
    // GRANT/REVOKE lines are read only inside pg_dump's ACL entries, so a
    // function body that happens to hold one is never touched.
    let mut in_acl = false;
    for line in script.lines() {
        if let Some(header) = line.strip_prefix("-- Name: ") {
            in_acl = header.contains("; Type: ACL;") || header.contains("; Type: DEFAULT ACL;");
        }
        let named = if in_acl || line.contains(" OWNER TO ") {
            roles_named_by(line)
        } else {
            Vec::new()
        };
        let unknown: Vec<&(String, bool)> = named
            .iter()
            .filter(|(n, owning)| !known(n, *owning))
            .collect();
        if unknown.is_empty() {
            out.push_str(line);
            out.push('\n');
        } else {
            missing.extend(unknown.into_iter().map(|(n, _)| n.clone()));
        }
    }
    (out, missing.into_iter().collect())
}

/// The roles an ownership or privilege line of pg_dump names, each with
/// whether it is to own something; empty for any other line.
fn roles_named_by(line: &str) -> Vec<(String, bool)> {
    let Some(body) = line.strip_suffix(';') else {
        return Vec::new();
    };
    if line.starts_with("ALTER ") && !line.starts_with("ALTER DEFAULT PRIVILEGES") {
        return match body.rsplit_once(" OWNER TO ") {
            Some((_, role)) => vec![(unquote(role), true)],
            None => Vec::new(),
        };
    }
    let mut out = Vec::new();
    let mut rest = body;
    if let Some(r) = rest.strip_prefix("ALTER DEFAULT PRIVILEGES FOR ROLE ") {
        let Some((role, after)) = split_ident(r) else {
            return out;
        };
        out.push((role, false));
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix("IN SCHEMA ") {
            rest = split_ident(r).map_or("", |(_, after)| after).trim_start();
        }
    }
    let grantees = if rest.starts_with("GRANT ") {
        rest.rsplit_once(" TO ").map(|(_, g)| g)
    } else if rest.starts_with("REVOKE ") {
        rest.rsplit_once(" FROM ").map(|(_, g)| g)
    } else {
        None
    };
    let Some(grantees) = grantees else {
        return out;
    };
    let grantees = grantees.trim_end_matches(" WITH GRANT OPTION");
    let (grantees, grantor) = match grantees.split_once(" GRANTED BY ") {
        Some((g, by)) => (g, Some(by)),
        None => (grantees, None),
    };
    let mut list = grantees;
    while let Some((role, after)) = split_ident(list) {
        out.push((role, false));
        list = after.trim_start().trim_start_matches(',').trim_start();
    }
    if let Some(by) = grantor {
        out.push((unquote(by), false));
    }
    out
}

/// The one identifier `s` holds, unquoted.
fn unquote(s: &str) -> String {
    split_ident(s.trim())
        .map(|(name, _)| name)
        .unwrap_or_default()
}

/// pg_dump's script without the lines that name its version and the
/// server's: they change with an upgrade, not with the data (an export's
/// `schema.sql` and sql file stay byte-identical across minor versions).
pub fn without_version_lines(script: &str) -> String {
    script
        .lines()
        .filter(|l| {
            !l.starts_with("-- Dumped from database version")
                && !l.starts_with("-- Dumped by pg_dump version")
        })
        .fold(String::with_capacity(script.len()), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_and_grants_of_missing_roles_are_dropped() {
        let roles = vec![
            TargetRole {
                name: "postgres".into(),
                may_own: true,
            },
            TargetRole {
                name: "web user".into(),
                may_own: true,
            },
            TargetRole {
                name: "reader".into(),
                may_own: false,
            },
        ];
        let script = "\
ALTER TABLE public.t OWNER TO postgres;
ALTER TABLE public.u OWNER TO alice;
ALTER TABLE public.w OWNER TO reader;
-- Name: TABLE t; Type: ACL; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO \"web user\";
GRANT SELECT ON TABLE public.t TO reader, ghost WITH GRANT OPTION;
REVOKE ALL ON TABLE public.t FROM PUBLIC;
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: postgres
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO reader;
ALTER DEFAULT PRIVILEGES FOR ROLE boss IN SCHEMA public GRANT SELECT ON TABLES TO reader;
-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO nobody;
";
        let (kept, missing) = keep_known_roles(script, &roles);
        assert_eq!(missing, ["alice", "boss", "ghost", "reader"]);
        assert_eq!(
            kept,
            "\
ALTER TABLE public.t OWNER TO postgres;
-- Name: TABLE t; Type: ACL; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO \"web user\";
REVOKE ALL ON TABLE public.t FROM PUBLIC;
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: postgres
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO reader;
-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO nobody;
"
        );
    }

    #[test]
    fn restrict_lines_are_stripped_and_others_refused() {
        let s =
            strip_meta_commands("\\restrict abc\nCREATE TABLE t();\n\\unrestrict abc\n").unwrap();
        assert_eq!(s, "CREATE TABLE t();\n");
        assert!(strip_meta_commands("\\connect other\n").is_err());
    }

    #[test]
    fn remote_objects_are_stripped_and_named() {
        let script = "SET x = 1;\n\n--\n-- Name: prod; Type: SERVER; Schema: -; Owner: -\n--\n\nCREATE SERVER prod FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.prod');\n\n--\n-- Name: SERVER prod; Type: COMMENT; Schema: -; Owner: -\n--\n\nCOMMENT ON SERVER prod IS 'x';\n\n--\n-- Name: USER MAPPING app SERVER prod; Type: USER MAPPING; Schema: -; Owner: -\n--\n\nCREATE USER MAPPING FOR app SERVER prod OPTIONS (password 'pw');\n\n--\n-- Name: remote_users; Type: FOREIGN TABLE; Schema: public; Owner: -\n--\n\nCREATE FOREIGN TABLE public.remote_users (id int) SERVER prod;\n\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.t (id int);\n";
        let (out, removed) = strip_remote_objects(script);
        assert_eq!(
            removed,
            [
                "SERVER prod",
                "USER MAPPING app SERVER prod",
                "FOREIGN TABLE public.remote_users"
            ]
        );
        assert!(out.contains("SET x = 1;") && out.contains("CREATE TABLE public.t"));
        for gone in [
            "CREATE SERVER",
            "COMMENT ON SERVER",
            "USER MAPPING FOR",
            "FOREIGN TABLE",
            "pw",
        ] {
            assert!(!out.contains(gone), "{gone}: {out}");
        }
    }

    #[test]
    fn version_lines_are_left_out_and_the_rest_kept() {
        let script = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.14\n-- Dumped by pg_dump version 15.14\n\nSET x = 1;";
        assert_eq!(
            without_version_lines(script),
            "--\n-- PostgreSQL database dump\n--\n\n\nSET x = 1;\n"
        );
    }
}
