//! Priority: ITIL impact and urgency, and the validated matrix that maps them to `P1`..`P5`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ParseValueError;
use crate::string_enum;

string_enum! {
    /// How much of the business an issue affects (ITIL impact).
    pub enum Impact as "impact" {
        /// Many users, a whole site or a critical service.
        High => "high",
        /// A team or a department.
        Medium => "medium",
        /// One user.
        Low => "low",
    }
}

string_enum! {
    /// How soon the business needs the issue handled (ITIL urgency).
    pub enum Urgency as "urgency" {
        /// Work is stopped now.
        High => "high",
        /// Work is hampered.
        Medium => "medium",
        /// Work can continue.
        Low => "low",
    }
}

string_enum! {
    /// Ticket priority; `P1` is the most urgent. `Ord` sorts `P1` first.
    pub enum Priority as "priority" {
        /// Critical.
        P1 => "P1",
        /// High.
        P2 => "P2",
        /// Medium.
        P3 => "P3",
        /// Low.
        P4 => "P4",
        /// Planning.
        P5 => "P5",
    }
}

impl Priority {
    /// The number in the name: 1 for `P1` up to 5 for `P5`.
    pub const fn rank(self) -> u8 {
        match self {
            Priority::P1 => 1,
            Priority::P2 => 2,
            Priority::P3 => 3,
            Priority::P4 => 4,
            Priority::P5 => 5,
        }
    }
}

const fn impact_index(impact: Impact) -> usize {
    match impact {
        Impact::High => 0,
        Impact::Medium => 1,
        Impact::Low => 2,
    }
}

const fn urgency_index(urgency: Urgency) -> usize {
    match urgency {
        Urgency::High => 0,
        Urgency::Medium => 1,
        Urgency::Low => 2,
    }
}

/// Why a priority matrix was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriorityMatrixError {
    /// A key is not `impact/urgency`.
    #[error("unknown cell `{0}`; cells are named impact/urgency, e.g. `high/medium`")]
    UnknownCell(String),
    /// A cell's value is not a priority.
    #[error("cell `{cell}`: {source}")]
    InvalidPriority {
        /// The cell, as written.
        cell: String,
        /// The parse failure.
        source: ParseValueError,
    },
    /// Two keys name the same cell (they differ only in case).
    #[error("cell `{0}` is given more than once")]
    DuplicateCell(String),
    /// Some of the nine cells are absent; a partial table would leave priorities undefined.
    #[error("missing cells: {}", .0.join(", "))]
    MissingCells(Vec<String>),
    /// Raising impact or urgency lowered the priority, which would rank a worse outage
    /// below a lesser one.
    #[error(
        "`{more_severe}` is {more_severe_priority} but the less severe `{less_severe}` is \
         {less_severe_priority}; raising impact or urgency must never lower the priority"
    )]
    NotMonotonic {
        /// The cell with the higher impact or urgency.
        more_severe: String,
        /// Its priority.
        more_severe_priority: Priority,
        /// The neighbouring cell with lower impact or urgency.
        less_severe: String,
        /// Its priority, which is more urgent than it should be.
        less_severe_priority: Priority,
    },
}

/// Maps impact and urgency to a priority: a validated 3x3 table.
///
/// `Default` is the ITIL table (high/high = P1 … low/low = P5). Deployments may override
/// it; every table must define all nine cells and must never give a more severe cell a
/// less urgent priority. In JSON it is an object keyed `"impact/urgency"`, e.g.
/// `{"high/medium": "P2", …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, Priority>"
)]
pub struct PriorityMatrix {
    /// Indexed `[impact][urgency]`, high first.
    cells: [[Priority; 3]; 3],
}

impl PriorityMatrix {
    /// The ITIL default table.
    pub const ITIL: PriorityMatrix = PriorityMatrix {
        cells: [
            [Priority::P1, Priority::P2, Priority::P3],
            [Priority::P2, Priority::P3, Priority::P4],
            [Priority::P3, Priority::P4, Priority::P5],
        ],
    };

