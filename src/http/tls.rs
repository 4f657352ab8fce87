//! TLS for the API port: rustls with an in-place swappable serving certificate and
//! optional client certificates verified against the hub CA.
//!
//! Client certificates are optional at the TLS layer because bearer tokens share the port.
//! A verified certificate becomes a [`PeerIdentity`] (CN = user, O = groups) attached to
//! every request of the connection.

use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pki::CertAndKey;

/// Errors building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("serving certificate: {0}")]
    Certificate(String),
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// Serves whatever certificate was stored last; renewal swaps it without a restart.
#[derive(Debug)]
pub struct SwappableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl SwappableCert {
    pub fn new(pair: &CertAndKey) -> Result<Self, TlsError> {
        Ok(SwappableCert {
            current: RwLock::new(Arc::new(certified_key(pair)?)),
        })
    }

    /// Replaces the served certificate; new handshakes use it at once.
    pub fn swap(&self, pair: &CertAndKey) -> Result<(), TlsError> {
        let key = Arc::new(certified_key(pair)?);
        if let Ok(mut current) = self.current.write() {
            *current = key;
        }
        Ok(())
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c))
    }
}

fn certified_key(pair: &CertAndKey) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes())
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    Ok(CertifiedKey::new(chain, signing))
}

/// The rustls server configuration: h2 and http/1.1, optional client certificates.
pub fn server_config(
    cert: Arc<SwappableCert>,
    client_ca_der: &[u8],
) -> Result<rustls::ServerConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(client_ca_der.to_vec()))
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Certificate(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Who is on the other end of a connection, as far as TLS can tell.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity {
    /// From a verified client certificate: `None` for anonymous connections.
    pub user: Option<UserInfo>,
    pub remote: Option<std::net::SocketAddr>,
}

/// An authenticated user: name and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// Reads CN and O of a client certificate chain already verified by rustls.
pub fn identity_from_chain(chain: Option<&[CertificateDer<'_>]>) -> Option<UserInfo> {
    let leaf = chain?.first()?;
    let (_, x509) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    let subject = x509.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(UserInfo { name, groups })
}
