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
//! header (`SWYDLOG1`, then the first delivery id the segment may hold, `u64` little-endian) followed
//! by frames:
//!
//! ```text
//! length u32 | crc32 u32 (of the payload) | payload: kind u8 | delivery id u64 | body
//! ```
//!
//! Kind 1 is a delivery (the body is its record, as `codec.rs` encodes it with no attempts); kind 2
//! marks a delivery done (no body). Integers are little-endian.
//!
//! # Lifecycle
//!
//! Frames are appended to the newest segment (the head) by the store's writer thread, one write and
//! one `fdatasync` per batch. When the head passes [`SEGMENT_BYTES`] it is synced and a new head is
//! created (and the directory synced). A segment whose deliveries are all done or moved is deleted
//! once every older segment is, so a done frame never outlives the delivery it marks; deleting
//! oldest first also keeps the directory a suffix of the history.
//!
//! Opening reads every segment and checks every frame. A frame cut short or failing its checksum at
//! the end of the newest segment is a write the crash interrupted (never acknowledged): the segment
//! is truncated there. The same in an older segment, which was synced before the next one began,
//! is damage, reported as `Corrupt` with the file and offset. A new head is started at every open.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::delivery::store::StoreError;

/// The log's folder inside the data directory.
pub(super) const DIR_NAME: &str = "log";
const MAGIC: [u8; 8] = *b"SWYDLOG1";
const SEGMENT_HEADER: u64 = 16;
const FRAME_HEADER: usize = 8;
/// Kind and delivery id.
const PAYLOAD_HEAD: usize = 9;
const KIND_DELIVERY: u8 = 1;
const KIND_DONE: u8 = 2;
/// A new head starts once the head holds this many bytes.
pub const SEGMENT_BYTES: u64 = 32 << 20;

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
    first_id: u64,
    /// The ids of its delivery frames (relocated ones hold ids below `first_id`).
    ids: Vec<u64>,
    /// How many of them are still live here (not done, moved or relocated).
    live: u64,
    file: Arc<File>,
}

impl Segment {
    fn new(first_id: u64, file: File) -> Segment {
        Segment { first_id, ids: Vec::new(), live: 0, file: Arc::new(file) }
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

/// Reads the frames of one segment's bytes (the header already checked), keeping delivery records
/// while `keep_bytes` allows.
fn scan(bytes: &[u8], number: u64, keep_bytes: &mut usize) -> Result<Scan, String> {
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
        if crc32fast::hash(payload) != crc {
            scan.torn = Some(format!("a frame failing its checksum at offset {pos}"));
            break;
        }
        if payload.len() < PAYLOAD_HEAD {
            return Err(format!("a frame of {len} bytes at offset {pos} is too short for its kind and id"));
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
            other => return Err(format!("a frame of unknown kind {other} at offset {pos}")),
        }
        pos = start + len;
        scan.end = pos as u64;
    }
    Ok(scan)
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
        };
        let mut live: BTreeMap<u64, Found> = BTreeMap::new();
        let mut next_id = 1;
        let last = numbers.last().copied();
        for number in numbers {
            let path = segment_path(dir, number);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|error| unavailable("cannot open", &path, &error))?;
            let bytes = std::fs::read(&path).map_err(|error| unavailable("cannot read", &path, &error))?;
            let is_last = Some(number) == last;
            if bytes.len() < SEGMENT_HEADER as usize || bytes[..8] != MAGIC {
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
            let scan = scan(&bytes, number, &mut keep_bytes)
                .map_err(|reason| StoreError::Corrupt(format!("{}: {reason}", path.display())))?;
            if let Some(torn) = &scan.torn {
                if !is_last {
                    return Err(StoreError::Corrupt(format!("{}: {torn}", path.display())));
                }
                tracing::warn!(
                    path = %path.display(),
                    %torn,
                    "the delivery log ends in a write that a crash interrupted (never acknowledged); truncating it"
                );
                file.set_len(scan.end)
                    .and_then(|()| file.sync_data())
                    .map_err(|error| unavailable("cannot truncate", &path, &error))?;
            }
            let mut segment = Segment::new(first_id, file);
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
        Ok(Opened { log, live: live.into_values().collect(), next_id })
    }

