//! The embedded store against the contract of `store.rs`, on real files in temporary directories.

use std::future::Future;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

use super::*;
use crate::delivery::store::{AttemptError, Exhausted};
use crate::invoke::KvHandle;

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("switchyard-store-{name}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(future)
}

fn new_delivery(event_id: &str, rule: &str, target: &str, ingested_at_ms: u64) -> NewDelivery {
    NewDelivery {
        event_id: event_id.to_string(),
        source: "test".to_string(),
        detail_type: "Test".to_string(),
        event: format!(r#"{{"id":"{event_id}","detail":{{}}}}"#).into_bytes(),
        rule: rule.to_string(),
        target: target.to_string(),
        ingested_at_ms,
        hop: 0,
        causation: None,
    }
}

fn failed(at_ms: u64, code: &str) -> FailedAttempt {
    FailedAttempt { at_ms, error: AttemptError { code: code.to_string(), message: format!("{code} at {at_ms}") } }
}

fn ids_of(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(|delivery| delivery.id).collect()
}

/// Appends one delivery, leases it and dead-letters it; returns the dead letter's id.
async fn make_dead_letter(store: &EmbeddedStore, new: NewDelivery, code: &str, at_ms: u64) -> u64 {
    let due = new.ingested_at_ms;
    let id = store.append(vec![new]).await.expect("append")[0];
    let taken = store.take_due(due, usize::MAX).expect("take_due");
    assert_eq!(ids_of(&taken), [id]);
    let info = DeadLetterInfo { attempt: failed(at_ms, code), input: None, exhausted: None };
    store.dead_letter(id, info, at_ms).await.expect("dead_letter")
}

#[test]
fn take_due_leases_in_due_order_and_complete_removes() {
    let dir = TempDir::new("order");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        let ids = store
            .append(vec![
                new_delivery("c", "r", "t", 300),
                new_delivery("a", "r", "t", 100),
                new_delivery("b", "r", "t", 200),
            ])
            .await
            .expect("append");
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "increasing ids: {ids:?}");
        assert_eq!(store.next_due_ms(), Some(100));
        assert_eq!(store.stats().expect("stats").pending, 3);

        assert!(store.take_due(99, 10).expect("take_due").is_empty());
        let first = store.take_due(150, 10).expect("take_due");
        assert_eq!(ids_of(&first), [ids[1]]);
        assert_eq!(first[0].new, new_delivery("a", "r", "t", 100));
        assert_eq!((first[0].attempts, first[0].due_at_ms, first[0].last_error.clone()), (0, 100, None));
        assert_eq!(store.next_due_ms(), Some(200));

        let rest = store.take_due(1_000, 1).expect("take_due");
        assert_eq!(ids_of(&rest), [ids[2]]);
        let rest = store.take_due(1_000, 10).expect("take_due");
        assert_eq!(ids_of(&rest), [ids[0]]);
        assert!(store.take_due(u64::MAX, 10).expect("take_due").is_empty(), "leased ones are not handed out again");
        assert_eq!(store.next_due_ms(), None);

        store.complete(ids[1]).await.expect("complete");
        assert_eq!(store.complete(ids[1]).await, Err(StoreError::NotFound(ids[1])));
        assert_eq!(store.complete(999).await, Err(StoreError::NotFound(999)));
        assert_eq!(store.stats().expect("stats").pending, 2);

        // A delivery that is not leased cannot be completed.
        let unleased = store.append(vec![new_delivery("d", "r", "t", 400)]).await.expect("append")[0];
        assert_eq!(store.complete(unleased).await, Err(StoreError::NotFound(unleased)));
        assert_eq!(store.append(Vec::new()).await, Ok(Vec::new()));
    });
}

#[test]
fn retry_makes_a_delivery_due_later_with_the_attempt_recorded() {
    let dir = TempDir::new("retry");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        let id = store.append(vec![new_delivery("a", "r", "t", 100)]).await.expect("append")[0];
        assert_eq!(ids_of(&store.take_due(100, 10).expect("take_due")), [id]);
        store.retry(id, 5_000, failed(200, "TIMEOUT")).await.expect("retry");
        assert_eq!(store.retry(id, 5_000, failed(200, "TIMEOUT")).await, Err(StoreError::NotFound(id)));
        assert_eq!(
            store.stats().expect("stats"),
            StoreStats { pending: 1, retrying: 1, retrying_by_rule: vec![("r".into(), 1)], dead_letters: Vec::new() }
        );

        assert_eq!(store.next_due_ms(), Some(5_000));
        assert!(store.take_due(4_999, 10).expect("take_due").is_empty(), "not due before its time");
        let again = store.take_due(5_000, 10).expect("take_due");
        assert_eq!(ids_of(&again), [id]);
        let delivery = &again[0];
        assert_eq!(delivery.attempts, 1);
        assert_eq!((delivery.first_attempt_at_ms, delivery.last_attempt_at_ms), (Some(200), Some(200)));
        assert_eq!(delivery.due_at_ms, 5_000);
        assert_eq!(delivery.last_error, Some(failed(200, "TIMEOUT").error));

        store.retry(id, 9_000, failed(5_100, "THROTTLING")).await.expect("retry");
        let again = store.take_due(9_000, 10).expect("take_due");
        let delivery = &again[0];
        assert_eq!(delivery.attempts, 2);
        assert_eq!((delivery.first_attempt_at_ms, delivery.last_attempt_at_ms), (Some(200), Some(5_100)));
        assert_eq!(delivery.last_error, Some(failed(5_100, "THROTTLING").error));
        assert_eq!(store.stats().expect("stats").retrying, 1);

        store.complete(id).await.expect("complete");
        assert_eq!(store.stats().expect("stats"), StoreStats::default());
    });
}

