//! Tamper evidence: the chain hash every event carries, and the signed checkpoints over them.
//!
//! - **Chain.** Each event of an `account-` or `lookup-` stream carries, as the last member of its
//!   metadata, `"chain": "<64 hex>"`: SHA-256 over the previous event's chain in its stream (32
//!   zero bytes for the first, or for the first after events written before chains), the event's
//!   id, type, data and its metadata without the chain member, each length-prefixed ([`link`]).
//!   Per stream, so it holds on KurrentDB, where the global order is the server's.
//! - **Running hash.** Over the chained events in the global order: SHA-256 over the previous
//!   running hash, the stream name and the event's chain ([`run`]).
//! - **Checkpoint.** A `CheckpointSigned` event in the [`CHECKPOINT_STREAM`] holds how many
//!   chained events it covers, the running hash after them, the position of the last one, and an
//!   Ed25519 signature over the count and the running hash ([`signed_message`]).
//!
//! The chain is not keyed: whoever can write the store can recompute it. What it proves against
//! such a writer comes from the checkpoints, which need the signing key: any change to, removal
//! from or insertion into what a checkpoint covers changes its running hash.

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

/// The chain before a stream's first chained event.
pub const GENESIS: [u8; 32] = [0; 32];

/// The stream the checkpointer appends to.
pub const CHECKPOINT_STREAM: &str = "audit-checkpoints";

/// The event type of a checkpoint.
pub const CHECKPOINT_TYPE: &str = "CheckpointSigned";

/// The stream prefixes whose events are chained and checkpointed (snapshot and data-key streams
/// are not: snapshots are a cache that is replaced, data keys are erased).
pub const CHAINED_PREFIXES: [&str; 2] = ["account-", "lookup-"];

fn length_prefixed(context: &mut Context, bytes: &[u8]) {
    context.update(&u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
    context.update(bytes);
}

/// The chain of an event after `previous`: see the module header.
pub fn link(
    previous: &[u8; 32],
    id: &uuid::Uuid,
    event_type: &str,
    data: &[u8],
    unchained_metadata: &[u8],
) -> [u8; 32] {
    link_parts(previous, id, event_type, data, &[unchained_metadata])
}

/// [`link`] with the metadata given in parts, hashed as their concatenation (no copy).
fn link_parts(
    previous: &[u8; 32],
    id: &uuid::Uuid,
    event_type: &str,
    data: &[u8],
    metadata: &[&[u8]],
) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(b"pinauth-chain-v1");
    context.update(previous);
    context.update(id.as_bytes());
    length_prefixed(&mut context, event_type.as_bytes());
    length_prefixed(&mut context, data);
    let len: usize = metadata.iter().map(|part| part.len()).sum();
    context.update(&u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
    for part in metadata {
        context.update(part);
    }
    digest(context)
}

/// The running hash after an event of `stream` with `chain`, following `previous`.
pub fn run(previous: &[u8; 32], stream: &str, chain: &[u8; 32]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(b"pinauth-run-v1");
    context.update(previous);
    length_prefixed(&mut context, stream.as_bytes());
    context.update(chain);
    digest(context)
}

fn digest(context: Context) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

const MEMBER: &[u8] = b"\"chain\":\"";

/// `unchained` (a JSON object's bytes) with the chain as its last member.
pub fn chained_metadata(unchained: &[u8], chain: &[u8; 32]) -> Vec<u8> {
    let hex = pinauth_domain::hex::encode(chain);
    let body = unchained.strip_suffix(b"}").unwrap_or(unchained);
    let empty = body.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut out = Vec::with_capacity(unchained.len() + 76);
    out.extend_from_slice(body);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(MEMBER);
    out.extend_from_slice(hex.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// The metadata's members before its chain (the opening brace included, without the comma
/// before the chain), and the chain; `None` when it carries none (an event written before
/// chains) or it is not the last member as [`chained_metadata`] writes it. The metadata without
/// its chain is the members and a closing brace.
fn parse(metadata: &[u8]) -> Option<(&[u8], [u8; 32])> {
    let tail_len = MEMBER.len() + 64 + 2;
    let start = metadata.len().checked_sub(tail_len)?;
    let (body, tail) = metadata.split_at(start);
    let hex = tail.strip_prefix(MEMBER)?.strip_suffix(b"\"}")?;
    let found = decode_hex32(hex)?;
    let members = match body.strip_suffix(b",") {
        Some(members) => members,
        None if body.ends_with(b"{") => body,
        None => return None,
    };
    Some((members, found))
}

/// The chain the metadata carries; `None` when it carries none.
pub fn found(metadata: &[u8]) -> Option<[u8; 32]> {
    parse(metadata).map(|(_, found)| found)
}

/// The chain `recorded` metadata carries and the chain its event should carry after `previous`,
/// computed without copying anything (the read side checks every event it applies); `None` when
/// the metadata carries no chain.
fn expected_and_found(
    previous: &[u8; 32],
    id: &uuid::Uuid,
    event_type: &str,
    data: &[u8],
    metadata: &[u8],
) -> Option<([u8; 32], [u8; 32])> {
    let (members, found) = parse(metadata)?;
    let expected = link_parts(previous, id, event_type, data, &[members, b"}"]);
    Some((expected, found))
}

/// Why an event does not continue its stream's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// Its chain hash does not verify: it was changed, inserted or moved.
    Altered,
    /// It carries no chain hash after chained events.
    Unchained,
}

/// The stream's chain after `recorded`, whose previous event left `previous`: the event's own
/// chain when it carries one that verifies; `previous` unchanged for an event written before
/// chains, which may only come before the stream's first chained one. The one check that the
/// command side, the read side and `audit verify` all make.
pub fn next(
    previous: &[u8; 32],
    recorded: &pinauth_store::RecordedEvent,
) -> Result<[u8; 32], Broken> {
    match expected_and_found(
        previous,
        &recorded.id,
        &recorded.event_type,
        &recorded.data,
        &recorded.metadata,
    ) {
        Some((expected, found)) if expected == found => Ok(found),
        Some(_) => Err(Broken::Altered),
        None if *previous == GENESIS => Ok(*previous),
        None => Err(Broken::Unchained),
    }
}

/// Hex digit values (0xFF: not a hex digit), for the decode every verified event makes.
// Evaluated at compile time: an index out of range would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const NIBBLES: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn decode_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let &[hi, lo] = pair else {
            return None;
        };
        let nibble = |c: u8| NIBBLES.get(usize::from(c)).copied().unwrap_or(0xFF);
        let (hi, lo) = (nibble(hi), nibble(lo));
        bad |= (hi | lo) & 0xF0;
        *byte = (hi << 4) | (lo & 0x0F);
    }
    (bad == 0).then_some(out)
}

