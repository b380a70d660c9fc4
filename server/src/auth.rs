//! Bearer-token authentication: a tonic interceptor over every service, with a small
//! tower layer in front that records the called path (interceptors do not see it) so
//! that Health stays open.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Path of the Health RPC, which never requires authentication.
pub const HEALTH_PATH: &str = "/arrayq.v1.ArrayQ/Health";

/// Request extension: the HTTP path of the call (`/package.Service/Method`).
#[derive(Clone, Debug)]
pub struct RpcPath(pub String);

/// Request extension set by [`Auth`] when the call carried valid credentials (or
/// none are required).
#[derive(Clone, Copy, Debug)]
pub struct Authenticated;

/// Copies the request path into the extensions, for [`Auth`].
pub fn tag_path<B>(mut req: http::Request<B>) -> http::Request<B> {
    let path = RpcPath(req.uri().path().to_string());
    req.extensions_mut().insert(path);
    req
}

/// Checks `authorization: Bearer <token>` when a token is configured.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<Arc<[u8]>>,
}

impl Auth {
    pub fn new(token: Option<&str>) -> Auth {
        Auth {
            token: token.map(|t| Arc::from(t.as_bytes())),
        }
    }

    fn accepts(&self, req: &Request<()>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(value) = req.metadata().get("authorization") else {
            return false;
        };
        let value = value.as_bytes();
        let given = match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &value[7..],
            _ => return false,
        };
        constant_time_eq(given, token)
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if self.accepts(&req) {
            req.extensions_mut().insert(Authenticated);
            return Ok(req);
        }
        let open =
            matches!(req.extensions().get::<RpcPath>(), Some(RpcPath(p)) if p == HEALTH_PATH);
        if open {
            return Ok(req);
        }
        let msg = if req.metadata().get("authorization").is_some() {
            "invalid credentials"
        } else {
            "missing credentials: send `authorization: Bearer <token>`"
        };
        Err(Status::unauthenticated(msg))
    }
}

/// Compares in time independent of where the inputs differ (the length is not
/// secret-dependent: it only tells whether the lengths differ).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, auth: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        r.extensions_mut().insert(RpcPath(path.into()));
        if let Some(a) = auth {
            r.metadata_mut().insert("authorization", a.parse().unwrap());
        }
        r
    }

    #[test]
    fn token_checks() {
        let mut a = Auth::new(Some("s3cret"));
        let q = "/arrayq.v1.ArrayQ/Query";
        assert!(a.call(req(q, Some("Bearer s3cret"))).is_ok());
        assert!(a.call(req(q, Some("bearer s3cret"))).is_ok());
        assert!(a.call(req(q, Some("Bearer s3cre"))).is_err());
        assert!(a.call(req(q, Some("s3cret"))).is_err());
        let e = a.call(req(q, None)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let h = a.call(req(HEALTH_PATH, None)).unwrap();
        assert!(h.extensions().get::<Authenticated>().is_none());
        let mut open = Auth::new(None);
        let r = open.call(req(q, None)).unwrap();
        assert!(r.extensions().get::<Authenticated>().is_some());
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
