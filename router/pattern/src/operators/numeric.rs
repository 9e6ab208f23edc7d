//! `numeric`: one range or one equality over JSON numbers, full binary64 range. The lower bound comes
//! first (`[">", 0, "<=", 5]`); `["=", n]` stands alone. Bounds must be comparable numbers (see
//! `numbers.rs`); strings, booleans and null never match, nor do non-comparable event numbers.
//! `NumericIndex` answers "which ranges contain x" in O(log n + matches) for many ranges on one field.

use super::numbers::comparable_value;
use crate::error::{PatternError, Pointer};
use crate::json::Json;

/// A bound: the value and whether it is included.
pub(crate) type Bound = Option<(f64, bool)>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub(crate) lower: Bound,
    pub(crate) upper: Bound,
}

impl Range {
    // The automaton indexes these matchers; its tests check the index against this definition.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn contains(&self, value: f64) -> bool {
        let above = match self.lower {
            None => true,
            Some((bound, true)) => value >= bound,
            Some((bound, false)) => value > bound,
        };
        let below = match self.upper {
            None => true,
            Some((bound, true)) => value <= bound,
            Some((bound, false)) => value < bound,
        };
        above && below
    }
}

pub(crate) fn parse(value: &Json, pointer: &Pointer) -> Result<Range, PatternError> {
    let Json::Array(items) = value else {
        return Err(PatternError::new(pointer, "Value of numeric must be an array."));
    };
    if items.is_empty() {
        return Err(PatternError::new(pointer, "Empty arrays are not allowed"));
    }
    if items.len() > 4 {
        return Err(PatternError::new(pointer, "Too many terms in numeric range expression"));
    }
    let mut range = Range { lower: None, upper: None };
    let mut idx = 0;
    while idx < items.len() {
        let operator = match &items[idx] {
            Json::String(operator) => operator.as_ref(),
            other => {
                return Err(PatternError::new(
                    pointer,
                    format!("Unrecognized numeric range operator: {}", other.to_text()),
                ));
            }
        };
        if !matches!(operator, "=" | "<" | "<=" | ">" | ">=") {
            return Err(PatternError::new(pointer, format!("Unrecognized numeric range operator: {operator}")));
        }
        let bound = match items.get(idx + 1) {
            Some(Json::Number(literal)) => comparable_value(literal.as_bytes())
                .ok_or_else(|| PatternError::new(pointer, format!("Cannot compare number : {literal}")))?,
            _ => {
                return Err(PatternError::new(pointer, format!("Value of {operator} must be numeric")));
            }
        };
        match operator {
            "=" if idx == 0 => {
                if items.len() > 2 {
                    return Err(PatternError::new(pointer, "Too many elements in numeric expression"));
                }
                range = Range { lower: Some((bound, true)), upper: Some((bound, true)) };
            }
            ">" | ">=" if idx == 0 => range.lower = Some((bound, operator == ">=")),
            "<" | "<=" if range.upper.is_none() => range.upper = Some((bound, operator == "<=")),
            _ => {
                return Err(PatternError::new(pointer, format!("Bad numeric range operator: {operator}")));
            }
        }
        idx += 2;
    }
    if let (Some((bottom, _)), Some((top, _))) = (range.lower, range.upper)
        && bottom >= top
        && !(bottom == top && items.len() == 2)
    {
        return Err(PatternError::new(pointer, "Bottom must be less than top"));
    }
    Ok(range)
}

/// Many ranges of one field, answering stabbing queries. The distinct bounds cut the number line into
/// slots (below the first bound, each bound itself, between bounds, above the last), and each range
/// covers a contiguous run of slots. When ranges overlap little, every slot simply lists its ranges
/// (one lookup per query); otherwise each range is stored in the O(log n) nodes of a segment tree
/// that cover its run. Either way the lists live in one array sliced by `starts`, so a query touches
/// few cache lines.
///
/// Finding a value's slot starts in a bucket: the span from the lowest to the highest bound is cut
/// into as many equal buckets as there are bounds, the value's bucket is computed (not searched
/// for), and `buckets` says which bounds fall in it, usually one or two. So a search reads two
/// cache lines wherever the value is, instead of a chain of dependent reads down a search tree; the
/// bounds of a crowded bucket (bounds far from evenly spread) are searched by halving. Buckets are a
/// monotone function of the value, so every bound in an earlier bucket is below it and every bound in
/// a later one above it.
#[derive(Debug, Default)]
pub(crate) struct NumericIndex<T> {
    /// The distinct bounds in order.
    bounds: Vec<f64>,
    /// `buckets[b]` is the number of bounds in buckets before `b` (one more entry than buckets).
    buckets: Vec<u32>,
    /// The lowest bound and the number of buckets per unit above it.
    low: f64,
    scale: f64,
    /// Per-slot layout: slot `s` owns `items[starts[s]..starts[s + 1]]`. Tree layout: node `n`
    /// (1-based, leaves at `tree_size..2 * tree_size`) does.
    starts: Vec<u32>,
    items: Vec<T>,
    /// 0 for the per-slot layout.
    tree_size: usize,
}

