//! One add-on registration: a client certificate for the add-on's agent, obtained through
//! a CSR on the hub and kept in a Secret in the add-on's install namespace on the managed
//! cluster (upstream's per-registration client-certificate controller, v1alpha1 rules).
//!
//! The key is made here and only ever written into that Secret. A new certificate is
//! requested when the Secret holds none that is valid for the subject, when its kubeconfig
//! or cluster name are not what they should be, and at a random point between 75 % and
//! 80 % of the certificate's lifetime. The task does not create the namespace: an add-on
//! that is not installed yet has none, and the Secret is written once it exists.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{AddonAgent, AddonError};
use crate::agent::register::{CertSubject, CsrTemplate, key_and_request, request_certificate};
use crate::agent::{AgentError, Backoff, api_code, hubconfig};
use crate::api::ocm::names::{CLIENT_SIGNER, CLUSTER_NAME_LABEL};
use crate::api::ocm::{ADDON_NAME_LABEL, Subject};

/// The Secret key of the certificate chain.
pub const TLS_CERT: &str = "tls.crt";
/// The Secret key of the private key.
pub const TLS_KEY: &str = "tls.key";
/// The Secret key of the hub kubeconfig (client signer only).
pub const KUBECONFIG: &str = "kubeconfig";
/// The Secret key of the cluster name.
pub const CLUSTER_NAME: &str = "cluster-name";

/// Upstream stops creating CSRs for an add-on while this many of its CSRs exist on the hub.
const CSR_LIMIT: usize = 10;
/// How often a valid certificate's Secret is looked at even without a change.
const RESYNC: Duration = Duration::from_secs(5 * 60);
/// How long after a denied (or failed) CSR the next one is made. Upstream waits until
/// the denied CSR is deleted (our hub removes decided CSRs after an hour); this bounds the
/// CSRs a denied add-on makes to a few an hour, without watching for that deletion.
const AFTER_REFUSAL: Duration = Duration::from_secs(10 * 60);

/// The user name of an add-on agent's certificate when its registration names none.
pub fn default_user(cluster: &str, addon: &str, agent: &str) -> String {
    format!("{}:agent:{agent}", default_group(cluster, addon))
}

/// The group of an add-on agent's certificate when a client-signer registration names none.
pub fn default_group(cluster: &str, addon: &str) -> String {
    format!("system:open-cluster-management:cluster:{cluster}:addon:{addon}")
}

/// The subject of the certificate for a registration: its own, with upstream's defaults
/// for a missing user (always) and missing groups (client signer only).
pub fn subject(
    cluster: &str,
    addon: &str,
    agent: &str,
    signer: &str,
    given: Option<&Subject>,
) -> CertSubject {
    let given = given.cloned().unwrap_or_default();
    let mut groups = given.groups;
    if groups.is_empty() && signer == CLIENT_SIGNER {
        groups.push(default_group(cluster, addon));
    }
    CertSubject {
        user: given
            .user
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| default_user(cluster, addon, agent)),
        groups,
        units: given.organization_units,
    }
}

/// The Secret a registration's certificate is kept in: `<addon>-hub-kubeconfig` for the
/// client signer, else `<addon>-<signer with / as ->-client-cert`.
pub fn secret_name(addon: &str, signer: &str) -> String {
    if signer == CLIENT_SIGNER {
        format!("{addon}-hub-kubeconfig")
    } else {
        format!("{addon}-{}-client-cert", signer.replace('/', "-"))
    }
}

/// The DNS name requested in an add-on's CSRs.
pub fn dns_name(addon: &str) -> String {
    format!("{addon}.addon.open-cluster-management.io")
}

/// The CSR template of an add-on's registration.
pub fn csr_template(
    cluster: &str,
    addon: &str,
    signer: &str,
    expiration_seconds: Option<u64>,
) -> CsrTemplate {
    CsrTemplate {
        generate_name: format!("addon-{cluster}-{addon}-"),
        labels: [
            (CLUSTER_NAME_LABEL.to_string(), cluster.to_string()),
            (ADDON_NAME_LABEL.to_string(), addon.to_string()),
        ]
        .into(),
        signer: signer.to_string(),
        expiration_seconds,
    }
}

/// A random renewal threshold: the certificate is renewed once less than this fraction of
/// its lifetime remains (upstream: between 20 % and 25 %).
pub fn renewal_threshold() -> f64 {
    0.2 + 0.2 * rand::random::<f64>() * 0.25
}

