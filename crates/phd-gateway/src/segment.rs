//! Series segments behind the gateway: a subscriber reads segment objects with the same signed
//! [`AccessToken`] as a buyer, its `dataset_id` naming the series and its `purchase_id` the
//! subscription. The object key (`series/<owner>/<series>/<seq>.phd`, phd-protocol's
//! [`segment_object_key`](phd_protocol::segment_object_key)) says which segment is asked for;
//! the chain says whether the signer may have it:
//!
//! - the key is canonical and its series is the token's;
//! - the subscription exists, its subscriber is the signer, it is to that series and its range
//!   `[fromSeq, fromSeq + segments)` holds the seq (a cancel or refund shrinks the range to what
//!   stays deliverable, so a cancelled subscriber keeps only what it paid for);
//! - the series exists, is not withdrawn, its owner is the key's and the seq is appended.
//!
//! The token itself carries no kind: what it proves is the signer's account, and every
//! entitlement is read from SeriesMarket, so a dataset token shown for a segment key gains
//! nothing its signer's subscription does not already grant.

use alloy::primitives::Address;
use axum::http::{HeaderMap, StatusCode};
use phd_chain::SeriesStatus;
use phd_protocol::{gateway::AccessToken, parse_segment_object_key};

use crate::{AuthKey, Gateway, LedgerError, Refusal};

impl Gateway {
    /// Whether `key` is asked for as a series segment (under the series prefix).
    pub(crate) fn is_segment_key(&self, key: &str) -> bool {
        !self.series_prefix.is_empty() && key.starts_with(&self.series_prefix)
    }

    /// The segment access rule (module docs): the token and its signer, or why not.
    pub(crate) async fn authorize_segment(
        &self,
        headers: &HeaderMap,
        key: &str,
    ) -> Result<(AccessToken, Address), Refusal> {
        let (token, signer) = self.verified_token(headers)?;
        let forbid = |code: &'static str, msg: String| {
            Refusal::new(StatusCode::FORBIDDEN, code, msg).with(&token)
        };
        let Some((owner, series_id, seq)) = parse_segment_object_key(key) else {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_key",
                "not a series segment key (series/<owner>/<series>/<seq:012>.phd)".into(),
            )
            .with(&token));
        };
        let sub_id = token.purchase_id;
        if token.dataset_id != series_id {
            return Err(forbid(
                "wrong_series",
                format!(
                    "the token names series {}, the key series {series_id}",
                    token.dataset_id
                ),
            ));
        }
        let ck = AuthKey {
            account: signer,
            dataset_id: series_id,
            purchase_id: sub_id,
            key: key.to_owned(),
        };
        if self.cached(&ck) {
            return Ok((token, signer));
        }
        let unavailable = |e: LedgerError| {
            tracing::warn!(error = %e, "chain read failed");
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
                format!("cannot check the subscription now ({})", e.op),
            )
            .with(&token)
        };
        let sub = self
            .ledger
            .subscription(sub_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                forbid(
                    "no_such_subscription",
                    format!("subscription {sub_id} does not exist"),
                )
            })?;
        if sub.subscriber != signer {
            return Err(forbid(
                "not_subscriber",
                format!(
                    "subscription {sub_id} belongs to {}, not to the signer {signer}",
                    sub.subscriber
                ),
            ));
        }
        if sub.series_id != series_id {
            return Err(forbid(
                "wrong_series",
                format!(
                    "subscription {sub_id} is to series {}, not {series_id}",
                    sub.series_id
                ),
            ));
        }
        let end = sub.from_seq.saturating_add(sub.segments);
        if !(sub.from_seq..end).contains(&seq) {
            return Err(forbid(
                "segment_not_covered",
                format!(
                    "subscription {sub_id} covers segments {}..{end}, not {seq}",
                    sub.from_seq
                ),
            ));
        }
        let series = self
            .ledger
            .series(series_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                forbid(
                    "no_such_series",
                    format!("series {series_id} does not exist"),
                )
            })?;
        if series.status == SeriesStatus::Withdrawn {
            return Err(forbid(
                "series_withdrawn",
                format!("series {series_id}: the owner withdrew consent"),
            ));
        }
        if series.owner != owner {
            return Err(forbid(
                "wrong_object",
                format!("series {series_id} is not owned by {owner}"),
            ));
        }
        if seq >= series.segment_count {
            return Err(forbid(
                "segment_not_appended",
                format!(
                    "series {series_id} has {} segments; {seq} is not appended",
                    series.segment_count
                ),
            ));
        }
        self.remember(ck);
        Ok((token, signer))
    }
}
