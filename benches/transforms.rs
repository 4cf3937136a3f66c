//! Micro-benchmarks of the transforms, in time per value (criterion reports
//! the time of one iteration, which transforms one value).
//!
//! Each family is measured on a realistic input through the same path the
//! pipeline takes: a rule parsed from YAML, built for a column, applied
//! into a reused buffer. Run with
//! `cargo bench -p anonymize-benches --bench transforms` (benches/micro).

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use anonymize::catalog::{Column, TypeKind};
use anonymize::rules::{Action, ColumnRule};
use anonymize::transform::{BuildContext, Key, RowView, Transform};

fn column(type_name: &str, kind: TypeKind) -> Column {
    Column::new("c", type_name, kind)
}

fn build(yaml: &str, column: &Column) -> Box<dyn Transform> {
    let rule: ColumnRule = anonymize::yaml::from_str(yaml).expect("rule parses");
    let Action::Transform(options) = rule.action else {
        panic!("not a transform")
    };
    let key = Key::new(b"benchmark secret");
    let columns = [column.clone()];
    let ctx = BuildContext {
        table: "public.bench",
        column,
        columns: &columns,
        key: &key,
        locale: "en",
        unique: rule.unique,
        namespace: None,
        unknown_fail: false,
    };
    options.build(&ctx).expect("rule builds")
}

fn bench_one(c: &mut Criterion, name: &str, yaml: &str, column: &Column, inputs: &[&str]) {
    let t = build(yaml, column);
    let row = RowView::empty();
    let mut out = Vec::with_capacity(256);
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            let input = inputs[i % inputs.len()];
            i += 1;
            black_box(
                t.apply(black_box(input.as_bytes()), &row, &mut out)
                    .expect("applies"),
            );
        })
    });
}