#[test]
fn dead_letter_moves_the_delivery_with_every_field_and_redrive_brings_it_back() {
    let dir = TempDir::new("dead-letter");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        let mut new = new_delivery("a", "orders", "billing", 100);
        new.hop = 2;
        new.causation = Some("parent".into());
        let id = store.append(vec![new.clone()]).await.expect("append")[0];
        store.take_due(100, 10).expect("take_due");
        store.retry(id, 1_000, failed(200, "TIMEOUT")).await.expect("retry");
        store.take_due(1_000, 10).expect("take_due");
        let info = DeadLetterInfo {
            attempt: failed(1_100, "CONSUMER_RETRYABLE"),
            input: Some(b"{\"transformed\":true}".to_vec()),
            exhausted: Some(Exhausted::MaximumRetryAttempts),
        };
        let letter_id = store.dead_letter(id, info.clone(), 1_101).await.expect("dead_letter");
        assert_eq!(store.dead_letter(id, info, 1_102).await, Err(StoreError::NotFound(id)));
        assert_eq!(
            store.stats().expect("stats"),
            StoreStats {
                pending: 0,
                retrying: 0,
                retrying_by_rule: Vec::new(),
                dead_letters: vec![("orders".into(), 1)]
            }
        );
        assert!(store.take_due(u64::MAX, 10).expect("take_due").is_empty());

        let letter = store.dlq_get(letter_id).expect("dlq_get").expect("the letter");
        let expected = DeadLetter {
            id: letter_id,
            delivery: Delivery {
                id,
                new: new.clone(),
                attempts: 2,
                first_attempt_at_ms: Some(200),
                last_attempt_at_ms: Some(1_100),
                due_at_ms: 1_000,
                last_error: Some(failed(1_100, "CONSUMER_RETRYABLE").error),
            },
            input: Some(b"{\"transformed\":true}".to_vec()),
            error: failed(1_100, "CONSUMER_RETRYABLE").error,
            exhausted: Some(Exhausted::MaximumRetryAttempts),
            dead_lettered_at_ms: 1_101,
        };
        assert_eq!(letter, expected);
        assert_eq!(store.dlq_get(letter_id + 100), Ok(None));

        let filter = DlqFilter { rule: Some("orders".into()), ..DlqFilter::default() };
        assert_eq!(store.redrive(filter.clone(), 5_000).await, Ok(1));
        assert_eq!(store.dlq_get(letter_id), Ok(None));
        assert_eq!(store.redrive(filter, 5_000).await, Ok(0), "redriving again moves nothing");
        assert_eq!(
            store.stats().expect("stats"),
            StoreStats { pending: 1, retrying: 0, retrying_by_rule: Vec::new(), dead_letters: Vec::new() }
        );
        assert_eq!(store.next_due_ms(), Some(5_000));
        let back = store.take_due(5_000, 10).expect("take_due");
        assert_eq!(back.len(), 1);
        let back = &back[0];
        assert!(back.id > id, "a redriven delivery gets a new id");
        assert_eq!(back.new, new);
        assert_eq!((back.attempts, back.first_attempt_at_ms, back.last_attempt_at_ms), (0, None, None));
        assert_eq!((back.due_at_ms, back.last_error.clone()), (5_000, None));
    });
}