impl<T: Copy> NumericIndex<T> {
    pub(crate) fn build(ranges: &[(Range, T)]) -> Self {
        let mut bounds: Vec<f64> =
            ranges.iter().flat_map(|(range, _)| [range.lower, range.upper]).flatten().map(|(v, _)| v).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let n_slots = 2 * bounds.len() + 1;
        let position = |bound: f64| bounds.partition_point(|&existing| existing < bound);
        let runs: Vec<(usize, usize, T)> = ranges
            .iter()
            .filter_map(|(range, item)| {
                let first = match range.lower {
                    None => 0,
                    Some((value, inclusive)) => 2 * position(value) + if inclusive { 1 } else { 2 },
                };
                let last = match range.upper {
                    None => n_slots - 1,
                    Some((value, inclusive)) => 2 * position(value) + if inclusive { 1 } else { 0 },
                };
                (first <= last).then_some((first, last, *item))
            })
            .collect();
        let expanded: usize = runs.iter().map(|(first, last, _)| last - first + 1).sum();
        let (lists, tree_size) = if expanded <= 4 * runs.len() + n_slots {
            let mut lists: Vec<Vec<T>> = vec![Vec::new(); n_slots];
            for &(first, last, item) in &runs {
                for list in &mut lists[first..=last] {
                    list.push(item);
                }
            }
            (lists, 0)
        } else {
            let size = n_slots.next_power_of_two();
            let mut nodes: Vec<Vec<T>> = vec![Vec::new(); 2 * size];
            for &(first, last, item) in &runs {
                let (mut left, mut right) = (first + size, last + size + 1);
                while left < right {
                    if left & 1 == 1 {
                        nodes[left].push(item);
                        left += 1;
                    }
                    if right & 1 == 1 {
                        right -= 1;
                        nodes[right].push(item);
                    }
                    left >>= 1;
                    right >>= 1;
                }
            }
            (nodes, size)
        };
        let mut starts = Vec::with_capacity(lists.len() + 1);
        let mut items = Vec::new();
        for list in lists {
            starts.push(items.len() as u32);
            items.extend(list);
        }
        starts.push(items.len() as u32);
        let n_buckets = bounds.len().max(1);
        let (low, high) = (bounds.first().copied().unwrap_or(0.0), bounds.last().copied().unwrap_or(0.0));
        let scale = n_buckets as f64 / (high - low);
        let mut index = NumericIndex { bounds, buckets: vec![0; n_buckets + 1], low, scale, starts, items, tree_size };
        let in_buckets: Vec<usize> = index.bounds.iter().map(|&bound| index.bucket(bound)).collect();
        for bucket in in_buckets {
            index.buckets[bucket + 1] += 1;
        }
        for idx in 1..index.buckets.len() {
            index.buckets[idx] += index.buckets[idx - 1];
        }
        index
    }

    /// The bucket of `value`: non-decreasing in `value` (a NaN product, 0 x inf for a single bound,
    /// counts as 0; `as` saturates).
    #[inline(always)]
    fn bucket(&self, value: f64) -> usize {
        (((value - self.low) * self.scale) as usize).min(self.buckets.len().saturating_sub(2))
    }

