//! Tamper evidence over the log: the checkpointer that signs the running hash at intervals, and
//! the verification that `pinauth audit verify` runs (formats in `pinauth_contract::chain`).

use pinauth_contract::chain::{
    self, CHAINED_PREFIXES, CHECKPOINT_STREAM, CHECKPOINT_TYPE, Checkpoint,
};
use pinauth_domain::hex;
use pinauth_store::{
    EventStore, ExpectedRevision, Filter, NewEvent, Position, RecordedEvent, StoreError, StreamName,
};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn chained_filter() -> Filter {
    Filter::StreamPrefixes(CHAINED_PREFIXES.iter().map(|p| (*p).to_owned()).collect())
}

fn checkpoint_stream() -> Result<StreamName, StoreError> {
    StreamName::parse(CHECKPOINT_STREAM)
}

/// Every checkpoint in the log, in order, with its revision.
pub async fn checkpoints(store: &dyn EventStore) -> Result<Vec<(u64, Checkpoint)>, StoreError> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let page = store.read_stream(checkpoint_stream()?, from, 1024).await?;
        for recorded in &page {
            if &*recorded.event_type != CHECKPOINT_TYPE {
                continue;
            }
            match serde_json::from_slice::<Checkpoint>(&recorded.data) {
                Ok(checkpoint) => out.push((recorded.revision, checkpoint)),
                Err(error) => {
                    tracing::warn!(%error, revision = recorded.revision, "an unreadable checkpoint was skipped")
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 1024 => from = last.revision + 1,
            _ => return Ok(out),
        }
    }
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text)?.try_into().ok()
}

/// Signs checkpoints over the chained events, every `every_events` of them or every `every`
/// when there are new ones: a subscriber, in `pinauth serve` and as `pinauth checkpointer`.
pub struct Checkpointer {
    store: Arc<dyn EventStore>,
    key: Arc<Ed25519KeyPair>,
    every_events: u64,
    every: Duration,
}

impl Checkpointer {
    /// A checkpointer over `store`, signing with `key`.
    pub fn new(
        store: Arc<dyn EventStore>,
        key: Ed25519KeyPair,
        every_events: u64,
        every: Duration,
    ) -> Self {
        Self {
            store,
            key: Arc::new(key),
            every_events: every_events.max(1),
            every,
        }
    }

    /// Where the last checkpoint left off: its revision, count, running hash and position.
    async fn resume(&self) -> Result<(Option<u64>, u64, [u8; 32], Option<Position>), StoreError> {
        let all = checkpoints(self.store.as_ref()).await?;
        Ok(match all.last() {
            None => (None, 0, chain::GENESIS, None),
            Some((revision, c)) => (
                Some(*revision),
                c.count,
                decode32(&c.running).unwrap_or(chain::GENESIS),
                Some(Position::at(c.position)),
            ),
        })
    }

    /// Runs until the process stops; a failure (or another checkpointer's checkpoint) restarts
    /// it from the last checkpoint.
    pub async fn run(self) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(%error, "the checkpointer stopped; it resumes from the last checkpoint");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Reads what the last checkpoint does not cover, up to the store's head, and signs one
    /// checkpoint over it (none when there is nothing new); answers the count signed.
    pub async fn sign_to_head(&self) -> Result<Option<u64>, StoreError> {
        let (revision, mut count, mut running, mut after) = self.resume().await?;
        let signed_count = count;
        let mut last = None;
        loop {
            let page = self.store.read_all(after, 4096, chained_filter()).await?;
            for recorded in &page {
                absorb(recorded, &mut running, &mut count);
                last = Some(recorded.position);
            }
            after = page.last().map(|e| e.position).or(after);
            if page.len() < 4096 {
                break;
            }
        }
        match last {
            Some(position) if count > signed_count => {
                self.sign(revision, count, &running, position).await?;
                Ok(Some(count))
            }
            _ => Ok(None),
        }
    }

    /// Signs checkpoints until the subscription ends or a write fails.
    pub async fn run_once(&self) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let (mut revision, mut count, mut running, after) = self.resume().await?;
        let mut signed_count = count;
        let mut last_position = after;
        let mut events = self.store.subscribe_all(after, chained_filter());
        let mut tick = tokio::time::interval(self.every);
        tick.tick().await;
        loop {
            let due = tokio::select! {
                next = events.next() => {
                    let recorded = match next {
                        Some(recorded) => recorded?,
                        None => return Ok(()),
                    };
                    absorb(&recorded, &mut running, &mut count);
                    last_position = Some(recorded.position);
                    count - signed_count >= self.every_events
                }
                _ = tick.tick() => count > signed_count,
            };
            if due && let Some(position) = last_position {
                revision = Some(self.sign(revision, count, &running, position).await?);
                signed_count = count;
            }
        }
    }

    async fn sign(
        &self,
        revision: Option<u64>,
        count: u64,
        running: &[u8; 32],
        position: Position,
    ) -> Result<u64, StoreError> {
        let signature = self.key.sign(&chain::signed_message(count, running));
        let checkpoint = Checkpoint {
            count,
            running: hex::encode(running),
            position: position.commit,
            public_key: hex::encode(self.key.public_key().as_ref()),
            signature: hex::encode(signature.as_ref()),
        };
        let data =
            serde_json::to_vec(&checkpoint).map_err(|e| StoreError::Backend(e.to_string()))?;
        let expected = revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
        let event = NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: CHECKPOINT_TYPE.to_owned(),
            data,
            metadata: b"{}".to_vec(),
        };
        let appended = self
            .store
            .append(checkpoint_stream()?, expected, vec![event])
            .await?;
        tracing::debug!(count, position = position.commit, "checkpoint signed");
        Ok(appended.next_revision)
    }
}

