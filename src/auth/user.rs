//! What TLS tells authentication about a connection: its client certificate's verdict.

use crate::api::user::UserInfo;

/// What a connection's client certificate says (the TLS layer's verdict, which
/// authentication starts from).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CertStatus {
    /// No certificate: authentication falls to tokens or anonymous.
    #[default]
    None,
    /// Signed by the hub CA and current.
    Valid(UserInfo),
    /// Presented but not acceptable (wrong CA, expired, not yet valid, ...): 401.
    Invalid(String),
}
