//! Signed decisions, arbitrary: any text read as an SSH signature armor, and any text read as an
//! OpenSSH public key line, is taken or refused by name, never a panic; one that parses is
//! verified against the parsed key and a text without a panic, and an armor wrapped around
//! arbitrary base64 goes as deep as the SSHSIG decoder.
#![no_main]

use arbitrary::Arbitrary;
use customer_lockbox::{CustomerKey, DecisionSignature};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    armor: String,
    blob: Vec<u8>,
    key: String,
    statement: Vec<u8>,
}

/// `blob` in the SSH signature armor, base64 in lines of 70 as ssh-keygen writes it.
fn armored(blob: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in blob.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                text.push('=');
            }
        }
    }
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(70)
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    format!(
        "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
        lines.join("\n")
    )
}

fuzz_target!(|input: Input| {
    let key = CustomerKey::parse(&input.key).ok();
    let blob = format!("SSHSIG{}", String::from_utf8_lossy(&input.blob));
    for armor in [input.armor.clone(), armored(&input.blob), armored(blob.as_bytes())] {
        if let Ok(signature) = DecisionSignature::parse(&armor) {
            let _ = signature.signer_fingerprint();
            if let Some(key) = &key {
                let _ = signature.verify(&input.statement, std::slice::from_ref(key));
            }
        }
    }
});
