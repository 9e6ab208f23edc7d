//! The router's pipeline: accept an event (match it once, record one durable delivery per matched
//! (rule, target), answer), and deliver (lease due deliveries, transform, invoke, classify, then
//! complete, retry later or dead-letter). Events a consumer emits re-enter through `accept` with
//! their causation and a hop count.
//!
//! ```text
//! accept ──► Matcher ──► NewDelivery × (rule, target) ──► store.append (durable) ──► answer
//!                                                              │
//! run: store.take_due ──► attempt: transform ──► Consumer::invoke ──► Outcome
//!        ▲                                   ok: emitted ──► accept (hop + 1) ──► complete
//!        └──────── retry (due later) ◄── retryable, within the policy      permanent ──► dead letter
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Deserialize;
use switchyard_pattern::Matcher;
use tokio::sync::{Notify, Semaphore, watch};

use crate::delivery::policy::{Jitter, RetryPolicy, Verdict, error_code};
use crate::delivery::store::{
    AttemptError, DeadLetterInfo, Delivery, DeliveryStore, FailedAttempt, NewDelivery, StoreError,
};
use crate::invoke::{self, Consumer, OutcomeKind, TargetSpec};
use crate::transform::{RenderContext, TargetInput, TargetRef, Transform};

/// A target as the pipeline runs it.
#[derive(Debug)]
pub struct TargetConfig {
    pub id: String,
    pub consumer: Consumer,
    pub spec: Arc<TargetSpec>,
    pub input: TargetInput,
    pub retry: RetryPolicy,
    /// Deliveries of this target that may run at once.
    pub concurrency: usize,
    /// Dead letters of this target older than this are purged; `None` keeps them until an
    /// operator redrives or purges them.
    pub dead_letter_retention: Option<Duration>,
}

/// A rule as the pipeline runs it.
#[derive(Debug)]
pub struct RuleConfig {
    /// Unique over all buses (deliveries name their rule).
    pub name: String,
    /// The event bus whose events the rule sees.
    pub bus: String,
    /// A disabled rule matches nothing; deliveries already recorded for it still run.
    pub enabled: bool,
    /// The event pattern, JSON text.
    pub pattern: String,
    pub targets: Vec<TargetConfig>,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            name: String::new(),
            bus: DEFAULT_BUS.into(),
            enabled: true,
            pattern: "{}".into(),
            targets: Vec::new(),
        }
    }
}

/// The bus events go to when a producer names none.
pub const DEFAULT_BUS: &str = "default";

/// The deepest nesting of an event's top-level values (`detail` and the rest), producers' and
/// consumers' alike: PutEvents allows 1,000 levels in an event (the matcher's default limit too),
/// and the envelope is one of them. Ingest checks it where it builds an envelope itself, since such
/// an envelope is then matched without validating it again (see [`Incoming`]).
pub const MAX_DETAIL_DEPTH: usize = 999;

/// Where the router runs, for ARNs and for the envelope of emitted events.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub region: String,
    pub account: String,
    /// Buses that exist even when no rule names them (`default` always exists).
    pub buses: Vec<String>,
    /// Emitted events deeper than this many hops from a producer's event are dead-lettered.
    pub hop_limit: u32,
    /// Deliveries that may run at once, over all targets.
    pub max_concurrency: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            region: "local".into(),
            account: "000000000000".into(),
            buses: Vec::new(),
            hop_limit: 8,
            max_concurrency: 64,
        }
    }
}

struct RouteTarget {
    config: TargetConfig,
    transform: Transform,
    slots: Arc<Semaphore>,
}

struct Route {
    name: String,
    bus: String,
    arn: String,
    targets: Vec<RouteTarget>,
}

/// The rules in force: one matcher per bus over every enabled rule of that bus, and each rule's
/// compiled targets.
pub struct Routes {
    matchers: HashMap<String, Matcher<usize>>,
    rules: Vec<Route>,
    by_name: HashMap<String, usize>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").field("rules", &self.rules.iter().map(|r| &r.name).collect::<Vec<_>>()).finish()
    }
}

