//! The key store: one data key per account, kept outside the event log so that erasing it makes
//! the account's sealed personal data unreadable (crypto-shredding) while its events stay.
//!
//! The store keeps opaque bytes (the data key wrapped under the service's wrapping key, by
//! `pinauth_contract::datakey`) and knows nothing of them, like the event store. Adapters:
//! - [`SqliteKeyStore`]: the embedded default, a file of its own in the data folder, with
//!   `secure_delete` on and a rollback journal, so an erased key is overwritten in the file and
//!   lingers in no write-ahead log;
//! - [`LogKeyStore`]: a stream `datakey-{uuid}` per account in an event store every replica
//!   shares (KurrentDB deployments); its erasure is a tombstone, physical after a scavenge;
//! - [`MemoryKeyStore`], for tests.
//!
//! [`CachedKeys`] keeps the keys read lately in memory: the query side opens a profile on every
//! profile request.

use crate::{BoxFuture, EventStore, ExpectedRevision, NewEvent, StoreError, StreamName};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Accounts with their wrapped keys (`None`: none), as [`KeyStore::get_many`] answers.
pub type KeysOf = Vec<(Uuid, Option<Vec<u8>>)>;

/// The key store port: a wrapped data key per account id.
pub trait KeyStore: Send + Sync + 'static {
    /// Keeps `wrapped` as the key of `account` unless it has one; answers the key kept (the one
    /// given, or the earlier one: the first writer wins, so concurrent creators agree).
    fn create(&self, account: Uuid, wrapped: Vec<u8>)
    -> BoxFuture<'_, Result<Vec<u8>, StoreError>>;

    /// The key of `account`; `None` when it never had one or it was erased.
    fn get(&self, account: Uuid) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>>;

    /// Erases the key of `account`, for good; erasing a missing key is not an error.
    fn erase(&self, account: Uuid) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Keeps `wrapped` as the key of `account` in place of `old` (the same data key wrapped anew,
    /// under another wrapping key), only while `old` is still the key kept: answers whether it
    /// replaced it (not when the key was erased or replaced meanwhile).
    fn replace(
        &self,
        account: Uuid,
        old: Vec<u8>,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// [`KeyStore::create`] for many accounts, in one go where the adapter can (one transaction,
    /// one sync): what an import of many accounts asks for. Answers the keys kept, in order.
    fn create_many(
        &self,
        keys: Vec<(Uuid, Vec<u8>)>,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(keys.len());
            for (account, wrapped) in keys {
                out.push(self.create(account, wrapped).await?);
            }
            Ok(out)
        })
    }

    /// The keys of `accounts` (`None` where there is none), in one go where the adapter can:
    /// what a replay that opens many accounts' data asks for.
    fn get_many(&self, accounts: Vec<Uuid>) -> BoxFuture<'_, Result<KeysOf, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(accounts.len());
            for account in accounts {
                out.push((account, self.get(account).await?));
            }
            Ok(out)
        })
    }
}

/// Keys in memory, for tests.
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: Mutex<HashMap<Uuid, Vec<u8>>>,
}

impl MemoryKeyStore {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<u8>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyStore for MemoryKeyStore {
    fn create(
        &self,
        account: Uuid,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        let kept = self.keys().entry(account).or_insert(wrapped).clone();
        Box::pin(async move { kept_or_erased(kept) })
    }

    fn get(&self, account: Uuid) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        let kept = self.keys().get(&account).cloned().filter(|k| !k.is_empty());
        Box::pin(async move { Ok(kept) })
    }

    fn erase(&self, account: Uuid) -> BoxFuture<'_, Result<(), StoreError>> {
        // An empty key marks the erasure: the account never gets one again.
        self.keys().insert(account, Vec::new());
        Box::pin(async { Ok(()) })
    }

    fn replace(
        &self,
        account: Uuid,
        old: Vec<u8>,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let replaced = match self.keys().get_mut(&account) {
            Some(kept) if !kept.is_empty() && *kept == old => {
                *kept = wrapped;
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(replaced) })
    }
}

