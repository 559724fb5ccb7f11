//! A continuous copy of SQLite's write-ahead log beside a backup, the way Litestream keeps
//! one, so that a restore can replay the log onto the backup's copy of the database up to
//! any moment.
//!
//! SQLite appends each transaction's changed pages to the log as frames. A checkpoint copies
//! frames into the database file, and the first write after a complete checkpoint starts the
//! log over, with new salts in its header. The archive keeps each of those runs of the log as
//! a file (`000001.wal.zst`: the log's header and its frames as SQLite wrote them, compressed
//! as one zstd frame per copy, which `zstd -d` turns back into the log) with a time index beside
//! it (`000001.times`: a line `frames copied_from copied_until` in Unix milliseconds per
//! copy). Archives written before compression hold `000001.wal`, the same bytes uncompressed;
//! they replay as they are. Frames are checked against the log's checksums before they are
//! copied, and again before they are replayed, and only whole transactions are copied.
//!
//! Nothing may start the log over before its frames are copied, so the server turns SQLite's
//! automatic checkpoints off ([`crate::DbOptions::manual_checkpoints`]) and checkpoints
//! itself, after copying the log's tail, between two of the writer's transactions
//! ([`crate::Db::between_writes`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

const HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
const MAGIC_LITTLE_ENDIAN: u32 = 0x377f_0682;
const MAGIC_BIG_ENDIAN: u32 = 0x377f_0683;
/// A run's log, compressed; `UNCOMPRESSED` in archives written before compression.
const COMPRESSED: &str = ".wal.zst";
const UNCOMPRESSED: &str = ".wal";

