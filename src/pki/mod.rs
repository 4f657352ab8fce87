//! The hub's PKI: root CA, API serving certificate, admin client certificate and the admin
//! kubeconfig, all kept under `<dataDirectory>/cert`.
//!
//! On first start everything is generated with `rcgen`; later starts reuse what is on disk
//! as long as it is still valid, signed by the current CA, and (for the serving
//! certificate) covers the current host names. Private keys are written 0600 and never
//! logged. The CSR signer of later issues signs with the same CA.
//!
//! This module only produces and checks files and key material; the TLS listener that
//! serves the certificate, and its renewal loop, live in `http::tls`.

pub mod der;
pub(crate) mod files;
pub mod keys;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::Config;

pub use files::write_private;

/// Name of the kubeconfig the Go project writes, kept so its docs keep working.
pub const ADMIN_KUBECONFIG: &str = "kube-aggregator.kubeconfig";

/// Errors of the PKI layer; each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable PEM certificate: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path} is not a usable PEM private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error(
        "the CA key {key} does not belong to the CA certificate {cert}: refusing to start \
         (fix apiserver.caFile / apiserver.caKeyFile)"
    )]
    CaMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path} is not a CA certificate (basicConstraints CA:TRUE is missing)")]
    NotCa { path: PathBuf },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The certificate authority that signs the hub's certificates (and, later, agents' CSRs).
pub struct CertificateAuthority {
    pub cert_pem: String,
    cert_der: Vec<u8>,
    key: KeyPair,
    /// Where the certificate came from (the user's `caFile` or our generated one).
    pub cert_path: PathBuf,
}

impl CertificateAuthority {
    /// DER of the CA certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, rcgen::Error> {
        Issuer::from_ca_cert_der(&self.cert_der.clone().into(), &self.key)
    }

    /// Signs a leaf certificate for `params` with a fresh key pair.
    fn issue(&self, params: &CertificateParams) -> Result<CertAndKey, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a client certificate for a verified certificate request: the subject is the
    /// request's, copied byte for byte (`subject_der`, a DER Name), the key its
    /// `spki_der`, the lifetime `lifetime`, the usages `usages` (kube's names). Returns
    /// the certificate followed by the CA certificate, as PEM.
    pub fn sign_request(
        &self,
        spki_der: &[u8],
        subject_der: &[u8],
        lifetime: Duration,
        usages: &[&str],
    ) -> Result<String, PkiError> {
        let bad = |reason: &str| PkiError::BadCertificate {
            path: PathBuf::from("<certificate request>"),
            reason: reason.to_string(),
        };
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki_der)?;
        let mut params = leaf_params("placeholder", &[], lifetime);
        // Backdated for clock skew, but never by much of a short lifetime: agents rotate
        // at a fraction of notAfter − notBefore.
        params.not_before =
            OffsetDateTime::now_utc() - (lifetime / 10_i32).min(Duration::minutes(5));
        params.key_usages = usages
            .iter()
            .filter_map(|u| match *u {
                "digital signature" => Some(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => Some(KeyUsagePurpose::KeyEncipherment),
                _ => None,
            })
            .collect();
        params.extended_key_usages = usages
            .iter()
            .filter_map(|u| (*u == "client auth").then_some(ExtendedKeyUsagePurpose::ClientAuth))
            .collect();
        let draft = params.signed_by(&public_key, &self.issuer()?)?;
        let draft = draft.der().to_vec();
        // Swap the placeholder subject for the request's and sign again.
        let (_, parsed) = X509Certificate::from_der(&draft).map_err(|e| bad(&e.to_string()))?;
        let tbs = parsed.tbs_certificate.as_ref();
        let subject = parsed.tbs_certificate.subject.as_raw();
        let (tbs_at, subject_at) = (
            der::offset_in(&draft, tbs).ok_or_else(|| bad("TBS outside the certificate"))?,
            der::offset_in(tbs, subject).ok_or_else(|| bad("subject outside the TBS"))?,
        );
        let (tbs_header, _) = der::header(tbs).ok_or_else(|| bad("TBS header"))?;
        let mut content = tbs[tbs_header..subject_at].to_vec();
        content.extend_from_slice(subject_der);
        content.extend_from_slice(&tbs[subject_at + subject.len()..]);
        let new_tbs = der::tlv(0x30, &content);
        let after_tbs = &draft[tbs_at + tbs.len()..];
        let (alg_header, alg_len) = der::header(after_tbs).ok_or_else(|| bad("algorithm"))?;
        let algorithm = &after_tbs[..alg_header + alg_len];
        use rcgen::SigningKey;
        let signature = self.key.sign(&new_tbs)?;
        let mut bits = vec![0u8];
        bits.extend(signature);
        let mut outer = new_tbs;
        outer.extend_from_slice(algorithm);
        outer.extend(der::tlv(0x03, &bits));
        let cert = der::tlv(0x30, &outer);
        let (_, check) = X509Certificate::from_der(&cert).map_err(|e| bad(&e.to_string()))?;
        if !self.signed(&check) || check.tbs_certificate.subject.as_raw() != subject_der {
            return Err(bad("the issued certificate does not verify"));
        }
        Ok(format!(
            "{}{}",
            pem_encode("CERTIFICATE", &cert),
            self.cert_pem
        ))
    }

    /// True when `cert_der` was signed by this CA.
    fn signed(&self, cert: &X509Certificate<'_>) -> bool {
        match X509Certificate::from_der(&self.cert_der) {
            Ok((_, ca)) => cert.verify_signature(Some(ca.public_key())).is_ok(),
            Err(_) => false,
        }
    }
}

