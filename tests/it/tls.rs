//! Reaching a TLS-only server the way production asks for (issue 11):
//! `verify-full` against the right CA, the failures a user must be able to
//! act on (wrong CA, wrong host name, TLS refused, client certificates,
//! wrong password, unknown host, nothing listening), passwords from a
//! passfile, and the `PGSSL*` environment. The server admits only
//! `hostssl`, so every success here went over TLS.

use std::path::Path;

use crate::harness::clusters::local_clusters;
use crate::harness::tls::{TlsServer, APP_PASSWORD};
use crate::harness::{anonymize, rules_dir, Db, Pg, Run};

const RULES: &str = "version: 1\n\
tables:\n  public.people:\n    columns:\n      id: keep\n      email: { set: hidden@example.com }\n";

/// A source database on the TLS server with three people.
fn tls_source(test: &str) -> Db {
    let db = TlsServer::get().db(test);
    db.exec(
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL); \
         INSERT INTO people VALUES (1, 'ann@corp.example'), (2, 'bob@corp.example'), (3, 'cy@corp.example');",
    );
    db
}

/// `anonymize check` of `source` with `env`: the cheapest full connection
/// (snapshot, catalog) to judge a connection string by.
fn check(dir: &Path, source: &str, env: &[(&str, &str)]) -> Run {
    anonymize(
        dir,
        &["check", "--source", source, "--rules", "rules.yml"],
        env,
    )
}

