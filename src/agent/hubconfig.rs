//! Where the hub is and who the agent is there: the bootstrap endpoint and token (from a
//! bootstrap kubeconfig, or a hub URL with a CA file or a pinned CA hash checked against
//! `kube-public/cluster-info`), the credential directory (key, issued certificate, hub
//! kubeconfig; written atomically, 0600), and `kube::Client`s for either identity.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::AgentError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The hub's URL and the CA that signs its serving certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub server: String,
    pub ca_pem: String,
}

/// How the agent authenticates.
#[derive(Clone)]
pub enum Credential {
    /// A bootstrap token `<id>.<secret>`.
    Token(String),
    /// A client certificate (chain) and its private key, PEM.
    Cert { cert_pem: String, key_pem: String },
}

/// A `kube::Client` for `endpoint` as `credential`.
pub fn client(endpoint: &Endpoint, credential: &Credential) -> Result<kube::Client, AgentError> {
    let uri: http::Uri = endpoint
        .server
        .parse()
        .map_err(|e| AgentError::Config(format!("hub URL {:?}: {e}", endpoint.server)))?;
    let mut config = kube::Config::new(uri);
    config.root_cert = Some(pem_certs(&endpoint.ca_pem)?);
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    // Short, so a stalled connection heals within 30 s; a quiet watch cut by it starts
    // again (the CSR wait and the controllers' watchers resume on the same objects).
    config.read_timeout = Some(std::time::Duration::from_secs(30));
    match credential {
        Credential::Token(t) => config.auth_info.token = Some(t.clone().into()),
        Credential::Cert { cert_pem, key_pem } => {
            config.auth_info.client_certificate_data = Some(B64.encode(cert_pem));
            config.auth_info.client_key_data = Some(B64.encode(key_pem).into());
        }
    }
    kube::Client::try_from(config).map_err(|e| AgentError::Config(format!("hub client: {e}")))
}

/// DER of every certificate in a PEM bundle.
fn pem_certs(pem: &str) -> Result<Vec<Vec<u8>>, AgentError> {
    let certs = crate::pki::keys::labelled(pem, "CERTIFICATE")
        .map_err(|e| AgentError::Config(format!("CA bundle: {e}")))?;
    if certs.is_empty() {
        return Err(AgentError::Config(
            "the hub CA bundle holds no certificate".into(),
        ));
    }
    Ok(certs)
}

/// `sha256:<hex>` of a certificate's SubjectPublicKeyInfo: kubeadm's CA pin format.
pub fn ca_hash(ca_pem: &str) -> Result<String, AgentError> {
    let der = pem_certs(ca_pem)?.remove(0);
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| AgentError::Config(format!("CA certificate: {e}")))?;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// Reads the current context's cluster and token from a bootstrap kubeconfig.
pub fn from_kubeconfig(path: &Path) -> Result<(Endpoint, String), AgentError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
    let doc: Value = crate::api::yaml::from_str(&text)
        .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let current = doc
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or("");
    let named = |list: &str, name: &str, field: &str| -> Option<Value> {
        let items = doc.get(list)?.as_array()?;
        let item = items
            .iter()
            .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
            .or_else(|| (items.len() == 1).then(|| &items[0]))?;
        item.get(field).cloned()
    };
    let context = named("contexts", current, "context").unwrap_or(Value::Null);
    let cluster_name = context.get("cluster").and_then(Value::as_str).unwrap_or("");
    let user_name = context.get("user").and_then(Value::as_str).unwrap_or("");
    let cluster = named("clusters", cluster_name, "cluster").ok_or_else(|| {
        AgentError::Config(format!(
            "{}: no cluster for the current context",
            path.display()
        ))
    })?;
    let user = named("users", user_name, "user").unwrap_or(Value::Null);
    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let read = |file: &str| -> Result<String, AgentError> {
        let p = base.join(file);
        std::fs::read_to_string(&p).map_err(|e| AgentError::Config(format!("{}: {e}", p.display())))
    };
    let ca_pem = match (
        cluster
            .get("certificate-authority-data")
            .and_then(Value::as_str),
        cluster.get("certificate-authority").and_then(Value::as_str),
    ) {
        (Some(data), _) => String::from_utf8(
            B64.decode(data)
                .map_err(|e| AgentError::Config(format!("certificate-authority-data: {e}")))?,
        )
        .map_err(|e| AgentError::Config(format!("certificate-authority-data: {e}")))?,
        (None, Some(file)) => read(file)?,
        _ => {
            return Err(AgentError::Config(format!(
                "{}: the hub CA is missing (certificate-authority-data)",
                path.display()
            )));
        }
    };
    let token = match (
        user.get("token").and_then(Value::as_str),
        user.get("tokenFile").and_then(Value::as_str),
    ) {
        (Some(t), _) => t.to_string(),
        (None, Some(f)) => read(f)?.trim().to_string(),
        _ => {
            return Err(AgentError::Config(format!(
                "{}: the bootstrap user has no token",
                path.display()
            )));
        }
    };
    if server.is_empty() {
        return Err(AgentError::Config(format!(
            "{}: the cluster has no server",
            path.display()
        )));
    }
    Ok((Endpoint { server, ca_pem }, token))
}

