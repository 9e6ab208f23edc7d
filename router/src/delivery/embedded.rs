//! The embedded delivery store: an append-only delivery log for new deliveries, and one redb file
//! for everything else, written by one thread with group commit.
//!
//! # Files
//!
//! - `<data_dir>/log/<n>.log`: the delivery log (`embedded/log.rs` gives its format). Every
//!   accepted delivery is appended there, and a small "done" frame when it completes. Most
//!   deliveries never go anywhere else.
//! - `<data_dir>/deliveries.redb`: a redb database with these tables (records are encoded as
//!   `embedded/codec.rs` describes):
//!
//! | table | key | value |
//! |---|---|---|
//! | `deliveries` | delivery id `u64` | delivery record (deliveries that left the log) |
//! | `due` | `(due_at_ms u64, delivery id u64)` | attempts so far `u32` |
//! | `log_retired` | delivery id `u64` | `()`: the delivery left the log for the tables here |
//! | `dead_letters` | dead-letter id `u64` | dead-letter record (holds the delivery as it failed) |
//! | `dead_letters_by_rule` | `(rule &str, dead-letter id u64)` | `()` |
//! | `meta` | name `&str` | `u64`: `format` (2), `next_delivery_id`, `next_dead_letter_id` |
//! | `kv` | `(namespace &str, key &str)` | the value's bytes |
//! | `kv_counts` | namespace `&str` | `u64`: the keys it holds in `kv` (no row when none) |
//!
//! A delivery leaves the log when its first attempt fails (a retry is recorded in `deliveries` and
//! `due`; a dead letter in `dead_letters`). The same transaction marks it in `log_retired`, so
//! that reopening does not take the log's copy for a second delivery; the marks of segments that
//! are gone are deleted. A segment goes once nothing in it is live and every older one has gone;
//! so that a few slow deliveries cannot keep old segments (and everything after them) alive, when
//! the log has more than `MAX_SEGMENTS` segments and at most a quarter of the oldest one's
//! deliveries are live, those are copied to the head (the copy read last counts at open). A
//! backlog (a consumer that is down) is live data: it stays in the log, which holds it at about
//! its own size, and `max_pending` bounds it.
//!
//! Delivery ids come from one counter for both places: the log's records and segment headers and
//! `meta`'s `next_delivery_id` (redrives) are all read at open, so ids only grow, across restarts
//! too. Dead-letter ids follow the order letters were made, so id order is "oldest first". A new
//! delivery is due at its `ingested_at_ms`.
//!
//! Opening reads every log segment and verifies every frame, and verifies the checksum of every
//! database page (redb may panic on a damaged file it trusts): about a second per GB.
//!
//! # Writing
//!
//! A dedicated thread owns every write. Callers send it requests with a oneshot channel for the
//! answer; it takes everything queued and applies it in two parts. First the log's: appends (ids
//! assigned, records copied into one buffer; the callers encoded them) and completions of
//! deliveries in the log, written with one `write` and one `fdatasync`, then answered at once.
//! When the previous batch held more than one request (callers are sending concurrently), the
//! writer first waits the commit delay (250 µs by default, [`EmbeddedStore::set_commit_delay`])
//! so that more requests share the sync; a lone caller is written at once.
//! Then the database's: everything else, in one write transaction committed with
//! `Durability::Immediate` (one fsync). `complete`, `retry` and `dead_letter` apply only to a
//! leased delivery (`NotFound` otherwise, as the contract says).
//!
//! A request that cannot apply (unknown id, corrupt record) gets its own error and changes
//! nothing; a write that fails answers its whole part `Unavailable` and applies nothing of it (a
//! failed log write is cut back off the file). After an I/O error redb refuses further work until
//! the database is reopened, so the writer reopens it (at its next batch, or within a second) and
//! reloads the in-memory state from what is on disk. An fsync that failed may still have left its
//! commit on disk; the reload then shows it, so an append answered `Unavailable` may be delivered
//! anyway: at least once, as everywhere.
//!
//! # Reading
//!
//! The queue of due deliveries is mirrored in memory (a `BTreeSet` of `(due_at_ms, id)`, loaded at
//! open and updated by the writer after each write), with the set of leased ids and where each log
//! delivery's record is beside it, so `take_due` and `next_due_ms` need no index scan and never
//! walk past leased entries (about 100 bytes of memory per pending delivery). The records of log
//! deliveries not yet leased are also kept in memory up to 64 MiB, so that `take_due` usually
//! reads nothing; past that it reads them from the segment file, and the records in the database
//! in a redb read transaction, as do the dead-letter queries. Leases live only in memory: after a
//! restart every unfinished delivery is due again. A record that cannot be decoded is reported
//! once by `take_due` and then held back (leased) until a restart, so that it blocks nothing.
//!
//! # Key-value store
//!
//! The store is also the Wasm consumers' durable [`KvStore`](crate::invoke::KvStore): one
//! namespace per consumer in `kv`. `get` reads in a read transaction; `set` and `delete` are
//! writer requests like the others, so they share the group commit (and its fsync) with the
//! deliveries, and resolve once durable. A namespace holds at most
//! [`set_kv_max_entries`](EmbeddedStore::set_kv_max_entries) keys (10,000 by default): `kv_counts`
//! keeps each namespace's count in the same transactions as `kv`, so a set of a new key into a
//! full namespace is refused `Full` with no scan, while overwriting a key is always allowed.
//! Deleting a missing key changes nothing and succeeds without a commit.

mod codec;
mod log;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageError,
    TableDefinition, WriteTransaction,
};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::oneshot;

use self::log::Log;
use crate::invoke::kv::{DEFAULT_MAX_ENTRIES, KvFuture, KvStore, KvStoreError};

use super::store::{
    DeadLetter, DeadLetterInfo, Delivery, DeliveryStore, DlqFilter, FailedAttempt, NewDelivery, StoreError,
    StoreFuture, StoreStats,
};

const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
const DUE: TableDefinition<(u64, u64), u32> = TableDefinition::new("due");
const DEAD_LETTERS: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_letters");
const DEAD_LETTERS_BY_RULE: TableDefinition<(&str, u64), ()> = TableDefinition::new("dead_letters_by_rule");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const KV: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("kv");
const KV_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("kv_counts");
const LOG_RETIRED: TableDefinition<u64, ()> = TableDefinition::new("log_retired");

const FORMAT_KEY: &str = "format";
/// Format 2 added the delivery log and `log_retired`; a format 1 file is upgraded in place.
const FORMAT: u64 = 2;
const NEXT_DELIVERY_ID: &str = "next_delivery_id";
const NEXT_DEAD_LETTER_ID: &str = "next_dead_letter_id";

/// The database file inside the data directory.
pub const FILE_NAME: &str = "deliveries.redb";

/// At most this many requests share a transaction; more wait for the next one.
const MAX_BATCH: usize = 16_384;
/// How long a synced commit waits for company under concurrent load (see [`linger`]); about what
/// one fdatasync of a batch takes on a virtual disk (docs/benchmarks.md, issue 6, measures it).
const DEFAULT_COMMIT_DELAY: Duration = Duration::from_micros(250);
/// redb's page cache (its default is 1 GiB): deliveries are written once and read about once, so
/// the store keeps it smaller.
const CACHE_BYTES: usize = 256 << 20;
/// How often the writer tries to reopen a database that failed, when no request makes it try.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);
/// Records of log deliveries kept in memory for `take_due`, at most; the rest are read from the log.
const LOG_CACHE_BYTES: usize = 64 << 20;
/// Past this many log segments, the live deliveries of the oldest one, when few, are copied to the
/// head so that the segment can go: a few slow deliveries must not keep old segments alive.
const MAX_SEGMENTS: usize = 8;
/// Deliveries copied per batch by that, at most.
const RELOCATE_BATCH: usize = 4_096;

/// Opens (or creates) the database file; tests substitute a backend that fails on demand.
type Opener = Box<dyn Fn(&Path) -> Result<Database, StoreError> + Send>;

