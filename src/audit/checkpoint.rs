//! Signed checkpoints: the chain's head signed with an Ed25519 key and kept apart from the
//! ledger (by the auditor, in another system), so that a rewrite of the whole file from
//! the start (every hash recomputed, which the chain alone cannot show) is caught.
//!
//! The signed message is the text `tally ledger checkpoint\n<seq>\n<hash>\n` (UTF-8); a
//! checkpoint file holds it with the public key (hex) and the signature (hex).

use std::path::Path;

use anyhow::{Context, Result, bail};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::ledger::{Break, read_chain};

/// A signed head, as written to a checkpoint file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub at: String,
    pub public_key: String,
    pub signature: String,
}

fn message(seq: u64, hash: &str) -> Vec<u8> {
    format!("tally ledger checkpoint\n{seq}\n{hash}\n").into_bytes()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    let text = text.trim();
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{what}: {} hex digits expected", 2 * N);
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex digits");
    }
    Ok(out)
}

/// A new key: the private key's file (hex, mode 0600) and the public key (hex).
pub fn keygen(out: &Path) -> Result<String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist)", out.display()))?;
    file.write_all(format!("{}\n", hex(&seed)).as_bytes())?;
    file.sync_all()?;
    Ok(hex(key.verifying_key().as_bytes()))
}

pub fn signing_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key {}", path.display()))?;
    Ok(SigningKey::from_bytes(&unhex::<32>(
        &text,
        &path.display().to_string(),
    )?))
}

/// Signs the ledger's head (its chain must hold to the end).
pub fn sign(ledger: &Path, key: &Path) -> Result<Checkpoint> {
    let text = std::fs::read(ledger)
        .with_context(|| format!("cannot read the ledger {}", ledger.display()))?;
    let (entries, broken) = read_chain(&text);
    if let Some(b) = broken {
        let at = match b {
            Break::Truncated { line, .. } | Break::Bad { line, .. } => line,
        };
        bail!(
            "{}:{at}: the chain does not hold there; run `tally audit verify` (nothing signed)",
            ledger.display()
        );
    }
    let Some(last) = entries.last() else {
        bail!("{} has no entries to sign", ledger.display());
    };
    let key = signing_key(key)?;
    let signature = key.sign(&message(last.seq, &last.hash));
    Ok(Checkpoint {
        seq: last.seq,
        hash: last.hash.clone(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        public_key: hex(key.verifying_key().as_bytes()),
        signature: hex(&signature.to_bytes()),
    })
}

/// Whether a checkpoint, signed by the trusted key, still matches the chain: `None` when
/// it does, else what is wrong.
pub fn check(
    checkpoint: &Checkpoint,
    trusted: &str,
    entries: &[super::ledger::Entry],
) -> Result<Option<String>> {
    let trusted = unhex::<32>(trusted, "the trusted public key")?;
    if unhex::<32>(&checkpoint.public_key, "the checkpoint's public key")? != trusted {
        return Ok(Some(
            "the checkpoint is signed by another key than the one trusted".into(),
        ));
    }
    let key = VerifyingKey::from_bytes(&trusted).context("the trusted public key")?;
    let signature = Signature::from_bytes(&unhex::<64>(&checkpoint.signature, "the signature")?);
    if key
        .verify(&message(checkpoint.seq, &checkpoint.hash), &signature)
        .is_err()
    {
        return Ok(Some(
            "the checkpoint's signature does not verify (the checkpoint was altered)".into(),
        ));
    }
    Ok(match entries.iter().find(|e| e.seq == checkpoint.seq) {
        Some(e) if e.hash == checkpoint.hash => None,
        Some(_) => Some(format!(
            "entry {} is not the one signed at {}: the chain was rewritten",
            checkpoint.seq, checkpoint.at
        )),
        None => Some(format!(
            "the ledger does not reach entry {}, signed at {}: entries were removed",
            checkpoint.seq, checkpoint.at
        )),
    })
}

/// Signs a message with the key in `key_file`: the public key and the signature, hex.
pub fn sign_with(key_file: &Path, message: &[u8]) -> Result<(String, String)> {
    let key = signing_key(key_file)?;
    Ok((
        hex(key.verifying_key().as_bytes()),
        hex(&key.sign(message).to_bytes()),
    ))
}

/// Whether `signature` (hex) is `public_key`'s (hex) over `message`.
pub fn signed_by(public_key: &str, message: &[u8], signature: &str) -> bool {
    let (Ok(key), Ok(sig)) = (
        unhex::<32>(public_key, "public key"),
        unhex::<64>(signature, "signature"),
    ) else {
        return false;
    };
    VerifyingKey::from_bytes(&key)
        .is_ok_and(|k| k.verify(message, &Signature::from_bytes(&sig)).is_ok())
}