#[test]
fn dead_letter_queries_filter_limit_and_purge() {
    let dir = TempDir::new("dlq");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        let a = make_dead_letter(&store, new_delivery("1", "orders", "billing", 10), "TIMEOUT", 1_000).await;
        let b = make_dead_letter(&store, new_delivery("2", "orders", "audit", 20), "TRAP", 2_000).await;
        let c = make_dead_letter(&store, new_delivery("3", "refunds", "billing", 30), "TIMEOUT", 3_000).await;
        let d = make_dead_letter(&store, new_delivery("4", "orders", "billing", 40), "TRAP", 4_000).await;
        assert!(a < b && b < c && c < d);

        let list = |filter: DlqFilter| -> Vec<u64> {
            store.dlq_list(&filter).expect("dlq_list").iter().map(|letter| letter.id).collect()
        };
        assert_eq!(list(DlqFilter::default()), [a, b, c, d], "oldest first");
        assert_eq!(list(DlqFilter { rule: Some("orders".into()), ..DlqFilter::default() }), [a, b, d]);
        assert_eq!(list(DlqFilter { rule: Some("nothing".into()), ..DlqFilter::default() }), Vec::<u64>::new());
        assert_eq!(list(DlqFilter { target: Some("billing".into()), ..DlqFilter::default() }), [a, c, d]);
        assert_eq!(list(DlqFilter { error_code: Some("TRAP".into()), ..DlqFilter::default() }), [b, d]);
        assert_eq!(list(DlqFilter { since_ms: Some(2_000), until_ms: Some(4_000), ..DlqFilter::default() }), [b, c]);
        assert_eq!(list(DlqFilter { limit: Some(2), ..DlqFilter::default() }), [a, b]);
        assert_eq!(list(DlqFilter { limit: Some(0), ..DlqFilter::default() }), Vec::<u64>::new());
        assert_eq!(list(DlqFilter { ids: Some(vec![d, a, 999]), ..DlqFilter::default() }), [a, d]);
        let combined = DlqFilter {
            rule: Some("orders".into()),
            target: Some("billing".into()),
            error_code: Some("TIMEOUT".into()),
            ..DlqFilter::default()
        };
        assert_eq!(list(combined), [a]);
        assert_eq!(list(DlqFilter { rule: Some("orders".into()), limit: Some(1), ..DlqFilter::default() }), [a]);

        let trap_orders =
            DlqFilter { rule: Some("orders".into()), error_code: Some("TRAP".into()), ..DlqFilter::default() };
        assert_eq!(store.purge(trap_orders.clone()).await, Ok(2));
        assert_eq!(store.purge(trap_orders).await, Ok(0));
        assert_eq!(list(DlqFilter::default()), [a, c]);
        assert_eq!(store.stats().expect("stats").dead_letters, [("orders".into(), 1), ("refunds".into(), 1)]);
        assert_eq!(store.purge(DlqFilter { limit: Some(1), ..DlqFilter::default() }).await, Ok(1));
        assert_eq!(list(DlqFilter::default()), [c]);
        assert_eq!(store.redrive(DlqFilter { ids: Some(vec![c]), ..DlqFilter::default() }, 50).await, Ok(1));
        assert_eq!(
            store.stats().expect("stats"),
            StoreStats { pending: 1, retrying: 0, retrying_by_rule: Vec::new(), dead_letters: Vec::new() }
        );
    });
}

#[test]
fn a_reopened_store_has_unfinished_deliveries_due_again_and_keeps_ids_increasing() {
    let dir = TempDir::new("reopen");
    let (ids, letter) = {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        block_on(async {
            let ids = store
                .append((0..4).map(|n| new_delivery(&n.to_string(), "r", "t", 100 + n)).collect())
                .await
                .expect("append");
            let taken = store.take_due(101, 10).expect("take_due");
            assert_eq!(ids_of(&taken), ids[..2]);
            store.complete(ids[0]).await.expect("complete");
            // ids[1] stays leased; ids[2] and ids[3] were never taken.
            store.take_due(102, 1).expect("take_due");
            store.retry(ids[2], 7_000, failed(150, "TIMEOUT")).await.expect("retry");
            let letter = make_dead_letter(&store, new_delivery("x", "r", "t", 50), "TRAP", 200).await;
            (ids, letter)
        })
    };
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.stats().expect("stats"),
        StoreStats {
            pending: 3,
            retrying: 1,
            retrying_by_rule: vec![("r".into(), 1)],
            dead_letters: vec![("r".into(), 1)]
        }
    );
    let due = store.take_due(10_000, 10).expect("take_due");
    assert_eq!(ids_of(&due), [ids[1], ids[3], ids[2]], "every unfinished delivery, leased or not, by due time");
    assert_eq!((due[2].attempts, due[2].due_at_ms), (1, 7_000));
    assert_eq!(store.dlq_get(letter).expect("dlq_get").map(|letter| letter.error.code), Some("TRAP".into()));
    block_on(async {
        let next = store.append(vec![new_delivery("y", "r", "t", 20_000)]).await.expect("append")[0];
        assert!(next > ids[3] + 1, "ids are not reused: {next} after {ids:?} and the dead-lettered one");
        let next_letter = make_dead_letter(&store, new_delivery("z", "r", "t", 2), "TRAP", 300).await;
        assert!(next_letter > letter);
    });
}

#[test]
fn concurrent_appends_share_commits() {
    let dir = TempDir::new("group");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().expect("a runtime");
    let mut ids = runtime.block_on(async {
        let tasks: Vec<_> = (0..2_000)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.append(vec![new_delivery(&n.to_string(), "r", "t", n)]).await })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.extend(task.await.expect("the task").expect("append"));
        }
        ids
    });
    let commits = store.commits();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2_000);
    assert_eq!(store.stats().expect("stats").pending, 2_000);
    assert!(commits * 10 <= 2_000, "{commits} commits for 2000 appends");
}

