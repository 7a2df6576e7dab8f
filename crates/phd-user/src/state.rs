//! The owner's local record: `<state dir>/` (default `~/.local/share/phd/user/<address>/`).
//!
//! * `datasets.json` — one [`LocalDataset`] per published (or half-published) dataset.
//! * `pseudonym.key` — the owner's HMAC key for keyed hashes of identifiers (mode 0600).
//! * `data/<content_root>.csv` — the pseudonymised canonical data that was sealed (for
//!   `export --with-data`).
//!
//! No dataset secret or share is ever stored here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Result, UserError};
use crate::util::{write_atomic, write_private};

/// Record of one dataset this owner sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalDataset {
    /// On-chain id once published.
    pub dataset_id: Option<u64>,
    /// Object key in the bucket.
    pub object_key: String,
    /// `s3://bucket/key`.
    pub storage_uri: String,
    /// 0x-hex content root.
    pub content_root: String,
    /// The file the data came from.
    pub source_file: PathBuf,
    /// Local copy of the pseudonymised canonical CSV that was sealed.
    pub pseudonymised_file: Option<PathBuf>,
    /// Publish transaction.
    pub publish_tx: Option<String>,
    /// Unix seconds when sealed.
    pub created_at: u64,
    /// The metadata JSON that went on-chain.
    pub metadata: serde_json::Value,
    /// Set once the object was deleted (consent withdrawn or failed publish).
    #[serde(default)]
    pub object_deleted: bool,
}

/// The local state directory of one owner.
#[derive(Debug, Clone)]
pub struct LocalState {
    dir: PathBuf,
}

impl LocalState {
    /// State under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalState { dir: dir.into() }
    }

    /// Default location for `owner` (`$XDG_DATA_HOME` or `~/.local/share`)`/phd/user/<owner>`.
    pub fn default_dir(owner: &str) -> PathBuf {
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("phd")
            .join("user")
            .join(owner.to_ascii_lowercase())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn datasets_path(&self) -> PathBuf {
        self.dir.join("datasets.json")
    }

    /// Where the pseudonymised copy of a dataset with `content_root` is kept.
    pub fn data_path(&self, content_root: &str) -> PathBuf {
        self.dir
            .join("data")
            .join(format!("{}.csv", content_root.trim_start_matches("0x")))
    }

    /// All records (empty when none yet).
    pub fn load(&self) -> Result<Vec<LocalDataset>> {
        let path = self.datasets_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| UserError::State {
                path,
                reason: format!("corrupt datasets.json: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(UserError::Read { path, source }),
        }
    }

    /// Inserts or replaces (by object key) one record, atomically.
    pub fn upsert(&self, rec: &LocalDataset) -> Result<()> {
        let mut all = self.load()?;
        match all.iter_mut().find(|r| r.object_key == rec.object_key) {
            Some(r) => *r = rec.clone(),
            None => all.push(rec.clone()),
        }
        write_atomic(&self.datasets_path(), &serde_json::to_vec_pretty(&all)?)
    }

    /// The record of an on-chain dataset.
    pub fn find(&self, dataset_id: u64) -> Result<Option<LocalDataset>> {
        Ok(self
            .load()?
            .into_iter()
            .find(|r| r.dataset_id == Some(dataset_id)))
    }

    /// The owner's pseudonym HMAC key: loaded, or generated (32 random bytes) and saved 0600.
    pub fn pseudonym_key(&self) -> Result<Zeroizing<Vec<u8>>> {
        let path = self.dir.join("pseudonym.key");
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                let bytes = hex::decode(s.trim()).map_err(|e| UserError::State {
                    path: path.clone(),
                    reason: format!("pseudonym key is not hex: {e}"),
                })?;
                if bytes.len() < 16 {
                    return Err(UserError::State {
                        path,
                        reason: "pseudonym key shorter than 16 bytes".into(),
                    });
                }
                Ok(Zeroizing::new(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new(vec![0u8; 32]);
                getrandom_fill(&mut key)?;
                write_private(&path, hex::encode(key.as_slice()).as_bytes())?;
                Ok(key)
            }
            Err(source) => Err(UserError::Read { path, source }),
        }
    }
}

fn getrandom_fill(buf: &mut [u8]) -> Result<()> {
    use rand::TryRng;
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|e| UserError::keys("operating system RNG", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, id: Option<u64>) -> LocalDataset {
        LocalDataset {
            dataset_id: id,
            object_key: key.into(),
            storage_uri: format!("s3://b/{key}"),
            content_root: "0xab".into(),
            source_file: "x.csv".into(),
            pseudonymised_file: None,
            publish_tx: None,
            created_at: 1,
            metadata: serde_json::json!({}),
            object_deleted: false,
        }
    }

    #[test]
    fn upsert_and_find() {
        let d = tempfile::tempdir().unwrap();
        let st = LocalState::new(d.path());
        assert!(st.load().unwrap().is_empty());
        st.upsert(&rec("a", None)).unwrap();
        st.upsert(&rec("a", Some(7))).unwrap();
        st.upsert(&rec("b", Some(8))).unwrap();
        assert_eq!(st.load().unwrap().len(), 2);
        assert_eq!(st.find(7).unwrap().unwrap().object_key, "a");
    }

    #[test]
    fn pseudonym_key_is_stable_and_private() {
        let d = tempfile::tempdir().unwrap();
        let st = LocalState::new(d.path());
        let k1 = st.pseudonym_key().unwrap();
        let k2 = st.pseudonym_key().unwrap();
        assert_eq!(*k1, *k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join("pseudonym.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_state_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("datasets.json"), b"{nope").unwrap();
        let err = LocalState::new(d.path()).load().unwrap_err();
        assert!(err.to_string().contains("corrupt datasets.json"));
    }
}
