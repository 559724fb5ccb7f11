//! `opsdesk restore DIR --ticket NUMBER`: one deleted ticket, with its conversation and files,
//! read from a backup set (up to `--at` when its log was copied) and written back into the
//! live desk, which may keep serving meanwhile.

use opsdesk_app::Principal;
use opsdesk_app::tickets::read_backup_ticket;

use super::*;
use crate::config::Config;

/// A backup set to read from: its manifest, its database file and the log to replay onto it.
pub struct Source<'a> {
    pub manifest: &'a Manifest,
    pub file: &'a Path,
    pub log: Option<&'a LogReplay>,
}

/// Brings ticket `reference` (`INC-42`) back from `from` into the desk `config` names.
pub async fn restore(from: &Source<'_>, reference: &str, config: &Config) -> anyhow::Result<()> {
    let rows = read(from, reference, config).await?;
    let app = crate::open_app(config).await?;
    let restored = app
        .restore_ticket(&Principal::system("opsdesk restore --ticket"), rows.clone())
        .await;
    app.db().clone().close().await;
    let ticket =
        restored.map_err(|error| anyhow::anyhow!("{reference} was not brought back: {error}"))?;
    let counts = rows.counts();
    println!(
        "brought {} \"{}\" back from the backup of {}: {} rows in {} tables",
        ticket.number,
        ticket.title,
        from.manifest.created_at,
        counts.values().sum::<usize>(),
        counts.len()
    );
    Ok(())
}

/// Reads the ticket from a temporary copy of the set's database.
async fn read(
    from: &Source<'_>,
    reference: &str,
    config: &Config,
) -> anyhow::Result<opsdesk_store::backup::TicketRows> {
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let (mut source, scratch_db) = match from.manifest.source.as_str() {
        "sqlite" => {
            let copy = scratch.path().join(SQLITE_FILE);
            std::fs::copy(from.file, &copy).context("cannot copy the backup")?;
            if let Some(log) = from.log {
                log.replay_onto(&copy).await?;
            }
            (store::open_sqlite_file(&copy).await?, None)
        }
        _ => {
            let Some(url) = config.database_url.as_deref() else {
                bail!("a PostgreSQL backup is read on a PostgreSQL server: give --database-url");
            };
            let scratch_db = ScratchDatabase::create(url).await?;
            pg_restore(from.file, &scratch_db.url, false).await?;
            (store::connect(&scratch_db.url).await?, Some(scratch_db))
        }
    };
    let rows = read_backup_ticket(&mut source, reference).await;
    store::close_file(source).await?;
    if let Some(scratch_db) = scratch_db {
        scratch_db.drop_it().await?;
    }
    rows.map_err(|error| match error {
        opsdesk_app::AppError::NotFound(_) => anyhow::anyhow!(
            "{reference} is not in the backup of {}",
            from.manifest.created_at
        ),
        error => anyhow::anyhow!("{error}"),
    })
}
