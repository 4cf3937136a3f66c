//! A column's rules as written: one rule, or a list of rules of which the
//! first whose `when:` holds applies (issue 25).
//!
//! ```yaml
//! email:
//!   - when: "is_test_account"
//!     keep: true
//!   - when: "country = 'DE'"
//!     fake: email
//!     locale: de_de
//!   - fake: email
//! ```
//!
//! The conditions are SQL on the row's source columns; the plan turns them
//! into one extra field of the COPY query that numbers the branch
//! (`rule_sql`), so a row costs the read of one small field.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::Location;
use crate::transform::rule::{ColumnRule, ColumnRuleVisitor};

/// What a column key holds: one rule, or a list of them.
pub(crate) struct ColumnRules(pub Vec<ColumnRule>, pub bool);

impl ColumnRules {
    /// True when the rules were written as a YAML list.
    pub fn is_list(&self) -> bool {
        self.1
    }
}

/// One conditional rule of a column: applies to the rows where `when`
/// holds and no earlier branch's condition did.
#[derive(Debug)]
pub struct Branch {
    /// SQL boolean on the row's source columns.
    pub when: String,
    pub rule: ColumnRule,
    /// Where the branch's `when:` was written.
    pub location: Location,
}

impl<'de> Deserialize<'de> for ColumnRules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RulesVisitor)
    }
}

struct RulesVisitor;

impl<'de> Visitor<'de> for RulesVisitor {
    type Value = ColumnRules;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "`keep`, `null`, a map with one transform such as `{ fake: email }`, \
             or a list of rules with `when:` conditions",
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<ColumnRules, E> {
        ColumnRuleVisitor
            .visit_unit()
            .map(|r| ColumnRules(vec![r], false))
    }

    fn visit_none<E: de::Error>(self) -> Result<ColumnRules, E> {
        ColumnRuleVisitor
            .visit_none()
            .map(|r| ColumnRules(vec![r], false))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ColumnRules, E> {
        ColumnRuleVisitor
            .visit_str(v)
            .map(|r| ColumnRules(vec![r], false))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ColumnRules, A::Error> {
        ColumnRuleVisitor
            .visit_map(map)
            .map(|r| ColumnRules(vec![r], false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ColumnRules, A::Error> {
        let mut rules = Vec::new();
        while let Some(rule) = seq.next_element::<ColumnRule>()? {
            rules.push(rule);
        }
        Ok(ColumnRules(rules, true))
    }
}