impl Routes {
    /// Compiles every rule; all problems of all rules are reported, each naming its rule.
    pub fn build(rules: Vec<RuleConfig>, config: &PipelineConfig) -> Result<Routes, Vec<String>> {
        let mut matchers: HashMap<String, Matcher<usize>> = HashMap::new();
        for bus in config.buses.iter().map(String::as_str).chain([DEFAULT_BUS]) {
            matchers.entry(bus.to_owned()).or_default();
        }
        let mut routes = Vec::new();
        let mut by_name = HashMap::new();
        let mut problems = Vec::new();
        for rule in rules {
            if by_name.contains_key(&rule.name) {
                problems.push(format!("rule {}: defined twice", rule.name));
                continue;
            }
            let matcher = matchers.entry(rule.bus.clone()).or_default();
            let added = if rule.enabled {
                matcher.add(routes.len(), &rule.pattern)
            } else {
                switchyard_pattern::Pattern::parse(&rule.pattern, matcher.limits()).map(drop)
            };
            if let Err(error) = added {
                problems.push(format!("rule {}: event pattern: {error}", rule.name));
            }
            let mut targets = Vec::new();
            for target in rule.targets {
                for problem in target.retry.problems() {
                    problems.push(format!("rule {} target {}: retry policy: {problem}", rule.name, target.id));
                }
                match Transform::compile(&target.input, TargetRef { rule: &rule.name, target: &target.id }) {
                    Ok(transform) => {
                        let slots = Arc::new(Semaphore::new(target.concurrency.max(1)));
                        targets.push(RouteTarget { config: target, transform, slots });
                    }
                    Err(errors) => problems.extend(errors.0.iter().map(|e| e.to_string())),
                }
            }
            let arn = crate::transform::rule_arn(&config.region, &config.account, &rule.bus, &rule.name);
            by_name.insert(rule.name.clone(), routes.len());
            routes.push(Route { name: rule.name, bus: rule.bus, arn, targets });
        }
        if problems.is_empty() { Ok(Routes { matchers, rules: routes, by_name }) } else { Err(problems) }
    }

    /// Whether events may be sent to `bus`.
    pub fn has_bus(&self, bus: &str) -> bool {
        self.matchers.contains_key(bus)
    }

    /// The names of the rules in force (enabled or not).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    fn target(&self, rule: &str, target: &str) -> Option<(&Route, &RouteTarget)> {
        let route = &self.rules[*self.by_name.get(rule)?];
        route.targets.iter().find(|t| t.config.id == target).map(|t| (route, t))
    }
}

/// Counters named after EventBridge's CloudWatch metrics, and the accept-to-attempt latency.
#[derive(Debug, Default)]
pub struct Metrics {
    pub matched_events: AtomicU64,
    pub triggered_rules: AtomicU64,
    pub invocations: AtomicU64,
    pub failed_invocations: AtomicU64,
    pub invocation_attempts: AtomicU64,
    pub retry_invocation_attempts: AtomicU64,
    pub invocations_sent_to_dlq: AtomicU64,
    pub invocations_failed_to_be_sent_to_dlq: AtomicU64,
    pub emitted_events: AtomicU64,
    /// IngestionToInvocationStartLatency, as a histogram over [`LATENCY_BUCKETS_MS`].
    pub latency: Histogram,
}

/// Upper bounds (ms) of the latency histogram's buckets.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000, 30_000, 300_000];

#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_ms: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, ms: u64) {
        if let Some(i) = LATENCY_BUCKETS_MS.iter().position(|&b| ms <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Metrics {
    /// The Prometheus text exposition of every counter and the histogram.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "switchyard_matched_events_total",
                "Events that matched at least one rule (MatchedEvents)",
                &self.matched_events,
            ),
            ("switchyard_triggered_rules_total", "Rule matches (TriggeredRules)", &self.triggered_rules),
            (
                "switchyard_invocations_total",
                "Deliveries that ended, successfully or not (Invocations)",
                &self.invocations,
            ),
            (
                "switchyard_failed_invocations_total",
                "Deliveries that failed for good (FailedInvocations)",
                &self.failed_invocations,
            ),
            (
                "switchyard_invocation_attempts_total",
                "Attempts, first and retries (InvocationAttempts)",
                &self.invocation_attempts,
            ),
            (
                "switchyard_retry_invocation_attempts_total",
                "Retry attempts (RetryInvocationAttempts)",
                &self.retry_invocation_attempts,
            ),
            (
                "switchyard_invocations_sent_to_dlq_total",
                "Deliveries dead-lettered (InvocationsSentToDlq)",
                &self.invocations_sent_to_dlq,
            ),
            (
                "switchyard_invocations_failed_to_be_sent_to_dlq_total",
                "Dead-lettering that failed; retried later (InvocationsFailedToBeSentToDlq)",
                &self.invocations_failed_to_be_sent_to_dlq,
            ),
            ("switchyard_emitted_events_total", "Events consumers emitted that were accepted", &self.emitted_events),
        ];
        for (name, help, value) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        let name = "switchyard_ingestion_to_invocation_start_latency_ms";
        out.push_str(&format!("# HELP {name} From acceptance to the start of an invocation of the consumer (IngestionToInvocationStartLatency)\n# TYPE {name} histogram\n"));
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            cumulative += self.latency.buckets[i].load(Ordering::Relaxed);
            out.push_str(&format!("{name}_bucket{{le=\"{bound}\"}} {cumulative}\n"));
        }
        let count = self.latency.count();
        out.push_str(&format!(
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}\n",
            self.latency.sum_ms.load(Ordering::Relaxed)
        ));
        out
    }
}