/// What the Secret's certificate calls for.
#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    /// A new certificate is needed, for the reason given.
    Renew(String),
    /// The certificate is good until `renew_at`.
    Valid { renew_at: time::OffsetDateTime },
}

/// Judges a Secret's data: a certificate chain none of whose certificates expired, one of
/// them issued for `subject` (user, groups and units compared as sets), the key matching
/// the first one, the `additional` entries present as given, and less than `threshold` of
/// the lifetime (the chain's latest notBefore to its earliest notAfter) used up.
pub fn assess(
    data: &BTreeMap<String, ByteString>,
    subject: &CertSubject,
    additional: &BTreeMap<String, ByteString>,
    now: time::OffsetDateTime,
    threshold: f64,
) -> Assessment {
    let renew = |why: &str| Assessment::Renew(why.to_string());
    let Some(chain) = data
        .get(TLS_CERT)
        .and_then(|c| std::str::from_utf8(&c.0).ok())
    else {
        return renew("no client certificate");
    };
    let ders = match crate::pki::keys::labelled(chain, "CERTIFICATE") {
        Ok(d) if !d.is_empty() => d,
        _ => return renew("the client certificate does not parse"),
    };
    let mut certs = Vec::new();
    for der in &ders {
        match X509Certificate::from_der(der) {
            Ok((_, c)) => certs.push(c),
            Err(_) => return renew("the client certificate does not parse"),
        }
    }
    let unix = |c: &X509Certificate<'_>| {
        (
            c.validity().not_before.timestamp(),
            c.validity().not_after.timestamp(),
        )
    };
    if certs.iter().any(|c| unix(c).1 < now.unix_timestamp()) {
        return renew("the client certificate expired");
    }
    if !certs.iter().any(|c| issued_for(c, subject)) {
        return renew("the client certificate is not issued for the subject");
    }
    let key = data
        .get(TLS_KEY)
        .and_then(|k| std::str::from_utf8(&k.0).ok())
        .and_then(|k| rcgen::KeyPair::from_pem(k).ok());
    if !key.is_some_and(|k| crate::pki::keys::spki_matches(&certs[0], &k)) {
        return renew("the private key does not match the client certificate");
    }
    if let Some((name, _)) = additional.iter().find(|(k, v)| data.get(*k) != Some(*v)) {
        return renew(&format!("{name} is missing or out of date"));
    }
    let not_before = certs.iter().map(|c| unix(c).0).max().unwrap_or(0);
    let not_after = certs.iter().map(|c| unix(c).1).min().unwrap_or(0);
    let life = (not_after - not_before).max(0) as f64;
    let renew_at = not_after - (life * threshold) as i64;
    if now.unix_timestamp() >= renew_at {
        return renew("the client certificate is due for rotation");
    }
    match time::OffsetDateTime::from_unix_timestamp(renew_at) {
        Ok(renew_at) => Assessment::Valid { renew_at },
        Err(_) => renew("the client certificate's validity is out of range"),
    }
}

/// Whether a certificate's subject is `subject`.
fn issued_for(cert: &X509Certificate<'_>, subject: &CertSubject) -> bool {
    use std::collections::BTreeSet;
    let name = cert.subject();
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str().unwrap_or_default().to_string()
    };
    let cn = name.iter_common_name().next().map(text).unwrap_or_default();
    let orgs: BTreeSet<String> = name.iter_organization().map(text).collect();
    let units: BTreeSet<String> = name.iter_organizational_unit().map(text).collect();
    cn == subject.user
        && orgs == subject.groups.iter().cloned().collect()
        && units == subject.units.iter().cloned().collect()
}

/// One registration's task: what it is for and where its Secret goes.
#[derive(Debug, Clone)]
pub struct Registration {
    pub addon: String,
    pub signer: String,
    pub subject: CertSubject,
    pub namespace: String,
    pub secret: String,
}

/// The entries besides certificate and key that the Secret must hold: the hub kubeconfig
/// (client signer) and the cluster name.
fn additional_data(agent: &AddonAgent, signer: &str) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::new();
    if signer == CLIENT_SIGNER {
        data.insert(
            KUBECONFIG.to_string(),
            ByteString(hubconfig::kubeconfig(&agent.endpoint).into_bytes()),
        );
    }
    data.insert(
        CLUSTER_NAME.to_string(),
        ByteString(agent.cluster.as_bytes().to_vec()),
    );
    data
}

