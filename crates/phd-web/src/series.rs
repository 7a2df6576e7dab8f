//! Series (live, continuously growing datasets): the list a subscriber chooses from and each
//! series' certification, as pages and as JSON. Subscribing stays with `phd-customer follow`,
//! a long-running process the page points to.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use phd_chain::{Purpose, parse_phd};
use phd_sdk::series_cert::{SeriesFilter, SeriesStatusView, browse_series, series_status};
use serde::Deserialize;

use crate::api::ApiResult;
use crate::error::WebError;
use crate::html::{esc, page, purpose_options};
use crate::state::AppState;

/// `GET /series` and `GET /api/series` query.
#[derive(Debug, Default, Deserialize)]
pub struct SeriesQuery {
    /// `1`: only certified series.
    pub certified: Option<String>,
    /// PHD per segment, decimal.
    pub max_price: Option<String>,
    /// A purpose name.
    pub purpose: Option<String>,
    /// `1`: include withdrawn series.
    pub all: Option<String>,
}

impl SeriesQuery {
    fn filter(&self) -> Result<SeriesFilter, WebError> {
        let on = |v: &Option<String>| v.as_deref().is_some_and(|v| v == "1" || v == "on");
        fn nonempty(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        Ok(SeriesFilter {
            certified: on(&self.certified),
            max_price_per_segment: nonempty(&self.max_price)
                .map(|p| parse_phd(p).map_err(|e| WebError::bad("max_price", e.to_string())))
                .transpose()?,
            purpose: nonempty(&self.purpose)
                .map(|p| {
                    p.parse::<Purpose>()
                        .map_err(|e| WebError::bad("purpose", e.to_string()))
                })
                .transpose()?,
            all: on(&self.all),
        })
    }
}

fn parse_series_id(s: &str) -> Result<u64, WebError> {
    s.parse::<u64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| WebError::bad("series id", format!("{s:?} is not a series number")))
}

fn certification_cell(v: &SeriesStatusView) -> String {
    match &v.certification {
        None => "not deployed".into(),
        Some(c) if c.certified => format!(
            r#"<span class="badge yes">certified ({}/{})</span>"#,
            c.counted, c.required
        ),
        Some(c) => format!(
            r#"<span class="badge">not certified ({}/{}, {} certificate{})</span>"#,
            c.counted,
            c.required,
            c.certificates,
            if c.certificates == 1 { "" } else { "s" }
        ),
    }
}

/// `GET /series`: the series a subscriber can follow, with their certification.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<SeriesQuery>,
) -> Result<Html<String>, WebError> {
    let f = q.filter()?;
    let rows = browse_series(state.reader()?, &f).await?;
    let mut b = String::with_capacity(4096);
    let _ = write!(
        b,
        r#"<form class="filters" method="get" action="/series" aria-label="Filter series">
<label>Max price per segment (PHD)<input name="max_price" inputmode="decimal" value="{mp}"></label>
<label>Purpose<select name="purpose"><option value="">any</option>{po}</select></label>
<label class="check"><input type="checkbox" name="certified" value="1"{ce}> Certified only</label>
<label class="check"><input type="checkbox" name="all" value="1"{al}> Include withdrawn</label>
<button type="submit" id="apply">Apply</button></form>
<p id="series-count">{n} series match.</p>
<table id="series-list"><caption>Live series</caption><thead><tr><th scope="col">ID</th><th scope="col">Owner</th><th scope="col">Status</th><th scope="col" class="num">Segments</th><th scope="col">Keepers</th><th scope="col">Purposes</th><th scope="col">Certification</th><th scope="col" class="num">Price per segment (PHD)</th></tr></thead><tbody>"#,
        mp = esc(q.max_price.as_deref().unwrap_or_default()),
        po = purpose_options(f.purpose),
        ce = if f.certified { " checked" } else { "" },
        al = if f.all { " checked" } else { "" },
        n = rows.len(),
    );
    for v in &rows {
        let _ = write!(
            b,
            r#"<tr data-id="{id}"><td><a href="/series/{id}">#{id}</a></td><td><code>{o}</code></td><td>{st:?}</td><td class="num">{sg}</td><td>{t} of {n}</td><td>{pu}</td><td>{c}</td><td class="num">{p}</td></tr>"#,
            id = v.series_id,
            o = esc(&v.owner),
            st = v.status,
            sg = v.segments,
            t = v.threshold,
            n = v.keepers,
            pu = esc(&v.purposes.join(", ")),
            c = certification_cell(v),
            p = esc(&v.price_per_segment_phd),
        );
    }
    b.push_str("</tbody></table>");
    Ok(Html(page("Series", &b)))
}

