//! Snapshots of the read models, stored with the position they reflect in one row of a SQLite file,
//! so that a snapshot and its checkpoint are always written (and read) together.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// SQLite failed.
    #[error("snapshot store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The stored snapshot does not decode (written by an incompatible version): rebuild.
    #[error("snapshot does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The read models could not be encoded.
    #[error("snapshot does not encode: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Why snapshot bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a snapshot of this version, or cut short.
    #[error("not a snapshot of this version")]
    Format,
    /// A JSON part does not decode.
    #[error("a part does not decode: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading failed, or the input ended early.
    #[error("cannot read the snapshot: {0}")]
    Io(#[from] std::io::Error),
}

/// A model that can be snapshotted: streamed out with its position, and read back.
pub trait Snapshotted: Sized {
    /// Its encoding, measured before it is written.
    type Encoding<'a>: Encoded
    where
        Self: 'a;

    /// The commit position of the last event it reflects.
    fn position(&self) -> Option<u64>;

    /// Its encoding, measured (its size is known before it is streamed) but not yet made.
    fn encoding(&self) -> Result<Self::Encoding<'_>, serde_json::Error>;

    /// Reads what the encoding wrote, streaming; the input must end where it does.
    fn read_from(input: &mut impl std::io::Read) -> Result<Self, DecodeError>;
}

/// A snapshot encoding of known size.
pub trait Encoded {
    /// Its size in bytes.
    fn size(&self) -> usize;

    /// Streams it into `out`.
    fn write_to(&self, out: &mut impl std::io::Write) -> Result<(), serde_json::Error>;
}

/// Named snapshots in one file.
pub struct SnapshotStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SnapshotStore {
    /// Opens (creating) the snapshot file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS snapshots (name TEXT PRIMARY KEY, position INTEGER, body BLOB NOT NULL) STRICT")?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The snapshot named `name`, if any.
    pub fn load<M: Snapshotted>(&self, name: &str) -> Result<Option<M>, SnapshotError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let row: Option<i64> = conn
            .query_row(
                "SELECT rowid FROM snapshots WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?;
        let Some(row) = row else {
            return Ok(None);
        };
        // Streamed out of the row: the encoding is never held in memory whole.
        let mut blob = conn.blob_open(rusqlite::MAIN_DB, "snapshots", "body", row, true)?;
        Ok(Some(M::read_from(&mut blob)?))
    }

    /// Replaces the snapshot named `name` with `models`, atomically.
    pub fn save<M: Snapshotted>(&self, name: &str, models: &M) -> Result<(), SnapshotError> {
        self.save_streamed(name, models, |_| {})
    }

    /// Replaces the snapshot named `name` with `models`, atomically, streaming the encoding into
    /// the row (no copy of the models or of their encoding is made). `encoded` is called once the
    /// encoding is written, before the commit: a caller holding a lock over `models` can release
    /// it there, so that the commit's `fsync` happens outside it.
    pub fn save_streamed<S: Snapshotted, M: std::ops::Deref<Target = S>>(
        &self,
        name: &str,
        models: M,
        encoded: impl FnOnce(M),
    ) -> Result<(), SnapshotError> {
        let encoding = models.encoding()?;
        let len = encoding.size();
        let position = models.position().and_then(|p| i64::try_from(p).ok());
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO snapshots (name, position, body) VALUES (?1, ?2, zeroblob(?3)) ON CONFLICT(name) DO UPDATE SET position = excluded.position, body = excluded.body",
            params![name, position, i64::try_from(len).unwrap_or(i64::MAX)],
        )?;
        let row: i64 = tx.query_row(
            "SELECT rowid FROM snapshots WHERE name = ?1",
            [name],
            |row| row.get(0),
        )?;
        {
            let blob = tx.blob_open(rusqlite::MAIN_DB, "snapshots", "body", row, false)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, blob);
            encoding.write_to(&mut out)?;
            std::io::Write::flush(&mut out).map_err(serde_json::Error::io)?;
        }
        drop(encoding);
        encoded(models);
        tx.commit()?;
        Ok(())
    }
}