/// Keeps the registration's Secret holding a valid certificate until aborted.
pub async fn run(agent: Arc<AddonAgent>, registration: Registration) {
    let secrets: Api<Secret> = Api::namespaced(agent.spoke.clone(), &registration.namespace);
    let additional = additional_data(&agent, &registration.signer);
    let config =
        watcher::Config::default().fields(&format!("metadata.name={}", registration.secret));
    let mut changes = Box::pin(watcher(secrets.clone(), config).default_backoff());
    let mut backoff = Backoff::default();
    let mut failures = 0u32;
    // An issued certificate not yet written (the namespace may not exist yet).
    let mut unsaved: Option<BTreeMap<String, ByteString>> = None;
    loop {
        // How long to wait, and whether a change of the Secret ends the wait early (not
        // after a refusal: only time helps then).
        let (delay, on_change) =
            match step(&agent, &registration, &secrets, &additional, &mut unsaved).await {
                Ok(Some(renew_at)) => {
                    backoff = Backoff::default();
                    failures = 0;
                    let left =
                        (renew_at - time::OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                    (left.unsigned_abs().min(RESYNC), true)
                }
                Ok(None) => {
                    backoff = Backoff::default();
                    failures = 0;
                    continue;
                }
                Err(e @ AddonError::Agent(AgentError::Refused(_))) => {
                    tracing::warn!(
                        addon = registration.addon,
                        signer = registration.signer,
                        error = %e,
                        "the add-on's CSR was refused; asking again later"
                    );
                    (AFTER_REFUSAL, false)
                }
                Err(e) => {
                    failures += 1;
                    if failures == 3 {
                        tracing::warn!(
                            addon = registration.addon,
                            signer = registration.signer,
                            error = %e,
                            "add-on registration keeps failing; retrying"
                        );
                    } else {
                        tracing::debug!(
                            addon = registration.addon,
                            signer = registration.signer,
                            error = %e,
                            "add-on registration; retrying"
                        );
                    }
                    (backoff.next_delay(), true)
                }
            };
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                event = changes.next() => match event {
                    Some(Ok(Event::Apply(_) | Event::Delete(_) | Event::InitApply(_))) if on_change => break,
                    Some(_) => {}
                    None => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                },
            }
        }
    }
}

/// One look at the Secret: `Some(renewal time)` while its certificate is good, `None`
/// after a new one was written.
async fn step(
    agent: &AddonAgent,
    registration: &Registration,
    secrets: &Api<Secret>,
    additional: &BTreeMap<String, ByteString>,
    unsaved: &mut Option<BTreeMap<String, ByteString>>,
) -> Result<Option<time::OffsetDateTime>, AddonError> {
    if unsaved.is_none() {
        let current = secrets
            .get_opt(&registration.secret)
            .await
            .map_err(AddonError::managed)?;
        let data = current.and_then(|s| s.data).unwrap_or_default();
        let why = match assess(
            &data,
            &registration.subject,
            additional,
            time::OffsetDateTime::now_utc(),
            renewal_threshold(),
        ) {
            Assessment::Valid { renew_at } => return Ok(Some(renew_at)),
            Assessment::Renew(why) => why,
        };
        tracing::info!(
            addon = registration.addon,
            signer = registration.signer,
            reason = why,
            "requesting a client certificate for the add-on"
        );
        match issue(agent, registration).await {
            Ok(mut fresh) => {
                fresh.extend(additional.clone());
                *unsaved = Some(fresh);
            }
            Err(e) => {
                let message = match &e {
                    AddonError::Halted(_) => {
                        "Stop creating csr since there are too many csr created already on hub"
                            .to_string()
                    }
                    other => format!("Failed to rotated client certificate {other}"),
                };
                agent
                    .record_rotation(
                        &registration.addon,
                        "False",
                        "ClientCertificateUpdateFailed",
                        &message,
                    )
                    .await;
                return Err(e);
            }
        }
    }
    // Kept until written: a missing namespace or a conflict does not cost a new CSR.
    let Some(fresh) = unsaved.as_ref() else {
        return Ok(None);
    };
    save(secrets, &registration.secret, fresh).await?;
    let message = data_validity(fresh)
        .map(|(from, to)| {
            format!(
                "client certificate rotated starting from {} to {}",
                crate::agent::rfc3339(from),
                crate::agent::rfc3339(to)
            )
        })
        .unwrap_or_else(|| "client certificate rotated".to_string());
    *unsaved = None;
    agent
        .record_rotation(
            &registration.addon,
            "True",
            "ClientCertificateUpdated",
            &message,
        )
        .await;
    tracing::info!(
        addon = registration.addon,
        namespace = registration.namespace,
        secret = registration.secret,
        "add-on client certificate written"
    );
    Ok(None)
}