/// A PKCS#10 certificate request (PEM) signed by `key`, for the subject `common_name`,
/// `organizations` and `units` (any number of each, written by [`der::name`]) with
/// `dns_names` requested as subject alternative names. rcgen writes the request, which is
/// then given the full subject and signed again.
pub fn certificate_request(
    key: &KeyPair,
    common_name: &str,
    organizations: &[&str],
    units: &[&str],
    dns_names: &[String],
) -> Result<String, PkiError> {
    let bad = |reason: &str| PkiError::BadCertificate {
        path: PathBuf::from("<certificate request>"),
        reason: reason.to_string(),
    };
    let mut params = CertificateParams::new(dns_names.to_vec())?;
    params.distinguished_name = subject(common_name, &[]);
    let draft = params.serialize_request(key)?.der().to_vec();
    let (_, parsed) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&draft)
            .map_err(|e| bad(&e.to_string()))?;
    let info = parsed.certification_request_info.raw;
    let old_subject = parsed.certification_request_info.subject.as_raw();
    let (info_at, subject_at) = (
        der::offset_in(&draft, info).ok_or_else(|| bad("request info outside the request"))?,
        der::offset_in(info, old_subject).ok_or_else(|| bad("subject outside the request info"))?,
    );
    let (info_header, _) = der::header(info).ok_or_else(|| bad("request info header"))?;
    let mut content = info[info_header..subject_at].to_vec();
    content.extend(der::name(common_name, organizations, units));
    content.extend_from_slice(&info[subject_at + old_subject.len()..]);
    let new_info = der::tlv(0x30, &content);
    let after_info = &draft[info_at + info.len()..];
    let (alg_header, alg_len) = der::header(after_info).ok_or_else(|| bad("algorithm"))?;
    use rcgen::SigningKey;
    let mut bits = vec![0u8];
    bits.extend(key.sign(&new_info)?);
    let mut outer = new_info;
    outer.extend_from_slice(&after_info[..alg_header + alg_len]);
    outer.extend(der::tlv(0x03, &bits));
    let request = der::tlv(0x30, &outer);
    let (_, check) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&request)
            .map_err(|e| bad(&e.to_string()))?;
    check
        .verify_signature()
        .map_err(|_| bad("the rewritten request does not verify"))?;
    Ok(pem_encode("CERTIFICATE REQUEST", &request))
}

