//! `opsdesk import tickets`: another desk's history from a JSONL or CSV file, so that the triage
//! assistant and the search know it from the first day.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use opsdesk_app::tickets::{ImportLine, ImportTicket, LineProblem};
use opsdesk_app::{AppError, Principal};

use crate::{DatabaseArgs, load_config, open_app};

/// Tickets written per transaction: large enough to be fast, small enough that a server
/// sharing the database keeps answering between them.
const CHUNK: usize = 250;

/// Most problems (or things to create) listed before the rest are counted.
const SHOWN_PROBLEMS: usize = 50;

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Import tickets with their conversation, status and dates from a JSONL or CSV file.
    #[command(after_help = "JSONL: one JSON object per line:\n  \
        {\"external_id\",\"type\",\"title\",\"description\",\"category\",\"group\"?,\"priority\"?,\
        \"status\"?,\"resolution_note\"?,\"requester\"?,\"organization\"?,\"created_at\"?,\
        \"resolved_at\"?,\"comments\"?:[{\"body\",\"public\",\"author\"?,\"at\"?}]}\n\
        CSV (a file named *.csv): one ticket a row under a header row of those fields but \
        comments; tags and sent_message_ids space-separated; other columns are named and left \
        out.\n\
        Lines whose external_id was imported before are skipped, so a file can be imported \
        again after fixing it. Imports send no mail, queue no webhooks and start no SLA clocks.\n\
        Example:\n  opsdesk import tickets history.jsonl --dry-run\n  \
        opsdesk import tickets history.jsonl --create-missing")]
    Tickets {
        /// The tickets: one JSON object per line, or a .csv file of one ticket a row.
        file: PathBuf,
        /// Check the file and show what would be imported and created, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Create the categories, groups, organizations and people the file names that do
        /// not exist (people without a password); without it such lines are refused.
        #[arg(long)]
        create_missing: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Import tickets with their correspondence, comments and attachments from Request
    /// Tracker's REST2 API, ending with a reconciliation of the two.
    #[command(
        after_help = "Queues become groups; statuses new/open/stalled/resolved/rejected/\
        deleted become new/open/pending/resolved/cancelled/cancelled; correspondence becomes \
        replies and comments internal notes, with their authors, times, files and Message-IDs; \
        each ticket is tagged rt-<id>. Tickets imported before are skipped. The reconciliation \
        compares counts and a content hash per ticket and exits non-zero when anything is \
        missing.\n\
        Example:\n  opsdesk import rt --url https://rt.example.com --token \"$RT_TOKEN\" \
        --queue General --dry-run"
    )]
    Rt(crate::rt::RtArgs),
    /// Import configuration items from a CSV or JSON file, updating the items their
    /// identifiers find.
    #[command(
        after_help = "CSV: a header row of class,name,organization,owner,location,lifecycle,\
        asset_tag,serial_number,smbios_uuid,hostname,macs,needed,purchased_on,purchase_cost,\
        warranty_ends_on and field:NAME per custom field; macs space-separated; empty cells \
        change nothing. JSON: an array of items as the API takes them, or as \
        `opsdesk export cis --format json` writes them.\n\
        Example:\n  opsdesk import cis laptops.csv --dry-run"
    )]
    Cis {
        /// A .csv or .json file.
        file: PathBuf,
        /// Show what the import would create and change, writing nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

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

/// Reads a ticket file: CSV when its name ends in `.csv`, else JSONL. Lines that are not
/// tickets are reported together, by number.
pub(crate) fn read_lines(path: &Path) -> anyhow::Result<Vec<ImportLine>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let is_csv = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    let (lines, problems) = if is_csv {
        read_csv(file).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        read_jsonl(file).with_context(|| format!("cannot read {}", path.display()))?
    };
    if !problems.is_empty() {
        bail!(
            "{}",
            describe_problems(&path.display().to_string(), "line", &problems)
        );
    }
    Ok(lines)
}

type ReadTickets = (Vec<ImportLine>, Vec<LineProblem>);

fn read_jsonl(file: std::fs::File) -> anyhow::Result<ReadTickets> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (index, text) in std::io::BufReader::new(file).lines().enumerate() {
        let line = index + 1;
        let text = text.with_context(|| format!("line {line}"))?;
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ImportTicket>(&text) {
            Ok(ticket) => lines.push(ImportLine { line, ticket }),
            Err(error) => problems.push(LineProblem {
                line,
                message: format!("not a ticket: {error}"),
            }),
        }
    }
    Ok((lines, problems))
}

