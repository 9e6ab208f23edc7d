//! The delivery log: new deliveries and their completions, appended to segment files.
//!
//! Most deliveries are written once, read once and completed within milliseconds. Keeping them in
//! a B-tree costs an insert and a delete of a 1 KB record each (most of the store's CPU); keeping
//! them in an append-only log costs a copy of the record and a 17-byte completion. Deliveries that
//! need more than the log offers (a retry with a due time, a dead letter) move into the database,
//! which records the move in its `log_retired` table; the log then forgets them.
//!
//! # Files
//!
//! `<data_dir>/log/<n>.log`, `n` a 12-digit segment number that only grows. A segment is a 16-byte
//! header (`SWYDLOG2`, then the first delivery id the segment may hold, `u64` little-endian; 0 in a
//! segment prepared ahead and not started) followed by frames:
//!
//! ```text
//! length u32 | crc32 u32 (of n as u64, then the payload) | payload: kind u8 | delivery id u64 | body
//! ```
//!
//! Kind 1 is a delivery (the body is its record, as `codec.rs` encodes it with no attempts); kind 2
//! marks a delivery done (no body); kind 3 seals a segment (no body, id 0): nothing after it counts.
//! Integers are little-endian. Segments of format 1 (`SWYDLOG1`: the checksum of the payload
//! alone, no seals, never reused) are still read.
//!
//! # Lifecycle
//!
//! Frames are appended to the newest segment (the head) by the store's writer thread, one write and
//! one `fdatasync` per batch. When the head passes [`SEGMENT_BYTES`] it is sealed and synced, and
//! the next head starts. A segment whose deliveries are all done or moved goes once every older
//! segment has, so a done frame never outlives the delivery it marks; going oldest first also
//! keeps the directory a suffix of the history.
//!
//! The file system's slow calls are a keeper thread's, never a batch's: it prepares the next head
//! ahead of need and deletes segments. Preparing reuses the oldest dead segment when there is one:
//! renamed to the new number, its header rewritten, synced with the directory. Writes into a reused
//! file overwrite blocks it already has, so their `fdatasync` has no size or extents to record
//! (60-65% of the time of one after an append, measured here); its old frames are checksummed with its old
//! number and read as garbage under the new one. Dead segments that are not reused at once are
//! kept as spares (`<data_dir>/log/<k>.spare`, at most [`MAX_SPARES`]; opening ignores them), so
//! that steady operation frees no blocks: on a file system mounted with `discard`, freeing a
//! segment's blocks stalls the next syncs. A deletion counts (the ids below the log's
//! [`floor`](Log::floor) are forgotten) only once the keeper has synced the directory after it.
//!
//! A record read back from a segment (one not kept in memory) is read with its frame and checked:
//! length, checksum, kind and delivery id; one that fails is reported as damaged, not used.
//!
//! Opening reads every segment and checks every frame up to a seal or the end of the file. A frame
//! cut short or failing its checksum in the newest segment with frames (every later one prepared
//! and never started) is a write the crash interrupted, never acknowledged: the segment is
//! truncated there. The same in an older segment, synced and sealed before the next one began, is
//! damage, reported as `Corrupt` with the file and offset. Prepared segments never started are
//! removed. A new head is started at every open.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use crate::delivery::store::StoreError;

/// The log's folder inside the data directory.
pub(super) const DIR_NAME: &str = "log";
const MAGIC: [u8; 8] = *b"SWYDLOG2";
/// Format 1 segments: the checksum covers the payload alone; no seals.
const MAGIC_V1: [u8; 8] = *b"SWYDLOG1";
const SEGMENT_HEADER: u64 = 16;
const FRAME_HEADER: usize = 8;
/// Kind and delivery id.
const PAYLOAD_HEAD: usize = 9;
const KIND_DELIVERY: u8 = 1;
const KIND_DONE: u8 = 2;
const KIND_SEAL: u8 = 3;
/// A new head starts once the head holds this many bytes.
pub const SEGMENT_BYTES: u64 = 32 << 20;
/// The first id in the header of a segment prepared ahead and not started yet (ids start at 1).
const PREPARED: u64 = 0;
/// Dead segments kept (renamed `<k>.spare`) to become later heads instead of being deleted:
/// freeing a file's blocks makes a file system mounted with `discard` stall syncs for a while.
const MAX_SPARES: usize = 2;
const SPARE_SUFFIX: &str = ".spare";

/// A delivery found in the log at open.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) id: u64,
    pub(super) segment: u64,
    /// Where its record starts in the segment file, and its length.
    pub(super) offset: u64,
    pub(super) len: u32,
    /// When it is due, from its record's header (0, due at once, when that does not decode:
    /// leasing it reports the damage).
    pub(super) due_at_ms: u64,
    /// The record itself, for the oldest deliveries up to the `keep_bytes` given to [`Log::open`];
    /// the rest are read from the file when they are leased.
    pub(super) record: Option<Vec<u8>>,
}

/// A segment file and what it holds.
#[derive(Debug)]
struct Segment {
    /// 2, or 1 for a segment of format 1 (never reused: its frames would still read).
    version: u8,
    first_id: u64,
    /// The ids of its delivery frames (relocated ones hold ids below `first_id`).
    ids: Vec<u64>,
    /// How many of them are still live here (not done, moved or relocated).
    live: u64,
    file: Arc<File>,
}

impl Segment {
    fn new(version: u8, first_id: u64, file: File) -> Segment {
        Segment { version, first_id, ids: Vec::new(), live: 0, file: Arc::new(file) }
    }

    /// The smallest delivery id the segment holds or may hold.
    fn min_id(&self) -> u64 {
        self.ids.iter().copied().min().unwrap_or(self.first_id).min(self.first_id)
    }
}