/// Paths of everything the PKI keeps under `<dataDirectory>/cert`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(data_directory: &Path) -> Self {
        Layout {
            dir: data_directory.join("cert"),
        }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn serving_cert(&self) -> PathBuf {
        self.dir.join("apiserver.crt")
    }
    pub fn serving_key(&self) -> PathBuf {
        self.dir.join("apiserver.key")
    }
    pub fn admin_cert(&self) -> PathBuf {
        self.dir.join("admin.crt")
    }
    pub fn admin_key(&self) -> PathBuf {
        self.dir.join("admin.key")
    }
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join(ADMIN_KUBECONFIG)
    }
}

/// Certificate lifetimes and the renewal threshold, from the `pki` config section.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub ca: Duration,
    pub serving: Duration,
    pub client: Duration,
    pub renew_before_percent: u8,
}

impl Lifetimes {
    pub fn from_config(config: &Config) -> Self {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2));
        Lifetimes {
            ca: secs(config.pki.ca_validity_seconds),
            serving: secs(config.pki.serving_cert_validity_seconds),
            client: secs(config.pki.client_cert_validity_seconds),
            renew_before_percent: config.pki.renew_before_expiry_percent,
        }
    }
}

/// The hub's loaded PKI.
pub struct Pki {
    pub layout: Layout,
    pub ca: CertificateAuthority,
    pub lifetimes: Lifetimes,
    /// Names the serving certificate must cover.
    pub serving_names: Vec<String>,
    /// URL written into generated kubeconfigs.
    pub server_url: String,
}

impl Pki {
    /// Loads the PKI from the data directory, creating or renewing what is missing, stale or
    /// signed by another CA, and writes the admin kubeconfig.
    pub fn ensure(config: &Config) -> Result<Pki, PkiError> {
        let layout = Layout::new(&config.data_directory);
        files::create_private_dir(&layout.dir)?;
        let lifetimes = Lifetimes::from_config(config);
        let ca = load_or_create_ca(config, &layout, lifetimes)?;
        let pki = Pki {
            serving_names: serving_names(config),
            server_url: server_url(config),
            layout,
            ca,
            lifetimes,
        };
        pki.ensure_serving()?;
        let admin = pki.ensure_admin()?;
        pki.write_admin_kubeconfig(&admin)?;
        Ok(pki)
    }

    /// Returns the serving certificate on disk, after renewing it if it is missing, expiring,
    /// signed by another CA or missing one of the current names.
    pub fn ensure_serving(&self) -> Result<CertAndKey, PkiError> {
        let (cert, key) = (self.layout.serving_cert(), self.layout.serving_key());
        if let Some(existing) = self.reusable(&cert, &key, |x509| {
            let present = san_strings(x509);
            self.serving_names.iter().all(|n| present.contains(n))
        })? {
            return Ok(existing);
        }
        tracing::info!(path = %cert.display(), "issuing API serving certificate");
        let issued = self.ca.issue(&serving_params(
            &self.serving_names,
            self.lifetimes.serving,
        )?)?;
        files::write_public(&cert, issued.cert_pem.as_bytes())?;
        write_private(&key, issued.key_pem.as_bytes())?;
        Ok(issued)
    }

    /// Returns the admin client certificate, issuing it when needed.
    pub fn ensure_admin(&self) -> Result<CertAndKey, PkiError> {
        let (cert, key) = (self.layout.admin_cert(), self.layout.admin_key());
        if let Some(existing) = self.reusable(&cert, &key, |_| true)? {
            return Ok(existing);
        }
        tracing::info!(path = %cert.display(), "issuing admin client certificate");
        let params = client_params("system:admin", &["system:masters"], self.lifetimes.client);
        let issued = self.ca.issue(&params)?;
        files::write_public(&cert, issued.cert_pem.as_bytes())?;
        write_private(&key, issued.key_pem.as_bytes())?;
        Ok(issued)
    }