/// A CSV of one ticket a row, as most desks export them: a header row names the columns
/// (those of [`CSV_FIELDS`] and [`CSV_LIST_FIELDS`]); an empty cell is an absent field.
/// Other columns are named on standard error and left out, never fatal.
fn read_csv(file: std::fs::File) -> anyhow::Result<ReadTickets> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let header: Vec<String> = reader
        .headers()
        .context("the header row")?
        .iter()
        .map(|name| name.trim().to_lowercase())
        .collect();
    let unknown: Vec<&str> = header
        .iter()
        .map(String::as_str)
        .filter(|name| !CSV_FIELDS.contains(name) && !CSV_LIST_FIELDS.contains(name))
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "columns left out (not ticket fields): {}",
            unknown.join(", ")
        );
    }
    let mut lines = Vec::new();
    let mut problems = Vec::new();
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
            Ok(ticket) => lines.push(ImportLine { line, ticket }),
            Err(error) => problems.push(LineProblem {
                line,
                message: format!("not a ticket: {error}"),
            }),
        }
    }
    Ok((lines, problems))
}

/// The problems of `source`'s tickets, each named by its `item` (a line, a ticket).
fn describe_problems(source: &str, item: &str, problems: &[LineProblem]) -> String {
    let mut text = format!(
        "{source} has {} {item}(s) that cannot be imported; nothing was written:",
        problems.len()
    );
    for problem in problems.iter().take(SHOWN_PROBLEMS) {
        text.push_str(&format!("\n  {item} {}: {}", problem.line, problem.message));
    }
    if problems.len() > SHOWN_PROBLEMS {
        text.push_str(&format!(
            "\n  … and {} more",
            problems.len() - SHOWN_PROBLEMS
        ));
    }
    text
}

/// An error as the importer reads it: invalid fields are named with their line.
fn explain(error: AppError) -> anyhow::Error {
    crate::explain_fields(error, "", "\n")
}

pub(crate) async fn run(command: ImportCommand) -> anyhow::Result<()> {
    let (file, dry_run, create_missing, database) = match command {
        ImportCommand::Tickets {
            file,
            dry_run,
            create_missing,
            database,
        } => (file, dry_run, create_missing, database),
        ImportCommand::Cis {
            file,
            dry_run,
            database,
        } => return crate::cis::import(&file, dry_run, &database).await,
        ImportCommand::Rt(args) => return crate::rt::import(args).await,
    };
    let lines = read_lines(&file)?;
    let app = open_app(&load_config(&database, None)?).await?;
    let source = file.display().to_string();
    let written = import_lines(&app, &source, "line", lines, dry_run, create_missing).await;
    app.db().clone().close().await;
    if written? > 0 {
        println!(
            "the triage assistant learns from them at its next training (Admin → Triage → Train now)"
        );
    }
    Ok(())
}

/// Plans, checks and imports `lines` from `source` (whose tickets are each an `item`):
/// prints what is imported before and what is created, refuses problems before writing
/// anything, then writes in chunks with a progress bar. Returns how many were imported
/// (none on a dry run).
pub(crate) async fn import_lines(
    app: &opsdesk_app::App,
    source: &str,
    item: &str,
    lines: Vec<ImportLine>,
    dry_run: bool,
    create_missing: bool,
) -> anyhow::Result<usize> {
    let importer = Principal::system("import");
    let plan = app.plan_import(&importer, &lines).await.map_err(explain)?;
    let mut problems = plan.problems.clone();
    if !create_missing {
        problems.extend(
            plan.missing
                .iter()
                .filter(|m| m.named())
                .map(|missing| LineProblem {
                    line: missing.line(),
                    message: format!("{missing} does not exist (--create-missing creates it)"),
                }),
        );
    }
    problems.sort_by_key(|p| p.line);
    let to_import = plan.tickets - plan.already_imported;
    println!(
        "{source}: {} tickets, {} imported before, {to_import} to import",
        plan.tickets, plan.already_imported
    );
    let created: Vec<_> = plan
        .missing
        .iter()
        .filter(|m| create_missing || !m.named())
        .collect();
    if !created.is_empty() {
        let verb = if dry_run { "would create" } else { "creates" };
        println!("the import {verb}:");
        for missing in created.iter().take(SHOWN_PROBLEMS) {
            println!("  {missing} (first on {item} {})", missing.line());
        }
        if created.len() > SHOWN_PROBLEMS {
            println!("  … and {} more", created.len() - SHOWN_PROBLEMS);
        }
    }
    if !problems.is_empty() {
        bail!("{}", describe_problems(source, item, &problems));
    }
    if dry_run {
        println!("dry run: nothing was written");
        return Ok(0);
    }
    app.create_missing(&importer, &plan.missing)
        .await
        .map_err(explain)?;
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(lines.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tickets, {per_sec}, {eta} left",
        )
        .context("progress bar template")?,
    );
    let mut imported = 0;
    let mut rest = lines;
    while !rest.is_empty() {
        let chunk: Vec<ImportLine> = rest.drain(..rest.len().min(CHUNK)).collect();
        let size = chunk.len() as u64;
        imported += app
            .import_tickets(&importer, chunk)
            .await
            .map_err(explain)?;
        progress.inc(size);
    }
    progress.finish_and_clear();
    println!(
        "imported {imported} tickets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(imported)
}
