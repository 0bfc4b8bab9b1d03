//! The snapshot encoding of the read models, streamed both ways (nothing the size of the models is
//! buffered):
//!
//! - a header: `MAGIC` (its last byte is the version), the position (`u64::MAX` for none) and the
//!   length of the JSON part, little-endian;
//! - the JSON part: the [`AccountView`]s in account-number order, the clients of their attempts in
//!   one table, and per account its attempts as [`AttemptRecord`]s naming their client by index;
//! - the number of live token slots, then one fixed-size record each: the token key (16 bytes) and
//!   the slot's 12 (see [`Slot::to_le_bytes`]). Revoked and dropped slots are not written.
//!
//! A change to any of these, or to the serde shape of a type in the JSON part, changes `MAGIC`:
//! an older snapshot then fails to decode and the read models are rebuilt from the log.

use super::ReadModels;
use super::accounts::AccountView;
use super::attempts::{Attempt, AttemptOutcome, Client, Clients, RecentAttempts};
use crate::cursor::Cursor;
use crate::sessions::Slot;
use crate::snapshot::{DecodeError, Encoded, Snapshotted};
use crate::tokens::TokenKey;
use pinauth_domain::{AttemptFlow, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"pinRM\x00\x00\x04";
const RECORD: usize = 28;

/// The snapshot encoding of read models (from [`Snapshotted::encoding`]).
pub struct Encoding<'a> {
    models: &'a ReadModels,
    body: SnapshotBodyRef<'a>,
    json_len: usize,
    tokens: usize,
}

impl ReadModels {
    /// The snapshot encoding, in memory (see [`Encoded::write_to`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let encoding = self.measure()?;
        let mut out = Vec::with_capacity(encoding.size());
        encoding.write_to(&mut out)?;
        Ok(out)
    }

    /// Reads what [`ReadModels::to_bytes`] wrote.
    pub fn from_bytes(mut bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_from(&mut bytes)
    }

    fn snapshot_body(&self) -> SnapshotBodyRef<'_> {
        let mut clients = Vec::new();
        let mut numbers = HashMap::new();
        for client in self
            .accounts
            .iter()
            .flat_map(|a| a.attempts.as_slice())
            .flat_map(|a| &a.client)
        {
            numbers.entry(Arc::as_ptr(client)).or_insert_with(|| {
                clients.push(&**client);
                (clients.len() - 1) as u32
            });
        }
        SnapshotBodyRef {
            accounts: &self.accounts,
            clients,
            numbers,
        }
    }

    /// The snapshot encoding, measured (one counting pass) but not made: its size is known
    /// before it is streamed.
    fn measure(&self) -> Result<Encoding<'_>, serde_json::Error> {
        let body = self.snapshot_body();
        let mut json = Counter(0);
        serde_json::to_writer(&mut json, &body)?;
        Ok(Encoding {
            models: self,
            body,
            json_len: json.0,
            tokens: self.live_tokens().count(),
        })
    }

    /// Reads what [`Encoding::write_to`] wrote, streaming; the input must end where it does.
    fn decode_from(input: &mut impl std::io::Read) -> Result<Self, DecodeError> {
        use std::io::Read as _;
        fn u64_from(input: &mut impl std::io::Read) -> Result<u64, DecodeError> {
            let mut bytes = [0u8; 8];
            input.read_exact(&mut bytes)?;
            Ok(u64::from_le_bytes(bytes))
        }
        let mut magic = [0u8; MAGIC.len()];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(DecodeError::Format);
        }
        let position = Some(u64_from(input)?).filter(|p| *p != u64::MAX);
        let json_len = u64_from(input)?;
        let mut json = std::io::Read::take(&mut *input, json_len);
        let body: SnapshotBody =
            serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, &mut json))?;
        if json.limit() != 0 || body.attempts.len() != body.accounts.len() {
            return Err(DecodeError::Format);
        }
        let SnapshotBody {
            mut accounts,
            clients,
            attempts,
        } = body;
        accounts.shrink_to_fit();
        let clients: Vec<Arc<Client>> = clients.into_iter().map(Arc::new).collect();
        let mut models = Self {
            cursor: Cursor::at(position),
            ..Self::default()
        };
        for (view, records) in accounts.iter_mut().zip(attempts) {
            if !models.cursor.restore(view.id) {
                return Err(DecodeError::Format);
            }
            view.attempts = RecentAttempts::restore(
                records
                    .iter()
                    .map(
                        |&AttemptRecord(at, flow, outcome, lock_triggered, client)| {
                            let client = match client {
                                Some(i) => Some(Arc::clone(
                                    clients.get(i as usize).ok_or(DecodeError::Format)?,
                                )),
                                None => None,
                            };
                            Ok(Attempt {
                                at,
                                flow,
                                outcome,
                                lock_triggered,
                                client,
                            })
                        },
                    )
                    .collect::<Result<_, DecodeError>>()?,
            );
        }
        models.clients = Clients::restore(clients);
        models.accounts = accounts;
        let count = usize::try_from(u64_from(input)?).map_err(|_| DecodeError::Format)?;
        // Reserved as the records arrive: a corrupt count must not allocate at once.
        let mut input = std::io::BufReader::with_capacity(1 << 16, input);
        let mut record = [0u8; RECORD];
        for _ in 0..count {
            input.read_exact(&mut record)?;
            let (key, slot) = record
                .split_first_chunk::<16>()
                .ok_or(DecodeError::Format)?;
            let key = TokenKey(*key);
            let slot = Slot::from_le_bytes(slot.try_into().map_err(|_| DecodeError::Format)?);
            if slot.account() as usize >= models.accounts.len() {
                return Err(DecodeError::Format);
            }
            models.tokens.restore(key, slot);
        }
        if std::io::Read::read(&mut input, &mut record)? != 0 {
            return Err(DecodeError::Format);
        }
        Ok(models)
    }
}