/// A kept key, or the refusal to make one again for an account whose key was erased (an empty
/// key marks the erasure).
fn kept_or_erased(kept: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    if kept.is_empty() {
        return Err(StoreError::Backend(
            "the account's data key was erased: it is never made again".into(),
        ));
    }
    Ok(kept)
}

/// Keys in a SQLite file of their own (`datakeys.db` in the data folder).
pub struct SqliteKeyStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl SqliteKeyStore {
    /// Opens (or creates) the key file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        // A deleted row's bytes are overwritten with zeros, and the rollback journal that held
        // the page before the delete is removed when the transaction ends: no copy of an erased
        // key stays in the file or beside it (a WAL would keep old pages until a checkpoint).
        conn.pragma_update(None, "secure_delete", true)
            .map_err(backend)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode=DELETE", [], |row| row.get(0))
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS data_keys (
                account BLOB PRIMARY KEY NOT NULL,
                wrapped BLOB NOT NULL
            ) WITHOUT ROWID;",
        )
        .map_err(backend)?;
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let conn = Arc::clone(&self.conn);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                work(&mut conn).map_err(backend)
            })
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
        })
    }
}

impl KeyStore for SqliteKeyStore {
    fn create(
        &self,
        account: Uuid,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        let kept = self.with(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO data_keys (account, wrapped) VALUES (?1, ?2)
                 ON CONFLICT (account) DO NOTHING",
                rusqlite::params![account.as_bytes(), wrapped],
            )?;
            let kept: Vec<u8> = tx.query_row(
                "SELECT wrapped FROM data_keys WHERE account = ?1",
                [account.as_bytes()],
                |row| row.get(0),
            )?;
            tx.commit()?;
            Ok(kept)
        });
        Box::pin(async move { kept_or_erased(kept.await?) })
    }

    fn create_many(
        &self,
        keys: Vec<(Uuid, Vec<u8>)>,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>, StoreError>> {
        let kept = self.with(move |conn| {
            let tx = conn.transaction()?;
            let mut kept = Vec::with_capacity(keys.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO data_keys (account, wrapped) VALUES (?1, ?2)
                     ON CONFLICT (account) DO NOTHING",
                )?;
                let mut select =
                    tx.prepare_cached("SELECT wrapped FROM data_keys WHERE account = ?1")?;
                for (account, wrapped) in &keys {
                    insert.execute(rusqlite::params![account.as_bytes(), wrapped])?;
                    kept.push(select.query_row([account.as_bytes()], |row| row.get(0))?);
                }
            }
            tx.commit()?;
            Ok(kept)
        });
        Box::pin(async move { kept.await?.into_iter().map(kept_or_erased).collect() })
    }

    fn get(&self, account: Uuid) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        self.with(move |conn| {
            conn.query_row(
                "SELECT wrapped FROM data_keys WHERE account = ?1 AND length(wrapped) > 0",
                [account.as_bytes()],
                |row| row.get(0),
            )
            .optional()
        })
    }

    fn get_many(&self, accounts: Vec<Uuid>) -> BoxFuture<'_, Result<KeysOf, StoreError>> {
        // One trip to the blocking pool for all of them, not one each.
        self.with(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT wrapped FROM data_keys WHERE account = ?1 AND length(wrapped) > 0",
            )?;
            accounts
                .into_iter()
                .map(|account| {
                    let kept = select
                        .query_row([account.as_bytes()], |row| row.get(0))
                        .optional()?;
                    Ok((account, kept))
                })
                .collect()
        })
    }

    fn erase(&self, account: Uuid) -> BoxFuture<'_, Result<(), StoreError>> {
        // The row stays with an empty key (overwritten in place, `secure_delete` zeroing what the
        // shorter row frees): the account never gets a key again.
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO data_keys (account, wrapped) VALUES (?1, X'')
                 ON CONFLICT (account) DO UPDATE SET wrapped = X''",
                [account.as_bytes()],
            )?;
            Ok(())
        })
    }

    fn replace(
        &self,
        account: Uuid,
        old: Vec<u8>,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.with(move |conn| {
            let changed = conn.execute(
                "UPDATE data_keys SET wrapped = ?3
                 WHERE account = ?1 AND wrapped = ?2 AND length(wrapped) > 0",
                rusqlite::params![account.as_bytes(), old, wrapped],
            )?;
            Ok(changed == 1)
        })
    }
}