/// The open log, owned by the writer thread.
#[derive(Debug)]
pub(super) struct Log {
    dir: PathBuf,
    segments: BTreeMap<u64, Segment>,
    /// The number of the head segment (0 until [`Log::start_head`]).
    head: u64,
    /// Bytes of the head segment written.
    head_len: u64,
    /// Whether the head holds writes not yet synced.
    unsynced: bool,
    /// Frames of the batch being built.
    buf: Vec<u8>,
    /// A new head starts once the head holds this many bytes ([`SEGMENT_BYTES`] but in tests).
    segment_bytes: u64,
    /// The thread that prepares the next head and deletes dead segments (`None` if it could not
    /// start: the writer then does both itself).
    keeper: Option<Keeper>,
    /// The next head, prepared (its number and file), or being prepared (its number).
    prepared: Option<(u64, File)>,
    preparing: Option<u64>,
    /// Segments handed to the keeper for deletion and not yet confirmed gone, with their smallest
    /// id: until they are, the [`floor`](Log::floor) stays below them.
    deleting: BTreeMap<u64, u64>,
    /// Segments were deleted since [`Log::maintain`] last reported the floor.
    floor_moved: bool,
    /// The head has a seal written (or perhaps written: its write failed): it takes no more
    /// frames, and batches fail until the next head starts.
    sealed: bool,
}

/// A job for the keeper thread.
enum Job {
    /// Make segment `number` from dead segment `reuse` (renamed), else from a spare, else as a new
    /// file: the header with the [`PREPARED`] first id, synced, and the directory synced.
    Prepare { number: u64, reuse: Option<u64> },
    /// Delete segment `number` (jobs run in order, so segments go oldest first): kept as a spare
    /// when `spare` and fewer than [`MAX_SPARES`] are kept, else removed.
    Delete { number: u64, spare: bool },
    /// Answer [`Done::Barrier`] once every job sent before is done.
    Barrier,
}

/// What [`Log::collect`] waits for before taking whatever else is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    No,
    /// The segment being prepared, if one is.
    Prepared,
    /// Every job sent so far.
    Barrier,
}

/// What the keeper thread did.
enum Done {
    /// The segment prepared, and the dead segment it reused (which is then gone).
    Prepared(u64, io::Result<(File, Option<u64>)>),
    /// Segments removed, with one directory sync after them.
    Deleted(Vec<u64>, io::Result<()>),
    Barrier,
}

/// The keeper thread's end of the log: it takes the file system's slow calls (creating, renaming
/// or deleting a segment, syncing the directory) off the writer's path, so that a batch never
/// waits for them.
#[derive(Debug)]
struct Keeper {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Keeper {
    fn start(dir: &Path) -> io::Result<Keeper> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let dir = dir.to_path_buf();
        let mut spares = Spares::adopt(&dir);
        let thread = std::thread::Builder::new().name("delivery-log".into()).spawn(move || {
            while let Ok(first) = job_rx.recv() {
                // In order; deletions in a row share one directory sync.
                let mut deletes = Vec::new();
                let mut queued = std::iter::once(first).chain(job_rx.try_iter()).peekable();
                while let Some(job) = queued.next() {
                    match job {
                        Job::Delete { number, spare } => {
                            let result = spares.retire(&dir, number, spare);
                            deletes.push((number, result));
                            if matches!(queued.peek(), Some(Job::Delete { .. })) {
                                continue;
                            }
                            let numbers = deletes.iter().map(|(number, _)| *number).collect();
                            let result = std::mem::take(&mut deletes)
                                .into_iter()
                                .try_for_each(|(_, result)| result)
                                .and_then(|()| sync_dir(&dir));
                            let _ = done_tx.send(Done::Deleted(numbers, result));
                        }
                        Job::Prepare { number, reuse } => {
                            let spare = if reuse.is_none() { spares.take() } else { None };
                            let _ = done_tx.send(Done::Prepared(number, prepare_segment(&dir, number, reuse, spare)));
                        }
                        Job::Barrier => {
                            let _ = done_tx.send(Done::Barrier);
                        }
                    }
                }
            }
        })?;
        Ok(Keeper { jobs: Some(jobs), done, thread: Some(thread) })
    }

    fn send(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok())
    }
}

