//! The validator's data directory: encryption key, chain cursor, one job record per dataset
//! and the report bytes. Every write is atomic (temp file, fsync, rename).
//!
//! ```text
//! <data_dir>/encryption.key        hex secp256k1 scalar, mode 0600 (registered on-chain)
//! <data_dir>/state.json            {"next_block": N, "scanned_blocks": [[n, "0x<hash>"], …]}
//!                                  (older versions: {"next_block": N} or {"cursor_block": N-1})
//! <data_dir>/jobs/<dataset>.json   JobRecord
//! <data_dir>/reports/<dataset>.json  the exact report bytes whose keccak256 is certified
//! ```

use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use phd_cli::fs::Access;
use phd_keys::EncryptionSecretKey;
use phd_node::{BlockRef, KeyFileError};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ValidatorError};

/// File name of the encryption key.
pub const KEY_FILE: &str = phd_node::KEY_FILE;

/// Where a dataset's validation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Grant seen; data not yet retrieved and scored.
    Pending,
    /// Report written; certificate not yet confirmed on-chain.
    Reported,
    /// Certified on-chain by this validator (final).
    Certified,
    /// Scored below the minimum or unscorable: no certificate (final).
    Rejected,
    /// Gave up (dataset withdrawn, delivery deadline passed without shares, tampered object…).
    Failed,
}

impl JobState {
    /// No more work for this dataset (apart from confirming grants).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Certified | JobState::Rejected | JobState::Failed
        )
    }
}

/// Durable record of one dataset's validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub dataset_id: u64,
    /// Grants (purchase ids) to this validator for the dataset, oldest first.
    pub purchases: Vec<u64>,
    /// Grants already confirmed on-chain.
    pub confirmed: Vec<u64>,
    pub state: JobState,
    pub attempts: u32,
    pub score_bps: Option<u16>,
    /// 0x-hex keccak256 of the report bytes.
    pub report_hash: Option<String>,
    pub report_uri: Option<String>,
    pub certify_tx: Option<String>,
    /// Last error (transient or final).
    pub error: Option<String>,
    pub updated_at: u64,
}

impl JobRecord {
    pub(crate) fn new(dataset_id: u64, purchase_id: u64) -> Self {
        JobRecord {
            dataset_id,
            purchases: vec![purchase_id],
            confirmed: Vec::new(),
            state: JobState::Pending,
            attempts: 0,
            score_bps: None,
            report_hash: None,
            report_uri: None,
            certify_tx: None,
            error: None,
            updated_at: crate::report::now_unix(),
        }
    }
}