/// Adds a chained event to the running hash and the count (an unchained one adds nothing).
fn absorb(recorded: &RecordedEvent, running: &mut [u8; 32], count: &mut u64) {
    if let Some(found) = chain::found(&recorded.metadata) {
        *running = chain::run(running, recorded.stream.as_str(), &found);
        *count += 1;
    }
}

/// What verification found on an intact log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Events read (chained and not).
    pub events: u64,
    /// Chained events checked.
    pub chained: u64,
    /// Events written before chains (nothing about them can be checked).
    pub unchained: u64,
    /// Where verification started to check: the first chained event's position.
    pub first_chained: Option<u64>,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Chained events after the last checkpoint: their chains are checked, but nothing signed
    /// covers them yet.
    pub after_last_checkpoint: u64,
}

/// Where verification found the log altered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The global position of the first event that does not verify (for a checkpoint, of the
    /// last event it should cover, as far as the log goes).
    pub position: u64,
    /// The stream (the checkpoint stream for a checkpoint).
    pub stream: String,
    /// What is wrong.
    pub reason: String,
}

/// Verifies every chain and every checkpoint of the log, each signed by one of `public_keys`
/// (32 bytes each: the signing key now and those it replaced); `progress` is told each page's
/// last position and the events read so far.
pub async fn verify(
    store: &dyn EventStore,
    public_keys: &[Vec<u8>],
    mut progress: impl FnMut(u64, u64),
) -> Result<Result<Verified, Broken>, StoreError> {
    let broken = |position: u64, stream: &str, reason: String| Broken {
        position,
        stream: stream.to_owned(),
        reason,
    };
    let signed = checkpoints(store).await?;
    for (revision, c) in &signed {
        // The checkpoint names its key; only a trusted one counts, and it must verify.
        let named = hex::decode(&c.public_key);
        let trusted = public_keys
            .iter()
            .find(|k| Some(k.as_slice()) == named.as_deref());
        let valid = trusted.is_some_and(|key| {
            decode32(&c.running)
                .zip(hex::decode(&c.signature))
                .is_some_and(|(running, signature)| {
                    chain::verify_signature(key, c.count, &running, &signature)
                })
        });
        if !valid {
            return Ok(Err(broken(
                c.position,
                CHECKPOINT_STREAM,
                format!("checkpoint {revision} is not signed by a trusted key"),
            )));
        }
    }
    let mut pending = signed.iter().map(|(_, c)| c).peekable();
    let mut report = Verified::default();
    let mut running = chain::GENESIS;
    let mut streams: HashMap<StreamName, (u64, [u8; 32])> = HashMap::new();
    let mut after = None;
    loop {
        let page = store.read_all(after, 4096, chained_filter()).await?;
        for recorded in &page {
            report.events += 1;
            if let Err(reason) = check(recorded, &mut streams) {
                return Ok(Err(broken(
                    recorded.position.commit,
                    recorded.stream.as_str(),
                    reason,
                )));
            }
            let Some(found) = chain::found(&recorded.metadata) else {
                report.unchained += 1;
                continue;
            };
            report.first_chained.get_or_insert(recorded.position.commit);
            report.chained += 1;
            running = chain::run(&running, recorded.stream.as_str(), &found);
            while let Some(c) = pending.next_if(|c| c.count == report.chained) {
                if decode32(&c.running) != Some(running) {
                    return Ok(Err(broken(
                        recorded.position.commit,
                        recorded.stream.as_str(),
                        format!(
                            "the log up to here does not hash to checkpoint {} (of {} events at position {}): an event before it was removed, inserted, changed or moved",
                            report.checkpoints, c.count, c.position
                        ),
                    )));
                }
                report.checkpoints += 1;
            }
        }
        if let Some(last) = page.last() {
            progress(last.position.commit, report.events);
        }
        after = page.last().map(|e| e.position).or(after);
        if page.len() < 4096 {
            break;
        }
    }
    if let Some(c) = pending.next() {
        return Ok(Err(broken(
            c.position,
            CHECKPOINT_STREAM,
            format!(
                "checkpoint {} covers {} chained events, the log holds {}: events were removed",
                report.checkpoints, c.count, report.chained
            ),
        )));
    }
    report.after_last_checkpoint = report.chained
        - signed
            .last()
            .map_or(0, |(_, c)| c.count.min(report.chained));
    Ok(Ok(report))
}

/// Checks one event against its stream's previous one: revisions follow each other, and its chain
/// links to the previous chain.
fn check(
    recorded: &RecordedEvent,
    streams: &mut HashMap<StreamName, (u64, [u8; 32])>,
) -> Result<(), String> {
    let previous = streams.get(&recorded.stream).copied();
    let expected_revision = previous.map_or(0, |(r, _)| r + 1);
    if recorded.revision != expected_revision {
        return Err(format!(
            "revision {} follows revision {} of its stream: an event is missing or moved",
            recorded.revision,
            expected_revision.saturating_sub(1)
        ));
    }
    let previous_chain = previous.map_or(chain::GENESIS, |(_, c)| c);
    let chain = chain::next(&previous_chain, recorded).map_err(|broken| match broken {
        chain::Broken::Altered => format!(
            "the chain hash of revision {} does not verify: the event was changed, inserted or moved",
            recorded.revision
        ),
        chain::Broken::Unchained => format!(
            "revision {} carries no chain hash after chained events",
            recorded.revision
        ),
    })?;
    streams.insert(recorded.stream.clone(), (recorded.revision, chain));
    Ok(())
}