    /// The existing pair at `cert`/`key` if both exist, parse, match, are signed by the CA,
    /// are not due for renewal, and pass `extra`.
    fn reusable(
        &self,
        cert: &Path,
        key: &Path,
        extra: impl Fn(&X509Certificate<'_>) -> bool,
    ) -> Result<Option<CertAndKey>, PkiError> {
        if !cert.exists() || !key.exists() {
            return Ok(None);
        }
        let cert_pem = files::read_string(cert)?;
        let key_pem = files::read_string(key)?;
        let Ok(der) = keys::first_cert_der(&cert_pem) else {
            tracing::warn!(path = %cert.display(), "unreadable certificate, issuing a new one");
            return Ok(None);
        };
        let Ok((_, x509)) = X509Certificate::from_der(&der) else {
            return Ok(None);
        };
        let Ok(pair) = keys::parse_key(&key_pem) else {
            return Ok(None);
        };
        let ok = keys::spki_matches(&x509, &pair)
            && self.ca.signed(&x509)
            && !needs_renewal(&x509, self.lifetimes.renew_before_percent)
            && extra(&x509);
        Ok(ok.then_some(CertAndKey { cert_pem, key_pem }))
    }

    fn write_admin_kubeconfig(&self, admin: &CertAndKey) -> Result<(), PkiError> {
        let text = kubeconfig(&self.server_url, &self.ca.cert_pem, admin);
        write_private(&self.layout.admin_kubeconfig(), text.as_bytes())
    }

    /// True when the serving certificate on disk should be renewed now.
    pub fn serving_due(&self) -> bool {
        let Ok(pem) = files::read_string(&self.layout.serving_cert()) else {
            return true;
        };
        match keys::first_cert_der(&pem) {
            Ok(der) => match X509Certificate::from_der(&der) {
                Ok((_, x509)) => needs_renewal(&x509, self.lifetimes.renew_before_percent),
                Err(_) => true,
            },
            Err(_) => true,
        }
    }

    /// Issues a new serving certificate unconditionally and stores it.
    pub fn renew_serving(&self) -> Result<CertAndKey, PkiError> {
        let issued = self.ca.issue(&serving_params(
            &self.serving_names,
            self.lifetimes.serving,
        )?)?;
        files::write_public(&self.layout.serving_cert(), issued.cert_pem.as_bytes())?;
        write_private(&self.layout.serving_key(), issued.key_pem.as_bytes())?;
        Ok(issued)
    }
}

/// Loads the user's CA when both files are configured, else our own (generated once).
fn load_or_create_ca(
    config: &Config,
    layout: &Layout,
    lifetimes: Lifetimes,
) -> Result<CertificateAuthority, PkiError> {
    let (ca_file, ca_key_file) = (&config.apiserver.ca_file, &config.apiserver.ca_key_file);
    match (ca_file.is_empty(), ca_key_file.is_empty()) {
        (false, false) => return load_ca(Path::new(ca_file), Path::new(ca_key_file)),
        (true, true) => {}
        _ => tracing::warn!(
            "only one of apiserver.caFile and apiserver.caKeyFile is set; \
             using a self-generated CA, as the Go project does"
        ),
    }
    let (cert, key) = (layout.ca_cert(), layout.ca_key());
    if cert.exists() && key.exists() {
        return load_ca(&cert, &key);
    }
    tracing::info!(path = %cert.display(), "generating root CA");
    let key_pair = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let now = OffsetDateTime::now_utc();
    dn.push(
        DnType::CommonName,
        format!("multicluster-controlplane-ca@{}", now.unix_timestamp()),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + lifetimes.ca;
    params.serial_number = Some(random_serial());
    let ca_cert = params.self_signed(&key_pair)?;
    write_private(&key, key_pair.serialize_pem().as_bytes())?;
    files::write_public(&cert, ca_cert.pem().as_bytes())?;
    load_ca(&cert, &key)
}

/// Reads a CA pair and checks that the key belongs to the certificate.
fn load_ca(cert_path: &Path, key_path: &Path) -> Result<CertificateAuthority, PkiError> {
    let cert_pem = files::read_string(cert_path)?;
    let key_pem = files::read_string(key_path)?;
    CertificateAuthority::from_pem(cert_pem, &key_pem, cert_path, key_path)
}

impl CertificateAuthority {
    /// A CA from PEM text (`cert_path` and `key_path` only name where it came from in
    /// errors): the key must belong to the certificate, and the certificate be a CA.
    pub fn from_pem(
        cert_pem: String,
        key_pem: &str,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<CertificateAuthority, PkiError> {
        let bad_cert = |reason: String| PkiError::BadCertificate {
            path: cert_path.to_path_buf(),
            reason,
        };
        let der = keys::first_cert_der(&cert_pem).map_err(bad_cert)?;
        let (_, x509) = X509Certificate::from_der(&der).map_err(|e| bad_cert(e.to_string()))?;
        let key = keys::parse_key(key_pem).map_err(|reason| PkiError::BadKey {
            path: key_path.to_path_buf(),
            reason,
        })?;
        if !keys::spki_matches(&x509, &key) {
            return Err(PkiError::CaMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        if !x509.is_ca() {
            return Err(PkiError::NotCa {
                path: cert_path.to_path_buf(),
            });
        }
        Ok(CertificateAuthority {
            cert_pem,
            cert_der: der,
            key,
            cert_path: cert_path.to_path_buf(),
        })
    }
}

/// True once less than `percent` of the certificate's lifetime is left.
fn needs_renewal(x509: &X509Certificate<'_>, percent: u8) -> bool {
    let validity = x509.validity();
    let (start, end) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let left = end - now;
    let total = (end - start).max(1);
    left * 100 < total * i64::from(percent)
}

/// Every name the serving certificate covers.
fn serving_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    };
    add(&config.apiserver.external_hostname);
    add("localhost");
    add("127.0.0.1");
    add("::1");
    if let Ok(host) = gethostname::gethostname().into_string() {
        add(&host);
    }
    if let Ok(ip) = config.apiserver.bind_address.parse::<IpAddr>()
        && !ip.is_unspecified()
    {
        add(&ip.to_string());
    }
    for n in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "multicluster-controlplane",
    ] {
        add(n);
    }
    // In a pod (the Helm chart sets POD_NAMESPACE): the chart's Service, by which the
    // published `multicluster-controlplane-svc-kubeconfig` reaches the hub.
    if let Ok(ns) = std::env::var("POD_NAMESPACE") {
        for n in service_names(&ns) {
            add(&n);
        }
    }
    names
}

/// The DNS names of the Helm chart's Service in namespace `ns`.
pub fn service_names(ns: &str) -> Vec<String> {
    // A namespace is a DNS label (checked here: `api` is not below `pki`).
    let label = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if !label {
        return Vec::new();
    }
    let svc = service_name(ns);
    vec![
        format!("multicluster-controlplane.{ns}"),
        format!("{svc}.cluster.local"),
        svc,
    ]
}

/// The in-cluster DNS name of the Helm chart's Service in namespace `ns`.
pub fn service_name(ns: &str) -> String {
    format!("multicluster-controlplane.{ns}.svc")
}

/// The URL written into the admin kubeconfig.
pub fn server_url(config: &Config) -> String {
    let api = &config.apiserver;
    let host = if !api.external_hostname.is_empty() {
        api.external_hostname.clone()
    } else {
        match api.bind_address.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_loopback() => "127.0.0.1".to_string(),
            Ok(ip) => ip.to_string(),
            Err(_) => api.bind_address.clone(),
        }
    };
    let port = if !api.external_hostname.is_empty() && api.external_port != 0 {
        api.external_port
    } else {
        api.port
    };
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
        _ => format!("https://{host}:{port}"),
    }
}

