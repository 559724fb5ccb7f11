//! The search language of configuration items, in the ticket search's style:
//! `class:server package:openssl<3.0.13 organization:"Acme Corp" web`.
//! Terms are ANDed; a field's comma-separated values are ORed; words match the name,
//! hostname, asset tag and serial number.

use std::cmp::Ordering;

use super::vulnerability::Severity;
use super::{CiClass, Lifecycle};

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiQuery {
    pub classes: Vec<CiClass>,
    pub lifecycles: Vec<Lifecycle>,
    /// Organization names, any of which.
    pub organizations: Vec<String>,
    /// Owners by e-mail, `me` or `none`.
    pub owners: Vec<String>,
    /// Every one must be installed, at a version that fits.
    pub packages: Vec<PackageTerm>,
    pub updates: Option<UpdatesTerm>,
    /// Open findings of an advisory; with package terms, in those packages.
    pub vulnerable: Option<VulnerableTerm>,
    /// Lower-case words, each of which must appear.
    pub words: Vec<String>,
}

/// `package:openssl` or `package:openssl<3.0.13`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageTerm {
    pub name: String,
    pub version: Option<(VersionOp, String)>,
}

impl PackageTerm {
    /// Whether an installed `version` fits the term.
    pub fn fits(&self, version: &str) -> bool {
        match &self.version {
            None => true,
            Some((op, wanted)) => op.holds(super::version::compare(version, wanted)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    Less,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    Greater,
}

impl VersionOp {
    fn holds(self, order: Ordering) -> bool {
        match self {
            VersionOp::Less => order == Ordering::Less,
            VersionOp::LessOrEqual => order != Ordering::Greater,
            VersionOp::Equal => order == Ordering::Equal,
            VersionOp::GreaterOrEqual => order != Ordering::Less,
            VersionOp::Greater => order == Ordering::Greater,
        }
    }
}

/// `updates:any` (some update pending) or `updates:security` (a security one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatesTerm {
    Any,
    Security,
}

/// `vulnerable:any`, `vulnerable:high` (that severity or worse) or
/// `vulnerable:CVE-2024-1234` (an advisory by its id or an alias, upper case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VulnerableTerm {
    Any,
    AtLeast(Severity),
    Advisory(String),
}

/// Why a search does not read, naming the term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CiQueryError {
    #[error(
        "`{0}` is not a field; use class, lifecycle, organization, owner, package, updates or vulnerable"
    )]
    UnknownField(String),
    #[error("`{term}`: {message}")]
    BadValue { term: String, message: String },
    #[error("a quote is not closed")]
    UnclosedQuote,
}

const MOST_TERMS: usize = 20;

/// Reads a search.
pub fn parse(input: &str) -> Result<CiQuery, CiQueryError> {
    let mut query = CiQuery::default();
    let terms = split_terms(input)?;
    if terms.len() > MOST_TERMS {
        return Err(CiQueryError::BadValue {
            term: input.chars().take(40).collect(),
            message: format!("at most {MOST_TERMS} terms"),
        });
    }
    for term in terms {
        let Some((field, value)) = term.split_once(':').filter(|(f, _)| !f.contains('"')) else {
            query.words.push(term.replace('"', "").to_lowercase());
            continue;
        };
        let bad = |message: String| CiQueryError::BadValue {
            term: term.clone(),
            message,
        };
        let value = value.trim_matches('"');
        if value.is_empty() {
            return Err(bad("give a value after the colon".to_owned()));
        }
        let values = || value.split(',').map(str::trim).filter(|v| !v.is_empty());
        match field.to_ascii_lowercase().as_str() {
            "class" => {
                for v in values() {
                    query
                        .classes
                        .push(v.parse().map_err(|e| bad(format!("{e}")))?);
                }
            }
            "lifecycle" | "state" => {
                for v in values() {
                    query
                        .lifecycles
                        .push(v.parse().map_err(|e| bad(format!("{e}")))?);
                }
            }
            "organization" | "org" => query.organizations.extend(values().map(str::to_owned)),
            "owner" => query.owners.extend(values().map(str::to_lowercase)),
            "package" | "pkg" => query.packages.push(package_term(value).map_err(bad)?),
            "updates" => {
                query.updates = Some(match value.to_ascii_lowercase().as_str() {
                    "any" | "pending" => UpdatesTerm::Any,
                    "security" => UpdatesTerm::Security,
                    _ => return Err(bad("use updates:any or updates:security".to_owned())),
                })
            }
            "vulnerable" | "vuln" => {
                query.vulnerable = Some(vulnerable_term(value).map_err(bad)?);
            }
            other => return Err(CiQueryError::UnknownField(other.to_owned())),
        }
    }
    Ok(query)
}