/// The embedded delivery store. See the module documentation.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.shared.path)
            .field("commits", &self.commits())
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// What the writer thread and the callers share.
struct Shared {
    path: PathBuf,
    /// The delivery log's folder.
    log_dir: PathBuf,
    /// `None` once closed, or while the writer reopens the file after an I/O error.
    db: RwLock<Option<Database>>,
    queue: Mutex<Queue>,
    closed: AtomicBool,
    /// Set by whoever meets an I/O error: the writer reopens the database.
    needs_reopen: AtomicBool,
    commits: AtomicU64,
    /// Keys a key-value namespace may hold.
    kv_max_entries: AtomicUsize,
    /// `false` in the `durability = "none"` mode: commits are not synced (but one per second is).
    sync: AtomicBool,
    /// See [`EmbeddedStore::set_commit_delay`].
    commit_delay_us: AtomicU64,
    /// Why the last database commit failed; cleared by the next one that succeeds.
    db_failure: Mutex<Option<String>>,
    /// Why the last write to the delivery log failed; cleared by the next one that succeeds.
    log_failure: Mutex<Option<String>>,
    /// Tests set it to make writes to the log fail as on a full disk.
    log_fault: AtomicBool,
}

/// The in-memory view of the queue; the writer changes it only after a commit.
#[derive(Debug, Default)]
struct Queue {
    /// Deliveries not leased, by due time.
    due: BTreeSet<(u64, u64)>,
    leased: FxHashSet<u64>,
    pending: u64,
    retrying: u64,
    /// The rule of every delivery in `retrying`, for the per-rule depth of the retry queue.
    retrying_rules: FxHashMap<u64, Arc<str>>,
    dead_letters: BTreeMap<String, u64>,
    /// Deliveries that live in the log (the others are in the database).
    log: FxHashMap<u64, LogEntry>,
    /// The bytes of the records `log` holds in memory.
    cached_bytes: usize,
}

/// Where a delivery in the log is.
#[derive(Debug, Clone)]
struct LogEntry {
    segment: u64,
    due_at_ms: u64,
    offset: u64,
    len: u32,
    file: Arc<File>,
    /// The record, while the memory budget allows and until it is leased.
    bytes: Option<Arc<[u8]>>,
}

impl LogEntry {
    /// Its record (delivery `id`'s): from memory, or read back from the log and checked against
    /// its frame (`Corrupt` when the frame is not intact).
    fn record(&self, id: u64) -> Result<std::borrow::Cow<'_, [u8]>, StoreError> {
        match &self.bytes {
            Some(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            None => match log::read_record(&self.file, self.segment, id, self.offset, self.len) {
                Ok(Ok(record)) => Ok(std::borrow::Cow::Owned(record)),
                Ok(Err(reason)) => Err(StoreError::Corrupt(format!("delivery {id}: {reason}"))),
                Err(error) => Err(StoreError::Unavailable(format!("cannot read the delivery log: {error}"))),
            },
        }
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns a redb error into the store's, noting I/O errors for the writer to recover from.
    fn error(&self, error: impl Into<redb::Error>) -> StoreError {
        let error = error.into();
        if is_io(&error) {
            self.needs_reopen.store(true, Ordering::Release);
        }
        store_error(&self.path, error)
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        match db.as_ref() {
            Some(db) => db.begin_read().map_err(|error| self.error(error)),
            None if self.closed.load(Ordering::Acquire) => Err(StoreError::Closed),
            None => Err(StoreError::Unavailable(format!("{} failed and is being reopened", self.path.display()))),
        }
    }

    /// Publishes what a committed batch changed.
    fn publish(&self, delta: Delta) {
        let mut guard = self.queue();
        let queue = &mut *guard;
        for id in &delta.released {
            queue.leased.remove(id);
        }
        for (id, mut entry) in delta.logged {
            if let Some(bytes) = &entry.bytes {
                if queue.cached_bytes + bytes.len() > LOG_CACHE_BYTES {
                    entry.bytes = None;
                } else {
                    queue.cached_bytes += bytes.len();
                }
            }
            queue.log.insert(id, entry);
        }
        for (id, from, to) in delta.relocated {
            if let Some(entry) = queue.log.get_mut(&id)
                && entry.segment == from
            {
                entry.segment = to.segment;
                entry.offset = to.offset;
                entry.file = to.file;
            }
        }
        for (id, _) in &delta.unlogged {
            if let Some(entry) = queue.log.remove(id)
                && let Some(bytes) = entry.bytes
            {
                queue.cached_bytes -= bytes.len();
            }
        }
        queue.due.extend(delta.due);
        queue.pending = queue.pending.saturating_add_signed(delta.pending);
        queue.retrying = queue.retrying.saturating_add_signed(delta.retrying);
        for (id, rule) in delta.retrying_rules {
            match rule {
                Some(rule) => queue.retrying_rules.insert(id, rule),
                None => queue.retrying_rules.remove(&id),
            };
        }
        for (rule, change) in delta.dead_letters {
            let count = queue.dead_letters.entry(rule).or_insert(0);
            *count = count.saturating_add_signed(change);
            if *count == 0 {
                queue.dead_letters.retain(|_, count| *count > 0);
            }
        }
    }
}

/// Errors after which redb must be closed and reopened. (`DatabaseClosed` is not one: a reader meets
/// it while the writer reopens or closes the file.)
fn is_io(error: &redb::Error) -> bool {
    matches!(error, redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::Backend(_))
}

fn store_error(path: &Path, error: redb::Error) -> StoreError {
    match error {
        redb::Error::Corrupted(reason) => StoreError::Corrupt(format!("{}: {reason}", path.display())),
        redb::Error::UpgradeRequired(version) => StoreError::Corrupt(format!(
            "{} is in redb file format {version}, which this build does not read",
            path.display()
        )),
        redb::Error::DatabaseAlreadyOpen => {
            StoreError::Unavailable(format!("{} is already open in another process", path.display()))
        }
        other => StoreError::Unavailable(format!("{}: {other}", path.display())),
    }
}

fn corrupt(what: &str, id: u64, reason: codec::CodecError) -> StoreError {
    StoreError::Corrupt(format!("{what} {id}: {reason}"))
}

/// The production opener: the file as is, created if missing. redb trusts a file it did not write
/// last and may panic on damage it meets later, so every page's checksum is verified at open (a
/// read of the whole file: a second or so per GB).
fn open_file(path: &Path) -> Result<Database, StoreError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|error| open_error(path, error))
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::Storage(StorageError::Io(error)) => {
            StoreError::Unavailable(format!("cannot open {}: {error}", path.display()))
        }
        other => store_error(path, other.into()),
    }
}

/// Where the id counters stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ids {
    next_delivery: u64,
    next_dead_letter: u64,
}

/// Creates the tables of a new file and checks the format of an old one.
fn init(db: &Database, path: &Path) -> Result<(), StoreError> {
    let error = |error: redb::Error| store_error(path, error);
    let txn = db.begin_write().map_err(|e| error(e.into()))?;
    {
        txn.open_table(DELIVERIES).map_err(|e| error(e.into()))?;
        txn.open_table(DUE).map_err(|e| error(e.into()))?;
        txn.open_table(DEAD_LETTERS).map_err(|e| error(e.into()))?;
        txn.open_table(DEAD_LETTERS_BY_RULE).map_err(|e| error(e.into()))?;
        txn.open_table(KV).map_err(|e| error(e.into()))?;
        txn.open_table(KV_COUNTS).map_err(|e| error(e.into()))?;
        txn.open_table(LOG_RETIRED).map_err(|e| error(e.into()))?;
        let mut meta = txn.open_table(META).map_err(|e| error(e.into()))?;
        let format = meta.get(FORMAT_KEY).map_err(|e| error(e.into()))?.map(|format| format.value());
        match format {
            Some(FORMAT) => {}
            // Format 1 had no log; its tables are the same.
            Some(1) | None => {
                meta.insert(FORMAT_KEY, FORMAT).map_err(|e| error(e.into()))?;
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "{} is in store format {other}; this build reads formats 1 and {FORMAT}",
                    path.display()
                )));
            }
        }
    }
    txn.commit().map_err(|e| error(e.into()))
}

