//! What an attempt's outcome means for the delivery: done, retry at a time, or dead-letter (and
//! why). Pure: the caller supplies the clock and the randomness, so every decision is testable.
//!
//! EventBridge's retry policy (../shared/eventbridge-spec.md §4): `MaximumRetryAttempts` (0-185,
//! default 185) counts *retries*, so a delivery gets at most 1 + that many attempts;
//! `MaximumEventAgeInSeconds` (60-86,400, default 86,400) counts from when the event was accepted.
//! Retrying stops at whichever bound is reached first. Between attempts the delay is exponential
//! backoff with full jitter: a uniformly random delay between 0 and `min(cap, base × 2^retry)`,
//! never less than [`MIN_DELAY_MS`]. A retry that would fall due after the event's maximum age is
//! not scheduled: the delivery is dead-lettered at once with `MaximumEventAgeInSeconds`.

use serde::{Deserialize, Serialize};

use super::store::Exhausted;
use crate::invoke::OutcomeKind;

/// The shortest delay between two attempts, so that a failing consumer is never retried in a loop.
pub const MIN_DELAY_MS: u64 = 10;

/// A target's retry policy, as written in a rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt: 0-185.
    #[serde(alias = "MaximumRetryAttempts")]
    pub maximum_retry_attempts: u32,
    /// How long after acceptance an event may still be delivered: 60-86,400 s.
    #[serde(alias = "MaximumEventAgeInSeconds")]
    pub maximum_event_age_seconds: u32,
    /// The first retry's delay bound, in ms.
    pub backoff_base_ms: u64,
    /// The largest delay bound, in ms.
    pub backoff_cap_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            maximum_retry_attempts: 185,
            maximum_event_age_seconds: 86_400,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 600_000,
        }
    }
}

impl RetryPolicy {
    /// Every way the policy breaks EventBridge's bounds, in words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.maximum_retry_attempts > 185 {
            problems.push(format!(
                "maximum_retry_attempts is {}; it must be between 0 and 185",
                self.maximum_retry_attempts
            ));
        }
        if !(60..=86_400).contains(&self.maximum_event_age_seconds) {
            problems.push(format!(
                "maximum_event_age_seconds is {}; it must be between 60 and 86400",
                self.maximum_event_age_seconds
            ));
        }
        if self.backoff_base_ms < MIN_DELAY_MS {
            problems.push(format!("backoff_base_ms is {}; it must be at least {MIN_DELAY_MS}", self.backoff_base_ms));
        }
        if self.backoff_cap_ms < self.backoff_base_ms {
            problems.push(format!(
                "backoff_cap_ms ({}) is below backoff_base_ms ({})",
                self.backoff_cap_ms, self.backoff_base_ms
            ));
        }
        problems
    }

    /// The delay bound before retry number `retry` (0 for the first retry): `min(cap, base × 2^retry)`.
    pub fn delay_bound_ms(&self, retry: u32) -> u64 {
        let factor = 1u64.checked_shl(retry.min(63)).unwrap_or(u64::MAX);
        self.backoff_base_ms.saturating_mul(factor).min(self.backoff_cap_ms)
    }

    /// What to do after an attempt that failed. `attempts` counts the attempts made, this one
    /// included; `jitter` is uniform in [0, 1).
    pub fn after_failure(
        &self,
        retryable: bool,
        attempts: u32,
        ingested_at_ms: u64,
        now_ms: u64,
        jitter: f64,
    ) -> Verdict {
        if !retryable {
            return Verdict::DeadLetter { exhausted: None };
        }
        let age_limit_ms = ingested_at_ms.saturating_add(u64::from(self.maximum_event_age_seconds) * 1000);
        if now_ms >= age_limit_ms {
            return Verdict::DeadLetter { exhausted: Some(Exhausted::MaximumEventAgeInSeconds) };
        }
        // Retries made so far are attempts - 1; one more is allowed while fewer than the maximum.
        let retries_made = attempts.saturating_sub(1);
        if retries_made >= self.maximum_retry_attempts {
            return Verdict::DeadLetter { exhausted: Some(Exhausted::MaximumRetryAttempts) };
        }
        let bound = self.delay_bound_ms(retries_made);
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        let delay = ((bound as f64 * jitter) as u64).clamp(MIN_DELAY_MS, bound.max(MIN_DELAY_MS));
        let due_at_ms = now_ms.saturating_add(delay);
        if due_at_ms >= age_limit_ms {
            return Verdict::DeadLetter { exhausted: Some(Exhausted::MaximumEventAgeInSeconds) };
        }
        Verdict::Retry { due_at_ms }
    }
}

/// The decision after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Retry {
        due_at_ms: u64,
    },
    /// `exhausted` is `None` for a permanent failure.
    DeadLetter {
        exhausted: Option<Exhausted>,
    },
}

/// The error code recorded for an outcome (dead letters, retry records, metrics).
pub fn error_code(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Ok => "OK",
        OutcomeKind::Retryable => "CONSUMER_RETRYABLE",
        OutcomeKind::Permanent => "CONSUMER_PERMANENT",
        OutcomeKind::Timeout => "TIMEOUT",
        OutcomeKind::OutOfMemory => "OUT_OF_MEMORY",
        OutcomeKind::StackOverflow => "STACK_OVERFLOW",
        OutcomeKind::Trap => "TRAP",
    }
}