    /// How many bounds are below `value` (a number, never NaN).
    #[inline(always)]
    fn n_below(&self, value: f64) -> usize {
        let bucket = self.bucket(value);
        let (start, end) = (self.buckets[bucket] as usize, self.buckets[bucket + 1] as usize);
        let candidates = &self.bounds[start..end];
        start
            + if candidates.len() <= 8 {
                candidates.iter().map(|&bound| usize::from(bound < value)).sum::<usize>()
            } else {
                candidates.partition_point(|&bound| bound < value)
            }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    #[inline(always)]
    fn list(&self, idx: usize) -> &[T] {
        &self.items[self.starts[idx] as usize..self.starts[idx + 1] as usize]
    }

    /// Calls `found` for every range containing `value`.
    #[inline]
    pub(crate) fn for_each_containing(&self, value: f64, mut found: impl FnMut(T)) {
        if self.bounds.is_empty() {
            return;
        }
        let position = self.n_below(value);
        let slot = if self.bounds.get(position) == Some(&value) { 2 * position + 1 } else { 2 * position };
        if self.tree_size == 0 {
            self.list(slot).iter().for_each(|&item| found(item));
            return;
        }
        let mut node = slot + self.tree_size;
        while node >= 1 {
            self.list(node).iter().for_each(|&item| found(item));
            node >>= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Result<Range, String> {
        parse(&crate::json::parse(text).unwrap(), &Pointer::default()).map_err(|e| e.message().to_string())
    }

    #[test]
    fn parsing() {
        assert!(range(r#"[">", 0, "<=", 5]"#).is_ok());
        assert!(range(r#"["=", 5]"#).is_ok());
        assert_eq!(range(r#"["<", 5, ">", 1]"#).unwrap_err(), "Bad numeric range operator: >");
        assert_eq!(range(r#"[">=", 5, "<=", 5]"#).unwrap_err(), "Bottom must be less than top");
        assert_eq!(range(r#"["!=", 5]"#).unwrap_err(), "Unrecognized numeric range operator: !=");
        assert_eq!(range(r#"["=", 5, "<", 6]"#).unwrap_err(), "Too many elements in numeric expression");
        assert_eq!(range(r#"[">", "5"]"#).unwrap_err(), "Value of > must be numeric");
        assert_eq!(range(r#"[">", 1, "<", 2, "<", 3]"#).unwrap_err(), "Too many terms in numeric range expression");
        assert_eq!(range(r#"["=", 9007199254740993]"#).unwrap_err(), "Cannot compare number : 9007199254740993");
    }

    #[test]
    fn many_bounds_agree_with_contains() {
        let ranges: Vec<(Range, usize)> = (0..300)
            .map(|idx| {
                let text = format!(r#"[">=", {}, "<", {}]"#, idx * 3, idx * 3 + 2);
                (range(&text).unwrap(), idx)
            })
            .collect();
        let values: Vec<f64> = (-20..9200).map(|tenth| f64::from(tenth) / 10.0).collect();
        check_index(&ranges, &values);
    }

    /// The index finds exactly the ranges whose `contains` accepts each value.
    fn check_index(ranges: &[(Range, usize)], values: &[f64]) {
        let index = NumericIndex::build(ranges);
        for &value in values {
            let mut found = Vec::new();
            index.for_each_containing(value, |idx| found.push(idx));
            found.sort();
            let expected: Vec<usize> =
                ranges.iter().filter(|(range, _)| range.contains(value)).map(|(_, idx)| *idx).collect();
            assert_eq!(found, expected, "{value}");
        }
    }

    #[test]
    fn whole_lines_of_bounds_agree_with_contains() {
        // Evenly spread bounds, a bound alone, and bounds crowded into one bucket.
        for n_ranges in [4, 32, 256, 5, 33] {
            let ranges: Vec<(Range, usize)> = (0..n_ranges)
                .map(|idx| {
                    let upper = if idx % 5 == 4 { idx * 4 + 3 } else { idx * 4 + 1 };
                    let text = if idx == n_ranges - 1 && n_ranges % 2 == 1 {
                        format!(r#"["=", {}]"#, idx * 4)
                    } else {
                        format!(r#"[">=", {}, "<=", {upper}]"#, idx * 4)
                    };
                    (range(&text).unwrap(), idx)
                })
                .collect();
            let values: Vec<f64> = (-8..(n_ranges as i32 * 8 + 8)).map(|half| f64::from(half) / 2.0).collect();
            check_index(&ranges, &values);
        }
    }

    #[test]
    fn uneven_bounds_agree_with_contains() {
        let sets: [&[&str]; 4] = [
            &[r#"["=", 3]"#],
            &[r#"[">", -1e308, "<", 1e308]"#, r#"["=", 0]"#, r#"[">=", 5, "<", 6]"#],
            &[
                r#"[">", 0, "<", 1]"#,
                r#"[">", 1, "<", 2]"#,
                r#"[">=", 2, "<=", 3]"#,
                r#"["=", 1e300]"#,
                r#"["<", -0.5]"#,
            ],
            &[r#"[">", 0.1, "<", 0.2]"#, r#"[">", 0.15, "<", 0.3]"#, r#"["=", -0]"#, r#"[">", 1e-300, "<", 2e-300]"#],
        ];
        let values =
            [-1e308, -1.0, -0.5, -0.0, 0.0, 1e-300, 1.5e-300, 0.1, 0.15, 0.5, 1.0, 2.0, 3.0, 5.5, 1e300, 1e308];
        for set in sets {
            let ranges: Vec<(Range, usize)> =
                set.iter().enumerate().map(|(idx, text)| (range(text).unwrap(), idx)).collect();
            check_index(&ranges, &values);
        }
    }

    #[test]
    fn tree_layout_agrees_with_contains() {
        // Nested ranges overlap a lot, which selects the segment-tree layout.
        let ranges: Vec<(Range, usize)> = (0..50)
            .map(|idx| {
                let text = format!(r#"[">", {}, "<", {}]"#, -(idx as i64), idx + 1);
                (range(&text).unwrap(), idx)
            })
            .collect();
        assert!(NumericIndex::build(&ranges).tree_size > 0);
        check_index(&ranges, &[-60.0, -49.5, -3.0, 0.0, 10.0, 50.0, 51.0]);
    }

    #[test]
    fn index_agrees_with_contains() {
        let ranges: Vec<(Range, usize)> = [
            r#"[">", 0, "<=", 5]"#,
            r#"["=", 5]"#,
            r#"["<", 0]"#,
            r#"[">=", 5]"#,
            r#"[">", -10, "<", 10]"#,
            r#"["=", 0]"#,
        ]
        .iter()
        .enumerate()
        .map(|(idx, text)| (range(text).unwrap(), idx))
        .collect();
        check_index(&ranges, &[-20.0, -10.0, -5.0, 0.0, 2.5, 5.0, 7.0, 10.0, 1e300]);
    }
}