#[test]
fn an_unwritable_data_dir_is_unavailable_naming_the_path() {
    let dir = TempDir::new("unwritable");
    std::fs::create_dir_all(dir.path()).expect("the temp dir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory").expect("a file");
    let data_dir = file.join("sub");
    match EmbeddedStore::open(&data_dir) {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains(&data_dir.display().to_string()), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // A data directory whose database path is taken by a directory cannot be opened either.
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(taken.join(FILE_NAME)).expect("a directory in the way");
    assert!(
        matches!(EmbeddedStore::open(&taken), Err(StoreError::Unavailable(message)) if message.contains(FILE_NAME))
    );
}

#[test]
fn a_file_of_another_kind_is_corrupt_or_unavailable() {
    let dir = TempDir::new("garbage");
    std::fs::create_dir_all(dir.path()).expect("the temp dir");
    std::fs::write(dir.path().join(FILE_NAME), vec![0x5a; 64 << 10]).expect("garbage");
    match EmbeddedStore::open(dir.path()) {
        Err(StoreError::Corrupt(message) | StoreError::Unavailable(message)) => {
            assert!(message.contains(FILE_NAME), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_damaged_file_is_corrupt() {
    let dir = TempDir::new("damaged");
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        block_on(async {
            for n in 0..200 {
                store.set("ns", &format!("{n:04}"), format!("{n:01000}").as_bytes()).await.expect("set");
            }
        });
    }
    let path = dir.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).expect("the file");
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 4096].fill(0xa5);
    std::fs::write(&path, bytes).expect("damage");
    match EmbeddedStore::open(dir.path()) {
        Err(StoreError::Corrupt(message)) => assert!(message.contains(FILE_NAME), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_corrupt_record_is_reported_once_and_does_not_block_the_queue() {
    let dir = TempDir::new("corrupt-record");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        let ids =
            store.append(vec![new_delivery("a", "r", "t", 1), new_delivery("b", "r", "t", 2)]).await.expect("append");
        // A retry moves the first into the database, where its record is then damaged.
        assert_eq!(ids_of(&store.take_due(1, 1).expect("take_due")), [ids[0]]);
        store.retry(ids[0], 3, failed(1, "TIMEOUT")).await.expect("retry");
        {
            let db = store.shared.db.read().expect("the lock");
            let txn = db.as_ref().expect("open").begin_write().expect("a write transaction");
            txn.open_table(DELIVERIES).expect("the table").insert(ids[0], &b"\x01garbage"[..]).expect("insert");
            txn.commit().expect("commit");
        }
        assert_eq!(ids_of(&store.take_due(2, 10).expect("take_due")), [ids[1]]);
        assert!(matches!(store.take_due(10, 10), Err(StoreError::Corrupt(message)) if message.contains("delivery")));
        assert_eq!(store.take_due(10, 10).expect("take_due"), []);
        assert!(matches!(store.complete(ids[0]).await, Err(StoreError::Corrupt(_))));
        store.complete(ids[1]).await.expect("complete");
    });
}

#[test]
fn a_corrupt_record_in_the_log_is_reported_once_and_does_not_block_the_queue() {
    let dir = TempDir::new("corrupt-log-record");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        let ids =
            store.append(vec![new_delivery("a", "r", "t", 1), new_delivery("b", "r", "t", 2)]).await.expect("append");
        {
            // A record that passed its frame's checksum but does not decode (a bug in an older version).
            let mut queue = store.shared.queue();
            let entry = queue.log.get_mut(&ids[0]).expect("in the log");
            entry.bytes = Some(Arc::from(&b"\x01garbage"[..]));
        }
        assert!(matches!(store.take_due(10, 10), Err(StoreError::Corrupt(message)) if message.contains("delivery")));
        assert_eq!(ids_of(&store.take_due(10, 10).expect("take_due")), [ids[1]]);
        store.complete(ids[1]).await.expect("complete");
        assert_eq!(store.stats().expect("stats").pending, 1, "the corrupt one is held back, not dropped");
    });
}

#[test]
fn a_closed_store_answers_closed() {
    let dir = TempDir::new("closed");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        store.append(vec![new_delivery("a", "r", "t", 1)]).await.expect("append");
        store.close();
        assert_eq!(store.append(vec![new_delivery("b", "r", "t", 1)]).await, Err(StoreError::Closed));
        assert_eq!(store.complete(1).await, Err(StoreError::Closed));
        assert_eq!(store.take_due(10, 10), Err(StoreError::Closed));
        assert_eq!(store.dlq_list(&DlqFilter::default()), Err(StoreError::Closed));
        assert_eq!(store.stats(), Err(StoreError::Closed));
        assert_eq!(store.next_due_ms(), None);
    });
    // The file was released: it opens again, with the append that completed before the close.
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(store.stats().expect("stats").pending, 1);
}

/// A file backend that fails writes and syncs while `fail` is set, like a full disk.
#[derive(Debug)]
struct Faulty {
    inner: FileBackend,
    fail: Arc<AtomicBool>,
}

impl Faulty {
    fn check(&self) -> Result<(), std::io::Error> {
        if self.fail.load(Ordering::Acquire) { Err(std::io::Error::from_raw_os_error(28)) } else { Ok(()) }
    }
}