/// Rebuilds the in-memory queue from the file, keeping the deliveries in the log as they are.
/// Leases held now are kept for the deliveries that still exist; the id counters only move forward.
fn load(db: &Database, queue: &mut Queue, ids: &mut Ids) -> Result<(), redb::Error> {
    let txn = db.begin_read()?;
    let deliveries = txn.open_table(DELIVERIES)?;
    let due_table = txn.open_table(DUE)?;
    let mut due = BTreeSet::new();
    let mut retrying = 0;
    let mut retrying_rules = FxHashMap::default();
    for entry in due_table.iter()? {
        let (key, attempts) = entry?;
        let (due_at_ms, id) = key.value();
        if attempts.value() > 0 {
            retrying += 1;
            let rule = deliveries
                .get(id)?
                .and_then(|record| codec::decode_delivery(id, record.value()).ok())
                .map_or_else(|| Arc::from("?"), |delivery| Arc::from(delivery.new.rule.as_str()));
            retrying_rules.insert(id, rule);
        }
        if !queue.leased.contains(&id) {
            due.insert((due_at_ms, id));
        }
    }
    for (&id, entry) in &queue.log {
        if !queue.leased.contains(&id) {
            due.insert((entry.due_at_ms, id));
        }
    }
    let mut leased = FxHashSet::default();
    for &id in &queue.leased {
        if queue.log.contains_key(&id) || deliveries.get(id)?.is_some() {
            leased.insert(id);
        }
    }
    let mut dead_letters = BTreeMap::new();
    for entry in txn.open_table(DEAD_LETTERS_BY_RULE)?.iter()? {
        let (key, _) = entry?;
        *dead_letters.entry(key.value().0.to_string()).or_insert(0) += 1;
    }
    // Past the largest id in use too, so that a damaged counter cannot make an insert overwrite.
    let meta = txn.open_table(META)?;
    let stored = |name: &str| -> Result<u64, redb::Error> { Ok(meta.get(name)?.map_or(1, |value| value.value())) };
    let after_last = |table: &redb::ReadOnlyTable<u64, &'static [u8]>| -> Result<u64, redb::Error> {
        Ok(table.last()?.map_or(1, |(id, _)| id.value().saturating_add(1)))
    };
    let letters = txn.open_table(DEAD_LETTERS)?;
    ids.next_delivery = ids.next_delivery.max(stored(NEXT_DELIVERY_ID)?).max(after_last(&deliveries)?);
    ids.next_dead_letter = ids.next_dead_letter.max(stored(NEXT_DEAD_LETTER_ID)?).max(after_last(&letters)?);
    let log = std::mem::take(&mut queue.log);
    *queue = Queue {
        due,
        leased,
        pending: deliveries.len()? + log.len() as u64,
        retrying,
        retrying_rules,
        dead_letters,
        log,
        cached_bytes: queue.cached_bytes,
    };
    Ok(())
}

/// Opens the delivery log in `dir`, adds its live deliveries (those the database has not taken
/// over) to the queue, starts a new head segment and deletes the segments with nothing live.
fn open_log(
    db: &Database,
    path: &Path,
    dir: &Path,
    segment_bytes: u64,
    queue: &mut Queue,
    ids: &mut Ids,
) -> Result<Log, StoreError> {
    let log::Opened { mut log, live, next_id } = Log::open(dir, segment_bytes, LOG_CACHE_BYTES)?;
    let error = |error: redb::Error| store_error(path, error);
    {
        let txn = db.begin_read().map_err(|e| error(e.into()))?;
        let retired = txn.open_table(LOG_RETIRED).map_err(|e| error(e.into()))?;
        let deliveries = txn.open_table(DELIVERIES).map_err(|e| error(e.into()))?;
        for found in live {
            let moved = retired.get(found.id).map_err(|e| error(e.into()))?.is_some()
                || deliveries.get(found.id).map_err(|e| error(e.into()))?.is_some();
            let Some(file) = log.file(found.segment).filter(|_| !moved) else {
                log.release(found.segment);
                continue;
            };
            // A record that does not decode is due at once: `take_due` reports it and holds it back.
            let due_at_ms = found.due_at_ms;
            let bytes =
                found.record.filter(|record| queue.cached_bytes + record.len() <= LOG_CACHE_BYTES).map(|record| {
                    queue.cached_bytes += record.len();
                    Arc::from(record)
                });
            queue.due.insert((due_at_ms, found.id));
            queue.pending += 1;
            let entry =
                LogEntry { segment: found.segment, due_at_ms, offset: found.offset, len: found.len, file, bytes };
            queue.log.insert(found.id, entry);
        }
    }
    ids.next_delivery = ids.next_delivery.max(next_id);
    log.start_head(ids.next_delivery)?;
    log.maintain(ids.next_delivery)?;
    // Moves recorded for segments that are gone are of no more use.
    let floor = log.floor();
    let txn = db.begin_write().map_err(|e| error(e.into()))?;
    let mut retired = txn.open_table(LOG_RETIRED).map_err(|e| error(e.into()))?;
    retired.retain_in(..floor, |_, ()| false).map_err(|e| error(e.into()))?;
    drop(retired);
    txn.commit().map_err(|e| error(e.into()))?;
    Ok(log)
}

impl EmbeddedStore {
    /// Opens the store in `data_dir` (created if missing): `<data_dir>/deliveries.redb`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(data_dir, Box::new(open_file), log::SEGMENT_BYTES)
    }

    /// `segment_bytes`: the size past which the log starts a new segment.
    fn open_with(data_dir: &Path, opener: Opener, segment_bytes: u64) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|error| {
            StoreError::Unavailable(format!("cannot create the data directory {}: {error}", data_dir.display()))
        })?;
        let path = data_dir.join(FILE_NAME);
        let db = opener(&path)?;
        init(&db, &path)?;
        let mut queue = Queue::default();
        let mut ids = Ids::default();
        load(&db, &mut queue, &mut ids).map_err(|error| store_error(&path, error))?;
        let log_dir = data_dir.join(log::DIR_NAME);
        let log = open_log(&db, &path, &log_dir, segment_bytes, &mut queue, &mut ids)?;
        let shared = Arc::new(Shared {
            path,
            log_dir,
            db: RwLock::new(Some(db)),
            queue: Mutex::new(queue),
            closed: AtomicBool::new(false),
            needs_reopen: AtomicBool::new(false),
            db_failure: Mutex::new(None),
            log_failure: Mutex::new(None),
            log_fault: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            kv_max_entries: AtomicUsize::new(DEFAULT_MAX_ENTRIES),
            sync: AtomicBool::new(true),
            commit_delay_us: AtomicU64::new(DEFAULT_COMMIT_DELAY.as_micros() as u64),
        });
        let (requests, receiver) = mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            requests: receiver,
            opener,
            ids,
            log,
            retired_floor: None,
            last_sync: std::time::Instant::now(),
            last_ops: 0,
            log_failures: Throttle::default(),
            db_failures: Throttle::default(),
        };
        let handle = std::thread::Builder::new()
            .name("delivery-store".into())
            .spawn(move || writer.run())
            .map_err(|error| StoreError::Unavailable(format!("cannot start the store's writer thread: {error}")))?;
        Ok(EmbeddedStore { shared, requests, writer: Mutex::new(Some(handle)) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Write transactions committed since the store was opened.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// `durability = "none"` (`sync: false`): commits are no longer fsynced one by one, only one
    /// commit per second is, so an acknowledged write may be lost in a crash. For benchmarks and
    /// throwaway setups; it is logged as a warning. `sync: true` (the default) syncs every commit.
    pub fn set_sync(&self, sync: bool) {
        if !sync {
            tracing::warn!(
                path = %self.shared.path.display(),
                "DURABILITY IS OFF (durability = \"none\"): accepted events are acknowledged before they are on disk and may be lost in a crash"
            );
        }
        self.shared.sync.store(sync, Ordering::Relaxed);
    }

    /// Sets how long a synced commit waits for more requests to join it when the previous batch
    /// showed concurrent callers (250 µs unless set; zero commits at once). A lone caller never
    /// waits. Longer delays mean fewer fdatasyncs and less CPU per request under load, and that
    /// much more latency for each request.
    pub fn set_commit_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.commit_delay_us.store(micros, Ordering::Relaxed);
    }

    /// Sets how many keys a key-value namespace may hold (10,000 unless set), for the sets that
    /// follow. A namespace already holding more keeps them, but takes no new key until it is below.
    pub fn set_kv_max_entries(&self, max_entries: usize) {
        self.shared.kv_max_entries.store(max_entries, Ordering::Relaxed);
    }

    /// Finishes the queued work, stops the writer and closes the file. Later requests answer
    /// `Closed`. Blocks for at most one batch; dropping the store does the same.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        // Fails only if the writer is gone already.
        let _ = self.requests.send(Request::Shutdown);
        let handle = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!(path = %self.shared.path.display(), "the delivery store's writer thread panicked");
        }
    }

    /// Sends one request to the writer and waits for its answer.
    async fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Op) -> Result<T, StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (sender, receiver) = oneshot::channel();
        self.requests.send(Request::Op(request(Reply { sender, result: None }))).map_err(|_| StoreError::Closed)?;
        // A request the writer dropped unanswered was refused at shutdown.
        receiver.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Reads the records of freshly leased deliveries. On a corrupt record, the error and its id.
    fn read_leased(&self, taken: &[Taken]) -> Result<Vec<Delivery>, (StoreError, Option<u64>)> {
        let mut table = None;
        let mut deliveries = Vec::with_capacity(taken.len());
        let mut missing = Vec::new();
        for &Taken { id, ref entry, .. } in taken {
            if let Some(entry) = entry {
                let record = entry.record(id).map_err(|error| {
                    // A damaged record is held back; a failed read may succeed next time.
                    let quarantined = matches!(error, StoreError::Corrupt(_)).then_some(id);
                    (error, quarantined)
                })?;
                match codec::decode_delivery(id, &record) {
                    Ok(delivery) => deliveries.push(delivery),
                    Err(reason) => return Err((corrupt("delivery", id, reason), Some(id))),
                }
                continue;
            }
            if table.is_none() {
                let txn = self.shared.begin_read().map_err(|error| (error, None))?;
                let opened = txn.open_table(DELIVERIES).map_err(|error| (self.shared.error(error), None))?;
                table = Some(opened);
            }
            let Some(table) = &table else { continue };
            let record = table.get(id).map_err(|error| (self.shared.error(error), None))?;
            match record {
                Some(record) => match codec::decode_delivery(id, record.value()) {
                    Ok(delivery) => deliveries.push(delivery),
                    Err(reason) => return Err((corrupt("delivery", id, reason), Some(id))),
                },
                None => missing.push(id),
            }
        }
        if !missing.is_empty() {
            // The mirror and the file disagree: believe the file.
            tracing::warn!(?missing, "leased deliveries have no record; dropped from the queue");
            let mut queue = self.shared.queue();
            for id in missing {
                queue.leased.remove(&id);
            }
        }
        Ok(deliveries)
    }
}