/// Why an event was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The event is not acceptable (not JSON, no id, ...): a 4xx for the producer.
    #[error("{0}")]
    Invalid(String),
    /// Valid, but not accepted because another event of its all-or-nothing batch was invalid.
    #[error("not accepted: another event of the request was refused")]
    Withheld,
    /// The bus does not exist: a 4xx (ResourceNotFoundException) for the producer.
    #[error("{0}")]
    UnknownBus(String),
    /// The deliveries could not be recorded: nothing was accepted; a 503 for the producer.
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// What accepting an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: String,
    /// (rule, target) deliveries recorded.
    pub deliveries: usize,
}

/// The envelope fields a delivery carries beside the event: read once, when the event is accepted.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    source: std::borrow::Cow<'a, str>,
    #[serde(borrow, default, rename = "detail-type")]
    detail_type: std::borrow::Cow<'a, str>,
}

/// The envelope fields a delivery keeps beside the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHead {
    pub id: String,
    pub source: String,
    pub detail_type: String,
}

/// An event to accept: its envelope (JSON text) and, when the caller built the envelope, its head.
/// A caller that gives the head vouches that the envelope is valid JSON with no top-level value
/// nested deeper than [`MAX_DETAIL_DEPTH`] (it built it from parts it validated), so accepting
/// neither reads the head again nor validates the envelope while matching.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub event: Vec<u8>,
    pub head: Option<EnvelopeHead>,
}

impl From<Vec<u8>> for Incoming {
    fn from(event: Vec<u8>) -> Incoming {
        Incoming { event, head: None }
    }
}

/// An event as accepting it reads it: the rules it matches and the envelope fields a delivery keeps.
struct Read {
    matched: Vec<usize>,
    event_id: String,
    source: String,
    detail_type: String,
}

impl Read {
    fn new(matcher: &Matcher<usize>, event: &[u8], head: Option<EnvelopeHead>) -> Result<Read, AcceptError> {
        let matched = if head.is_some() { matcher.matches_trusted(event) } else { matcher.matches(event) }
            .map_err(|e| AcceptError::Invalid(format!("the event is not acceptable: {e}")))?;
        if let Some(head) = head {
            return Ok(Read { matched, event_id: head.id, source: head.source, detail_type: head.detail_type });
        }
        match serde_json::from_slice::<Head>(event) {
            Ok(head) if !head.id.is_empty() => Ok(Read {
                matched,
                event_id: head.id.into_owned(),
                source: head.source.into_owned(),
                detail_type: head.detail_type.into_owned(),
            }),
            Ok(_) => Err(AcceptError::Invalid("the event's id is empty".into())),
            Err(e) => Err(AcceptError::Invalid(format!("the event has no string id: {e}"))),
        }
    }
}

/// The pipeline: routes, the store, and the delivery loop.
#[derive(Debug)]
pub struct Pipeline {
    store: Arc<dyn DeliveryStore>,
    routes: ArcSwap<Routes>,
    config: PipelineConfig,
    wake: Notify,
    jitter: Jitter,
    metrics: Metrics,
    /// Consumers that may run at once (`max_concurrency`).
    slots: Semaphore,
    /// Deliveries leased and not yet recorded: running, waiting for a slot, or waiting for the
    /// store to record their result (`LEASES_PER_SLOT` per slot).
    leases: Arc<Semaphore>,
}

