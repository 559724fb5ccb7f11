//! A ticket file as desks export them: JSONL (one JSON object a line) or CSV (one ticket a
//! row under a header row), read into the lines an import plans and writes.

use std::io::BufRead;

use super::{ImportLine, ImportTicket, LineProblem};

/// The columns a ticket CSV may have: the JSONL fields that hold one value, and two that
/// hold several, separated by spaces.
const CSV_FIELDS: [&str; 15] = [
    "external_id",
    "type",
    "title",
    "description",
    "category",
    "group",
    "priority",
    "status",
    "resolution_code",
    "resolution_note",
    "requester",
    "organization",
    "created_at",
    "resolved_at",
    "message_id",
];
const CSV_LIST_FIELDS: [&str; 2] = ["tags", "sent_message_ids"];

/// What a ticket file holds: its tickets, the lines that are not tickets, and (CSV) the
/// columns that are not ticket fields, which are left out.
#[derive(Debug, Default)]
pub struct TicketFile {
    pub lines: Vec<ImportLine>,
    pub problems: Vec<LineProblem>,
    pub unknown_columns: Vec<String>,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum TicketFileError {
    #[error("line {line}: {source}")]
    Line { line: usize, source: std::io::Error },
    #[error(transparent)]
    Csv(#[from] csv::Error),
}

/// Whether a file of this name is read as CSV (`*.csv`); anything else is JSONL.
pub fn is_csv_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".csv")
}

/// Reads a ticket file, CSV when `csv`, else JSONL.
pub fn read_ticket_file(
    content: impl std::io::Read,
    csv: bool,
) -> Result<TicketFile, TicketFileError> {
    if csv {
        read_csv(content)
    } else {
        read_jsonl(content)
    }
}

fn read_jsonl(content: impl std::io::Read) -> Result<TicketFile, TicketFileError> {
    let mut file = TicketFile::default();
    for (index, text) in std::io::BufReader::new(content).lines().enumerate() {
        let line = index + 1;
        let text = text.map_err(|source| TicketFileError::Line { line, source })?;
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ImportTicket>(&text) {
            Ok(ticket) => file.lines.push(ImportLine { line, ticket }),
            Err(error) => file.problems.push(LineProblem {
                line,
                message: format!("not a ticket: {error}"),
            }),
        }
    }
    Ok(file)
}

/// A CSV of one ticket a row: a header row names the columns (those of [`CSV_FIELDS`] and
/// [`CSV_LIST_FIELDS`]); an empty cell is an absent field. Other columns are left out,
/// never fatal.
fn read_csv(content: impl std::io::Read) -> Result<TicketFile, TicketFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(content);
    let header: Vec<String> = reader
        .headers()?
        .iter()
        .map(|name| name.trim().to_lowercase())
        .collect();
    let mut file = TicketFile {
        unknown_columns: header
            .iter()
            .filter(|name| {
                !CSV_FIELDS.contains(&name.as_str()) && !CSV_LIST_FIELDS.contains(&name.as_str())
            })
            .cloned()
            .collect(),
        ..TicketFile::default()
    };
    for record in reader.records() {
        let record = record?;
        let line = record
            .position()
            .map_or(0, |at| usize::try_from(at.line()).unwrap_or(usize::MAX));
        let mut fields = serde_json::Map::new();
        for (name, cell) in header.iter().zip(record.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            if CSV_LIST_FIELDS.contains(&name.as_str()) {
                let values = cell.split_whitespace().map(serde_json::Value::from);
                fields.insert(name.clone(), values.collect());
            } else if CSV_FIELDS.contains(&name.as_str()) {
                fields.insert(name.clone(), cell.into());
            }
        }
        match serde_json::from_value::<ImportTicket>(fields.into()) {
            Ok(ticket) => file.lines.push(ImportLine { line, ticket }),
            Err(error) => file.problems.push(LineProblem {
                line,
                message: format!("not a ticket: {error}"),
            }),
        }
    }
    Ok(file)
}