/// A delivery `take_due` leased: where its record is, when it is in the log.
struct Taken {
    due_at_ms: u64,
    id: u64,
    entry: Option<LogEntry>,
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl DeliveryStore for EmbeddedStore {
    fn append(&self, deliveries: Vec<NewDelivery>) -> StoreFuture<'_, Vec<u64>> {
        Box::pin(async move {
            if deliveries.is_empty() {
                return if self.shared.closed.load(Ordering::Acquire) {
                    Err(StoreError::Closed)
                } else {
                    Ok(Vec::new())
                };
            }
            // Encoded here, on the caller's thread, to keep the writer's work to copying the records.
            let records = deliveries
                .iter()
                .map(|new| Ok((new.ingested_at_ms, Arc::from(codec::encode_new(new, new.ingested_at_ms)?))))
                .collect::<Result<Vec<_>, StoreError>>()?;
            drop(deliveries);
            self.call(|reply| Op::Append { records, reply }).await
        })
    }

    fn take_due(&self, now_ms: u64, max: usize) -> Result<Vec<Delivery>, StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let mut taken = Vec::new();
        {
            let mut guard = self.shared.queue();
            let queue = &mut *guard;
            while taken.len() < max {
                match queue.due.first() {
                    Some(&(due_at_ms, id)) if due_at_ms <= now_ms => {
                        queue.due.pop_first();
                        queue.leased.insert(id);
                        // A leased record is read now and seldom again: its memory goes back.
                        let entry = queue.log.get_mut(&id).map(|entry| {
                            let taken = entry.clone();
                            if let Some(bytes) = entry.bytes.take() {
                                queue.cached_bytes -= bytes.len();
                            }
                            taken
                        });
                        taken.push(Taken { due_at_ms, id, entry });
                    }
                    _ => break,
                }
            }
        }
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        self.read_leased(&taken).map_err(|(error, quarantined)| {
            // Hand the leases back, except a corrupt record's: it stays leased, out of the way, until
            // a restart, so that it does not block the deliveries behind it.
            if let Some(id) = quarantined {
                tracing::error!(id, %error, "a delivery record cannot be read; it is held back until restart");
            }
            let mut queue = self.shared.queue();
            for Taken { due_at_ms, id, .. } in taken {
                if Some(id) != quarantined && queue.leased.remove(&id) {
                    queue.due.insert((due_at_ms, id));
                }
            }
            error
        })
    }

    fn next_due_ms(&self) -> Option<u64> {
        if self.shared.closed.load(Ordering::Acquire) {
            return None;
        }
        self.shared.queue().due.first().map(|&(due_at_ms, _)| due_at_ms)
    }

    fn complete(&self, id: u64) -> StoreFuture<'_, ()> {
        Box::pin(self.call(move |reply| Op::Complete { id, reply }))
    }

    fn retry(&self, id: u64, due_at_ms: u64, attempt: FailedAttempt) -> StoreFuture<'_, ()> {
        Box::pin(self.call(move |reply| Op::Retry { id, due_at_ms, attempt, reply }))
    }

    fn dead_letter(&self, id: u64, info: DeadLetterInfo, now_ms: u64) -> StoreFuture<'_, u64> {
        Box::pin(self.call(move |reply| Op::DeadLetter { id, info, now_ms, reply }))
    }

    fn dlq_list(&self, filter: &DlqFilter) -> Result<Vec<DeadLetter>, StoreError> {
        let txn = self.shared.begin_read()?;
        let letters = txn.open_table(DEAD_LETTERS).map_err(|error| self.shared.error(error))?;
        let by_rule = txn.open_table(DEAD_LETTERS_BY_RULE).map_err(|error| self.shared.error(error))?;
        select(&letters, &by_rule, filter).map_err(|error| self.shared.error(error))?
    }

    fn dlq_get(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        let txn = self.shared.begin_read()?;
        let letters = txn.open_table(DEAD_LETTERS).map_err(|error| self.shared.error(error))?;
        let record = letters.get(id).map_err(|error| self.shared.error(error))?;
        record
            .map(|record| {
                codec::decode_dead_letter(id, record.value()).map_err(|reason| corrupt("dead letter", id, reason))
            })
            .transpose()
    }

    fn redrive(&self, filter: DlqFilter, now_ms: u64) -> StoreFuture<'_, usize> {
        Box::pin(self.call(move |reply| Op::Redrive { filter, now_ms, reply }))
    }

    fn purge(&self, filter: DlqFilter) -> StoreFuture<'_, usize> {
        Box::pin(self.call(move |reply| Op::Purge { filter, reply }))
    }

    fn pending(&self) -> u64 {
        self.shared.queue().pending
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if let Some(failure) = self.shared.log_failure.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Err(StoreError::Unavailable(format!("the last write to the delivery log failed: {failure}")));
        }
        if let Some(failure) = self.shared.db_failure.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Err(StoreError::Unavailable(format!("the last commit failed: {failure}")));
        }
        Ok(())
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let queue = self.shared.queue();
        Ok(StoreStats {
            pending: queue.pending,
            retrying: queue.retrying,
            retrying_by_rule: {
                let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
                for rule in queue.retrying_rules.values() {
                    *by_rule.entry(rule).or_insert(0) += 1;
                }
                by_rule.into_iter().map(|(rule, n)| (rule.to_owned(), n)).collect()
            },
            dead_letters: queue.dead_letters.iter().map(|(rule, count)| (rule.clone(), *count)).collect(),
        })
    }
}

