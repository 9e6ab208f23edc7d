//! All rules compiled into one structure, and the per-event evaluation over it.
//!
//! - A **path trie** (`Node`) holds every path any pattern mentions, one segment per level; the event
//!   walker follows it and skips everything else.
//! - A **field** is a trie node with conditions. Its `FieldIndex` answers, for one leaf value, which
//!   conditions it satisfies, through hash maps (exact values, folded values, numbers), byte tries
//!   (prefixes, suffixes, wildcard heads and tails) and a segment tree (numeric ranges), so the work per
//!   leaf follows the number of conditions it satisfies, not the number of rules.
//! - A **condition** (path + leaf array) is shared by every branch that has the same one. A **branch**
//!   (one `$or` combination of one pattern) matches when each of its required conditions has a hit,
//!   each `exists: false`-style condition without a hit has no leaf at its path, and the hits can be
//!   chosen from one element of every array they share (array consistency).
//!
//! Per event the work is: conditions hit are stamped with the event's epoch (never cleared); each
//! branch has one key condition, its least shared required one, and only branches whose key was hit
//! are verified after the walk. Nothing here allocates per event once the
//! thread's scratch has grown to the automaton's size.

use rustc_hash::FxHashMap;

use crate::affix::{Prefixes, Suffixes};
use crate::operators::anything_but::AnythingBut;
use crate::operators::cidr::{Ip, IpRange, parse_ip};
use crate::operators::equals_ignore_case::fold_into;
use crate::operators::exact::Exact;
use crate::operators::numbers::value_key;
use crate::operators::numeric::{NumericIndex, Range};
use crate::operators::wildcard::{Wildcard, pieces_match};
use crate::operators::{Leaf, LeafMatchers, ValueMatcher};
use crate::pattern::Pattern;
use crate::skip::{FlatKeys, KeyNeedles};
use crate::text_map::{TextMap, same_bytes};

pub(crate) const NO_FIELD: u32 = u32::MAX;
const NO_HIT: u32 = u32::MAX;

/// Children of a trie node: a short list scanned linearly, or a hash map when there are many.
#[derive(Debug)]
enum Children {
    /// (tag, segment, node); the tag (see `tag`) rejects most non-matching keys in one compare.
    Few(Vec<(u64, Box<[u8]>, u32)>),
    Many(FxHashMap<Box<[u8]>, u32>),
}

/// Whether a key contains '.'. Keys are short: a plain loop beats the call into memchr that
/// `contains` makes.
#[allow(clippy::manual_contains)]
#[inline(always)]
fn has_dot(key: &[u8]) -> bool {
    key.iter().any(|&byte| byte == b'.')
}

/// The length and first seven bytes of a segment in one word: equal tags and a length of at most
/// seven mean equal segments.
#[inline(always)]
fn tag(segment: &[u8]) -> u64 {
    const LOW_7_BYTES: u64 = 0x00ff_ffff_ffff_ffff;
    let head = match segment.first_chunk::<8>() {
        Some(first) => u64::from_le_bytes(*first) & LOW_7_BYTES,
        None => {
            let mut head = 0u64;
            for (idx, &byte) in segment.iter().enumerate() {
                head |= u64::from(byte) << (8 * idx);
            }
            head
        }
    };
    head | (segment.len().min(255) as u64) << 56
}

#[derive(Debug)]
struct Node {
    children: Children,
    field: u32,
    has_grandchildren: bool,
    /// For a node with a few children and no grandchildren: its keys, searched for in trusted flat
    /// objects (see `Walker::walk_flat_object`).
    flat_keys: Option<FlatKeys>,
}

/// A condition while building.
#[derive(Debug)]
struct ConditionDraft {
    field: u32,
    absent_ok: bool,
    /// Branches for which this is the key condition: a hit makes them candidates.
    keyed: Vec<u32>,
}

/// A condition of the automaton, 16 bytes, so that the one cache line a hit touches says all: its
/// keyed branches are in `Automaton::keyed`, or, when there is just one, in `keyed_start` itself.
#[derive(Debug, Clone, Copy)]
struct Condition {
    field: u32,
    absent_ok: bool,
    keyed_start: u32,
    keyed_len: u32,
}

/// A branch of the automaton, 16 bytes: up to two conditions inline (the common case), more in
/// `Automaton::branch_conditions` from `conditions[0]` on.
#[derive(Debug, Clone, Copy)]
struct Branch {
    rule: u32,
    /// The number of conditions, with `SHARED_RULE` set when the rule has other branches.
    n_conditions: u32,
    conditions: [u32; 2],
}

/// In `Branch::n_conditions`: the branch's rule has other branches, so it may be reported already.
const SHARED_RULE: u32 = 1 << 31;

/// A branch while building.
#[derive(Debug)]
struct BranchDraft {
    rule: u32,
    conditions: Box<[u32]>,
}