/// The hub CA for `server`: read from `ca_file`, or fetched from `kube-public/cluster-info`
/// and accepted only when its public key matches `ca_hash`.
pub async fn discover_ca(
    server: &str,
    ca_file: Option<&Path>,
    ca_hash_pin: Option<&str>,
) -> Result<String, AgentError> {
    if let Some(file) = ca_file {
        return std::fs::read_to_string(file)
            .map_err(|e| AgentError::Config(format!("{}: {e}", file.display())));
    }
    let Some(pin) = ca_hash_pin else {
        return Err(AgentError::Config(
            "give the hub CA with --hub-ca-file or pin it with --hub-ca-hash sha256:<hex> (printed by `token create`)".into(),
        ));
    };
    let uri: http::Uri = server
        .parse()
        .map_err(|e| AgentError::Config(format!("hub URL {server:?}: {e}")))?;
    let mut config = kube::Config::new(uri);
    // Unverified on purpose: what comes back is trusted only if it matches the pin.
    config.accept_invalid_certs = true;
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    let client = kube::Client::try_from(config).map_err(|e| AgentError::Config(e.to_string()))?;
    let (_, ca) = cluster_info(&client).await.map_err(AgentError::Hub)?;
    let actual = ca_hash(&ca)?;
    if !actual.eq_ignore_ascii_case(pin.trim()) {
        return Err(AgentError::Hub(format!(
            "the hub CA's hash {actual} does not match the pinned {pin}"
        )));
    }
    Ok(ca)
}

/// The hub URL and CA (PEM) that `kube-public/cluster-info` publishes, as read with
/// `client`.
pub async fn cluster_info(client: &kube::Client) -> Result<(String, String), String> {
    let info = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        client.clone(),
        "kube-public",
    )
    .get("cluster-info")
    .await
    .map_err(|e| format!("reading kube-public/cluster-info: {e}"))?;
    let kubeconfig = info
        .data
        .as_ref()
        .and_then(|d| d.get("kubeconfig"))
        .map(String::as_str)
        .unwrap_or("");
    let doc = kube::config::Kubeconfig::from_yaml(kubeconfig)
        .map_err(|e| format!("cluster-info: {e}"))?;
    let cluster = doc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| "cluster-info names no cluster".to_string())?;
    let data = cluster
        .certificate_authority_data
        .as_deref()
        .ok_or_else(|| "cluster-info has no CA".to_string())?;
    let ca = B64
        .decode(data)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| "cluster-info's CA is not base64 PEM".to_string())?;
    Ok((cluster.server.clone().unwrap_or_default(), ca))
}

/// The hub kubeconfig beside a `tls.crt` and `tls.key` (paths relative to the kubeconfig,
/// as OCM writes it for its agents and add-on agents): the hub's URL and CA inline, the
/// client certificate and key from those files, namespace `configuration`.
pub fn kubeconfig(endpoint: &Endpoint) -> String {
    let doc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "default-cluster", "cluster": {"server": endpoint.server,
            "certificate-authority-data": B64.encode(&endpoint.ca_pem)}}],
        "users": [{"name": "default-auth", "user": {"client-certificate": "tls.crt", "client-key": "tls.key"}}],
        "contexts": [{"name": "default-context", "context": {"cluster": "default-cluster", "user": "default-auth", "namespace": "configuration"}}],
        "current-context": "default-context",
    });
    crate::pki::kubeconfig_yaml(&doc)
}

/// The credential directory.
#[derive(Debug, Clone)]
pub struct CredDir {
    pub dir: PathBuf,
}

/// Valid credentials found in the directory.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}