/// A store error as the key-value capability reports it.
fn kv_error(error: StoreError) -> KvStoreError {
    KvStoreError::Unavailable(error.to_string())
}

impl KvStore for EmbeddedStore {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvStoreError> {
        let txn = self.shared.begin_read().map_err(kv_error)?;
        let table = txn.open_table(KV).map_err(|error| kv_error(self.shared.error(error)))?;
        let value = table.get((namespace, key)).map_err(|error| kv_error(self.shared.error(error)))?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    fn set<'a>(&'a self, namespace: &'a str, key: &'a str, value: &'a [u8]) -> KvFuture<'a, ()> {
        Box::pin(async move {
            let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), value.to_vec());
            self.call(|reply| Op::KvSet { namespace, key, value, reply }).await.map_err(kv_error)?
        })
    }

    fn delete<'a>(&'a self, namespace: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        Box::pin(async move {
            let (namespace, key) = (namespace.to_owned(), key.to_owned());
            self.call(|reply| Op::KvDelete { namespace, key, reply }).await.map_err(kv_error)
        })
    }
}

/// The dead letters that `filter` picks, oldest first, from a read or a write transaction's tables.
/// The outer error is redb's; the inner one a record that cannot be decoded.
fn select(
    letters: &impl ReadableTable<u64, &'static [u8]>,
    by_rule: &impl ReadableTable<(&'static str, u64), ()>,
    filter: &DlqFilter,
) -> Result<Result<Vec<DeadLetter>, StoreError>, redb::Error> {
    let limit = filter.limit.unwrap_or(usize::MAX);
    let mut chosen = Vec::new();
    let consider = |id: u64, record: &[u8], chosen: &mut Vec<DeadLetter>| -> Result<(), StoreError> {
        let letter = codec::decode_dead_letter(id, record).map_err(|reason| corrupt("dead letter", id, reason))?;
        if filter.matches(&letter) {
            chosen.push(letter);
        }
        Ok(())
    };
    if limit == 0 {
        return Ok(Ok(chosen));
    }
    // The narrowest way in: the ids given, else the rule's index, else every letter.
    if let Some(ids) = &filter.ids {
        let mut ids = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(record) = letters.get(id)?
                && let Err(error) = consider(id, record.value(), &mut chosen)
            {
                return Ok(Err(error));
            }
            if chosen.len() >= limit {
                break;
            }
        }
    } else if let Some(rule) = &filter.rule {
        for entry in by_rule.range((rule.as_str(), 0u64)..=(rule.as_str(), u64::MAX))? {
            let id = entry?.0.value().1;
            if let Some(record) = letters.get(id)?
                && let Err(error) = consider(id, record.value(), &mut chosen)
            {
                return Ok(Err(error));
            }
            if chosen.len() >= limit {
                break;
            }
        }
    } else {
        for entry in letters.iter()? {
            let (id, record) = entry?;
            if let Err(error) = consider(id.value(), record.value(), &mut chosen) {
                return Ok(Err(error));
            }
            if chosen.len() >= limit {
                break;
            }
        }
    }
    Ok(Ok(chosen))
}

enum Request {
    Op(Op),
    Shutdown,
}

/// A request and the channel for its answer.
enum Op {
    /// `(due_at_ms, record)` per delivery, encoded by the caller.
    Append {
        records: Vec<(u64, Arc<[u8]>)>,
        reply: Reply<Vec<u64>>,
    },
    Complete {
        id: u64,
        reply: Reply<()>,
    },
    Retry {
        id: u64,
        due_at_ms: u64,
        attempt: FailedAttempt,
        reply: Reply<()>,
    },
    DeadLetter {
        id: u64,
        info: DeadLetterInfo,
        now_ms: u64,
        reply: Reply<u64>,
    },
    Redrive {
        filter: DlqFilter,
        now_ms: u64,
        reply: Reply<usize>,
    },
    Purge {
        filter: DlqFilter,
        reply: Reply<usize>,
    },
    /// The inner result is the namespace's refusal (`Full`).
    KvSet {
        namespace: String,
        key: String,
        value: Vec<u8>,
        reply: Reply<Result<(), KvStoreError>>,
    },
    KvDelete {
        namespace: String,
        key: String,
        reply: Reply<()>,
    },
}

impl Op {
    /// Answers the request: its own result, or `failure` when the batch did not commit.
    fn answer(self, failure: Option<&StoreError>) {
        match self {
            Op::Append { reply, .. } => reply.send(failure),
            Op::Complete { reply, .. } | Op::Retry { reply, .. } => reply.send(failure),
            Op::DeadLetter { reply, .. } => reply.send(failure),
            Op::Redrive { reply, .. } | Op::Purge { reply, .. } => reply.send(failure),
            Op::KvSet { reply, .. } => reply.send(failure),
            Op::KvDelete { reply, .. } => reply.send(failure),
        }
    }
}

/// The answer channel, and the answer once the request is applied (sent after the commit).
struct Reply<T> {
    sender: oneshot::Sender<Result<T, StoreError>>,
    result: Option<Result<T, StoreError>>,
}

impl<T> Reply<T> {
    fn send(self, failure: Option<&StoreError>) {
        let result = match failure {
            Some(error) => Err(error.clone()),
            None => self.result.unwrap_or_else(|| Err(StoreError::Unavailable("the request was not applied".into()))),
        };
        // The caller may have stopped waiting; the change stands all the same.
        let _ = self.sender.send(result);
    }
}

/// What a batch changes in the in-memory queue, published after the commit.
#[derive(Debug, Default)]
struct Delta {
    /// Deliveries that became due (appended, retried, redriven).
    due: Vec<(u64, u64)>,
    /// Leases that ended.
    released: FxHashSet<u64>,
    pending: i64,
    retrying: i64,
    /// Deliveries that began (`Some(rule)`) or stopped (`None`) being retried.
    retrying_rules: Vec<(u64, Option<Arc<str>>)>,
    dead_letters: HashMap<String, i64>,
    /// Deliveries appended to the log.
    logged: Vec<(u64, LogEntry)>,
    /// Deliveries that left the log (done, or moved into the database), with their segment.
    unlogged: Vec<(u64, u64)>,
    /// Deliveries copied to the head: id, the segment they left, where they are now.
    relocated: Vec<(u64, u64, LogEntry)>,
    /// Other changes to tables (key-value entries, moved-delivery marks): nothing to publish, but
    /// something to commit.
    writes: usize,
}

impl Delta {
    /// Whether the batch changed nothing: every change to a table is recorded here too.
    fn is_empty(&self) -> bool {
        self.due.is_empty()
            && self.released.is_empty()
            && self.dead_letters.is_empty()
            && self.unlogged.is_empty()
            && self.writes == 0
    }
}

/// The tables a batch writes.
struct Tables<'txn> {
    deliveries: redb::Table<'txn, u64, &'static [u8]>,
    due: redb::Table<'txn, (u64, u64), u32>,
    letters: redb::Table<'txn, u64, &'static [u8]>,
    by_rule: redb::Table<'txn, (&'static str, u64), ()>,
    kv: redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    kv_counts: redb::Table<'txn, &'static str, u64>,
    retired: redb::Table<'txn, u64, ()>,
}

/// An op's own outcome inside a batch (`Ok(Err(..))`) or a redb error that fails the whole batch.
type Applied<T> = Result<Result<T, StoreError>, redb::Error>;

/// The writer thread.
struct Writer {
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    opener: Opener,
    ids: Ids,
    log: Log,
    /// Every delivery id below this is gone from the log: its `log_retired` marks can go, at the
    /// next database commit.
    retired_floor: Option<u64>,
    /// When a commit was last synced (in the `durability = "none"` mode, one per second is).
    last_sync: std::time::Instant,
    /// Requests in the last batch: more than one means concurrent callers (see [`linger`]).
    last_ops: usize,
    /// Failed log writes and database commits: each part answers every failure, and logs at most
    /// one line per ten seconds (a full disk fails thousands of batches a second).
    log_failures: Throttle,
    db_failures: Throttle,
}

