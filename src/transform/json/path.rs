//! A json rule's paths: `address.street`, `contacts[*].email`, `["a.b"]`,
//! parsed into steps, and the text of a concrete path for messages.

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
    Every,
}

#[derive(Debug, Clone)]
pub(super) struct Path {
    pub(super) text: String,
    pub(super) steps: Vec<Step>,
}

pub(super) fn parse_path(text: &str) -> Result<Path, String> {
    let bad = |why: &str| format!("json path `{text}`: {why}");
    let mut steps = Vec::new();
    let b = text.as_bytes();
    // `$` names the root, as in JSONPath; a `.` or `[` must follow it.
    let rooted = text.starts_with('$');
    let mut i = usize::from(rooted);
    let mut expect_key = !rooted;
    while i < b.len() {
        match b[i] {
            b'[' => {
                let close = text[i..]
                    .find(']')
                    .map(|j| i + j)
                    .ok_or_else(|| bad("unclosed `[`"))?;
                let inside = &text[i + 1..close];
                if inside == "*" {
                    steps.push(Step::Every);
                } else if let Some(key) = inside.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
                {
                    steps.push(Step::Key(key.to_string()));
                } else {
                    let n = inside
                        .parse()
                        .map_err(|_| bad("write `[*]`, `[N]` or `[\"key\"]`"))?;
                    steps.push(Step::Index(n));
                }
                i = close + 1;
                expect_key = false;
            }
            b'.' => {
                if expect_key {
                    return Err(bad("empty key"));
                }
                i += 1;
                expect_key = true;
            }
            _ => {
                if !expect_key {
                    return Err(bad("a key must follow a `.`"));
                }
                let end = text[i..].find(['.', '[']).map_or(b.len(), |j| i + j);
                let key = &text[i..end];
                steps.push(if key == "*" {
                    Step::Every
                } else {
                    Step::Key(key.to_string())
                });
                i = end;
                expect_key = false;
            }
        }
    }
    if steps.is_empty() || expect_key && !text.is_empty() {
        return Err(bad("empty key"));
    }
    Ok(Path {
        text: text.to_string(),
        steps,
    })
}

/// Whether one path reaches a value inside (or equal to) what the other
/// reaches: one is a prefix of the other, step by step, where `[*]` meets
/// any index or key.
pub(super) fn overlap(a: &[Step], b: &[Step]) -> bool {
    a.iter().zip(b).all(|(x, y)| match (x, y) {
        (Step::Key(x), Step::Key(y)) => x == y,
        (Step::Index(x), Step::Index(y)) => x == y,
        // `*` is every element of an array or every member of an object.
        (Step::Every, _) | (_, Step::Every) => true,
        _ => false,
    })
}

/// `path` with every array index written `[*]`: one gap per key of
/// `contacts[*].phone`, not one per element.
pub(super) fn every_index(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find(']').map_or(rest.len(), |c| open + c + 1);
        let inside = &rest[open + 1..close.saturating_sub(1).max(open + 1)];
        if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("[*]");
        } else {
            out.push_str(&rest[open..close]);
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// Appends `key` to a path as the rules write it: `a.b`, or `["a.b"]` for
/// a key holding dots, brackets or quotes.
pub(super) fn push_key(path: &mut String, key: &str) {
    if key.is_empty() || key.contains(['.', '[', ']', '"']) {
        path.push_str(&format!("[\"{key}\"]"));
    } else {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    }
}
