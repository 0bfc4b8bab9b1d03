//! Snapshots of the read models, stored with the position they reflect in one row of a SQLite file,
//! so that a snapshot and its checkpoint are always written (and read) together.

use crate::models::ReadModels;
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
    Decode(#[from] crate::models::DecodeError),
    /// The read models could not be encoded.
    #[error("snapshot does not encode: {0}")]
    Encode(#[from] serde_json::Error),
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
    pub fn load(&self, name: &str) -> Result<Option<ReadModels>, SnapshotError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let body: Option<Vec<u8>> = conn
            .query_row(
                "SELECT body FROM snapshots WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?;
        match body {
            None => Ok(None),
            Some(body) => Ok(Some(ReadModels::from_bytes(&body)?)),
        }
    }

    /// Replaces the snapshot named `name` with `models`, atomically.
    pub fn save(&self, name: &str, models: &ReadModels) -> Result<(), SnapshotError> {
        self.save_encoded(name, models.position(), &models.to_bytes()?)
    }

    /// Replaces the snapshot named `name` with `body` (from [`ReadModels::to_bytes`]) at
    /// `position`, atomically.
    pub fn save_encoded(
        &self,
        name: &str,
        position: Option<u64>,
        body: &[u8],
    ) -> Result<(), SnapshotError> {
        let position = position.and_then(|p| i64::try_from(p).ok());
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO snapshots (name, position, body) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET position = excluded.position, body = excluded.body",
            params![name, position, body],
        )?;
        Ok(())
    }
}
