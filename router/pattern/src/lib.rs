//! switchyard-pattern: the EventBridge event-pattern language, matched against many rules at once.
//!
//! Every rule's pattern is validated ([`Pattern::parse`]) and compiled into one automaton; an event is
//! read from its raw bytes in one pass that skips every field no pattern mentions. The cost of matching
//! an event follows the event's size and the number of conditions it satisfies, not the number of rules.
//! A [`Matcher`] can gain and lose rules while other threads keep matching: writers build a new
//! automaton aside and publish it atomically.
//!
//! ```
//! use switchyard_pattern::Matcher;
//!
//! let matcher = Matcher::new();
//! matcher.add("ec2-running", r#"{"source": ["aws.ec2"], "detail": {"state": ["running"]}}"#).unwrap();
//! matcher.add("any-ec2", r#"{"source": [{"prefix": "aws.ec"}]}"#).unwrap();
//! let event = br#"{"source": "aws.ec2", "detail": {"state": "running", "id": "i-1"}}"#;
//! let mut names = matcher.matches(event).unwrap();
//! names.sort();
//! assert_eq!(names, ["any-ec2", "ec2-running"]);
//! assert!(matcher.matches(br#"{"source": "aws.ec2", "detail": "#).is_err());
//! ```
//!
//! This crate does no IO, spawns nothing, and knows nothing of the router around it.

mod affix;
mod automaton;
mod error;
mod event;
mod json;
mod operators;
mod pattern;
mod scan;
mod skip;
mod text_map;
mod trie;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::automaton::{Automaton, Scratch};

pub use crate::error::{EventError, PatternError};
pub use crate::event::{Mode, validate_json};
pub use crate::pattern::Pattern;

/// Limits on patterns and events. The defaults are EventBridge's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest pattern text, in characters (EventBridge's default quota: 2048).
    pub max_pattern_chars: usize,
    /// Most `$or` combinations (the product of the lengths of all `$or` arrays) in one pattern.
    pub max_or_combinations: usize,
    /// Highest wildcard complexity score of one pattern (see the rules reference).
    pub max_wildcard_score: usize,
    /// Deepest nesting of objects and arrays in an event (PutEvents allows 1000 levels).
    pub max_event_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pattern_chars: 2048, max_or_combinations: 1000, max_wildcard_score: 16, max_event_depth: 1000 }
    }
}

/// A set of rules matched together. `R` identifies a rule; adding patterns under an existing id ORs
/// them with that rule's other patterns.
///
/// All methods take `&self`: matching reads a published snapshot without locking, and changes are
/// serialised among writers, compiled aside and published atomically.
#[derive(Debug)]
pub struct Matcher<R> {
    limits: Limits,
    rules: Mutex<RuleList<R>>,
    current: ArcSwap<Compiled<R>>,
}

#[derive(Debug)]
struct RuleList<R> {
    ids: Vec<R>,
    patterns: Vec<Vec<Arc<Pattern>>>,
    positions: HashMap<R, usize>,
}

/// One published state of a [`Matcher`]: an immutable automaton and the ids of its rules.
#[derive(Debug)]
pub struct Compiled<R> {
    automaton: Automaton,
    ids: Vec<R>,
    max_event_depth: usize,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

impl<R: Clone + Eq + Hash> Default for Matcher<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Clone + Eq + Hash> Matcher<R> {
    /// An empty matcher with EventBridge's limits.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// An empty matcher with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        let rules = RuleList { ids: Vec::new(), patterns: Vec::new(), positions: HashMap::new() };
        let compiled = Compiled::build(&rules, &limits);
        Matcher { limits, rules: Mutex::new(rules), current: ArcSwap::from_pointee(compiled) }
    }

    /// The limits patterns are validated against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates `pattern` and adds it under `id`.
    pub fn add(&self, id: R, pattern: &str) -> Result<(), PatternError> {
        let pattern = Pattern::parse(pattern, &self.limits)?;
        self.update(|changes| changes.add_pattern(id, pattern));
        Ok(())
    }

    /// Removes every pattern of rule `id`; returns whether it existed.
    pub fn remove(&self, id: &R) -> bool {
        let mut existed = false;
        self.update(|changes| existed = changes.remove(id));
        existed
    }

