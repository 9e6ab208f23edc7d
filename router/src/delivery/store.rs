//! What delivery needs from storage, for the embedded store and for NATS JetStream alike.
//!
//! The model is a durable work queue with delayed redelivery and a dead-letter area:
//! - `append` records new deliveries and resolves only when they are durable; many concurrent
//!   appends share one commit (group commit). JetStream: a publish acknowledged by the stream.
//! - `take_due` leases deliveries whose time has come; a leased delivery is not handed out again
//!   until it is completed, retried or dead-lettered, or until the process restarts (at-least-once).
//!   JetStream: a pull consumer's fetch with an ack-wait.
//! - `complete` (ack), `retry` (nak with a delay: the attempt is recorded and the delivery is due
//!   again at the given time) and `dead_letter` (move to the rule's dead-letter area in one step;
//!   JetStream: publish to the dead-letter stream, then ack).
//! - Dead letters are listed, shown, redriven (back into the queue with attempts reset, removed from
//!   the dead-letter area in the same step, so a crash mid-redrive loses nothing and redriving twice
//!   does not duplicate) and purged.
//!
//! Every future resolves with the change durable (or an error saying why it is not).

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// A boxed future, so that backends can be chosen at run time (`dyn DeliveryStore`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why the store could not do what was asked. Ingest answers 503 with the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot write (disk full, data directory unwritable, I/O error); nothing of the
    /// operation was applied.
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    /// The store's files are not what this version expects.
    #[error("the store is corrupt or of another version: {0}")]
    Corrupt(String),
    /// No delivery or dead letter has that id (or it is not leased, for lease operations).
    #[error("no such entry: {0}")]
    NotFound(u64),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
}

/// A delivery to record when an event is accepted: one per (rule, target) the event matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// The event's `id`.
    pub event_id: String,
    /// The event's `source` and `detail-type`, read once at acceptance (for the consumer's metadata).
    pub source: String,
    pub detail_type: String,
    /// The event as accepted (JSON text).
    pub event: Vec<u8>,
    pub rule: String,
    pub target: String,
    /// When the event was accepted, in ms since the Unix epoch.
    pub ingested_at_ms: u64,
    /// 0 for an event from a producer; 1 + the parent's hop for an event a consumer emitted.
    pub hop: u32,
    /// The id of the event whose delivery emitted this one, if any.
    pub causation: Option<String>,
}

/// A recorded delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Assigned by the store, unique and increasing.
    pub id: u64,
    #[serde(flatten)]
    pub new: NewDelivery,
    /// Attempts made so far (0 before the first).
    pub attempts: u32,
    pub first_attempt_at_ms: Option<u64>,
    pub last_attempt_at_ms: Option<u64>,
    /// When the delivery may be attempted (next).
    pub due_at_ms: u64,
    /// What the last failed attempt said.
    pub last_error: Option<AttemptError>,
}

/// A failed attempt, as recorded for retries and dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// EventBridge-style code: `TIMEOUT`, `THROTTLING`, `CONSUMER_RETRYABLE`, `CONSUMER_PERMANENT`,
    /// `TRAP`, `OUT_OF_MEMORY`, `STACK_OVERFLOW`, `TRANSFORM_FAILED`, `NO_RESOURCE`,
    /// `HOP_LIMIT_EXCEEDED`.
    pub code: String,
    /// The outcome's message, with the consumer's captured stderr when there was any.
    pub message: String,
}

/// Which bound of the retry policy ended the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exhausted {
    MaximumRetryAttempts,
    MaximumEventAgeInSeconds,
}

/// What `retry` records about the attempt that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAttempt {
    pub at_ms: u64,
    pub error: AttemptError,
}

/// What `dead_letter` records beyond the delivery itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterInfo {
    /// The last attempt (its time and error). Counted as an attempt.
    pub attempt: FailedAttempt,
    /// The transformed input of the last attempt, when the transform succeeded.
    pub input: Option<Vec<u8>>,
    /// `None` for a permanent failure (no retries were left to exhaust).
    pub exhausted: Option<Exhausted>,
}

