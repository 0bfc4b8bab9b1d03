//! The `snapshot` target: the read models' snapshot codec and the command side's account
//! snapshots, from garbage and from models folded from a fuzzed history.

use pinauth_domain::{Account, Event, evolve};
use pinauth_projections::ReadModels;
use pinauth_projections::snapshot::Snapshotted;
use pinauth_store::{Position, RecordedEvent, StreamName};
use std::sync::Arc;

/// Lines of a history read, at most (the read models keep 100 attempts an account).
const MAX_EVENTS: usize = 300;
/// Accounts a history names (its lines' first byte, modulo this; one more is a lookup stream).
const ACCOUNTS: u8 = 4;

/// Any `data` is read as a read-model snapshot and as an account snapshot, which must not panic,
/// and what decodes must encode and decode to the same models (and the same size).
///
/// `data` that is neither (it starts with neither the read models' magic nor `{`) is also read as
/// a history: one event a line, `A DATA [\tMETADATA]`. `A` is the account: `'0'` to `'3'` four
/// accounts, `'4'` a lookup stream the read models pass over (the byte minus `'0'`, modulo 5).
/// `DATA` is the stored event (its type, as the store gives it, its own tag), `METADATA` its
/// metadata (the client of an attempt). The read models and each account's state folded from it
/// must round-trip through their snapshots, and a snapshot taken halfway, restored and given the
/// rest, must give what the whole history gives.
pub fn snapshot(data: &[u8]) {
    read_models(data);
    account(data);
    if !data.starts_with(b"pinRM") && !data.starts_with(b"{") {
        history(data);
    }
}

/// A reader that hands out at most `max` bytes a call: the snapshot store streams from a blob.
struct Trickle<'a> {
    bytes: &'a [u8],
    max: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.max.min(out.len()).min(self.bytes.len());
        let (head, tail) = self.bytes.split_at(n);
        if let Some(out) = out.get_mut(..n) {
            out.copy_from_slice(head);
        }
        self.bytes = tail;
        Ok(n)
    }
}

fn read_models(bytes: &[u8]) {
    let decoded = ReadModels::from_bytes(bytes);
    // Streamed in small reads, it decodes alike.
    let streamed = ReadModels::read_from(&mut Trickle { bytes, max: 7 });
    assert_eq!(
        decoded.as_ref().ok(),
        streamed.as_ref().ok(),
        "a snapshot read whole and read in small pieces"
    );
    if let Ok(models) = decoded {
        round_trip(&models);
    }
}

/// `models` encode, and decode to the same models, which encode to the same size.
fn round_trip(models: &ReadModels) -> ReadModels {
    let encoded = models.to_bytes();
    assert!(encoded.is_ok(), "read models do not encode: {encoded:?}");
    let encoded = encoded.unwrap_or_default();
    let decoded = ReadModels::from_bytes(&encoded);
    assert!(
        decoded.as_ref().is_ok_and(|d| d == models),
        "read models encoded do not decode as themselves: {decoded:?}"
    );
    let decoded = decoded.unwrap_or_default();
    assert_eq!(
        decoded.to_bytes().map(|b| b.len()).ok(),
        Some(encoded.len()),
        "read models re-encoded to another size"
    );
    decoded
}

fn account(bytes: &[u8]) {
    if let Some(state) = pinauth_domain::snapshot::decode(bytes) {
        account_round_trip(&state);
    }
}

fn account_round_trip(state: &Account) -> Account {
    let encoded = pinauth_domain::snapshot::encode(state);
    assert!(encoded.is_ok(), "an account does not encode: {encoded:?}");
    let decoded = pinauth_domain::snapshot::decode(&encoded.unwrap_or_default());
    assert_eq!(
        decoded.as_ref(),
        Some(state),
        "an account snapshot does not decode as itself"
    );
    decoded.unwrap_or_default()
}

fn history(data: &[u8]) {
    let events: Vec<RecordedEvent> = data
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .take(MAX_EVENTS)
        .enumerate()
        .filter_map(|(i, line)| recorded(i, line))
        .collect();
    let half = events.len() / 2;

    // The read models: whole, and from a snapshot taken halfway.
    let mut whole = ReadModels::default();
    for event in &events {
        whole.apply(event);
    }
    round_trip(&whole);
    let mut first = ReadModels::default();
    for event in events.iter().take(half) {
        first.apply(event);
    }
    let mut resumed = round_trip(&first);
    for event in &events {
        // Those before the snapshot's position are skipped.
        resumed.apply(event);
    }
    assert!(
        resumed == whole,
        "read models resumed from a snapshot differ from the whole history's"
    );

    // Each account's state, as the command side folds it: whole, and from a snapshot.
    for account in 0..ACCOUNTS {
        let stream = stream_of(account);
        let decoded: Vec<Event> = events
            .iter()
            .filter(|e| e.stream.as_str() == stream)
            .filter_map(|e| Event::from_stored(&e.event_type, &e.data).ok())
            .collect();
        if decoded.is_empty() {
            continue;
        }
        let whole = decoded.iter().fold(Account::default(), evolve);
        account_round_trip(&whole);
        let half = decoded.len() / 2;
        let first = decoded.iter().take(half).fold(Account::default(), evolve);
        let resumed = decoded
            .iter()
            .skip(half)
            .fold(account_round_trip(&first), evolve);
        assert_eq!(
            resumed, whole,
            "an account resumed from a snapshot differs from its whole history's"
        );
    }
}

fn stream_of(account: u8) -> String {
    if account >= ACCOUNTS {
        return "lookup-email-x".to_owned();
    }
    format!(
        "account-{}",
        uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | u128::from(account))
    )
}

/// Line `i` of a history as the store would hand it over.
fn recorded(i: usize, line: &[u8]) -> Option<RecordedEvent> {
    let (&account, rest) = line.split_first()?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let (data, metadata) = match rest.iter().position(|b| *b == b'\t') {
        Some(tab) => (rest.get(..tab)?, rest.get(tab + 1..)?),
        None => (rest, &b""[..]),
    };
    let event_type = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("event_type")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let n = u64::try_from(i).ok()?;
    Some(RecordedEvent {
        stream: StreamName::parse(&stream_of(account.wrapping_sub(b'0') % (ACCOUNTS + 1))).ok()?,
        // Revisions are not read by the models.
        revision: n,
        position: Position::at(n + 1),
        id: uuid::Uuid::from_u128(u128::from(n) + 1),
        event_type: Arc::from(event_type),
        data: bytes::Bytes::copy_from_slice(data),
        metadata: bytes::Bytes::copy_from_slice(metadata),
        recorded_at_ms: 0,
    })
}