    /// Applies many changes and publishes them as one new automaton: the way to load or replace a
    /// whole rule set, since every publication recompiles.
    pub fn update(&self, apply: impl FnOnce(&mut Changes<'_, R>)) {
        let mut rules = self.rules.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut changes = Changes { rules: &mut rules };
        apply(&mut changes);
        let compiled = Compiled::build(&rules, &self.limits);
        self.current.store(Arc::new(compiled));
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.current.load().ids.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current published state, for many matches without reloading it.
    pub fn snapshot(&self) -> Arc<Compiled<R>> {
        self.current.load_full()
    }

    /// The rules matching `event`, validating the whole event (untrusted input).
    pub fn matches(&self, event: &[u8]) -> Result<Vec<R>, EventError> {
        self.current.load().matches(event, Mode::Validate)
    }

    /// The rules matching `event`, which the caller has already validated as JSON.
    pub fn matches_trusted(&self, event: &[u8]) -> Result<Vec<R>, EventError> {
        self.current.load().matches(event, Mode::Trusted)
    }
}

/// Changes to a [`Matcher`]'s rules inside [`Matcher::update`].
#[derive(Debug)]
pub struct Changes<'a, R> {
    rules: &'a mut RuleList<R>,
}

impl<R: Clone + Eq + Hash> Changes<'_, R> {
    /// Adds a validated pattern under `id`.
    pub fn add_pattern(&mut self, id: R, pattern: Pattern) {
        let pattern = Arc::new(pattern);
        match self.rules.positions.get(&id) {
            Some(&position) => self.rules.patterns[position].push(pattern),
            None => {
                self.rules.positions.insert(id.clone(), self.rules.ids.len());
                self.rules.ids.push(id);
                self.rules.patterns.push(vec![pattern]);
            }
        }
    }

    /// Removes every pattern of `id`; returns whether it existed.
    pub fn remove(&mut self, id: &R) -> bool {
        let Some(position) = self.rules.positions.remove(id) else {
            return false;
        };
        self.rules.ids.swap_remove(position);
        self.rules.patterns.swap_remove(position);
        if let Some(moved) = self.rules.ids.get(position) {
            self.rules.positions.insert(moved.clone(), position);
        }
        true
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.ids.clear();
        self.rules.patterns.clear();
        self.rules.positions.clear();
    }
}

impl<R: Clone> Compiled<R> {
    fn build(rules: &RuleList<R>, limits: &Limits) -> Self {
        let automaton = Automaton::build(
            rules
                .patterns
                .iter()
                .enumerate()
                .flat_map(|(rule_idx, patterns)| patterns.iter().map(move |pattern| (rule_idx as u32, &**pattern))),
        );
        Compiled { automaton, ids: rules.ids.clone(), max_event_depth: limits.max_event_depth }
    }

    /// Number of rules in this state.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether this state has no rules.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The rules matching `event`.
    pub fn matches(&self, event: &[u8], mode: Mode) -> Result<Vec<R>, EventError> {
        let mut found = Vec::new();
        self.for_each_match(event, mode, |id| found.push(id.clone()))?;
        Ok(found)
    }

    /// Calls `found` once for each rule matching `event`, without allocating.
    pub fn for_each_match(&self, event: &[u8], mode: Mode, mut found: impl FnMut(&R)) -> Result<(), EventError> {
        let mut report = |rule: u32| found(&self.ids[rule as usize]);
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run(event, mode, &mut scratch, &mut report),
            // Matching from inside a callback of another match on this thread.
            Err(_) => self.run(event, mode, &mut Scratch::default(), &mut report),
        })
    }

    fn run(
        &self,
        event: &[u8],
        mode: Mode,
        scratch: &mut Scratch,
        found: &mut dyn FnMut(u32),
    ) -> Result<(), EventError> {
        scratch.begin(&self.automaton, self.ids.len());
        match mode {
            Mode::Trusted => event::Walker::<true>::run(event, self.max_event_depth, &self.automaton, scratch)?,
            Mode::Validate => event::Walker::<false>::run(event, self.max_event_depth, &self.automaton, scratch)?,
        }
        self.automaton.finish(scratch, found);
        Ok(())
    }
}
