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

/// A person's signing key, made for a test from a seed (the same seed, the same key): what
/// `ssh-keygen -t ed25519` would make, without the file.
pub struct TestKey(ssh_key::PrivateKey);

impl TestKey {
    /// The Ed25519 key of `seed`.
    pub fn ed25519(seed: u8) -> TestKey {
        let pair = ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
        TestKey(ssh_key::PrivateKey::from(pair))
    }

    /// Its public key, as a policy lists it.
    pub fn public(&self) -> CustomerKey {
        CustomerKey::parse(&self.0.public_key().to_openssh().unwrap()).unwrap()
    }

    /// Its armored signature over `text` in the lockbox's namespace.
    pub fn sign(&self, text: &[u8]) -> String {
        self.sign_in(SIGNATURE_NAMESPACE, text)
    }

    /// Its armored signature over `text` in `namespace` (`git`, `file`, ...).
    pub fn sign_in(&self, namespace: &str, text: &[u8]) -> String {
        ssh_key::SshSig::sign(&self.0, namespace, ssh_key::HashAlg::Sha512, text)
            .unwrap()
            .to_pem(ssh_key::LineEnding::LF)
            .unwrap()
    }
}

/// Adele's key: Contoso's tenant administrator.
pub fn adeles_key() -> TestKey {
    TestKey::ed25519(0xad)
}

/// Lee's key: Contoso's second designated approver.
pub fn lees_key() -> TestKey {
    TestKey::ed25519(0x1e)
}

/// A key the vendor's insider made: nobody in Contoso's policy holds it.
pub fn insiders_key() -> TestKey {
    TestKey::ed25519(0x66)
}

/// Contoso's policy with keys: Megan (the published test key) and Lee sign their decisions,
/// Adele her changes.
pub fn keyed_policy() -> customer_lockbox::TenantPolicy {
    use customer_lockbox::{DesignatedApprover, TenantAdministrator, TenantPolicy};
    let base = super::policy();
    let approvers = base
        .approvers()
        .iter()
        .map(|a| {
            let key = if a.id() == &super::megan() {
                megans_key()
            } else {
                lees_key().public()
            };
            DesignatedApprover::new(a.id().clone(), a.email().clone()).with_keys(vec![key])
        })
        .collect();
    TenantPolicy::new(super::contoso(), approvers)
        .unwrap()
        .with_administrators(vec![TenantAdministrator::new(
            super::adele(),
            vec![adeles_key().public()],
        )])
}

/// Megan's signing key, as a [`TestKey`].
pub fn megan_signs() -> TestKey {
    TestKey(ssh_key::PrivateKey::from_openssh(vector("megan-ed25519.TEST-ONLY")).unwrap())
}

/// What the real `ssh-keygen -Y sign -n customer-lockbox` makes with Megan's test key over
/// `text`, as Megan would at her terminal. `None`, said on stderr, where `ssh-keygen` is not
/// installed and `CI` is unset (`.ci/test` installs `openssh-client`; in CI its absence fails).
pub fn ssh_keygen_signs_as_megan(text: &[u8]) -> Option<String> {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("id_ed25519");
    std::fs::write(&key_file, vector("megan-ed25519.TEST-ONLY")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let statement = dir.path().join("statement");
    std::fs::write(&statement, text).unwrap();
    let signed = std::process::Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", SIGNATURE_NAMESPACE, "-f"])
        .arg(&key_file)
        .arg(&statement)
        .output();
    let Ok(signed) = signed else {
        assert!(
            std::env::var_os("CI").is_none(),
            "ssh-keygen is not installed: `bash .ci/test` installs openssh-client"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipping the ssh-keygen signature: ssh-keygen is not installed (CI is unset)"
        );
        return None;
    };
    assert!(signed.status.success(), "{signed:?}");
    Some(std::fs::read_to_string(dir.path().join("statement.sig")).unwrap())
}

/// A security key's signature over `text` with the authenticator's `flags` (0x01: its user
/// touched it), made here as an authenticator makes one: over `SHA256(application) || flags ||
/// counter || SHA256(SSHSIG signed data)`, the flags and the counter carried after the
/// signature. The key (`sk-ssh-ed25519@openssh.com`) is the same whatever the flags.
pub fn security_key_signs(text: &[u8], flags: u8) -> (CustomerKey, String) {
    use ed25519_dalek::Signer as _;
    use sha2::{Digest, Sha256};
    use ssh_key::public::{Ed25519PublicKey, KeyData, SkEd25519};
    use ssh_key::{Algorithm, HashAlg, LineEnding, Signature, SshSig};

    let device = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let public = SkEd25519::new(Ed25519PublicKey(device.verifying_key().to_bytes()), "ssh:");
    let key_data = KeyData::SkEd25519(public);
    let signed = SshSig::signed_data(SIGNATURE_NAMESPACE, HashAlg::Sha512, text).unwrap();
    let counter = 42u32.to_be_bytes();
    let mut data = Sha256::digest(b"ssh:").to_vec();
    data.push(flags);
    data.extend_from_slice(&counter);
    data.extend_from_slice(&Sha256::digest(&signed));
    let mut bytes = device.sign(&data).to_bytes().to_vec();
    bytes.push(flags);
    bytes.extend_from_slice(&counter);
    let signature = Signature::new(Algorithm::SkEd25519, bytes).unwrap();
    let sig = SshSig::new(
        key_data.clone(),
        SIGNATURE_NAMESPACE,
        HashAlg::Sha512,
        signature,
    )
    .unwrap();
    let armor = sig.to_pem(LineEnding::LF).unwrap();
    let key =
        CustomerKey::parse(&ssh_key::PublicKey::from(key_data).to_openssh().unwrap()).unwrap();
    (key, armor)
}