/// The compiled form of a set of rules. Immutable once built; `Matcher` swaps whole automata.
#[derive(Debug)]
pub(crate) struct Automaton {
    nodes: Vec<Node>,
    fields: Vec<FieldIndex>,
    conditions: Vec<Condition>,
    /// Keyed branches of the conditions with more than one.
    keyed: Vec<u32>,
    branches: Vec<Branch>,
    /// Conditions of the branches with more than two.
    branch_conditions: Vec<u32>,
    /// Branches with no required condition: checked on every event.
    always: Vec<u32>,
    /// The names of the root's children: the keys that matter in the event's top-level object (see
    /// `Walker::walk_object`).
    root_needles: Option<KeyNeedles>,
}

impl Automaton {
    /// Compiles rules given as (rule index, pattern) pairs.
    pub(crate) fn build<'p>(rules: impl Iterator<Item = (u32, &'p Pattern)>) -> Automaton {
        let mut builder = Builder::default();
        for (rule, pattern) in rules {
            for branch in &pattern.branches {
                builder.add_branch(rule, branch);
            }
        }
        builder.finish()
    }

    /// `child` for a key that is `bytes[start..end]`: the tag comes from one unaligned load when the
    /// buffer extends far enough past the key, as it does for every key but a truncated event's last.
    #[inline(always)]
    pub(crate) fn child_in(&self, node: u32, bytes: &[u8], start: usize, end: usize) -> Option<u32> {
        let key = &bytes[start..end];
        let key_tag = match bytes.get(start..start + 8) {
            Some(word) => {
                let head = u64::from_le_bytes(word.try_into().expect("an 8-byte slice"));
                let kept = key.len().min(7);
                let mask = if kept == 7 { 0x00ff_ffff_ffff_ffff } else { (1u64 << (8 * kept)) - 1 };
                (head & mask) | (key.len().min(255) as u64) << 56
            }
            None => tag(key),
        };
        self.or_dotted(self.lookup_tagged(node, key, key_tag), node, key)
    }

    #[inline(always)]
    pub(crate) fn child(&self, node: u32, key: &[u8]) -> Option<u32> {
        self.or_dotted(self.lookup(node, key), node, key)
    }

    /// A key that found no child may still be a dotted path "a.b" → a → b (pattern segments never
    /// contain '.'), which needs a grandchild.
    #[inline(always)]
    fn or_dotted(&self, found: Option<u32>, node: u32, key: &[u8]) -> Option<u32> {
        if found.is_none() && self.nodes[node as usize].has_grandchildren && has_dot(key) {
            return self.dotted_child(node, key);
        }
        found
    }

    #[cold]
    fn dotted_child(&self, node: u32, key: &[u8]) -> Option<u32> {
        key.split(|&byte| byte == b'.').try_fold(node, |node, segment| self.lookup(node, segment))
    }

    #[inline(always)]
    fn lookup(&self, node: u32, segment: &[u8]) -> Option<u32> {
        self.lookup_tagged(node, segment, tag(segment))
    }

    #[inline(always)]
    fn lookup_tagged(&self, node: u32, segment: &[u8], segment_tag: u64) -> Option<u32> {
        match &self.nodes[node as usize].children {
            Children::Few(children) => children
                .iter()
                .find(|(child_tag, name, _)| {
                    *child_tag == segment_tag && (segment.len() <= 7 || same_bytes(name, segment))
                })
                .map(|(_, _, child)| *child),
            Children::Many(children) => children.get(segment).copied(),
        }
    }

    /// The keys of a node that can be searched for in a flat object (see `Node::flat_keys`).
    #[inline(always)]
    pub(crate) fn flat_keys(&self, node: u32) -> Option<&FlatKeys> {
        self.nodes[node as usize].flat_keys.as_ref()
    }

    /// The keys that matter in the event's top-level object (see `Automaton::root_needles`).
    #[inline(always)]
    pub(crate) fn root_needles(&self) -> Option<&KeyNeedles> {
        self.root_needles.as_ref()
    }

    #[inline(always)]
    pub(crate) fn field_of(&self, node: u32) -> u32 {
        self.nodes[node as usize].field
    }

    #[inline(always)]
    pub(crate) fn has_children(&self, node: u32) -> bool {
        match &self.nodes[node as usize].children {
            Children::Few(children) => !children.is_empty(),
            Children::Many(_) => true,
        }
    }

    #[inline(always)]
    pub(crate) fn needs_number_value(&self, field: u32) -> bool {
        self.fields[field as usize].needs_number_value
    }

    /// One leaf value at a field: record every condition it satisfies.
    #[inline]
    pub(crate) fn leaf(&self, field: u32, leaf: Leaf<'_>, scratch: &mut Scratch) {
        scratch.field_seen[field as usize] = scratch.epoch;
        let index = &self.fields[field as usize];
        index.evaluate(self, &leaf, scratch);
    }

    /// The branches keyed by `condition`.
    #[inline(always)]
    fn keyed<'c>(&'c self, condition: &'c Condition) -> &'c [u32] {
        match condition.keyed_len {
            1 => std::slice::from_ref(&condition.keyed_start),
            len => {
                let start = condition.keyed_start as usize;
                &self.keyed[start..start + len as usize]
            }
        }
    }

    /// The conditions of `branch`.
    #[inline(always)]
    fn conditions_of<'b>(&'b self, branch: &'b Branch) -> &'b [u32] {
        match branch.n_conditions & !SHARED_RULE {
            len @ 0..=2 => &branch.conditions[..len as usize],
            len => {
                let start = branch.conditions[0] as usize;
                &self.branch_conditions[start..start + len as usize]
            }
        }
    }

    #[inline]
    fn hit(&self, condition: u32, scratch: &mut Scratch) {
        let idx = condition as usize;
        let epoch = scratch.epoch;
        let stamps = &mut scratch.stamps[idx];
        if stamps.hit != epoch {
            stamps.hit = epoch;
            stamps.head = NO_HIT;
            // Usually one branch or none: a loop beats a memcpy call here.
            for &branch in self.keyed(&self.conditions[idx]) {
                scratch.candidates.push(branch);
            }
        }
        let stamps = &mut scratch.stamps[idx];
        if scratch.trail.is_empty() {
            // A hit outside arrays of objects is compatible with every other hit.
            stamps.free = epoch;
        } else if stamps.free != epoch {
            let start = scratch.trail_arena.len() as u32;
            scratch.trail_arena.extend_from_slice(&scratch.trail);
            scratch.hits.push(Hit { trail_start: start, trail_len: scratch.trail.len() as u32, next: stamps.head });
            stamps.head = (scratch.hits.len() - 1) as u32;
        }
    }

    /// After the walk: the rules whose branches are satisfied, each reported once.
    pub(crate) fn finish(&self, scratch: &mut Scratch, found: &mut dyn FnMut(u32)) {
        let candidates = std::mem::take(&mut scratch.candidates);
        for &branch in candidates.iter().chain(&self.always) {
            let branch = &self.branches[branch as usize];
            // A branch is a candidate at most once per event, so a rule with one branch is reported
            // at most once without looking at `rule_reported`.
            let shared = branch.n_conditions & SHARED_RULE != 0;
            if shared && scratch.rule_reported[branch.rule as usize] == scratch.epoch {
                continue;
            }
            if self.branch_satisfied(branch, scratch) {
                if shared {
                    scratch.rule_reported[branch.rule as usize] = scratch.epoch;
                }
                found(branch.rule);
            }
        }
        scratch.candidates = candidates;
    }

    fn branch_satisfied(&self, branch: &Branch, scratch: &mut Scratch) -> bool {
        let epoch = scratch.epoch;
        let mut n_constrained = 0;
        let conditions = self.conditions_of(branch);
        for &condition in conditions {
            let idx = condition as usize;
            let stamps = scratch.stamps[idx];
            if stamps.hit != epoch {
                let info = &self.conditions[idx];
                // Unhit: fine only for an absent_ok condition whose field has no leaf.
                if !info.absent_ok || scratch.field_seen[info.field as usize] == epoch {
                    return false;
                }
            } else if stamps.free != epoch {
                n_constrained += 1;
            }
        }
        if n_constrained <= 1 {
            return true;
        }
        let mut constrained: Vec<u32> = conditions
            .iter()
            .copied()
            .filter(|&c| {
                let stamps = scratch.stamps[c as usize];
                stamps.hit == epoch && stamps.free != epoch
            })
            .collect();
        constrained.sort_by_key(|&c| chain_len(scratch, c));
        let mut chosen = Vec::with_capacity(constrained.len());
        consistent_choice(scratch, &constrained, &mut chosen)
    }
}