impl Drop for Keeper {
    /// Lets the keeper finish its jobs: a segment it is still creating must not race with the
    /// next opening of the log.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The spare files the keeper holds: `<k>.spare` in the log's folder (not segments: opening does
/// not read them).
struct Spares {
    files: Vec<PathBuf>,
    next: u64,
}

impl Spares {
    /// The spares a previous run left (beyond [`MAX_SPARES`], removed).
    fn adopt(dir: &Path) -> Spares {
        let mut spares = Spares { files: Vec::new(), next: 0 };
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(k) = name.to_str().and_then(|name| name.strip_suffix(SPARE_SUFFIX)?.parse::<u64>().ok()) else {
                continue;
            };
            spares.next = spares.next.max(k + 1);
            if spares.files.len() < MAX_SPARES {
                spares.files.push(entry.path());
            } else {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        spares
    }

    /// Takes segment `number` out of the log: renamed to a spare if `spare` and there is room,
    /// else removed. The caller syncs the directory.
    fn retire(&mut self, dir: &Path, number: u64, spare: bool) -> io::Result<()> {
        if spare && self.files.len() < MAX_SPARES {
            let path = dir.join(format!("{:012}{SPARE_SUFFIX}", self.next));
            if std::fs::rename(segment_path(dir, number), &path).is_ok() {
                self.next += 1;
                self.files.push(path);
                return Ok(());
            }
        }
        remove_segment(dir, number)
    }

    fn take(&mut self) -> Option<PathBuf> {
        self.files.pop()
    }
}

/// Removes a segment file; one already gone is not an error.
fn remove_segment(dir: &Path, number: u64) -> io::Result<()> {
    match std::fs::remove_file(segment_path(dir, number)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Makes segment `number` ahead of its use, from dead segment `reuse` when it can be renamed,
/// else from file `spare` (a retired segment), else as a new file: the [`PREPARED`] header, synced
/// with the directory. Returns the file and the segment it reused. On an error nothing is left
/// under the new number.
fn prepare_segment(
    dir: &Path,
    number: u64,
    reuse: Option<u64>,
    spare: Option<PathBuf>,
) -> io::Result<(File, Option<u64>)> {
    let path = segment_path(dir, number);
    let renamed = reuse.filter(|old| std::fs::rename(segment_path(dir, *old), &path).is_ok());
    // A dead segment that could not be renamed is deleted instead; the directory sync covers both.
    let removed = reuse.filter(|old| renamed.is_none() && remove_segment(dir, *old).is_ok());
    let respared = spare.filter(|spare| renamed.is_none() && std::fs::rename(spare, &path).is_ok());
    let make = || -> io::Result<File> {
        let file = if renamed.is_some() || respared.is_some() {
            OpenOptions::new().read(true).write(true).open(&path)?
        } else {
            OpenOptions::new().read(true).write(true).create_new(true).open(&path)?
        };
        file.write_all_at(&segment_header(PREPARED), 0)?;
        file.sync_data()?;
        sync_dir(dir)?;
        Ok(file)
    };
    match make() {
        Ok(file) => Ok((file, renamed.or(removed))),
        Err(error) => {
            let _ = std::fs::remove_file(&path);
            Err(error)
        }
    }
}

fn segment_header(first_id: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut header = [0u8; SEGMENT_HEADER as usize];
    header[..8].copy_from_slice(&MAGIC);
    header[8..].copy_from_slice(&first_id.to_le_bytes());
    header
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:012}.log"))
}

fn unavailable(what: &str, path: &Path, error: &io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {error}", path.display()))
}

/// Syncs a directory, so that files created or removed in it stay so after a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// How a segment's frames read.
struct Scan {
    found: Vec<Found>,
    done: Vec<u64>,
    /// Where the good frames end (the file's length when nothing is torn).
    end: u64,
    /// Why reading stopped before the end of the file.
    torn: Option<String>,
}

/// Reads the frames of segment `number` (of format `version`, its header already checked) up to
/// its seal or its end, keeping delivery records while `keep_bytes` allows.
fn scan(bytes: &[u8], number: u64, version: u8, keep_bytes: &mut usize) -> Result<Scan, String> {
    let mut scan = Scan { found: Vec::new(), done: Vec::new(), end: SEGMENT_HEADER, torn: None };
    let mut pos = SEGMENT_HEADER as usize;
    while pos < bytes.len() {
        let Some(head) = bytes.get(pos..pos + FRAME_HEADER) else {
            scan.torn = Some(format!("a frame header cut short at offset {pos}"));
            break;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let start = pos + FRAME_HEADER;
        let Some(payload) = bytes.get(start..start.saturating_add(len)) else {
            scan.torn = Some(format!("a frame of {len} bytes cut short at offset {pos}"));
            break;
        };
        if frame_crc(version, number, payload) != crc {
            scan.torn = Some(format!("a frame failing its checksum at offset {pos}"));
            break;
        }
        if payload.len() < PAYLOAD_HEAD {
            // Zeros (a length and checksum of 0) where a write did not land, for one.
            scan.torn = Some(format!("a frame of {len} bytes at offset {pos}, too short for its kind and id"));
            break;
        }
        let id = u64::from_le_bytes(payload[1..PAYLOAD_HEAD].try_into().unwrap_or([0; 8]));
        match payload[0] {
            KIND_DELIVERY => {
                let record = &payload[PAYLOAD_HEAD..];
                let kept = record.len() <= *keep_bytes;
                if kept {
                    *keep_bytes -= record.len();
                }
                scan.found.push(Found {
                    id,
                    segment: number,
                    offset: (start + PAYLOAD_HEAD) as u64,
                    len: record.len() as u32,
                    due_at_ms: super::codec::delivery_header(record).map_or(0, |header| header.due_at_ms),
                    record: kept.then(|| record.to_vec()),
                })
            }
            KIND_DONE => scan.done.push(id),
            KIND_SEAL if version >= 2 => {
                scan.end = (start + len) as u64;
                break;
            }
            other => return Err(format!("a frame of unknown kind {other} at offset {pos}")),
        }
        pos = start + len;
        scan.end = pos as u64;
    }
    Ok(scan)
}

/// A frame's checksum: of the payload, after the segment's number from format 2 on (so that the
/// frames a reused file held before read as garbage).
fn frame_crc(version: u8, number: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if version >= 2 {
        hasher.update(&number.to_le_bytes());
    }
    hasher.update(payload);
    hasher.finalize()
}

/// What opening the log found.
#[derive(Debug)]
pub(super) struct Opened {
    pub(super) log: Log,
    /// Deliveries appended and not marked done, in id order.
    pub(super) live: Vec<Found>,
    /// One past the largest id the log has seen or promised (a segment header's first id).
    pub(super) next_id: u64,
}

impl Log {
    /// Opens the log in `dir` (created if missing), reads every segment and returns what is live,
    /// with the records of the oldest deliveries up to `keep_bytes` (one segment at a time is read
    /// whole, so opening holds at most a segment and `keep_bytes` of records, whatever the backlog).
    /// The head is not started yet: see [`Log::start_head`].
    pub(super) fn open(dir: &Path, segment_bytes: u64, mut keep_bytes: usize) -> Result<Opened, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| unavailable("cannot create", dir, &error))?;
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|error| unavailable("cannot read", dir, &error))? {
            let entry = entry.map_err(|error| unavailable("cannot read", dir, &error))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(number) = name.strip_suffix(".log").and_then(|stem| stem.parse::<u64>().ok()) {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();
        let mut log = Log {
            dir: dir.to_path_buf(),
            segments: BTreeMap::new(),
            head: 0,
            head_len: 0,
            unsynced: false,
            buf: Vec::new(),
            segment_bytes,
            keeper: None,
            prepared: None,
            preparing: None,
            deleting: BTreeMap::new(),
            floor_moved: false,
            sealed: false,
        };
        let mut live: BTreeMap<u64, Found> = BTreeMap::new();
        let mut next_id = 1;
        let last = numbers.last().copied();
        // A segment whose frames end in a torn write: a crash interrupted it if it was the head,
        // that is if every segment after it is one prepared ahead (never started, no frames);
        // damage otherwise.
        let mut torn: Option<(u64, String, u64)> = None;
        for number in numbers {
            let path = segment_path(dir, number);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|error| unavailable("cannot open", &path, &error))?;
            let bytes = std::fs::read(&path).map_err(|error| unavailable("cannot read", &path, &error))?;
            let is_last = Some(number) == last;
            let version = match bytes.get(..8) {
                Some(magic) if magic == MAGIC => 2,
                Some(magic) if magic == MAGIC_V1 => 1,
                _ => 0,
            };
            if bytes.len() < SEGMENT_HEADER as usize || version == 0 {
                if is_last && bytes.len() < SEGMENT_HEADER as usize && MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
                    // Created by a head start that the crash interrupted: it never held anything.
                    drop(file);
                    std::fs::remove_file(&path).map_err(|error| unavailable("cannot remove", &path, &error))?;
                    continue;
                }
                return Err(StoreError::Corrupt(format!("{} is not a delivery log segment", path.display())));
            }
            let first_id = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or([0; 8]));
            next_id = next_id.max(first_id);
            let scan = scan(&bytes, number, version, &mut keep_bytes)
                .map_err(|reason| StoreError::Corrupt(format!("{}: {reason}", path.display())))?;
            let has_frames = !scan.found.is_empty() || !scan.done.is_empty();
            if version >= 2 && first_id == PREPARED && !has_frames {
                // Prepared ahead and never started: it holds nothing (but perhaps the frames of the
                // segment it reused, which do not read).
                drop(file);
                std::fs::remove_file(&path).map_err(|error| unavailable("cannot remove", &path, &error))?;
                continue;
            }
            if let Some((earlier, reason, _)) = &torn {
                // A started segment after it: it was complete, and synced, before this one began.
                return Err(StoreError::Corrupt(format!("{}: {reason}", segment_path(dir, *earlier).display())));
            }
            if let Some(reason) = scan.torn {
                torn = Some((number, reason, scan.end));
            }
            let mut segment = Segment::new(version, first_id, file);
            let mut replaced = Vec::new();
            for found in scan.found {
                next_id = next_id.max(found.id.saturating_add(1));
                segment.live += 1;
                segment.ids.push(found.id);
                // A relocated delivery: the copy read last is the one that counts.
                if let Some(older) = live.insert(found.id, found) {
                    replaced.push(older.segment);
                }
            }
            log.segments.insert(number, segment);
            for older in replaced {
                log.release(older);
            }
            for id in scan.done {
                next_id = next_id.max(id.saturating_add(1));
                if let Some(found) = live.remove(&id) {
                    log.release(found.segment);
                }
            }
        }
        if let Some((number, torn, end)) = torn
            && let Some(segment) = log.segments.get(&number)
        {
            let path = segment_path(dir, number);
            tracing::warn!(
                path = %path.display(),
                %torn,
                "the delivery log ends in a write that a crash interrupted (never acknowledged); truncating it"
            );
            segment
                .file
                .set_len(end)
                .and_then(|()| segment.file.sync_data())
                .map_err(|error| unavailable("cannot truncate", &path, &error))?;
        }
        match Keeper::start(dir) {
            Ok(keeper) => log.keeper = Some(keeper),
            Err(error) => tracing::warn!(%error, "no thread for the delivery log's files; the writer handles them"),
        }
        Ok(Opened { log, live: live.into_values().collect(), next_id })
    }