/// Leased deliveries per consumer slot. A consumer's slot is free again as soon as it answers, and
/// its result waits for the store's next commit without holding the slot; this bounds how many do
/// (each holds its record and a small task: about 2 KB). Under load a commit takes milliseconds
/// (the commit delay, then an fdatasync behind the disk's writeback), so the bound has to cover
/// that many milliseconds of deliveries: with 8 per slot (512 at the default concurrency),
/// deliveries ran at 70,000-90,000/s behind 110,000-125,000 accepted events/s and the backlog grew;
/// with 32 they keep up (docs/benchmarks.md, issue 6).
const LEASES_PER_SLOT: usize = 32;

impl Pipeline {
    pub fn new(store: Arc<dyn DeliveryStore>, routes: Routes, config: PipelineConfig) -> Arc<Pipeline> {
        let slots = Semaphore::new(config.max_concurrency.max(1));
        let leases = Arc::new(Semaphore::new(config.max_concurrency.max(1) * LEASES_PER_SLOT));
        Arc::new(Pipeline {
            store,
            routes: ArcSwap::from_pointee(routes),
            config,
            wake: Notify::new(),
            jitter: Jitter::default(),
            metrics: Metrics::default(),
            slots,
            leases,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn DeliveryStore> {
        &self.store
    }

    /// Every metric in Prometheus text: the counters and the latency histogram, then gauges from the
    /// store (deliveries pending, the retry queue's depth, dead letters per rule).
    pub fn prometheus(&self) -> String {
        let mut out = self.metrics.prometheus();
        match self.store.stats() {
            Ok(stats) => {
                let gauge = |out: &mut String, name: &str, help: &str| {
                    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"))
                };
                gauge(&mut out, "switchyard_pending_deliveries", "Deliveries recorded and not finished");
                out.push_str(&format!("switchyard_pending_deliveries {}\n", stats.pending));
                gauge(&mut out, "switchyard_retry_queue_depth", "Pending deliveries with at least one failed attempt");
                out.push_str(&format!("switchyard_retry_queue_depth {}\n", stats.retrying));
                let label = |rule: &str| rule.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                gauge(
                    &mut out,
                    "switchyard_rule_retry_queue_depth",
                    "Pending deliveries with a failed attempt, per rule",
                );
                for (rule, count) in &stats.retrying_by_rule {
                    out.push_str(&format!("switchyard_rule_retry_queue_depth{{rule=\"{}\"}} {count}\n", label(rule)));
                }
                gauge(&mut out, "switchyard_dead_letters", "Dead letters kept, per rule");
                for (rule, count) in &stats.dead_letters {
                    out.push_str(&format!("switchyard_dead_letters{{rule=\"{}\"}} {count}\n", label(rule)));
                }
            }
            Err(error) => tracing::warn!(target: "switchyard::delivery", "store statistics unavailable: {error}"),
        }
        out
    }

    /// Replaces the rules. Deliveries already recorded for rules or targets that no longer exist
    /// are dead-lettered with `NO_RESOURCE` when they come due, never dropped.
    pub fn replace_routes(&self, routes: Routes) {
        self.routes.store(Arc::new(routes));
    }

    /// Accepts an event from a producer on the default bus (the envelope, JSON text).
    pub async fn accept(&self, event: Vec<u8>) -> Result<Accepted, AcceptError> {
        self.accept_with(DEFAULT_BUS, event, 0, None).await
    }

    /// Whether events may be sent to `bus` under the rules in force.
    pub fn has_bus(&self, bus: &str) -> bool {
        self.routes.load().has_bus(bus)
    }

    /// The rules in force.
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.load_full()
    }

    /// Accepts one event: matches it once and records one delivery per matched (rule, target); the
    /// future resolves when they are durable. An event matching nothing is not stored.
    pub async fn accept_with(
        &self,
        bus: &str,
        event: impl Into<Incoming>,
        hop: u32,
        causation: Option<String>,
    ) -> Result<Accepted, AcceptError> {
        let mut results = self.accept_batch(bus, vec![event.into()], hop, causation, false).await;
        results.pop().unwrap_or_else(|| Err(AcceptError::Invalid("no event".into())))
    }

    /// Accepts a batch of events on one bus with one durable write: one result per event, in order.
    /// An invalid event fails alone, unless `all_or_nothing`: then one invalid event withholds the
    /// whole batch (the others fail with [`AcceptError::Withheld`]). When the write fails, every
    /// event that matched a rule fails with it (nothing of theirs was recorded) and those that
    /// matched nothing are still accepted.
    pub async fn accept_batch<E: Into<Incoming>>(
        &self,
        bus: &str,
        events: Vec<E>,
        hop: u32,
        causation: Option<String>,
        all_or_nothing: bool,
    ) -> Vec<Result<Accepted, AcceptError>> {
        let routes = self.routes.load_full();
        let Some(matcher) = routes.matchers.get(bus) else {
            let message = format!("event bus {bus} does not exist");
            return events.iter().map(|_| Err(AcceptError::UnknownBus(message.clone()))).collect();
        };
        let now = crate::clock::now_ms();
        let mut results = Vec::with_capacity(events.len());
        let mut deliveries = Vec::new();
        let mut triggered = 0u64;
        for incoming in events {
            let Incoming { event, head } = incoming.into();
            let Read { matched, event_id, source, detail_type } = match Read::new(matcher, &event, head) {
                Ok(read) => read,
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            };
            let before = deliveries.len();
            if !matched.is_empty() {
                // Every (rule, target) gets a copy of the envelope but the last, which takes it.
                let mut copies = matched.iter().map(|&index| routes.rules[index].targets.len()).sum::<usize>();
                let mut event = Some(event);
                for &index in &matched {
                    let route = &routes.rules[index];
                    for target in &route.targets {
                        copies -= 1;
                        let event = if copies == 0 { event.take() } else { event.clone() };
                        deliveries.push(NewDelivery {
                            event_id: event_id.clone(),
                            source: source.clone(),
                            detail_type: detail_type.clone(),
                            event: event.unwrap_or_default(),
                            rule: route.name.clone(),
                            target: target.config.id.clone(),
                            ingested_at_ms: now,
                            hop,
                            causation: causation.clone(),
                        });
                    }
                }
                triggered += matched.len() as u64;
            }
            results.push(Ok(Accepted { event_id, deliveries: deliveries.len() - before }));
        }
        if all_or_nothing && results.iter().any(Result::is_err) {
            for result in &mut results {
                if result.is_ok() {
                    *result = Err(AcceptError::Withheld);
                }
            }
            return results;
        }
        if deliveries.is_empty() {
            return results;
        }
        if let Err(error) = self.store.append(deliveries).await {
            let error = Arc::new(error);
            for result in &mut results {
                if matches!(result, Ok(accepted) if accepted.deliveries > 0) {
                    *result = Err(AcceptError::Store(error.clone()));
                }
            }
            return results;
        }
        let matched = results.iter().filter(|r| matches!(r, Ok(a) if a.deliveries > 0)).count();
        self.metrics.matched_events.fetch_add(matched as u64, Ordering::Relaxed);
        self.metrics.triggered_rules.fetch_add(triggered, Ordering::Relaxed);
        self.wake.notify_one();
        results
    }

    /// Purges dead letters older than their target's retention; returns how many went.
    pub async fn sweep_dead_letters(&self) -> Result<usize, StoreError> {
        let routes = self.routes.load_full();
        let now = crate::clock::now_ms();
        let mut purged = 0;
        for route in &routes.rules {
            for target in &route.targets {
                let Some(retention) = target.config.dead_letter_retention else { continue };
                let filter = crate::delivery::store::DlqFilter {
                    rule: Some(route.name.clone()),
                    target: Some(target.config.id.clone()),
                    until_ms: Some(now.saturating_sub(retention.as_millis() as u64)),
                    ..Default::default()
                };
                purged += self.store.purge(filter).await?;
            }
        }
        Ok(purged)
    }

    /// The delivery loop: runs until `shutdown` turns true, then waits for the attempts in flight
    /// (at most `drain`); what is left stays recorded and runs after the next start.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, drain: Duration) {
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = self.leases.available_permits();
            let mut taken = 0;
            if free > 0 {
                match self.store.take_due(crate::clock::now_ms(), free) {
                    Ok(due) => {
                        taken = due.len();
                        for delivery in due {
                            let Ok(lease) = self.leases.clone().acquire_owned().await else { break };
                            let pipeline = self.clone();
                            tasks.spawn(async move {
                                pipeline.attempt(delivery).await;
                                drop(lease);
                            });
                        }
                    }
                    Err(error) => {
                        tracing::error!(target: "switchyard::delivery", "cannot read due deliveries: {error}")
                    }
                }
            }
            while tasks.try_join_next().is_some() {}
            if taken > 0 && self.leases.available_permits() > 0 {
                continue;
            }
            // Sleep until the next due delivery, a new one, a free slot, or shutdown.
            let wait = match self.store.next_due_ms() {
                Some(due) => Duration::from_millis(due.saturating_sub(crate::clock::now_ms()).clamp(1, 1000)),
                None => Duration::from_secs(1),
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.changed() => {}
            }
        }
        let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    }