/// What can go wrong copying or replaying the log.
#[derive(Debug, Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The log started over with frames the archive never saw: something other than the
    /// server checkpointed the database. The archive cannot go on; a new backup must begin.
    #[error("the write-ahead log started over before all of it was copied")]
    Gap,
    #[error("the archived log {file} is damaged at frame {frame}")]
    Damaged { file: PathBuf, frame: u64 },
    #[error("the archived log {file} has no valid header")]
    NoHeader { file: PathBuf },
    /// The moment asked for is before the backup the archive belongs to.
    #[error("the moment asked for is before this backup began")]
    BeforeBackup { began_ms: i64 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The 32-byte header of a write-ahead log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogHeader([u8; HEADER]);

impl LogHeader {
    /// The header at the start of `bytes`, when its magic number and checksum are right.
    fn parse(bytes: &[u8]) -> Option<Self> {
        let header: [u8; HEADER] = bytes.get(..HEADER)?.try_into().ok()?;
        let header = LogHeader(header);
        let magic = header.word(0);
        if magic != MAGIC_LITTLE_ENDIAN && magic != MAGIC_BIG_ENDIAN {
            return None;
        }
        let expected = (header.word(24), header.word(28));
        (checksum(header.big_endian(), &header.0[..24], (0, 0)) == expected).then_some(header)
    }

    fn word(&self, at: usize) -> u32 {
        big_endian_word(&self.0[at..at + 4])
    }

    /// Whether checksums read the log's words big-endian, as the magic number says.
    fn big_endian(&self) -> bool {
        self.word(0) == MAGIC_BIG_ENDIAN
    }

    fn page_size(&self) -> usize {
        match self.word(8) {
            1 => 65_536,
            size => size as usize,
        }
    }

    fn frame_len(&self) -> usize {
        FRAME_HEADER + self.page_size()
    }

    fn salts(&self) -> &[u8] {
        &self.0[16..24]
    }

    /// The checksum the first frame continues from.
    fn checksum(&self) -> (u32, u32) {
        (self.word(24), self.word(28))
    }
}

fn big_endian_word(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// SQLite's log checksum of `data` (a multiple of 8 bytes), continuing from `sums`.
fn checksum(big_endian: bool, data: &[u8], sums: (u32, u32)) -> (u32, u32) {
    let (mut s0, mut s1) = sums;
    for pair in data.chunks_exact(8) {
        let word = |bytes: &[u8]| {
            let bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
            if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

/// The whole transactions at the start of `frames`: frames that belong to `header`'s log,
/// whose checksums hold, up to the last one that commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CommittedRun {
    frames: u64,
    bytes: usize,
    /// The checksum the frame after the run continues from.
    checksum: (u32, u32),
}

fn committed_run(header: &LogHeader, frames: &[u8], from: (u32, u32)) -> CommittedRun {
    let mut run = CommittedRun {
        frames: 0,
        bytes: 0,
        checksum: from,
    };
    let mut sums = from;
    for (index, frame) in frames.chunks_exact(header.frame_len()).enumerate() {
        if &frame[8..16] != header.salts() {
            break;
        }
        sums = checksum(header.big_endian(), &frame[..8], sums);
        sums = checksum(header.big_endian(), &frame[FRAME_HEADER..], sums);
        if sums
            != (
                big_endian_word(&frame[16..20]),
                big_endian_word(&frame[20..24]),
            )
        {
            break;
        }
        let commits = big_endian_word(&frame[4..8]) != 0;
        if commits {
            run = CommittedRun {
                frames: index as u64 + 1,
                bytes: (index + 1) * header.frame_len(),
                checksum: sums,
            };
        }
    }
    run
}

/// The archive of one backup's log, being written: the run of the log it is copying and how
/// far it has got.
#[derive(Debug)]
pub struct LogArchive {
    dir: PathBuf,
    /// The number of the run's file in the archive.
    run: u32,
    /// Bytes of the run's file that hold whole copies: a copy cut short by an error is cut
    /// off before the next one is appended.
    archived_len: u64,
    header: Option<LogHeader>,
    frames: u64,
    checksum: (u32, u32),
    /// How many frames of the run a checkpoint had copied into the database when it had
    /// copied all of them; only then may SQLite start the log over.
    completely_checkpointed: Option<u64>,
}

/// What one copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Frames copied now.
    pub frames: u64,
    /// Frames of the log's current run in the archive.
    pub run_frames: u64,
}

impl LogArchive {
    /// Starts an archive in `dir` with everything the log `log` holds now: the backup taken
    /// next is of the database file, and replaying the whole run onto it is harmless, since
    /// a frame already checkpointed writes the page the file already has. Call it between
    /// the writer's transactions, and copy the database file before the next checkpoint.
    pub fn start(dir: &Path, log: &Path, now_ms: i64) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut archive = LogArchive {
            dir: dir.to_owned(),
            run: 0,
            archived_len: 0,
            header: None,
            frames: 0,
            checksum: (0, 0),
            completely_checkpointed: None,
        };
        if let Some(header) = read_header(log)? {
            archive.begin_run(header)?;
            archive.copy_frames(log, now_ms, now_ms)?;
        }
        // The first line marks the moment the backup stands for, even with no log yet.
        archive.record(archive.frames, now_ms, now_ms)?;
        Ok(archive)
    }

    /// Copies the frames of whole transactions the log `log` gained since the last copy.
    /// `now_ms` is read before and after reading the log, to record which moments the copy
    /// covers.
    pub fn copy(&mut self, log: &Path, now_ms: impl Fn() -> i64) -> Result<Copied, LogError> {
        let from_ms = now_ms();
        let Some(header) = read_header(log)? else {
            return Ok(self.copied(0));
        };
        if self.header.as_ref() != Some(&header) {
            let may_start_over =
                self.header.is_none() || self.completely_checkpointed == Some(self.frames);
            if !may_start_over {
                return Err(LogError::Gap);
            }
            self.begin_run(header)?;
        }
        let frames = self.copy_frames(log, from_ms, now_ms())?;
        Ok(self.copied(frames))
    }

    /// Notes a checkpoint's outcome: `log_frames` in the log, `checkpointed` of them in the
    /// database file.
    pub fn checkpointed(&mut self, log_frames: u64, checkpointed: u64) {
        if log_frames == checkpointed && checkpointed == self.frames {
            self.completely_checkpointed = Some(self.frames);
        }
    }

    fn copied(&self, frames: u64) -> Copied {
        Copied {
            frames,
            run_frames: self.frames,
        }
    }

    fn run_file(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{:06}{suffix}", self.run))
    }

    /// Appends `bytes` of the log to the run's file as one zstd frame, and syncs it.
    fn append(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        let path = self.run_file(COMPRESSED);
        let compressed = compress(bytes).map_err(io(&path))?;
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(self.archived_len).map_err(io(&path))?;
        file.seek(SeekFrom::Start(self.archived_len))
            .map_err(io(&path))?;
        file.write_all(&compressed).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        self.archived_len += compressed.len() as u64;
        Ok(())
    }

    fn begin_run(&mut self, header: LogHeader) -> Result<(), LogError> {
        self.run += 1;
        let path = self.run_file(COMPRESSED);
        File::create(&path).map_err(io(&path))?;
        self.archived_len = 0;
        self.append(&header.0)?;
        sync_dir(&self.dir)?;
        self.checksum = header.checksum();
        self.header = Some(header);
        self.frames = 0;
        self.completely_checkpointed = None;
        Ok(())
    }

    fn copy_frames(&mut self, log: &Path, from_ms: i64, until_ms: i64) -> Result<u64, LogError> {
        let Some(header) = &self.header else {
            return Ok(0);
        };
        let offset = HEADER as u64 + self.frames * header.frame_len() as u64;
        let mut file = File::open(log).map_err(io(log))?;
        file.seek(SeekFrom::Start(offset)).map_err(io(log))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io(log))?;
        let run = committed_run(header, &bytes, self.checksum);
        if run.frames == 0 {
            return Ok(0);
        }
        self.append(&bytes[..run.bytes])?;
        self.frames += run.frames;
        self.checksum = run.checksum;
        self.record(self.frames, from_ms, until_ms)?;
        Ok(run.frames)
    }

    /// Appends a line to the run's time index, after its frames are safely written.
    fn record(&self, frames: u64, from_ms: i64, until_ms: i64) -> Result<(), LogError> {
        let path = self.run_file(".times");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        writeln!(file, "{frames} {from_ms} {until_ms}").map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        Ok(())
    }
}

fn read_header(log: &Path) -> Result<Option<LogHeader>, LogError> {
    let mut bytes = [0_u8; HEADER];
    match File::open(log) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(log)(e)),
        Ok(mut file) => match file.read_exact(&mut bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(io(log)(e)),
            Ok(()) => Ok(LogHeader::parse(&bytes)),
        },
    }
}

