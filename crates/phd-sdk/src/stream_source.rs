//! Sources the streamer follows besides one growing CSV: a drop directory and stdin. Both feed
//! an append-only *spool* CSV next to the state file, which the streamer then tails exactly like
//! a growing file, so segment cutting and its crash safety are the same code for every source.
//!
//! - Directory (`--source <dir>`): the watch app drops whole files (written elsewhere and renamed
//!   in, the usual drop-folder contract; names starting with `.` or ending in `.tmp`/`.part` are
//!   ignored). New files are taken in name order, each exactly once: the cursor file records the
//!   last file copied and the spool length after it, saved right after the copy and before any
//!   segment is cut from it, so a restart after a crash mid-copy truncates the spool to the
//!   recorded length and copies that file again. Every file's header must match the first one.
//! - Stdin (`--source -`): complete lines are appended as they arrive; the first line is the
//!   header (checked against the spool's after a restart). What reached the spool is never lost;
//!   a line still in the pipe when the process dies is (nothing can replay a pipe). A partial
//!   line at the spool's end (killed mid-write) is cut off at restart.

use std::{
    io::{BufRead, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use phd_cli::fs::{Access, write_atomic};
use serde::{Deserialize, Serialize};

use crate::{Result, SdkError};

/// What `--source` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A CSV file being appended to (tailed directly).
    File(PathBuf),
    /// A directory the device drops files into.
    Dir(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl SourceKind {
    /// `-` is stdin, an existing directory a drop directory, anything else a file.
    pub fn of(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            SourceKind::Stdin
        } else if path.is_dir() {
            SourceKind::Dir(path.to_path_buf())
        } else {
            SourceKind::File(path.to_path_buf())
        }
    }
}

/// The spool a directory or stdin source feeds, beside the state file.
pub fn spool_path(state_file: &Path) -> PathBuf {
    state_file.with_extension("spool.csv")
}

/// The drop directory's cursor, beside the state file.
pub fn dir_cursor_path(state_file: &Path) -> PathBuf {
    state_file.with_extension("dir.json")
}

/// How far the drop directory was copied into the spool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DirCursor {
    /// Last file copied whole (name order).
    pub last_file: Option<String>,
    /// Spool length right after that copy.
    pub spool_len: u64,
    /// Header line of the spool.
    pub header: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SdkError + '_ {
    move |source| SdkError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn bad(path: &Path, why: String) -> SdkError {
    SdkError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
    }
}

fn load_cursor(path: &Path) -> Result<DirCursor> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| bad(path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DirCursor::default()),
        Err(e) => Err(io(path)(e)),
    }
}

fn ignored(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part")
}

/// Copies every file of `dir` not copied yet into the spool (module docs); returns how many.
pub fn ingest_dir(dir: &Path, state_file: &Path) -> Result<usize> {
    let spool = spool_path(state_file);
    let cursor_path = dir_cursor_path(state_file);
    let mut cur = load_cursor(&cursor_path)?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&spool)
        .map_err(io(&spool))?;
    // A crash between a copy and its cursor save left bytes no segment can cover yet.
    if out.metadata().map_err(io(&spool))?.len() != cur.spool_len {
        out.set_len(cur.spool_len).map_err(io(&spool))?;
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !ignored(n) && cur.last_file.as_ref().is_none_or(|l| n > l))
        .collect();
    names.sort();
    for name in &names {
        let path = dir.join(name);
        let mut r = std::io::BufReader::new(std::fs::File::open(&path).map_err(io(&path))?);
        let mut head = Vec::new();
        r.read_until(b'\n', &mut head).map_err(io(&path))?;
        let header = String::from_utf8_lossy(&head).trim_end().to_string();
        if header.is_empty() {
            return Err(bad(&path, "empty file: no header line".into()));
        }
        out.seek(SeekFrom::Start(cur.spool_len))
            .map_err(io(&spool))?;
        match &cur.header {
            None => {
                out.write_all(header.as_bytes()).map_err(io(&spool))?;
                out.write_all(b"\n").map_err(io(&spool))?;
                cur.header = Some(header);
            }
            Some(h) if *h == header => {}
            Some(h) => {
                return Err(bad(
                    &path,
                    format!("its header {header:?} differs from the first file's {h:?}"),
                ));
            }
        }
        let mut body = Vec::new();
        r.read_to_end(&mut body).map_err(io(&path))?;
        if !body.is_empty() && body.last() != Some(&b'\n') {
            body.push(b'\n');
        }
        out.write_all(&body).map_err(io(&spool))?;
        out.sync_data().map_err(io(&spool))?;
        cur.last_file = Some(name.clone());
        cur.spool_len = out.stream_position().map_err(io(&spool))?;
        let bytes = serde_json::to_vec_pretty(&cur).unwrap_or_default();
        write_atomic(&cursor_path, &bytes, Access::OwnerOnly).map_err(io(&cursor_path))?;
    }
    Ok(names.len())
}

/// The thread copying an input into the spool.
#[derive(Debug, Clone)]
pub struct Spooler {
    done: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
}