/// A dead letter: everything an operator needs to understand and redrive a failed delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Assigned by the store, unique and increasing.
    pub id: u64,
    /// The delivery as it was when it failed (attempts and times included).
    pub delivery: Delivery,
    pub input: Option<Vec<u8>>,
    pub error: AttemptError,
    pub exhausted: Option<Exhausted>,
    pub dead_lettered_at_ms: u64,
}

/// Which dead letters an operation applies to; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    pub ids: Option<Vec<u64>>,
    pub rule: Option<String>,
    pub target: Option<String>,
    pub error_code: Option<String>,
    /// Dead-lettered at or after (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Dead-lettered before (ms since the epoch).
    pub until_ms: Option<u64>,
    /// At most this many (oldest first); `None`: all.
    pub limit: Option<usize>,
}

impl DlqFilter {
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        let d = &letter.delivery.new;
        self.ids.as_ref().is_none_or(|ids| ids.contains(&letter.id))
            && self.rule.as_ref().is_none_or(|r| *r == d.rule)
            && self.target.as_ref().is_none_or(|t| *t == d.target)
            && self.error_code.as_ref().is_none_or(|c| *c == letter.error.code)
            && self.since_ms.is_none_or(|s| letter.dead_lettered_at_ms >= s)
            && self.until_ms.is_none_or(|u| letter.dead_lettered_at_ms < u)
    }
}

/// Counts for metrics and readiness.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Deliveries recorded and not finished, leased or not.
    pub pending: u64,
    /// Of those, deliveries with at least one failed attempt (the retry queue).
    pub retrying: u64,
    /// The same per rule.
    pub retrying_by_rule: Vec<(String, u64)>,
    /// Dead letters per rule.
    pub dead_letters: Vec<(String, u64)>,
}

/// The delivery store. Implementations: the embedded store (`super::embedded`), NATS JetStream.
pub trait DeliveryStore: Send + Sync + std::fmt::Debug {
    /// Records `deliveries` durably and returns their ids, in order.
    fn append(&self, deliveries: Vec<NewDelivery>) -> StoreFuture<'_, Vec<u64>>;
    /// Leases up to `max` deliveries due at `now_ms`, earliest due first.
    fn take_due(&self, now_ms: u64, max: usize) -> Result<Vec<Delivery>, StoreError>;
    /// The earliest due time among deliveries not leased, if any.
    fn next_due_ms(&self) -> Option<u64>;
    /// The leased delivery `id` succeeded: forget it.
    fn complete(&self, id: u64) -> StoreFuture<'_, ()>;
    /// The leased delivery `id` failed and is due again at `due_at_ms`; the lease ends.
    fn retry(&self, id: u64, due_at_ms: u64, attempt: FailedAttempt) -> StoreFuture<'_, ()>;
    /// The leased delivery `id` failed for good: move it to its rule's dead letters.
    fn dead_letter(&self, id: u64, info: DeadLetterInfo, now_ms: u64) -> StoreFuture<'_, u64>;
    /// Dead letters matching `filter`, oldest first.
    fn dlq_list(&self, filter: &DlqFilter) -> Result<Vec<DeadLetter>, StoreError>;
    fn dlq_get(&self, id: u64) -> Result<Option<DeadLetter>, StoreError>;
    /// Moves the matching dead letters back into the queue (attempts reset, due at `now_ms`) and
    /// removes them from the dead letters, atomically per letter. Returns how many moved.
    fn redrive(&self, filter: DlqFilter, now_ms: u64) -> StoreFuture<'_, usize>;
    /// Deletes the matching dead letters. Returns how many.
    fn purge(&self, filter: DlqFilter) -> StoreFuture<'_, usize>;
    fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Deliveries recorded and not finished (cheap: admission control reads it per request).
    fn pending(&self) -> u64 {
        self.stats().map_or(0, |stats| stats.pending)
    }
    /// Whether appends can be expected to succeed (for readiness): the last write's error if not.
    fn writable(&self) -> Result<(), StoreError>;
}