/// One zstd frame of `bytes` at the fastest level, which keeps up with the writer, with a
/// checksum of its content so that damage is found as it is read.
fn compress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::with_capacity(bytes.len() / 2), 1)?;
    encoder.include_checksum(true)?;
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// One line of a run's time index.
#[derive(Debug, Clone, Copy)]
struct CopyLine {
    frames: u64,
    from_ms: i64,
    until_ms: i64,
}

fn read_times(path: &Path) -> Result<Vec<CopyLine>, LogError> {
    let file = match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(io(path))?,
    };
    let mut copies = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(io(path))?;
        let mut fields = line.split(' ').map(str::parse::<i64>);
        // A line cut short by a crash is the last one and is left out with its frames.
        let (Some(Ok(frames)), Some(Ok(from_ms)), Some(Ok(until_ms))) =
            (fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        copies.push(CopyLine {
            frames: frames.max(0) as u64,
            from_ms,
            until_ms,
        });
    }
    Ok(copies)
}

/// A run's file in an archive.
#[derive(Debug)]
struct Run {
    path: PathBuf,
    /// The file's name without its suffix: the run's number.
    number: String,
    compressed: bool,
}

impl Run {
    fn of(path: PathBuf) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let (number, compressed) = match name.strip_suffix(COMPRESSED) {
            Some(number) => (number, true),
            None => (name.strip_suffix(UNCOMPRESSED)?, false),
        };
        Some(Run {
            number: number.to_owned(),
            compressed,
            path,
        })
    }

    fn times(&self) -> PathBuf {
        self.path.with_file_name(format!("{}.times", self.number))
    }

    /// The run's log, as SQLite wrote it.
    fn reader(&self) -> Result<Box<dyn Read>, LogError> {
        let file = BufReader::new(File::open(&self.path).map_err(io(&self.path))?);
        Ok(if self.compressed {
            // The decoder reads the copies' frames one after another as one log.
            Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(io(&self.path))?)
        } else {
            Box::new(file)
        })
    }
}

/// The archive's runs, oldest first.
fn runs(archive: &Path) -> Result<Vec<Run>, LogError> {
    let mut runs: Vec<Run> = std::fs::read_dir(archive)
        .map_err(io(archive))?
        .filter_map(Result::ok)
        .filter_map(|entry| Run::of(entry.path()))
        .collect();
    runs.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(runs)
}

/// What an archive covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// The moment the backup it belongs to stands for.
    pub began_ms: i64,
    /// Every transaction committed before this moment is in the archive.
    pub complete_ms: i64,
    /// Runs of the log and frames in it.
    pub runs: usize,
    pub frames: u64,
}