impl Spooler {
    /// Whether the input ended (or failed).
    pub fn done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Why the input failed, if it did (a header unlike the spool's, a read error).
    pub fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Starts copying stdin into the spool on a thread. Cuts a partial last line left by a crash
/// first.
pub fn spool_stdin(state_file: &Path) -> Result<Spooler> {
    spool_reader(state_file, std::io::stdin())
}

/// [`spool_stdin`] over any reader (tests).
pub fn spool_reader(state_file: &Path, input: impl Read + Send + 'static) -> Result<Spooler> {
    let spool = spool_path(state_file);
    let existing = match std::fs::read(&spool) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&spool)(e)),
    };
    let complete = existing
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let spool_header = existing.iter().position(|b| *b == b'\n').map(|i| {
        String::from_utf8_lossy(&existing[..i])
            .trim_end()
            .to_string()
    });
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&spool)
        .map_err(io(&spool))?;
    out.set_len(complete as u64).map_err(io(&spool))?;
    out.seek(SeekFrom::End(0)).map_err(io(&spool))?;
    let spooler = Spooler {
        done: Arc::new(AtomicBool::new(false)),
        error: Arc::new(Mutex::new(None)),
    };
    let handle = spooler.clone();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(input);
        let mut line = Vec::new();
        let mut first = true;
        let result = (|| -> std::io::Result<()> {
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
                    return Ok(()); // end of input (a last line without newline is incomplete)
                }
                if std::mem::take(&mut first)
                    && let Some(h) = &spool_header
                {
                    let got = String::from_utf8_lossy(&line).trim_end().to_string();
                    if got != *h {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("stdin header {got:?} differs from the spool's {h:?}"),
                        ));
                    }
                    continue;
                }
                out.write_all(&line)?;
            }
        })();
        if let Err(e) = result {
            *handle
                .error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
        }
        handle.done.store(true, Ordering::SeqCst);
    });
    Ok(spooler)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_file(dir: &Path, name: &str, body: &str) {
        // As a watch app does: write elsewhere, rename in.
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }

    #[test]
    fn directory_files_are_copied_in_name_order_once_each() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("drop");
        std::fs::create_dir(&inbox).unwrap();
        let state = d.path().join("state.json");
        drop_file(&inbox, "0002.csv", "time,x\n0.2,2\n");
        drop_file(&inbox, "0001.csv", "time,x\n0.0,0\n0.1,1\n");
        std::fs::write(inbox.join("0003.csv.part"), "time,x\n9,9\n").unwrap();
        assert_eq!(ingest_dir(&inbox, &state).unwrap(), 2);
        assert_eq!(ingest_dir(&inbox, &state).unwrap(), 0, "each file once");
        // A file without a final newline still ends its last row.
        drop_file(&inbox, "0003.csv", "time,x\n0.3,3");
        assert_eq!(ingest_dir(&inbox, &state).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(spool_path(&state)).unwrap(),
            "time,x\n0.0,0\n0.1,1\n0.2,2\n0.3,3\n"
        );
        // A file dropped late with an earlier name is not taken (name order is the contract).
        drop_file(&inbox, "0000.csv", "time,x\n-1,-1\n");
        assert_eq!(ingest_dir(&inbox, &state).unwrap(), 0);
    }

    #[test]
    fn a_crash_mid_copy_is_repaired_and_a_foreign_header_refused() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("drop");
        std::fs::create_dir(&inbox).unwrap();
        let state = d.path().join("state.json");
        drop_file(&inbox, "a.csv", "time,x\n0.0,0\n");
        ingest_dir(&inbox, &state).unwrap();
        // Killed after copying b.csv's rows, before its cursor save: the spool holds them but
        // the cursor does not; the restart truncates and copies b.csv again, exactly once.
        drop_file(&inbox, "b.csv", "time,x\n0.1,1\n");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(spool_path(&state))
            .unwrap();
        f.write_all(b"0.1,1\n0.1").unwrap();
        drop(f);
        assert_eq!(ingest_dir(&inbox, &state).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(spool_path(&state)).unwrap(),
            "time,x\n0.0,0\n0.1,1\n"
        );
        drop_file(&inbox, "c.csv", "time,y\n0.2,2\n");
        let e = ingest_dir(&inbox, &state).unwrap_err().to_string();
        assert!(e.contains("differs from the first file's"), "{e}");
        // Nothing of c.csv went in, and it is retried (and refused again) next time.
        assert_eq!(
            std::fs::read_to_string(spool_path(&state)).unwrap(),
            "time,x\n0.0,0\n0.1,1\n"
        );
        assert!(ingest_dir(&inbox, &state).is_err());
    }

    fn wait(s: &Spooler) {
        for _ in 0..500 {
            if s.done() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the spool thread did not finish");
    }

    #[test]
    fn stdin_lines_are_spooled_and_a_restart_resumes_after_a_partial_line() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state.json");
        let done = spool_reader(&state, &b"time,x\n0.0,0\n0.1,1\n0.2"[..]).unwrap();
        wait(&done);
        // The unterminated "0.2" never reached the spool.
        assert_eq!(
            std::fs::read_to_string(spool_path(&state)).unwrap(),
            "time,x\n0.0,0\n0.1,1\n"
        );
        // A crash mid-write leaves a partial line: cut at restart; the new input's header is
        // checked against the spool's and skipped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(spool_path(&state))
            .unwrap();
        f.write_all(b"0.2,").unwrap();
        drop(f);
        let done = spool_reader(&state, &b"time,x\n0.2,2\n"[..]).unwrap();
        wait(&done);
        assert_eq!(
            std::fs::read_to_string(spool_path(&state)).unwrap(),
            "time,x\n0.0,0\n0.1,1\n0.2,2\n"
        );
        // Another header after a restart is refused: nothing appended.
        let done = spool_reader(&state, &b"time,y\n0.3,3\n"[..]).unwrap();
        wait(&done);
        assert!(done.error().unwrap().contains("differs from the spool's"));
        assert_eq!(
            std::fs::read_to_string(spool_path(&state)).unwrap(),
            "time,x\n0.0,0\n0.1,1\n0.2,2\n"
        );
    }
}