/// A cheap source of uniform jitter in [0, 1) without a dependency: SplitMix64 over a counter
/// seeded from the process's random hasher keys.
#[derive(Debug)]
pub struct Jitter {
    state: std::sync::atomic::AtomicU64,
}

impl Default for Jitter {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        Jitter { state: std::sync::atomic::AtomicU64::new(hasher.finish()) }
    }
}

impl Jitter {
    /// Uniform in [0, 1).
    pub fn next(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 64 uniform bits.
    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn policy(retries: u32, age_s: u32) -> RetryPolicy {
        RetryPolicy {
            maximum_retry_attempts: retries,
            maximum_event_age_seconds: age_s,
            backoff_base_ms: 1000,
            backoff_cap_ms: 60_000,
        }
    }

    #[test]
    fn decisions() {
        use Exhausted::*;
        // (policy, retryable, attempts made, now - ingested (ms), jitter, expected)
        let cases: &[(RetryPolicy, bool, u32, u64, f64, Verdict)] = &[
            (policy(185, 86_400), false, 1, 0, 0.5, Verdict::DeadLetter { exhausted: None }),
            (policy(185, 86_400), true, 1, 0, 0.5, Verdict::Retry { due_at_ms: T0 + 500 }),
            (policy(185, 86_400), true, 2, 0, 0.5, Verdict::Retry { due_at_ms: T0 + 1000 }),
            (policy(185, 86_400), true, 3, 0, 0.999_999, Verdict::Retry { due_at_ms: T0 + 3999 }),
            // The bound stops at the cap; the floor keeps a zero jitter from retrying at once.
            (policy(185, 86_400), true, 40, 0, 0.5, Verdict::Retry { due_at_ms: T0 + 30_000 }),
            (policy(185, 86_400), true, 1, 0, 0.0, Verdict::Retry { due_at_ms: T0 + MIN_DELAY_MS }),
            // 0 retries: the first failure is final.
            (policy(0, 86_400), true, 1, 0, 0.5, Verdict::DeadLetter { exhausted: Some(MaximumRetryAttempts) }),
            (policy(2, 86_400), true, 2, 0, 0.5, Verdict::Retry { due_at_ms: T0 + 1000 }),
            (policy(2, 86_400), true, 3, 0, 0.5, Verdict::DeadLetter { exhausted: Some(MaximumRetryAttempts) }),
            // Age: already too old, or the next retry would be.
            (policy(185, 60), true, 1, 60_000, 0.5, Verdict::DeadLetter { exhausted: Some(MaximumEventAgeInSeconds) }),
            (policy(185, 60), true, 1, 59_600, 0.5, Verdict::DeadLetter { exhausted: Some(MaximumEventAgeInSeconds) }),
            (policy(185, 60), true, 1, 59_000, 0.5, Verdict::Retry { due_at_ms: T0 + 59_000 + 500 }),
            // Both bounds reached: age is checked first.
            (policy(0, 60), true, 1, 61_000, 0.5, Verdict::DeadLetter { exhausted: Some(MaximumEventAgeInSeconds) }),
        ];
        for (i, (policy, retryable, attempts, age, jitter, expected)) in cases.iter().enumerate() {
            let got = policy.after_failure(*retryable, *attempts, T0, T0 + age, *jitter);
            assert_eq!(got, *expected, "case {i}");
        }
    }

    #[test]
    fn every_delay_is_within_its_bound() {
        let policy = RetryPolicy::default();
        let jitter = Jitter::default();
        for attempts in 1..=186 {
            for _ in 0..50 {
                let j = jitter.next();
                assert!((0.0..1.0).contains(&j));
                match policy.after_failure(true, attempts, T0, T0, j) {
                    Verdict::Retry { due_at_ms } => {
                        let delay = due_at_ms - T0;
                        assert!(
                            delay >= MIN_DELAY_MS && delay <= policy.delay_bound_ms(attempts - 1),
                            "{attempts}: {delay}"
                        );
                    }
                    Verdict::DeadLetter { exhausted } => {
                        assert_eq!(attempts, 186);
                        assert_eq!(exhausted, Some(Exhausted::MaximumRetryAttempts));
                    }
                }
            }
        }
    }

    #[test]
    fn policies_outside_eventbridge_bounds_are_refused() {
        assert!(RetryPolicy::default().problems().is_empty());
        let bad = RetryPolicy {
            maximum_retry_attempts: 186,
            maximum_event_age_seconds: 59,
            backoff_base_ms: 5,
            backoff_cap_ms: 1,
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("between 0 and 185"));
        assert!(problems[1].contains("between 60 and 86400"));
        let parsed: RetryPolicy = serde_json::from_str(r#"{"MaximumRetryAttempts": 3}"#).unwrap();
        assert_eq!(parsed.maximum_retry_attempts, 3);
        assert_eq!(parsed.maximum_event_age_seconds, 86_400);
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"retries": 3}"#).is_err());
    }
}