impl StorageBackend for Faulty {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// Opens the file on a [`Faulty`] backend that fails while `fail` is set.
fn faulty_opener(fail: &Arc<AtomicBool>) -> Opener {
    let fail = fail.clone();
    Box::new(move |path: &Path| {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let inner = FileBackend::new(file).map_err(|error| open_error(path, error))?;
        redb::Builder::new()
            .create_with_backend(Faulty { inner, fail: fail.clone() })
            .map_err(|error| open_error(path, error))
    })
}

#[test]
fn a_failed_commit_applies_nothing_and_the_store_recovers() {
    let dir = TempDir::new("faulty");
    let fail = Arc::new(AtomicBool::new(false));
    let store = EmbeddedStore::open_with(dir.path(), faulty_opener(&fail), log::SEGMENT_BYTES).expect("open");
    block_on(async {
        let ids =
            store.append(vec![new_delivery("a", "r", "t", 1), new_delivery("b", "r", "t", 2)]).await.expect("append");
        let leased = store.take_due(1, 1).expect("take_due");
        assert_eq!(ids_of(&leased), [ids[0]]);

        fail.store(true, Ordering::Release);
        store.shared.log_fault.store(true, Ordering::Release);
        let (appended, completed) =
            tokio::join!(store.append(vec![new_delivery("c", "r", "t", 3)]), store.complete(ids[0]));
        assert!(
            matches!(appended, Err(StoreError::Unavailable(ref message)) if message.contains("space")),
            "{appended:?}"
        );
        assert!(matches!(completed, Err(StoreError::Unavailable(_))), "{completed:?}");
        assert!(matches!(store.append(vec![new_delivery("d", "r", "t", 4)]).await, Err(StoreError::Unavailable(_))));

        assert!(matches!(store.writable(), Err(StoreError::Unavailable(ref message)) if message.contains("space")));
        fail.store(false, Ordering::Release);
        store.shared.log_fault.store(false, Ordering::Release);
        let later = store.append(vec![new_delivery("e", "r", "t", 5)]).await.expect("append after recovery");
        assert_eq!(store.writable(), Ok(()));
        assert!(later[0] > ids[1]);
        // The lease survived the reopen; nothing of the failed batches was applied.
        store.complete(ids[0]).await.expect("complete after recovery");
        let due = store.take_due(100, 10).expect("take_due");
        let events: Vec<&str> = due.iter().map(|delivery| delivery.new.event_id.as_str()).collect();
        assert_eq!(events, ["b", "e"]);
        assert_eq!(store.stats().expect("stats").pending, 2);
    });
}

/// How many rows `kv` holds for `namespace`, and what `kv_counts` says, read straight from the file.
fn kv_rows(store: &EmbeddedStore, namespace: &str) -> (u64, Option<u64>) {
    let db = store.shared.db.read().expect("the lock");
    let txn = db.as_ref().expect("open").begin_read().expect("a read transaction");
    let kv = txn.open_table(KV).expect("kv");
    let rows = kv
        .range((namespace, "")..)
        .expect("a range")
        .take_while(|entry| entry.as_ref().expect("an entry").0.value().0 == namespace)
        .count();
    let count = txn.open_table(KV_COUNTS).expect("kv_counts").get(namespace).expect("get").map(|c| c.value());
    (rows as u64, count)
}

#[test]
fn kv_set_get_overwrite_and_delete() {
    let dir = TempDir::new("kv");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        assert_eq!(store.get("inventory", "stock/A-1"), Ok(None));
        store.set("inventory", "stock/A-1", b"97").await.expect("set");
        store.set("inventory", "empty", b"").await.expect("set an empty value");
        store.set("inventory", "bin", &[0, 255, 0]).await.expect("set");
        assert_eq!(store.get("inventory", "stock/A-1"), Ok(Some(b"97".to_vec())));
        assert_eq!(store.get("inventory", "empty"), Ok(Some(Vec::new())), "an empty value is not a missing one");
        assert_eq!(store.get("inventory", "bin"), Ok(Some(vec![0, 255, 0])));
        store.set("inventory", "stock/A-1", b"96").await.expect("overwrite");
        assert_eq!(store.get("inventory", "stock/A-1"), Ok(Some(b"96".to_vec())));
        assert_eq!(kv_rows(&store, "inventory"), (3, Some(3)), "an overwrite is not a new key");

        store.delete("inventory", "stock/A-1").await.expect("delete");
        assert_eq!(store.get("inventory", "stock/A-1"), Ok(None));
        assert_eq!(kv_rows(&store, "inventory"), (2, Some(2)));
        let commits = store.commits();
        store.delete("inventory", "stock/A-1").await.expect("deleting a missing key is fine");
        store.delete("nobody", "nothing").await.expect("so is a missing namespace");
        assert_eq!(store.commits(), commits, "deleting nothing writes nothing");
        store.delete("inventory", "empty").await.expect("delete");
        store.delete("inventory", "bin").await.expect("delete");
        assert_eq!(kv_rows(&store, "inventory"), (0, None), "an empty namespace has no count row");
    });
    // The key-value store beside the deliveries changes none of their figures.
    assert_eq!(store.stats().expect("stats"), StoreStats::default());
}

