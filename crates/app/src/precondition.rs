//! What an update requires of a record's current version: the `If-Match` condition of
//! RFC 9110 §13.1.1, checked inside the write so that a concurrent change cannot slip between.

use crate::AppError;

/// The versions an update accepts as the record's current one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// No condition, or `If-Match: *`: whatever the current version is.
    #[default]
    Any,
    /// One of these versions (the strong entity tags sent); an empty list matches nothing.
    OneOf(Vec<i64>),
}

impl Precondition {
    /// The version to update from: `current`, when it meets the condition.
    pub fn check(&self, current: i64) -> Result<i64, AppError> {
        match self {
            Precondition::Any => Ok(current),
            Precondition::OneOf(versions) if versions.contains(&current) => Ok(current),
            Precondition::OneOf(_) => Err(AppError::Stale),
        }
    }
}

/// `Some(version)` requires exactly that version; `None` requires nothing.
impl From<Option<i64>> for Precondition {
    fn from(version: Option<i64>) -> Self {
        version.map_or(Precondition::Any, |v| Precondition::OneOf(vec![v]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_accepts_every_version_and_a_list_only_its_own() {
        assert_eq!(Precondition::Any.check(7).ok(), Some(7));
        let listed = Precondition::OneOf(vec![3, 7]);
        assert_eq!(listed.check(7).ok(), Some(7));
        assert!(matches!(listed.check(4), Err(AppError::Stale)));
        assert!(matches!(
            Precondition::OneOf(Vec::new()).check(1),
            Err(AppError::Stale)
        ));
        assert_eq!(Precondition::from(None), Precondition::Any);
        assert!(matches!(
            Precondition::from(Some(2)).check(3),
            Err(AppError::Stale)
        ));
    }
}
