//! Silences: label matchers written as Alertmanager writes them. A silence's matchers must
//! all fit an alert's labels for it to mute the alert; a label the alert lacks reads as
//! empty, and a regular expression must match the whole value.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};

crate::string_enum! {
    /// How a matcher compares a label's value with its own.
    pub enum MatchOp as "matcher operator" {
        /// The value is exactly this.
        Equal => "=",
        /// The value is anything but this.
        NotEqual => "!=",
        /// The whole value matches this regular expression.
        Matches => "=~",
        /// The whole value does not match this regular expression.
        NotMatches => "!~",
    }
}

/// Longest label name a matcher takes, in characters.
pub const MOST_NAME_CHARS: usize = 200;
/// Longest value (or regular expression) a matcher takes, in characters.
pub const MOST_VALUE_CHARS: usize = 1_000;
/// Most matchers one silence has.
pub const MOST_MATCHERS: usize = 20;
/// Largest compiled regular expression, in bytes: an expression is checked against every
/// alert that arrives, so one that compiles huge is refused rather than slowing them all.
const MOST_REGEX_BYTES: usize = 256 * 1024;

/// One condition on one label.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// The anchored expression, for `=~` and `!~`.
    regex: Option<Regex>,
}

/// Which part of a matcher is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("{0}")]
    Name(String),
    #[error("{0}")]
    Value(String),
}

impl MatcherError {
    /// The matcher's field at fault: `name` or `value`.
    pub fn field(&self) -> &'static str {
        match self {
            MatcherError::Name(_) => "name",
            MatcherError::Value(_) => "value",
        }
    }
}