/// The event type of a key stream's first event.
pub const DATA_KEY_CREATED: &str = "DataKeyCreated";

/// The event type that erases a key kept in an event store.
pub const DATA_KEY_ERASED: &str = "DataKeyErased";

/// The event type that keeps the same data key wrapped anew (under another wrapping key).
pub const DATA_KEY_REWRAPPED: &str = "DataKeyRewrapped";

/// Keys in an event store that every replica shares: stream `datakey-{uuid}`, a
/// `DataKeyCreated` event holding the wrapped key in hex, created with `NoStream` (so the first
/// writer wins), then a `DataKeyRewrapped` for each rewrap; the last event decides. The read side's subscriptions filter on `account-` and never see these streams.
///
/// Erasure appends `DataKeyErased`: from then on every replica reads the key as gone, and it is
/// never made again. The wrapped key's bytes stay in the database (wrapped: useless without the
/// wrapping key) until the stream is hard-deleted and scavenged, which the event store port does
/// not offer yet.
pub struct LogKeyStore {
    store: Arc<dyn EventStore>,
}

impl LogKeyStore {
    /// Keys in `store`.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    fn stream(account: Uuid) -> Result<StreamName, StoreError> {
        StreamName::parse(&format!("datakey-{}", account.simple()))
    }

    /// The key stream's last revision and the key it keeps now (`None`: erased), or `None` when
    /// there is no stream. Key streams are short: a creation, a rewrap per rotation, perhaps an
    /// erasure.
    async fn state(&self, account: Uuid) -> Result<Option<(u64, Option<Vec<u8>>)>, StoreError> {
        let events = self
            .store
            .read_stream(Self::stream(account)?, 0, usize::MAX)
            .await?;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        if &*last.event_type == DATA_KEY_ERASED {
            return Ok(Some((last.revision, None)));
        }
        let record: KeyRecord = serde_json::from_slice(&last.data)
            .map_err(|e| StoreError::Backend(format!("a data key record does not decode: {e}")))?;
        let wrapped = decode_hex(&record.wrapped)
            .ok_or_else(|| StoreError::Backend("a data key record is not hex".into()))?;
        Ok(Some((last.revision, Some(wrapped))))
    }

    async fn read(&self, account: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state(account).await?.and_then(|(_, kept)| kept))
    }

    /// Appends `event` to the key stream of `account` right after `revision`; false when the
    /// stream moved on meanwhile (another process erased or rewrapped the key).
    async fn append_after(
        &self,
        account: Uuid,
        revision: u64,
        event: NewEvent,
    ) -> Result<bool, StoreError> {
        let stream = Self::stream(account)?;
        match self
            .store
            .append(stream, ExpectedRevision::Exact(revision), vec![event])
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::WrongExpectedRevision { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    fn record(event_type: &str, wrapped: Option<&[u8]>) -> Result<NewEvent, StoreError> {
        let data = match wrapped {
            Some(wrapped) => serde_json::to_vec(&KeyRecord {
                wrapped: encode_hex(wrapped),
            })
            .map_err(|e| StoreError::Backend(e.to_string()))?,
            None => b"{}".to_vec(),
        };
        Ok(NewEvent {
            // Random, not derived from the account: two creators with different keys must
            // conflict (NoStream), not pass for a retry of one append.
            id: Uuid::new_v4(),
            event_type: event_type.to_owned(),
            data,
            metadata: b"{}".to_vec(),
        })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeyRecord {
    wrapped: String,
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl KeyStore for LogKeyStore {
    fn create(
        &self,
        account: Uuid,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        Box::pin(async move {
            let event = Self::record(DATA_KEY_CREATED, Some(&wrapped))?;
            match self
                .store
                .append(
                    Self::stream(account)?,
                    ExpectedRevision::NoStream,
                    vec![event],
                )
                .await
            {
                Ok(_) => Ok(wrapped),
                Err(StoreError::WrongExpectedRevision { .. }) => {
                    self.read(account).await?.ok_or_else(|| {
                        StoreError::Backend(
                            "the account's data key was erased: it is never made again".into(),
                        )
                    })
                }
                Err(other) => Err(other),
            }
        })
    }

    fn get(&self, account: Uuid) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(self.read(account))
    }

    fn erase(&self, account: Uuid) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // After the key's last event: a rewrap in between is read again and erased too.
            loop {
                let Some((revision, Some(_))) = self.state(account).await? else {
                    return Ok(());
                };
                let event = Self::record(DATA_KEY_ERASED, None)?;
                if self.append_after(account, revision, event).await? {
                    return Ok(());
                }
            }
        })
    }

    fn replace(
        &self,
        account: Uuid,
        old: Vec<u8>,
        wrapped: Vec<u8>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let Some((revision, Some(kept))) = self.state(account).await? else {
                return Ok(false);
            };
            if kept != old {
                return Ok(false);
            }
            let event = Self::record(DATA_KEY_REWRAPPED, Some(&wrapped))?;
            self.append_after(account, revision, event).await
        })
    }
}

