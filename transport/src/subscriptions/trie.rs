//! A compressed prefix trie (radix tree) over byte strings, with a value at
//! any node: the structure under both [`SubscriptionSet`] and [`Audience`].
//!
//! Edges carry byte slices, not single bytes, so a node exists only where
//! topics end or branch: `n` keys make at most `2n` nodes, and the labels
//! together hold at most the keys' bytes. Children are kept sorted by the
//! first byte of their label and found by binary search (at most 256), so
//! finding a key or walking the keys that prefix a message costs the
//! message's length, not the number of keys.
//!
//! Nodes live in one arena (`Vec`) and refer to each other by index. Every
//! walk is a loop, never a recursion, and dropping the trie drops a flat
//! vector: a peer's chain of ten thousand nested prefixes cannot overflow a
//! stack.
//!
//! [`SubscriptionSet`]: super::SubscriptionSet
//! [`Audience`]: super::Audience

/// Index of a node in the arena.
pub(crate) type NodeId = usize;

/// The root: the empty key.
const ROOT: NodeId = 0;

#[derive(Debug, Clone)]
struct Node<V> {
    /// The bytes of the edge from the parent (empty only at the root).
    label: Box<[u8]>,
    value: Option<V>,
    /// `(first byte of the child's label, child)`, sorted by the byte.
    children: Vec<(u8, NodeId)>,
    parent: NodeId,
}

impl<V> Node<V> {
    fn new(label: &[u8], parent: NodeId) -> Self {
        Node {
            label: label.into(),
            value: None,
            children: Vec::new(),
            parent,
        }
    }

    fn child(&self, byte: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&byte, |&(b, _)| b)
    }
}

/// A map from byte strings to `V`, walkable by prefix.
#[derive(Debug, Clone)]
pub(crate) struct Trie<V> {
    nodes: Vec<Node<V>>,
    /// Arena slots of removed nodes, reused first.
    free: Vec<NodeId>,
}

impl<V> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::new(&[], ROOT)],
            free: Vec::new(),
        }
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<V> Trie<V> {
    /// The node of exactly `key`, if the trie has one (it may hold no
    /// value: a branching point).
    pub(crate) fn find(&self, key: &[u8]) -> Option<NodeId> {
        let mut node = ROOT;
        let mut rest = key;
        while let Some(&byte) = rest.first() {
            let here = &self.nodes[node];
            let pos = here.child(byte).ok()?;
            let child = here.children[pos].1;
            rest = rest.strip_prefix(&*self.nodes[child].label)?;
            node = child;
        }
        Some(node)
    }

    /// The node of exactly `key`, made (and an edge split) if need be.
    pub(crate) fn find_or_insert(&mut self, key: &[u8]) -> NodeId {
        let mut node = ROOT;
        let mut rest = key;
        while let Some(&byte) = rest.first() {
            let pos = match self.nodes[node].child(byte) {
                Ok(pos) => pos,
                Err(pos) => {
                    let leaf = self.alloc(Node::new(rest, node));
                    self.nodes[node].children.insert(pos, (byte, leaf));
                    return leaf;
                }
            };
            let child = self.nodes[node].children[pos].1;
            let common = common_prefix(&self.nodes[child].label, rest);
            if common < self.nodes[child].label.len() {
                let mid = self.split(node, pos, common);
                node = mid;
            } else {
                node = child;
            }
            rest = &rest[common..];
        }
        node
    }

    /// Splits the edge to `parent`'s child at `pos` after `at` bytes
    /// (`0 < at < label length`); returns the node made at the split.
    fn split(&mut self, parent: NodeId, pos: usize, at: usize) -> NodeId {
        let child = self.nodes[parent].children[pos].1;
        let label = std::mem::take(&mut self.nodes[child].label);
        let mid = self.alloc(Node::new(&label[..at], parent));
        self.nodes[mid].children.push((label[at], child));
        self.nodes[child].label = label[at..].into();
        self.nodes[child].parent = mid;
        self.nodes[parent].children[pos].1 = mid;
        mid
    }

    fn alloc(&mut self, node: Node<V>) -> NodeId {
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// The value at `node`.
    pub(crate) fn value(&self, node: NodeId) -> Option<&V> {
        self.nodes.get(node)?.value.as_ref()
    }

    /// The value slot at `node` (from [`Trie::find_or_insert`] or
    /// [`Trie::find`]). After emptying it, call [`Trie::prune`].
    pub(crate) fn slot(&mut self, node: NodeId) -> &mut Option<V> {
        &mut self.nodes[node].value
    }

    /// Removes `node` if it holds no value and is no longer needed (no
    /// children, or one child it can merge with), and its parents likewise.
    pub(crate) fn prune(&mut self, mut node: NodeId) {
        while node != ROOT && self.nodes[node].value.is_none() {
            let parent = self.nodes[node].parent;
            let first = self.nodes[node].label[0];
            let Ok(pos) = self.nodes[parent].child(first) else {
                return;
            };
            match self.nodes[node].children.len() {
                0 => {
                    self.nodes[parent].children.remove(pos);
                    self.release(node);
                    node = parent;
                }
                1 => {
                    let child = self.nodes[node].children[0].1;
                    let mut label = std::mem::take(&mut self.nodes[node].label).into_vec();
                    label.extend_from_slice(&self.nodes[child].label);
                    self.nodes[child].label = label.into();
                    self.nodes[child].parent = parent;
                    self.nodes[parent].children[pos].1 = child;
                    self.release(node);
                    return;
                }
                _ => return,
            }
        }
        if self.free.len() + 1 == self.nodes.len() && self.nodes[ROOT].value.is_none() {
            // Empty again: give the arena back.
            *self = Trie::default();
        }
    }

    fn release(&mut self, node: NodeId) {
        self.nodes[node] = Node::new(&[], ROOT);
        self.free.push(node);
    }

    /// The values of the keys that are prefixes of `data`, shortest first.
    pub(crate) fn prefixes<'a>(&'a self, data: &'a [u8]) -> Prefixes<'a, V> {
        Prefixes {
            trie: self,
            node: Some(ROOT),
            rest: data,
        }
    }

    /// Every key with its value, in no particular order.
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, &V)> {
        let mut out = Vec::new();
        let mut key = Vec::new();
        // (node, length of its parent's key)
        let mut stack = vec![(ROOT, 0)];
        while let Some((node, base)) = stack.pop() {
            key.truncate(base);
            key.extend_from_slice(&self.nodes[node].label);
            if let Some(value) = &self.nodes[node].value {
                out.push((key.clone(), value));
            }
            let len = key.len();
            stack.extend(self.nodes[node].children.iter().map(|&(_, c)| (c, len)));
        }
        out
    }

    /// Nodes in use (for tests of memory use).
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

/// The iterator of [`Trie::prefixes`].
#[derive(Debug)]
pub(crate) struct Prefixes<'a, V> {
    trie: &'a Trie<V>,
    /// The next node to look at; `None` once the walk left the trie.
    node: Option<NodeId>,
    rest: &'a [u8],
}

