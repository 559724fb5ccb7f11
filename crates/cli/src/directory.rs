//! `opsdesk directory sync`: brings the desk's accounts in step with the LDAP and Active
//! Directory directories now, with a progress bar, or only lists what would change.

use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use opsdesk_app::Principal;
use opsdesk_app::ldap::sync::{SyncProgress, SyncReport};

use crate::{DatabaseArgs, explain, load_config, open_app};

/// Most changes of each kind listed by a dry run before the rest are counted.
const SHOWN: usize = 50;

#[derive(Debug, Subcommand)]
pub(crate) enum DirectoryCommand {
    /// Sync every active directory, or one: new people get accounts, changed ones are
    /// updated, disabled or vanished ones are deactivated with their sessions and tokens
    /// revoked, and mapped directory groups fill support groups.
    #[command(after_help = "Examples:\n  \
        opsdesk directory sync --dry-run        # list what would change, write nothing\n  \
        opsdesk directory sync --directory 2")]
    Sync {
        /// The directory's id (see /admin/directories); all active ones when absent.
        #[arg(long, value_name = "ID")]
        directory: Option<i64>,
        /// List what would change, writing nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// A progress bar that counts people read, then changes written.
struct Bar(ProgressBar);

impl SyncProgress for Bar {
    fn read(&self, people: usize) {
        self.0
            .set_message(format!("reading the directory: {people} people"));
        self.0.tick();
    }

    fn planned(&self, changes: usize) {
        self.0.set_length(changes as u64);
        self.0.set_position(0);
        self.0.set_message("writing changes".to_owned());
    }

    fn written(&self, changes: usize) {
        self.0.set_position(changes as u64);
    }
}

pub(crate) async fn run(command: DirectoryCommand) -> anyhow::Result<()> {
    let DirectoryCommand::Sync {
        directory,
        dry_run,
        database,
    } = command;
    let config = load_config(&database, None)?;
    let app = open_app(&config).await?;
    let principal = Principal::system("opsdesk directory sync");
    let ids: Vec<i64> = match directory {
        Some(id) => vec![id],
        None => app
            .directories(&principal)
            .await
            .map_err(explain)?
            .into_iter()
            .filter(|d| d.active)
            .map(|d| d.id)
            .collect(),
    };
    if ids.is_empty() {
        println!("no active directories; add one at /admin/directories");
    }
    for id in ids {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({elapsed})")
                .context("progress bar template")?,
        );
        let started = Instant::now();
        let report = app
            .sync_directory(&principal, id, dry_run, &Bar(bar.clone()))
            .await
            .map_err(explain)
            .with_context(|| format!("directory {id}"));
        bar.finish_and_clear();
        let report = report?;
        print_report(&report, started.elapsed());
    }
    app.db().clone().close().await;
    Ok(())
}

fn print_report(report: &SyncReport, took: std::time::Duration) {
    let s = &report.summary;
    println!(
        "directory {}: {} people and {} groups read in {:.1} s; {} {} created, {} updated, \
         {} deactivated, {} group changes, {} left alone",
        report.directory_id,
        report.people,
        report.groups,
        took.as_secs_f64(),
        if report.dry_run { "would be" } else { "were" },
        s.created,
        s.updated,
        s.disabled,
        s.group_changes,
        s.skipped,
    );
    if !report.dry_run {
        return;
    }
    let plan = &report.changes;
    for account in plan.create.iter().take(SHOWN) {
        println!(
            "  create  {} ({}, {})",
            account.email, account.name, account.role
        );
    }
    for change in plan.update.iter().take(SHOWN) {
        let mut what = Vec::new();
        if change.link.is_some() {
            what.push("link".to_owned());
        }
        if let Some(email) = &change.new_email {
            what.push(format!("e-mail {email}"));
        }
        if let Some(name) = &change.new_name {
            what.push(format!("name {name}"));
        }
        if let Some(role) = change.new_role {
            what.push(format!("role {role}"));
        }
        if change.reactivate {
            what.push("reactivate".to_owned());
        }
        println!("  update  {}: {}", change.email, what.join(", "));
    }
    for deactivation in plan.disable.iter().take(SHOWN) {
        println!("  disable {} ({})", deactivation.email, deactivation.reason);
    }
    for change in plan.groups.iter().take(SHOWN) {
        println!(
            "  group   {} {} {}",
            if change.add { "+" } else { "-" },
            change.email,
            change.support_group
        );
    }
    for skipped in plan.skipped.iter().take(SHOWN) {
        println!("  skip    {}: {}", skipped.dn, skipped.reason);
    }
}