fn chain_len(scratch: &Scratch, condition: u32) -> usize {
    let mut n = 0;
    let mut hit = scratch.stamps[condition as usize].head;
    while hit != NO_HIT {
        n += 1;
        hit = scratch.hits[hit as usize].next;
    }
    n
}

/// Picks one hit per condition such that no two come from different elements of one array.
fn consistent_choice(scratch: &Scratch, conditions: &[u32], chosen: &mut Vec<u32>) -> bool {
    let Some((&condition, rest)) = conditions.split_first() else {
        return true;
    };
    let mut hit = scratch.stamps[condition as usize].head;
    while hit != NO_HIT {
        let trail = scratch.trail_of(hit);
        if chosen.iter().all(|&other| compatible(trail, scratch.trail_of(other))) {
            chosen.push(hit);
            if consistent_choice(scratch, rest, chosen) {
                return true;
            }
            chosen.pop();
        }
        hit = scratch.hits[hit as usize].next;
    }
    false
}

/// Two leaves are compatible unless, in the first array both sit in, they sit in different elements.
fn compatible(left: &[(u32, u32)], right: &[(u32, u32)]) -> bool {
    for (&(left_array, left_idx), &(right_array, right_idx)) in left.iter().zip(right) {
        if left_array != right_array {
            return true;
        }
        if left_idx != right_idx {
            return false;
        }
    }
    true
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    trail_start: u32,
    trail_len: u32,
    next: u32,
}

