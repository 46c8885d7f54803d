//! RFC 6962 Merkle trees (Certificate Transparency; RFC 9162 §2.1): the hashes of leaves and
//! nodes, the root of a tree, and the two proofs a log gives and anyone can check without it:
//! that a leaf is included in a tree, and that a tree is a prefix of a later one.
//!
//! Pure code over 32-byte SHA-256 hashes: no I/O, no store. The proofs are built here from a
//! tree's leaf hashes (the reference the store's stored nodes are checked against) and verified
//! by the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which accept exactly the proofs
//! transparency-dev/merkle accepts (`tests/evidence.rs` runs its vectors, happy and mangled).

use sha2::{Digest, Sha256};

use super::TlogError;

/// A SHA-256 hash in a Merkle tree: a leaf's, a node's or a root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash([u8; 32]);

impl TreeHash {
    /// The hash of a tree with no leaves: SHA-256 of nothing.
    pub fn empty() -> TreeHash {
        TreeHash(Sha256::digest([]).into())
    }

    /// The hash of a leaf holding `data`: SHA-256 of `0x00 || data`.
    pub fn leaf(data: &[u8]) -> TreeHash {
        let mut hasher = Sha256::new();
        hasher.update([0x00]);
        hasher.update(data);
        TreeHash(hasher.finalize().into())
    }

    /// The hash of the node over `left` and `right`: SHA-256 of `0x01 || left || right`.
    pub fn node(left: &TreeHash, right: &TreeHash) -> TreeHash {
        let mut hasher = Sha256::new();
        hasher.update([0x01]);
        hasher.update(left.0);
        hasher.update(right.0);
        TreeHash(hasher.finalize().into())
    }

    /// A hash from its 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<TreeHash> {
        bytes.try_into().ok().map(TreeHash)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TreeHash({})", hex::encode(self.0))
    }
}

/// The root hash of the tree whose leaf hashes are `leaves`, in order (RFC 6962 §2.1, MTH).
pub fn root(leaves: &[TreeHash]) -> TreeHash {
    match leaves {
        [] => TreeHash::empty(),
        [leaf] => *leaf,
        _ => {
            let k = split(leaves.len());
            let (left, right) = leaves.split_at(k);
            TreeHash::node(&root(left), &root(right))
        }
    }
}

/// The largest power of two smaller than `n` (n > 1): where RFC 6962 splits a tree.
fn split<N>(n: N) -> N
where
    N: Copy + PartialOrd + std::ops::Shl<u32, Output = N> + From<u8>,
{
    let mut k = N::from(1);
    while (k << 1) < n {
        k = k << 1;
    }
    k
}

/// A perfect subtree, as a log stores it: the `2^level` leaves from leaf `index << level`.
/// Every hash a proof or a root needs is one of these, or a node over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NodeId {
    /// The subtree's height: 0 for a leaf.
    pub(crate) level: u8,
    /// Its place among the subtrees of its level, from 0.
    pub(crate) index: u64,
}

impl NodeId {
    /// The subtree `[lo, lo + n)` when `n` is a power of two (and `lo` a multiple of it).
    fn of_range(lo: u64, n: u64) -> NodeId {
        let level = n.trailing_zeros();
        NodeId {
            level: u8::try_from(level).unwrap_or(u8::MAX),
            index: lo >> level,
        }
    }

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    /// The index of the last leaf it covers: the key stores keep it under, so that the
    /// subtrees a new leaf completes are neighbours.
    pub(crate) fn last_leaf(&self) -> u64 {
        let (first, width) = self.range();
        first.saturating_add(width).saturating_sub(1)
    }

    /// The first leaf and the number of leaves it covers.
    fn range(self) -> (u64, u64) {
        let width = 1u64.checked_shl(u32::from(self.level)).unwrap_or(0);
        (self.index.saturating_mul(width), width)
    }
}

/// The hash of the RFC 6962 subtree over leaves `[lo, hi)` (`lo < hi`, as the tree splits),
/// from the perfect subtrees `node` gives: `None` when it lacks one.
fn range_hash(
    lo: u64,
    hi: u64,
    node: &mut impl FnMut(NodeId) -> Option<TreeHash>,
) -> Option<TreeHash> {
    let n = hi - lo;
    if n.is_power_of_two() {
        return node(NodeId::of_range(lo, n));
    }
    let k = split(n);
    let left = range_hash(lo, lo + k, node)?;
    let right = range_hash(lo + k, hi, node)?;
    Some(TreeHash::node(&left, &right))
}

