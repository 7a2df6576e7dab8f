//! Sessions and CSRF: a random session id in a `SameSite=Strict`, `HttpOnly` cookie; the form
//! token is HMAC-SHA256(process key, session id), so only this process can mint one and each
//! session has its own; checked in constant time. A POST must also come from our own origin
//! (`Origin`, and `Sec-Fetch-Site` when the browser sends it).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use rand::TryRng;
use subtle::ConstantTimeEq;

use crate::error::WebError;

const COOKIE: &str = "phd_session";

/// The request's session (set by [`guard`] on every request).
#[derive(Debug, Clone)]
pub struct Session {
    id: [u8; 32],
    key: [u8; 32],
}

impl Session {
    /// The token a form of this session must carry.
    pub fn token(&self) -> String {
        self.mac().map(hex::encode).unwrap_or_default()
    }

    /// `None` only if HMAC refused the key, which it never does for 32 bytes; then every token
    /// is refused.
    fn mac(&self) -> Option<[u8; 32]> {
        let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        m.update(b"phd-web csrf v1");
        m.update(&self.id);
        Some(m.finalize().into_bytes().into())
    }

    /// Accepts `token` only if it is this session's, compared in constant time.
    pub fn verify(&self, token: Option<&str>) -> Result<(), WebError> {
        let Some(given) = token.and_then(|t| hex::decode(t.trim()).ok()) else {
            return Err(WebError::Forbidden {
                reason: "missing or malformed CSRF token; reload the page and try again",
            });
        };
        if self
            .mac()
            .is_some_and(|want| bool::from(given.as_slice().ct_eq(&want)))
        {
            Ok(())
        } else {
            Err(WebError::Forbidden {
                reason: "CSRF token does not belong to this session; reload the page and try again",
            })
        }
    }
}

/// 32 bytes from the operating system's generator.
pub fn random_bytes() -> Result<[u8; 32], WebError> {
    let mut b = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut b)
        .map_err(|e| WebError::Io {
            context: "reading the system random generator".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok(b)
}

fn session_cookie(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .and_then(|(_, v)| hex::decode(v).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// Whether a state-changing request comes from our own pages.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match headers.get(header::ORIGIN) {
        // Non-browser clients (curl, the API tests) send no Origin; they still need the token.
        None => true,
        Some(o) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            o.to_str()
                .is_ok_and(|o| o == format!("http://{host}") || o == format!("https://{host}"))
        }
    }
}

/// Middleware: gives every request a [`Session`] (new cookie when it has none) and refuses
/// state-changing requests from another origin or without a session.
pub async fn guard(
    state: axum::extract::State<crate::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let existing = session_cookie(req.headers());
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes {
        if !same_origin(req.headers()) {
            return WebError::Forbidden {
                reason: "cross-origin request",
            }
            .into_response();
        }
        if existing.is_none() {
            return WebError::Forbidden {
                reason: "no session; open the page first",
            }
            .into_response();
        }
    }
    let id = match existing {
        Some(id) => id,
        None => match random_bytes() {
            Ok(id) => id,
            Err(e) => return e.into_response(),
        },
    };
    req.extensions_mut().insert(Session {
        id,
        key: state.0.0.csrf_key,
    });
    let mut resp = next.run(req).await;
    if existing.is_none()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            hex::encode(id)
        ))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_session_and_checked() {
        let a = Session {
            id: [1; 32],
            key: [9; 32],
        };
        let b = Session {
            id: [2; 32],
            key: [9; 32],
        };
        assert!(a.verify(Some(&a.token())).is_ok());
        assert!(a.verify(Some(&b.token())).is_err());
        assert!(a.verify(None).is_err());
        assert!(a.verify(Some("zz")).is_err());
        let other_process = Session {
            id: [1; 32],
            key: [8; 32],
        };
        assert!(a.verify(Some(&other_process.token())).is_err());
    }

    #[test]
    fn cross_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }
}