/// The validity of the first certificate in the data.
fn data_validity(
    data: &BTreeMap<String, ByteString>,
) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let chain = std::str::from_utf8(&data.get(TLS_CERT)?.0).ok()?;
    let (_, from, to) = hubconfig::cert_info(chain).ok()?;
    Some((from, to))
}

/// A new key and certificate for the registration, through a CSR on the hub.
async fn issue(
    agent: &AddonAgent,
    registration: &Registration,
) -> Result<BTreeMap<String, ByteString>, AddonError> {
    let csrs: Api<CertificateSigningRequest> = Api::all(agent.hub.clone());
    let selector = format!(
        "{CLUSTER_NAME_LABEL}={},{ADDON_NAME_LABEL}={}",
        agent.cluster, registration.addon
    );
    let existing = csrs
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(AddonError::hub)?
        .items
        .len();
    if existing >= CSR_LIMIT {
        return Err(AddonError::Halted(existing));
    }
    let (key, request) = key_and_request(&registration.subject, &[dns_name(&registration.addon)])?;
    let template = csr_template(
        &agent.cluster,
        &registration.addon,
        &registration.signer,
        agent.expiration_seconds,
    );
    let chain = request_certificate(&agent.hub, &template, &request).await?;
    let key_pem = key.serialize_pem();
    let matches = crate::pki::keys::labelled(&chain, "CERTIFICATE")
        .ok()
        .and_then(|ders| ders.into_iter().next())
        .is_some_and(|der| {
            X509Certificate::from_der(&der)
                .is_ok_and(|(_, cert)| crate::pki::keys::spki_matches(&cert, &key))
        });
    if !matches {
        return Err(AddonError::Hub(
            "the issued certificate does not match the request's key".into(),
        ));
    }
    Ok([
        (TLS_CERT.to_string(), ByteString(chain.into_bytes())),
        (TLS_KEY.to_string(), ByteString(key_pem.into_bytes())),
    ]
    .into())
}