/// Asserts the one-line error of a failed connection says `what` (all of
/// the pieces) and never shows the password.
fn assert_says(run: &Run, pieces: &[&str]) {
    // Shown with --nocapture: the messages as users read them.
    eprint!("{}", run.stderr);
    for p in pieces {
        assert!(
            run.stderr.contains(p),
            "stderr lacks {p:?}:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains(APP_PASSWORD) && !run.stdout.contains(APP_PASSWORD));
}

#[test]
fn verify_full_sync_with_the_password_from_a_passfile() {
    if !local_clusters("verify_full_sync_with_the_password_from_a_passfile") {
        return;
    }
    let tls = TlsServer::get();
    let source = tls_source("tls_full");
    let target = Pg::get().fresh_name("tls_full_target");
    let dir = rules_dir(RULES);
    // No password in the URL: it comes from the passfile, which must be
    // private, as libpq wants it.
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "# staging sync\nlocalhost:{}:*:app:{APP_PASSWORD}\n",
            tls.port
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let url = tls.url(
        "app",
        "localhost",
        &source.name,
        &format!("sslmode=verify-full&sslrootcert={}", tls.file("ca.crt")),
    );
    let run = anonymize(
        dir.path(),
        &[
            "sync",
            "--source",
            &url,
            "--target",
            &target.url,
            "--rules",
            "rules.yml",
            "--no-progress",
        ],
        &[("PGPASSFILE", passfile.to_str().unwrap())],
    )
    .expect(0);
    assert_says(&run, &[]);
    // Rows and schema (pg_dump connected with the same TLS settings and
    // password: the server admits nothing else).
    assert_eq!(
        target.column("SELECT id || ' ' || email FROM people ORDER BY id"),
        [
            "1 hidden@example.com",
            "2 hidden@example.com",
            "3 hidden@example.com"
        ]
    );
    assert_eq!(
        target.value(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'people'::regclass AND contype = 'p'"
        ),
        "1"
    );

    // A passfile that others can read is ignored, as libpq does, and the
    // error then says the password is missing and where it is looked for.
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = check(
        dir.path(),
        &url,
        &[("PGPASSFILE", passfile.to_str().unwrap())],
    )
    .expect(1);
    assert_says(&run, &["asks for a password", "PGPASSWORD", "pgpass"]);
}

#[test]
fn wrong_ca_names_the_certificate_and_sslrootcert() {
    if !local_clusters("wrong_ca_names_the_certificate_and_sslrootcert") {
        return;
    }
    let tls = TlsServer::get();
    let source = tls_source("tls_wrong_ca");
    let dir = rules_dir(RULES);
    let other = tls.file("other-ca.crt");
    // The password from the environment, not the command line (which
    // draws a warning line of its own): the error is then the only line.
    let url = tls.url(
        "app",
        "localhost",
        &source.name,
        &format!("sslmode=verify-ca&sslrootcert={other}"),
    );
    let run = check(dir.path(), &url, &[("PGPASSWORD", APP_PASSWORD)]).expect(1);
    assert_says(
        &run,
        &[
            "the server certificate \"CN=anonymize test server\"",
            "issued by \"CN=anonymize test CA\"",
            "not trusted",
            &format!("sslrootcert={other}"),
        ],
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    if !local_clusters("verify_full_checks_the_host_name_and_verify_ca_does_not") {
        return;
    }
    let tls = TlsServer::get();
    let source = tls_source("tls_name");
    let dir = rules_dir(RULES);
    let ca = tls.file("ca.crt");
    let user = format!("app:{APP_PASSWORD}");
    // The certificate names `localhost`, not 127.0.0.1.
    let full = tls.url(
        &user,
        "127.0.0.1",
        &source.name,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let run = check(dir.path(), &full, &[]).expect(1);
    assert_says(
        &run,
        &[
            "not valid for host \"127.0.0.1\"",
            "it names localhost",
            "sslmode=verify-ca",
        ],
    );
    let ca_only = tls.url(
        &user,
        "127.0.0.1",
        &source.name,
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    check(dir.path(), &ca_only, &[]).expect(0);

    // The same settings from PGSSLMODE and PGSSLROOTCERT when the URL has
    // none; the URL's own sslmode wins over the environment.
    let plain = tls.url(&user, "localhost", &source.name, "");
    check(
        dir.path(),
        &plain,
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca)],
    )
    .expect(0);
    let run = check(
        dir.path(),
        &plain,
        &[
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", &tls.file("other-ca.crt")),
        ],
    )
    .expect(1);
    assert_says(&run, &["not trusted"]);
}

#[test]
fn sslmode_disable_is_refused_with_the_parameter_to_change() {
    if !local_clusters("sslmode_disable_is_refused_with_the_parameter_to_change") {
        return;
    }
    let tls = TlsServer::get();
    let source = tls_source("tls_disable");
    let dir = rules_dir(RULES);
    let url = tls.url(
        &format!("app:{APP_PASSWORD}"),
        "localhost",
        &source.name,
        "sslmode=disable",
    );
    let run = check(dir.path(), &url, &[]).expect(1);
    assert_says(
        &run,
        &[
            "accepts only TLS connections",
            "sslmode=disable",
            "set sslmode=verify-full",
        ],
    );
    // `prefer` (the default) and `allow` find their way to TLS.
    for mode in ["prefer", "allow"] {
        let url = tls.url(
            &format!("app:{APP_PASSWORD}"),
            "localhost",
            &source.name,
            &format!("sslmode={mode}"),
        );
        check(dir.path(), &url, &[]).expect(0);
    }
}

#[test]
fn a_client_certificate_only_role() {
    if !local_clusters("a_client_certificate_only_role") {
        return;
    }
    let tls = TlsServer::get();
    let source = tls_source("tls_cert");
    let dir = rules_dir(RULES);
    let ca = tls.file("ca.crt");
    let with = |cert: &str, key: &str| {
        tls.url(
            "certuser",
            "localhost",
            &source.name,
            &format!(
                "sslmode=verify-full&sslrootcert={ca}&sslcert={}&sslkey={}",
                tls.file(cert),
                tls.file(key)
            ),
        )
    };
    check(dir.path(), &with("certuser.crt", "certuser.key"), &[]).expect(0);

    // No certificate: the server asks for one.
    let none = tls.url(
        "certuser",
        "localhost",
        &source.name,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let run = check(dir.path(), &none, &[]).expect(1);
    assert_says(
        &run,
        &["requires a client certificate", "sslcert and sslkey"],
    );

    // A certificate from a CA the server does not trust: refused.
    let run = check(dir.path(), &with("rogue.crt", "rogue.key"), &[]).expect(1);
    assert_says(
        &run,
        &[
            "refused the client certificate",
            "rogue.crt",
            "(sslcert, sslkey)",
        ],
    );
}

#[test]
fn connection_failures_say_what_to_change() {
    if !local_clusters("connection_failures_say_what_to_change") {
        return;
    }
    let tls = TlsServer::get();
    let source = tls_source("tls_errors");
    let dir = rules_dir(RULES);
    let ca = tls.file("ca.crt");
    let params = format!("sslmode=verify-full&sslrootcert={ca}");

    let wrong = tls.url("app:not-the-password", "localhost", &source.name, &params);
    let run = check(dir.path(), &wrong, &[]).expect(1);
    assert_says(
        &run,
        &[
            "refused the password of user \"app\"",
            "the password in the connection string",
        ],
    );
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);

    let unknown = format!("postgresql://app@no-such-host.invalid:5432/db?{params}");
    let run = check(dir.path(), &unknown, &[]).expect(1);
    assert_says(
        &run,
        &["host \"no-such-host.invalid\" is unknown", "check host"],
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("postgresql://app@127.0.0.1:{port}/db");
    let run = check(dir.path(), &closed, &[]).expect(1);
    assert_says(
        &run,
        &[
            &format!("nothing listens on 127.0.0.1:{port}"),
            "check host and port",
        ],
    );

    // A peer that accepts the connection and then says nothing: the
    // whole start is bounded by connect_timeout (2 s, libpq's minimum).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let run = check(
        dir.path(),
        &format!("postgresql://app@127.0.0.1:{port}/db?connect_timeout=1"),
        &[],
    )
    .expect(1);
    assert_says(
        &run,
        &[
            &format!("no answer from 127.0.0.1:{port} within connect_timeout=2s"),
            "raise connect_timeout",
        ],
    );
    drop(silent);

    // Malformed strings are usage errors (exit 2), without the password.
    let run = check(
        dir.path(),
        &format!("postgresql://app:{APP_PASSWORD}@localhost:notaport/db"),
        &[],
    )
    .expect(2);
    assert_says(&run, &["port must be a number"]);
    let run = check(
        dir.path(),
        &format!("postgresql://app:{APP_PASSWORD}@localhost/db?sslmode=verify-everything"),
        &[],
    )
    .expect(2);
    assert_says(&run, &["sslmode \"verify-everything\" is not one of"]);
}
