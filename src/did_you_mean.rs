//! "Did you mean …?": the known name closest to a typo, for every message
//! that names an unknown key, column, table, kind or setting.

/// The candidate closest to `typed` by edit distance, if it is close: at
/// most 2 edits, or a third of the candidate's length for long names. Ties
/// go to the first name in alphabetical order, so hints are stable.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(typed, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_typos_and_nothing_far() {
        assert_eq!(closest("hsah", ["hash", "mask", "set"]), Some("hash"));
        assert_eq!(closest("zzzzzz", ["hash", "mask"]), None);
        // Long names allow a third of their length.
        assert_eq!(
            closest("aplication_nmae", ["application_name", "host"]),
            Some("application_name")
        );
        // Equally close: the first alphabetically, whatever the order given.
        assert_eq!(closest("ab", ["ac", "aa"]), Some("aa"));
        assert_eq!(closest("Zoë", ["Zoe"]), Some("Zoe"));
    }
}
