//! Backup sets as they lie in a folder: the manifest `opsdesk backup` writes last into each
//! set, and what the admin's backup page shows of the server's scheduled sets — when each was
//! taken, how big it is, and how far the log copied beside it reaches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use opsdesk_store::log_shipping;
use serde::{Deserialize, Serialize};

use crate::{App, AppError, Principal};

/// The manifest's format, which `opsdesk restore` checks before reading a set.
pub const FORMAT: &str = "opsdesk-backup/1";
/// The manifest's file name in a set.
pub const MANIFEST: &str = "manifest.json";
/// The folder of a set that holds the log copied beside it.
pub const LOG_FOLDER: &str = "wal";

/// What a backup set holds, written last so a set without one is known to be incomplete.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub opsdesk_version: String,
    pub created_at: Timestamp,
    pub source: String,
    pub schema_version: i64,
    pub file: FileEntry,
    pub tables: BTreeMap<String, TableEntry>,
    pub attachments: AttachmentsEntry,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TableEntry {
    pub rows: u64,
    /// The rows' digest; an SQLite snapshot needs none, its file's hash covers every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AttachmentsEntry {
    pub files: u64,
    pub bytes: u64,
}

/// The complete sets (with a manifest) the server wrote into `dir`, oldest first: their
/// names sort by time.
pub fn complete_sets(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("opsdesk-"))
                && path.join(MANIFEST).exists()
        })
        .collect();
    sets.sort();
    Ok(sets)
}

/// The server's `[backup]` settings, as the backup page reports them.
#[derive(Debug, Clone, Default)]
pub struct BackupSettings {
    /// None: the server takes no backups.
    pub dir: Option<PathBuf>,
    pub every_hours: u64,
    pub keep: usize,
    /// Whether the log is copied beside the newest set.
    pub copies_log: bool,
}

/// One set, as the backup page lists it.
#[derive(Debug, Clone)]
pub struct BackupSet {
    pub name: String,
    pub created_at: Timestamp,
    pub source: String,
    pub bytes: u64,
    pub tables: usize,
    pub rows: u64,
    pub attachments: u64,
    /// What the log beside it covers, if it has one.
    pub log: Option<LogStatus>,
}

/// How far a set's log reaches.
#[derive(Debug, Clone)]
pub struct LogStatus {
    /// Every write committed before this moment is in the log.
    pub complete_at: Timestamp,
    pub runs: usize,
    pub bytes: u64,
}

/// The backup page: the settings, the sets newest first, and what could not be read.
#[derive(Debug, Clone)]
pub struct BackupStatus {
    pub settings: BackupSettings,
    pub sets: Vec<BackupSet>,
    pub problems: Vec<String>,
}

impl App {
    /// The server's backup settings and the sets in its backup folder. Admins only.
    pub fn backup_status(&self, principal: &Principal) -> Result<BackupStatus, AppError> {
        principal.require_admin()?;
        let settings = self.config().backup.clone();
        let Some(dir) = settings.dir.clone() else {
            return Ok(BackupStatus {
                settings,
                sets: Vec::new(),
                problems: Vec::new(),
            });
        };
        // A folder listing and a few small files: quick enough to read in place.
        let (sets, problems) = read_sets(&dir);
        Ok(BackupStatus {
            settings,
            sets,
            problems,
        })
    }
}

/// The sets in `dir`, newest first, and a line for each one that could not be read.
fn read_sets(dir: &Path) -> (Vec<BackupSet>, Vec<String>) {
    let mut problems = Vec::new();
    let paths = match complete_sets(dir) {
        Ok(paths) => paths,
        Err(error) => return (Vec::new(), vec![format!("{}: {error}", dir.display())]),
    };
    let mut sets = Vec::new();
    for path in paths.iter().rev() {
        match read_set(path) {
            Ok(set) => sets.push(set),
            Err(error) => problems.push(format!("{}: {error}", path.display())),
        }
    }
    (sets, problems)
}

fn read_set(path: &Path) -> Result<BackupSet, Box<dyn std::error::Error>> {
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(path.join(MANIFEST))?)?;
    let archive = path.join(LOG_FOLDER);
    let log = if archive.is_dir() {
        let coverage = log_shipping::coverage(&archive)?;
        let bytes = std::fs::read_dir(&archive)?
            .filter_map(Result::ok)
            .filter_map(|entry| entry.metadata().ok())
            .map(|metadata| metadata.len())
            .sum();
        Some(LogStatus {
            complete_at: Timestamp::from_millisecond(coverage.complete_ms)?,
            runs: coverage.runs,
            bytes,
        })
    } else {
        None
    };
    Ok(BackupSet {
        name: path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        created_at: manifest.created_at,
        source: manifest.source,
        bytes: manifest.file.bytes,
        tables: manifest.tables.len(),
        rows: manifest.tables.values().map(|t| t.rows).sum(),
        attachments: manifest.attachments.files,
        log,
    })
}
