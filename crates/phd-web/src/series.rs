//! Series (live, continuously growing datasets): the list a subscriber chooses from and each
//! series' certification, as pages and as JSON. Subscribing stays with `phd-customer follow`,
//! a long-running process the page points to.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Html;
#[cfg(test)]
use phd_chain::{Purpose, parse_phd};
use phd_sdk::series_cert::{SeriesFilter, SeriesStatusView, browse_series, series_status};
use serde::Deserialize;

use crate::api::{ApiResult, to_json};
use crate::error::WebError;
use crate::html::{esc, external_link, page, purpose_options};
use crate::pages::{amount_filter, nonempty, parse_numbered, purpose_filter};
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
    /// The filters, read like the catalog's (a box counts as ticked when present).
    fn filter(&self) -> Result<SeriesFilter, WebError> {
        Ok(SeriesFilter {
            certified: nonempty(&self.certified).is_some(),
            max_price_per_segment: amount_filter("max_price", &self.max_price)?,
            purpose: purpose_filter(&self.purpose)?,
            all: nonempty(&self.all).is_some(),
        })
    }
}

fn parse_series_id(s: &str) -> Result<u64, WebError> {
    parse_numbered("series", s)
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
                r#"<tr><td><code>{va}</code></td><td class="num">{th}</td><td class="num">{sc:.2}</td><td>{co}</td><td>{u} <code>{h}</code></td></tr>"#,
                va = esc(&cert.validator),
                th = cert.through_seq,
                sc = f64::from(cert.score_bps) / 10_000.0,
                co = if cert.counts {
                    "yes"
                } else {
                    "no: below the minimum"
                },
                u = external_link(&cert.report_uri, "report"),
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
    Ok(Json(to_json(&browse_series(state.reader()?, &f).await?)))
}

/// `GET /api/series/{id}`: one series with its certification.
pub async fn api_detail(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_series_id(&id)?;
    Ok(Json(to_json(&series_status(state.reader()?, id).await?)))
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
        assert!(
            parse_series_id("x")
                .unwrap_err()
                .to_string()
                .contains("not a series number")
        );
    }

    #[test]
    fn a_report_uri_becomes_a_link_only_when_it_is_http() {
        let ok = external_link("https://validator.example/r/1.json", "report");
        assert!(
            ok.starts_with(r#"<a href="https://validator.example/r/1.json""#),
            "{ok}"
        );
        for hostile in [
            "javascript:alert(document.cookie)",
            " JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/x",
        ] {
            let cell = external_link(hostile, "report");
            assert!(!cell.contains("href"), "{hostile:?} became a link: {cell}");
            assert!(!cell.contains("<script"), "{cell}");
        }
    }
}