impl Issued {
    /// When the certificate should be rotated: at `fraction` of its lifetime.
    pub fn rotate_at(&self, fraction: f64) -> time::OffsetDateTime {
        let life = self.not_after - self.not_before;
        self.not_before + life * fraction
    }
    pub fn credential(&self) -> Credential {
        Credential::Cert {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }
}

/// Validity window and subject of the first certificate of a PEM chain.
pub fn cert_info(
    cert_pem: &str,
) -> Result<(String, time::OffsetDateTime, time::OffsetDateTime), AgentError> {
    let der = pem_certs(cert_pem)?.remove(0);
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| AgentError::Config(format!("certificate: {e}")))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string();
    let t = |ts: i64| {
        time::OffsetDateTime::from_unix_timestamp(ts).map_err(|e| AgentError::Config(e.to_string()))
    };
    Ok((
        cn,
        t(cert.validity().not_before.timestamp())?,
        t(cert.validity().not_after.timestamp())?,
    ))
}

impl CredDir {
    pub fn new(dir: PathBuf) -> CredDir {
        CredDir { dir }
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }

    /// The agent id kept in `agent-name`, created on first use (5 random characters).
    pub fn agent_id(&self) -> Result<String, AgentError> {
        if let Some(id) = self
            .read("agent-name")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
        {
            return Ok(id);
        }
        let id = crate::api::meta::random_suffix();
        self.write_files(&[("agent-name", id.as_bytes())])?;
        Ok(id)
    }

    /// The issued credentials, when present, unexpired, for `identity`, matching their key
    /// and issued for `endpoint` (the hub kubeconfig names the same server and CA).
    pub fn load(&self, endpoint: &Endpoint, identity: &str) -> Option<Issued> {
        let (cert_pem, key_pem, kubeconfig) = (
            self.read("tls.crt")?,
            self.read("tls.key")?,
            self.read("kubeconfig")?,
        );
        let doc: Value = crate::api::yaml::from_str(&kubeconfig).ok()?;
        let cluster = doc.pointer("/clusters/0/cluster")?;
        let ca = cluster
            .get("certificate-authority-data")
            .and_then(Value::as_str)
            .and_then(|d| B64.decode(d).ok())
            .and_then(|b| String::from_utf8(b).ok())?;
        if cluster.get("server").and_then(Value::as_str) != Some(endpoint.server.as_str())
            || ca != endpoint.ca_pem
        {
            tracing::info!("hub credentials are for another hub endpoint; bootstrapping again");
            return None;
        }
        let (cn, not_before, not_after) = cert_info(&cert_pem).ok()?;
        if cn != identity || not_after <= time::OffsetDateTime::now_utc() {
            return None;
        }
        let key = rcgen::KeyPair::from_pem(&key_pem).ok()?;
        let der = pem_certs(&cert_pem).ok()?.remove(0);
        let (_, cert) = X509Certificate::from_der(&der).ok()?;
        if !crate::pki::keys::spki_matches(&cert, &key) {
            return None;
        }
        Some(Issued {
            cert_pem,
            key_pem,
            not_before,
            not_after,
        })
    }

    /// Writes key, certificate and hub kubeconfig (each replaced atomically, 0600).
    pub fn store(
        &self,
        endpoint: &Endpoint,
        cluster: &str,
        agent: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), AgentError> {
        let kubeconfig = kubeconfig(endpoint);
        // Key and certificate first: a crash before the kubeconfig leaves a mismatch that
        // `load` rejects, never a kubeconfig pointing at a half-written pair.
        self.write_files(&[
            ("tls.key", key_pem.as_bytes()),
            ("tls.crt", cert_pem.as_bytes()),
            ("cluster-name", cluster.as_bytes()),
            ("agent-name", agent.as_bytes()),
            ("kubeconfig", kubeconfig.as_bytes()),
        ])
    }

    /// Forgets the issued credentials (the agent bootstraps again).
    pub fn clear(&self) {
        for f in ["kubeconfig", "tls.crt", "tls.key"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
    }

    fn write_files(&self, files: &[(&str, &[u8])]) -> Result<(), AgentError> {
        let err = |e: crate::pki::PkiError| AgentError::Config(e.to_string());
        crate::pki::files::create_private_dir(&self.dir).map_err(err)?;
        for (name, bytes) in files {
            crate::pki::files::write_private(&self.dir.join(name), bytes).map_err(err)?;
        }
        Ok(())
    }
}
