//! `list`, `sales`, `price`, `withdraw`, `grant`.

// Listings, sales and earnings are phd-sdk's (the web page runs the same code).
pub use phd_sdk::owner::{DatasetRow, SaleRow, TxReport};

/// My datasets (from `Published` events of the owner + current on-chain state).
pub async fn list(ctx: &UserCtx) -> Result<Vec<DatasetRow>> {
    Ok(phd_sdk::owner::list(&ctx.client()).await?)
}

/// Who bought (and who was granted) my datasets, optionally one dataset only.
pub async fn sales(ctx: &UserCtx, dataset: Option<u64>) -> Result<Vec<SaleRow>> {
    Ok(phd_sdk::owner::sales(&ctx.client(), dataset).await?)
}

/// [`sales`] with each row's reads from the owner's gateway access log at `access_log`
/// (`phd_sdk::access`): requests served, bytes, refusals naming the purchase. A missing log is
/// an empty log (nothing read yet); unreadable lines are skipped.
pub async fn sales_with_access(
    ctx: &UserCtx,
    dataset: Option<u64>,
    access_log: &std::path::Path,
) -> Result<Vec<SaleRow>> {
    let log = phd_sdk::access::read_access_log(access_log).map_err(|source| UserError::Read {
        path: access_log.to_owned(),
        source,
    })?;
    if !log.unreadable_lines.is_empty() {
        tracing::warn!(path = %access_log.display(), lines = ?log.unreadable_lines, "skipping unreadable access-log lines");
    }
    let mut rows = sales(ctx, dataset).await?;
    phd_sdk::access::attach_access(&mut rows, &log.records);
    Ok(rows)
}

/// `withdraw`: pull my credits.
pub async fn withdraw_credits(ctx: &UserCtx) -> Result<TxReport> {
    Ok(phd_sdk::owner::withdraw_credits(&ctx.client()).await?)
}

use alloy::primitives::{Address, U256};
use phd_chain::Purpose;

use crate::ctx::UserCtx;
use crate::error::{Result, UserError};

/// `price <id> <new>`.
pub async fn set_price(ctx: &UserCtx, dataset_id: u64, new_price: U256) -> Result<TxReport> {
    Ok(phd_sdk::owner::set_price(&ctx.client(), dataset_id, new_price).await?)
}

/// Parses a 64-byte public key (x ‖ y) given as hex, optionally `0x` and/or with a `04` prefix.
pub fn parse_pubkey64(s: &str) -> Result<[u8; 64]> {
    phd_sdk::owner::parse_pubkey64(s).map_err(|e| UserError::InvalidArg {
        arg: "--pubkey",
        reason: e.to_string(),
    })
}

/// `grant <id> --to <address> --pubkey <hex> --purpose validation`: free access, shares encrypted
/// to `pubkey`, which must belong to `to` (phd-sdk's, as the web page's grant form).
pub async fn grant(
    ctx: &UserCtx,
    dataset_id: u64,
    to: Address,
    pubkey: &[u8; 64],
    purpose: Purpose,
) -> Result<TxReport> {
    Ok(phd_sdk::owner::grant(&ctx.client(), dataset_id, to, pubkey, purpose).await?)
}

/// Grant my own account access (purpose portability): the way to a copy of my data when the
/// local copy is gone. The grant is fetched like a purchase (`phd_sdk::retrieve`, or
/// `phd-customer retrieve`).
pub async fn grant_to_self(ctx: &UserCtx, dataset_id: u64) -> Result<TxReport> {
    let me = ctx.owner();
    let pk = ctx.chain.pubkey64();
    grant(ctx, dataset_id, me, &pk, Purpose::Portability).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parsing itself is phd-sdk's (tested there); here only that a bad key is the CLI's
    /// named argument error.
    #[test]
    fn bad_pubkey_is_an_invalid_argument() {
        assert!(parse_pubkey64(&"11".repeat(64)).is_ok());
        assert!(matches!(
            parse_pubkey64("0x1234"),
            Err(UserError::InvalidArg { .. })
        ));
    }
}
