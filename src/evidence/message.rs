//! What a message carries to let its reader check the vendor's log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::tlog::TlogProof;
use crate::values::RequestId;

const CHECKPOINT_BEGIN: &str = "-----BEGIN CUSTOMER LOCKBOX CHECKPOINT-----";
const CHECKPOINT_END: &str = "-----END CUSTOMER LOCKBOX CHECKPOINT-----";
const PROOF_BEGIN: &str = "-----BEGIN CUSTOMER LOCKBOX PROOF-----";
const PROOF_END: &str = "-----END CUSTOMER LOCKBOX PROOF-----";
/// The width of a base64 line in a block.
const LINE: usize = 64;

/// The inclusion proof of one record a report states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordProof {
    /// The record: its request and sequence.
    pub record: (RequestId, u64),
    /// The proof, in the tree of the report's checkpoint.
    pub proof: TlogProof,
}

/// What a message carries to let its reader check the vendor's log.
///
/// The evidence a message to a tenant's approvers carries: the tenant's latest signed
/// checkpoint, and in a post-access report an inclusion proof for each record of the request up
/// to the end of access: every action it lists, and the draft, approvals, grants and the
/// record that ended access it states.
///
/// Each is written as an armored block of base64 (the signed note, the C2SP tlog-proof text),
/// so that the message stays free of links: a checkpoint's origin and a proof's header are
/// schema-less URLs (`lockbox.vendor.example/…`, `c2sp.org/tlog-proof@v1`) that a mail client
/// would turn into links, and base64 has neither `.`, `:` nor `@`. [`Evidence::from_message`]
/// reads the blocks back from a message's text, whatever the mail client did to line endings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    checkpoint: String,
    proofs: Vec<RecordProof>,
}

/// A message's evidence block could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The message has no checkpoint block.
    #[error(
        "the message carries no checkpoint: it was sent by a store without a checkpoint signer, or the block was cut"
    )]
    NoCheckpoint,
    /// A block is not whole base64 text, or a proof's label or text is malformed.
    #[error("an evidence block is damaged ({what}): use the message as received, unedited")]
    Damaged {
        /// What was wrong.
        what: &'static str,
    },
}

fn armor(begin: &str, end: &str, text: &str) -> String {
    let encoded = STANDARD.encode(text);
    let mut block = format!("{begin}\n");
    for chunk in encoded.as_bytes().chunks(LINE) {
        block.push_str(&String::from_utf8_lossy(chunk));
        block.push('\n');
    }
    block.push_str(end);
    block.push('\n');
    block
}

impl Evidence {
    /// A checkpoint's evidence, with the proofs of the records a report states (each in the
    /// tree of that checkpoint).
    pub fn new(checkpoint: String, proofs: Vec<RecordProof>) -> Self {
        Evidence { checkpoint, proofs }
    }

    /// The signed checkpoint, verbatim.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The records' proofs.
    pub fn proofs(&self) -> &[RecordProof] {
        &self.proofs
    }