fn vulnerable_term(value: &str) -> Result<VulnerableTerm, String> {
    if value.eq_ignore_ascii_case("any") {
        return Ok(VulnerableTerm::Any);
    }
    if let Ok(severity) = value.parse::<Severity>() {
        return Ok(VulnerableTerm::AtLeast(severity));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if value.len() > 200 || !value.chars().all(valid) || !value.contains('-') {
        return Err(
            "use vulnerable:any, a severity (critical, high, medium, low) or an advisory id such as CVE-2024-1234"
                .to_owned(),
        );
    }
    Ok(VulnerableTerm::Advisory(value.to_ascii_uppercase()))
}

fn package_term(value: &str) -> Result<PackageTerm, String> {
    const OPS: &[(&str, VersionOp)] = &[
        ("<=", VersionOp::LessOrEqual),
        (">=", VersionOp::GreaterOrEqual),
        ("<", VersionOp::Less),
        (">", VersionOp::Greater),
        ("=", VersionOp::Equal),
    ];
    let found = value
        .find(['<', '>', '='])
        .map(|at| (&value[..at], &value[at..]));
    let (name, version) = match found {
        None => (value, None),
        Some((name, rest)) => {
            let (op, version) = OPS
                .iter()
                .find_map(|(text, op)| rest.strip_prefix(text).map(|v| (*op, v)))
                .ok_or_else(|| "compare with <, <=, =, >= or >".to_owned())?;
            if version.is_empty() || version.starts_with(['<', '>', '=']) {
                return Err("give a version after the comparison".to_owned());
            }
            (name, Some((op, version.to_owned())))
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_' | ':');
    if name.is_empty() || !name.chars().all(valid) {
        return Err("a package name is letters, digits and . + - _".to_owned());
    }
    Ok(PackageTerm {
        name: name.to_ascii_lowercase(),
        version,
    })
}

/// Splits on spaces outside double quotes, keeping the quotes.
fn split_terms(input: &str) -> Result<Vec<String>, CiQueryError> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in input.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(CiQueryError::UnclosedQuote);
    }
    if !current.is_empty() {
        terms.push(current);
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_example_of_the_docs() -> Result<(), CiQueryError> {
        let q = parse(r#"class:server package:openssl<3.0.13 organization:"Acme Corp" web"#)?;
        assert_eq!(q.classes, [CiClass::Server]);
        assert_eq!(q.organizations, ["Acme Corp"]);
        assert_eq!(q.words, ["web"]);
        assert_eq!(q.packages.len(), 1);
        let openssl = &q.packages[0];
        assert_eq!(openssl.name, "openssl");
        assert!(openssl.fits("3.0.11-1~deb12u2"));
        assert!(!openssl.fits("3.0.13-1~deb12u1"));
        Ok(())
    }

    #[test]
    fn a_bare_package_fits_any_version() -> Result<(), CiQueryError> {
        let q = parse("package:curl updates:security class:server,laptop")?;
        assert!(q.packages[0].fits("7.88.1"));
        assert_eq!(q.updates, Some(UpdatesTerm::Security));
        assert_eq!(q.classes, [CiClass::Server, CiClass::Laptop]);
        Ok(())
    }

    #[test]
    fn vulnerable_reads_any_a_severity_or_an_advisory() -> Result<(), CiQueryError> {
        let q = parse("package:openssl vulnerable:any")?;
        assert_eq!(q.vulnerable, Some(VulnerableTerm::Any));
        assert_eq!(q.packages[0].name, "openssl");
        assert_eq!(
            parse("vulnerable:critical")?.vulnerable,
            Some(VulnerableTerm::AtLeast(Severity::Critical))
        );
        assert_eq!(
            parse("vulnerable:cve-2024-1234")?.vulnerable,
            Some(VulnerableTerm::Advisory("CVE-2024-1234".into()))
        );
        assert!(matches!(
            parse("vulnerable:yes"),
            Err(CiQueryError::BadValue { term, .. }) if term == "vulnerable:yes"
        ));
        Ok(())
    }

    #[test]
    fn mistakes_name_the_term() {
        assert_eq!(
            parse("colour:red"),
            Err(CiQueryError::UnknownField("colour".into()))
        );
        assert!(
            matches!(parse("class:toaster"), Err(CiQueryError::BadValue { term, .. }) if term == "class:toaster")
        );
        assert!(matches!(
            parse("package:openssl<"),
            Err(CiQueryError::BadValue { .. })
        ));
        assert!(matches!(
            parse("package:ssl=>1"),
            Err(CiQueryError::BadValue { .. })
        ));
        assert_eq!(
            parse("organization:\"Acme"),
            Err(CiQueryError::UnclosedQuote)
        );
    }
}