fn san(name: &str) -> Result<SanType, rcgen::Error> {
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.to_string().try_into()?),
    })
}

fn san_strings(x509: &X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(ext)) = x509.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn serving_params(names: &[String], lifetime: Duration) -> Result<CertificateParams, PkiError> {
    let mut params = leaf_params("multicluster-controlplane", &[], lifetime);
    params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    Ok(params)
}

/// Parameters of a client certificate: CN = user, one O per group.
pub fn client_params(user: &str, groups: &[&str], lifetime: Duration) -> CertificateParams {
    let mut params = leaf_params(user, groups, lifetime);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params
}

/// A subject with common name `cn` and one `O` per group. rcgen keeps one value per
/// attribute type, so a second `O` is written under the same OID as a custom type; more
/// than two groups do not fit.
pub fn subject(cn: &str, orgs: &[&str]) -> DistinguishedName {
    const ORGANIZATION: [u64; 4] = [2, 5, 4, 10];
    let mut dn = DistinguishedName::new();
    for (i, o) in orgs.iter().take(2).enumerate() {
        let ty = match i {
            0 => DnType::OrganizationName,
            _ => DnType::CustomDnType(ORGANIZATION.to_vec()),
        };
        dn.push(ty, *o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

fn leaf_params(cn: &str, orgs: &[&str], lifetime: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(cn, orgs);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + lifetime;
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    params
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// A kubeconfig with the CA and a client certificate embedded, in the Go project's shape
/// (cluster and context `multicluster-controlplane`, user `user`, namespace `default`).
pub fn kubeconfig(server: &str, ca_pem: &str, client: &CertAndKey) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "multicluster-controlplane", "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_pem),
        }}],
        "users": [{"name": "user", "user": {
            "client-certificate-data": b64(&client.cert_pem),
            "client-key-data": b64(&client.key_pem),
        }}],
        "contexts": [{"name": "multicluster-controlplane", "context": {
            "cluster": "multicluster-controlplane",
            "user": "user",
            "namespace": "default",
        }}],
        "current-context": "multicluster-controlplane",
        "preferences": {},
    });
    kubeconfig_yaml(&doc)
}