/// Writes `data` into the Secret (created when missing, other entries kept), rereading
/// it after a conflict.
async fn save(
    secrets: &Api<Secret>,
    name: &str,
    data: &BTreeMap<String, ByteString>,
) -> Result<(), AddonError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = secrets.get_opt(name).await.map_err(AddonError::managed)?;
        let result = match current {
            Some(mut secret) => {
                secret
                    .data
                    .get_or_insert_default()
                    .extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
                secrets
                    .replace(name, &PostParams::default(), &secret)
                    .await
                    .map(|_| ())
            }
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        ..ObjectMeta::default()
                    },
                    data: Some(data.clone()),
                    ..Secret::default()
                };
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if matches!(api_code(&e), Some(409)) && attempts < 5 => continue,
            Err(e) => return Err(AddonError::managed(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_subject_of_a_client_registration() {
        let s = subject("c1", "helloworld", "ab12c", CLIENT_SIGNER, None);
        assert_eq!(
            s.user,
            "system:open-cluster-management:cluster:c1:addon:helloworld:agent:ab12c"
        );
        assert_eq!(
            s.groups,
            ["system:open-cluster-management:cluster:c1:addon:helloworld"]
        );
        assert!(s.units.is_empty());
    }

    #[test]
    fn given_subject_is_kept_and_custom_signers_get_no_default_group() {
        let given = Subject {
            user: Some("u".into()),
            groups: vec!["g1".into(), "g2".into()],
            organization_units: vec!["ou".into()],
        };
        let s = subject("c1", "a", "x", CLIENT_SIGNER, Some(&given));
        assert_eq!(
            (s.user.as_str(), s.groups.len(), s.units.len()),
            ("u", 2, 1)
        );
        let custom = subject("c1", "a", "x", "example.com/signer", None);
        assert_eq!(custom.user, default_user("c1", "a", "x"));
        assert!(custom.groups.is_empty());
        let no_user = Subject {
            groups: vec!["g".into()],
            ..Subject::default()
        };
        let s = subject("c1", "a", "x", CLIENT_SIGNER, Some(&no_user));
        assert_eq!(
            (s.user, s.groups),
            (default_user("c1", "a", "x"), vec!["g".to_string()])
        );
    }

    #[test]
    fn secret_names_follow_the_signer() {
        assert_eq!(secret_name("hello", CLIENT_SIGNER), "hello-hub-kubeconfig");
        assert_eq!(
            secret_name("hello", "example.com/my-signer"),
            "hello-example.com-my-signer-client-cert"
        );
    }

    #[test]
    fn csr_template_names_and_labels() {
        let t = csr_template("c1", "hello", CLIENT_SIGNER, Some(3600));
        assert_eq!(t.generate_name, "addon-c1-hello-");
        assert_eq!(t.labels[CLUSTER_NAME_LABEL], "c1");
        assert_eq!(t.labels[ADDON_NAME_LABEL], "hello");
        assert_eq!(dns_name("hello"), "hello.addon.open-cluster-management.io");
    }

    #[test]
    fn thresholds_stay_between_a_fifth_and_a_quarter() {
        for _ in 0..1000 {
            let t = renewal_threshold();
            assert!((0.2..=0.25).contains(&t), "{t}");
        }
    }

    /// A self-signed certificate for `subject` valid from `from` for `days`, and its key.
    fn issued(subject: &CertSubject, from: time::OffsetDateTime, days: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let orgs: Vec<&str> = subject.groups.iter().map(String::as_str).collect();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = crate::pki::subject(&subject.user, &orgs);
        params.not_before = from;
        params.not_after = from + time::Duration::days(days);
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn assessment_of_secrets() {
        let subject = CertSubject {
            user: "u".into(),
            groups: vec!["g".into()],
            units: Vec::new(),
        };
        let now = time::OffsetDateTime::now_utc();
        let extra = data(&[("cluster-name", "c1")]);
        let (cert, key) = issued(&subject, now - time::Duration::days(1), 10);
        let good = data(&[
            ("tls.crt", &cert),
            ("tls.key", &key),
            ("cluster-name", "c1"),
        ]);
        let renew_at = match assess(&good, &subject, &extra, now, 0.2) {
            Assessment::Valid { renew_at } => renew_at,
            other => panic!("{other:?}"),
        };
        // 10 days of life, renewed with 2 days left: 7 days from now.
        let expected = now + time::Duration::days(7);
        assert!(
            (renew_at - expected).abs() < time::Duration::seconds(5),
            "{renew_at}"
        );
        // Past the threshold.
        let later = now + time::Duration::days(8);
        assert!(matches!(
            assess(&good, &subject, &extra, later, 0.2),
            Assessment::Renew(_)
        ));
        // Missing, another subject, another key, stale extra data, expired.
        assert!(matches!(
            assess(&BTreeMap::new(), &subject, &extra, now, 0.2),
            Assessment::Renew(_)
        ));
        let other = CertSubject {
            groups: vec!["g".into(), "h".into()],
            ..subject.clone()
        };
        assert!(matches!(
            assess(&good, &other, &extra, now, 0.2),
            Assessment::Renew(_)
        ));
        let (_, other_key) = issued(&subject, now, 1);
        let wrong_key = data(&[
            ("tls.crt", &cert),
            ("tls.key", &other_key),
            ("cluster-name", "c1"),
        ]);
        assert!(matches!(
            assess(&wrong_key, &subject, &extra, now, 0.2),
            Assessment::Renew(_)
        ));
        let stale = data(&[
            ("tls.crt", &cert),
            ("tls.key", &key),
            ("cluster-name", "c2"),
        ]);
        assert!(matches!(
            assess(&stale, &subject, &extra, now, 0.2),
            Assessment::Renew(_)
        ));
        let (old, old_key) = issued(&subject, now - time::Duration::days(3), 1);
        let expired = data(&[
            ("tls.crt", &old),
            ("tls.key", &old_key),
            ("cluster-name", "c1"),
        ]);
        match assess(&expired, &subject, &extra, now, 0.2) {
            Assessment::Renew(why) => assert!(why.contains("expired"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