impl Snapshotted for ReadModels {
    type Encoding<'a> = Encoding<'a>;

    fn position(&self) -> Option<u64> {
        self.cursor.position()
    }

    fn encoding(&self) -> Result<Encoding<'_>, serde_json::Error> {
        self.measure()
    }

    fn read_from(input: &mut impl std::io::Read) -> Result<Self, DecodeError> {
        Self::decode_from(input)
    }
}

impl Encoded for Encoding<'_> {
    /// Its size in bytes.
    fn size(&self) -> usize {
        MAGIC.len() + 3 * 8 + self.json_len + self.tokens * RECORD
    }

    /// Streams it into `out`: a header, the accounts as JSON, then the live token slots as
    /// fixed-size records (28 bytes each). Nothing the size of the models is buffered.
    fn write_to(&self, out: &mut impl std::io::Write) -> Result<(), serde_json::Error> {
        let io = serde_json::Error::io;
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&self.models.position().unwrap_or(u64::MAX).to_le_bytes())
            .map_err(io)?;
        out.write_all(&(self.json_len as u64).to_le_bytes())
            .map_err(io)?;
        serde_json::to_writer(&mut *out, &self.body)?;
        out.write_all(&(self.tokens as u64).to_le_bytes())
            .map_err(io)?;
        for (key, slot) in self.models.live_tokens() {
            let mut record = [0u8; RECORD];
            for (to, from) in record
                .iter_mut()
                .zip(key.0.iter().chain(&slot.to_le_bytes()))
            {
                *to = *from;
            }
            out.write_all(&record).map_err(io)?;
        }
        Ok(())
    }
}

/// An attempt in a snapshot: its client as an index into the snapshot's client table.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct AttemptRecord(Timestamp, AttemptFlow, AttemptOutcome, bool, Option<u32>);

/// The JSON part of a snapshot, as read.
#[derive(Deserialize)]
struct SnapshotBody {
    accounts: Vec<AccountView>,
    clients: Vec<Client>,
    /// One list per account, in the order of `accounts`.
    attempts: Vec<Vec<AttemptRecord>>,
}

/// The JSON part of a snapshot, as written: borrowed from the models, clients numbered by identity
/// (attempts share interned clients).
struct SnapshotBodyRef<'a> {
    accounts: &'a [AccountView],
    clients: Vec<&'a Client>,
    numbers: HashMap<*const Client, u32>,
}

impl Serialize for SnapshotBodyRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut body = s.serialize_struct("SnapshotBody", 3)?;
        body.serialize_field("accounts", self.accounts)?;
        body.serialize_field("clients", &self.clients)?;
        body.serialize_field("attempts", &AttemptLists(self))?;
        body.end()
    }
}

struct AttemptLists<'a>(&'a SnapshotBodyRef<'a>);

impl Serialize for AttemptLists<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .accounts
                .iter()
                .map(|account| Attempts(account.attempts.as_slice(), &self.0.numbers)),
        )
    }
}

struct Attempts<'a>(&'a [Attempt], &'a HashMap<*const Client, u32>);

impl Serialize for Attempts<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| {
            AttemptRecord(
                a.at,
                a.flow,
                a.outcome,
                a.lock_triggered,
                a.client
                    .as_ref()
                    .and_then(|c| self.1.get(&Arc::as_ptr(c)).copied()),
            )
        }))
    }
}

/// Counts what is written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_refuse_other_formats() {
        assert!(matches!(
            ReadModels::from_bytes(b"{\"position\":1}"),
            Err(DecodeError::Format)
        ));
        let bytes = ReadModels::default().to_bytes().unwrap();
        assert_eq!(bytes.len(), ReadModels::default().measure().unwrap().size());
        assert_eq!(
            ReadModels::from_bytes(&bytes).unwrap(),
            ReadModels::default()
        );
        assert!(ReadModels::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn token_records_are_a_key_and_a_slot() {
        assert_eq!(RECORD, std::mem::size_of::<(TokenKey, Slot)>());
    }
}