    /// One attempt of one leased delivery, from transform to the store's record of its result.
    /// The consumer runs holding a slot of its target and one of the overall concurrency; both are
    /// given back once it answers, before the result is recorded.
    /// Its rare paths (`fail`, emitted events) and the invocation are boxed futures: an attempt is
    /// moved into a task of its own for every delivery, so it is kept small.
    async fn attempt(&self, delivery: Delivery) {
        self.metrics.invocation_attempts.fetch_add(1, Ordering::Relaxed);
        if delivery.attempts > 0 {
            self.metrics.retry_invocation_attempts.fetch_add(1, Ordering::Relaxed);
        }
        let routes = self.routes.load_full();
        let Some((route, target)) = routes.target(&delivery.new.rule, &delivery.new.target) else {
            let message = format!("rule {} has no target {} any more", delivery.new.rule, delivery.new.target);
            return self.fail(&delivery, "NO_RESOURCE", message, None, None).await;
        };
        if delivery.new.hop > self.config.hop_limit {
            let message = format!(
                "emitted {} hops from a producer's event (causation {}); the limit is {}",
                delivery.new.hop,
                delivery.new.causation.as_deref().unwrap_or("-"),
                self.config.hop_limit
            );
            return self.fail(&delivery, "HOP_LIMIT_EXCEEDED", message, None, None).await;
        }
        let ingestion_time =
            crate::clock::rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(delivery.new.ingested_at_ms));
        let context = RenderContext { rule_name: &route.name, rule_arn: &route.arn, ingestion_time: &ingestion_time };
        let payload = match target.transform.render(&delivery.new.event, &context) {
            Ok(input) => input.into_owned(),
            Err(error) => return self.fail(&delivery, "TRANSFORM_FAILED", error.to_string(), None, None).await,
        };
        let Ok(target_slot) = target.slots.acquire().await else { return };
        let Ok(slot) = self.slots.acquire().await else { return };
        // IngestionToInvocationStartLatency: up to here, the wait for a slot included.
        self.metrics.latency.observe(crate::clock::now_ms().saturating_sub(delivery.new.ingested_at_ms));
        let invocation = invoke::Delivery {
            event_id: delivery.new.event_id.clone(),
            source: delivery.new.source.clone(),
            detail_type: delivery.new.detail_type.clone(),
            rule: route.name.clone(),
            target: target.config.id.clone(),
            attempt: delivery.attempts + 1,
            payload,
        };
        // The input is rendered again for a dead letter rather than copied for every attempt.
        let input = || target.transform.render(&delivery.new.event, &context).ok().map(|i| i.into_owned());
        let outcome = Box::pin(target.config.consumer.invoke(&target.config.spec, invocation)).await;
        drop(slot);
        drop(target_slot);
        if outcome.kind == OutcomeKind::Ok {
            for emitted in &outcome.emitted {
                let event = self.envelope(emitted);
                let causation = Some(delivery.new.event_id.clone());
                match Box::pin(self.accept_with(&route.bus, event, delivery.new.hop + 1, causation)).await {
                    Ok(_) => {
                        self.metrics.emitted_events.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        // The delivery is not complete until what it emitted is recorded.
                        let message = format!("an event it emitted could not be accepted: {error}");
                        return self.fail(&delivery, "EMIT_FAILED", message, input(), Some(&target.config.retry)).await;
                    }
                }
            }
            if let Err(error) = self.store.complete(delivery.id).await {
                tracing::error!(target: "switchyard::delivery", id = delivery.id, "cannot record a completed delivery: {error}");
                return;
            }
            self.metrics.invocations.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut message = outcome.message.clone();
        if !outcome.stderr.is_empty() && !message.contains(outcome.stderr.trim()) {
            message.push_str("\nstderr:\n");
            message.push_str(&outcome.stderr);
        }
        let retry = outcome.kind.is_retryable().then_some(&target.config.retry);
        self.fail(&delivery, error_code(outcome.kind), message, input(), retry).await;
    }