/// Says which failures to log: at most one per [`Throttle::INTERVAL`], each with how many went
/// unlogged since the last, and the first success after a logged failure. A store that fails and
/// succeeds by turns (a disk at its last blocks) logs at most two lines per interval.
#[derive(Default)]
struct Throttle {
    last: std::cell::Cell<Option<std::time::Instant>>,
    unlogged: std::cell::Cell<u64>,
    logged: std::cell::Cell<bool>,
}

impl Throttle {
    const INTERVAL: Duration = Duration::from_secs(10);

    /// A failure: `Some(failures not logged since the last)` when this one is to be logged.
    fn due(&self) -> Option<u64> {
        let now = std::time::Instant::now();
        if self.last.get().is_some_and(|at| now.duration_since(at) < Self::INTERVAL) {
            self.unlogged.set(self.unlogged.get() + 1);
            return None;
        }
        self.last.set(Some(now));
        self.logged.set(true);
        Some(self.unlogged.replace(0))
    }

    /// A success: whether to say that it follows a logged failure.
    fn recovered(&self) -> bool {
        self.logged.replace(false)
    }
}

/// How long the writer waits for more requests before a batch's commit: `delay` when the commit
/// will be synced and the last batch held more than one request (callers are sending
/// concurrently, so more are likely on their way and may share the fdatasync), not at all for a
/// lone caller or a full batch. Waiting trades a little latency for fewer syncs, whose CPU cost
/// (the write, the flush, waking the writer and its callers) is the store's under load.
fn linger(last_ops: usize, gathered: usize, sync: bool, delay: Duration) -> Option<Duration> {
    (sync && last_ops > 1 && gathered < MAX_BATCH && !delay.is_zero()).then_some(delay)
}