/// What an event did to one condition, together in one place (one cache line per hit).
#[derive(Debug, Clone, Copy, Default)]
struct Stamps {
    /// The epoch of the last event that hit the condition.
    hit: u32,
    /// The epoch of the last event that hit it outside arrays of objects.
    free: u32,
    /// This event's first hit inside arrays of objects (in `Scratch::hits`), valid when `hit` is
    /// this epoch.
    head: u32,
}

/// Per-thread working memory of the evaluation, stamped with an epoch per event so that nothing is
/// cleared between events.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    epoch: u32,
    stamps: Vec<Stamps>,
    field_seen: Vec<u32>,
    rule_reported: Vec<u32>,
    candidates: Vec<u32>,
    hits: Vec<Hit>,
    trail_arena: Vec<(u32, u32)>,
    pub(crate) trail: Vec<(u32, u32)>,
    n_arrays: u32,
    pub(crate) key_buffer: Vec<u8>,
    pub(crate) value_buffer: Vec<u8>,
    fold_buffer: Vec<u8>,
    fold_unicode: String,
}

impl Scratch {
    /// Empty working memory; it grows to an automaton's size on first use.
    pub(crate) const fn new() -> Scratch {
        Scratch {
            epoch: 0,
            stamps: Vec::new(),
            field_seen: Vec::new(),
            rule_reported: Vec::new(),
            candidates: Vec::new(),
            hits: Vec::new(),
            trail_arena: Vec::new(),
            trail: Vec::new(),
            n_arrays: 0,
            key_buffer: Vec::new(),
            value_buffer: Vec::new(),
            fold_buffer: Vec::new(),
            fold_unicode: String::new(),
        }
    }

    /// Prepares for one event on `automaton` with `n_rules` rules.
    pub(crate) fn begin(&mut self, automaton: &Automaton, n_rules: usize) {
        let grow = |stamps: &mut Vec<u32>, n: usize| {
            if stamps.len() < n {
                stamps.resize(n, 0);
            }
        };
        if self.stamps.len() < automaton.conditions.len() {
            self.stamps.resize(automaton.conditions.len(), Stamps::default());
        }
        grow(&mut self.field_seen, automaton.fields.len());
        grow(&mut self.rule_reported, n_rules);
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamps.fill(Stamps::default());
            for stamps in [&mut self.field_seen, &mut self.rule_reported] {
                stamps.fill(0);
            }
            self.epoch = 1;
        }
        self.candidates.clear();
        self.hits.clear();
        self.trail_arena.clear();
        self.trail.clear();
        self.n_arrays = 0;
    }

    pub(crate) fn next_array_id(&mut self) -> u32 {
        self.n_arrays += 1;
        self.n_arrays
    }

    fn trail_of(&self, hit: u32) -> &[(u32, u32)] {
        let hit = self.hits[hit as usize];
        &self.trail_arena[hit.trail_start as usize..(hit.trail_start + hit.trail_len) as usize]
    }
}

/// Everything the conditions of one field ask of its leaf values.
#[derive(Debug, Default)]
struct FieldIndex {
    strings: TextMap,
    ips: FxHashMap<Ip, Vec<u32>>,
    numbers: FxHashMap<u64, Vec<u32>>,
    number_literals: TextMap,
    trues: Vec<u32>,
    falses: Vec<u32>,
    nulls: Vec<u32>,
    exists: Vec<u32>,
    prefixes: Prefixes,
    suffixes: Suffixes,
    folded_equals: TextMap,
    folded_prefixes: Prefixes,
    folded_suffixes: Suffixes,
    wildcards: WildcardArena,
    /// Wildcards indexed by their literal head, or (headless) by their literal tail; the rest are
    /// `*x*`-shaped and always tried.
    wildcard_heads: Prefixes,
    wildcard_tails: Suffixes,
    wildcard_rest: Vec<u32>,
    ranges: NumericIndex<u32>,
    anything_buts: Vec<(AnythingBut, u32)>,
    cidrs: Vec<(IpRange, u32)>,
    /// Only strings need the per-string structures below `strings`; this says whether any exist.
    has_string_extras: bool,
    needs_number_value: bool,
    needs_fold: bool,
    /// Whether `ips` or `cidrs` has anything.
    has_ips: bool,
}

