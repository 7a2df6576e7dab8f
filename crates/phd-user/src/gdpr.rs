//! GDPR: `withdraw-consent` (Art. 7(3), 17), `status`, `export` (Art. 15, 20).

use std::path::Path;
use std::time::Duration;

use std::collections::HashMap;

use phd_sdk::export::LocalCopy;
use sha2::{Digest, Sha256};

use crate::ctx::UserCtx;
use crate::error::{Result, UserError};
use crate::export_doc::{ExportData, ExportDoc, LocalInfo};
use crate::util::write_atomic;

// Consent withdrawal and erasure status are phd-sdk's (the web page runs the same code).
pub use phd_sdk::owner::{DatasetStatusReport, KeeperState, StorageState, WithdrawalSummary};

/// One command for Art. 7(3)/17: `withdrawConsent` → delete the object and abort unfinished
/// uploads for its key → wait (at most `wait`) for every keeper's `ErasureConfirmed`; the local
/// record then notes the object as deleted.
pub async fn withdraw_consent(
    ctx: &UserCtx,
    dataset_id: u64,
    wait: Duration,
) -> Result<WithdrawalSummary> {
    let s = phd_sdk::owner::withdraw_consent(
        &ctx.client().with_progress(ctx.progress),
        dataset_id,
        wait,
    )
    .await?;
    if s.object_deleted
        && let Ok(Some(mut rec)) = ctx.state.find(dataset_id)
    {
        rec.object_deleted = true;
        let _ = ctx.state.upsert(&rec);
    }
    Ok(s)
}

/// On-chain status, acknowledgements, erasure confirmations and storage state of one dataset.
pub async fn status(ctx: &UserCtx, dataset_id: u64) -> Result<DatasetStatusReport> {
    Ok(phd_sdk::owner::status(&ctx.client(), dataset_id).await?)
}

/// Builds the GDPR export of everything about the owner (see `docs/EXPORT.md`): phd-sdk's
/// [`phd_sdk::export::build`] plus what only this machine knows (local copies; with `with_data`,
/// the pseudonymised data from the local copy when it is present).
pub async fn export(ctx: &UserCtx, with_data: bool) -> Result<ExportDoc> {
    export_with_access(ctx, with_data, None).await
}

/// [`export`], also listing every request about each dataset in the owner's gateway access log
/// at `access_log` (per purchase a summary, per dataset every record); with `None` those fields
/// are null. A missing log file is an empty log; unreadable lines are skipped.
pub async fn export_with_access(
    ctx: &UserCtx,
    with_data: bool,
    access_log: Option<&Path>,
) -> Result<ExportDoc> {
    let access = match access_log {
        Some(path) => Some(
            phd_sdk::access::read_access_log(path)
                .map_err(|source| UserError::Read {
                    path: path.to_owned(),
                    source,
                })?
                .records,
        ),
        None => None,
    };
    let mut local = HashMap::new();
    for r in ctx.state.load().unwrap_or_default() {
        let Some(did) = r.dataset_id else { continue };
        let data = match (with_data, r.pseudonymised_file.as_ref()) {
            (true, Some(path)) => read_local_data(path)?,
            _ => None,
        };
        let info = LocalInfo {
            object_key: r.object_key.clone(),
            source_file: r.source_file.display().to_string(),
            pseudonymised_file: r
                .pseudonymised_file
                .as_ref()
                .map(|p| p.display().to_string()),
            object_deleted: r.object_deleted,
        };
        local.insert(
            did,
            LocalCopy {
                info: Some(info),
                data,
            },
        );
    }
    Ok(phd_sdk::export::build_with_access(&ctx.client(), &local, access.as_deref()).await?)
}

fn read_local_data(path: &Path) -> Result<Option<ExportData>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let content = String::from_utf8(bytes.clone()).map_err(|_| UserError::State {
                path: path.to_path_buf(),
                reason: "local copy is not UTF-8 canonical CSV".into(),
            })?;
            Ok(Some(ExportData {
                format: "phd-canonical-csv".into(),
                sha256: format!("0x{}", hex::encode(Sha256::digest(&bytes))),
                content,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UserError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the export to `out` atomically (pretty JSON), after validating it against the schema.
pub fn write_export(doc: &ExportDoc, out: &Path) -> Result<()> {
    let bytes = phd_sdk::export::to_validated_json(doc).map_err(|reason| UserError::State {
        path: out.to_path_buf(),
        reason,
    })?;
    write_atomic(out, &bytes)
}