/// PATH of RFC 6962 §2.1.1 for leaf `index` of the subtree `[lo, hi)`.
fn path(
    index: u64,
    lo: u64,
    hi: u64,
    node: &mut impl FnMut(NodeId) -> Option<TreeHash>,
    proof: &mut Vec<TreeHash>,
) -> Option<()> {
    if hi - lo <= 1 {
        return Some(());
    }
    let mid = lo + split(hi - lo);
    if index < mid {
        path(index, lo, mid, node, proof)?;
        proof.push(range_hash(mid, hi, node)?);
    } else {
        path(index, mid, hi, node, proof)?;
        proof.push(range_hash(lo, mid, node)?);
    }
    Some(())
}

/// SUBPROOF of RFC 6962 §2.1.2 for the first `m` leaves of the subtree `[lo, hi)`.
fn subproof(
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    node: &mut impl FnMut(NodeId) -> Option<TreeHash>,
    proof: &mut Vec<TreeHash>,
) -> Option<()> {
    if lo + m == hi {
        if !whole {
            proof.push(range_hash(lo, hi, node)?);
        }
        return Some(());
    }
    let k = split(hi - lo);
    if m <= k {
        subproof(m, lo, lo + k, whole, node, proof)?;
        proof.push(range_hash(lo + k, hi, node)?);
    } else {
        subproof(m - k, lo + k, hi, false, node, proof)?;
        proof.push(range_hash(lo, lo + k, node)?);
    }
    Some(())
}

#[cfg(test)]
/// The root of the tree of `size` leaves, from its perfect subtrees.
pub(crate) fn root_from(
    size: u64,
    mut node: impl FnMut(NodeId) -> Option<TreeHash>,
) -> Option<TreeHash> {
    if size == 0 {
        return Some(TreeHash::empty());
    }
    range_hash(0, size, &mut node)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from its perfect subtrees
/// (`None` when `index` is not a leaf of it, or `node` lacks a subtree the proof needs).
pub(crate) fn inclusion_proof_from(
    index: u64,
    size: u64,
    mut node: impl FnMut(NodeId) -> Option<TreeHash>,
) -> Option<Vec<TreeHash>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::new();
    path(index, 0, size, &mut node, &mut proof)?;
    Some(proof)
}