/// A key store with the keys read lately kept in memory (at most `capacity`, least recently used
/// evicted). An erasure here forgets the key at once; other processes forget it when they see the
/// account's deletion.
pub struct CachedKeys {
    store: Arc<dyn KeyStore>,
    cache: Mutex<lru::LruCache<Uuid, Arc<[u8]>>>,
}

impl CachedKeys {
    /// `store`, with up to `capacity` keys kept in memory.
    pub fn new(store: Arc<dyn KeyStore>, capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            store,
            cache: Mutex::new(lru::LruCache::new(capacity)),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, lru::LruCache<Uuid, Arc<[u8]>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of `account`, creating it with `wrapped` if it has none.
    pub async fn create(&self, account: Uuid, wrapped: Vec<u8>) -> Result<Arc<[u8]>, StoreError> {
        if let Some(kept) = self.cache().get(&account) {
            return Ok(Arc::clone(kept));
        }
        let kept: Arc<[u8]> = self.store.create(account, wrapped).await?.into();
        self.cache().put(account, Arc::clone(&kept));
        Ok(kept)
    }

    /// [`CachedKeys::create`] for many accounts at once (those with a key in memory are left
    /// as they are).
    pub async fn create_many(&self, keys: Vec<(Uuid, Vec<u8>)>) -> Result<(), StoreError> {
        let missing: Vec<(Uuid, Vec<u8>)> = {
            let cache = self.cache();
            keys.into_iter()
                .filter(|(account, _)| !cache.contains(account))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let accounts: Vec<Uuid> = missing.iter().map(|(a, _)| *a).collect();
        let kept = self.store.create_many(missing).await?;
        let mut cache = self.cache();
        for (account, kept) in accounts.into_iter().zip(kept) {
            cache.put(account, kept.into());
        }
        Ok(())
    }

    /// The key of `account`, if it has one.
    pub async fn get(&self, account: Uuid) -> Result<Option<Arc<[u8]>>, StoreError> {
        if let Some(kept) = self.cache().get(&account) {
            return Ok(Some(Arc::clone(kept)));
        }
        let Some(kept) = self.store.get(account).await? else {
            return Ok(None);
        };
        let kept: Arc<[u8]> = kept.into();
        self.cache().put(account, Arc::clone(&kept));
        Ok(Some(kept))
    }

    /// Reads the keys of those of `accounts` not in memory yet, in one go.
    pub async fn prefetch(&self, accounts: &[Uuid]) -> Result<(), StoreError> {
        let missing: Vec<Uuid> = {
            let cache = self.cache();
            let mut seen = std::collections::HashSet::new();
            accounts
                .iter()
                .filter(|a| !cache.contains(a) && seen.insert(**a))
                .copied()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        for (account, kept) in self.store.get_many(missing).await? {
            if let Some(kept) = kept {
                self.cache().put(account, kept.into());
            }
        }
        Ok(())
    }

    /// Erases the key of `account` here and in the store.
    pub async fn erase(&self, account: Uuid) -> Result<(), StoreError> {
        self.cache().pop(&account);
        self.store.erase(account).await
    }

    /// [`KeyStore::replace`], keeping the new form in memory when it replaced the old one.
    pub async fn replace(
        &self,
        account: Uuid,
        old: Vec<u8>,
        wrapped: Vec<u8>,
    ) -> Result<bool, StoreError> {
        self.cache().pop(&account);
        self.store.replace(account, old, wrapped).await
    }

    /// Forgets the cached key of `account` (another process erased it).
    pub fn forget(&self, account: Uuid) {
        self.cache().pop(&account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    async fn behaves(store: &dyn KeyStore) {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_eq!(store.get(a).await.unwrap(), None);
        assert_eq!(store.create(a, vec![1, 2, 3]).await.unwrap(), vec![1, 2, 3]);
        // The first writer wins.
        assert_eq!(store.create(a, vec![9]).await.unwrap(), vec![1, 2, 3]);
        assert_eq!(store.get(a).await.unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(store.create(b, vec![4]).await.unwrap(), vec![4]);
        assert_eq!(store.get(b).await.unwrap(), Some(vec![4]));
        // A rewrap replaces the key only while the old one is kept.
        assert!(!store.replace(a, vec![9], vec![7]).await.unwrap());
        assert!(store.replace(a, vec![1, 2, 3], vec![6, 6]).await.unwrap());
        assert_eq!(store.get(a).await.unwrap(), Some(vec![6, 6]));
        assert_eq!(store.create(a, vec![9]).await.unwrap(), vec![6, 6]);
        store.erase(a).await.unwrap();
        store.erase(a).await.unwrap();
        assert_eq!(store.get(a).await.unwrap(), None);
        assert!(!store.replace(a, vec![6, 6], vec![8]).await.unwrap());
        assert!(
            !store
                .replace(Uuid::new_v4(), vec![6, 6], vec![8])
                .await
                .unwrap()
        );
        assert_eq!(store.get(b).await.unwrap(), Some(vec![4]));
        store.erase(Uuid::new_v4()).await.unwrap();
        // An erased key is never made again.
        let again = store.create(a, vec![5]).await;
        assert!(again.is_err(), "{again:?}");
        assert_eq!(store.get(a).await.unwrap(), None);
    }

    #[tokio::test]
    async fn every_adapter_keeps_the_first_key_per_account() {
        behaves(&MemoryKeyStore::default()).await;
        let dir = tempfile::tempdir().unwrap();
        behaves(&SqliteKeyStore::open(dir.path().join("datakeys.db")).unwrap()).await;
        behaves(&LogKeyStore::new(Arc::new(MemoryStore::new()))).await;
    }

    #[tokio::test]
    async fn an_erased_sqlite_key_leaves_no_byte_of_it_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteKeyStore::open(dir.path().join("datakeys.db")).unwrap();
        let marker = b"erase-me-0123456789abcdef-erase-me".to_vec();
        let account = Uuid::new_v4();
        store.create(account, marker.clone()).await.unwrap();
        for _ in 0..50 {
            store.create(Uuid::new_v4(), vec![7; 48]).await.unwrap();
        }
        store.erase(account).await.unwrap();
        assert_eq!(store.get(account).await.unwrap(), None);
        store.erase(account).await.unwrap();
        drop(store);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker),
                "an erased key is still in the folder"
            );
        }
    }

    #[tokio::test]
    async fn the_cache_answers_without_the_store_and_forgets_what_is_erased() {
        let store = Arc::new(MemoryKeyStore::default());
        let cached = CachedKeys::new(store.clone(), 2);
        let a = Uuid::new_v4();
        assert_eq!(&*cached.create(a, vec![1]).await.unwrap(), &[1]);
        store.keys().remove(&a);
        assert_eq!(cached.get(a).await.unwrap().as_deref(), Some(&[1][..]));
        cached.erase(a).await.unwrap();
        assert_eq!(cached.get(a).await.unwrap(), None);
    }
}
