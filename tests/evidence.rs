//! The evidence code against outside implementations, byte for byte (`tests/vectors/`): every
//! RFC 6962 inclusion and consistency vector of transparency-dev/merkle (happy paths and mangled
//! proofs) and the roots of its reference tree; Go's signed-note vectors (exact signed bytes for
//! a fixed key, malformed notes, bad keys, an invalid signature).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customer_lockbox::evidence::Evidence;
use customer_lockbox::tlog::{
    Checkpoint, ConsistencyProof, SignerKey, TlogError, TlogProof, TreeHash, VerifiedNote,
    VerifierKey, consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion,
};
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
            _ => Err(TlogError::RootMismatch),
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
            _ => Err(TlogError::RootMismatch),
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
                    Err(TlogError::RootMismatch)
                );
            }
        }
    }
}

#[derive(Deserialize)]
struct GoNote {
    signer_key: String,
    verifier_key: String,
    second_verifier_key: String,
    text: String,
    signed_by_signer_key: String,
    signed_by_both: String,
    bad_verifier_keys: Vec<String>,
    malformed_notes_for_verifier_key: Vec<String>,
    invalid_signature_for_verifier_key: String,
}

fn go_note() -> GoNote {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signed-note/golang-note.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_note_signed_here_is_gos_byte_for_byte() {
    let v = go_note();
    let signer = SignerKey::parse(&v.signer_key).unwrap();
    // The key renders back to Go's text, byte for byte (what `lockbox keygen` writes).
    assert_eq!(signer.to_secret_text(), v.signer_key);
    assert_eq!(signer.verifier().to_string(), v.verifier_key);
    assert_eq!(signer.sign(&v.text).unwrap(), v.signed_by_signer_key);
    let key = VerifierKey::parse(&v.verifier_key).unwrap();
    assert_eq!(key, signer.verifier());
    assert_eq!(key.name(), "PeterNeumann");
    assert_eq!(key.hash(), 0xc74f20a3);
}

#[test]
fn gos_notes_open_with_the_keys_that_signed_them() {
    let v = go_note();
    let peter = VerifierKey::parse(&v.verifier_key).unwrap();
    let enoch = VerifierKey::parse(&v.second_verifier_key).unwrap();
    let one = VerifiedNote::open(&v.signed_by_signer_key, std::slice::from_ref(&peter)).unwrap();
    assert_eq!(one.text(), v.text);
    assert_eq!(one.signed_by(), ["PeterNeumann"]);
    let both = VerifiedNote::open(&v.signed_by_both, std::slice::from_ref(&peter)).unwrap();
    assert_eq!((both.signed_by().len(), both.unverified()), (1, 1));
    let both = VerifiedNote::open(&v.signed_by_both, &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(both.signed_by(), ["PeterNeumann", "EnochRoot"]);
    // Signed only by a key the reader does not trust: unverified, not malformed.
    assert_eq!(
        VerifiedNote::open(&v.signed_by_signer_key, &[enoch]),
        Err(TlogError::Unverified)
    );
}

#[test]
fn gos_malformed_notes_bad_keys_and_invalid_signature_are_refused() {
    let v = go_note();
    let peter = VerifierKey::parse(&v.verifier_key).unwrap();
    for bad in &v.bad_verifier_keys {
        assert_eq!(VerifierKey::parse(bad), Err(TlogError::InvalidKey), "{bad}");
    }
    for (i, malformed) in v.malformed_notes_for_verifier_key.iter().enumerate() {
        assert!(
            matches!(
                VerifiedNote::open(malformed, std::slice::from_ref(&peter)),
                Err(TlogError::Malformed {
                    what: "signed note",
                    ..
                })
            ),
            "malformed note {i}"
        );
    }
    assert_eq!(
        VerifiedNote::open(
            &v.invalid_signature_for_verifier_key,
            std::slice::from_ref(&peter)
        ),
        Err(TlogError::InvalidSignature {
            name: "PeterNeumann".into()
        })
    );
}

#[test]
fn every_mangling_of_the_keys_is_refused() {
    let v = go_note();
    // One of each kind of character a key holds, and each original character's other case.
    let kinds = ['A', 'z', '0', '9', '+', '/', '=', ' ', 'x'];
    for (original, signer) in [(&v.verifier_key, false), (&v.signer_key, true)] {
        let chars: Vec<char> = original.chars().collect();
        for i in 0..chars.len() {
            let flipped = if chars[i].is_ascii_uppercase() {
                chars[i].to_ascii_lowercase()
            } else {
                chars[i].to_ascii_uppercase()
            };
            for c in kinds.into_iter().chain([flipped]) {
                if c == chars[i] {
                    continue;
                }
                let mut mangled = chars.clone();
                mangled[i] = c;
                let mangled: String = mangled.into_iter().collect();
                let parsed = if signer {
                    SignerKey::parse(&mangled).map(|k| k.verifier())
                } else {
                    VerifierKey::parse(&mangled)
                };
                assert!(parsed.is_err(), "{mangled} was accepted");
            }
        }
    }
}

/// The example of C2SP tlog-proof (its signatures shortened there, so the checkpoint is kept
/// verbatim, not opened): it reads, and writes back byte for byte.
#[test]
fn the_c2sp_tlog_proof_example_reads_and_writes_back() {
    let example = "c2sp.org/tlog-proof@v1\n\
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
index 73894\n\
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
\n\
example.com/fancylog\n\
109482\n\
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\
\n\
\u{2014} example.com/fancylog hI2DJw[...]1roloI=\n";
    let proof = TlogProof::parse(example).unwrap();
    assert_eq!(proof.index(), 73894);
    assert_eq!(proof.to_text(), example);
}

#[test]
fn a_tlog_proof_for_every_entry_of_the_reference_tree_verifies_offline() {
    let v = go_note();
    let key = SignerKey::parse(&v.signer_key).unwrap();
    let trusted = [key.verifier()];
    let (leaves, roots) = reference_leaves();
    let checkpoint = Checkpoint::new("PeterNeumann", 8, roots[8]).unwrap();
    let signed = checkpoint.sign(&key).unwrap();
    assert_eq!(
        Checkpoint::open(&signed, "PeterNeumann", &trusted).unwrap(),
        checkpoint
    );
    for (index, leaf) in leaves.iter().enumerate() {
        let proof = TlogProof::new(
            index as u64,
            inclusion_proof(index, &leaves).unwrap(),
            signed.clone(),
        );
        let text = proof.to_text();
        let read = TlogProof::parse(&text).unwrap();
        assert_eq!(read, proof);
        assert_eq!(
            read.verify(leaf, "PeterNeumann", &trusted).unwrap(),
            checkpoint
        );
        // Another entry's hash is not at this index.
        let other = &leaves[(index + 1) % leaves.len()];
        assert!(matches!(
            read.verify(other, "PeterNeumann", &trusted),
            Err(TlogError::RootMismatch)
        ));
    }
    let proof = TlogProof::new(3, inclusion_proof(3, &leaves).unwrap(), signed.clone());
    // Another log's name, an untrusted key, an altered root: each refused by name.
    assert!(matches!(
        proof.verify(&leaves[3], "example.com/otherlog", &trusted),
        Err(TlogError::OtherLog { .. })
    ));
    let enoch = VerifierKey::parse(&v.second_verifier_key).unwrap();
    assert!(matches!(
        proof.verify(&leaves[3], "PeterNeumann", &[enoch]),
        Err(TlogError::Unverified)
    ));
    let forged_root = signed.replacen(
        &base64::engine::general_purpose::STANDARD.encode(roots[8].as_bytes()),
        &base64::engine::general_purpose::STANDARD.encode(roots[7].as_bytes()),
        1,
    );
    let forged = TlogProof::new(3, inclusion_proof(3, &leaves).unwrap(), forged_root);
    assert!(matches!(
        forged.verify(&leaves[3], "PeterNeumann", &trusted),
        Err(TlogError::InvalidSignature { .. })
    ));
}

#[test]
fn checkpoints_and_proofs_that_are_not_c2sp_text_are_refused() {
    let root = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    for bad in [
        format!("log\n08\n{root}\n"),
        format!("log\n-1\n{root}\n"),
        format!("log\n8\n{root}"),
        "log\n8\nnot-base64\n".to_owned(),
        format!("log\n8\n{root}\n\n"),
        format!("\n8\n{root}\n"),
        "log\n8\n".to_owned(),
    ] {
        assert!(
            matches!(Checkpoint::parse(&bad), Err(TlogError::Malformed { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        Checkpoint::parse(&format!("log\n8\n{root}\nextension line\n"))
            .unwrap()
            .size(),
        8
    );
    for bad in [
        "c2sp.org/tlog-proof@v2\nindex 1\n\nlog\n",
        "c2sp.org/tlog-proof@v1\nindex 01\n\nlog\n",
        "c2sp.org/tlog-proof@v1\n\nlog\n",
        "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nlog\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n",
    ] {
        assert!(
            matches!(TlogProof::parse(bad), Err(TlogError::Malformed { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn consistency_proofs_join_held_checkpoints_and_a_forked_log_is_caught() {
    let v = go_note();
    let key = SignerKey::parse(&v.signer_key).unwrap();
    let trusted = [key.verifier()];
    let (leaves, roots) = reference_leaves();
    let latest = Checkpoint::new("PeterNeumann", 8, roots[8]).unwrap();
    let signed_latest = latest.sign(&key).unwrap();
    for (size, held_root) in roots.iter().enumerate().skip(1) {
        let held = Checkpoint::new("PeterNeumann", size as u64, *held_root).unwrap();
        let proof = ConsistencyProof::new(
            size as u64,
            consistency_proof(size, &leaves).unwrap(),
            signed_latest.clone(),
        );
        let read = ConsistencyProof::parse(&proof.to_text()).unwrap();
        assert_eq!(read, proof);
        assert_eq!(read.verify(&held, &trusted).unwrap(), latest);
    }
    // The log shows another reader a history where entry 2 differs, signed with the same key.
    let mut forked = leaves.clone();
    forked[2] = TreeHash::leaf(b"rewritten");
    let held_fork = Checkpoint::new("PeterNeumann", 4, root(&forked[..4])).unwrap();
    let proof = ConsistencyProof::new(4, consistency_proof(4, &leaves).unwrap(), signed_latest);
    assert!(matches!(
        proof.verify(&held_fork, &trusted),
        Err(TlogError::Forked {
            size1: 4,
            size2: 8,
            ..
        })
    ));
    // Same size, different roots: both signed, so the log equivocated.
    let other = Checkpoint::new("PeterNeumann", 8, root(&forked)).unwrap();
    assert!(matches!(
        customer_lockbox::tlog::check_same_size(&latest, &other),
        Err(TlogError::Forked { .. })
    ));
    let same_size = ConsistencyProof::new(8, Vec::new(), other.sign(&key).unwrap());
    assert!(matches!(
        same_size.verify(&latest, &trusted),
        Err(TlogError::Forked { .. })
    ));
    customer_lockbox::tlog::check_same_size(&latest, &latest).unwrap();
    // A proof from another size than the one held proves nothing about it, and says so.
    let from_three = ConsistencyProof::new(
        3,
        consistency_proof(3, &leaves).unwrap(),
        latest.sign(&key).unwrap(),
    );
    let held_four = Checkpoint::new("PeterNeumann", 4, roots[4]).unwrap();
    let err = from_three.verify(&held_four, &trusted).unwrap_err();
    assert_eq!(
        err,
        TlogError::OtherOldSize {
            proof_from: 3,
            held: 4
        }
    );
    assert!(
        err.to_string().contains("ask for a proof from size 4"),
        "{err}"
    );
}

/// A checkpoint's extension lines (C2SP tlog-checkpoint) are kept: the body reads back byte for
/// byte, so a checkpoint another log signed with them still opens and re-renders as signed.
#[test]
fn a_checkpoint_keeps_its_extension_lines() {
    let v = go_note();
    let key = SignerKey::parse(&v.signer_key).unwrap();
    let (_, roots) = reference_leaves();
    let body = format!(
        "PeterNeumann\n8\n{}\nmonitor: https-free text\nsecond line\n",
        STANDARD.encode(roots[8].as_bytes())
    );
    let read = Checkpoint::parse(&body).unwrap();
    assert_eq!(
        read.extensions(),
        ["monitor: https-free text", "second line"]
    );
    assert_eq!(read.to_text(), body);
    let signed = read.sign(&key).unwrap();
    let opened = Checkpoint::open(&signed, "PeterNeumann", &[key.verifier()]).unwrap();
    assert_eq!(opened, read);
    let made = Checkpoint::new("PeterNeumann", 8, roots[8])
        .unwrap()
        .with_extensions([
            "monitor: https-free text".to_owned(),
            "second line".to_owned(),
        ])
        .unwrap();
    assert_eq!(made, read);
    for bad in ["", "two\nlines"] {
        assert!(matches!(
            Checkpoint::new("PeterNeumann", 8, roots[8])
                .unwrap()
                .with_extensions([bad.to_owned()]),
            Err(TlogError::Malformed { .. })
        ));
    }
}

/// A hash shows as its hex, as logs print it, so a test failure names the hash.
#[test]
fn a_tree_hash_debugs_as_hex() {
    let hash = TreeHash::from_slice(&[0xab; 32]).unwrap();
    assert_eq!(
        format!("{hash:?}"),
        format!("TreeHash({})", "ab".repeat(32))
    );
}

/// What a customer holds reads from its text: a signed checkpoint on its own is evidence of
/// its log, named by its origin; text that is neither a message nor a signed note is not.
#[test]
fn a_signed_checkpoint_on_its_own_is_held_evidence() {
    let v = go_note();
    let key = SignerKey::parse(&v.signer_key).unwrap();
    let (_, roots) = reference_leaves();
    let signed = Checkpoint::new("PeterNeumann", 8, roots[8])
        .unwrap()
        .sign(&key)
        .unwrap();
    let held = Evidence::from_text(&format!("{signed}\n\n")).unwrap();
    assert_eq!(held.checkpoint(), signed);
    assert_eq!(held.origin(), "PeterNeumann");
    assert!(held.proofs().is_empty());
    for not_evidence in ["", "hello", "PeterNeumann\n8\nroot\n"] {
        assert!(
            Evidence::from_text(not_evidence).is_err(),
            "{not_evidence:?}"
        );
    }
}
