//! The HTML pages. Each reads through phd-sdk (the CLIs' code) and renders on the server.

use std::fmt::Write as _;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use phd_chain::{Purpose, format_phd, parse_phd};
use phd_sdk::browse::Listing;
use serde::Deserialize;

use crate::csrf::Session;
use crate::error::WebError;
use crate::html::{bar_chart, csrf_field, esc, page, purpose_options, score_gauge};
use crate::state::AppState;

/// Listings per catalog page.
pub const PAGE_SIZE: usize = 50;

/// Catalog filters as typed in the form (all optional; parsed by [`CatalogQuery::filters`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogQuery {
    pub q: Option<String>,
    pub certified: Option<String>,
    pub certified_device: Option<String>,
    pub max_price: Option<String>,
    pub min_quality: Option<String>,
    pub purpose: Option<String>,
    pub activity: Option<String>,
    pub min_stake: Option<String>,
    pub sort: Option<String>,
    pub page: Option<String>,
    pub all: Option<String>,
}

/// Parsed filters.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub data_type: Option<String>,
    pub certified: bool,
    pub certified_device: bool,
    pub max_price: Option<U256>,
    pub min_quality: Option<f64>,
    pub purpose: Option<Purpose>,
    pub activity: Option<String>,
    pub min_stake: Option<U256>,
    pub sort: Sort,
    pub page: usize,
    pub all: bool,
}

/// Catalog order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
    Quality,
    Stake,
}

impl Sort {
    const ALL: [(Sort, &'static str, &'static str); 5] = [
        (Sort::Newest, "newest", "Newest first"),
        (Sort::PriceAsc, "price", "Price, low to high"),
        (Sort::PriceDesc, "price-desc", "Price, high to low"),
        (Sort::Quality, "quality", "Quality score"),
        (Sort::Stake, "stake", "Keeper stake"),
    ];
}

/// A query field's trimmed value; absent and blank are the same (an unticked box, an empty input).
pub(crate) fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An optional PHD amount filter, or a 400 naming the field.
pub(crate) fn amount_filter(
    what: &'static str,
    s: &Option<String>,
) -> Result<Option<U256>, WebError> {
    nonempty(s)
        .map(|s| parse_phd(s).map_err(|e| WebError::bad(what, e.to_string())))
        .transpose()
}

/// An optional purpose filter, or a 400.
pub(crate) fn purpose_filter(s: &Option<String>) -> Result<Option<Purpose>, WebError> {
    nonempty(s)
        .map(|s| {
            s.parse::<Purpose>()
                .map_err(|e| WebError::bad("purpose", e.to_string()))
        })
        .transpose()
}

impl CatalogQuery {
    /// The filters, or a 400 naming the bad field.
    pub fn filters(&self) -> Result<Filters, WebError> {
        let min_quality = nonempty(&self.min_quality)
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .ok_or_else(|| {
                        WebError::bad("min_quality", format!("{s:?} is not a number from 0 to 1"))
                    })
            })
            .transpose()?;
        let purpose = purpose_filter(&self.purpose)?;
        let sort = match nonempty(&self.sort) {
            None => Sort::Newest,
            Some(s) => Sort::ALL
                .iter()
                .find(|(_, k, _)| *k == s)
                .map(|x| x.0)
                .ok_or_else(|| WebError::bad("sort", format!("unknown order {s:?}")))?,
        };
        let page = nonempty(&self.page)
            .map(|s| {
                s.parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| WebError::bad("page", format!("{s:?} is not a page number")))
            })
            .transpose()?;
        Ok(Filters {
            data_type: nonempty(&self.q).map(str::to_ascii_lowercase),
            certified: nonempty(&self.certified).is_some(),
            certified_device: nonempty(&self.certified_device).is_some(),
            max_price: amount_filter("max_price", &self.max_price)?,
            min_quality,
            purpose,
            activity: nonempty(&self.activity).map(str::to_ascii_lowercase),
            min_stake: amount_filter("min_stake", &self.min_stake)?,
            sort,
            page: page.unwrap_or(1),
            all: nonempty(&self.all).is_some(),
        })
    }
}

fn wei(s: &str) -> U256 {
    s.parse().unwrap_or(U256::ZERO)
}

fn stake_min(l: &Listing) -> U256 {
    l.keeper_stake_min_wei.as_deref().map_or(U256::ZERO, wei)
}

impl Filters {
    /// The listings passing the filters, in order.
    pub fn apply<'a>(&self, all: &'a [Listing]) -> Vec<&'a Listing> {
        let mut v: Vec<&Listing> = all
            .iter()
            .filter(|l| self.all || l.status == phd_chain::DatasetStatus::Active.to_string())
            .filter(|l| {
                self.data_type.as_ref().is_none_or(|t| {
                    l.data_type
                        .as_deref()
                        .is_some_and(|d| d.to_ascii_lowercase().contains(t.as_str()))
                })
            })
            .filter(|l| !self.certified || l.certified)
            .filter(|l| !self.certified_device || l.device_certified)
            .filter(|l| self.max_price.is_none_or(|m| wei(&l.price_wei) <= m))
            .filter(|l| {
                self.min_quality
                    .is_none_or(|q| l.effective_quality().is_some_and(|s| s >= q))
            })
            .filter(|l| {
                self.purpose
                    .is_none_or(|p| l.purposes.iter().any(|x| x == p.name()))
            })
            .filter(|l| {
                self.activity.as_ref().is_none_or(|a| {
                    l.activities
                        .iter()
                        .any(|(k, n)| *n > 0 && k.to_ascii_lowercase() == *a)
                })
            })
            .filter(|l| self.min_stake.is_none_or(|m| stake_min(l) >= m))
            .collect();
        match self.sort {
            Sort::Newest => v.sort_by_key(|l| std::cmp::Reverse(l.dataset_id)),
            Sort::PriceAsc => v.sort_by_key(|l| (wei(&l.price_wei), l.dataset_id)),
            Sort::PriceDesc => v.sort_by(|a, b| {
                wei(&b.price_wei)
                    .cmp(&wei(&a.price_wei))
                    .then(a.dataset_id.cmp(&b.dataset_id))
            }),
            Sort::Quality => v.sort_by(|a, b| {
                b.effective_quality()
                    .unwrap_or(-1.0)
                    .total_cmp(&a.effective_quality().unwrap_or(-1.0))
            }),
            Sort::Stake => v.sort_by_key(|l| std::cmp::Reverse(stake_min(l))),
        }
        v
    }
}

