//! `opsdesk import cis` and `opsdesk export cis`: configuration items from and to CSV or
//! JSON files, found by the same identifiers as agents' reports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use opsdesk_app::Principal;
use opsdesk_app::cmdb::{ImportOutcome, TransferFormat};

use crate::{DatabaseArgs, explain, load_config, open_app};

/// Refused rows listed before the rest are counted.
const SHOWN_PROBLEMS: usize = 50;

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Write configuration items to a CSV or JSON file that `opsdesk import cis` reads back.
    #[command(after_help = "Example:\n  \
        opsdesk export cis --q 'class:laptop organization:Acme' --output acme-laptops.csv")]
    Cis {
        /// A search in the CMDB language; every item when absent.
        #[arg(long, default_value = "")]
        q: String,
        /// csv or json [default: the output file's extension, else csv].
        #[arg(long)]
        format: Option<String>,
        /// The file to write; standard output when absent.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn format_of(path: &Path) -> anyhow::Result<TransferFormat> {
    TransferFormat::of_file_name(&path.to_string_lossy())
        .with_context(|| format!("{}: the name must end in .csv or .json", path.display()))
}

/// Imports the items of `file`, a chunk per transaction, with a progress bar.
pub(crate) async fn import(
    file: &Path,
    dry_run: bool,
    database: &DatabaseArgs,
) -> anyhow::Result<()> {
    let format = format_of(file)?;
    let content = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = opsdesk_app::cmdb::read_rows(format, content)
        .await
        .map_err(|e| crate::explain_fields(e, "", "\n"))
        .with_context(|| format!("{} cannot be imported; nothing was written", file.display()))?;
    let app = open_app(&load_config(database, None)?).await?;
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(rows.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} items, {per_sec}, {eta} left",
        )
        .context("progress bar template")?,
    );
    let bar = progress.clone();
    let report = app
        .import_cis_with_progress(
            &Principal::system("import"),
            rows,
            dry_run,
            Arc::new(move |done| bar.set_position(done as u64)),
        )
        .await;
    progress.finish_and_clear();
    app.db().clone().close().await;
    let report = report.map_err(explain)?;
    let verb = if dry_run { "would be" } else { "were" };
    println!(
        "{}: {} rows in {:.1} s; {} {verb} created, {} {verb} updated, {} unchanged, {} refused",
        file.display(),
        report.rows.len(),
        started.elapsed().as_secs_f64(),
        report.created,
        report.updated,
        report.unchanged,
        report.errors
    );
    let refused = report
        .rows
        .iter()
        .filter(|r| r.outcome == ImportOutcome::Error);
    for row in refused.take(SHOWN_PROBLEMS) {
        for error in &row.errors {
            println!("  {}: {}", error.field, error.message);
        }
    }
    if report.errors > SHOWN_PROBLEMS {
        println!("  … and {} more rows", report.errors - SHOWN_PROBLEMS);
    }
    if dry_run {
        println!("dry run: nothing was written");
    }
    if report.errors > 0 {
        bail!(
            "{} rows were refused; fix them and import the file again",
            report.errors
        );
    }
    Ok(())
}

pub(crate) async fn export(command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Cis {
        q,
        format,
        output,
        database,
    } = command;
    let format = match (&format, &output) {
        (Some(name), _) => name.parse().map_err(explain)?,
        (None, Some(path)) => format_of(path)?,
        (None, None) => TransferFormat::Csv,
    };
    let app = open_app(&load_config(&database, None)?).await?;
    let cis = app.export_cis(&Principal::system("export"), &q).await;
    app.db().clone().close().await;
    let cis = cis.map_err(explain)?;
    let content = match format {
        TransferFormat::Csv => opsdesk_app::cmdb::cis_to_csv(&cis).map_err(explain)?,
        TransferFormat::Json => serde_json::to_string_pretty(&cis)? + "\n",
    };
    match &output {
        Some(path) => {
            std::fs::write(path, content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{} items written to {}", cis.len(), path.display());
        }
        None => std::io::stdout().write_all(content.as_bytes())?,
    }
    Ok(())
}
