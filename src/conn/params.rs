//! libpq connection strings read into `(keyword, value)` pairs: both the
//! `postgresql://` URL form and the `key=value` form, as `psql` reads them.
//!
//! We parse them ourselves instead of through `tokio_postgres::Config`
//! because that parser rejects what libpq accepts (`sslmode=verify-full`,
//! `sslrootcert`, `passfile`, ...). Errors never quote the input: it may
//! hold a password.

/// Parses a connection string into pairs, in the order written (a later
/// pair wins over an earlier one with the same keyword).
pub fn parse(s: &str) -> Result<Vec<(String, String)>, String> {
    let s = s.trim();
    if let Some(rest) = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
    {
        parse_url(rest)
    } else if s.contains('=') {
        parse_key_values(s)
    } else {
        Err("it is neither a postgresql:// URL nor a list of key=value pairs".into())
    }
}

/// `[user[:password]@][host[:port][,...]][/dbname][?param=value&...]`
fn parse_url(rest: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    // A password may hold '@' unencoded; the host list may not.
    let (userinfo, after_user) = match before_query.rfind('@') {
        Some(i) => (Some(&before_query[..i]), &before_query[i + 1..]),
        None => (None, before_query),
    };
    let (netloc, path) = match after_user.split_once('/') {
        Some((n, p)) => (n, Some(p)),
        None => (after_user, None),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            out.push(("user".into(), decode(user, "the user name")?));
        }
        if let Some(p) = password {
            out.push(("password".into(), decode(p, "the password")?));
        }
    }
    if !netloc.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for item in netloc.split(',') {
            let (host, port) = if let Some(v6) = item.strip_prefix('[') {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or("an IPv6 address in the host list lacks its closing ']'")?;
                (h, after.strip_prefix(':'))
            } else {
                match item.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (item, None),
                }
            };
            hosts.push(decode(host, "a host name")?);
            ports.push(port.unwrap_or("").to_string());
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            out.push(("host".into(), hosts.join(",")));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            out.push(("port".into(), ports.join(",")));
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        out.push(("dbname".into(), decode(path, "the database name")?));
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or("a URL parameter has no '=' (expected ?name=value&...)")?;
        let k = decode(k, "a parameter name")?;
        let v = decode(v, "a parameter value")?;
        // JDBC's spelling, which libpq accepts in URLs too.
        if k == "ssl" && v == "true" {
            out.push(("sslmode".into(), "require".into()));
        } else {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// The known name closest to an unknown one (a typo), if any is close:
/// for "did you mean", without echoing what was typed, which may be a
/// piece of a password.
pub fn closest<'a>(typed: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    crate::did_you_mean::closest(typed, known)
}

/// `%XX` decoding; `what` names the part in the error.
fn decode(s: &str, what: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{what} has a bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{what} is not UTF-8 once %-decoded"))
}

/// `key = value key2 = 'quoted value'`, with `\` escaping inside values.
fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // Not the word itself: it may be a piece of a badly quoted
            // password.
            return Err(format!(
                "item {} is not a key=value pair (quote values with spaces as key='a b')",
                out.len() + 1
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed".into()),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn url_with_everything() {
        assert_eq!(
            parse("postgresql://app:p%40ss@db1:5433,[::1]:5434/prod?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem").unwrap(),
            pairs(&[
                ("user", "app"),
                ("password", "p@ss"),
                ("host", "db1,::1"),
                ("port", "5433,5434"),
                ("dbname", "prod"),
                ("sslmode", "verify-full"),
                ("sslrootcert", "/etc/ca.pem"),
            ])
        );
    }

    #[test]
    fn url_with_a_socket_directory_and_no_port() {
        assert_eq!(
            parse("postgres://%2Fvar%2Frun%2Fpostgresql/db").unwrap(),
            pairs(&[("host", "/var/run/postgresql"), ("dbname", "db")])
        );
    }

    #[test]
    fn key_values_with_quotes_and_escapes() {
        let e = parse("host=db port = 5432 password='it''s' user=a\\ b").unwrap_err();
        assert!(e.starts_with("item 4 is not a key=value pair"), "{e}");
        assert_eq!(
            parse("host=db port = 5432 password='it\\'s a secret' user=a\\ b").unwrap(),
            pairs(&[
                ("host", "db"),
                ("port", "5432"),
                ("password", "it's a secret"),
                ("user", "a b"),
            ])
        );
    }

    #[test]
    fn errors_do_not_quote_the_password() {
        let e = parse("postgresql://u:s3cr%Zt@h/d").unwrap_err();
        assert!(!e.contains("s3cr"), "{e}");
        let e = parse("password='s3cret").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