#[test]
fn kv_namespaces_are_separate() {
    let dir = TempDir::new("kv-namespaces");
    let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
    let a = KvHandle::new(store.clone(), "a");
    let b = KvHandle::new(store.clone(), "b");
    // A namespace that is a prefix of another's, or a key spanning the boundary, stays apart.
    let ab = KvHandle::new(store.clone(), "a\u{0}b");
    block_on(async {
        a.set("k", b"from a").await.expect("set");
        assert_eq!(b.get("k"), Ok(None));
        b.set("k", b"from b").await.expect("set");
        ab.set("k", b"from a\\0b").await.expect("set");
        store.set("a", "b\u{0}k", b"a's key").await.expect("set");
        assert_eq!(a.get("k"), Ok(Some(b"from a".to_vec())));
        assert_eq!(b.get("k"), Ok(Some(b"from b".to_vec())));
        assert_eq!(ab.get("k"), Ok(Some(b"from a\\0b".to_vec())));
        b.delete("k").await.expect("delete");
        assert_eq!(b.get("k"), Ok(None));
        assert_eq!(a.get("k"), Ok(Some(b"from a".to_vec())));
    });
}

#[test]
fn kv_namespaces_hold_at_most_max_entries() {
    let dir = TempDir::new("kv-limit");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    assert_eq!(store.shared.kv_max_entries.load(Ordering::Relaxed), crate::invoke::kv::DEFAULT_MAX_ENTRIES);
    store.set_kv_max_entries(2);
    block_on(async {
        store.set("a", "k1", b"1").await.expect("set");
        store.set("a", "k2", b"2").await.expect("set");
        assert_eq!(store.set("a", "k3", b"3").await, Err(KvStoreError::Full("the store holds at most 2 keys".into())));
        assert_eq!(store.get("a", "k3"), Ok(None));
        store.set("a", "k1", b"overwrite is fine when full").await.expect("overwrite");
        store.set("b", "k3", b"another namespace has its own room").await.expect("set");

        store.delete("a", "k2").await.expect("delete");
        store.set("a", "k3", b"3").await.expect("a delete frees a slot");
        assert!(matches!(store.set("a", "k4", b"4").await, Err(KvStoreError::Full(_))));

        // Sets in one batch count each other: of two new keys for the last slot, one is refused.
        store.delete("a", "k3").await.expect("delete");
        let (x, y) = tokio::join!(store.set("a", "x", b"x"), store.set("a", "y", b"y"));
        assert!(matches!((&x, &y), (Ok(()), Err(KvStoreError::Full(_))) | (Err(KvStoreError::Full(_)), Ok(()))));
        assert_eq!(kv_rows(&store, "a"), (2, Some(2)));

        // A smaller limit keeps what is there and takes nothing new; a larger one makes room.
        store.set_kv_max_entries(1);
        store.set("a", "k1", b"still an overwrite").await.expect("overwrite");
        assert!(matches!(store.set("b", "k4", b"4").await, Err(KvStoreError::Full(m)) if m.contains("at most 1 keys")));
        store.set_kv_max_entries(3);
        store.set("a", "k4", b"4").await.expect("set");
        assert_eq!(kv_rows(&store, "a"), (3, Some(3)));
    });
}

#[test]
fn kv_entries_and_counts_survive_reopen() {
    let dir = TempDir::new("kv-reopen");
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        store.set_kv_max_entries(3);
        block_on(async {
            store.set("inventory", "a", b"1").await.expect("set");
            store.set("inventory", "b", b"2").await.expect("set");
            store.set("inventory", "c", b"3").await.expect("set");
            store.delete("inventory", "b").await.expect("delete");
            store.set("other", "a", b"other").await.expect("set");
        });
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    store.set_kv_max_entries(3);
    assert_eq!(store.get("inventory", "a"), Ok(Some(b"1".to_vec())));
    assert_eq!(store.get("inventory", "b"), Ok(None));
    assert_eq!(store.get("inventory", "c"), Ok(Some(b"3".to_vec())));
    assert_eq!(store.get("other", "a"), Ok(Some(b"other".to_vec())));
    block_on(async {
        store.set("inventory", "d", b"4").await.expect("the third key");
        assert!(matches!(store.set("inventory", "e", b"5").await, Err(KvStoreError::Full(_))), "the count was kept");
    });
}

#[test]
fn concurrent_kv_sets_share_commits_with_each_other_and_with_deliveries() {
    let dir = TempDir::new("kv-group");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().expect("a runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..2_000)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let namespace = format!("consumer-{}", n % 7);
                    store.set(&namespace, &format!("key-{n}"), n.to_string().as_bytes()).await?;
                    if n % 10 == 0 {
                        // Deliveries go through the same writer and the same commits.
                        store
                            .append(vec![new_delivery(&n.to_string(), "r", "t", n)])
                            .await
                            .map_err(|error| KvStoreError::Unavailable(error.to_string()))?;
                    }
                    Ok::<(), KvStoreError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the task").expect("set");
        }
    });
    let commits = store.commits();
    assert!(commits * 10 <= 2_200, "{commits} commits for 2000 sets and 200 appends");
    for n in 0..2_000u64 {
        let namespace = format!("consumer-{}", n % 7);
        assert_eq!(store.get(&namespace, &format!("key-{n}")), Ok(Some(n.to_string().into_bytes())));
    }
    assert_eq!(store.stats().expect("stats").pending, 200);
    let counts: u64 = (0..7).map(|n| kv_rows(&store, &format!("consumer-{n}")).1.unwrap_or(0)).sum();
    assert_eq!(counts, 2_000);
}

