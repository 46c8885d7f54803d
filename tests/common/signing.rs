//! Signing as Megan does, with the published test key of the OpenSSH vectors
//! (`tests/vectors/sshsig/megan-ed25519.TEST-ONLY`, made for these tests only).

use customer_lockbox::{CustomerKey, SIGNATURE_NAMESPACE};

fn vector(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/sshsig")
            .join(name),
    )
    .unwrap()
}

/// Megan's test key, as her `.pub` line gives it.
pub fn megans_key() -> CustomerKey {
    CustomerKey::parse(&vector("megan-ed25519.pub")).unwrap()
}

/// The armored SSH signature Megan's test key makes over `text` in the lockbox's namespace, as
/// `ssh-keygen -Y sign -n customer-lockbox` would.
pub fn signed_by_megan(text: &[u8]) -> String {
    let key = ssh_key::PrivateKey::from_openssh(vector("megan-ed25519.TEST-ONLY")).unwrap();
    ssh_key::SshSig::sign(&key, SIGNATURE_NAMESPACE, ssh_key::HashAlg::Sha512, text)
        .unwrap()
        .to_pem(ssh_key::LineEnding::LF)
        .unwrap()
}
