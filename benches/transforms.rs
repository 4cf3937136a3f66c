//! Micro-benchmarks of the transforms, in time per value (criterion reports
//! the time of one iteration, which transforms one value).
//!
//! Each family is measured on a realistic input through the same path the
//! pipeline takes: a rule parsed from YAML, built for a column, applied
//! into a reused buffer. Run with `cargo bench --bench transforms`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use anonymize::catalog::{Column, TypeKind};
use anonymize::rules::{Action, ColumnRule};
use anonymize::transform::{BuildContext, Key, RowView, Transform};

fn column(type_name: &str, kind: TypeKind) -> Column {
    Column {
        name: "c".into(),
        type_name: type_name.into(),
        base_type: type_name.trim_end_matches("[]").into(),
        kind,
        is_array: type_name.ends_with("[]"),
        max_length: None,
        numeric_precision: None,
        numeric_scale: None,
        not_null: false,
        generated: false,
        identity: None,
        unique: false,
    }
}

fn build(yaml: &str, column: &Column) -> Box<dyn Transform> {
    let rule: ColumnRule = serde_yaml::from_str(yaml).expect("rule parses");
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
                t.apply(Some(black_box(input.as_bytes())), &row, &mut out)
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
}

criterion_group!(benches, transforms);
criterion_main!(benches);