#[test]
fn a_failed_kv_commit_is_unavailable_and_applies_nothing() {
    let dir = TempDir::new("kv-faulty");
    let fail = Arc::new(AtomicBool::new(false));
    let store = EmbeddedStore::open_with(dir.path(), faulty_opener(&fail), log::SEGMENT_BYTES).expect("open");
    store.set_kv_max_entries(2);
    block_on(async {
        store.set("a", "k1", b"1").await.expect("set");

        fail.store(true, Ordering::Release);
        let (set, deleted) = tokio::join!(store.set("a", "k2", b"2"), store.delete("a", "k1"));
        assert!(matches!(set, Err(KvStoreError::Unavailable(ref message)) if message.contains("space")), "{set:?}");
        assert!(matches!(deleted, Err(KvStoreError::Unavailable(_))), "{deleted:?}");

        fail.store(false, Ordering::Release);
        // Reads may be refused until the writer has reopened the file, at its next batch (or second).
        store.delete("a", "missing").await.expect("a write after recovery");
        assert_eq!(store.get("a", "k1"), Ok(Some(b"1".to_vec())), "the failed delete did not apply");
        assert_eq!(store.get("a", "k2"), Ok(None), "nor the failed set");
        // Nor their counts: exactly one more key fits.
        store.set("a", "k2", b"2").await.expect("set after recovery");
        assert!(matches!(store.set("a", "k3", b"3").await, Err(KvStoreError::Full(_))));
    });
}

#[test]
fn a_closed_store_answers_kv_unavailable() {
    let dir = TempDir::new("kv-closed");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    block_on(async {
        store.set("a", "k", b"v").await.expect("set");
        store.close();
        assert!(matches!(store.get("a", "k"), Err(KvStoreError::Unavailable(m)) if m.contains("closed")));
        assert!(matches!(store.set("a", "k", b"w").await, Err(KvStoreError::Unavailable(m)) if m.contains("closed")));
        assert!(matches!(store.delete("a", "k").await, Err(KvStoreError::Unavailable(_))));
    });
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(store.get("a", "k"), Ok(Some(b"v".to_vec())));
}

#[test]
fn without_sync_commits_are_cheap_and_a_clean_close_keeps_them() {
    let dir = TempDir::new("nosync");
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.set_sync(false);
        block_on(async {
            for i in 0..50 {
                store.append(vec![new_delivery(&format!("e-{i}"), "r", "t", 0)]).await.unwrap();
            }
        });
        store.close();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.stats().unwrap().pending, 50);
}

/// The segment files of the store's log.
fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(log::DIR_NAME))
        .expect("the log folder")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn open_small_segments(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open_with(dir, Box::new(open_file), 4096).expect("open")
}

/// Closes `store` and opens its directory again; checks that `pending` deliveries are pending and
/// leases every one that is due.
fn reopen_and_take(dir: &Path, store: EmbeddedStore, pending: u64) -> (EmbeddedStore, Vec<Delivery>) {
    drop(store);
    let store = open_small_segments(dir);
    assert_eq!(store.stats().expect("stats").pending, pending);
    let due = store.take_due(u64::MAX, 1000).expect("take_due");
    (store, due)
}

/// Appends `count` deliveries due at `round` and leases them (checking that exactly they are due).
async fn append_and_lease(store: &EmbeddedStore, round: u64, count: u64) -> Vec<u64> {
    let ids = store
        .append((0..count).map(|n| new_delivery(&format!("{round}-{n}"), "r", "t", round)).collect())
        .await
        .expect("append");
    let taken = store.take_due(round, 100).expect("take_due");
    assert_eq!(ids_of(&taken), ids);
    ids
}

#[test]
fn log_segments_are_deleted_once_their_deliveries_are_done() {
    let dir = TempDir::new("log-rotate");
    let store = open_small_segments(dir.path());
    block_on(async {
        for round in 0..40u64 {
            let ids = append_and_lease(&store, round, 10).await;
            for id in ids {
                store.complete(id).await.expect("complete");
            }
        }
    });
    // 400 deliveries of about 100 bytes went through 4 KiB segments; only the newest are left
    // (closing lets the log's keeper finish deleting, and removes the head it prepared ahead).
    drop(store);
    let left = segments(dir.path());
    assert!((1..=2).contains(&left.len()), "{left:?}");
    let store = open_small_segments(dir.path());
    assert_eq!(store.stats().expect("stats").pending, 0);
    assert_eq!(store.take_due(u64::MAX, 10).expect("take_due"), []);
}