/// What the archive in `archive` covers.
pub fn coverage(archive: &Path) -> Result<Coverage, LogError> {
    let runs = runs(archive)?;
    let mut coverage = Coverage {
        began_ms: 0,
        complete_ms: 0,
        runs: runs.len(),
        frames: 0,
    };
    for (index, run) in runs.iter().enumerate() {
        let copies = read_times(&run.times())?;
        if index == 0 {
            coverage.began_ms = copies.first().map_or(0, |c| c.until_ms);
        }
        if let Some(last) = copies.last() {
            coverage.complete_ms = coverage.complete_ms.max(last.from_ms);
            coverage.frames += last.frames;
        }
    }
    Ok(coverage)
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub frames: u64,
    /// The end of the last copy replayed: the database holds every transaction the archive
    /// has from before it.
    pub until_ms: i64,
}

/// Replays the archive in `archive` onto `database`, the copy of the database file taken
/// with it: every copy that ended at or before `at_ms`, or all of them.
pub fn replay(archive: &Path, database: &Path, at_ms: Option<i64>) -> Result<Replayed, LogError> {
    let target = OpenOptions::new()
        .write(true)
        .open(database)
        .map_err(io(database))?;
    let mut replayed = Replayed {
        frames: 0,
        until_ms: 0,
    };
    for (index, run) in runs(archive)?.iter().enumerate() {
        let copies = read_times(&run.times())?;
        let wanted = copies
            .iter()
            .take_while(|copy| at_ms.is_none_or(|at| copy.until_ms <= at))
            .last();
        let Some(wanted) = wanted.copied() else {
            match copies.first() {
                Some(first) if index == 0 => {
                    return Err(LogError::BeforeBackup {
                        began_ms: first.until_ms,
                    });
                }
                _ => break,
            }
        };
        replay_run(run, &target, database, wanted.frames)?;
        replayed.frames += wanted.frames;
        replayed.until_ms = wanted.until_ms;
        if copies
            .last()
            .is_some_and(|last| last.frames > wanted.frames)
        {
            break;
        }
    }
    target.sync_all().map_err(io(database))?;
    Ok(replayed)
}