impl FieldIndex {
    fn add(&mut self, matcher: &ValueMatcher, condition: u32, ranges: &mut Vec<(Range, u32)>) {
        match matcher {
            ValueMatcher::Exact(exact) => match exact {
                Exact::String(text) => {
                    self.strings.insert(text.as_bytes(), condition);
                    if let Some(ip) = parse_ip(text.as_bytes()) {
                        self.ips.entry(ip).or_default().push(condition);
                    }
                }
                Exact::Exactly(text) => self.strings.insert(text.as_bytes(), condition),
                Exact::Number(_, Some(value)) => self.numbers.entry(value_key(*value)).or_default().push(condition),
                Exact::Number(literal, None) => self.number_literals.insert(literal.as_bytes(), condition),
                Exact::True => self.trues.push(condition),
                Exact::False => self.falses.push(condition),
                Exact::Null => self.nulls.push(condition),
            },
            ValueMatcher::Prefix(affix) if affix.ignore_case => {
                self.folded_prefixes.insert(affix.text.as_bytes(), condition)
            }
            ValueMatcher::Prefix(affix) => self.prefixes.insert(affix.text.as_bytes(), condition),
            ValueMatcher::Suffix(affix) if affix.ignore_case => {
                self.folded_suffixes.insert(affix.text.as_bytes(), condition)
            }
            ValueMatcher::Suffix(affix) => self.suffixes.insert(affix.text.as_bytes(), condition),
            ValueMatcher::EqualsIgnoreCase(folded) => self.folded_equals.insert(folded.as_bytes(), condition),
            ValueMatcher::Wildcard(wildcard) => {
                let idx = self.wildcards.push(wildcard, condition);
                if wildcard.pieces.len() == 1 || !wildcard.head().is_empty() {
                    self.wildcard_heads.insert(wildcard.head(), idx);
                } else if !wildcard.tail().is_empty() {
                    self.wildcard_tails.insert(wildcard.tail(), idx);
                } else {
                    self.wildcard_rest.push(idx);
                }
            }
            ValueMatcher::AnythingBut(anything_but) => {
                self.anything_buts.push((anything_but.clone(), condition));
            }
            ValueMatcher::Numeric(range) => ranges.push((*range, condition)),
            ValueMatcher::ExistsTrue => self.exists.push(condition),
            ValueMatcher::Cidr(range) => self.cidrs.push((*range, condition)),
        }
    }

    fn seal(&mut self, ranges: Vec<(Range, u32)>) {
        self.ranges = NumericIndex::build(&ranges);
        self.strings.seal();
        self.number_literals.seal();
        self.folded_equals.seal();
        for prefixes in [&mut self.prefixes, &mut self.folded_prefixes, &mut self.wildcard_heads] {
            prefixes.seal();
        }
        for suffixes in [&mut self.suffixes, &mut self.folded_suffixes, &mut self.wildcard_tails] {
            suffixes.seal();
        }
        self.has_string_extras = !self.ips.is_empty()
            || !self.prefixes.is_empty()
            || !self.suffixes.is_empty()
            || !self.folded_equals.is_empty()
            || !self.folded_prefixes.is_empty()
            || !self.folded_suffixes.is_empty()
            || !self.wildcards.is_empty()
            || !self.cidrs.is_empty();
        self.needs_number_value = !self.numbers.is_empty()
            || !self.ranges.is_empty()
            || self.anything_buts.iter().any(|(anything_but, _)| anything_but.is_numeric());
        self.has_ips = !self.ips.is_empty() || !self.cidrs.is_empty();
        self.needs_fold =
            !self.folded_equals.is_empty() || !self.folded_prefixes.is_empty() || !self.folded_suffixes.is_empty();
    }

    #[inline]
    fn evaluate(&self, automaton: &Automaton, leaf: &Leaf<'_>, scratch: &mut Scratch) {
        for &condition in &self.exists {
            automaton.hit(condition, scratch);
        }
        for (anything_but, condition) in &self.anything_buts {
            if anything_but.accepts(leaf) {
                automaton.hit(*condition, scratch);
            }
        }
        match *leaf {
            Leaf::String(text) => {
                for &condition in self.strings.get(text) {
                    automaton.hit(condition, scratch);
                }
                if self.has_string_extras {
                    self.evaluate_string_extras(automaton, text, scratch);
                }
            }
            Leaf::Number(literal, value) => match value {
                Some(value) => {
                    if let Some(conditions) = self.numbers.get(&value_key(value)) {
                        for &condition in conditions {
                            automaton.hit(condition, scratch);
                        }
                    }
                    self.ranges.for_each_containing(value, |condition| automaton.hit(condition, scratch));
                }
                None => {
                    for &condition in self.number_literals.get(literal) {
                        automaton.hit(condition, scratch);
                    }
                }
            },
            Leaf::True => self.trues.iter().for_each(|&condition| automaton.hit(condition, scratch)),
            Leaf::False => self.falses.iter().for_each(|&condition| automaton.hit(condition, scratch)),
            Leaf::Null => self.nulls.iter().for_each(|&condition| automaton.hit(condition, scratch)),
        }
    }