    /// Records a failed attempt: with `retry` (a retryable failure and the target's policy), a
    /// retry when the policy allows one; else, or without `retry`, a dead letter. A boxed future:
    /// it is a rare path of `attempt`, which is kept small.
    fn fail<'a>(
        &'a self,
        delivery: &'a Delivery,
        code: &'a str,
        message: String,
        input: Option<Vec<u8>>,
        retry: Option<&'a RetryPolicy>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.record_failure(delivery, code, message, input, retry))
    }

    async fn record_failure(
        &self,
        delivery: &Delivery,
        code: &str,
        message: String,
        input: Option<Vec<u8>>,
        retry: Option<&RetryPolicy>,
    ) {
        let now = crate::clock::now_ms();
        let attempt = FailedAttempt { at_ms: now, error: AttemptError { code: code.to_owned(), message } };
        let verdict = match retry {
            Some(policy) => {
                policy.after_failure(true, delivery.attempts + 1, delivery.new.ingested_at_ms, now, self.jitter.next())
            }
            None => Verdict::DeadLetter { exhausted: None },
        };
        match verdict {
            Verdict::Retry { due_at_ms } => {
                if let Err(error) = self.store.retry(delivery.id, due_at_ms, attempt).await {
                    tracing::error!(target: "switchyard::delivery", id = delivery.id, "cannot record a retry: {error}");
                }
            }
            Verdict::DeadLetter { exhausted } => {
                let info = DeadLetterInfo { attempt, input, exhausted };
                match self.store.dead_letter(delivery.id, info, now).await {
                    Ok(_) => {
                        self.metrics.invocations.fetch_add(1, Ordering::Relaxed);
                        self.metrics.failed_invocations.fetch_add(1, Ordering::Relaxed);
                        self.metrics.invocations_sent_to_dlq.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        // The delivery stays recorded and comes back after a restart.
                        self.metrics.invocations_failed_to_be_sent_to_dlq.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(target: "switchyard::delivery", id = delivery.id, "cannot dead-letter a delivery: {error}");
                    }
                }
            }
        }
    }

    /// The EventBridge envelope of an event a consumer emitted (its detail, which the host checked
    /// is a JSON object, is copied as it is), with its head.
    fn envelope(&self, emitted: &invoke::EmittedEvent) -> Incoming {
        let id = self.new_event_id();
        let head = serde_json::json!({
            "version": "0",
            "id": id,
            "detail-type": emitted.detail_type,
            "source": emitted.source,
            "account": self.config.account,
            "time": crate::clock::rfc3339(std::time::SystemTime::now()),
            "region": self.config.region,
            "resources": emitted.resources,
        });
        let mut text = head.to_string();
        text.pop();
        text.push_str(",\"detail\":");
        text.push_str(&emitted.detail);
        text.push('}');
        let head = EnvelopeHead { id, source: emitted.source.clone(), detail_type: emitted.detail_type.clone() };
        Incoming { event: text.into_bytes(), head: Some(head) }
    }

    /// A random (version 4) UUID.
    pub fn new_event_id(&self) -> String {
        let bits = (u128::from(self.jitter.next_u64()) << 64) | u128::from(self.jitter.next_u64());
        let bits = (bits & !(0xF << 76)) | (0x4 << 76);
        let bits = (bits & !(0x3 << 62)) | (0x2 << 62);
        uuid_text(bits)
    }
}

/// `bits` in the UUID text form: 32 lowercase hex digits, dashes after the 8th, 12th, 16th and 20th.
fn uuid_text(bits: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for nibble in 0..32 {
        if matches!(nibble, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(char::from(HEX[((bits >> (124 - 4 * nibble)) & 0xF) as usize]));
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_text() {
        let cases = [
            (0u128, "00000000-0000-0000-0000-000000000000"),
            (u128::MAX, "ffffffff-ffff-ffff-ffff-ffffffffffff"),
            (0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, "01234567-89ab-cdef-fedc-ba9876543210"),
            (0x6a7e_8feb_b491_4cf7_a9f1_bf37_0346_7718, "6a7e8feb-b491-4cf7-a9f1-bf3703467718"),
        ];
        for (bits, text) in cases {
            assert_eq!(super::uuid_text(bits), text);
        }
    }
}
