//! The Merkle tree code against an outside implementation: every RFC 6962 inclusion and
//! consistency vector of transparency-dev/merkle (happy paths and mangled proofs) and the roots
//! of its reference tree, byte for byte (`tests/vectors/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customer_lockbox::evidence::merkle::{
    consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
};
use customer_lockbox::evidence::{ProofError, TreeHash};
use serde::Deserialize;

fn vectors(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/rfc6962")
        .join(kind)
}

/// Every JSON file under `dir`, with its path.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
    found.sort();
    found
}

/// A base64 value as a tree hash. A few vectors hold placeholders that are no hash ("don't care
/// 1"), compared by their bytes: such a value stands here as the SHA-256 of its bytes, which no
/// proof reaches and which is equal exactly when the bytes are.
fn hash(b64: &str) -> Option<TreeHash> {
    let bytes = STANDARD.decode(b64).unwrap();
    Some(TreeHash::from_slice(&bytes).unwrap_or_else(|| TreeHash::leaf(&bytes)))
}

fn hashes(list: &Option<Vec<String>>) -> Option<Vec<TreeHash>> {
    list.iter().flatten().map(|h| hash(h)).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

#[derive(Deserialize)]
struct Reference {
    leaf_inputs_hex: Vec<String>,
    root_hashes_hex_by_tree_size: Vec<String>,
}

fn reference_leaves() -> (Vec<TreeHash>, Vec<TreeHash>) {
    let text = std::fs::read_to_string(vectors("reference-tree.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let leaves = reference
        .leaf_inputs_hex
        .iter()
        .map(|h| TreeHash::leaf(&hex::decode(h).unwrap()))
        .collect();
    let roots = reference
        .root_hashes_hex_by_tree_size
        .iter()
        .map(|h| TreeHash::from_slice(&hex::decode(h).unwrap()).unwrap())
        .collect();
    (leaves, roots)
}

#[test]
fn every_inclusion_vector_is_accepted_or_refused_as_transparency_dev_does() {
    let cases = files(&vectors("inclusion"));
    assert!(cases.len() >= 60, "{} inclusion vectors", cases.len());
    for (path, text) in cases {
        let v: Inclusion = serde_json::from_str(&text).unwrap();
        // A leaf hash must be a hash (transparency-dev refuses another length).
        let leaf = TreeHash::from_slice(&STANDARD.decode(&v.leaf_hash).unwrap());
        let result = match (hash(&v.root), leaf, hashes(&v.proof)) {
            (Some(root), Some(leaf), Some(proof)) => {
                verify_inclusion(v.leaf_idx, v.tree_size, &leaf, &proof, &root)
            }
            _ => Err(ProofError::RootMismatch),
        };
        assert_eq!(
            result.is_err(),
            v.want_err,
            "{}: {result:?}",
            path.display()
        );
    }
}

#[test]
fn every_consistency_vector_is_accepted_or_refused_as_transparency_dev_does() {
    let cases = files(&vectors("consistency"));
    assert!(cases.len() >= 40, "{} consistency vectors", cases.len());
    for (path, text) in cases {
        let v: Consistency = serde_json::from_str(&text).unwrap();
        let result = match (hash(&v.root1), hash(&v.root2), hashes(&v.proof)) {
            (Some(root1), Some(root2), Some(proof)) => {
                verify_consistency(v.size1, v.size2, &proof, &root1, &root2)
            }
            _ => Err(ProofError::RootMismatch),
        };
        assert_eq!(
            result.is_err(),
            v.want_err,
            "{}: {result:?}",
            path.display()
        );
    }
}

#[test]
fn the_reference_tree_has_the_reference_roots() {
    let (leaves, roots) = reference_leaves();
    for (size, want) in roots.iter().enumerate() {
        assert_eq!(root(&leaves[..size]), *want, "tree size {size}");
    }
}

#[test]
fn proofs_built_here_are_the_vectors_proofs_byte_for_byte() {
    let (leaves, _) = reference_leaves();
    for (path, text) in files(&vectors("inclusion")) {
        let v: Inclusion = serde_json::from_str(&text).unwrap();
        if v.want_err || v.tree_size as usize > leaves.len() {
            continue;
        }
        let built = inclusion_proof(v.leaf_idx as usize, &leaves[..v.tree_size as usize]).unwrap();
        assert_eq!(Some(built), hashes(&v.proof), "{}", path.display());
    }
    for (path, text) in files(&vectors("consistency")) {
        let v: Consistency = serde_json::from_str(&text).unwrap();
        if v.want_err || v.size1 == 0 || v.size2 as usize > leaves.len() {
            continue;
        }
        let built = consistency_proof(v.size1 as usize, &leaves[..v.size2 as usize]).unwrap();
        assert_eq!(Some(built), hashes(&v.proof), "{}", path.display());
    }
}

#[test]
fn every_proof_of_every_reference_tree_verifies_and_no_other_does() {
    let (leaves, roots) = reference_leaves();
    for size in 1..=leaves.len() {
        let tree = &leaves[..size];
        for index in 0..size {
            let proof = inclusion_proof(index, tree).unwrap();
            verify_inclusion(
                index as u64,
                size as u64,
                &tree[index],
                &proof,
                &roots[size],
            )
            .unwrap();
            // Another leaf, another index or another size does not verify.
            let other = tree[(index + 1) % size];
            if other != tree[index] {
                assert!(
                    verify_inclusion(index as u64, size as u64, &other, &proof, &roots[size])
                        .is_err()
                );
            }
            assert!(
                verify_inclusion(size as u64, size as u64, &tree[index], &proof, &roots[size])
                    .is_err()
            );
        }
        for size1 in 1..=size {
            let proof = consistency_proof(size1, tree).unwrap();
            verify_consistency(
                size1 as u64,
                size as u64,
                &proof,
                &roots[size1],
                &roots[size],
            )
            .unwrap();
            if size1 < size {
                // Another first root is another log: a fork.
                assert_eq!(
                    verify_consistency(
                        size1 as u64,
                        size as u64,
                        &proof,
                        &roots[size1 - 1],
                        &roots[size]
                    ),
                    Err(ProofError::RootMismatch)
                );
            }
        }
    }
}