    fn evaluate_string_extras(&self, automaton: &Automaton, text: &[u8], scratch: &mut Scratch) {
        self.prefixes.for_each_affix_of(text, |condition| automaton.hit(condition, scratch));
        self.suffixes.for_each_affix_of(text, |condition| automaton.hit(condition, scratch));
        if !self.wildcards.is_empty() {
            let try_wildcard = |idx: u32, scratch: &mut Scratch| {
                if let Some(condition) = self.wildcards.matches(idx, text) {
                    automaton.hit(condition, scratch);
                }
            };
            self.wildcard_heads.for_each_affix_of(text, |idx| try_wildcard(idx, scratch));
            self.wildcard_tails.for_each_affix_of(text, |idx| try_wildcard(idx, scratch));
            for &idx in &self.wildcard_rest {
                try_wildcard(idx, scratch);
            }
        }
        if self.needs_fold {
            if text.is_ascii() && self.folded_prefixes.is_empty() && self.folded_suffixes.is_empty() {
                // ASCII folds to its lowercase: look it up without making the folded copy.
                for &condition in self.folded_equals.get_ascii_lowercase(text) {
                    automaton.hit(condition, scratch);
                }
                return self.evaluate_ips(automaton, text, scratch);
            }
            let mut folded = std::mem::take(&mut scratch.fold_buffer);
            folded.clear();
            if text.is_ascii() {
                // ASCII folds byte by byte; this also skips the UTF-8 check.
                folded.extend_from_slice(text);
                folded.make_ascii_lowercase();
            } else {
                let mut unicode = std::mem::take(&mut scratch.fold_unicode);
                unicode.clear();
                match std::str::from_utf8(text) {
                    Ok(text) => fold_into(text, &mut unicode),
                    // Possible only on the trusted path; such bytes equal no folded pattern text.
                    Err(_) => unicode.push('\u{fffd}'),
                }
                folded.extend_from_slice(unicode.as_bytes());
                scratch.fold_unicode = unicode;
            }
            for &condition in self.folded_equals.get(&folded) {
                automaton.hit(condition, scratch);
            }
            self.folded_prefixes.for_each_affix_of(&folded, |condition| automaton.hit(condition, scratch));
            self.folded_suffixes.for_each_affix_of(&folded, |condition| automaton.hit(condition, scratch));
            scratch.fold_buffer = folded;
        }
        self.evaluate_ips(automaton, text, scratch);
    }

    /// IP-aware exact strings and `cidr`.
    #[inline(always)]
    fn evaluate_ips(&self, automaton: &Automaton, text: &[u8], scratch: &mut Scratch) {
        if self.has_ips {
            self.evaluate_ips_of(automaton, text, scratch);
        }
    }

    fn evaluate_ips_of(&self, automaton: &Automaton, text: &[u8], scratch: &mut Scratch) {
        if let Some(ip) = parse_ip(text) {
            if let Some(conditions) = self.ips.get(&ip) {
                for &condition in conditions {
                    automaton.hit(condition, scratch);
                }
            }
            for (range, condition) in &self.cidrs {
                if range.contains(ip) {
                    automaton.hit(*condition, scratch);
                }
            }
        }
    }
}

/// The wildcards of a field, each one record in one arena, so that trying one touches one or two
/// cache lines (a `Wildcard` keeps its pieces in separate allocations): the condition, the number of
/// pieces, their lengths, then their bytes, numbers as little-endian u32. A wildcard is known by the
/// offset of its record.
#[derive(Debug, Default)]
struct WildcardArena {
    bytes: Vec<u8>,
}

impl WildcardArena {
    fn push(&mut self, wildcard: &Wildcard, condition: u32) -> u32 {
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&condition.to_le_bytes());
        self.bytes.extend_from_slice(&(wildcard.pieces.len() as u32).to_le_bytes());
        for piece in &wildcard.pieces {
            self.bytes.extend_from_slice(&(piece.len() as u32).to_le_bytes());
        }
        for piece in &wildcard.pieces {
            self.bytes.extend_from_slice(piece);
        }
        at
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[inline(always)]
    fn number(&self, at: usize) -> usize {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes")) as usize
    }

