//! The access log: one JSON line per object or manifest request ([`AccessRecord`]), appended
//! to a file only the gateway's user can read (it names buyers).

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

use phd_protocol::gateway::AccessRecord;

use crate::GatewayError;

/// An append-only JSONL file.
#[derive(Debug)]
pub struct AccessLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AccessLog {
    /// Opens (creates, mode 0600) `path` for appending.
    pub fn open(path: &Path) -> Result<Self, GatewayError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| GatewayError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path).map_err(|source| GatewayError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line (one `write` call, so lines from concurrent requests never
    /// interleave). A failed write is logged, never turned into a failed request.
    pub fn append(&self, record: &AccessRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "encoding an access record");
                return;
            }
        };
        line.push(b'\n');
        let mut file = match self.file.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = file.write_all(&line) {
            tracing::error!(path = %self.path.display(), error = %e, "writing the access log");
        }
    }
}

/// Every record of the access log at `path` (a missing file is an empty log; a line that does
/// not parse, e.g. cut short by a crash, is skipped with a warning). The reader itself is
/// `phd_protocol::gateway::read_access_log`, shared with the owner's `sales` and `export`.
pub fn read_access_log(path: &Path) -> Result<Vec<AccessRecord>, GatewayError> {
    let read = phd_protocol::gateway::read_access_log(path).map_err(|source| GatewayError::Io {
        path: path.to_owned(),
        source,
    })?;
    for line in &read.unreadable_lines {
        tracing::warn!(path = %path.display(), line, "skipping an unreadable access-log line");
    }
    Ok(read.records)
}
