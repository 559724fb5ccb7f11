//! opsdesk's domain: the types and rules of IT service management, free of I/O.
//!
//! Nothing here touches a database, a clock or a random source: callers pass `now` and
//! randomness in, which keeps every rule deterministic and property-testable.

pub mod account;
pub mod agent_work;
pub mod alert;
pub mod audit;
pub mod automation;
pub mod change;
pub mod cmdb;
pub mod diagnostics;
pub mod directory;
pub mod escalation;
pub mod ical;
pub mod inventory;
pub mod knowledge;
pub mod monitor;
pub mod network;
pub mod oidc;
pub mod oncall;
pub mod page_rules;
pub mod query;
pub mod schedule;
pub mod scim;
pub mod security;
pub mod silence;
pub mod sla;
pub mod ticket;
pub mod triage;

pub use ticket::ParseValueError;

#[doc(hidden)]
pub use serde as __serde;

/// Declares a closed set of names with `FromStr`, `Display` and serde as strings: one table
/// of names per type, for the domain and every layer above it.
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The canonical name of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ParseValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| $crate::ParseValueError {
                        what: $what,
                        value: s.to_owned(),
                        expected: $name::NAMES,
                    })
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as $crate::__serde::Deserialize>::deserialize(d)?;
                s.parse().map_err($crate::__serde::de::Error::custom)
            }
        }
    };
}