    /// Starts a new head segment whose deliveries will have ids from `first_id` on: the one the
    /// keeper prepared when there is one (waiting for it if it is being prepared), else a new file.
    /// The current head, if any, must be complete (sealed, or truncated at open).
    pub(super) fn start_head(&mut self, first_id: u64) -> Result<(), StoreError> {
        let number = self.segments.last_key_value().map_or(1, |(number, _)| number + 1);
        let file = self.next_file(number)?;
        self.install_head(number, first_id, file)
    }

    /// The file of segment `number`, the next head: the prepared one, else a new one with the
    /// [`PREPARED`] header, synced with the directory.
    fn next_file(&mut self, number: u64) -> Result<File, StoreError> {
        if self.preparing == Some(number)
            && let Err(error) = self.collect(Wait::Prepared)
        {
            tracing::warn!(%error, "the delivery log could not remove a segment");
        }
        match self.prepared.take() {
            Some((prepared, file)) if prepared == number => Ok(file),
            other => {
                if let Some((stale, _)) = other {
                    // Cannot happen (segments only grow by one); not to be left behind if it did.
                    let _ = remove_segment(&self.dir, stale);
                }
                prepare_segment(&self.dir, number, None, None)
                    .map(|(file, _)| file)
                    .map_err(|error| unavailable("cannot create", &segment_path(&self.dir, number), &error))
            }
        }
    }