/// A kubeconfig document as YAML text, in the shape kubectl and the Go tools write
/// (plain scalars, no folded blocks). Written with `serde-saphyr`, which kube's client
/// also reads kubeconfigs with.
pub fn kubeconfig_yaml(doc: &serde_json::Value) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    // Serialising a JSON value cannot fail.
    serde_saphyr::to_string_with_options(doc, options).unwrap_or_default()
}

/// PEM text of one DER block.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        let mut c = crate::config::load(None).expect("defaults");
        c.data_directory = dir.to_path_buf();
        c.apiserver.bind_address = "127.0.0.1".into();
        c
    }

    #[test]
    fn first_start_generates_and_restart_reuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(dir.path());
        let first = Pki::ensure(&c).expect("first");
        let serving1 = first.ensure_serving().expect("serving");
        let again = Pki::ensure(&c).expect("again");
        assert_eq!(first.ca.cert_pem, again.ca.cert_pem);
        assert_eq!(
            serving1.cert_pem,
            again.ensure_serving().expect("s").cert_pem
        );
        use std::os::unix::fs::PermissionsExt;
        for key in [
            first.layout.ca_key(),
            first.layout.serving_key(),
            first.layout.admin_key(),
        ] {
            let mode = std::fs::metadata(&key).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }
    }

    /// The admin kubeconfig reads back as the document it was made from, with every
    /// value a plain or quoted scalar on its key's line (as `serde_yaml` wrote it).
    #[test]
    fn kubeconfig_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::ensure(&config(dir.path())).expect("pki");
        let text = std::fs::read_to_string(pki.layout.admin_kubeconfig()).expect("kubeconfig");
        let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
        assert_eq!(doc["current-context"], "multicluster-controlplane");
        let ca = doc.pointer("/clusters/0/cluster/certificate-authority-data");
        use base64::Engine;
        let ca = ca
            .and_then(serde_json::Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        assert_eq!(ca.as_deref(), Some(pki.ca.cert_pem.as_bytes()));
        assert!(!text.contains(">-") && !text.contains('|'), "{text}");
        let odd = serde_json::json!({"name": "", "yes": "yes", "n": "0755", "t": "true", "x": ["~", "a: b"]});
        assert_eq!(
            serde_saphyr::from_str::<serde_json::Value>(&kubeconfig_yaml(&odd)).ok(),
            Some(odd)
        );
    }

    #[test]
    fn new_external_hostname_reissues_serving_cert_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config(dir.path());
        let first = Pki::ensure(&c).expect("first");
        let s1 = first.ensure_serving().expect("s1");
        c.apiserver.external_hostname = "hub.example.test".into();
        let second = Pki::ensure(&c).expect("second");
        let s2 = second.ensure_serving().expect("s2");
        assert_ne!(s1.cert_pem, s2.cert_pem);
        assert_eq!(first.ca.cert_pem, second.ca.cert_pem);
        let der = keys::first_cert_der(&s2.cert_pem).expect("der");
        let (_, x) = X509Certificate::from_der(&der).expect("parse");
        assert!(san_strings(&x).contains(&"hub.example.test".to_string()));
    }

    #[test]
    fn mismatched_ca_pair_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Pki::ensure(&config(&dir.path().join("a"))).expect("a");
        let b = Pki::ensure(&config(&dir.path().join("b"))).expect("b");
        let mut c = config(&dir.path().join("c"));
        c.apiserver.ca_file = a.layout.ca_cert().display().to_string();
        c.apiserver.ca_key_file = b.layout.ca_key().display().to_string();
        match Pki::ensure(&c) {
            Err(PkiError::CaMismatch { .. }) => {}
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("mismatched pair accepted"),
        }
    }

    #[test]
    fn renewal_threshold() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config(dir.path());
        c.pki.serving_cert_validity_seconds = 100;
        c.pki.renew_before_expiry_percent = 90;
        let pki = Pki::ensure(&c).expect("pki");
        // 5 minutes of backdating make a 100 s certificate already inside its renewal window.
        assert!(pki.serving_due());
        c.pki.serving_cert_validity_seconds = 86400;
        c.pki.renew_before_expiry_percent = 20;
        let pki = Pki::ensure(&c).expect("pki");
        assert!(!pki.serving_due());
    }

    #[test]
    fn server_url_shapes() {
        let mut c = crate::config::load(None).expect("defaults");
        assert_eq!(server_url(&c), "https://127.0.0.1:9443");
        c.apiserver.bind_address = "::1".into();
        assert_eq!(server_url(&c), "https://127.0.0.1:9443");
        c.apiserver.external_port = 443;
        assert_eq!(server_url(&c), "https://127.0.0.1:9443", "no external host");
        c.apiserver.external_hostname = "fd00::5".into();
        assert_eq!(server_url(&c), "https://[fd00::5]:443");
        c.apiserver.external_port = 0;
        assert_eq!(server_url(&c), "https://[fd00::5]:9443");
    }

    #[test]
    fn the_charts_service_names_follow_its_namespace() {
        assert_eq!(
            service_names("team-a"),
            [
                "multicluster-controlplane.team-a",
                "multicluster-controlplane.team-a.svc.cluster.local",
                "multicluster-controlplane.team-a.svc",
            ]
        );
        assert!(service_names("not a namespace").is_empty());
    }

    #[test]
    fn certificate_requests_carry_every_group_unit_and_dns_name() {
        let key = KeyPair::generate().expect("key");
        let pem = certificate_request(
            &key,
            "user",
            &["g1", "g2", "g3"],
            &["u1"],
            &["a.example".to_string()],
        )
        .expect("request");
        let der = keys::labelled(&pem, "CERTIFICATE REQUEST")
            .expect("pem")
            .remove(0);
        let (_, request) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der)
                .expect("parse");
        request.verify_signature().expect("signature");
        let info = &request.certification_request_info;
        let text =
            |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().unwrap_or("").to_string();
        let orgs: Vec<String> = info.subject.iter_organization().map(text).collect();
        assert_eq!(orgs, ["g1", "g2", "g3"]);
        let units: Vec<String> = info.subject.iter_organizational_unit().map(text).collect();
        assert_eq!(units, ["u1"]);
        assert_eq!(
            info.subject
                .iter_common_name()
                .map(text)
                .collect::<Vec<_>>(),
            ["user"]
        );
        use rcgen::PublicKeyData;
        assert_eq!(
            info.subject_pki.raw,
            key.subject_public_key_info().as_slice()
        );
        let sans = request
            .requested_extensions()
            .into_iter()
            .flatten()
            .find_map(|e| match e {
                x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) => {
                    Some(format!("{:?}", san.general_names))
                }
                _ => None,
            })
            .expect("a SAN extension");
        assert!(sans.contains("a.example"), "{sans}");
    }
}