impl Matcher {
    /// A matcher of label `name`; refuses an empty or overlong name, an overlong value, and
    /// a regular expression that does not compile within bounds.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, MatcherError> {
        if name.trim().is_empty() {
            return Err(MatcherError::Name("must not be empty".into()));
        }
        if name.chars().count() > MOST_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(MatcherError::Name(format!(
                "at most {MOST_NAME_CHARS} characters, none of them control characters"
            )));
        }
        if value.chars().count() > MOST_VALUE_CHARS {
            return Err(MatcherError::Value(format!(
                "at most {MOST_VALUE_CHARS} characters"
            )));
        }
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Matches | MatchOp::NotMatches => Some(
                RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(MOST_REGEX_BYTES)
                    .dfa_size_limit(MOST_REGEX_BYTES)
                    .build()
                    .map_err(|e| {
                        MatcherError::Value(format!("not a usable regular expression: {e}"))
                    })?,
            ),
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the label this matcher names fits it in `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.fits(labels.get(&self.name).map_or("", String::as_str))
    }

    fn fits(&self, actual: &str) -> bool {
        let regex = || self.regex.as_ref().is_some_and(|r| r.is_match(actual));
        match self.op {
            MatchOp::Equal => actual == self.value,
            MatchOp::NotEqual => actual != self.value,
            MatchOp::Matches => regex(),
            MatchOp::NotMatches => !regex(),
        }
    }
}

/// Why a silence's matchers as a whole are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchersError {
    #[error("at least one matcher, at most {MOST_MATCHERS}")]
    Count,
    /// Alertmanager's rule too: a silence that fits alerts without labels would mute
    /// everything its scope receives.
    #[error("at least one matcher must not match an empty or missing label")]
    MatchesEverything,
}

/// Checks a silence's matchers together: between one and [`MOST_MATCHERS`], and at least
/// one that an unlabelled alert fails.
pub fn check_matchers(matchers: &[Matcher]) -> Result<(), MatchersError> {
    if matchers.is_empty() || matchers.len() > MOST_MATCHERS {
        return Err(MatchersError::Count);
    }
    if matchers.iter().all(|m| m.fits("")) {
        return Err(MatchersError::MatchesEverything);
    }
    Ok(())
}

/// Whether every matcher fits `labels`: then a silence with these matchers mutes the alert.
pub fn mutes(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn m(name: &str, op: &str, value: &str) -> Matcher {
        Matcher::new(name, op.parse().unwrap(), value).unwrap()
    }

    #[test]
    fn matchers_work_like_alertmanagers() {
        let disk = labels(&[("alertname", "DiskFull"), ("instance", "db1:9100")]);
        // (matcher, fits `disk`)
        let table = [
            (m("alertname", "=", "DiskFull"), true),
            (m("alertname", "=", "diskfull"), false),
            (m("alertname", "!=", "NodeDown"), true),
            (m("instance", "=~", "db[0-9]+:.*"), true),
            // Anchored: a part of the value is not enough.
            (m("instance", "=~", "db1"), false),
            (m("instance", "!~", "web.*"), true),
            // A missing label reads as empty.
            (m("cluster", "=", ""), true),
            (m("cluster", "!=", ""), false),
            (m("cluster", "=~", "eu-.*"), false),
            (m("cluster", "!~", "eu-.*"), true),
            (m("alertname", "=~", "Disk.*|Node.*"), true),
        ];
        for (matcher, expected) in &table {
            assert_eq!(matcher.matches(&disk), *expected, "{matcher:?}");
        }
        assert!(mutes(
            &[m("alertname", "=", "DiskFull"), m("instance", "=~", "db.*")],
            &disk
        ));
        assert!(!mutes(
            &[
                m("alertname", "=", "DiskFull"),
                m("instance", "=~", "web.*")
            ],
            &disk
        ));
    }

    #[test]
    fn bad_matchers_name_their_part() {
        assert_eq!(
            Matcher::new("", MatchOp::Equal, "x").unwrap_err().field(),
            "name"
        );
        assert_eq!(
            Matcher::new("a", MatchOp::Matches, "(unclosed")
                .unwrap_err()
                .field(),
            "value"
        );
        // Bounded: an expression that compiles huge is refused.
        assert_eq!(
            Matcher::new("a", MatchOp::Matches, "(\\w{500}){500}")
                .unwrap_err()
                .field(),
            "value"
        );
        assert_eq!(
            Matcher::new("a", MatchOp::Equal, &"x".repeat(MOST_VALUE_CHARS + 1))
                .unwrap_err()
                .field(),
            "value"
        );
        assert_eq!(check_matchers(&[]), Err(MatchersError::Count));
        assert_eq!(
            check_matchers(&[m("a", "=~", ".*"), m("b", "!=", "x")]),
            Err(MatchersError::MatchesEverything)
        );
        assert_eq!(check_matchers(&[m("a", "=~", ".+")]), Ok(()));
    }

    fn label_sets() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map("[a-c]", "[a-c]{0,3}", 0..4)
    }

    fn ops() -> impl Strategy<Value = MatchOp> {
        prop::sample::select(MatchOp::ALL)
    }

    proptest! {
        #[test]
        fn negated_operators_disagree_everywhere(
            name in "[a-c]", value in "[a-c]{0,3}", labels in label_sets()
        ) {
            let eq = Matcher::new(&name, MatchOp::Equal, &value).unwrap();
            let ne = Matcher::new(&name, MatchOp::NotEqual, &value).unwrap();
            let re = Matcher::new(&name, MatchOp::Matches, &value).unwrap();
            let nre = Matcher::new(&name, MatchOp::NotMatches, &value).unwrap();
            prop_assert_ne!(eq.matches(&labels), ne.matches(&labels));
            prop_assert_ne!(re.matches(&labels), nre.matches(&labels));
            // A plain value as an expression is anchored, so it means what `=` means.
            prop_assert_eq!(eq.matches(&labels), re.matches(&labels));
        }

        #[test]
        fn a_label_set_fits_matchers_made_from_it(labels in label_sets()) {
            let matchers: Vec<Matcher> = labels
                .iter()
                .map(|(name, value)| Matcher::new(name, MatchOp::Equal, value).unwrap())
                .collect();
            prop_assert!(mutes(&matchers, &labels));
        }

        #[test]
        fn more_matchers_never_mute_more(
            specs in prop::collection::vec(("[a-c]", ops(), "[a-c]{0,2}(\\.\\*)?"), 0..5),
            extra in ("[a-c]", ops(), "[a-c]{0,2}(\\.\\*)?"),
            labels in label_sets(),
        ) {
            let build = |(name, op, value): &(String, MatchOp, String)| {
                Matcher::new(name, *op, value).unwrap()
            };
            let some: Vec<Matcher> = specs.iter().map(build).collect();
            let mut more = some.clone();
            more.push(build(&extra));
            prop_assert!(!mutes(&more, &labels) || mutes(&some, &labels));
            // Their order does not matter.
            more.reverse();
            let mut again = some.clone();
            again.push(build(&extra));
            prop_assert_eq!(mutes(&more, &labels), mutes(&again, &labels));
        }
    }
}