    /// Starts a new head segment whose deliveries will have ids from `first_id` on.
    pub(super) fn start_head(&mut self, first_id: u64) -> Result<(), StoreError> {
        let number = self.segments.last_key_value().map_or(1, |(number, _)| number + 1);
        let path = segment_path(&self.dir, number);
        let create = || -> io::Result<File> {
            let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
            let mut header = [0u8; SEGMENT_HEADER as usize];
            header[..8].copy_from_slice(&MAGIC);
            header[8..].copy_from_slice(&first_id.to_le_bytes());
            file.write_all_at(&header, 0)?;
            file.sync_data()?;
            sync_dir(&self.dir)?;
            Ok(file)
        };
        let file = create().map_err(|error| {
            let _ = std::fs::remove_file(&path);
            unavailable("cannot create", &path, &error)
        })?;
        self.segments.insert(number, Segment::new(first_id, file));
        self.head = number;
        self.head_len = SEGMENT_HEADER;
        self.unsynced = false;
        Ok(())
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
        let crc = crc32fast::hash(payload).to_le_bytes();
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
        self.segments.values().map(Segment::min_id).min().unwrap_or(0)
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

    /// Starts a new head when the head is full (`next_id`: the first id the new head may hold), and
    /// deletes the oldest segments with nothing live. Returns the [`floor`](Log::floor) when
    /// segments were deleted.
    pub(super) fn maintain(&mut self, next_id: u64) -> Result<Option<u64>, StoreError> {
        if self.head_len >= self.segment_bytes {
            if let Some(head) = self.segments.get(&self.head) {
                head.file
                    .sync_data()
                    .map_err(|error| unavailable("cannot sync", &segment_path(&self.dir, self.head), &error))?;
                self.unsynced = false;
            }
            self.start_head(next_id)?;
        }
        let mut deleted = false;
        while let Some(number) = self.oldest_behind_head() {
            if self.segments.get(&number).is_some_and(|segment| segment.live > 0) {
                break;
            }
            let path = segment_path(&self.dir, number);
            std::fs::remove_file(&path).map_err(|error| unavailable("cannot remove", &path, &error))?;
            self.segments.remove(&number);
            deleted = true;
        }
        if !deleted {
            return Ok(None);
        }
        sync_dir(&self.dir).map_err(|error| unavailable("cannot sync", &self.dir, &error))?;
        Ok(Some(self.floor()))
    }
}

/// Reads a record from a segment file.
pub(super) fn read_record(file: &File, offset: u64, len: u32) -> io::Result<Vec<u8>> {
    let mut record = vec![0; len as usize];
    file.read_exact_at(&mut record, offset)?;
    Ok(record)
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
        assert_eq!(read_record(&file, offset, 3).expect("read"), b"one");
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
            let record = read_record(&file, found.offset, found.len).expect("read");
            assert_eq!(record, format!("record-{}", found.id).as_bytes());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_of_the_newest_segment_is_cut_and_older_damage_is_reported() {
        let dir = temp("torn");
        let mut opened = Log::open(&dir, SEGMENT_BYTES, usize::MAX).expect("open");
        opened.log.start_head(10).expect("head");
        opened.log.push_delivery(10, b"kept");
        opened.log.flush(true).expect("flush");
        let good = opened.log.head_len;
        opened.log.push_delivery(11, b"cut short");
        opened.log.flush(true).expect("flush");
        drop(opened);
        let path = segment_path(&dir, 1);
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        file.set_len(good + 5).expect("cut");
        drop(file);
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
        assert_eq!(log.maintain(4).expect("maintain"), Some(3), "segment 1 is gone; ids below 3 with it");
        assert_eq!(log.segment_count(), 1);
        assert!(!segment_path(&dir, 1).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
