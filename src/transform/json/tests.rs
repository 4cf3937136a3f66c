//! The json rule's unit tests: paths, scanning, rewriting, `unlisted`.

use super::path::Step;
use super::text::{decode_string, encode_string};
use super::*;
use crate::transform::test_support::{apply, build, build_err, column, parse, parse_err};
use crate::transform::RowView;

fn json(yaml: &str) -> Box<dyn Transform> {
    build(&*parse(yaml), &column("doc", "jsonb", TypeKind::Jsonb))
}

#[test]
fn paths_parse() {
    let steps = |t: &str| parse_path(t).unwrap().steps;
    assert_eq!(steps("a.b"), [Step::Key("a".into()), Step::Key("b".into())]);
    assert_eq!(
        steps("contacts[*].email"),
        [
            Step::Key("contacts".into()),
            Step::Every,
            Step::Key("email".into())
        ]
    );
    assert_eq!(steps("[0].id"), [Step::Index(0), Step::Key("id".into())]);
    assert_eq!(
        steps(r#"a["b.c"]"#),
        [Step::Key("a".into()), Step::Key("b.c".into())]
    );
    // JSONPath's root marker and `.*`, as `init` writes them.
    assert_eq!(steps("$.a.*"), [Step::Key("a".into()), Step::Every]);
    assert_eq!(steps("$[0]"), [Step::Index(0)]);
    assert_eq!(steps(r#"["*"]"#), [Step::Key("*".into())]);
    for bad in [
        "", "a..b", "a.", ".a", "a[", "a[x]", "a[0]b", "$", "$a", "$.",
    ] {
        assert!(parse_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn rooted_paths_and_object_wildcards_reach_their_values() {
    let t = json(
        r#"{ json: { paths: { "$.contact.email": { set: e }, "$.by_name.*.phone": { set: p } } } }"#,
    );
    let doc = r#"{"contact": {"email": "a@b.c"}, "by_name": {"Jane Doe": {"phone": "555"}, "Zoë": {"phone": "556", "x": 1}}}"#;
    assert_eq!(
        apply(&*t, Some(doc)).unwrap(),
        r#"{"contact": {"email": "e"}, "by_name": {"Jane Doe": {"phone": "p"}, "Zoë": {"phone": "p", "x": 1}}}"#
    );
}

#[test]
fn only_the_paths_change() {
    let t = json(
        r#"{ json: { paths: { name: { set: X }, address.street: { set: "1 Way" }, "contacts[*].email": { set: e }, missing.path: { set: never } } } }"#,
    );
    let doc = r#"{"name": "Zoë \"Z\" Müller", "address": {"zip": "01234", "street": "Main St 1"}, "contacts": [{"email": "a@b.c"}, {"phone": 1}, {"email": null}], "n": 1.50e3, "gift": false}"#;
    assert_eq!(
        apply(&*t, Some(doc)).unwrap(),
        r#"{"name": "X", "address": {"zip": "01234", "street": "1 Way"}, "contacts": [{"email": "e"}, {"phone": 1}, {"email": null}], "n": 1.50e3, "gift": false}"#
    );
    assert_eq!(apply(&*t, None), None);
    // Not objects at the path: untouched.
    assert_eq!(apply(&*t, Some("[1,2]")).unwrap(), "[1,2]");
    assert_eq!(apply(&*t, Some("\"name\"")).unwrap(), "\"name\"");
}

#[test]
fn escaped_and_duplicate_keys_match() {
    let t = json(r#"{ json: { paths: { name: { set: X } } } }"#);
    assert_eq!(
        apply(&*t, Some(r#"{"na\u006de":"a","name":"b"}"#)).unwrap(),
        r#"{"na\u006de":"X","name":"X"}"#
    );
}

#[test]
fn keys_match_by_their_decoded_text() {
    let is =
        |literal: &str, key: &str| super::scan::key_is(literal.as_bytes(), (0, literal.len()), key);
    assert!(is(r#""name""#, "name"));
    assert!(is(r#""na\u006de""#, "name"));
    assert!(!is(r#""nam""#, "name"));
    assert!(!is(r#""names""#, "name"));
    assert!(!is(r#""nam\n""#, "name"));
    // The same bytes are not the same key when they hold an escape: the
    // literal `\n` is a newline, not a backslash and an `n`.
    assert!(!is(r#""\n""#, "\\n"));
    assert!(is(r#""\\n""#, "\\n"));
    assert!(is(r#""\n""#, "\n"));
}

#[test]
fn json_types_are_kept_when_they_can_be() {
    let t = json(
        r#"{ json: { paths: { a: { set: 42 }, b: { set: "x" }, c: { set: "true" }, d: null, e: { set: "[1]" } } } }"#,
    );
    let doc = r#"{"a":1,"b":2,"c":false,"d":"secret","e":{"k":1}}"#;
    assert_eq!(
        apply(&*t, Some(doc)).unwrap(),
        r#"{"a":42,"b":"x","c":true,"d":null,"e":[1]}"#
    );
}

/// Issue 22: without `unlisted:`, a key no path names follows
/// `unknown_columns:`: under `fail` (the default) it stops the run.
#[test]
fn unlisted_follows_unknown_columns() {
    use crate::transform::test_support::build_unknown_fail;
    let jsonb = column("doc", "jsonb", TypeKind::Jsonb);
    let doc = r#"{"name":"Zoë","ssn":"123-45-6789"}"#;
    let strict = build_unknown_fail(
        &*parse("{ json: { paths: { name: { fake: name } } } }"),
        &jsonb,
    )
    .unwrap();
    let e = strict
        .apply(doc.as_bytes(), &RowView::empty(), &mut Vec::new())
        .unwrap_err();
    assert!(
        e.0.contains("public.t.doc") && !e.0.contains("123-45"),
        "{}",
        e.0
    );
    // Written `unlisted:` wins; and under `unknown_columns: keep` the
    // default is `keep`.
    let kept = build_unknown_fail(
        &*parse("{ json: { unlisted: keep, paths: { name: { fake: name } } } }"),
        &jsonb,
    )
    .unwrap();
    assert!(apply(&*kept, Some(doc)).unwrap().contains("123-45-6789"));
    let lenient = json("{ json: { paths: { name: { fake: name } } } }");
    assert!(apply(&*lenient, Some(doc)).unwrap().contains("123-45-6789"));
}

/// Issue 22: `{ keys: RULE }` rewrites the keys of the object at a path
/// (maps keyed by email), deterministically and like the column rule.
#[test]
fn keys_rules_rewrite_the_keys_of_an_object() {
    let t = json(
        r#"{ json: { paths: { "$.shared_with": { keys: { fake: email } }, "$.shared_with.*": keep, owner: { fake: email } } } }"#,
    );
    let doc = r#"{"owner":"bob@x.com","shared_with":{"bob@x.com":"read","amy@y.org":"write"}}"#;
    let out = apply(&*t, Some(doc)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let owner = v["owner"].as_str().unwrap();
    let shared = v["shared_with"].as_object().unwrap();
    // The key gets the owner's fake: the same rule, the same output.
    assert_eq!(shared[owner], "read", "{out}");
    assert_eq!(shared.len(), 2);
    assert!(
        !out.contains("bob@x.com") && !out.contains("amy@y.org"),
        "{out}"
    );
    assert!(out.contains(r#""write""#));
    // Keys that could merge are refused, naming the path.
    let e = build_err(
        &*parse(r#"{ json: { paths: { "$.m": { keys: { fake: first_name } } } } }"#),
        &column("doc", "jsonb", TypeKind::Jsonb),
    );
    assert!(
        e.contains("doc.$.m: `keys` needs a rule that keeps keys apart"),
        "{e}"
    );
    let e = parse_err(r#"{ json: { paths: { m: { keys: { fake: email }, unique: true } } } }"#);
    assert!(
        e.contains("`keys` takes the rule for an object's keys and stands alone"),
        "{e}"
    );
}

#[test]
fn strings_are_decoded_for_the_rule_and_encoded_back() {
    let t = json(r#"{ json: { paths: { s: { fpe: {} } } } }"#);
    let doc = r#"{"s":"tab\there \u00e9\ud83c\udf89 \"q\""}"#;
    let out = apply(&*t, Some(doc)).unwrap();
    assert!(
        out.starts_with(r#"{"s":""#)
            && out.contains("\\t")
            && out.contains("🎉")
            && out.contains("\\\""),
        "{out}"
    );
    assert_eq!(decode_string(br#""a\u00e9\n\ud83c\udf89\"""#), "aé\n🎉\"");
    let mut enc = Vec::new();
    encode_string("a\"\\\n\u{1}é".as_bytes(), &mut enc);
    assert_eq!(String::from_utf8(enc).unwrap(), r#""a\"\\\n\u0001é""#);
}

#[test]
fn inner_rules_join_with_columns() {
    // The same rule inside a document and on a column gives the same value.
    let t = json(r#"{ json: { paths: { email: { fake: email } } } }"#);
    let col = build(
        &*parse("{ fake: email }"),
        &column("email", "text", TypeKind::Text),
    );
    let expected = apply(&*col, Some("zoe@example.com")).unwrap();
    assert_eq!(
        apply(&*t, Some(r#"{"email":"zoe@example.com"}"#)).unwrap(),
        format!(r#"{{"email":"{expected}"}}"#)
    );
}

#[test]
fn overlapping_paths_are_refused() {
    for (a, b) in [
        ("a", "a.b"),
        ("a.b", "a"),
        ("\"contacts[*].email\"", "\"contacts[0]\""),
        ("by_name.*.phone", "by_name.zoe"),
    ] {
        let e = parse_err(&format!(
            "{{ json: {{ paths: {{ {a}: null, {b}: null }} }} }}"
        ));
        assert!(e.contains("overlap"), "{a} / {b}: {e}");
    }
    // Siblings and different indexes do not overlap.
    parse(r#"{ json: { paths: { a.b: null, a.c: null, "x[0]": null, "x[1]": null } } }"#);
}

#[test]
fn unlisted_keys_are_dropped_or_refused() {
    let rule = |mode: &str| {
        json(&format!(
            r#"{{ json: {{ unlisted: {mode}, paths: {{ name: {{ set: X }}, gift: keep, "contacts[*].email": {{ set: e }}, address.zip: keep }} }} }}"#
        ))
    };
    let doc = r#"{"ssn": "123", "name": "Zoë", "gift": true, "contacts": [{"email": "a@b.c", "phone": "555"}, {"email": null}], "address": {"zip": "01234", "street": "Main St 1"}, "new": {"deep": [1]}}"#;
    assert_eq!(
        apply(&*rule("drop"), Some(doc)).unwrap(),
        r#"{"name": "X", "gift": true, "contacts": [{"email": "e"}, {"email": null}], "address": {"zip": "01234"}}"#
    );
    // Every member unlisted, and an unlisted one between kept ones.
    assert_eq!(
        apply(&*rule("drop"), Some(r#"{"a":1,"b":2}"#)).unwrap(),
        "{}"
    );
    assert_eq!(
        apply(&*rule("drop"), Some(r#"{"gift":1,"b":2,"name":"n","c":3}"#)).unwrap(),
        r#"{"gift":1,"name":"X"}"#
    );
    // A scalar where the rule expects an object is not listed either;
    // JSON null says nothing and stays.
    assert_eq!(
        apply(
            &*rule("drop"),
            Some(r#"{"address":"Main St 1","contacts":null}"#)
        )
        .unwrap(),
        r#"{"address":null,"contacts":null}"#
    );
    let mut out = Vec::new();
    let e = rule("fail")
        .apply(doc.as_bytes(), &RowView::empty(), &mut out)
        .unwrap_err()
        .0;
    assert!(
        e.starts_with("json key `[key 1]` in public.t.doc is named by no path"),
        "{e}"
    );
    assert!(!e.contains("123"), "no value in the message: {e}");
    let e = rule("fail")
        .apply(
            br#"{"contacts":[{"email":"x","phone":"555-1234"}]}"#,
            &RowView::empty(),
            &mut out,
        )
        .unwrap_err()
        .0;
    // The refused key is unnamed by the rules: its position only.
    assert!(e.starts_with("json key `contacts[0][key 2]` in"), "{e}");
    assert!(!e.contains("555") && !e.contains("phone"), "{e}");
    // Keys are row data: a map keyed by email is never printed, under
    // a `*` either.
    let t = json(r#"{ json: { unlisted: fail, paths: { "shared_with.*.role": keep } } }"#);
    let e = t
        .apply(
            br#"{"shared_with":{"jane.doe.private@gmail.com":{"role":"r","note":"n"}}}"#,
            &RowView::empty(),
            &mut out,
        )
        .unwrap_err()
        .0;
    assert!(
        e.starts_with("json key `shared_with[key 1][key 2]` in public.t.doc"),
        "{e}"
    );
    assert!(!e.contains("jane") && !e.contains("note"), "{e}");
    // The default keeps them.
    let t = json(r#"{ json: { paths: { name: { set: X } } } }"#);
    assert_eq!(
        apply(&*t, Some(r#"{"name":"a","ssn":"1"}"#)).unwrap(),
        r#"{"name":"X","ssn":"1"}"#
    );
}

#[test]
fn documents_nested_deeper_than_any_path_are_handled() {
    // 100,000 levels: parsed only as deep as the paths reach.
    let n = 100_000;
    let deep = format!("{}\"x\"{}", "[".repeat(n), "]".repeat(n));
    let doc = format!(r#"{{"name":"Zoë","deep":{deep},"s":"]["}}"#);
    let t = json(r#"{ json: { paths: { name: { set: X } } } }"#);
    assert_eq!(
        apply(&*t, Some(&doc)).unwrap(),
        format!(r#"{{"name":"X","deep":{deep},"s":"]["}}"#)
    );
    let t = json(r#"{ json: { unlisted: drop, paths: { name: { set: X }, deep: keep } } }"#);
    assert_eq!(
        apply(&*t, Some(&doc)).unwrap(),
        format!(r#"{{"name":"X","deep":{deep}}}"#)
    );
    // Cut short: an error, not a panic.
    let mut out = Vec::new();
    assert!(t
        .apply(&doc.as_bytes()[..1000], &RowView::empty(), &mut out)
        .is_err());
}

#[test]
fn errors_name_the_problem() {
    let e = build_err(
        &*parse(r#"{ json: { paths: { a: { fake: name } } } }"#),
        &column("c", "text", TypeKind::Text),
    );
    assert!(
        e.starts_with("`json` cannot produce a value of type text"),
        "{e}"
    );
    assert!(parse_err(r#"{ json: { paths: { "a..b": keep } } }"#)
        .contains("json path `a..b`: empty key"));
    assert!(parse_err(r#"{ json: { path: {} } }"#).contains("unknown json option `path`"));
    assert!(
        parse_err(r#"{ json: { paths: { a: { fake: nmae } } } }"#).contains("did you mean `name`?")
    );
    let e = build_err(
        &*parse(r#"{ json: { paths: { a: { fake: name, unique: true } } } }"#),
        &column("c", "jsonb", TypeKind::Jsonb),
    );
    assert!(
        e.contains("c.a: `fake(name)` cannot guarantee distinct outputs"),
        "{e}"
    );
    let t = json(r#"{ json: { paths: { a: { set: x } } } }"#);
    let mut out = Vec::new();
    for bad in ["{", r#"{"a":}"#, "[1,]", "01", r#"{"a":1} x"#] {
        out.clear();
        assert_eq!(
            t.apply(bad.as_bytes(), &RowView::empty(), &mut out)
                .unwrap_err()
                .0,
            "malformed json value",
            "{bad}"
        );
    }
}

/// The rule's output for `doc`, or its error.
fn run(t: &dyn Transform, doc: &str) -> Result<String, String> {
    let mut out = Vec::new();
    t.apply(doc.as_bytes(), &RowView::empty(), &mut out)
        .map(|_| String::from_utf8(out).unwrap())
        .map_err(|e| e.0)
}

#[test]
fn escapes_and_unicode_around_the_paths_pass_through_as_they_are() {
    let t = json(r#"{ json: { paths: { "Zoë.note": { set: X }, "a\"b": { set: Q } } } }"#);
    // Brackets, quotes, commas and escaped quotes inside strings are text,
    // not structure; `\u` escapes and raw UTF-8 keys both match.
    let doc = r#"{"s": "x\"}],{[\\", "Zo\u00eb": {"note": "n\"1", "k\\": "\ud83c\udf89"}, "Zoë": {"note": "é"}, "a\"b": 1, "t": "\\"}"#;
    assert_eq!(
        run(&*t, doc).unwrap(),
        r#"{"s": "x\"}],{[\\", "Zo\u00eb": {"note": "X", "k\\": "\ud83c\udf89"}, "Zoë": {"note": "X"}, "a\"b": "Q", "t": "\\"}"#
    );
}

#[test]
fn nested_arrays_are_reached_by_every_and_by_index() {
    let t = json(r#"{ json: { paths: { "m[*][1]": { set: X }, "g[0][*].v": { set: Y } } } }"#);
    let doc =
        r#"{"m": [[1, 2, 3], [4, 5], [6], []], "g": [[{"v": 1, "w": 2}, {"v": [3]}], [{"v": 4}]]}"#;
    assert_eq!(
        run(&*t, doc).unwrap(),
        r#"{"m": [[1, "X", 3], [4, "X"], [6], []], "g": [[{"v": "Y", "w": 2}, {"v": "Y"}], [{"v": 4}]]}"#
    );
    // Under `unlisted: drop`, elements no path reaches become null and
    // the indexes hold.
    let t = json(r#"{ json: { unlisted: drop, paths: { "m[*][1]": keep } } }"#);
    assert_eq!(
        run(&*t, r#"{"m": [[1, 2, 3], [4, {"a": 5}], 7]}"#).unwrap(),
        r#"{"m": [[null, 2, null], [null, {"a": 5}], null]}"#
    );
}

#[test]
fn duplicate_keys_are_each_walked() {
    // json (not jsonb) keeps duplicate keys: each occurrence is reached,
    // and each one's unlisted members go.
    let t = json(r#"{ json: { unlisted: drop, paths: { a.b: { set: X } } } }"#);
    assert_eq!(
        run(
            &*t,
            r#"{"a": {"b": 1, "c": 2}, "a": {"c": 3}, "a": {"b": 4}}"#
        )
        .unwrap(),
        r#"{"a": {"b": "X"}, "a": {}, "a": {"b": "X"}}"#
    );
}

#[test]
fn numbers_keep_their_spelling_and_their_type() {
    let t = json(r#"{ json: { paths: { n: { set: "42" }, "m[*]": { set: "x" } } } }"#);
    let doc = r#"{"a": -0.5e+10, "n": 1E3, "m": [0, -1.25, 2e-3], "z": 0}"#;
    assert_eq!(
        run(&*t, doc).unwrap(),
        r#"{"a": -0.5e+10, "n": 42, "m": ["x", "x", "x"], "z": 0}"#
    );
    // A bad number where the paths reach is malformed, as before.
    for bad in [
        r#"{"a": [1.]}"#,
        r#"{"a": -}"#,
        r#"{"a": 1e}"#,
        r#"{"m": [01]}"#,
    ] {
        assert_eq!(run(&*t, bad).unwrap_err(), "malformed json value", "{bad}");
    }
}

#[test]
fn absent_paths_and_paths_through_other_values_change_nothing() {
    let keep = json(r#"{ json: { paths: { a.b.c: { set: X } } } }"#);
    let drop = json(r#"{ json: { unlisted: drop, paths: { a.b.c: { set: X } } } }"#);
    for (doc, dropped) in [
        (r#"{}"#, r#"{}"#),
        (r#"{"a": 1}"#, r#"{"a": null}"#),
        (r#"{"a": [{"b": {"c": 1}}]}"#, r#"{"a": [null]}"#),
        (r#"{"a": {"b": "c"}}"#, r#"{"a": {"b": null}}"#),
        (r#"{"a": null}"#, r#"{"a": null}"#),
        (r#"[{"a": 1}]"#, r#"[null]"#),
        (r#""a""#, "null"),
        ("3", "null"),
    ] {
        assert_eq!(run(&*keep, doc).unwrap(), doc);
        assert_eq!(run(&*drop, doc).unwrap(), dropped, "{doc}");
    }
}

#[test]
fn dropped_members_take_their_commas_and_keep_the_spacing() {
    let rule = |paths: &str| {
        json(&format!(
            "{{ json: {{ unlisted: drop, paths: {{ {paths} }} }} }}"
        ))
    };
    let doc = r#"{ "a" : 1 ,"b":2,  "c" : 3 , "d":4 }"#;
    // Between kept members: from the dropped key to the next key.
    assert_eq!(
        run(&*rule("a: keep, c: keep, d: keep"), doc).unwrap(),
        r#"{ "a" : 1 ,"c" : 3 , "d":4 }"#
    );
    // After the last kept one: from the end of its value.
    assert_eq!(
        run(&*rule("a: keep, c: keep"), doc).unwrap(),
        r#"{ "a" : 1 ,"c" : 3 }"#
    );
    assert_eq!(run(&*rule("b: keep"), doc).unwrap(), r#"{ "b":2 }"#);
    // None kept.
    assert_eq!(run(&*rule("x: keep"), doc).unwrap(), "{  }");
}

#[test]
fn a_keys_rule_alone_rewrites_the_keys() {
    // The deepest path ends at the object whose keys it rewrites.
    let t = json(r#"{ json: { paths: { m: { keys: { hash: {} } } } } }"#);
    let out = run(&*t, r#"{"m": {"zoe@example.com": 1, "x": {"y": 2}}}"#).unwrap();
    assert!(!out.contains("zoe@example.com"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = v["m"].as_object().unwrap();
    assert_eq!(m.len(), 2, "{out}");
    assert!(
        m.values().any(|v| v == &serde_json::json!({"y": 2})),
        "{out}"
    );
}

#[test]
fn a_malformed_document_says_so_before_its_unlisted_keys() {
    // The walk meets the unlisted `ssn` first; the syntax is checked first.
    let t = json(r#"{ json: { unlisted: fail, paths: { name: { set: X } } } }"#);
    assert_eq!(
        run(&*t, r#"{"ssn": "1", "name": }"#).unwrap_err(),
        "malformed json value"
    );
    assert!(run(&*t, r#"{"ssn": "1", "name": "n"}"#)
        .unwrap_err()
        .starts_with("json key `[key 1]`"));
}

#[test]
fn check_lists_the_unlisted_paths_once_each() {
    let options = parse(r#"{ json: { paths: { "c[*].email": keep, name: keep } } }"#);
    let doc = r#"{"name": 1, "ssn": 2, "c": [{"email": 1, "phone": 2}, {"phone": 3}, 4], "bad": }"#;
    // Malformed: nothing to say.
    assert!(options.unlisted_paths(doc.as_bytes(), true).is_empty());
    let doc = r#"{"name": 1, "ssn": 2, "c": [{"email": 1, "phone": 2}, {"phone": 3}, 4]}"#;
    assert_eq!(
        options.unlisted_paths(doc.as_bytes(), true),
        ["[key 2]", "c[*][key 2]", "c[*][key 1]", "c[*]"]
    );
    assert!(options.unlisted_paths(doc.as_bytes(), false).is_empty());
}

#[test]
fn a_rule_sees_a_string_decoded_however_it_is_escaped() {
    let t = json(r#"{ json: { paths: { "s[*]": { hash: {} } } } }"#);
    let out = run(&*t, r#"{"s": ["aé\"", "a\u00e9\"", "a\u00E9\u0022"]}"#).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = v["s"].as_array().unwrap();
    assert!(s[0] == s[1] && s[1] == s[2], "{out}");
    assert_ne!(s[0], "aé\"", "{out}");
}

/// Keys are matched by their length and first 8 bytes, then the rest:
/// keys sharing their first 8 bytes, keys of 8 and 9 bytes, a key too
/// near the document's end for a whole word, and a value whose quote and
/// backslash sit in its first word.
#[test]
fn long_and_prefix_sharing_keys_match_exactly() {
    let t = json(
        r#"{ json: { paths: { shipping_name: { set: X }, contacts: { set: Y }, a: { set: Z }, metadata.long_key_here: { set: W } } } }"#,
    );
    let doc = r#"{"shipping_note":"n","shipping_name":"a","contactz":1,"contacts":2,"metadata":{"long_key_herE":1,"long_key_here":"q\"\\"},"a":3}"#;
    assert_eq!(
        apply(&*t, Some(doc)).unwrap(),
        r#"{"shipping_note":"n","shipping_name":"X","contactz":1,"contacts":"Y","metadata":{"long_key_herE":1,"long_key_here":"W"},"a":"Z"}"#
    );
}
