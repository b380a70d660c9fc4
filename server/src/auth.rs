//! Bearer-token authentication: a tonic interceptor over every service, with a small
//! tower layer in front that records the called path (interceptors do not see it) so
//! that Health stays open. An accepted token becomes the call's [`Caller`] (a
//! request extension); what it may do is decided by `roles`.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::roles::{Caller, Tokens};

/// Path of the Health RPC, which never requires authentication.
pub const HEALTH_PATH: &str = "/arrayq.v1.ArrayQ/Health";

/// Request extension: the HTTP path of the call (`/package.Service/Method`).
#[derive(Clone, Debug)]
pub struct RpcPath(pub String);

/// Copies the request path into the extensions, for [`Auth`].
pub fn tag_path<B>(mut req: http::Request<B>) -> http::Request<B> {
    let path = RpcPath(req.uri().path().to_string());
    req.extensions_mut().insert(path);
    req
}

/// Checks `authorization: Bearer <token>` when tokens are configured.
#[derive(Clone, Default)]
pub struct Auth {
    tokens: Option<Arc<Tokens>>,
}

impl Auth {
    pub fn new(tokens: Option<Arc<Tokens>>) -> Auth {
        Auth { tokens }
    }

    fn caller(&self, req: &Request<()>) -> Option<Caller> {
        let Some(tokens) = &self.tokens else {
            return Some(Caller::open());
        };
        let value = req.metadata().get("authorization")?.as_bytes();
        match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => tokens.lookup(&value[7..]),
            _ => None,
        }
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(caller) = self.caller(&req) {
            req.extensions_mut().insert(caller);
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

/// The caller [`Auth`] let through (every call but an unauthenticated Health).
pub fn caller_of<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing credentials"))
}

/// Compares in time independent of where the inputs differ (the length is not
/// secret-dependent: it only tells whether the lengths differ).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;

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
        let tokens = Tokens::load(Some("s3cret"), None).unwrap();
        let mut a = Auth::new(tokens);
        let q = "/arrayq.v1.ArrayQ/Query";
        let r = a.call(req(q, Some("Bearer s3cret"))).unwrap();
        let c = caller_of(&r).unwrap();
        assert_eq!((&*c.name, c.role), ("admin", Role::Admin));
        assert!(a.call(req(q, Some("bearer s3cret"))).is_ok());
        assert!(a.call(req(q, Some("Bearer s3cre"))).is_err());
        assert!(a.call(req(q, Some("s3cret"))).is_err());
        let e = a.call(req(q, None)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let h = a.call(req(HEALTH_PATH, None)).unwrap();
        assert!(h.extensions().get::<Caller>().is_none());
        let mut open = Auth::new(None);
        let r = open.call(req(q, None)).unwrap();
        assert_eq!(caller_of(&r).unwrap(), Caller::open());
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