fn quality_cell(l: &Listing) -> String {
    l.effective_quality()
        .map_or("–".into(), |q| format!("{q:.2}"))
}

fn certified_badge(l: &Listing) -> String {
    if l.certified {
        format!(
            r#"<span class="badge yes">certified ({})</span>"#,
            l.certifications_counted
        )
    } else {
        format!(
            r#"<span class="badge">{} certificate{}</span>"#,
            l.certifications,
            if l.certifications == 1 { "" } else { "s" }
        )
    }
}

fn device_cell(l: &Listing) -> String {
    let model = esc(l.device_model.as_deref().unwrap_or("unknown"));
    if l.device_certified {
        format!(r#"{model} <span class="badge yes">certified</span>"#)
    } else {
        model
    }
}

/// `GET /`: the catalog.
pub async fn catalog(
    State(state): State<AppState>,
    Query(q): Query<CatalogQuery>,
) -> Result<Html<String>, WebError> {
    let f = q.filters()?;
    let snap = state.listings().await?;
    let all = &snap.listings;
    let hits = f.apply(all);
    let total = hits.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let shown = hits.iter().skip((f.page - 1) * PAGE_SIZE).take(PAGE_SIZE);
    let mut activities: Vec<&String> = all.iter().flat_map(|l| l.activities.keys()).collect();
    activities.sort();
    activities.dedup();
    let v = |s: &Option<String>| esc(nonempty(s).unwrap_or_default());
    let mut b = String::with_capacity(16 * 1024);
    let _ = write!(
        b,
        r#"<form class="filters" method="get" action="/" aria-label="Filter datasets">
<label>Data type<input name="q" value="{q}"></label>
<label>Max price (PHD)<input name="max_price" inputmode="decimal" value="{mp}"></label>
<label>Min quality (0–1)<input name="min_quality" inputmode="decimal" value="{mq}"></label>
<label>Purpose<select name="purpose"><option value="">any</option>{po}</select></label>
<label>Activity<select name="activity"><option value="">any</option>{ac}</select></label>
<label>Min keeper stake (PHD)<input name="min_stake" inputmode="decimal" value="{ms}"></label>
<label>Sort<select name="sort">{so}</select></label>
<label class="check"><input type="checkbox" name="certified" value="1"{ce}> Certified only</label>
<label class="check"><input type="checkbox" name="certified_device" value="1"{cd}> Certified device only</label>
<button type="submit" id="apply">Apply</button></form>
<p id="count">{total} dataset{s} match.</p>"#,
        q = v(&q.q),
        mp = v(&q.max_price),
        mq = v(&q.min_quality),
        ms = v(&q.min_stake),
        po = purpose_options(f.purpose),
        ac = activities
            .iter()
            .map(|a| format!(
                r#"<option value="{a}"{sel}>{a}</option>"#,
                a = esc(a),
                sel = if f.activity.as_deref() == Some(a.to_ascii_lowercase().as_str()) {
                    " selected"
                } else {
                    ""
                }
            ))
            .collect::<String>(),
        so = Sort::ALL
            .iter()
            .map(|(s, k, label)| format!(
                r#"<option value="{k}"{sel}>{label}</option>"#,
                sel = if f.sort == *s { " selected" } else { "" }
            ))
            .collect::<String>(),
        ce = if f.certified { " checked" } else { "" },
        cd = if f.certified_device { " checked" } else { "" },
        s = if total == 1 { "" } else { "s" },
    );
    b.push_str(r#"<table id="listings"><caption>Datasets for sale</caption><thead><tr><th scope="col">ID</th><th scope="col">Title</th><th scope="col">Type</th><th scope="col">Purposes</th><th scope="col">Activities</th><th scope="col" class="num">Quality</th><th scope="col">Certification</th><th scope="col">Device</th><th scope="col" class="num">Min keeper stake</th><th scope="col" class="num">Price (PHD)</th></tr></thead><tbody>"#);
    for l in shown {
        let _ = write!(
            b,
            r#"<tr data-id="{id}"><td><a href="/datasets/{id}">#{id}</a></td><td>{t}</td><td>{ty}</td><td>{pu}</td><td>{ac}</td><td class="num">{q}</td><td>{c}</td><td>{dv}</td><td class="num">{st}</td><td class="num">{p}</td></tr>"#,
            id = l.dataset_id,
            t = esc(l.title.as_deref().unwrap_or("untitled")),
            ty = esc(l.data_type.as_deref().unwrap_or("?")),
            pu = esc(&l.purposes.join(", ")),
            ac = esc(&l.activities.keys().cloned().collect::<Vec<_>>().join(", ")),
            q = quality_cell(l),
            c = certified_badge(l),
            dv = device_cell(l),
            st = esc(l.keeper_stake_min_phd.as_deref().unwrap_or("?")),
            p = esc(&l.price_phd),
        );
    }
    b.push_str("</tbody></table>");
    if pages > 1 {
        let mut qs = q.clone();
        let link = |qs: &mut CatalogQuery, n: usize| {
            qs.page = Some(n.to_string());
            format!("/?{}", serde_urlencoded(qs))
        };
        b.push_str(r#"<nav class="pager" aria-label="Pages">"#);
        if f.page > 1 {
            let _ = write!(
                b,
                r#"<a href="{}" rel="prev">Previous</a>"#,
                esc(&link(&mut qs, f.page - 1))
            );
        }
        let _ = write!(b, "Page {} of {pages}", f.page);
        if f.page < pages {
            let _ = write!(
                b,
                r#" <a href="{}" rel="next">Next</a>"#,
                esc(&link(&mut qs, f.page + 1))
            );
        }
        b.push_str("</nav>");
    }
    Ok(Html(page("Datasets", &b)))
}

/// The query string of `q` (only the fields set).
fn serde_urlencoded(q: &CatalogQuery) -> String {
    let fields = [
        ("q", &q.q),
        ("certified", &q.certified),
        ("certified_device", &q.certified_device),
        ("max_price", &q.max_price),
        ("min_quality", &q.min_quality),
        ("purpose", &q.purpose),
        ("activity", &q.activity),
        ("min_stake", &q.min_stake),
        ("sort", &q.sort),
        ("page", &q.page),
        ("all", &q.all),
    ];
    fields
        .iter()
        .filter_map(|(k, v)| nonempty(v).map(|v| format!("{k}={}", pct(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A dataset id from the path, or a 400.
pub fn parse_id(s: &str) -> Result<u64, WebError> {
    parse_numbered("dataset", s)
}

/// The id of a `what` (ids start at 1) from the path, or a 400 naming it.
pub(crate) fn parse_numbered(what: &'static str, s: &str) -> Result<u64, WebError> {
    s.parse::<u64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| WebError::BadRequest {
            what,
            reason: format!("{s:?} is not a {what} number"),
        })
}

/// An address from the path, or a 400.
pub fn parse_address(s: &str) -> Result<Address, WebError> {
    s.parse::<Address>()
        .map_err(|e| WebError::bad("address", format!("{s:?}: {e}")))
}

/// Dataset `id` (any status), or a 404.
pub async fn find_listing(state: &AppState, id: u64) -> Result<Listing, WebError> {
    phd_sdk::browse::listing(state.reader()?, id)
        .await?
        .ok_or_else(|| WebError::NotFound {
            what: format!("dataset {id}"),
        })
}

/// `GET /datasets/{id}`.
pub async fn dataset(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = parse_id(&id)?;
    let l = find_listing(&state, id).await?;
    let ctx = state.reader()?;
    let keepers = ctx.chain.keepers_of(U256::from(id)).await.map_err(|e| {
        WebError::Sdk(phd_sdk::SdkError::Chain {
            context: "reading keepers".into(),
            source: e.into(),
        })
    })?;
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<dl class="meta"><dt>Title</dt><dd>{t}</dd><dt>Status</dt><dd id="status">{st}</dd><dt>Data type</dt><dd>{ty}</dd><dt>Samples</dt><dd>{sa}</dd><dt>Sampling rate</dt><dd>{sr}</dd><dt>Size</dt><dd>{by} bytes</dd><dt>Owner</dt><dd><code>{ow}</code></dd><dt>Purposes consented</dt><dd>{pu}</dd><dt>Key shares</dt><dd>{th} of {k} keepers needed ({ack} acknowledged)</dd><dt>Device</dt><dd id="device">{dv}</dd><dt>Price</dt><dd id="price">{pr} PHD</dd></dl>"#,
        t = esc(l.title.as_deref().unwrap_or("untitled")),
        st = esc(&l.status),
        ty = esc(l.data_type.as_deref().unwrap_or("?")),
        sa = l.samples.map_or("?".into(), |s| s.to_string()),
        sr = l.sampling_rate_hz.map_or("?".into(), |r| format!("{r} Hz")),
        by = l.plaintext_bytes.map_or("?".into(), |s| s.to_string()),
        ow = l.owner,
        pu = esc(&l.purposes.join(", ")),
        th = l.threshold,
        k = l.keepers,
        ack = l.acknowledged,
        dv = device_cell(&l),
        pr = esc(&l.price_phd),
    );
    if l.status == phd_chain::DatasetStatus::Active.to_string() {
        let _ = write!(
            b,
            r#"<p><a class="button" id="buy" href="/datasets/{id}/buy">Buy this dataset</a></p>"#
        );
    }
    b.push_str("<h2>Quality report</h2>");
    if let Some(q) = l.quality_score {
        b.push_str(&score_gauge("Owner's quality score", q));
    }
    b.push_str(&bar_chart(
        "Activity mix (kept windows)",
        &l.activities
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect::<Vec<_>>(),
        "",
    ));
    let mut windows: Vec<(String, f64)> = l
        .windows_kept
        .map(|k| ("kept".to_string(), k as f64))
        .into_iter()
        .collect();
    windows.extend(
        l.windows_dropped
            .iter()
            .map(|(k, v)| (format!("dropped: {k}"), *v as f64)),
    );
    b.push_str(&bar_chart(
        "Windows kept and dropped by reason",
        &windows,
        "",
    ));
    b.push_str("<h2>Certificates</h2>");
    let _ = write!(
        b,
        "<p>{badge} — {n} certificate(s) recorded, {c} counted{score}{by}.</p>",
        badge = certified_badge(&l),
        n = l.certifications,
        c = l.certifications_counted,
        score = l.certified_score_bps.map_or(String::new(), |s| format!(
            ", aggregate score {:.2}",
            f64::from(s) / 10_000.0
        )),
        by = l
            .certified_by
            .map_or(String::new(), |v| format!(", latest by <code>{v}</code>")),
    );
    let history = phd_sdk::owner::price_history(ctx, id).await?;
    b.push_str("<h2>Price history</h2>");
    b.push_str(&bar_chart(
        "Price after each change (PHD)",
        &history
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    if i == 0 {
                        "listed".to_string()
                    } else {
                        format!("change {i}")
                    },
                    p.price_phd.parse::<f64>().unwrap_or(0.0),
                )
            })
            .collect::<Vec<_>>(),
        "",
    ));
    b.push_str(r#"<table id="price-history"><thead><tr><th scope="col">Block</th><th scope="col">Event</th><th scope="col" class="num">Price (PHD)</th></tr></thead><tbody>"#);
    for (i, p) in history.iter().enumerate() {
        let _ = write!(
            b,
            r#"<tr><td>{bn}</td><td>{ev}</td><td class="num">{pr}</td></tr>"#,
            bn = p.block_number.map_or("?".into(), |n| n.to_string()),
            ev = if i == 0 { "listed" } else { "price changed" },
            pr = esc(&p.price_phd),
        );
    }
    b.push_str("</tbody></table>");
    b.push_str(r#"<h2>Keepers and their stakes</h2><table id="keepers"><thead><tr><th scope="col">Share</th><th scope="col">Keeper</th><th scope="col" class="num">Stake (PHD)</th></tr></thead><tbody>"#);
    for (i, k) in keepers.iter().enumerate() {
        let stake = ctx
            .chain
            .stake_of(*k)
            .await
            .map(|s| format_phd(s.amount))
            .unwrap_or_else(|_| "?".into());
        let _ = write!(
            b,
            r#"<tr><td>{}</td><td><a href="/keepers/{k}"><code>{k}</code></a></td><td class="num">{stake}</td></tr>"#,
            i + 1
        );
    }
    b.push_str("</tbody></table>");
    Ok(Html(page(&format!("Dataset #{id}"), &b)))
}

/// `GET /datasets/{id}/buy`: confirm price and purpose.
pub async fn buy_form(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = parse_id(&id)?;
    let l = find_listing(&state, id).await?;
    let buyer = state.buyer()?;
    let balance = buyer
        .chain
        .balance_of(buyer.me())
        .await
        .map(format_phd)
        .unwrap_or_else(|_| "?".into());
    let b = format!(
        r#"<p>You are buying dataset <a href="/datasets/{id}">#{id}</a> ({t}) as <code>{me}</code>, who holds {balance} PHD.</p>
<form method="post" action="/datasets/{id}/buy" id="buy-form">{csrf}
<p><label for="purpose">Purpose (what you will use the data for)</label><br><select id="purpose" name="purpose">{po}</select></p>
<p><label for="max_price">Pay at most (PHD)</label><br><input id="max_price" name="max_price" inputmode="decimal" value="{pr}"></p>
<p>The price is <strong>{pr} PHD</strong>. It goes into escrow and reaches the owner and keepers only once the key shares arrive; otherwise you can take it back.</p>
<p><button type="submit" id="confirm">Confirm and pay</button> <a href="/datasets/{id}">Cancel</a></p></form>"#,
        t = esc(l.title.as_deref().unwrap_or("untitled")),
        me = buyer.me(),
        csrf = csrf_field(&session.token()),
        po = l
            .purposes
            .iter()
            .map(|p| format!(r#"<option value="{p}">{p}</option>"#, p = esc(p)))
            .collect::<String>(),
        pr = esc(&l.price_phd),
    );
    Ok(Html(page("Confirm your purchase", &b)))
}

/// The buy confirmation form.
#[derive(Debug, Deserialize)]
pub struct BuyForm {
    pub csrf: Option<String>,
    pub purpose: Option<String>,
    pub max_price: Option<String>,
}

/// Parses a purpose and an optional maximum price (PHD).
pub fn parse_buy(
    purpose: Option<&str>,
    max_price: Option<&str>,
) -> Result<(Purpose, Option<U256>), WebError> {
    let purpose = purpose
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WebError::bad("purpose", "choose a purpose"))?
        .parse::<Purpose>()
        .map_err(|e| WebError::bad("purpose", e.to_string()))?;
    let max = max_price
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_phd(s).map_err(|e| WebError::bad("max_price", e.to_string())))
        .transpose()?;
    Ok((purpose, max))
}

/// `POST /datasets/{id}/buy`: starts the purchase, then shows its progress.
pub async fn buy_submit(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(f): Form<BuyForm>,
) -> Result<Redirect, WebError> {
    session.verify(f.csrf.as_deref())?;
    let id = parse_id(&id)?;
    let (purpose, max) = parse_buy(f.purpose.as_deref(), f.max_price.as_deref())?;
    let job = crate::jobs::start(&state, &session, id, purpose, max)?;
    Ok(Redirect::to(&format!("/jobs/{}", job.id)))
}

fn step_text(e: &serde_json::Value) -> String {
    let g = |k: &str| {
        e.get(k)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default()
    };
    match g("step").as_str() {
        "paying" => "Paying into escrow…".into(),
        "waiting_for_shares" => format!(
            "Escrow open as purchase {}; waiting for {} key shares",
            g("purchase_id"),
            g("threshold")
        ),
        "share_checked" => format!(
            "Share {} from keeper {} {}",
            g("share_index"),
            g("keeper"),
            if g("valid") == "true" {
                "verified"
            } else {
                "INVALID"
            }
        ),
        "key_reconstructed" => format!("Key reconstructed from shares {}", g("shares_used")),
        "downloaded" => format!("Downloaded {} bytes", g("bytes")),
        "chunks_verified" => format!(
            "Verified {} of {} chunks against the on-chain root",
            g("chunks"),
            g("total")
        ),
        "decrypted" => format!("Decrypted {} bytes", g("bytes")),
        "done" => format!("File ready ({} bytes)", g("bytes")),
        "confirmed" => "Receipt confirmed on-chain; the sale is settled".into(),
        "finished" => "Finished".into(),
        "failed" => format!("Failed: {}", g("message")),
        other => other.to_string(),
    }
}

/// `GET /jobs/{job}`: a purchase's progress (live with JavaScript, refreshing without).
pub async fn job(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let job = crate::jobs::get(&state, &session, &id)?;
    let st = job.state();
    let mut b = String::new();
    if !st.finished {
        b.push_str(r#"<noscript><meta http-equiv="refresh" content="2"></noscript>"#);
    }
    let _ = write!(
        b,
        r#"<div id="job" data-events="/jobs/{id}/events" data-finished="{fin}"><p>Dataset <a href="/datasets/{ds}">#{ds}</a>{pid}.</p><h2>Progress</h2><ol class="steps" id="steps" aria-live="polite">"#,
        id = esc(&job.id),
        fin = st.finished,
        ds = job.dataset_id,
        pid = st
            .purchase_id
            .map_or(String::new(), |p| format!(", purchase {p}")),
    );
    for e in &st.events {
        let step = e.get("step").and_then(|s| s.as_str()).unwrap_or_default();
        let _ = write!(
            b,
            r#"<li class="{c}" data-step="{s}">{t}</li>"#,
            c = if step == "failed" { "failed" } else { "done" },
            s = esc(step),
            t = esc(&step_text(e))
        );
    }
    b.push_str("</ol></div>");
    match (&st.error, st.finished) {
        (Some(err), _) => {
            let _ = write!(
                b,
                r#"<div class="error" role="alert" id="error"><p>The purchase did not go through: {}</p>{}</div>"#,
                esc(err),
                st.error_kind.as_ref().map_or(String::new(), |k| format!(
                    "<p>Contract error: <code>{}</code></p>",
                    esc(k)
                ))
            );
        }
        (None, true) => {
            let _ = write!(
                b,
                r#"<div class="ok" role="status"><p>Bought, verified and decrypted: {} bytes.</p><p><a class="button" id="download" href="/jobs/{}/file" download>Download the file</a></p></div>"#,
                st.bytes.unwrap_or(0),
                esc(&job.id)
            );
        }
        (None, false) => {}
    }
    Ok(Html(page("Purchase", &b)))
}

/// Query of the owner page (a message after an action).
#[derive(Debug, Deserialize)]
pub struct OwnerQuery {
    pub withdrawn: Option<String>,
}

/// `GET /owner`: my listings, sales, earnings.
pub async fn owner(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(q): Query<OwnerQuery>,
) -> Result<Html<String>, WebError> {
    let ctx = state.owner()?;
    let datasets = phd_sdk::owner::list(ctx).await?;
    let sales = phd_sdk::owner::sales(ctx, None).await?;
    let credits = ctx.chain.credits_of(ctx.me()).await.map_err(|e| {
        WebError::Sdk(phd_sdk::SdkError::Chain {
            context: "reading credits".into(),
            source: e.into(),
        })
    })?;
    let mut b = String::new();
    if let Some(w) = nonempty(&q.withdrawn) {
        let _ = write!(
            b,
            r#"<p class="ok" role="status" id="flash">Withdrew {} PHD to your wallet.</p>"#,
            esc(w)
        );
    }
    let _ = write!(
        b,
        r#"<p>Account <code>{}</code>. <a href="/owner/export" id="export" download>Download all my data (GDPR export, JSON)</a></p>"#,
        ctx.me()
    );
    b.push_str(r#"<h2>My listings</h2><table id="my-datasets"><thead><tr><th scope="col">ID</th><th scope="col">Title</th><th scope="col">Status</th><th scope="col" class="num">Price (PHD)</th><th scope="col" class="num">Sales</th><th scope="col">Erasures</th><th scope="col">Actions</th></tr></thead><tbody>"#);
    for d in &datasets {
        let active = d.status == phd_chain::DatasetStatus::Active.to_string();
        let _ = write!(
            b,
            r#"<tr><td><a href="/datasets/{id}">#{id}</a></td><td>{t}</td><td>{st}</td><td class="num">{p}</td><td class="num">{s}</td><td>{e}/{k}</td><td><a href="/owner/datasets/{id}" id="manage-{id}">status, price, grants</a>{w}</td></tr>"#,
            id = d.dataset_id,
            t = esc(d.title.as_deref().unwrap_or("untitled")),
            st = esc(&d.status),
            p = esc(&d.price_phd),
            s = d.sales,
            e = d.erasures,
            k = d.keepers,
            w = if active {
                format!(
                    r#" · <a href="/owner/datasets/{}/consent" id="withdraw-consent-{}">withdraw consent</a>"#,
                    d.dataset_id, d.dataset_id
                )
            } else {
                String::new()
            },
        );
    }
    b.push_str("</tbody></table>");
    b.push_str(r#"<h2>Sales</h2><table id="sales"><thead><tr><th scope="col">Purchase</th><th scope="col">Dataset</th><th scope="col">Buyer</th><th scope="col">When (unix)</th><th scope="col">Purpose</th><th scope="col" class="num">Price (PHD)</th><th scope="col">Status</th><th scope="col" class="num">Earned (PHD)</th></tr></thead><tbody>"#);
    for s in &sales {
        let _ = write!(
            b,
            r#"<tr><td>{pid}{kind}</td><td>#{ds}</td><td><code>{bu}</code></td><td>{at}</td><td>{pu}</td><td class="num">{pr}</td><td>{st}</td><td class="num">{ea}</td></tr>"#,
            pid = s.purchase_id,
            kind = if s.kind == "grant" { " (grant)" } else { "" },
            ds = s.dataset_id,
            bu = s.buyer,
            at = s.created_at,
            pu = esc(&s.purpose),
            pr = esc(&s.price_phd),
            st = esc(&s.status),
            ea = s
                .owner_amount_wei
                .as_deref()
                .map_or("–".into(), |w| format_phd(wei(w))),
        );
    }
    b.push_str("</tbody></table>");
    b.push_str("<h2>Earnings</h2>");
    let mut running = U256::ZERO;
    let earned: Vec<(String, f64)> = sales
        .iter()
        .filter_map(|s| {
            let w = wei(s.owner_amount_wei.as_deref()?);
            running = running.saturating_add(w);
            Some((
                format!("after #{}", s.purchase_id),
                format_phd(running).parse::<f64>().unwrap_or(0.0),
            ))
        })
        .collect();
    b.push_str(&bar_chart(
        "Earnings over time (cumulative, PHD)",
        &earned,
        "",
    ));
    let _ = write!(
        b,
        r#"<p>Ready to withdraw: <strong id="credits">{c} PHD</strong>.</p><form method="post" action="/owner/withdraw">{csrf}<button type="submit" id="withdraw"{dis}>Withdraw earnings</button></form>"#,
        c = format_phd(credits),
        csrf = csrf_field(&session.token()),
        dis = if credits.is_zero() { " disabled" } else { "" },
    );
    Ok(Html(page("My data", &b)))
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    pub csrf: Option<String>,
}

/// `POST /owner/withdraw`: pulls the owner's credits.
pub async fn owner_withdraw(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(f): Form<TokenForm>,
) -> Result<Redirect, WebError> {
    session.verify(f.csrf.as_deref())?;
    let r = phd_sdk::owner::withdraw_credits(state.owner()?).await?;
    Ok(Redirect::to(&format!(
        "/owner?withdrawn={}",
        r.amount_phd.unwrap_or_default()
    )))
}

/// `GET /owner/datasets/{id}/consent`: confirm the withdrawal of consent.
pub async fn consent_form(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = parse_id(&id)?;
    let s = phd_sdk::owner::status(state.owner()?, id).await?;
    let b = format!(
        r#"<p>Withdrawing consent for dataset <a href="/datasets/{id}">#{id}</a> closes the listing for good, deletes the encrypted data from storage and asks each of the {k} keepers to destroy its key share. Buyers with open purchases get their money back. It cannot be undone.</p>
<form method="post" action="/owner/datasets/{id}/consent">{csrf}<button type="submit" class="danger" id="confirm-withdraw">Withdraw consent and erase</button> <a href="/owner">Cancel</a></form>"#,
        k = s.keeper_count,
        csrf = csrf_field(&session.token())
    );
    Ok(Html(page("Withdraw consent", &b)))
}

/// `POST /owner/datasets/{id}/consent`: withdraws consent, then shows erasures filling in.
pub async fn consent_submit(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(f): Form<TokenForm>,
) -> Result<Redirect, WebError> {
    session.verify(f.csrf.as_deref())?;
    let id = parse_id(&id)?;
    // No wait here: the status page shows the keepers' confirmations as they arrive.
    phd_sdk::owner::withdraw_consent(state.owner()?, id, Duration::ZERO).await?;
    state.invalidate_listings().await;
    Ok(Redirect::to(&format!("/owner/datasets/{id}")))
}

/// Query of the owner's dataset page (a message after an action).
#[derive(Debug, Deserialize)]
pub struct OwnerDatasetQuery {
    pub price: Option<String>,
    pub granted: Option<String>,
}

/// `GET /owner/datasets/{id}`: status, acknowledgements, erasure confirmations, storage; price
/// change and grant forms while the listing is open.
pub async fn owner_dataset(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<OwnerDatasetQuery>,
) -> Result<Html<String>, WebError> {
    let id = parse_id(&id)?;
    let s = phd_sdk::owner::status(state.owner()?, id).await?;
    let withdrawn = s.status == phd_chain::DatasetStatus::Withdrawn.to_string();
    let complete = s.erasures >= s.keeper_count;
    let mut b = String::new();
    if let Some(p) = nonempty(&q.price) {
        let _ = write!(
            b,
            r#"<p class="ok" role="status" id="flash">Price changed to {} PHD.</p>"#,
            esc(p)
        );
    }
    if let Some(g) = nonempty(&q.granted) {
        let _ = write!(
            b,
            r#"<p class="ok" role="status" id="flash">Access granted as purchase {}; the keepers now release the key to the grantee.</p>"#,
            esc(g)
        );
    }
    if withdrawn && !complete {
        b.push_str(r#"<noscript><meta http-equiv="refresh" content="2"></noscript>"#);
    }
    let _ = write!(
        b,
        r#"<dl class="meta"><dt>Status</dt><dd id="status">{st}</dd><dt>Erasure confirmations</dt><dd><span id="erasures" data-api="/api/owner/datasets/{id}" data-complete="{complete}" aria-live="polite">{e}/{k}</span></dd><dt>Encrypted object in storage</dt><dd id="object">{obj}</dd><dt>Price</dt><dd>{p} PHD</dd></dl>"#,
        st = esc(&s.status),
        e = s.erasures,
        k = s.keeper_count,
        obj = match s.storage.object_present {
            Some(true) => "present".to_string(),
            Some(false) => "deleted".to_string(),
            None => esc(s.storage.error.as_deref().unwrap_or("unknown")),
        },
        p = esc(&s.price_phd),
    );
    b.push_str(r#"<table id="keeper-states"><thead><tr><th scope="col">Share</th><th scope="col">Keeper</th><th scope="col">Acknowledged</th><th scope="col">Erasure confirmed</th></tr></thead><tbody>"#);
    for k in &s.keepers {
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            k.share_index,
            k.address,
            if k.acknowledged { "yes" } else { "no" },
            if k.erasure_confirmed {
                "yes"
            } else {
                "not yet"
            }
        );
    }
    b.push_str("</tbody></table>");
    if !withdrawn {
        let token = session.token();
        let _ = write!(
            b,
            r#"<h2>Change the price</h2><form method="post" action="/owner/datasets/{id}/price" id="price-form">{csrf}<p><label for="new-price">New price (PHD)</label><br><input id="new-price" name="price" inputmode="decimal" value="{p}"> <button type="submit" id="set-price">Change the price</button></p><p>Buyers pay the new price from the next purchase; open purchases keep theirs. The change is recorded on-chain and shown in the price history.</p></form>
<h2>Grant access</h2><form method="post" action="/owner/datasets/{id}/grant" id="grant-form">{csrf}<p>Free access for one account and one purpose (a validator, a collaborator, yourself for portability). The keepers release the key to that account only; you pay their delivery fees.</p>
<p><label for="grant-to">Account address</label><br><input id="grant-to" name="to" size="44" autocomplete="off"></p>
<p><label for="grant-pubkey">Its public key (64 bytes hex, x‖y; the key shares are encrypted to it)</label><br><input id="grant-pubkey" name="pubkey" size="70" autocomplete="off"></p>
<p><label for="grant-purpose">Purpose</label><br><select id="grant-purpose" name="purpose">{po}</select></p>
<p><button type="submit" id="grant">Grant access</button></p></form>"#,
            csrf = csrf_field(&token),
            p = esc(&s.price_phd),
            po = s
                .purposes
                .iter()
                .map(|p| format!(r#"<option value="{p}">{p}</option>"#, p = esc(p)))
                .collect::<String>(),
        );
    }
    Ok(Html(page(&format!("My dataset #{id}"), &b)))
}

/// The price change form.
#[derive(Debug, Deserialize)]
pub struct PriceForm {
    pub csrf: Option<String>,
    pub price: Option<String>,
}

/// A new price (PHD, decimal), or a 400.
pub fn parse_price(s: Option<&str>) -> Result<U256, WebError> {
    let s = s
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WebError::bad("price", "enter a price in PHD"))?;
    parse_phd(s).map_err(|e| WebError::bad("price", e.to_string()))
}

/// `POST /owner/datasets/{id}/price`: the owner changes the price (phd-sdk, as `phd-user price`).
pub async fn price_submit(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(f): Form<PriceForm>,
) -> Result<Redirect, WebError> {
    session.verify(f.csrf.as_deref())?;
    let id = parse_id(&id)?;
    let price = parse_price(f.price.as_deref())?;
    let r = phd_sdk::owner::set_price(state.owner()?, id, price).await?;
    state.invalidate_listings().await;
    Ok(Redirect::to(&format!(
        "/owner/datasets/{id}?price={}",
        pct(&r.amount_phd.unwrap_or_default())
    )))
}

/// The grant form.
#[derive(Debug, Deserialize)]
pub struct GrantForm {
    pub csrf: Option<String>,
    pub to: Option<String>,
    pub pubkey: Option<String>,
    pub purpose: Option<String>,
}

/// The grantee, its public key and the purpose, or a 400 naming the bad field.
pub fn parse_grant(
    to: Option<&str>,
    pubkey: Option<&str>,
    purpose: Option<&str>,
) -> Result<(Address, [u8; 64], Purpose), WebError> {
    let to = parse_address(to.map(str::trim).unwrap_or_default())?;
    let pubkey = phd_sdk::owner::parse_pubkey64(pubkey.unwrap_or_default())
        .map_err(|e| WebError::bad("public key", e.to_string()))?;
    let (purpose, _) = parse_buy(purpose, None)?;
    Ok((to, pubkey, purpose))
}

/// `POST /owner/datasets/{id}/grant`: free access for an account and a purpose (phd-sdk, as
/// `phd-user grant`).
pub async fn grant_submit(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(f): Form<GrantForm>,
) -> Result<Redirect, WebError> {
    session.verify(f.csrf.as_deref())?;
    let id = parse_id(&id)?;
    let (to, pubkey, purpose) =
        parse_grant(f.to.as_deref(), f.pubkey.as_deref(), f.purpose.as_deref())?;
    let r = phd_sdk::owner::grant(state.owner()?, id, to, &pubkey, purpose).await?;
    Ok(Redirect::to(&format!(
        "/owner/datasets/{id}?granted={}",
        r.purchase_id.unwrap_or_default()
    )))
}

/// `GET /owner/export`: the GDPR export (Art. 15/20) as a download — the same document as
/// `phd-user export`, built by the same phd-sdk code and validated against the same schema
/// (without the local copies, which only the owner's machine knows).
pub async fn owner_export(State(state): State<AppState>) -> Result<Response, WebError> {
    let ctx = state.owner()?;
    let doc = phd_sdk::export::build(ctx, &Default::default()).await?;
    let bytes = phd_sdk::export::to_validated_json(&doc).map_err(|reason| WebError::Io {
        context: "building the export".into(),
        source: std::io::Error::other(reason),
    })?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/json".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(r#"attachment; filename="phd-export-{:x}.json""#, ctx.me()),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /keepers`: every registered keeper with its stake.
pub async fn keepers(State(state): State<AppState>) -> Result<Html<String>, WebError> {
    let ctx = state.reader()?;
    let ks = ctx.chain.keepers().await.map_err(|e| {
        WebError::Sdk(phd_sdk::SdkError::Chain {
            context: "reading keepers".into(),
            source: e.into(),
        })
    })?;
    let mut b = String::from(
        r#"<table id="keeper-list"><thead><tr><th scope="col">Keeper</th><th scope="col" class="num">Stake (PHD)</th></tr></thead><tbody>"#,
    );
    for k in ks {
        let stake = ctx
            .chain
            .stake_of(k)
            .await
            .map(|s| format_phd(s.amount))
            .unwrap_or_else(|_| "?".into());
        let _ = write!(
            b,
            r#"<tr><td><a href="/keepers/{k}"><code>{k}</code></a></td><td class="num">{stake}</td></tr>"#
        );
    }
    b.push_str("</tbody></table>");
    Ok(Html(page("Keepers", &b)))
}

/// `GET /keepers/{address}`: stake, deliveries, disputes, earnings.
pub async fn keeper(
    State(state): State<AppState>,
    Path(addr): Path<String>,
) -> Result<Html<String>, WebError> {
    let a = parse_address(&addr)?;
    let r = phd_sdk::keeper::report(state.reader()?, a).await?;
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<dl class="meta"><dt>Address</dt><dd><code>{a}</code></dd><dt>Active keeper</dt><dd>{ac}</dd><dt>Stake</dt><dd id="stake">{s} PHD</dd><dt>Slashed so far</dt><dd>{sl} PHD</dd><dt>Earnings to withdraw</dt><dd id="earnings">{c} PHD</dd><dt>Key shares held</dt><dd id="shares-held">{h}</dd><dt>Shares acknowledged / erased</dt><dd>{sa} / {se}</dd><dt>Shares delivered</dt><dd id="delivery-count">{n}</dd><dt>Disputes and slashes</dt><dd id="dispute-count">{dc}</dd></dl>"#,
        ac = if r.active { "yes" } else { "no" },
        s = esc(&r.stake_phd),
        sl = esc(&r.slashed_phd),
        c = esc(&r.credits_phd),
        n = r.deliveries.len(),
        h = r.shares_held,
        sa = r.shares_acknowledged,
        se = r.shares_erased,
        dc = r.disputes.len(),
    );
    b.push_str(r#"<h2>Deliveries</h2><table id="deliveries"><thead><tr><th scope="col">Purchase</th><th scope="col">Share</th><th scope="col">Block</th></tr></thead><tbody>"#);
    for d in &r.deliveries {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.purchase_id,
            d.share_index,
            d.block_number.map_or("?".into(), |n| n.to_string())
        );
    }
    b.push_str(r#"</tbody></table><h2>Disputes and slashes</h2><table id="disputes"><thead><tr><th scope="col">Purchase</th><th scope="col">Dataset</th><th scope="col">Kind</th></tr></thead><tbody>"#);
    for d in &r.disputes {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>#{}</td><td>{}</td></tr>",
            d.purchase_id,
            d.dataset_id,
            esc(&d.kind.replace('_', " "))
        );
    }
    b.push_str("</tbody></table>");
    Ok(Html(page("Keeper", &b)))
}

/// Anything else: a 404 page.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    WebError::NotFound {
        what: format!("page {}", uri.path()),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(id: u64, device_certified: bool, stake_wei: Option<&str>) -> Listing {
        Listing {
            dataset_id: id,
            owner: Address::ZERO,
            status: "active".into(),
            title: None,
            data_type: Some("accelerometer".into()),
            plaintext_bytes: None,
            samples: None,
            sampling_rate_hz: None,
            quality_score: None,
            certified_by: None,
            certified_score_bps: None,
            certified: false,
            certifications: 0,
            certifications_counted: 0,
            keeper_stake_min_phd: None,
            keeper_stake_min_wei: stake_wei.map(str::to_string),
            keeper_stake_total_phd: None,
            price_wei: "1".into(),
            price_phd: "0".into(),
            purposes: vec!["research".into()],
            threshold: 3,
            keepers: 5,
            acknowledged: 5,
            storage_uri: String::new(),
            activities: Default::default(),
            windows_dropped: Default::default(),
            windows_kept: None,
            device_model: Some("Watch 1".into()),
            device_certified,
        }
    }

    #[test]
    fn certified_device_and_stake_filters() {
        let all = [
            listing(1, true, Some("100")),
            listing(2, false, Some("300")),
            listing(3, true, None),
        ];
        let ids = |q: CatalogQuery| -> Vec<u64> {
            q.filters()
                .unwrap()
                .apply(&all)
                .iter()
                .map(|l| l.dataset_id)
                .collect()
        };
        let q = |f: fn(&mut CatalogQuery)| {
            let mut q = CatalogQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(ids(q(|q| q.certified_device = Some("1".into()))), [3, 1]);
        // 0.0000000000000002 PHD = 200 wei: only the listing whose smallest stake is 300 wei.
        assert_eq!(
            ids(q(|q| q.min_stake = Some("0.0000000000000002".into()))),
            [2]
        );
        assert_eq!(ids(q(|q| q.sort = Some("stake".into()))), [2, 1, 3]);
        assert!(q(|q| q.min_stake = Some("lots".into())).filters().is_err());
    }

    #[test]
    fn price_and_grant_input() {
        assert_eq!(
            parse_price(Some(" 12.5 ")).unwrap(),
            parse_phd("12.5").unwrap()
        );
        for bad in [None, Some(""), Some("abc"), Some("-1")] {
            let e = parse_price(bad).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let signer = alloy::signers::local::PrivateKeySigner::random();
        let key = hex::encode(phd_chain::pubkey64(&signer));
        let to = signer.address().to_string();
        let (a, k, p) = parse_grant(Some(&to), Some(&key), Some("validation")).unwrap();
        assert_eq!(
            (a, k, p),
            (
                signer.address(),
                phd_chain::pubkey64(&signer),
                Purpose::Validation
            )
        );
        for (to, key, purpose) in [
            ("0x12", key.as_str(), "validation"),
            (to.as_str(), "0x1234", "validation"),
            (to.as_str(), key.as_str(), "spying"),
            (to.as_str(), key.as_str(), ""),
        ] {
            let e = parse_grant(Some(to), Some(key), Some(purpose)).unwrap_err();
            assert_eq!(
                e.status(),
                axum::http::StatusCode::BAD_REQUEST,
                "{to} {key} {purpose}"
            );
        }
    }
}