    /// The text a message ends with.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "\nEvidence. Keep this message: the block below is the latest checkpoint of your \
             organization's Customer Lockbox log, signed by the vendor's log key when this \
             message was sent. With it, anyone can check an export of the log offline and find \
             any record that was changed, removed or added afterwards.\n",
        );
        let body = self
            .checkpoint
            .split_once("\n\n")
            .map(|(body, _)| format!("{body}\n"));
        if let Some(checkpoint) = body.and_then(|body| crate::tlog::Checkpoint::parse(&body).ok()) {
            text.push_str(&format!(
                "It covers the log's first {} entries.\n",
                checkpoint.size()
            ));
        }
        text.push('\n');
        text.push_str(&armor(CHECKPOINT_BEGIN, CHECKPOINT_END, &self.checkpoint));
        if !self.proofs.is_empty() {
            text.push_str(
                "\nEach record of this request up to the end of access, every action above \
                 included, is in that log: the blocks below prove it, one per record.\n",
            );
        }
        for record in &self.proofs {
            let (request, sequence) = record.record;
            text.push_str(&format!(
                "\nRecord #{sequence} of request {request}, entry {} of the log:\n",
                record.proof.index() + 1
            ));
            text.push_str(&armor(PROOF_BEGIN, PROOF_END, &record.proof.to_text()));
        }
        text
    }

    /// The evidence a customer holds, from its text: a message from the store as received
    /// ([`from_message`](Self::from_message)), or a signed checkpoint on its own (a signed
    /// note: origin, size and root, a blank line, the signature lines).
    ///
    /// # Errors
    ///
    /// As [`from_message`](Self::from_message), for text that is neither.
    pub fn from_text(text: &str) -> Result<Evidence, EvidenceError> {
        match Evidence::from_message(text) {
            Ok(evidence) => Ok(evidence),
            Err(err) => {
                let trimmed = text.trim_end();
                let signed = trimmed.split_once("\n\n").is_some_and(|(_, signatures)| {
                    signatures.lines().all(|line| line.starts_with("\u{2014} "))
                });
                if signed {
                    Ok(Evidence::new(format!("{trimmed}\n"), Vec::new()))
                } else {
                    Err(err)
                }
            }
        }
    }

    /// The origin of the log its checkpoint is of: the checkpoint's first line (its signature
    /// is checked by verification, not here).
    pub fn origin(&self) -> &str {
        self.checkpoint.lines().next().unwrap_or_default()
    }

    /// The evidence a message's text carries.
    ///
    /// # Errors
    ///
    /// [`EvidenceError`] when it has none, or a block is damaged.
    pub fn from_message(text: &str) -> Result<Evidence, EvidenceError> {
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let block = |from: usize, end: &str| -> Result<(String, usize), EvidenceError> {
            let damaged = |what| EvidenceError::Damaged { what };
            let stop = lines
                .iter()
                .skip(from)
                .position(|line| *line == end)
                .map(|n| n + from)
                .ok_or(damaged("a block has no end line"))?;
            let encoded: String = lines.get(from..stop).unwrap_or_default().concat();
            let bytes = STANDARD
                .decode(encoded)
                .map_err(|_| damaged("a block is not base64"))?;
            let text = String::from_utf8(bytes).map_err(|_| damaged("a block is not text"))?;
            Ok((text, stop + 1))
        };
        let start = lines
            .iter()
            .position(|line| *line == CHECKPOINT_BEGIN)
            .ok_or(EvidenceError::NoCheckpoint)?;
        let (checkpoint, mut at) = block(start + 1, CHECKPOINT_END)?;
        let mut proofs = Vec::new();
        while let Some(begin) = lines.iter().skip(at).position(|line| *line == PROOF_BEGIN) {
            let begin = begin + at;
            let label = begin
                .checked_sub(1)
                .and_then(|n| lines.get(n))
                .and_then(|line| parse_label(line))
                .ok_or(EvidenceError::Damaged {
                    what: "a proof's label line",
                })?;
            let (text, next) = block(begin + 1, PROOF_END)?;
            let proof = TlogProof::parse(&text).map_err(|_| EvidenceError::Damaged {
                what: "a proof is not a tlog-proof",
            })?;
            proofs.push(RecordProof {
                record: label,
                proof,
            });
            at = next;
        }
        Ok(Evidence { checkpoint, proofs })
    }
}

/// The record a proof's label line names: `Record #<sequence> of request <id>, entry <n> of
/// the log:`.
fn parse_label(line: &str) -> Option<(RequestId, u64)> {
    let rest = line.strip_prefix("Record #")?;
    let (sequence, rest) = rest.split_once(" of request ")?;
    let (request, _) = rest.split_once(", entry ")?;
    Some((RequestId::parse(request).ok()?, sequence.parse().ok()?))
}