    /// The condition of the wildcard at `at` when `text` matches it.
    #[inline]
    fn matches(&self, at: u32, text: &[u8]) -> Option<u32> {
        let at = at as usize;
        let n_pieces = self.number(at + 4);
        let lengths = at + 8;
        let data = lengths + 4 * n_pieces;
        let piece = |start: usize, idx: usize| &self.bytes[start..start + self.number(lengths + 4 * idx)];
        let first = piece(data, 0);
        let matched = if n_pieces == 1 {
            text == first
        } else {
            let mut last_start = data;
            for idx in 0..n_pieces - 1 {
                last_start += self.number(lengths + 4 * idx);
            }
            let mut middle_start = data + first.len();
            let middle = (1..n_pieces - 1).map(|idx| {
                let middle_piece = piece(middle_start, idx);
                middle_start += middle_piece.len();
                middle_piece
            });
            pieces_match(first, middle, piece(last_start, n_pieces - 1), text)
        };
        matched.then(|| self.number(at) as u32)
    }
}

/// A trie node under construction: children as (segment, node), and its field.
type NodeDraft = (Vec<(Box<[u8]>, u32)>, u32);

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeDraft>,
    fields: Vec<(FieldIndex, Vec<(Range, u32)>)>,
    conditions: Vec<ConditionDraft>,
    condition_ids: FxHashMap<(u32, String), u32>,
    branches: Vec<BranchDraft>,
    /// Per condition, how many branches require it.
    n_sharing: Vec<u32>,
    always: Vec<u32>,
}

impl Builder {
    fn field(&mut self, path: &[Box<str>]) -> u32 {
        if self.nodes.is_empty() {
            self.nodes.push((Vec::new(), NO_FIELD));
        }
        let mut node = 0usize;
        for segment in path {
            let segment = segment.as_bytes();
            node = match self.nodes[node].0.iter().find(|(name, _)| name.as_ref() == segment) {
                Some(&(_, child)) => child as usize,
                None => {
                    self.nodes.push((Vec::new(), NO_FIELD));
                    let child = self.nodes.len() - 1;
                    self.nodes[node].0.push((segment.into(), child as u32));
                    child
                }
            };
        }
        if self.nodes[node].1 == NO_FIELD {
            self.fields.push(Default::default());
            self.nodes[node].1 = (self.fields.len() - 1) as u32;
        }
        self.nodes[node].1
    }

    fn condition(&mut self, field: u32, leaf: &LeafMatchers) -> u32 {
        let key = (field, format!("{leaf:?}"));
        if let Some(&existing) = self.condition_ids.get(&key) {
            return existing;
        }
        let condition = self.conditions.len() as u32;
        self.n_sharing.push(0);
        let (index, ranges) = &mut self.fields[field as usize];
        for matcher in &leaf.matchers {
            index.add(matcher, condition, ranges);
        }
        self.conditions.push(ConditionDraft { field, absent_ok: leaf.absent_ok, keyed: Vec::new() });
        self.condition_ids.insert(key, condition);
        condition
    }

    fn add_branch(&mut self, rule: u32, conditions: &[crate::pattern::Condition]) {
        let mut ids: Vec<u32> = Vec::with_capacity(conditions.len());
        for condition in conditions {
            let field = self.field(&condition.path);
            let id = self.condition(field, &condition.leaf);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        for &id in &ids {
            if !self.conditions[id as usize].absent_ok {
                self.n_sharing[id as usize] += 1;
            }
        }
        self.branches.push(BranchDraft { rule, conditions: ids.into_boxed_slice() });
    }

    /// Gives every branch its key condition: the required condition shared by the fewest branches, so
    /// that a common condition (say `"ODD_EVEN": ["E"]` in a thousand rules) does not wake up every
    /// branch that has it. Branches without required conditions are checked on every event.
    fn choose_keys(&mut self) {
        for (branch_idx, branch) in self.branches.iter().enumerate() {
            let key = branch
                .conditions
                .iter()
                .copied()
                .filter(|&id| !self.conditions[id as usize].absent_ok)
                .min_by_key(|&id| self.n_sharing[id as usize]);
            match key {
                Some(key) => self.conditions[key as usize].keyed.push(branch_idx as u32),
                None => self.always.push(branch_idx as u32),
            }
        }
    }

    fn finish(mut self) -> Automaton {
        self.choose_keys();
        if self.nodes.is_empty() {
            self.nodes.push((Vec::new(), NO_FIELD));
        }
        let has_children: Vec<bool> = self.nodes.iter().map(|(children, _)| !children.is_empty()).collect();
        let root_needles = KeyNeedles::new(self.nodes[0].0.iter().map(|(name, _)| &**name));
        let nodes = self
            .nodes
            .into_iter()
            .map(|(children, field)| Node {
                has_grandchildren: children.iter().any(|(_, child)| has_children[*child as usize]),
                flat_keys: (!children.iter().any(|(_, child)| has_children[*child as usize]))
                    .then(|| FlatKeys::new(children.iter().map(|(name, child)| (&**name, *child))))
                    .flatten(),
                children: if children.len() <= 8 {
                    Children::Few(children.into_iter().map(|(name, node)| (tag(&name), name, node)).collect())
                } else {
                    Children::Many(children.into_iter().collect())
                },
                field,
            })
            .collect();
        let fields = self
            .fields
            .into_iter()
            .map(|(mut index, ranges)| {
                index.seal(ranges);
                index
            })
            .collect();
        let mut keyed = Vec::new();
        let conditions = self
            .conditions
            .into_iter()
            .map(|draft| {
                let keyed_start = match *draft.keyed {
                    [only] => only,
                    _ => {
                        keyed.extend_from_slice(&draft.keyed);
                        (keyed.len() - draft.keyed.len()) as u32
                    }
                };
                Condition {
                    field: draft.field,
                    absent_ok: draft.absent_ok,
                    keyed_start,
                    keyed_len: draft.keyed.len() as u32,
                }
            })
            .collect();
        let mut n_branches: FxHashMap<u32, u32> = FxHashMap::default();
        for draft in &self.branches {
            *n_branches.entry(draft.rule).or_default() += 1;
        }
        let mut branch_conditions = Vec::new();
        let branches = self
            .branches
            .into_iter()
            .map(|draft| {
                let shared = if n_branches[&draft.rule] > 1 { SHARED_RULE } else { 0 };
                let n_conditions = draft.conditions.len() as u32 | shared;
                let conditions = match *draft.conditions {
                    [] => [0, 0],
                    [only] => [only, 0],
                    [first, second] => [first, second],
                    _ => {
                        branch_conditions.extend_from_slice(&draft.conditions);
                        [(branch_conditions.len() - draft.conditions.len()) as u32, 0]
                    }
                };
                Branch { rule: draft.rule, n_conditions, conditions }
            })
            .collect();
        Automaton { nodes, fields, conditions, keyed, branches, branch_conditions, always: self.always, root_needles }
    }
}

#[cfg(test)]
mod tests {
    use crate::operators::numbers::comparable_value;
    use crate::operators::{Leaf, ValueMatcher};
    use crate::{Limits, Matcher, Pattern};