/// Writes the first `frames` frames of `run` onto `target`.
fn replay_run(run: &Run, target: &File, database: &Path, frames: u64) -> Result<(), LogError> {
    let file = &run.path;
    let mut reader = run.reader()?;
    let mut header = [0_u8; HEADER];
    let header = reader
        .read_exact(&mut header)
        .ok()
        .and_then(|()| LogHeader::parse(&header))
        .ok_or_else(|| LogError::NoHeader { file: file.clone() })?;
    let damaged = |frame: u64| LogError::Damaged {
        file: file.clone(),
        frame,
    };
    // Only the frames replayed are read: a copy cut short after them does not matter.
    let mut body = vec![0_u8; frames as usize * header.frame_len()];
    for (index, frame) in body.chunks_exact_mut(header.frame_len()).enumerate() {
        reader
            .read_exact(frame)
            .map_err(|_| damaged(index as u64 + 1))?;
    }
    let sound = committed_run(&header, &body, header.checksum());
    if sound.frames < frames {
        return Err(damaged(sound.frames + 1));
    }
    let page_size = header.page_size() as u64;
    for frame in body.chunks_exact(header.frame_len()).take(frames as usize) {
        let page = u64::from(big_endian_word(&frame[..4]));
        target
            .write_all_at(&frame[FRAME_HEADER..], page.saturating_sub(1) * page_size)
            .map_err(io(database))?;
        let pages_after_commit = u64::from(big_endian_word(&frame[4..8]));
        if pages_after_commit != 0 {
            target
                .set_len(pages_after_commit * page_size)
                .map_err(io(database))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A log of `page_size`-byte pages with the given salts, and frames that follow it.
    fn log_header(big_endian: bool, page_size: u32, salts: [u8; 8]) -> LogHeader {
        let mut bytes = [0_u8; HEADER];
        let magic = if big_endian {
            MAGIC_BIG_ENDIAN
        } else {
            MAGIC_LITTLE_ENDIAN
        };
        bytes[..4].copy_from_slice(&magic.to_be_bytes());
        bytes[4..8].copy_from_slice(&3_007_000_u32.to_be_bytes());
        bytes[8..12].copy_from_slice(&page_size.to_be_bytes());
        bytes[16..24].copy_from_slice(&salts);
        let (s0, s1) = checksum(big_endian, &bytes[..24], (0, 0));
        bytes[24..28].copy_from_slice(&s0.to_be_bytes());
        bytes[28..32].copy_from_slice(&s1.to_be_bytes());
        LogHeader::parse(&bytes).unwrap()
    }

    fn frame(header: &LogHeader, sums: &mut (u32, u32), page: u32, commit: u32) -> Vec<u8> {
        let mut frame = vec![page as u8; header.frame_len()];
        frame[..4].copy_from_slice(&page.to_be_bytes());
        frame[4..8].copy_from_slice(&commit.to_be_bytes());
        frame[8..16].copy_from_slice(header.salts());
        *sums = checksum(header.big_endian(), &frame[..8], *sums);
        *sums = checksum(header.big_endian(), &frame[FRAME_HEADER..], *sums);
        frame[16..20].copy_from_slice(&sums.0.to_be_bytes());
        frame[20..24].copy_from_slice(&sums.1.to_be_bytes());
        frame
    }

    /// A log of one committed frame, and an archive started on it at 1,000 ms.
    struct Started {
        dir: tempfile::TempDir,
        header: LogHeader,
        sums: (u32, u32),
        log: PathBuf,
        bytes: Vec<u8>,
        archive_dir: PathBuf,
        archive: LogArchive,
    }

    fn started(salts: [u8; 8]) -> Started {
        let dir = tempfile::tempdir().unwrap();
        let header = log_header(false, 512, salts);
        let mut sums = header.checksum();
        let log = dir.path().join("db-wal");
        let mut bytes = header.0.to_vec();
        bytes.extend(frame(&header, &mut sums, 1, 1));
        std::fs::write(&log, &bytes).unwrap();
        let archive_dir = dir.path().join("wal");
        let archive = LogArchive::start(&archive_dir, &log, 1_000).unwrap();
        Started {
            dir,
            header,
            sums,
            log,
            bytes,
            archive_dir,
            archive,
        }
    }

    #[test]
    fn only_whole_transactions_with_sound_checksums_are_taken() {
        for big_endian in [false, true] {
            let header = log_header(big_endian, 512, [1, 2, 3, 4, 5, 6, 7, 8]);
            let mut sums = header.checksum();
            let mut log = Vec::new();
            log.extend(frame(&header, &mut sums, 1, 0));
            log.extend(frame(&header, &mut sums, 2, 2));
            let after_first = sums;
            log.extend(frame(&header, &mut sums, 3, 0));
            log.extend(frame(&header, &mut sums, 1, 3));
            // A transaction still being written: no commit frame yet.
            log.extend(frame(&header, &mut sums, 4, 0));
            let run = committed_run(&header, &log, header.checksum());
            assert_eq!(run.frames, 4);
            assert_eq!(run.bytes, 4 * header.frame_len());
            assert_eq!(run.checksum, {
                let mut again = after_first;
                frame(&header, &mut again, 3, 0);
                frame(&header, &mut again, 1, 3);
                again
            });

            // A damaged byte in the second transaction ends the run after the first.
            let mut damaged = log.clone();
            damaged[2 * header.frame_len() + 100] ^= 0xff;
            assert_eq!(
                committed_run(&header, &damaged, header.checksum()).frames,
                2
            );

            // Frames left from an earlier run of the log carry other salts.
            let other = log_header(big_endian, 512, [9, 9, 9, 9, 9, 9, 9, 9]);
            assert_eq!(committed_run(&other, &log, other.checksum()).frames, 0);
        }
    }

    #[test]
    fn a_header_with_a_wrong_checksum_or_magic_is_not_a_log() {
        let header = log_header(false, 4096, [1; 8]);
        assert_eq!(header.page_size(), 4096);
        let mut bytes = header.0;
        bytes[20] ^= 1;
        assert!(LogHeader::parse(&bytes).is_none());
        let mut bytes = header.0;
        bytes[3] = 0;
        assert!(LogHeader::parse(&bytes).is_none());
    }

    #[test]
    fn a_replay_stops_at_the_last_copy_before_the_moment_asked_for() {
        let Started {
            dir,
            header,
            mut sums,
            log,
            mut bytes,
            archive_dir,
            mut archive,
        } = started([4; 8]);
        bytes.extend(frame(&header, &mut sums, 2, 2));
        std::fs::write(&log, &bytes).unwrap();
        assert_eq!(archive.copy(&log, || 2_000).unwrap().frames, 1);
        bytes.extend(frame(&header, &mut sums, 3, 3));
        std::fs::write(&log, &bytes).unwrap();
        assert_eq!(archive.copy(&log, || 3_000).unwrap().frames, 1);
        assert_eq!(archive.copy(&log, || 3_500).unwrap().frames, 0);

        // The log starts over without a complete checkpoint: a gap the archive refuses.
        let restarted = log_header(false, 512, [5; 8]);
        std::fs::write(&log, restarted.0).unwrap();
        assert!(matches!(archive.copy(&log, || 4_000), Err(LogError::Gap)));

        let database = dir.path().join("db");
        std::fs::write(&database, vec![0_u8; 512]).unwrap();
        let replayed = replay(&archive_dir, &database, Some(2_500)).unwrap();
        assert_eq!(
            replayed,
            Replayed {
                frames: 2,
                until_ms: 2_000
            }
        );
        let pages = std::fs::read(&database).unwrap();
        assert_eq!(pages.len(), 2 * 512);
        assert_eq!((pages[0], pages[512]), (1, 2));

        let replayed = replay(&archive_dir, &database, None).unwrap();
        assert_eq!(replayed.frames, 3);
        assert_eq!(std::fs::read(&database).unwrap()[1024], 3);
        assert!(matches!(
            replay(&archive_dir, &database, Some(999)),
            Err(LogError::BeforeBackup { began_ms: 1_000 })
        ));
        let coverage = coverage(&archive_dir).unwrap();
        assert_eq!((coverage.began_ms, coverage.complete_ms), (1_000, 3_000));

        // The run is compressed, and `zstd -d` would give back the log as SQLite wrote it.
        let run = archive_dir.join("000001.wal.zst");
        let archived = std::fs::read(&run).unwrap();
        assert!(archived.len() < bytes.len() / 4, "{} bytes", archived.len());
        let mut log_again = Vec::new();
        zstd::stream::read::Decoder::new(archived.as_slice())
            .unwrap()
            .read_to_end(&mut log_again)
            .unwrap();
        assert!(log_again == bytes, "the log read back differs");

        // A flipped byte in the last copy is found before anything is written. (Its frame
        // ends in the content's checksum, 4 bytes.)
        let mut damaged = archived.clone();
        let in_last_block = damaged.len() - 5;
        damaged[in_last_block] ^= 0xff;
        std::fs::write(&run, damaged).unwrap();
        assert!(matches!(
            replay(&archive_dir, &database, None),
            Err(LogError::Damaged { frame: 3, .. })
        ));
        // A copy cut short by a crash, after its time line was lost with it, is not read.
        let mut cut_short = archived;
        cut_short.extend_from_slice(&compress(&frame(&header, &mut sums, 4, 4)).unwrap()[..20]);
        std::fs::write(&run, cut_short).unwrap();
        assert_eq!(replay(&archive_dir, &database, None).unwrap().frames, 3);
    }

    #[test]
    fn an_archive_written_before_compression_still_replays() {
        let dir = tempfile::tempdir().unwrap();
        let header = log_header(true, 512, [6; 8]);
        let mut sums = header.checksum();
        let mut log = header.0.to_vec();
        log.extend(frame(&header, &mut sums, 1, 1));
        log.extend(frame(&header, &mut sums, 2, 2));
        let archive_dir = dir.path().join("wal");
        std::fs::create_dir(&archive_dir).unwrap();
        std::fs::write(archive_dir.join("000001.wal"), &log).unwrap();
        std::fs::write(
            archive_dir.join("000001.times"),
            "0 1000 1000\n2 1500 2000\n",
        )
        .unwrap();

        let coverage = coverage(&archive_dir).unwrap();
        assert_eq!((coverage.runs, coverage.frames), (1, 2));
        let database = dir.path().join("db");
        std::fs::write(&database, vec![0_u8; 512]).unwrap();
        let replayed = replay(&archive_dir, &database, None).unwrap();
        assert_eq!((replayed.frames, replayed.until_ms), (2, 2_000));
        assert_eq!(std::fs::read(&database).unwrap()[512], 2);
    }

    #[test]
    fn a_copy_that_failed_halfway_is_cut_off_before_the_next_one() {
        let Started {
            dir,
            header,
            mut sums,
            log,
            mut bytes,
            archive_dir,
            mut archive,
        } = started([7; 8]);
        // What a write stopped by a full disk leaves behind.
        let run = archive_dir.join("000001.wal.zst");
        let mut file = OpenOptions::new().append(true).open(&run).unwrap();
        file.write_all(b"half a frame").unwrap();
        bytes.extend(frame(&header, &mut sums, 2, 2));
        std::fs::write(&log, &bytes).unwrap();
        assert_eq!(archive.copy(&log, || 2_000).unwrap().frames, 1);

        let database = dir.path().join("db");
        std::fs::write(&database, vec![0_u8; 512]).unwrap();
        assert_eq!(replay(&archive_dir, &database, None).unwrap().frames, 2);
    }
}