/// `state.json`. The cursor is the next block to scan (phd-node's convention); files written
/// before it held the last block scanned as `cursor_block`, still read as that block + 1.
/// `scanned_blocks` is phd-node's reorg window, written in the same file as the cursor so the
/// two never disagree; files without it read as an empty window (filled by the next scan).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Cursor {
    #[serde(default)]
    next_block: Option<u64>,
    #[serde(default, skip_serializing)]
    cursor_block: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scanned_blocks: Vec<(u64, B256)>,
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating, mode 0700) the directory and its subdirectories.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in [
            root.clone(),
            root.join("jobs"),
            root.join("reports"),
            root.join("work"),
        ] {
            create_private_dir(&d)?;
        }
        Ok(DataDir { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Scratch directory for decrypted plaintext (deleted right after scoring).
    pub fn work_dir(&self) -> PathBuf {
        self.root.join("work")
    }

    /// Loads the encryption key or creates it (0600).
    pub fn encryption_key(&self) -> Result<EncryptionSecretKey> {
        phd_node::load_or_create_key(&self.root.join(KEY_FILE)).map_err(|e| match e {
            KeyFileError::Io { path, source } => ValidatorError::Io { path, source },
            KeyFileError::Invalid { path, reason } => ValidatorError::Corrupt { path, reason },
            other => ValidatorError::Config(format!("the encryption key: {other}")),
        })
    }

    fn cursor(&self) -> Result<Cursor> {
        let path = self.root.join("state.json");
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ValidatorError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
            Err(e) => Err(ValidatorError::Io { path, source: e }),
        }
    }

    /// Next block to scan for grants (`None` before the first scan).
    pub fn next_block(&self) -> Result<Option<u64>> {
        let c = self.cursor()?;
        Ok(c.next_block
            .or(c.cursor_block.map(|last| last.saturating_add(1))))
    }

    /// The remembered scanned blocks (number, hash), oldest first.
    pub fn scanned_blocks(&self) -> Result<Vec<BlockRef>> {
        Ok(self.cursor()?.scanned_blocks)
    }

    /// Persists the next block to scan (and forgets the reorg window).
    pub fn set_next_block(&self, block: u64) -> Result<()> {
        self.set_cursor(block, &[])
    }

    /// Persists the next block to scan with the reorg window, in one atomic write.
    pub fn set_cursor(&self, block: u64, window: &[BlockRef]) -> Result<()> {
        let c = Cursor {
            next_block: Some(block),
            cursor_block: None,
            scanned_blocks: window.to_vec(),
        };
        write_atomic(&self.root.join("state.json"), &serde_json::to_vec(&c)?)
    }

    fn job_path(&self, dataset_id: u64) -> PathBuf {
        self.root.join("jobs").join(format!("{dataset_id}.json"))
    }

    /// Path of a dataset's report.
    pub fn report_path(&self, dataset_id: u64) -> PathBuf {
        self.root.join("reports").join(format!("{dataset_id}.json"))
    }

    /// A job record.
    pub fn job(&self, dataset_id: u64) -> Result<Option<JobRecord>> {
        let path = self.job_path(dataset_id);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                ValidatorError::Corrupt {
                    path,
                    reason: e.to_string(),
                }
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ValidatorError::Io { path, source: e }),
        }
    }

    /// Writes a job record.
    pub fn put_job(&self, job: &JobRecord) -> Result<()> {
        let mut j = job.clone();
        j.updated_at = crate::report::now_unix();
        write_atomic(
            &self.job_path(job.dataset_id),
            &serde_json::to_vec_pretty(&j)?,
        )
    }

    /// Every job record, by dataset id.
    pub fn jobs(&self) -> Result<Vec<JobRecord>> {
        let dir = self.root.join("jobs");
        let mut ids: Vec<u64> = std::fs::read_dir(&dir)
            .map_err(ValidatorError::io(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        ids.sort_unstable();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(j) = self.job(id)? {
                out.push(j);
            }
        }
        Ok(out)
    }

    /// The stored report bytes of a dataset.
    pub fn report(&self, dataset_id: u64) -> Result<Option<Vec<u8>>> {
        let path = self.report_path(dataset_id);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ValidatorError::Io { path, source: e }),
        }
    }

    /// Stores report bytes (atomically; never overwritten once certified — callers check).
    pub fn put_report(&self, dataset_id: u64, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.report_path(dataset_id), bytes)
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    phd_node::create_private_dir(dir).map_err(|e| match e {
        KeyFileError::Io { path, source } => ValidatorError::Io { path, source },
        other => ValidatorError::Config(other.to_string()),
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    phd_cli::fs::write_atomic(path, bytes, Access::Default).map_err(ValidatorError::io(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_the_next_block_and_old_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        assert_eq!(data.next_block().unwrap(), None);
        data.set_next_block(12).unwrap();
        assert_eq!(data.next_block().unwrap(), Some(12));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("state.json")).unwrap(),
            r#"{"next_block":12}"#
        );
        // written by a validator before the one-convention cursor: the last block scanned
        std::fs::write(dir.path().join("state.json"), r#"{"cursor_block":41}"#).unwrap();
        assert_eq!(data.next_block().unwrap(), Some(42));
        std::fs::write(dir.path().join("state.json"), r#"{"cursor_block":null}"#).unwrap();
        assert_eq!(data.next_block().unwrap(), None);
        assert!(data.scanned_blocks().unwrap().is_empty());
    }

    #[test]
    fn reorg_window_is_stored_with_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let w = vec![(10, B256::repeat_byte(1)), (11, B256::repeat_byte(2))];
        data.set_cursor(12, &w).unwrap();
        assert_eq!(
            (data.next_block().unwrap(), data.scanned_blocks().unwrap()),
            (Some(12), w)
        );
        // a file from before the window still reads, with an empty window
        std::fs::write(dir.path().join("state.json"), r#"{"next_block":7}"#).unwrap();
        assert_eq!(
            (data.next_block().unwrap(), data.scanned_blocks().unwrap()),
            (Some(7), vec![])
        );
    }
}
