//! The COPY text codec against PostgreSQL itself (issue 8): values made by
//! proptest go into the server, come out as COPY text, are split, decoded,
//! re-encoded by our codec, go back in through COPY, and must come out
//! equal: text with every escape, arrays of such text, and bytea.
//!
//! Run more cases with `PROPTEST_CASES=2000 cargo test --test it codec`.

use futures_util::SinkExt;
use proptest::prelude::*;
use tokio_postgres::NoTls;

use crate::harness::Pg;

/// Text that stresses COPY: tabs, newlines, carriage returns, backslashes,
/// `\.` lines, escapes PostgreSQL writes as `\b \f \v`, quotes and braces
/// (array syntax), and any other Unicode scalar but NUL (which text cannot
/// hold).
fn hard_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\\".to_string()),
        Just("\\.".to_string()),
        Just("\n\\.\n".to_string()),
        Just("\u{8}\u{c}\u{b}".to_string()),
        Just("\"{},'".to_string()),
        Just("NULL".to_string()),
        Just("\\N".to_string()),
        "[^\u{0}]{0,4}",
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
struct Row {
    text: Option<String>,
    array: Option<Vec<Option<String>>>,
    bytes: Option<Vec<u8>>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::of(hard_text()),
        proptest::option::of(proptest::collection::vec(
            proptest::option::of(hard_text()),
            0..4,
        )),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
    )
        .prop_map(|(text, array, bytes)| Row { text, array, bytes })
}

/// Splits COPY text into fields, decodes each, and encodes it again with
/// our codec: the transform stage's path for a rewritten value.
fn recode(copy: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut scratch = Vec::new();
    for row in anonymize::copy_text::rows(copy) {
        anonymize::copy_text::field_spans(row, &mut spans);
        for (i, &(a, b)) in spans.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            match anonymize::copy_text::decode(&row[a..b], &mut scratch) {
                None => out.extend_from_slice(anonymize::copy_text::NULL),
                Some(v) => {
                    let v = v.to_vec();
                    anonymize::copy_text::escape_into(&v, &mut out);
                }
            }
        }
        out.push(b'\n');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn copy_text_round_trips_through_postgresql(rows in proptest::collection::vec(row(), 1..12)) {
        let db = codec_db();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&db, NoTls).await.unwrap();
            tokio::spawn(conn);
            client
                .batch_execute("BEGIN; CREATE TEMP TABLE src (id int, t text, a text[], b bytea); \
                                CREATE TEMP TABLE dst (id int, t text, a text[], b bytea);")
                .await
                .unwrap();
            for (i, r) in rows.iter().enumerate() {
                client
                    .execute(
                        "INSERT INTO src VALUES ($1, $2, $3, $4)",
                        &[&(i as i32), &r.text, &r.array, &r.bytes],
                    )
                    .await
                    .unwrap();
            }
            let out = client.copy_out("COPY src TO STDOUT").await.unwrap();
            let copied: Vec<u8> = futures_util::TryStreamExt::try_concat(
                futures_util::TryStreamExt::map_ok(out, |b| b.to_vec()),
            )
            .await
            .unwrap();
            let recoded = recode(&copied);
            let sink = client.copy_in("COPY dst FROM STDIN").await.unwrap();
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::from(recoded)).await.unwrap();
            sink.as_mut().finish().await.unwrap();
            let diff: i64 = client
                .query_one(
                    "SELECT count(*) FROM src FULL JOIN dst USING (id) \
                     WHERE src.t IS DISTINCT FROM dst.t OR src.a IS DISTINCT FROM dst.a \
                        OR src.b IS DISTINCT FROM dst.b OR src.id IS NULL OR dst.id IS NULL",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            prop_assert_eq!(diff, 0, "rows changed on the round trip");
            // And each decoded text field is exactly the value that went in.
            for (i, r) in rows.iter().enumerate() {
                let t: Option<String> = client
                    .query_one("SELECT t FROM dst WHERE id = $1", &[&(i as i32)])
                    .await
                    .unwrap()
                    .get(0);
                prop_assert_eq!(&t, &r.text);
            }
            client.batch_execute("ROLLBACK").await.unwrap();
            Ok(())
        })?;
    }
}

/// One database for every case of the property.
fn codec_db() -> String {
    static DB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DB.get_or_init(|| Pg::get().db("codec").url).clone()
}