/// The consistency proof between the trees of `size1` and `size2` leaves, from the larger
/// one's perfect subtrees (`None` unless `0 < size1 <= size2`, or when `node` lacks one).
pub(crate) fn consistency_proof_from(
    size1: u64,
    size2: u64,
    mut node: impl FnMut(NodeId) -> Option<TreeHash>,
) -> Option<Vec<TreeHash>> {
    if size1 == 0 || size1 > size2 {
        return None;
    }
    let mut proof = Vec::new();
    subproof(size1, 0, size2, true, &mut node, &mut proof)?;
    Some(proof)
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
/// The perfect subtrees a computation over them reads, in the order it reads them: run it once
/// with this, fetch them all at once, and run it again over what was fetched.
pub(crate) fn nodes_read<T>(
    compute: impl FnOnce(&mut dyn FnMut(NodeId) -> Option<TreeHash>) -> T,
) -> Vec<NodeId> {
    let mut read = Vec::new();
    let mut record = |id: NodeId| {
        read.push(id);
        Some(TreeHash([0; 32]))
    };
    compute(&mut record);
    read
}

/// The inclusion proof of leaf `index` in the tree whose leaf hashes are `leaves` (RFC 6962
/// §2.1.1, PATH); `None` when `index` is not a leaf of it.
pub fn inclusion_proof(index: usize, leaves: &[TreeHash]) -> Option<Vec<TreeHash>> {
    let size = u64::try_from(leaves.len()).ok()?;
    inclusion_proof_from(u64::try_from(index).ok()?, size, |id| subtree(leaves, id))
}

/// The consistency proof between the first `size1` leaves of `leaves` and all of them (RFC 6962
/// §2.1.2, PROOF); `None` unless `0 < size1 <= leaves.len()`.
pub fn consistency_proof(size1: usize, leaves: &[TreeHash]) -> Option<Vec<TreeHash>> {
    let size2 = u64::try_from(leaves.len()).ok()?;
    consistency_proof_from(u64::try_from(size1).ok()?, size2, |id| subtree(leaves, id))
}

/// The root of a perfect subtree of `leaves`.
fn subtree(leaves: &[TreeHash], id: NodeId) -> Option<TreeHash> {
    let (lo, width) = id.range();
    let lo = usize::try_from(lo).ok()?;
    let hi = lo.checked_add(usize::try_from(width).ok()?)?;
    leaves.get(lo..hi).map(root)
}

/// The right edge of a tree: the roots of the perfect subtrees its leaves decompose into,
/// largest first (one per bit set in its size). It is all a log needs to append leaves and
/// compute the new root; each leaf appended completes the subtrees it closes, which the log
/// stores for proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frontier {
    size: u64,
    nodes: Vec<TreeHash>,
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier::empty()
    }
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl Frontier {
    /// The frontier of the empty tree.
    pub(crate) fn empty() -> Frontier {
        Frontier {
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// The subtrees the frontier of a tree of `size` leaves is made of, largest first.
    pub(crate) fn ids(size: u64) -> Vec<NodeId> {
        (0..64u8)
            .rev()
            .filter(|level| (size >> level) & 1 == 1)
            .map(|level| NodeId {
                level,
                index: (size >> level) - 1,
            })
            .collect()
    }

    /// The frontier of a tree of `size` leaves from the hashes of [`Frontier::ids`]`(size)`,
    /// in that order; `None` for another number of hashes.
    pub(crate) fn from_nodes(size: u64, nodes: Vec<TreeHash>) -> Option<Frontier> {
        (nodes.len() == usize::try_from(size.count_ones()).ok()?)
            .then_some(Frontier { size, nodes })
    }

    /// The number of leaves.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    /// The hashes, largest subtree first.
    pub(crate) fn nodes(&self) -> &[TreeHash] {
        &self.nodes
    }

    /// The tree's root (RFC 6962's MTH).
    pub(crate) fn root(&self) -> TreeHash {
        let mut nodes = self.nodes.iter().rev();
        match nodes.next() {
            None => TreeHash::empty(),
            Some(last) => nodes.fold(*last, |right, left| TreeHash::node(left, &right)),
        }
    }

    /// Appends a leaf: pushes onto `completed` the subtrees it completes, the leaf first.
    pub(crate) fn push(&mut self, leaf: TreeHash, completed: &mut Vec<(NodeId, TreeHash)>) {
        let size = self.size;
        let mut hash = leaf;
        let mut level = 0u8;
        completed.push((NodeId { level, index: size }, hash));
        while (size >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            hash = TreeHash::node(&left, &hash);
            level += 1;
            completed.push((
                NodeId {
                    level,
                    index: size >> level,
                },
                hash,
            ));
        }
        self.nodes.push(hash);
        self.size = size + 1;
    }
}

/// RFC 9162's step after hashing a proof node on the left: right-shift the node index `f` and
/// the last index `s` together until `f` is odd or 0.
fn climb(f: &mut u64, s: &mut u64) {
    while *f & 1 == 0 && *f != 0 {
        *f >>= 1;
        *s >>= 1;
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`, by the
/// algorithm of RFC 9162 §2.1.3.2.
///
/// # Errors
///
/// [`TlogError::IndexOutOfRange`], [`TlogError::WrongLength`] or
/// [`TlogError::RootMismatch`].
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &TreeHash,
    proof: &[TreeHash],
    root: &TreeHash,
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(TlogError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = TreeHash::node(p, &r);
            climb(&mut f, &mut s);
        } else {
            r = TreeHash::node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(TlogError::WrongLength);
    }
    if r == *root {
        Ok(())
    } else {
        Err(TlogError::RootMismatch)
    }
}

/// Checks that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
/// leaves with root `root2`, by the algorithm of RFC 9162 §2.1.4.2.
///
/// # Errors
///
/// [`TlogError::TreeShrank`], [`TlogError::FromEmptyTree`], [`TlogError::WrongLength`] or
/// [`TlogError::RootMismatch`].
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[TreeHash],
    root1: &TreeHash,
    root2: &TreeHash,
) -> Result<(), TlogError> {
    if size2 < size1 {
        return Err(TlogError::TreeShrank { size1, size2 });
    }
    if size1 == 0 {
        return Err(TlogError::FromEmptyTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(TlogError::WrongLength);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(TlogError::RootMismatch)
        };
    }
    let mut path: Vec<TreeHash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(TlogError::WrongLength);
    };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(TlogError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = TreeHash::node(c, &fr);
            sr = TreeHash::node(c, &sr);
            climb(&mut f, &mut s);
        } else {
            sr = TreeHash::node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(TlogError::WrongLength);
    }
    if fr == *root1 && sr == *root2 {
        Ok(())
    } else {
        Err(TlogError::RootMismatch)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A log that stores only perfect subtrees (as the stores do) gives the proofs and roots the
    /// reference code computes from all the leaves, for every size, index and pair of sizes; and the
    /// frontier read back from the stored subtrees is the one appending built.
    #[test]
    fn stored_subtrees_give_the_proofs_all_the_leaves_give() {
        let leaves: Vec<TreeHash> = (0u32..70)
            .map(|n| TreeHash::leaf(&n.to_be_bytes()))
            .collect();
        let mut frontier = Frontier::empty();
        let mut stored = std::collections::HashMap::new();
        for (size, leaf) in (1u64..).zip(&leaves) {
            let mut completed = Vec::new();
            frontier.push(*leaf, &mut completed);
            assert_eq!(
                completed.first(),
                Some(&(
                    NodeId {
                        level: 0,
                        index: size - 1
                    },
                    *leaf
                ))
            );
            for (id, hash) in completed {
                assert!(stored.insert(id, hash).is_none(), "{id:?} stored twice");
            }
            let prefix = &leaves[..usize::try_from(size).unwrap()];
            assert_eq!(frontier.root(), root(prefix), "size {size}");
            let node = |id: NodeId| stored.get(&id).copied();
            assert_eq!(root_from(size, node), Some(frontier.root()));
            let read_back: Option<Vec<TreeHash>> =
                Frontier::ids(size).into_iter().map(node).collect();
            assert_eq!(
                Frontier::from_nodes(size, read_back.unwrap()),
                Some(frontier.clone())
            );
            for index in 0..size {
                let expected = inclusion_proof(usize::try_from(index).unwrap(), prefix);
                assert_eq!(inclusion_proof_from(index, size, node), expected);
                let wanted = nodes_read(|node| inclusion_proof_from(index, size, node));
                let fetched: std::collections::HashMap<_, _> =
                    wanted.iter().map(|id| (*id, stored[id])).collect();
                assert_eq!(
                    inclusion_proof_from(index, size, |id| fetched.get(&id).copied()),
                    expected,
                    "the nodes a proof reads are all it needs"
                );
                assert!(wanted.len() <= 2 * 64, "{} nodes read", wanted.len());
            }
            for size1 in 1..=size {
                let expected = consistency_proof(usize::try_from(size1).unwrap(), prefix);
                assert_eq!(consistency_proof_from(size1, size, node), expected);
            }
        }
        // Every perfect subtree is stored once: 2n - popcount(n) of them.
        assert_eq!(stored.len(), 2 * 70 - 3);
        assert_eq!(
            inclusion_proof_from(70, 70, |id| stored.get(&id).copied()),
            None
        );
        assert_eq!(Frontier::from_nodes(70, Vec::new()), None);
        // A consistency proof needs a non-empty older tree no larger than the newer one, whatever
        // subtrees the store would hand over (here: any at all).
        let any = |_: NodeId| Some(TreeHash::leaf(b"any subtree"));
        for (size1, size2) in [(0, 0), (0, 5), (6, 5), (71, 70)] {
            assert_eq!(
                consistency_proof_from(size1, size2, any),
                None,
                "{size1} to {size2}"
            );
        }
        assert_eq!(consistency_proof_from(5, 5, any), Some(Vec::new()));
        assert!(consistency_proof_from(4, 5, any).is_some());
    }

    /// A stored subtree is keyed by its last leaf, so the nodes a new leaf completes sit beside it:
    /// leaf 5 is its own last leaf; the four leaves from leaf 4 end at leaf 7.
    #[test]
    fn a_subtree_is_keyed_by_its_last_leaf() {
        for (level, index, last) in [(0, 5, 5), (1, 0, 1), (2, 1, 7), (3, 2, 23)] {
            assert_eq!(
                NodeId { level, index }.last_leaf(),
                last,
                "level {level} index {index}"
            );
        }
    }
}
