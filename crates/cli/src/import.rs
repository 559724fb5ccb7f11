//! `opsdesk import tickets`: another desk's history from a JSONL or CSV file, so that the triage
//! assistant and the search know it from the first day.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use opsdesk_app::tickets::{ImportLine, LineProblem, is_csv_name, read_ticket_file};
use opsdesk_app::{AppError, Principal};

use crate::{DatabaseArgs, load_config, open_app};

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

/// Reads a ticket file: CSV when its name ends in `.csv`, else JSONL. Lines that are not
/// tickets are reported together, by number; columns that are not ticket fields are named
/// on standard error and left out.
pub(crate) fn read_lines(path: &Path) -> anyhow::Result<Vec<ImportLine>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let csv = is_csv_name(&path.display().to_string());
    let read =
        read_ticket_file(file, csv).with_context(|| format!("cannot read {}", path.display()))?;
    if !read.unknown_columns.is_empty() {
        eprintln!(
            "columns left out (not ticket fields): {}",
            read.unknown_columns.join(", ")
        );
    }
    if !read.problems.is_empty() {
        bail!(
            "{}",
            describe_problems(&path.display().to_string(), "line", &read.problems)
        );
    }
    Ok(read.lines)
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
    let problems = plan.refusals(create_missing, "--create-missing creates it");
    println!(
        "{source}: {} tickets, {} imported before, {} to import",
        plan.tickets,
        plan.already_imported,
        plan.to_import()
    );
    let created = plan.to_create(create_missing);
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
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(lines.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tickets, {per_sec}, {eta} left",
        )
        .context("progress bar template")?,
    );
    let imported = app
        .write_import(&importer, &plan, lines, |size| progress.inc(size as u64))
        .await
        .map_err(explain)?;
    progress.finish_and_clear();
    println!(
        "imported {imported} tickets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(imported)
}