/// `GET /series/{id}`: a series, each validator's current certificate, and how to follow it.
pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = parse_series_id(&id)?;
    let v = series_status(state.reader()?, id).await?;
    let mut b = String::with_capacity(2048);
    let _ = write!(
        b,
        r#"<dl class="meta"><dt>Owner</dt><dd><code>{o}</code></dd><dt>Status</dt><dd id="series-status">{st:?}</dd><dt>Segments appended</dt><dd id="segments">{sg}</dd><dt>Keepers</dt><dd>{t} of {n} release each segment's key</dd><dt>Price per segment</dt><dd>{p} PHD</dd><dt>Purposes</dt><dd>{pu}</dd><dt>Certification</dt><dd id="certification">{c}</dd></dl>"#,
        o = esc(&v.owner),
        st = v.status,
        sg = v.segments,
        t = v.threshold,
        n = v.keepers,
        p = esc(&v.price_per_segment_phd),
        pu = esc(&v.purposes.join(", ")),
        c = certification_cell(&v),
    );
    if let Some(c) = &v.certification {
        b.push_str(r#"<table id="certificates"><caption>Each validator's current certificate (rolling)</caption><thead><tr><th scope="col">Validator</th><th scope="col" class="num">Through segment</th><th scope="col" class="num">Score</th><th scope="col">Counts</th><th scope="col">Report</th></tr></thead><tbody>"#);
        for cert in &c.current {
            let _ = write!(
                b,
                r#"<tr><td><code>{va}</code></td><td class="num">{th}</td><td class="num">{sc:.2}</td><td>{co}</td><td><a href="{u}">report</a> <code>{h}</code></td></tr>"#,
                va = esc(&cert.validator),
                th = cert.through_seq,
                sc = f64::from(cert.score_bps) / 10_000.0,
                co = if cert.counts {
                    "yes"
                } else {
                    "no: below the minimum"
                },
                u = esc(&cert.report_uri),
                h = esc(&cert.report_hash),
            );
        }
        b.push_str("</tbody></table>");
    }
    let _ = write!(
        b,
        r#"<h2>Follow this series</h2><p>Subscribing escrows the price of the segments you ask for; each new segment is released by the keepers, verified and decrypted on your machine, and written in order. Run <code>phd-customer follow {id} --out segments/ --segments 24</code> (add <code>--format fhir</code> or <code>omh</code> for an interchange copy).</p>"#
    );
    Ok(Html(page(&format!("Series #{id}"), &b)))
}

/// `GET /api/series`: the same list as JSON.
pub async fn api_list(State(state): State<AppState>, Query(q): Query<SeriesQuery>) -> ApiResult {
    let f = q.filter()?;
    Ok(Json(
        serde_json::to_value(browse_series(state.reader()?, &f).await?).unwrap_or_default(),
    ))
}

/// `GET /api/series/{id}`: one series with its certification.
pub async fn api_detail(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_series_id(&id)?;
    Ok(Json(
        serde_json::to_value(series_status(state.reader()?, id).await?).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_filters_parse_or_refuse() {
        let q = SeriesQuery {
            certified: Some("1".into()),
            max_price: Some("2.5".into()),
            purpose: Some("research".into()),
            all: None,
        };
        let f = q.filter().unwrap();
        assert!(f.certified && !f.all);
        assert_eq!(f.max_price_per_segment, Some(parse_phd("2.5").unwrap()));
        assert_eq!(f.purpose, Some(Purpose::Research));
        let bad = SeriesQuery {
            purpose: Some("gossip".into()),
            ..SeriesQuery::default()
        };
        assert_eq!(bad.filter().unwrap_err().status(), 400);
        let bad = SeriesQuery {
            max_price: Some("lots".into()),
            ..SeriesQuery::default()
        };
        assert_eq!(bad.filter().unwrap_err().status(), 400);
        assert_eq!(parse_series_id("0").unwrap_err().status(), 400);
        assert_eq!(parse_series_id("x").unwrap_err().status(), 400);
    }
}