/// What a checkpoint says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Chained events covered, in the global order, from the first.
    pub count: u64,
    /// The running hash after them, hex.
    pub running: String,
    /// The global (commit) position of the last one.
    pub position: u64,
    /// The Ed25519 public key that signed it, hex.
    pub public_key: String,
    /// The signature over [`signed_message`], hex.
    pub signature: String,
}

/// What a checkpoint's signature covers.
pub fn signed_message(count: u64, running: &[u8; 32]) -> Vec<u8> {
    let mut message = b"pinauth-checkpoint-v1".to_vec();
    message.extend_from_slice(&count.to_be_bytes());
    message.extend_from_slice(running);
    message
}

/// Whether `checkpoint` is signed by `public_key` (32 bytes) over `count` and `running`.
pub fn verify_signature(
    public_key: &[u8],
    count: u64,
    running: &[u8; 32],
    signature: &[u8],
) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&signed_message(count, running), signature)
        .is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn metadata_carries_its_chain_as_its_last_member_and_gives_it_back() {
        let chain = [7u8; 32];
        for unchained in [&b"{}"[..], br#"{"occurred_at":1,"policy":"p"}"#] {
            let chained = chained_metadata(unchained, &chain);
            let value: serde_json::Value = serde_json::from_slice(&chained).unwrap();
            assert_eq!(value["chain"], pinauth_domain::hex::encode(&chain));
            let (members, found) = parse(&chained).unwrap();
            assert_eq!(
                ([members, b"}"].concat(), found),
                (unchained.to_vec(), chain)
            );
        }
        assert_eq!(found(b"{}"), None);
        let id = uuid::Uuid::from_u128(3);
        for unchained in [&b"{}"[..], br#"{"a":1}"#] {
            let chained = chained_metadata(unchained, &chain);
            let (expected, found) = expected_and_found(&GENESIS, &id, "T", b"d", &chained).unwrap();
            assert_eq!(found, chain);
            assert_eq!(expected, link(&GENESIS, &id, "T", b"d", unchained));
        }
        assert_eq!(found(br#"{"policy":"p"}"#), None);
    }

    #[test]
    fn a_link_changes_with_every_byte_it_covers() {
        let id = uuid::Uuid::from_u128(1);
        let base = link(&GENESIS, &id, "T", b"data", b"{}");
        assert_ne!(base, link(&[1; 32], &id, "T", b"data", b"{}"));
        assert_ne!(
            base,
            link(&GENESIS, &uuid::Uuid::from_u128(2), "T", b"data", b"{}")
        );
        assert_ne!(base, link(&GENESIS, &id, "U", b"data", b"{}"));
        assert_ne!(base, link(&GENESIS, &id, "T", b"datb", b"{}"));
        assert_ne!(base, link(&GENESIS, &id, "T", b"data", b"{ }"));
        // Lengths are prefixed: bytes moved between fields change it too.
        assert_ne!(link(&GENESIS, &id, "Td", b"ata", b"{}"), base);
        assert_eq!(
            pinauth_domain::hex::encode(&base),
            pinauth_domain::hex::encode(&link(&GENESIS, &id, "T", b"data", b"{}"))
        );
    }
}
