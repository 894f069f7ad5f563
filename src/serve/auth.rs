//! Who may ask: loopback by default, a bearer token when the service is exposed.
//!
//! A service listening beyond the loopback interface without a token would hand every
//! segment's members to anyone on the network, so that is refused at start. With a
//! token, every request but the health check carries `Authorization: Bearer <token>`;
//! the comparison digests both sides and compares the digests in constant time, so
//! neither the token's content nor its length shows in the answer's timing.

use std::net::SocketAddr;
use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The paths anyone may read, token or not.
const OPEN_PATHS: [&str; 1] = ["/v1/health"];

/// The token requests must present, if any.
#[derive(Clone, Debug)]
pub struct Access {
    /// SHA-256 of the token.
    token: Option<[u8; 32]>,
}

impl Access {
    /// Reads the token from `file` (surrounding whitespace ignored); none without a file.
    pub fn from_file(file: Option<&Path>) -> anyhow::Result<Access> {
        let Some(file) = file else {
            return Ok(Access { token: None });
        };
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read the token file '{}': {e}", file.display()))?;
        let token = text.trim();
        if token.is_empty() {
            anyhow::bail!("the token file '{}' is empty", file.display());
        }
        Ok(Access::with_token(token))
    }

    /// Requires `token`.
    pub fn with_token(token: &str) -> Access {
        Access {
            token: Some(digest(token.as_bytes())),
        }
    }

    /// Whether a token is required.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// Refuses to listen beyond loopback without a token.
    pub fn check_listen(&self, listen: SocketAddr) -> anyhow::Result<()> {
        if !listen.ip().is_loopback() && !self.requires_token() {
            anyhow::bail!(
                "refusing to listen on {listen} without --token-file: every segment's \
                 members would be open to the network (listen on 127.0.0.1, or give a token)"
            );
        }
        Ok(())
    }

    /// Whether an `Authorization` header value grants access.
    fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let Some(presented) = authorization.and_then(|value| value.strip_prefix(b"Bearer ")) else {
            return false;
        };
        digest(presented).ct_eq(expected).into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The middleware that turns away requests without the token (401).
pub async fn require_token(State(access): State<Access>, request: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if access.admits(authorization) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this service requires `Authorization: Bearer <token>`",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Bearer".parse().expect("a valid header"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_is_admitted() {
        let access = Access::with_token("s3cret");
        assert!(access.admits(Some(b"Bearer s3cret")));
        for wrong in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret ",
            b"bearer s3cret",
            b"s3cret",
            b"",
        ] {
            assert!(!access.admits(Some(wrong)), "{wrong:?}");
        }
        assert!(!access.admits(None));
        let open = Access::from_file(None).unwrap();
        assert!(open.admits(None));
    }

    #[test]
    fn an_exposed_address_needs_a_token() {
        let open = Access::from_file(None).unwrap();
        assert!(open.check_listen("127.0.0.1:7878".parse().unwrap()).is_ok());
        assert!(open.check_listen("[::1]:7878".parse().unwrap()).is_ok());
        let error = open
            .check_listen("0.0.0.0:7878".parse().unwrap())
            .unwrap_err();
        assert!(error.to_string().contains("--token-file"), "{error}");
        let guarded = Access::with_token("t");
        assert!(guarded
            .check_listen("0.0.0.0:7878".parse().unwrap())
            .is_ok());
    }
}
