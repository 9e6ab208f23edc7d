//! A byte trie from texts to items, answering "which stored texts are prefixes of this one". Built
//! node by node, then sealed into flat arrays (nodes, edges, dense tables, items) so that a lookup
//! walks contiguous memory: with thousands of rules the trie outgrows the cache, and pointer chasing
//! through per-node vectors would cost a miss per step.

/// Nodes with more children than this get a 256-entry table instead of a scanned edge list.
const MAX_SCANNED_EDGES: usize = 8;
const NONE: u32 = u32::MAX;

/// A node while building: its children (byte, node) and its items.
type DraftNode = (Vec<(u8, u32)>, Vec<u32>);

#[derive(Debug, Default)]
pub(crate) struct ByteTrie {
    draft: Vec<DraftNode>,
    nodes: Vec<Node>,
    edges: Vec<(u8, u32)>,
    dense: Vec<[u32; 256]>,
    items: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    edges_start: u32,
    edges_len: u32,
    /// Index into `dense`, or NONE.
    dense: u32,
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
            let dense = if children.len() > MAX_SCANNED_EDGES {
                let mut table = [NONE; 256];
                for &(byte, next) in &children {
                    table[byte as usize] = next;
                }
                self.dense.push(table);
                (self.dense.len() - 1) as u32
            } else {
                NONE
            };
            self.nodes.push(Node {
                edges_start: self.edges.len() as u32,
                edges_len: if dense == NONE { children.len() as u32 } else { 0 },
                dense,
                items_start: self.items.len() as u32,
                items_len: items.len() as u32,
            });
            if dense == NONE {
                self.edges.extend(children);
            }
            self.items.extend(items);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.draft.is_empty()
    }

    #[inline(always)]
    fn child(&self, node: &Node, byte: u8) -> Option<u32> {
        if node.dense != NONE {
            let next = self.dense[node.dense as usize][byte as usize];
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