    /// The indexes of `FieldIndex` agree with each matcher's own definition (`ValueMatcher::accepts`).
    #[test]
    fn index_agrees_with_matcher_definitions() {
        let leaf_arrays = [
            r#"["x", "10.0.0.1", 5, true, false, null, 9007199254740993]"#,
            r#"[{"prefix": "ab"}, {"suffix": "yz"}, {"prefix": ""}]"#,
            r#"[{"prefix": {"equals-ignore-case": "AB"}}, {"suffix": {"equals-ignore-case": "ß"}}]"#,
            r#"[{"equals-ignore-case": "StraSSe"}, {"exactly": "x"}]"#,
            r#"[{"wildcard": "a*c"}, {"wildcard": "*z"}, {"wildcard": "*b*"}, {"wildcard": "x"}]"#,
            r#"[{"numeric": [">", 0, "<=", 5]}, {"numeric": ["=", 7]}, {"numeric": ["<", -1]}]"#,
            r#"[{"cidr": "10.0.0.0/8"}, {"cidr": "2001:db8::/32"}, "2001:db8::1"]"#,
            r#"[{"anything-but": ["x", "y"]}, {"anything-but": {"suffix": "z"}}, {"exists": true}]"#,
        ];
        let values = [
            r#""x""#,
            r#""ab""#,
            r#""abc""#,
            r#""ABxyz""#,
            r#""STRASSE""#,
            r#""straße""#,
            r#""10.0.0.1""#,
            r#""::ffff:10.0.0.1""#,
            r#""2001:DB8::1""#,
            r#""z""#,
            r#""""#,
            "5",
            "5.0",
            "7",
            "-3",
            "0",
            "9007199254740993",
            "true",
            "false",
            "null",
            r#""aXbXc""#,
            r#""yz""#,
        ];
        for leaf_array in leaf_arrays {
            let pattern_text = format!(r#"{{"f": {leaf_array}}}"#);
            let pattern = Pattern::parse(&pattern_text, &Limits::default()).unwrap();
            let matchers: Vec<ValueMatcher> = pattern.branches[0][0].leaf.matchers.clone();
            let matcher: Matcher<()> = Matcher::new();
            matcher.add((), &pattern_text).unwrap();
            for value in values {
                let decoded = value.trim_matches('"');
                let leaf = match value {
                    "true" => Leaf::True,
                    "false" => Leaf::False,
                    "null" => Leaf::Null,
                    text if text.starts_with('"') => Leaf::String(decoded.as_bytes()),
                    number => Leaf::Number(number.as_bytes(), comparable_value(number.as_bytes())),
                };
                let expected = matchers.iter().any(|m| m.accepts(&leaf));
                let event = format!(r#"{{"f": {value}}}"#);
                let found = !matcher.matches(event.as_bytes()).unwrap().is_empty();
                assert_eq!(found, expected, "{pattern_text} vs {event}");
            }
        }
    }
}