impl Writer {
    fn run(mut self) {
        loop {
            let first = match self.requests.recv_timeout(RECOVERY_INTERVAL) {
                Ok(request) => request,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.shared.needs_reopen.load(Ordering::Acquire) {
                        // Logged inside; the next batch or timeout tries again.
                        let _ = self.reopen();
                    }
                    if self.log.unsynced() {
                        // `durability = "none"`: what was written a second ago reaches the disk now.
                        let _ = self.sync_log();
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut ops = Vec::new();
            let mut shutdown = false;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Op(op) => ops.push(op),
                    Request::Shutdown => {
                        shutdown = true;
                        break;
                    }
                }
                if ops.len() < MAX_BATCH {
                    next = self.requests.try_recv().ok();
                }
            }
            let sync = self.shared.sync.load(Ordering::Relaxed);
            let delay = Duration::from_micros(self.shared.commit_delay_us.load(Ordering::Relaxed));
            if !shutdown && let Some(wait) = linger(self.last_ops, ops.len(), sync, delay) {
                // Others are sending too: let more of them join this commit's one fdatasync.
                std::thread::sleep(wait);
                while ops.len() < MAX_BATCH {
                    match self.requests.try_recv() {
                        Ok(Request::Op(op)) => ops.push(op),
                        Ok(Request::Shutdown) => {
                            shutdown = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            self.last_ops = ops.len();
            if !ops.is_empty() {
                self.batch(ops);
            }
            if shutdown {
                break;
            }
        }
        // Whatever raced with the shutdown is refused; what comes later finds the channel closed.
        while let Ok(request) = self.requests.try_recv() {
            if let Request::Op(op) = request {
                op.answer(Some(&StoreError::Closed));
            }
        }
        if let Err(error) = self.sync_log() {
            tracing::warn!(%error, "syncing the delivery log before closing");
        }
        let db = self.shared.db.write().unwrap_or_else(PoisonError::into_inner).take();
        // Without per-commit syncs, the last commits are on disk only after one synced commit.
        if let Some(db) = &db
            && !self.shared.sync.load(Ordering::Relaxed)
            && let Err(error) =
                db.begin_write().map_err(redb::Error::from).and_then(|txn| txn.commit().map_err(redb::Error::from))
        {
            tracing::warn!(path = %self.shared.path.display(), %error, "syncing the delivery store before closing");
        }
        if let Some(db) = db
            && let Err(error) = db.close()
        {
            tracing::warn!(path = %self.shared.path.display(), %error, "closing the delivery store");
        }
    }

    /// Syncs what the log holds unsynced.
    fn sync_log(&mut self) -> Result<(), StoreError> {
        if !self.log.unsynced() {
            return Ok(());
        }
        self.log.flush(true).map_err(|error| self.fail_log(&error))
    }

    /// Applies a batch: first what only the log needs (appends, and completions of deliveries in
    /// the log), written with one write and one sync and answered at once; then the rest in one
    /// database transaction. The two parts fail independently.
    fn batch(&mut self, ops: Vec<Op>) {
        let sync = self.shared.sync.load(Ordering::Relaxed) || self.last_sync.elapsed() >= Duration::from_secs(1);
        if sync {
            self.last_sync = std::time::Instant::now();
        }
        let (mut log_ops, mut db_ops) = (Vec::new(), Vec::new());
        let mut delta = Delta::default();
        let mut pushed = 0;
        let head = self.log.head();
        for mut op in ops {
            match &mut op {
                Op::Append { records, reply } => {
                    let Some((segment, file)) = &head else {
                        reply.result =
                            Some(Err(StoreError::Unavailable("the delivery log has no head segment".into())));
                        log_ops.push(op);
                        continue;
                    };
                    let mut assigned = Vec::with_capacity(records.len());
                    for (due_at_ms, record) in records.drain(..) {
                        let id = self.ids.next_delivery;
                        self.ids.next_delivery += 1;
                        let offset = self.log.push_delivery(id, &record);
                        pushed += 1;
                        let len = record.len() as u32;
                        let entry = LogEntry {
                            segment: *segment,
                            due_at_ms,
                            offset,
                            len,
                            file: file.clone(),
                            bytes: Some(record),
                        };
                        delta.due.push((due_at_ms, id));
                        delta.logged.push((id, entry));
                        assigned.push(id);
                    }
                    delta.pending += assigned.len() as i64;
                    reply.result = Some(Ok(assigned));
                    log_ops.push(op);
                }
                Op::Complete { id, reply } => {
                    let segment = {
                        let queue = self.shared.queue();
                        queue
                            .log
                            .get(id)
                            .map(|entry| entry.segment)
                            .filter(|_| queue.leased.contains(id) && !delta.released.contains(id))
                    };
                    let Some(segment) = segment else {
                        // In the database, or not leased: the database part answers.
                        db_ops.push(op);
                        continue;
                    };
                    self.log.push_done(*id);
                    delta.released.insert(*id);
                    delta.pending -= 1;
                    delta.unlogged.push((*id, segment));
                    reply.result = Some(Ok(()));
                    log_ops.push(op);
                }
                _ => db_ops.push(op),
            }
        }
        if !log_ops.is_empty() {
            pushed += self.relocate(&head, &mut delta);
            let failure = self.write_log(sync, pushed).err();
            if failure.is_none() {
                for &(_, segment) in &delta.unlogged {
                    self.log.release(segment);
                }
                for (_, from, _) in &delta.relocated {
                    self.log.release(*from);
                }
                self.shared.publish(delta);
            }
            for op in log_ops {
                op.answer(failure.as_ref());
            }
            match self.log.maintain(self.ids.next_delivery) {
                Ok(Some(floor)) => self.retired_floor = Some(floor),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "the delivery log could not start or remove a segment"),
            }
        }
        if !db_ops.is_empty() {
            let failure = self.commit_db(&mut db_ops, sync).err();
            for op in db_ops {
                op.answer(failure.as_ref());
            }
        }
    }

    /// Copies the live deliveries of the oldest log segment to the head when it is mostly dead
    /// (see [`Log::relocatable`]), at most `RELOCATE_BATCH` per batch. Returns how many.
    fn relocate(&mut self, head: &Option<(u64, Arc<File>)>, delta: &mut Delta) -> usize {
        let (Some((segment, file)), Some((oldest, ids))) = (head, self.log.relocatable(MAX_SEGMENTS)) else {
            return 0;
        };
        let moving: Vec<(u64, LogEntry)> = {
            let queue = self.shared.queue();
            ids.iter()
                // Not one this batch completes: its done frame is already in the batch, before.
                .filter(|id| !delta.released.contains(id))
                .filter_map(|id| queue.log.get(id).filter(|entry| entry.segment == oldest).map(|e| (*id, e.clone())))
                .take(RELOCATE_BATCH)
                .collect()
        };
        let mut pushed = 0;
        for (id, entry) in moving {
            let record = match entry.record(id) {
                Ok(record) => record,
                Err(error) => {
                    tracing::warn!(id, %error, "a delivery in the log could not be copied to a new segment");
                    continue;
                }
            };
            let offset = self.log.push_delivery(id, &record);
            pushed += 1;
            let to = LogEntry { segment: *segment, offset, file: file.clone(), bytes: None, ..entry };
            delta.relocated.push((id, oldest, to));
        }
        pushed
    }

    /// Writes the batch's log frames (`pushed` deliveries among them) and syncs them if `sync`.
    fn write_log(&mut self, sync: bool, pushed: usize) -> Result<(), StoreError> {
        let result = if self.shared.log_fault.load(Ordering::Relaxed) {
            Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device (injected)"))
        } else {
            self.log.flush(sync)
        };
        match result {
            Ok(()) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                *self.shared.log_failure.lock().unwrap_or_else(PoisonError::into_inner) = None;
                if self.log_failures.recovered() {
                    tracing::info!("the delivery log is written again");
                }
                Ok(())
            }
            Err(error) => {
                self.log.discard(pushed);
                Err(self.fail_log(&error))
            }
        }
    }

    fn fail_log(&self, error: &std::io::Error) -> StoreError {
        let error = StoreError::Unavailable(format!(
            "cannot write the delivery log in {}: {error}",
            self.shared.log_dir.display()
        ));
        *self.shared.log_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
        if let Some(unlogged) = self.log_failures.due() {
            tracing::error!(%error, unlogged, "a write to the delivery log failed; its requests are answered Unavailable");
        }
        error
    }

    /// Applies `ops` in one transaction and commits it. Each op's own result is left in its reply.
    fn commit_db(&mut self, ops: &mut [Op], sync: bool) -> Result<(), StoreError> {
        if self.shared.needs_reopen.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let mut txn = {
            let db = self.shared.db.read().unwrap_or_else(PoisonError::into_inner);
            let Some(db) = db.as_ref() else {
                return Err(StoreError::Unavailable(format!("{} is not open", self.shared.path.display())));
            };
            db.begin_write().map_err(|error| self.fail(error.into()))?
        };
        let mut delta = Delta::default();
        let mut ids = self.ids;
        let floor = self.retired_floor;
        let applied = txn
            .set_durability(if sync { Durability::Immediate } else { Durability::None })
            .map_err(redb::Error::from)
            .and_then(|()| self.apply(&txn, ops, &mut delta, &mut ids, floor));
        if let Err(error) = applied {
            // Dropping the transaction would abort it too; an abort error adds nothing.
            let _ = txn.abort();
            return Err(self.fail(error));
        }
        if delta.is_empty() {
            // Only refusals (unknown ids, nothing matched): no need to write or wait for the disk.
            let _ = txn.abort();
            return Ok(());
        }
        txn.commit().map_err(|error| self.fail(error.into()))?;
        self.ids = ids;
        if floor.is_some() {
            self.retired_floor = None;
        }
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        for &(_, segment) in &delta.unlogged {
            self.log.release(segment);
        }
        self.shared.publish(delta);
        *self.shared.db_failure.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if self.db_failures.recovered() {
            tracing::info!("delivery store commits succeed again");
        }
        Ok(())
    }

    fn fail(&self, error: redb::Error) -> StoreError {
        let error = self.shared.error(error);
        *self.shared.db_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
        if let Some(unlogged) = self.db_failures.due() {
            tracing::error!(%error, unlogged, "a delivery store commit failed; its requests are answered Unavailable");
        }
        error
    }

    /// Closes the failed database, opens it again and reloads the in-memory queue from it.
    fn reopen(&mut self) -> Result<(), StoreError> {
        let path = self.shared.path.clone();
        let old = self.shared.db.write().unwrap_or_else(PoisonError::into_inner).take();
        // The old handle's locks must go before the file can be opened again; its close reports
        // the same I/O error again.
        drop(old);
        let reopened = (self.opener)(&path).and_then(|db| {
            init(&db, &path)?;
            let mut queue = self.shared.queue();
            load(&db, &mut queue, &mut self.ids).map_err(|error| store_error(&path, error))?;
            Ok(db)
        });
        match reopened {
            Ok(db) => {
                *self.shared.db.write().unwrap_or_else(PoisonError::into_inner) = Some(db);
                self.shared.needs_reopen.store(false, Ordering::Release);
                tracing::info!(path = %path.display(), "the delivery store reopened after an I/O error");
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "the delivery store cannot reopen its file");
                Err(error)
            }
        }
    }

    fn apply(
        &self,
        txn: &WriteTransaction,
        ops: &mut [Op],
        delta: &mut Delta,
        ids: &mut Ids,
        retired_floor: Option<u64>,
    ) -> Result<(), redb::Error> {
        let before = *ids;
        let mut tables = Tables {
            deliveries: txn.open_table(DELIVERIES)?,
            due: txn.open_table(DUE)?,
            letters: txn.open_table(DEAD_LETTERS)?,
            by_rule: txn.open_table(DEAD_LETTERS_BY_RULE)?,
            kv: txn.open_table(KV)?,
            kv_counts: txn.open_table(KV_COUNTS)?,
            retired: txn.open_table(LOG_RETIRED)?,
        };
        let kv_max_entries = self.shared.kv_max_entries.load(Ordering::Relaxed);
        for op in ops.iter_mut() {
            match op {
                // `batch` sends every append to the log part; none reaches the database.
                Op::Append { reply, .. } => {
                    reply.result = Some(Err(StoreError::Unavailable("an append reached the database part".into())));
                }
                Op::Complete { id, reply } => reply.result = Some(self.complete(&mut tables, *id, delta)?),
                Op::Retry { id, due_at_ms, attempt, reply } => {
                    reply.result = Some(self.retry(&mut tables, *id, *due_at_ms, attempt, delta)?);
                }
                Op::DeadLetter { id, info, now_ms, reply } => {
                    reply.result = Some(self.dead_letter(&mut tables, *id, info, *now_ms, delta, ids)?);
                }
                Op::Redrive { filter, now_ms, reply } => {
                    reply.result = Some(redrive(&mut tables, filter, *now_ms, delta, ids)?);
                }
                Op::Purge { filter, reply } => reply.result = Some(purge(&mut tables, filter, delta)?),
                Op::KvSet { namespace, key, value, reply } => {
                    reply.result = Some(Ok(kv_set(&mut tables, namespace, key, value, kv_max_entries, delta)?));
                }
                Op::KvDelete { namespace, key, reply } => {
                    kv_delete(&mut tables, namespace, key, delta)?;
                    reply.result = Some(Ok(()));
                }
            }
        }
        if let Some(floor) = retired_floor {
            tables.retired.retain_in(..floor, |_, ()| false)?;
            delta.writes += 1;
        }
        if *ids != before {
            let mut meta = txn.open_table(META)?;
            meta.insert(NEXT_DELIVERY_ID, ids.next_delivery)?;
            meta.insert(NEXT_DEAD_LETTER_ID, ids.next_dead_letter)?;
        }
        Ok(())
    }

    /// Whether `id` is leased and its lease not yet ended by an earlier request of this batch.
    fn leased(&self, id: u64, delta: &Delta) -> bool {
        !delta.released.contains(&id) && self.shared.queue().leased.contains(&id)
    }

    /// The leased delivery `id` as recorded, and its log segment when it is in the log; `NotFound`
    /// if it is not leased or not there.
    fn leased_delivery(&self, tables: &Tables<'_>, id: u64, delta: &mut Delta) -> Applied<(Delivery, Option<u64>)> {
        if !self.leased(id, delta) {
            return Ok(Err(StoreError::NotFound(id)));
        }
        let entry = self.shared.queue().log.get(&id).cloned();
        if let Some(entry) = entry {
            let decoded = entry.record(id).and_then(|record| {
                codec::decode_delivery(id, &record).map_err(|reason| corrupt("delivery", id, reason))
            });
            return Ok(decoded.map(|delivery| (delivery, Some(entry.segment))));
        }
        let Some(record) = tables.deliveries.get(id)? else {
            // Leased but gone (the file was reloaded): the lease ends with it.
            delta.released.insert(id);
            return Ok(Err(StoreError::NotFound(id)));
        };
        Ok(codec::decode_delivery(id, record.value())
            .map(|delivery| (delivery, None))
            .map_err(|reason| corrupt("delivery", id, reason)))
    }

    fn complete(&self, tables: &mut Tables<'_>, id: u64, delta: &mut Delta) -> Applied<()> {
        if !self.leased(id, delta) {
            return Ok(Err(StoreError::NotFound(id)));
        }
        let header = match tables.deliveries.get(id)? {
            None => {
                delta.released.insert(id);
                return Ok(Err(StoreError::NotFound(id)));
            }
            Some(record) => match codec::delivery_header(record.value()) {
                Ok(header) => header,
                Err(reason) => return Ok(Err(corrupt("delivery", id, reason))),
            },
        };
        tables.deliveries.remove(id)?;
        tables.due.remove((header.due_at_ms, id))?;
        delta.released.insert(id);
        delta.pending -= 1;
        delta.retrying -= i64::from(header.attempts > 0);
        if header.attempts > 0 {
            delta.retrying_rules.push((id, None));
        }
        Ok(Ok(()))
    }

    fn retry(
        &self,
        tables: &mut Tables<'_>,
        id: u64,
        due_at_ms: u64,
        attempt: &FailedAttempt,
        delta: &mut Delta,
    ) -> Applied<()> {
        let (mut delivery, segment) = match self.leased_delivery(tables, id, delta)? {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let (old_due, was_retrying) = (delivery.due_at_ms, delivery.attempts > 0);
        record_attempt(&mut delivery, attempt);
        delivery.due_at_ms = due_at_ms;
        let record = match codec::encode_delivery(&delivery) {
            Ok(record) => record,
            Err(error) => return Ok(Err(error)),
        };
        if let Some(segment) = segment {
            tables.retired.insert(id, ())?;
            delta.unlogged.push((id, segment));
        }
        tables.deliveries.insert(id, record.as_slice())?;
        tables.due.remove((old_due, id))?;
        tables.due.insert((due_at_ms, id), delivery.attempts)?;
        delta.released.insert(id);
        delta.due.push((due_at_ms, id));
        delta.retrying += i64::from(!was_retrying);
        if !was_retrying {
            delta.retrying_rules.push((id, Some(Arc::from(delivery.new.rule.as_str()))));
        }
        Ok(Ok(()))
    }

    fn dead_letter(
        &self,
        tables: &mut Tables<'_>,
        id: u64,
        info: &mut DeadLetterInfo,
        now_ms: u64,
        delta: &mut Delta,
        ids: &mut Ids,
    ) -> Applied<u64> {
        let (mut delivery, segment) = match self.leased_delivery(tables, id, delta)? {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let (old_due, was_retrying) = (delivery.due_at_ms, delivery.attempts > 0);
        record_attempt(&mut delivery, &info.attempt);
        let letter = DeadLetter {
            id: ids.next_dead_letter,
            delivery,
            input: info.input.take(),
            error: info.attempt.error.clone(),
            exhausted: info.exhausted,
            dead_lettered_at_ms: now_ms,
        };
        let record = match codec::encode_dead_letter(&letter) {
            Ok(record) => record,
            Err(error) => return Ok(Err(error)),
        };
        ids.next_dead_letter += 1;
        if let Some(segment) = segment {
            tables.retired.insert(id, ())?;
            delta.unlogged.push((id, segment));
        }
        let rule = letter.delivery.new.rule.as_str();
        tables.deliveries.remove(id)?;
        tables.due.remove((old_due, id))?;
        tables.letters.insert(letter.id, record.as_slice())?;
        tables.by_rule.insert((rule, letter.id), ())?;
        delta.released.insert(id);
        delta.pending -= 1;
        delta.retrying -= i64::from(was_retrying);
        if was_retrying {
            delta.retrying_rules.push((id, None));
        }
        *delta.dead_letters.entry(rule.to_string()).or_insert(0) += 1;
        Ok(Ok(letter.id))
    }
}

/// Counts a failed attempt into a delivery's record.
fn record_attempt(delivery: &mut Delivery, attempt: &FailedAttempt) {
    delivery.attempts = delivery.attempts.saturating_add(1);
    delivery.first_attempt_at_ms.get_or_insert(attempt.at_ms);
    delivery.last_attempt_at_ms = Some(attempt.at_ms);
    delivery.last_error = Some(attempt.error.clone());
}

fn redrive(
    tables: &mut Tables<'_>,
    filter: &DlqFilter,
    now_ms: u64,
    delta: &mut Delta,
    ids: &mut Ids,
) -> Applied<usize> {
    let letters = match select(&tables.letters, &tables.by_rule, filter)? {
        Ok(letters) => letters,
        Err(error) => return Ok(Err(error)),
    };
    // Encode everything first, so that a failure leaves the transaction untouched.
    let mut records = Vec::with_capacity(letters.len());
    for letter in &letters {
        match codec::encode_new(&letter.delivery.new, now_ms) {
            Ok(record) => records.push(record),
            Err(error) => return Ok(Err(error)),
        }
    }
    for (letter, record) in letters.iter().zip(records) {
        let id = ids.next_delivery;
        ids.next_delivery += 1;
        let rule = letter.delivery.new.rule.as_str();
        tables.letters.remove(letter.id)?;
        tables.by_rule.remove((rule, letter.id))?;
        tables.deliveries.insert(id, record.as_slice())?;
        tables.due.insert((now_ms, id), 0)?;
        delta.due.push((now_ms, id));
        delta.pending += 1;
        *delta.dead_letters.entry(rule.to_string()).or_insert(0) -= 1;
    }
    Ok(Ok(letters.len()))
}

fn purge(tables: &mut Tables<'_>, filter: &DlqFilter, delta: &mut Delta) -> Applied<usize> {
    let letters = match select(&tables.letters, &tables.by_rule, filter)? {
        Ok(letters) => letters,
        Err(error) => return Ok(Err(error)),
    };
    for letter in &letters {
        let rule = letter.delivery.new.rule.as_str();
        tables.letters.remove(letter.id)?;
        tables.by_rule.remove((rule, letter.id))?;
        *delta.dead_letters.entry(rule.to_string()).or_insert(0) -= 1;
    }
    Ok(Ok(letters.len()))
}

/// Sets a key-value entry, counting a new key into its namespace; `Full` if that has no room.
fn kv_set(
    tables: &mut Tables<'_>,
    namespace: &str,
    key: &str,
    value: &[u8],
    max_entries: usize,
    delta: &mut Delta,
) -> Result<Result<(), KvStoreError>, redb::Error> {
    if tables.kv.get((namespace, key))?.is_none() {
        let count = tables.kv_counts.get(namespace)?.map_or(0, |count| count.value());
        if count >= u64::try_from(max_entries).unwrap_or(u64::MAX) {
            return Ok(Err(KvStoreError::Full(format!("the store holds at most {max_entries} keys"))));
        }
        tables.kv_counts.insert(namespace, count + 1)?;
    }
    tables.kv.insert((namespace, key), value)?;
    delta.writes += 1;
    Ok(Ok(()))
}

/// Deletes a key-value entry, if there is one, and uncounts it.
fn kv_delete(tables: &mut Tables<'_>, namespace: &str, key: &str, delta: &mut Delta) -> Result<(), redb::Error> {
    if tables.kv.remove((namespace, key))?.is_none() {
        return Ok(());
    }
    let count = tables.kv_counts.get(namespace)?.map_or(0, |count| count.value());
    if count <= 1 {
        tables.kv_counts.remove(namespace)?;
    } else {
        tables.kv_counts.insert(namespace, count - 1)?;
    }
    delta.writes += 1;
    Ok(())
}
