//! `opsdesk vuln import`: security advisories from an offline OSV feed, matched against
//! the packages the host agents report.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use opsdesk_app::Principal;
use opsdesk_domain::cmdb::vulnerability::{self as osv, Advisory, Severity};

use crate::{DatabaseArgs, explain, load_config, open_app};

/// Advisories written per transaction.
const CHUNK: usize = 200;
/// Unreadable records listed before the rest are counted.
const SHOWN_PROBLEMS: usize = 10;
/// The largest feed file read, or file of a zip archive (the Debian feed's are far smaller).
const LARGEST_FILE: u64 = 512 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub(crate) enum VulnCommand {
    /// Import security advisories from an OSV feed and match them against installed packages.
    #[command(
        after_help = "FILE is one OSV record (.json), a JSON array of records, a folder \
        of such files, or a zip archive of them — the Debian feed as OSV serves it:\n  \
        curl -O https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip\n  \
        opsdesk vuln import all.zip --open-incidents critical --requester secops@example.com\n\
        Records imported before with the same `modified` are skipped, so the same feed can be \
        imported again; every machine's findings are then recomputed."
    )]
    Import {
        /// An OSV JSON file, a folder of them, or a zip archive of them.
        file: PathBuf,
        /// Open one incident per machine for its findings of at least this severity
        /// (critical, high, medium, low) that no incident was opened for yet.
        #[arg(long, value_name = "SEVERITY", requires = "requester")]
        open_incidents: Option<String>,
        /// The e-mail address of the user the incidents are requested by.
        #[arg(long, value_name = "EMAIL")]
        requester: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Whether `path` is a zip archive (as OSV serves each ecosystem's feed: `all.zip`).
fn is_zip(path: &Path) -> anyhow::Result<bool> {
    if !path.is_file() {
        return Ok(false);
    }
    let mut magic = [0_u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let read = file.read(&mut magic).unwrap_or(0);
    Ok(read == 4 && magic == *b"PK\x03\x04")
}

/// The JSON files to read: `path` itself, or the `.json` files of the folder `path`.
fn feed_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
    {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        let file = entry.path();
        if file.is_file()
            && file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            files.push(file);
        }
    }
    if files.is_empty() {
        bail!("{} holds no .json files", path.display());
    }
    files.sort();
    Ok(files)
}

/// The records read from a feed: advisories, how many were withdrawn, and the records
/// that are not advisories, described.
#[derive(Default)]
struct Feed {
    advisories: Vec<Advisory>,
    withdrawn: usize,
    problems: Vec<String>,
}

impl Feed {
    /// Reads the JSON `text` of the file `name`: one record or an array of them. A file that
    /// is not JSON stops the import.
    fn add(&mut self, name: &str, text: &str) -> anyhow::Result<()> {
        let value: serde_json::Value =
            serde_json::from_str(text).with_context(|| format!("{name} is not JSON"))?;
        let records = match value {
            serde_json::Value::Array(records) => records,
            record => vec![record],
        };
        for (index, record) in records.into_iter().enumerate() {
            match osv::from_osv(record) {
                Ok(Some(advisory)) => self.advisories.push(advisory),
                Ok(None) => self.withdrawn += 1,
                Err(error) => self
                    .problems
                    .push(format!("{name} record {}: {error}", index + 1)),
            }
        }
        Ok(())
    }
}

/// Reads every record of the feed at `path`: a JSON file, a folder of them, or a zip
/// archive of them, read as it is.
fn read_feed(path: &Path) -> anyhow::Result<Feed> {
    let mut feed = Feed::default();
    if is_zip(path)? {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut archive = zip::ZipArchive::new(file)
            .with_context(|| format!("{} is not a zip archive opsdesk can read", path.display()))?;
        for index in 0..archive.len() {
            let mut entry = archive
                .by_index(index)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if !entry.is_file() || !entry.name().to_ascii_lowercase().ends_with(".json") {
                continue;
            }
            let name = format!("{}:{}", path.display(), entry.name());
            if entry.size() > LARGEST_FILE {
                bail!("{name} is larger than {} MiB", LARGEST_FILE / 1024 / 1024);
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read {name}"))?;
            feed.add(&name, &text)?;
        }
        return Ok(feed);
    }
    for file in feed_files(path)? {
        let size = std::fs::metadata(&file)
            .with_context(|| format!("cannot open {}", file.display()))?
            .len();
        if size > LARGEST_FILE {
            bail!(
                "{} is larger than {} MiB",
                file.display(),
                LARGEST_FILE / 1024 / 1024
            );
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        feed.add(&file.display().to_string(), &text)?;
    }
    Ok(feed)
}

pub(crate) async fn run(command: VulnCommand) -> anyhow::Result<()> {
    let VulnCommand::Import {
        file,
        open_incidents,
        requester,
        database,
    } = command;
    let at_least = open_incidents
        .map(|s| {
            s.parse::<Severity>()
                .ok()
                .filter(|s| *s != Severity::Unknown)
                .with_context(|| {
                    format!("--open-incidents: `{s}` is not a severity; use critical, high, medium or low")
                })
        })
        .transpose()?;
    let path = file.clone();
    let Feed {
        advisories,
        withdrawn,
        problems,
    } = tokio::task::spawn_blocking(move || read_feed(&path))
        .await
        .context("reading the feed stopped")??;
    if !problems.is_empty() {
        eprintln!(
            "{} record(s) could not be read and were left out:",
            problems.len()
        );
        for problem in problems.iter().take(SHOWN_PROBLEMS) {
            eprintln!("  {problem}");
        }
        if problems.len() > SHOWN_PROBLEMS {
            eprintln!("  … and {} more", problems.len() - SHOWN_PROBLEMS);
        }
    }
    if advisories.is_empty() && withdrawn == 0 {
        bail!("{} holds no OSV record opsdesk can read", file.display());
    }
    let app = open_app(&load_config(&database, None)?).await?;
    let importer = Principal::system("vuln-import");
    if let Some(requester) = &requester {
        app.check_incident_requester(requester)
            .await
            .map_err(explain)?;
    }
    let progress = indicatif::ProgressBar::new(advisories.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} advisories, {eta} left")
            .context("progress bar template")?,
    );
    let mut total = opsdesk_app::cmdb::AdvisoryImport::default();
    let mut rest = advisories;
    let read = rest.len();
    while !rest.is_empty() {
        let chunk: Vec<Advisory> = rest.drain(..rest.len().min(CHUNK)).collect();
        let size = chunk.len() as u64;
        let counts = app
            .import_advisories(&importer, chunk)
            .await
            .map_err(explain)?;
        total.new += counts.new;
        total.updated += counts.updated;
        total.unchanged += counts.unchanged;
        total.skipped += counts.skipped;
        progress.inc(size);
    }
    progress.finish_and_clear();
    println!(
        "{}: {read} advisories read ({withdrawn} withdrawn left out): {} new, {} updated, {} unchanged, {} about packages no machine here has",
        file.display(),
        total.new,
        total.updated,
        total.unchanged,
        total.skipped
    );
    let refreshed = app
        .refresh_vulnerabilities(&importer)
        .await
        .map_err(explain)?;
    println!(
        "findings: {} on {} of {} machines ({} new)",
        refreshed.findings, refreshed.vulnerable_hosts, refreshed.hosts, refreshed.new
    );
    if let (Some(at_least), Some(requester)) = (at_least, requester) {
        let opened = app
            .open_vulnerability_incidents(&importer, at_least, &requester)
            .await
            .map_err(explain)?;
        if opened.is_empty() {
            println!("incidents opened: none (no {at_least} finding without one)");
        } else {
            println!("incidents opened: {} ({})", opened.len(), opened.join(", "));
        }
    }
    app.db().clone().close().await;
    Ok(())
}