fn transforms(c: &mut Criterion) {
    let text = column("text", TypeKind::Text);
    let emails = [
        "james.smith17@gmail.com",
        "zoë.müller3@web.de",
        "maria.garcia2981@yahoo.com",
    ];
    let names = ["James", "Zoë", "Patricia"];
    bench_one(
        c,
        "fake/email_unique",
        "{ fake: email, unique: true }",
        &text,
        &emails,
    );
    bench_one(
        c,
        "fake/email_keep_domain",
        "{ fake: { kind: email, keep_domain: true } }",
        &text,
        &emails,
    );
    bench_one(
        c,
        "fake/username",
        "{ fake: username }",
        &text,
        &["jsmith42", "zoe_m"],
    );
    bench_one(
        c,
        "fake/phone_number",
        "{ fake: phone_number }",
        &text,
        &["+1-555-555-1234", "+1-212-555-0000"],
    );
    bench_one(c, "fake/first_name", "{ fake: first_name }", &text, &names);
    bench_one(
        c,
        "fake/last_name",
        "{ fake: last_name }",
        &text,
        &["Smith", "Müller"],
    );
    bench_one(
        c,
        "fake/name",
        "{ fake: name }",
        &text,
        &["James Smith", "Zoë Müller"],
    );
    bench_one(
        c,
        "fake/street_address",
        "{ fake: street_address }",
        &text,
        &["12 Oak St", "4 Main Ave, Apt 3"],
    );
    bench_one(
        c,
        "hash/digits_9",
        "{ hash: { format: digits, length: 9 } }",
        &text,
        &["123-45-6789", "987-65-4321"],
    );
    bench_one(c, "hash/hex_64", "{ hash: {} }", &text, &emails);
    bench_one(
        c,
        "hash/bigint",
        "{ hash: {} }",
        &column("bigint", TypeKind::Int64),
        &["123456", "42"],
    );
    let uuid = column("uuid", TypeKind::Uuid);
    let uuids = ["7c9e6679-7425-40de-944b-e07fc1f90ae7"];
    let date = column("date", TypeKind::Date);
    let int = column("integer", TypeKind::Int32);
    let numeric = column("numeric", TypeKind::Numeric);
    let tstz = column("timestamp with time zone", TypeKind::TimestampTz);
    bench_one(c, "hash/uuid", "{ hash: {} }", &uuid, &uuids);
    bench_one(c, "fake/uuid", "{ fake: uuid }", &uuid, &uuids);
    bench_one(
        c,
        "fake/city",
        "{ fake: city }",
        &text,
        &["Zürich", "Paris"],
    );
    bench_one(
        c,
        "fake/iban",
        "{ fake: iban }",
        &text,
        &["GB29NWBK60161331926819"],
    );
    bench_one(
        c,
        "fake/date_of_birth",
        "{ fake: date_of_birth }",
        &date,
        &["1980-01-01"],
    );
    bench_one(
        c,
        "fake/sentence",
        "{ fake: sentence }",
        &text,
        &["Some free text here."],
    );
    bench_one(
        c,
        "fpe/ssn",
        "{ fpe: {} }",
        &text,
        &["123-45-6789", "987-65-4321"],
    );
    bench_one(
        c,
        "mask/card",
        "{ mask: { keep_last: 4 } }",
        &text,
        &["4111 1111 1111 1234"],
    );
    bench_one(
        c,
        "shift/date",
        "{ shift: { days: 180 } }",
        &date,
        &["1985-06-15", "2001-02-03"],
    );
    let stamps = ["2024-01-31 13:45:00.25+00", "2019-07-04 08:00:00+00"];
    bench_one(
        c,
        "shift/timestamptz",
        "{ shift: { days: 2, hours: 3 } }",
        &tstz,
        &stamps,
    );
    bench_one(
        c,
        "noise/integer",
        "{ noise: { percent: 10 } }",
        &int,
        &["52000", "17"],
    );
    bench_one(
        c,
        "noise/numeric",
        "{ noise: { absolute: 50 } }",
        &numeric,
        &["123.45", "99999.99"],
    );
    bench_one(
        c,
        "choice/3",
        "{ choice: [bronze, silver, gold] }",
        &text,
        &["x", "y"],
    );
    bench_one(
        c,
        "random_int",
        "{ random_int: { min: 18, max: 99 } }",
        &int,
        &["1", "2"],
    );
    bench_one(
        c,
        "random_numeric",
        "{ random_numeric: { min: 1, max: 500 } }",
        &numeric,
        &["1"],
    );
    bench_one(
        c,
        "template/literal",
        r#"{ template: "n/a" }"#,
        &text,
        &["x"],
    );
    let shipping = r#"{"gift": false, "name": "Aoife Nguyen", "method": "express", "address": {"zip": "33989", "city": "Madrid", "street": "138 Calle Mayor", "country": "ES"}}"#;
    let json_rule =
        "{ json: { paths: { name: { fake: name }, address.street: { fake: street_address } } } }";
    bench_one(
        c,
        "json/2_paths",
        json_rule,
        &column("jsonb", TypeKind::Jsonb),
        &[shipping],
    );
    let notes = [
        "Customer called about SSN 123-45-6789; follow up next week.",
        "No identifiers in this note at all.",
    ];
    let regex_rule = r"{ regex: { pattern: '\d{3}-\d{2}-\d{4}', with: { hash: { format: digits, length: 9 } } } }";
    bench_one(c, "regex/ssn_in_text", regex_rule, &text, &notes);
    let tags = [r#"{sale,eco,"a,b",NULL}"#];
    bench_one(
        c,
        "array/text_4_fake_word",
        "{ fake: word }",
        &column("text[]", TypeKind::Text),
        &tags,
    );
}

/// Every transform of the registry on its sample case, so a new transform
/// is measured from its registry line on, before anyone writes a realistic
/// case for it above.
fn registry_samples(c: &mut Criterion) {
    for e in anonymize::transform::entries() {
        let s = e.sample;
        let t = build(s.rule, &column(s.type_name, s.kind));
        let input = match s.kind {
            TypeKind::Date => "2000-01-31",
            TypeKind::Int32 | TypeKind::Numeric => "31000",
            TypeKind::Jsonb => r#"{"a":"w31","b":31}"#,
            _ => "value 31",
        };
        // Column 0 is computed already, for the rules that read it.
        let spans = [Some(Some((0, 1)))];
        let row = RowView::new(b"R", &spans);
        let mut out = Vec::with_capacity(256);
        c.bench_function(&format!("registry/{}", e.name), |b| {
            b.iter(|| {
                out.clear();
                black_box(
                    t.apply(black_box(input.as_bytes()), &row, &mut out)
                        .expect("applies"),
                );
            })
        });
    }
}

/// The extension points that act per batch rather than per value (issue
/// 25), through `pipeline::transform_batch` on 10,000 rows of one email
/// column, against the same column under a built-in transform. Criterion's
/// throughput gives values per second; 1e9 / that is ns per value.
///
/// - `batch/fake_email`: the built-in baseline.
/// - `batch/when_two_branches`: `keep` when a condition holds (every other
///   row), else `fake: email`; the condition's value is the extra field
///   the source writes, so the cost over the baseline is reading it.
/// - `batch/command_sed`: `command: sed -u ...` (a long-lived process,
///   one round trip per batch).
fn batches(c: &mut Criterion) {
    use anonymize::catalog::{Catalog, QualifiedName, RowSecurity, Table, TableKind};
    use anonymize::plan::{Secret, TablePlan};
    use std::sync::Arc;

    const ROWS: usize = 10_000;
    let text = column("text", TypeKind::Text);
    let key = Key::new(b"benchmark secret");
    // A plan is made by `plan::prepare` only: the rules of column `c`.
    let plan = |rule: &str| -> Arc<TablePlan> {
        let catalog = Catalog {
            tables: vec![Table {
                oid: 1,
                name: QualifiedName::new("public", "bench"),
                kind: TableKind::Ordinary,
                columns: vec![text.clone()],
                unique_keys: vec![],
                unique_indexes: vec![],
                exclusions: vec![],
                foreign_keys: vec![],
                estimated_rows: ROWS as i64,
                rows_from: Default::default(),
                estimated_bytes: 0,
                row_security: RowSecurity::Off,
            }],
            ..Catalog::default()
        };
        let yaml = format!("version: 1\ntables:\n  public.bench:\n    columns:\n      c: {rule}\n");
        let rules = anonymize::rules::load::load_str("bench.yml", &yaml).expect("rules parse");
        let plan = anonymize::plan::prepare(&rules, catalog, Secret::Key(&key))
            .unwrap_or_else(|e| panic!("{e:?}"));
        Arc::clone(&plan.tables()[0])
    };
    let batch = |with_selector: bool| {
        let mut b = String::new();
        for i in 0..ROWS {
            b.push_str(&format!("person{i}.name@gmail.com"));
            if with_selector {
                b.push_str(if i % 2 == 0 { "\t0" } else { "\t1" });
            }
            b.push('\n');
        }
        b.into_bytes()
    };
    let plain = batch(false);
    let selected = batch(true);
    let cases = [
        ("batch/fake_email", plan("{ fake: email }"), &plain),
        (
            "batch/when_two_branches",
            plan("[ { when: \"c LIKE 'x%'\", keep: true }, { fake: email } ]"),
            &selected,
        ),
        (
            "batch/command_sed",
            plan("{ command: { run: [sed, -u, \"s/@/ at /\"], timeout: 60 } }"),
            &plain,
        ),
    ];
    let mut group = c.benchmark_group("extension_points");
    group.throughput(criterion::Throughput::Elements(ROWS as u64));
    for (name, plan, input) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                black_box(anonymize::pipeline::transform_batch(plan, input).expect("transforms"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, transforms, registry_samples, batches);
criterion_main!(benches);