    /// Builds a table from `cells[impact][urgency]` (index 0 = high, 2 = low).
    pub fn new(cells: [[Priority; 3]; 3]) -> Result<Self, PriorityMatrixError> {
        let matrix = PriorityMatrix { cells };
        matrix.check_monotonic()?;
        Ok(matrix)
    }

    /// The priority for this impact and urgency.
    pub const fn priority(&self, impact: Impact, urgency: Urgency) -> Priority {
        self.cells[impact_index(impact)][urgency_index(urgency)]
    }

    fn cell_name(impact: Impact, urgency: Urgency) -> String {
        format!("{impact}/{urgency}")
    }

    fn check_monotonic(&self) -> Result<(), PriorityMatrixError> {
        let levels = [Impact::High, Impact::Medium, Impact::Low];
        let urgencies = [Urgency::High, Urgency::Medium, Urgency::Low];
        for (i, &impact) in levels.iter().enumerate() {
            for (u, &urgency) in urgencies.iter().enumerate() {
                let here = self.cells[i][u];
                // Compare with the next less severe neighbour in each direction.
                let neighbours = [
                    levels.get(i + 1).map(|&lower| (lower, urgency)),
                    urgencies.get(u + 1).map(|&lower| (impact, lower)),
                ];
                for (lower_impact, lower_urgency) in neighbours.into_iter().flatten() {
                    let there = self.priority(lower_impact, lower_urgency);
                    if there < here {
                        return Err(PriorityMatrixError::NotMonotonic {
                            more_severe: Self::cell_name(impact, urgency),
                            more_severe_priority: here,
                            less_severe: Self::cell_name(lower_impact, lower_urgency),
                            less_severe_priority: there,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

impl Default for PriorityMatrix {
    fn default() -> Self {
        PriorityMatrix::ITIL
    }
}

impl TryFrom<BTreeMap<String, String>> for PriorityMatrix {
    type Error = PriorityMatrixError;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        let mut cells: [[Option<Priority>; 3]; 3] = [[None; 3]; 3];
        for (key, value) in &map {
            let (impact, urgency) = key
                .split_once('/')
                .and_then(|(i, u)| Some((i.trim().parse().ok()?, u.trim().parse().ok()?)))
                .ok_or_else(|| PriorityMatrixError::UnknownCell(key.clone()))?;
            let priority: Priority =
                value
                    .parse()
                    .map_err(|source| PriorityMatrixError::InvalidPriority {
                        cell: key.clone(),
                        source,
                    })?;
            let slot = &mut cells[impact_index(impact)][urgency_index(urgency)];
            if slot.is_some() {
                return Err(PriorityMatrixError::DuplicateCell(Self::cell_name(
                    impact, urgency,
                )));
            }
            *slot = Some(priority);
        }
        let mut missing = Vec::new();
        let mut table = [[Priority::P3; 3]; 3];
        for &impact in Impact::ALL {
            for &urgency in Urgency::ALL {
                match cells[impact_index(impact)][urgency_index(urgency)] {
                    Some(p) => table[impact_index(impact)][urgency_index(urgency)] = p,
                    None => missing.push(Self::cell_name(impact, urgency)),
                }
            }
        }
        if !missing.is_empty() {
            return Err(PriorityMatrixError::MissingCells(missing));
        }
        PriorityMatrix::new(table)
    }
}

impl From<PriorityMatrix> for BTreeMap<String, Priority> {
    fn from(matrix: PriorityMatrix) -> Self {
        let mut map = BTreeMap::new();
        for &impact in Impact::ALL {
            for &urgency in Urgency::ALL {
                map.insert(
                    PriorityMatrix::cell_name(impact, urgency),
                    matrix.priority(impact, urgency),
                );
            }
        }
        map
    }
}