#[test]
fn a_backlog_stays_in_the_log_in_order_across_reopening() {
    let dir = TempDir::new("log-backlog");
    let store = open_small_segments(dir.path());
    let mut appended = Vec::new();
    block_on(async {
        for n in 0..400u64 {
            appended.extend(store.append(vec![new_delivery(&n.to_string(), "r", "t", n)]).await.expect("append"));
        }
    });
    // Every delivery is live: the log holds them all, copying none.
    assert!(segments(dir.path()).len() > MAX_SEGMENTS);
    assert_eq!(store.stats().expect("stats").pending, 400);
    let due = store.take_due(u64::MAX, 1000).expect("take_due");
    assert_eq!(ids_of(&due), appended);
    assert!(due.iter().enumerate().all(|(n, delivery)| delivery.new.event_id == n.to_string()));
    let (store, due) = reopen_and_take(dir.path(), store, 400);
    assert_eq!(ids_of(&due), appended, "no duplicates and no losses across the reopen");
    block_on(async {
        for id in &appended[..100] {
            store.complete(*id).await.expect("complete");
        }
    });
    let (_store, due) = reopen_and_take(dir.path(), store, 300);
    assert_eq!(ids_of(&due), appended[100..]);
}

#[test]
fn a_few_slow_deliveries_do_not_keep_old_segments_alive() {
    let dir = TempDir::new("log-relocate");
    let store = open_small_segments(dir.path());
    let mut slow = Vec::new();
    block_on(async {
        for round in 0..200u64 {
            let ids = append_and_lease(&store, round, 5).await;
            // One delivery in twenty-five stays leased (a slow consumer); the rest complete.
            for id in ids {
                if round % 5 == 0 && slow.len() < (round / 5 + 1) as usize {
                    slow.push(id);
                } else {
                    store.complete(id).await.expect("complete");
                }
            }
        }
    });
    // Besides the segments the log holds: the next head, prepared ahead, and deletions in flight.
    let left = segments(dir.path());
    assert!(left.len() <= MAX_SEGMENTS + 4, "{} segments: {left:?}", left.len());
    assert_eq!(store.stats().expect("stats").pending, slow.len() as u64);
    // The slow ones were copied forward; their leases still hold, and completing one works.
    block_on(store.complete(slow[0])).expect("complete a copied delivery");
    // And retrying one moves it into the database, leaving its copies in the log behind.
    block_on(store.retry(slow[1], 1_000_000, failed(500, "TIMEOUT"))).expect("retry a copied delivery");
    let (_store, due) = reopen_and_take(dir.path(), store, slow.len() as u64 - 1);
    let mut expected = slow[2..].to_vec();
    expected.push(slow[1]);
    assert_eq!(ids_of(&due), expected, "each slow delivery once, from wherever it was copied");
    assert_eq!(due.last().map(|delivery| delivery.attempts), Some(1));
}

#[test]
fn a_commit_lingers_only_for_concurrent_synced_callers() {
    let delay = Duration::from_micros(250);
    // (requests in the last batch, gathered so far, synced, delay) -> wait
    let cases = [
        ((0, 1, true, delay), None),
        ((1, 1, true, delay), None),
        ((2, 1, true, delay), Some(delay)),
        ((500, 40, true, delay), Some(delay)),
        ((500, 40, false, delay), None),
        ((500, 40, true, Duration::ZERO), None),
        ((500, MAX_BATCH, true, delay), None),
    ];
    for ((last, gathered, sync, delay), expected) in cases {
        assert_eq!(linger(last, gathered, sync, delay), expected, "last {last}, gathered {gathered}, sync {sync}");
    }
}

#[test]
fn a_lone_caller_does_not_wait_for_the_commit_delay() {
    let dir = TempDir::new("lone");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    // A delay no test would sit through: one append in turn never meets it.
    store.set_commit_delay(Duration::from_secs(30));
    let started = std::time::Instant::now();
    block_on(async {
        for n in 0..20 {
            store.append(vec![new_delivery(&n.to_string(), "r", "t", n)]).await.expect("append");
        }
    });
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(store.commits(), 20, "one commit each");
}

#[test]
fn failures_are_logged_once_per_interval_with_the_count_between() {
    let throttle = Throttle::default();
    let an_interval_ago = || throttle.last.set(Some(std::time::Instant::now() - Throttle::INTERVAL));
    assert!(!throttle.recovered(), "no failure, nothing to recover from");
    assert_eq!(throttle.due(), Some(0), "the first failure is logged");
    assert_eq!(throttle.due(), None);
    assert_eq!(throttle.due(), None);
    an_interval_ago();
    assert_eq!(throttle.due(), Some(2), "an interval later, the next one is, with the two left out");
    assert!(throttle.recovered(), "a success after a logged failure is said");
    assert!(!throttle.recovered(), "once");
    // Failing again within the interval (a disk at its last blocks): counted, not logged, and the
    // success after it is not said either.
    assert_eq!(throttle.due(), None);
    assert!(!throttle.recovered());
    an_interval_ago();
    assert_eq!(throttle.due(), Some(1));
}