    /// Makes `file` (segment `number`, with the [`PREPARED`] header) the head. Its first id
    /// reaches the disk with the first batch; until then opening takes it for prepared and unused.
    /// On an error the file is kept as the prepared next head.
    fn install_head(&mut self, number: u64, first_id: u64, file: File) -> Result<(), StoreError> {
        if let Err(error) = file.write_all_at(&segment_header(first_id), 0) {
            self.prepared = Some((number, file));
            return Err(unavailable("cannot write", &segment_path(&self.dir, number), &error));
        }
        self.segments.insert(number, Segment::new(2, first_id, file));
        self.head = number;
        self.head_len = SEGMENT_HEADER;
        self.unsynced = true;
        self.sealed = false;
        Ok(())
    }

    /// Takes what the keeper has done, first waiting for what `wait` names.
    fn collect(&mut self, wait: Wait) -> Result<(), StoreError> {
        let mut failure = None;
        let mut waiting = match wait {
            Wait::No => false,
            Wait::Prepared => self.preparing.is_some(),
            Wait::Barrier => self.keeper.as_ref().is_some_and(|keeper| keeper.send(Job::Barrier)),
        };
        while let Some(keeper) = &self.keeper {
            let done = if waiting { keeper.done.recv().ok() } else { keeper.done.try_recv().ok() };
            let Some(done) = done else {
                if waiting {
                    // The keeper is gone: nothing more will come.
                    self.preparing = None;
                }
                break;
            };
            match done {
                Done::Prepared(number, result) => {
                    self.preparing = None;
                    match result {
                        Ok((file, reused)) => {
                            self.prepared = Some((number, file));
                            if let Some(reused) = reused {
                                self.deleting.remove(&reused);
                                self.floor_moved = true;
                            }
                        }
                        Err(error) => {
                            let path = segment_path(&self.dir, number);
                            tracing::warn!(path = %path.display(), %error, "cannot prepare the next delivery log segment; it will be created when needed");
                        }
                    }
                    waiting &= wait != Wait::Prepared;
                }
                Done::Deleted(numbers, Ok(())) => {
                    for number in numbers {
                        self.deleting.remove(&number);
                    }
                    self.floor_moved = true;
                }
                Done::Deleted(_, Err(error)) => {
                    // They stay in `deleting`, holding the floor, and are deleted at the next open.
                    failure = Some(unavailable("cannot remove a segment in", &self.dir, &error));
                }
                Done::Barrier => waiting &= wait != Wait::Barrier,
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The head segment's number and file, for the entries of the deliveries appended to it
    /// (`None` only before [`Log::start_head`]).
    pub(super) fn head(&self) -> Option<(u64, Arc<File>)> {
        self.segments.get(&self.head).map(|segment| (self.head, segment.file.clone()))
    }

    /// The file of a segment that still exists.
    pub(super) fn file(&self, segment: u64) -> Option<Arc<File>> {
        self.segments.get(&segment).map(|segment| segment.file.clone())
    }

    /// Adds a delivery frame to the batch; returns where its record will be in the head segment.
    pub(super) fn push_delivery(&mut self, id: u64, record: &[u8]) -> u64 {
        let offset = self.head_len + (self.buf.len() + FRAME_HEADER + PAYLOAD_HEAD) as u64;
        self.push(KIND_DELIVERY, id, record);
        if let Some(head) = self.segments.get_mut(&self.head) {
            head.live += 1;
            head.ids.push(id);
        }
        offset
    }

    /// Adds a done frame to the batch.
    pub(super) fn push_done(&mut self, id: u64) {
        self.push(KIND_DONE, id, &[]);
    }

    fn push(&mut self, kind: u8, id: u64, body: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; FRAME_HEADER]);
        self.buf.push(kind);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(body);
        let payload = &self.buf[start + FRAME_HEADER..];
        let len = (payload.len() as u32).to_le_bytes();
        let crc = frame_crc(2, self.head, payload).to_le_bytes();
        self.buf[start..start + 4].copy_from_slice(&len);
        self.buf[start + 4..start + 8].copy_from_slice(&crc);
    }

    /// Forgets the batch's frames, and the deliveries they counted into the head: `pushed` of them.
    pub(super) fn discard(&mut self, pushed: usize) {
        self.buf.clear();
        if let Some(head) = self.segments.get_mut(&self.head) {
            head.live = head.live.saturating_sub(pushed as u64);
            let kept = head.ids.len().saturating_sub(pushed);
            head.ids.truncate(kept);
        }
    }

    /// Writes the batch's frames to the head and, if `sync`, syncs it. On an error nothing of the
    /// batch stays in the file (it is cut back), and the caller discards the batch.
    pub(super) fn flush(&mut self, sync: bool) -> io::Result<()> {
        let Some(head) = self.segments.get(&self.head) else {
            return Err(io::Error::other("the delivery log has no head segment"));
        };
        if self.sealed {
            return Err(io::Error::other("the head segment is sealed and the next one could not start"));
        }
        let before = self.head_len;
        if !self.buf.is_empty() {
            if let Err(error) = head.file.write_all_at(&self.buf, before) {
                let _ = head.file.set_len(before);
                return Err(error);
            }
            self.unsynced = true;
        }
        if sync && self.unsynced {
            if let Err(error) = head.file.sync_data() {
                let _ = head.file.set_len(before);
                return Err(error);
            }
            self.unsynced = false;
        }
        self.head_len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Whether the head holds writes not yet synced (in the `durability = "none"` mode).
    pub(super) fn unsynced(&self) -> bool {
        self.unsynced
    }

    /// One of a segment's deliveries is done or moved.
    pub(super) fn release(&mut self, segment: u64) {
        if let Some(segment) = self.segments.get_mut(&segment) {
            segment.live = segment.live.saturating_sub(1);
        }
    }

    /// The number of segment files.
    #[cfg(test)]
    fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The smallest delivery id any segment holds or may hold: every id below it is gone from
    /// the log.
    pub(super) fn floor(&self) -> u64 {
        let deleting = self.deleting.values().copied();
        self.segments.values().map(Segment::min_id).chain(deleting).min().unwrap_or(0)
    }

    /// When the log has more than `max_segments` segments and the oldest is mostly dead (at most a
    /// quarter of its deliveries live), that segment and the ids it holds: copying its live
    /// deliveries to the head lets it go. A mostly live oldest segment is a backlog, which copying
    /// would only move.
    pub(super) fn relocatable(&self, max_segments: usize) -> Option<(u64, Vec<u64>)> {
        if self.segments.len() <= max_segments {
            return None;
        }
        let number = self.oldest_behind_head()?;
        let segment = self.segments.get(&number)?;
        (segment.live * 4 <= segment.ids.len() as u64).then(|| (number, segment.ids.clone()))
    }

    /// The oldest segment, when it is not the head.
    fn oldest_behind_head(&self) -> Option<u64> {
        self.segments.first_key_value().map(|(number, _)| *number).filter(|number| *number != self.head)
    }

    /// Starts a new head when the head is full (`next_id`: the first id the new head may hold),
    /// hands the oldest segments with nothing live to the keeper (the first to be reused as the
    /// next head, unless one is prepared; the rest deleted) and has the next head prepared from a
    /// new file once the head is half full with none to reuse. Returns the [`floor`](Log::floor)
    /// when deletions were confirmed.
    pub(super) fn maintain(&mut self, next_id: u64) -> Result<Option<u64>, StoreError> {
        let collected = self.collect(Wait::No);
        if self.head_len >= self.segment_bytes || self.sealed {
            // The next head's file first: the head is sealed only when its successor exists.
            let number = self.head + 1;
            let file = self.next_file(number)?;
            if !self.sealed {
                // Nothing after the seal counts (the rest of a reused file is old frames), so from
                // here on, whether or not the seal reached the disk, the head takes no more frames.
                self.push(KIND_SEAL, 0, &[]);
                let sealing = self.flush(true);
                self.sealed = true;
                if let Err(error) = sealing {
                    self.discard(0);
                    self.prepared = Some((number, file));
                    return Err(unavailable("cannot seal", &segment_path(&self.dir, self.head), &error));
                }
            }
            self.install_head(number, next_id, file)?;
        }
        let next = self.head + 1;
        let mut removed = false;
        while let Some(number) = self.oldest_behind_head() {
            if self.segments.get(&number).is_some_and(|segment| segment.live > 0) {
                break;
            }
            let Some(segment) = self.segments.remove(&number) else { break };
            let reuse = segment.version >= 2 && self.prepared.is_none() && self.preparing.is_none();
            match &self.keeper {
                Some(keeper) if reuse && keeper.send(Job::Prepare { number: next, reuse: Some(number) }) => {
                    self.preparing = Some(next);
                    self.deleting.insert(number, segment.min_id());
                }
                Some(keeper) if keeper.send(Job::Delete { number, spare: segment.version >= 2 }) => {
                    self.deleting.insert(number, segment.min_id());
                }
                _ => {
                    remove_segment(&self.dir, number)
                        .map_err(|error| unavailable("cannot remove", &segment_path(&self.dir, number), &error))?;
                    removed = true;
                }
            }
        }
        if removed {
            sync_dir(&self.dir).map_err(|error| unavailable("cannot sync", &self.dir, &error))?;
            self.floor_moved = true;
        }
        if self.prepared.is_none()
            && self.preparing.is_none()
            && self.head_len >= self.segment_bytes / 2
            && let Some(keeper) = &self.keeper
            && keeper.send(Job::Prepare { number: next, reuse: None })
        {
            self.preparing = Some(next);
        }
        collected?;
        if !std::mem::take(&mut self.floor_moved) {
            return Ok(None);
        }
        Ok(Some(self.floor()))
    }

    /// Waits for the keeper's deletions and reports the floor if it moved (tests: deletions are
    /// otherwise confirmed by a later [`Log::maintain`]).
    #[cfg(test)]
    pub(super) fn settle(&mut self) -> Result<Option<u64>, StoreError> {
        self.collect(Wait::Barrier)?;
        Ok(std::mem::take(&mut self.floor_moved).then(|| self.floor()))
    }
}

impl Drop for Log {
    /// A prepared head never started is removed (opening would remove it too).
    fn drop(&mut self) {
        // The keeper first finishes what it is doing.
        let _ = self.collect(Wait::Prepared);
        self.keeper = None;
        if let Some((number, file)) = self.prepared.take() {
            drop(file);
            let _ = remove_segment(&self.dir, number);
        }
    }
}

/// Reads back the record of delivery `id` at `offset` (`len` bytes) in segment `number`, with its
/// frame: `Ok(Err(reason))` when the frame there is not that delivery's, intact (damage, or a
/// reused file written over).
pub(super) fn read_record(
    file: &File,
    number: u64,
    id: u64,
    offset: u64,
    len: u32,
) -> io::Result<Result<Vec<u8>, String>> {
    let head = (FRAME_HEADER + PAYLOAD_HEAD) as u64;
    let Some(start) = offset.checked_sub(head) else {
        return Ok(Err(format!("offset {offset} is inside the segment header")));
    };
    let mut frame = vec![0; head as usize + len as usize];
    file.read_exact_at(&mut frame, start)?;
    let length = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let payload = &frame[FRAME_HEADER..];
    // A segment of format 1 checksums the payload alone; such a file is never reused.
    let intact = length as usize == payload.len()
        && (frame_crc(2, number, payload) == crc || frame_crc(1, number, payload) == crc)
        && payload[0] == KIND_DELIVERY
        && payload[1..PAYLOAD_HEAD] == id.to_le_bytes();
    if !intact {
        return Ok(Err(format!("the frame at offset {start} of segment {number} is not delivery {id}'s, intact")));
    }
    frame.drain(..head as usize);
    Ok(Ok(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("switchyard-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn frames_survive_reopening_and_done_frames_cancel_deliveries() {
        let dir = temp("reopen");
        let mut opened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("open");
        assert!(opened.live.is_empty());
        opened.log.start_head(1).expect("head");
        let offset = opened.log.push_delivery(1, b"one");
        opened.log.push_delivery(2, b"two");
        opened.log.push_done(1);
        opened.log.flush(true).expect("flush");
        let (_, file) = opened.log.head().expect("a head");
        assert_eq!(read_record(&file, 1, 1, offset, 3).expect("read"), Ok(b"one".to_vec()));
        assert!(read_record(&file, 1, 2, offset, 3).expect("read").is_err(), "not delivery 2's");
        assert!(read_record(&file, 7, 1, offset, 3).expect("read").is_err(), "not segment 7's");
        file.write_all_at(b"O", offset).expect("damage");
        assert!(read_record(&file, 1, 1, offset, 3).expect("read").is_err(), "damaged");
        file.write_all_at(b"o", offset).expect("repair");
        drop(opened);
        let reopened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("reopen");
        assert_eq!(reopened.next_id, 3);
        let live: Vec<(u64, Option<&[u8]>)> =
            reopened.live.iter().map(|found| (found.id, found.record.as_deref())).collect();
        assert_eq!(live, [(2, Some(&b"two"[..]))]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn opening_keeps_the_oldest_records_up_to_its_budget_and_locates_the_rest() {
        let dir = temp("budget");
        let mut opened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("open");
        opened.log.start_head(1).expect("head");
        for id in 1..=5u64 {
            opened.log.push_delivery(id, format!("record-{id}").as_bytes());
        }
        opened.log.flush(true).expect("flush");
        drop(opened);
        // Room for two 8-byte records.
        let reopened = Log::open(&dir, SEGMENT_BYTES, 20).expect("reopen");
        let kept: Vec<(u64, bool)> = reopened.live.iter().map(|found| (found.id, found.record.is_some())).collect();
        assert_eq!(kept, [(1, true), (2, true), (3, false), (4, false), (5, false)]);
        let file = reopened.log.file(1).expect("the segment");
        for found in &reopened.live {
            let record = read_record(&file, 1, found.id, found.offset, found.len).expect("read");
            assert_eq!(record, Ok(format!("record-{}", found.id).into_bytes()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Writes segment 1 of a new log in `dir` with deliveries `first` and `first + 1`, then cuts
    /// the second's frame short (a crash during its write). Returns the segment's path and where
    /// its whole frames end.
    fn torn_segment(dir: &Path, first: u64) -> (PathBuf, u64) {
        let mut opened = Log::open(dir, SEGMENT_BYTES, usize::MAX).expect("open");
        opened.log.start_head(first).expect("head");
        opened.log.push_delivery(first, b"kept");
        opened.log.flush(true).expect("flush");
        let good = opened.log.head_len;
        opened.log.push_delivery(first + 1, b"cut short");
        opened.log.flush(true).expect("flush");
        drop(opened);
        let path = segment_path(dir, 1);
        OpenOptions::new().write(true).open(&path).expect("open").set_len(good + 5).expect("cut");
        (path, good)
    }

    #[test]
    fn a_torn_tail_of_the_newest_segment_is_cut_and_older_damage_is_reported() {
        let dir = temp("torn");
        let (path, good) = torn_segment(&dir, 10);
        let reopened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("reopen");
        assert_eq!(reopened.live.iter().map(|found| found.id).collect::<Vec<_>>(), [10]);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), good, "truncated to the last whole frame");
        assert_eq!(reopened.next_id, 11);

        // The same damage in a segment with a newer one after it is corruption.
        let mut log = reopened.log;
        log.start_head(11).expect("head");
        drop(log);
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        file.write_all_at(b"\xff", good - 1).expect("damage");
        drop(file);
        match Log::open(&dir, SEGMENT_BYTES, usize::MAX) {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("000000000001.log") && message.contains("checksum"), "{message}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_rotate_and_are_deleted_oldest_first_once_nothing_in_them_is_live() {
        let dir = temp("rotate");
        let mut opened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("open");
        let log = &mut opened.log;
        log.start_head(1).expect("head");
        let big = vec![7u8; (SEGMENT_BYTES / 2) as usize];
        log.push_delivery(1, &big);
        log.push_delivery(2, &big);
        log.flush(true).expect("flush");
        assert_eq!(log.maintain(3).expect("maintain"), None);
        assert_eq!(log.segment_count(), 2, "a full head makes a new one");
        log.push_delivery(3, b"small");
        log.flush(true).expect("flush");
        log.release(1);
        assert_eq!(log.maintain(4).expect("maintain"), None, "segment 1 still holds delivery 2");
        log.release(1);
        // The keeper deletes it; the floor moves once it confirms.
        log.maintain(4).expect("maintain");
        assert_eq!(log.segment_count(), 1);
        assert_eq!(log.floor(), 1, "not confirmed yet: the floor holds");
        assert_eq!(log.settle().expect("settle"), Some(3), "segment 1 is gone; ids below 3 with it");
        assert!(!segment_path(&dir, 1).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dead_segments_are_reused_as_the_next_head_and_their_old_frames_do_not_read() {
        use std::os::unix::fs::MetadataExt;
        let dir = temp("reuse");
        let segment_bytes = 4096;
        let filler = vec![7u8; 4100];
        let mut opened = Log::open(&dir, segment_bytes, usize::MAX).expect("open");
        let log = &mut opened.log;
        log.start_head(1).expect("head");
        log.push_delivery(1, &filler);
        log.flush(true).expect("flush");
        assert_eq!(log.maintain(2).expect("maintain"), None);
        assert_eq!(log.head, 2, "a full head is sealed and the next begins");
        let inode = std::fs::metadata(segment_path(&dir, 1)).expect("stat").ino();
        log.push_done(1);
        log.release(1);
        log.push_delivery(2, &filler);
        log.flush(true).expect("flush");
        log.maintain(3).expect("maintain");
        assert_eq!(log.head, 3);
        // Segment 1 is dead: the keeper renames it to 4, the next head.
        assert_eq!(log.settle().expect("settle"), Some(2), "segment 1 is gone; ids below 2 with it");
        assert!(!segment_path(&dir, 1).exists());
        assert_eq!(std::fs::metadata(segment_path(&dir, 4)).expect("stat").ino(), inode, "the same file");
        log.push_delivery(3, &filler);
        log.flush(true).expect("flush");
        log.maintain(4).expect("maintain");
        assert_eq!(log.head, 4, "the reused segment is the head");
        log.push_delivery(4, b"four");
        log.flush(true).expect("flush");
        drop(opened);
        // Segment 4 holds delivery 4, then what segment 1 held (delivery 1 and a seal), which does
        // not read under its new number: a torn end, cut at open.
        let reopened = Log::open(&dir, segment_bytes, usize::MAX).expect("reopen");
        assert_eq!(reopened.live.iter().map(|found| found.id).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(reopened.next_id, 5);
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prepared_segments_never_started_are_removed_and_do_not_make_a_torn_head_damage() {
        let dir = temp("prepared");
        let (path, good) = torn_segment(&dir, 1);
        // The crash came after the keeper prepared segment 2.
        prepare_segment(&dir, 2, None, None).expect("prepare");
        let reopened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("reopen");
        assert_eq!(reopened.live.iter().map(|found| found.id).collect::<Vec<_>>(), [1]);
        assert!(!segment_path(&dir, 2).exists(), "the prepared segment is gone");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), good, "the torn write is cut");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_of_format_1_still_read() {
        let dir = temp("v1");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend_from_slice(&7u64.to_le_bytes());
        for (kind, id, body) in
            [(KIND_DELIVERY, 7u64, &b"seven"[..]), (KIND_DELIVERY, 8, b"eight"), (KIND_DONE, 7, b"")]
        {
            let mut payload = vec![kind];
            payload.extend_from_slice(&id.to_le_bytes());
            payload.extend_from_slice(body);
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            bytes.extend_from_slice(&payload);
        }
        std::fs::write(segment_path(&dir, 1), &bytes).expect("write");
        let opened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("open");
        let live: Vec<(u64, Option<&[u8]>)> = opened.live.iter().map(|f| (f.id, f.record.as_deref())).collect();
        assert_eq!(live, [(8, Some(&b"eight"[..]))]);
        assert_eq!(opened.next_id, 9);
        assert_eq!(opened.log.segments.get(&1).map(|segment| segment.version), Some(1), "never reused");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_sealed_head_takes_no_more_frames_until_the_next_head_starts() {
        let dir = temp("sealed");
        let mut opened = Log::open(&dir, 4096, usize::MAX).expect("open");
        let log = &mut opened.log;
        log.start_head(1).expect("head");
        log.push_delivery(1, b"one");
        log.flush(true).expect("flush");
        // As after a seal whose successor could not start (its file could not be written).
        log.sealed = true;
        log.push_delivery(2, b"two");
        assert!(log.flush(true).is_err(), "frames after a seal would not be read back");
        log.discard(1);
        log.maintain(2).expect("maintain");
        assert_eq!((log.head, log.sealed), (2, false), "the next head starts");
        log.push_delivery(2, b"two");
        log.flush(true).expect("flush");
        drop(opened);
        let reopened = Log::open(&dir, 4096, usize::MAX).expect("reopen");
        assert_eq!(reopened.live.iter().map(|found| found.id).collect::<Vec<_>>(), [1, 2]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_that_die_together_become_spares_and_later_heads() {
        use std::os::unix::fs::MetadataExt;
        let dir = temp("spares");
        let filler = vec![7u8; 4100];
        let mut opened = Log::open(&dir, 4096, usize::MAX).expect("open");
        let log = &mut opened.log;
        log.start_head(1).expect("head");
        for id in 1..=3u64 {
            log.push_delivery(id, &filler);
            log.flush(true).expect("flush");
            log.maintain(id + 1).expect("maintain");
        }
        assert_eq!(log.head, 4);
        for id in 1..=3u64 {
            log.push_done(id);
            log.release(id);
        }
        log.flush(true).expect("flush");
        // Segment 1 becomes the next head (5); 2 and 3 become spares, not deleted.
        log.maintain(4).expect("maintain");
        assert_eq!(log.settle().expect("settle"), Some(4));
        let spares: Vec<u64> = ["000000000000.spare", "000000000001.spare"]
            .iter()
            .map(|name| std::fs::metadata(dir.join(name)).expect("a spare").ino())
            .collect();
        assert!(!segment_path(&dir, 2).exists() && !segment_path(&dir, 3).exists());
        log.push_delivery(4, &filler);
        log.flush(true).expect("flush");
        log.maintain(5).expect("maintain");
        assert_eq!(log.head, 5);
        // Half full with nothing dead: the next head is made from a spare.
        log.push_delivery(5, &vec![7u8; 2100]);
        log.flush(true).expect("flush");
        log.maintain(6).expect("maintain");
        log.settle().expect("settle");
        let six = std::fs::metadata(segment_path(&dir, 6)).expect("segment 6 prepared").ino();
        assert!(spares.contains(&six), "segment 6 is a former spare");
        drop(opened);
        let reopened = Log::open(&dir, 4096, usize::MAX).expect("reopen");
        assert_eq!(reopened.live.iter().map(|found| found.id).collect::<Vec<_>>(), [4, 5]);
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
