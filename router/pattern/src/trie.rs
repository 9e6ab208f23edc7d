//! A byte trie from texts to items, answering "which stored texts are prefixes of this one". Built
//! node by node, then sealed into flat arrays (nodes, edges, range tables, items) so that a lookup
//! walks contiguous memory: with thousands of rules the trie outgrows the cache, and pointer chasing
//! through per-node vectors would cost a miss per step. A node with many children indexes them by
//! byte over the span of bytes it uses (ten entries for digits, not 256), keeping tables small.

/// Nodes with more children than this get a table over their byte span instead of a scanned list.
const MAX_SCANNED_EDGES: usize = 8;
const NONE: u32 = u32::MAX;

/// A node while building: its children (byte, node) and its items.
type DraftNode = (Vec<(u8, u32)>, Vec<u32>);

#[derive(Debug, Default)]
pub(crate) struct ByteTrie {
    draft: Vec<DraftNode>,
    nodes: Vec<Node>,
    edges: Vec<(u8, u32)>,
    /// Range tables, concatenated: a node's table covers bytes `low..low + len`.
    tables: Vec<u32>,
    items: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    /// Start in `edges`, or in `tables` when `table_low` is set.
    edges_start: u32,
    /// Number of edges, or of table entries.
    edges_len: u32,
    /// The first byte of the node's table; NONE for a scanned edge list.
    table_low: u32,
    items_start: u32,
    items_len: u32,
}

impl ByteTrie {
    pub(crate) fn insert(&mut self, text: impl Iterator<Item = u8>, item: u32) {
        if self.draft.is_empty() {
            self.draft.push(Default::default());
        }
        let mut node = 0usize;
        for byte in text {
            node = match self.draft[node].0.iter().find(|(b, _)| *b == byte) {
                Some(&(_, next)) => next as usize,
                None => {
                    self.draft.push(Default::default());
                    let next = self.draft.len() - 1;
                    self.draft[node].0.push((byte, next as u32));
                    next
                }
            };
        }
        self.draft[node].1.push(item);
    }

    /// Freezes the trie into its flat form; call once after the last insert.
    pub(crate) fn seal(&mut self) {
        for (children, items) in std::mem::take(&mut self.draft) {
            let (edges_start, edges_len, table_low) = if children.len() > MAX_SCANNED_EDGES {
                let low = children.iter().map(|&(byte, _)| byte).min().unwrap_or(0);
                let high = children.iter().map(|&(byte, _)| byte).max().unwrap_or(0);
                let start = self.tables.len();
                self.tables.resize(start + usize::from(high - low) + 1, NONE);
                for &(byte, next) in &children {
                    self.tables[start + usize::from(byte - low)] = next;
                }
                (start as u32, u32::from(high - low) + 1, u32::from(low))
            } else {
                let start = self.edges.len();
                self.edges.extend(children.iter().copied());
                (start as u32, children.len() as u32, NONE)
            };
            self.nodes.push(Node {
                edges_start,
                edges_len,
                table_low,
                items_start: self.items.len() as u32,
                items_len: items.len() as u32,
            });
            self.items.extend(items);
        }
    }

    #[inline(always)]
    fn child(&self, node: &Node, byte: u8) -> Option<u32> {
        if node.table_low != NONE {
            let offset = u32::from(byte).wrapping_sub(node.table_low);
            if offset >= node.edges_len {
                return None;
            }
            let next = self.tables[(node.edges_start + offset) as usize];
            return (next != NONE).then_some(next);
        }
        let start = node.edges_start as usize;
        self.edges[start..start + node.edges_len as usize].iter().find(|(b, _)| *b == byte).map(|&(_, next)| next)
    }

    #[inline(always)]
    fn report(&self, node: &Node, found: &mut impl FnMut(u32)) {
        if node.items_len > 0 {
            let start = node.items_start as usize;
            self.items[start..start + node.items_len as usize].iter().for_each(|&item| found(item));
        }
    }

    /// Calls `found` for the items of every stored text that is a prefix of `text`.
    #[inline]
    pub(crate) fn for_each_prefix_of(&self, text: impl Iterator<Item = u8>, mut found: impl FnMut(u32)) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        self.report(node, &mut found);
        for byte in text {
            match self.child(node, byte) {
                Some(next) => {
                    node = &self.nodes[next as usize];
                    self.report(node, &mut found);
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteTrie;

    #[test]
    fn prefixes_of_a_text() {
        let mut trie = ByteTrie::default();
        let words = ["", "a", "ab", "abc", "b", "ba"];
        for (idx, word) in words.iter().enumerate() {
            trie.insert(word.bytes(), idx as u32);
        }
        // Enough children at the root for a dense table.
        for byte in b'c'..=b'z' {
            trie.insert([byte].into_iter(), 100 + u32::from(byte));
        }
        trie.seal();
        let mut found = Vec::new();
        trie.for_each_prefix_of("abd".bytes(), |item| found.push(item));
        assert_eq!(found, [0, 1, 2]);
        found.clear();
        trie.for_each_prefix_of("z".bytes(), |item| found.push(item));
        assert_eq!(found, [0, 100 + u32::from(b'z')]);
    }
}
