//! RFC 6962 Merkle trees (Certificate Transparency; RFC 9162 §2.1): the hashes of leaves and
//! nodes, the root of a tree, and the two proofs a log gives and anyone can check without it:
//! that a leaf is included in a tree, and that a tree is a prefix of a later one.
//!
//! Pure code over 32-byte SHA-256 hashes: no I/O, no store. The proofs are built here from a
//! tree's leaf hashes (the reference the store's stored nodes are checked against) and verified
//! by the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which accept exactly the proofs
//! transparency-dev/merkle accepts (`tests/evidence.rs` runs its vectors, happy and mangled).

use sha2::{Digest, Sha256};

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

/// Why a proof does not prove what it was checked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a tree of {size} leaves: an index runs from 0 to size - 1")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The second tree is smaller than the first: no tree grows by shrinking.
    #[error("a tree of {size2} leaves cannot extend one of {size1}")]
    TreeShrank {
        /// The first tree's size.
        size1: u64,
        /// The second tree's size.
        size2: u64,
    },
    /// A consistency proof from an empty tree: every tree extends it, so nothing is proved
    /// (as transparency-dev/merkle, this is refused rather than taken as a proof).
    #[error(
        "a consistency proof from an empty tree proves nothing: take one from a checkpoint of at least one leaf"
    )]
    FromEmptyTree,
    /// The proof has more or fewer hashes than a proof between these sizes has.
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    /// The proof is well formed but leads to another root: the leaf is not in the tree, or the
    /// trees are not one log (a forked log, when both roots are signed).
    #[error(
        "the proof leads to another root: the leaf is not in that tree, or the two trees are not one log"
    )]
    RootMismatch,
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
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The inclusion proof of leaf `index` in the tree whose leaf hashes are `leaves` (RFC 6962
/// §2.1.1, PATH); `None` when `index` is not a leaf of it.
pub fn inclusion_proof(index: usize, leaves: &[TreeHash]) -> Option<Vec<TreeHash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(index: usize, leaves: &[TreeHash], proof: &mut Vec<TreeHash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        path(index, left, proof);
        proof.push(root(right));
    } else {
        path(index - k, right, proof);
        proof.push(root(left));
    }
}

/// The consistency proof between the first `size1` leaves of `leaves` and all of them (RFC 6962
/// §2.1.2, PROOF); `None` unless `0 < size1 <= leaves.len()`.
pub fn consistency_proof(size1: usize, leaves: &[TreeHash]) -> Option<Vec<TreeHash>> {
    if size1 == 0 || size1 > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    subproof(size1, leaves, true, &mut proof);
    Some(proof)
}

fn subproof(m: usize, leaves: &[TreeHash], whole: bool, proof: &mut Vec<TreeHash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, whole, proof);
        proof.push(root(right));
    } else {
        subproof(m - k, right, false, proof);
        proof.push(root(left));
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
/// [`ProofError::IndexOutOfRange`], [`ProofError::WrongLength`] or
/// [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &TreeHash,
    proof: &[TreeHash],
    root: &TreeHash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
        return Err(ProofError::WrongLength);
    }
    if r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
/// leaves with root `root2`, by the algorithm of RFC 9162 §2.1.4.2.
///
/// # Errors
///
/// [`ProofError::TreeShrank`], [`ProofError::FromEmptyTree`], [`ProofError::WrongLength`] or
/// [`ProofError::RootMismatch`].
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[TreeHash],
    root1: &TreeHash,
    root2: &TreeHash,
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::TreeShrank { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<TreeHash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
        return Err(ProofError::WrongLength);
    }
    if fr == *root1 && sr == *root2 {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}