impl<'a, V> Iterator for Prefixes<'a, V> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        while let Some(node) = self.node.take() {
            let here = &self.trie.nodes[node];
            if let Some(&byte) = self.rest.first()
                && let Ok(pos) = here.child(byte)
            {
                let child = here.children[pos].1;
                if let Some(rest) = self.rest.strip_prefix(&*self.trie.nodes[child].label) {
                    self.rest = rest;
                    self.node = Some(child);
                }
            }
            if let Some(value) = &here.value {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(t: &mut Trie<u32>, key: &[u8], v: u32) {
        let n = t.find_or_insert(key);
        *t.slot(n) = Some(v);
    }

    fn remove(t: &mut Trie<u32>, key: &[u8]) {
        if let Some(n) = t.find(key) {
            *t.slot(n) = None;
            t.prune(n);
        }
    }

    fn prefixes(t: &Trie<u32>, data: &[u8]) -> Vec<u32> {
        t.prefixes(data).copied().collect()
    }

    #[test]
    fn splits_and_walks_prefixes_shortest_first() {
        let mut t = Trie::default();
        insert(&mut t, b"abcd", 4);
        insert(&mut t, b"ab", 2);
        insert(&mut t, b"abx", 3);
        insert(&mut t, b"", 0);
        assert_eq!(prefixes(&t, b"abcdef"), [0, 2, 4]);
        assert_eq!(prefixes(&t, b"abc"), [0, 2]);
        assert_eq!(prefixes(&t, b"abx"), [0, 2, 3]);
        assert_eq!(prefixes(&t, b"z"), [0]);
        assert_eq!(t.find(b"a"), None, "inside an edge is not a node");
        assert!(t.find(b"ab").is_some());
        let mut keys: Vec<_> = t.entries().into_iter().map(|(k, v)| (k, *v)).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                (b"".to_vec(), 0),
                (b"ab".to_vec(), 2),
                (b"abcd".to_vec(), 4),
                (b"abx".to_vec(), 3)
            ]
        );
    }

    #[test]
    fn removal_merges_edges_and_frees_nodes() {
        let mut t = Trie::default();
        insert(&mut t, b"abcd", 4);
        insert(&mut t, b"abxy", 5);
        assert_eq!(t.node_count(), 4, "root, ab, cd, xy");
        remove(&mut t, b"abxy");
        assert_eq!(t.node_count(), 2, "root, abcd merged back");
        assert_eq!(prefixes(&t, b"abcde"), [4]);
        assert_eq!(prefixes(&t, b"abxy"), [] as [u32; 0]);
        remove(&mut t, b"abcd");
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.nodes.len(), 1, "an empty trie gives its arena back");
    }

    #[test]
    fn a_node_is_small() {
        // docs/limits.md counts on these (64-bit targets).
        assert!(std::mem::size_of::<Node<u64>>() <= 64);
        assert!(std::mem::size_of::<Node<Vec<crate::peers::PipeId>>>() <= 72);
    }

    #[test]
    fn a_deep_chain_of_prefixes_is_walked_and_dropped_without_recursion() {
        let mut t = Trie::default();
        let key = vec![b'a'; 5_000];
        for len in 1..=key.len() {
            insert(&mut t, &key[..len], 1);
        }
        assert_eq!(t.prefixes(&key).count(), key.len());
        drop(t);
    }
}
