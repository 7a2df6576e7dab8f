//! HTML building blocks: escaping, the page frame, SVG charts rendered on the server, and the
//! two static assets (served by the binary: no CDN, works offline).

use std::fmt::Write as _;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A link to `uri` when it is an http(s) URL, else the text alone: URIs written on-chain by
/// other parties (a validator's report) must not become `javascript:` or `data:` links.
pub fn external_link(uri: &str, text: &str) -> String {
    let lower = uri.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!(
            r#"<a href="{}" rel="noopener noreferrer nofollow">{}</a>"#,
            esc(uri),
            esc(text)
        )
    } else {
        format!("{} <code>{}</code>", esc(text), esc(uri))
    }
}

/// The `<option>`s of a purpose filter, `selected` marked.
pub fn purpose_options(selected: Option<phd_chain::Purpose>) -> String {
    phd_chain::Purpose::ALL
        .iter()
        .map(|p| {
            format!(
                r#"<option value="{n}"{sel}>{n}</option>"#,
                n = p.name(),
                sel = if selected == Some(*p) {
                    " selected"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// A whole page: `title`, the navigation (current section marked), `body` (already escaped).
pub fn page(title: &str, body: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} · PHD exchange</title><link rel="stylesheet" href="/assets/app.css"><script src="/assets/app.js" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Main"><a class="brand" href="/">PHD exchange</a> <a href="/">Catalog</a> <a href="/owner">Owner</a> <a href="/series">Series</a> <a href="/keepers">Keepers</a></nav></header>
<main id="main"><h1>{t}</h1>
{body}
</main><footer><p>Keys stay with the service; this page only asks it to act after you confirm.</p></footer></body></html>"##,
        t = esc(title)
    )
}

/// The page shown for an error: its status and the decoded message in plain words.
pub fn error_page(status: StatusCode, err: &crate::WebError) -> String {
    let kind = err
        .revert_name()
        .map(|n| format!("<p>Contract error: <code>{}</code></p>", esc(&n)))
        .unwrap_or_default();
    page(
        &format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        ),
        &format!(
            r#"<div class="error" role="alert" id="error"><p>{}</p>{kind}</div><p><a href="/">Back to the catalog</a></p>"#,
            esc(&err.to_string())
        ),
    )
}

/// A hidden CSRF field for a form.
pub fn csrf_field(token: &str) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(token)
    )
}

/// Horizontal bar chart of `(label, value)`; accessible name `title`, data also as a list.
pub fn bar_chart(title: &str, rows: &[(String, f64)], unit: &str) -> String {
    if rows.is_empty() {
        return format!("<p>{}: none.</p>", esc(title));
    }
    let max = rows
        .iter()
        .map(|r| r.1)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (bar_h, gap, label_w, width) = (18.0, 6.0, 140.0, 460.0);
    let height = rows.len() as f64 * (bar_h + gap) + gap;
    let mut s = format!(
        r#"<figure class="chart"><svg role="img" aria-labelledby="{id}" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title id="{id}">{t}</title>"#,
        id = slug(title),
        t = esc(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = gap + i as f64 * (bar_h + gap);
        let w = ((width - label_w - 70.0) * v / max).max(1.0);
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty}" text-anchor="end">{l}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{bar_h}" fill="#1d5fa8"/><text x="{vx:.1}" y="{ty}">{v}{u}</text>"##,
            lx = label_w - 6.0,
            ty = y + bar_h - 4.0,
            l = esc(label),
            vx = label_w + w + 4.0,
            v = fmt_num(*v),
            u = esc(unit)
        );
    }
    s.push_str("</svg><figcaption>");
    s.push_str(&esc(title));
    s.push_str("</figcaption></figure>");
    s
}

/// A 0..=1 score as a gauge bar.
pub fn score_gauge(title: &str, score: f64) -> String {
    let pct = (score.clamp(0.0, 1.0) * 100.0).round();
    format!(
        r##"<figure class="chart"><svg role="img" aria-labelledby="{id}" viewBox="0 0 300 28" width="300" height="28"><title id="{id}">{t}: {pct}%</title><rect x="0" y="4" width="240" height="18" fill="#d9e2ec"/><rect x="0" y="4" width="{w:.1}" height="18" fill="#1d7a46"/><text x="248" y="18">{pct}%</text></svg><figcaption>{t}</figcaption></figure>"##,
        id = slug(title),
        t = esc(title),
        w = 2.4 * pct
    )
}

fn slug(s: &str) -> String {
    let mut o: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    o.insert_str(0, "c-");
    o
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// `GET /assets/app.css`.
pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// `GET /assets/app.js`.
pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn charts_escape_labels_and_handle_empty() {
        let c = bar_chart(
            "Activity mix",
            &[("<b>".into(), 3.0), ("walking".into(), 0.0)],
            "",
        );
        assert!(c.contains("&lt;b&gt;") && !c.contains("<b>"));
        assert!(bar_chart("x", &[], "").contains("none"));
        assert!(score_gauge("Score", 2.0).contains("100%"));
    }
}
