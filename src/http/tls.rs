//! TLS for the API port: rustls with an in-place swappable serving certificate and
//! optional client certificates verified against the hub CA.
//!
//! Client certificates are optional at the TLS layer because bearer tokens share the port.
//! A verified certificate becomes a [`PeerIdentity`] (CN = user, O = groups) attached to
//! every request of the connection.

use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::api::user::UserInfo;
use crate::auth::user::CertStatus;
use crate::pki::CertAndKey;

/// Errors building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("serving certificate: {0}")]
    Certificate(String),
    #[error("client CA: {0}")]
    ClientCa(String),
    #[error("TLS session tickets: {0}")]
    Tickets(String),
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

/// Client certificates: any chain is let through the handshake (the client still proves it
/// holds the key), and verified against the hub CA (and, with delegated authentication, the
/// hosting cluster's client CA) per connection afterwards, so a bad
/// certificate gets kube's HTTP 401 instead of a TLS alert the client cannot explain.
#[derive(Debug)]
pub struct ClientCerts {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCerts {
    /// The verdict on a connection's certificate chain.
    pub fn verify(&self, chain: Option<&[CertificateDer<'_>]>) -> CertStatus {
        let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
            return CertStatus::None;
        };
        if let Err(e) = self
            .inner
            .verify_client_cert(leaf, intermediates, UnixTime::now())
        {
            return CertStatus::Invalid(e.to_string());
        }
        match identity_from_chain(chain) {
            Some(user) => CertStatus::Valid(user),
            None => CertStatus::Invalid("the certificate has no common name".into()),
        }
    }
}

impl ClientCertVerifier for ClientCerts {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The rustls server configuration (h2 and http/1.1, optional client certificates) and
/// the verifier to judge each connection's certificate with.
pub fn server_config(
    cert: Arc<SwappableCert>,
    client_ca_der: &[u8],
    extra_client_ca_pem: Option<&str>,
) -> Result<(rustls::ServerConfig, Arc<ClientCerts>), TlsError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(client_ca_der.to_vec()))
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    // A second trusted client CA: the hosting cluster's, with delegated authentication.
    if let Some(pem) = extra_client_ca_pem {
        for der in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let der = der.map_err(|e| TlsError::ClientCa(e.to_string()))?;
            roots
                .add(der)
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    let verifier = Arc::new(ClientCerts { inner });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Certificate(e.to_string()))?
        .with_client_cert_verifier(verifier.clone())
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Stateless TLS 1.3 session tickets (keys random per process, rotated by rustls): a
    // reconnecting agent resumes without the certificate exchange and its signatures, and
    // the hub keeps nothing per session. rustls's default remembers 256 sessions, which a
    // hub with thousands of agents overflows at once. A resumed session carries the client
    // certificate chain of the full handshake, which `ClientCerts::verify` checks again
    // (CA and validity) for every connection, resumed or not.
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Tickets(e.to_string()))?;
    Ok((config, verifier))
}

/// Who is on the other end of a connection, as far as TLS can tell.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity {
    pub cert: CertStatus,
    pub remote: Option<std::net::SocketAddr>,
}

/// Reads CN and O of a client certificate chain (verified by the caller); the
/// certificate's SHA-256 becomes the `authentication.kubernetes.io/credential-id` extra
/// (`X509SHA256=<hex>`), as kube-apiserver's x509 authenticator records it.
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
    let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut user = UserInfo {
        name,
        groups,
        ..UserInfo::default()
    };
    user.extra.insert(
        "authentication.kubernetes.io/credential-id".into(),
        vec![format!("X509SHA256={hex}")],
    );
    Some(user)
}
