//! Authentication and authorization: who a request comes from (client certificates,
//! bootstrap tokens, service-account tokens, anonymous; impersonation) and whether RBAC
//! lets it through.

pub mod authn;
pub mod authz;
pub mod delegate;
pub mod impersonation;
pub mod policy;
pub mod rbac;
pub mod request;
pub mod token;
pub mod user;
