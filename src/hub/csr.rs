//! CertificateSigningRequests on the hub: approval of OCM agent CSRs (renewals by the
//! cluster's current identity always; first CSRs of listed bootstrap users when
//! `ManagedClusterAutoApproval` is on), signing of approved `kube-apiserver-client` CSRs
//! with the hub CA, approval of template add-ons' CSRs and signing for their custom
//! signers (`hub::addon::template`), and cleanup of old CSRs (kube's csrcleaner periods).
//!
//! CSRs are read and written as `k8s-openapi`'s typed `CertificateSigningRequest`
//! (see [`CsrController::read`] for how its strict base64 fields are decoded).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use serde_json::{Value, json};
use x509_parser::prelude::FromDer;

use super::addon::template;
use super::controller::{self, Queue, Requeue};
use super::objects::Objects;
use crate::api::meta::now_time;
use crate::api::ocm::ADDON_NAME_LABEL;
use crate::api::ocm::names::{
    CLIENT_SIGNER, CLUSTER_NAME_LABEL, IDENTITY_PREFIX, MANAGED_CLUSTERS_GROUP,
};
use crate::api::ocm::{
    AddOnTemplate, ClusterManagementAddOn, ManagedClusterAddOn, RegistrationType,
};
use crate::api::status::Status;
use crate::api::user::UserInfo;
use crate::auth::authz::Authorizer;
use crate::auth::request::Attributes;
use crate::registry::{Filter, Patch, Target};

const LEGACY_SIGNER: &str = "kubernetes.io/legacy-unknown";
const ALLOWED_USAGES: [&str; 3] = ["client auth", "digital signature", "key encipherment"];
const MIN_EXPIRATION: u64 = 600;
const APPROVED_TTL: Duration = Duration::from_secs(3600);
const PENDING_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long custom signers' certificates live (upstream's template add-ons: 24 hours).
const CUSTOM_SIGNER_LIFETIME: u64 = 24 * 3600;
const AGENT_APPROVAL_MESSAGE: &str =
    "Auto approving Managed cluster agent certificate after SubjectAccessReview.";
/// What a stored `spec.request` or `status.certificate` that `k8s-openapi`'s strict base64
/// decoder refuses reads as (see [`CsrController::read`]): one byte that is not UTF-8, so
/// it is "not base64-encoded PEM", as such a field always was here.
const UNDECODABLE: &str = "/w==";

/// What the CSR controller needs.
pub struct CsrController {
    pub objects: Objects,
    pub pki: Arc<crate::pki::Pki>,
    pub authorizer: Authorizer,
    /// Upper bound on issued certificates' lifetime.
    pub max_expiration: Duration,
    /// Bootstrap users whose clusters are accepted and approved automatically (empty when
    /// `ManagedClusterAutoApproval` is off).
    pub auto_approve_users: Vec<String>,
}

/// A verified certificate request: its subject (common name, organisations, and the DER
/// Name) and its public key (DER SubjectPublicKeyInfo).
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub subject_der: Vec<u8>,
    pub spki_der: Vec<u8>,
}

/// Reads and verifies a PEM certificate request.
pub fn request_subject(pem_text: &str) -> Result<Subject, String> {
    let der = crate::pki::keys::labelled(pem_text, "CERTIFICATE REQUEST")?
        .into_iter()
        .next()
        .ok_or("no CERTIFICATE REQUEST PEM block")?;
    let (_, request) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| format!("the request is not a valid PKCS#10 certificate request: {e}"))?;
    request
        .verify_signature()
        .map_err(|_| "the request's signature does not verify".to_string())?;
    let info = &request.certification_request_info;
    let subject = &info.subject;
    let text =
        |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().unwrap_or("").to_string();
    Ok(Subject {
        common_name: subject
            .iter_common_name()
            .next()
            .map(text)
            .unwrap_or_default(),
        organizations: subject.iter_organization().map(text).collect(),
        subject_der: subject.as_raw().to_vec(),
        spki_der: info.subject_pki.raw.to_vec(),
    })
}

/// Label `key` of a CSR.
fn label<'a>(csr: &'a CertificateSigningRequest, key: &str) -> Option<&'a str> {
    csr.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// The CSR's name (empty when unset).
fn name_of(csr: &CertificateSigningRequest) -> String {
    csr.metadata.name.clone().unwrap_or_default()
}

/// The cluster an OCM agent CSR is for, when it follows OCM's rules: the cluster label,
/// the client signer, O = the cluster's group (plus the common group), CN =
/// `system:open-cluster-management:<cluster>:<agent>`, client usages only.
pub fn ocm_cluster(csr: &CertificateSigningRequest, subject: &Subject) -> Result<String, String> {
    let cluster = label(csr, CLUSTER_NAME_LABEL)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("the CSR has no {CLUSTER_NAME_LABEL} label"))?;
    let signer = csr.spec.signer_name.as_str();
    if signer != CLIENT_SIGNER {
        return Err(format!(
            "signerName must be {CLIENT_SIGNER}, not {signer:?}"
        ));
    }
    let group = format!("{IDENTITY_PREFIX}{cluster}");
    let others: Vec<&String> = subject
        .organizations
        .iter()
        .filter(|o| o.as_str() != MANAGED_CLUSTERS_GROUP)
        .collect();
    if others.len() != 1 || *others[0] != group {
        return Err(format!(
            "the subject's organizations must be [{group:?}, {MANAGED_CLUSTERS_GROUP:?}], not {:?}",
            subject.organizations
        ));
    }
    let agent = subject
        .common_name
        .strip_prefix(&format!("{group}:"))
        .filter(|a| !a.is_empty() && !a.contains(':'))
        .ok_or_else(|| {
            format!(
                "the subject's common name must be {group}:<agent>, not {:?}",
                subject.common_name
            )
        })?;
    let _ = agent;
    check_usages(csr)?;
    Ok(cluster.to_string())
}

/// The requested key usages.
fn usages(csr: &CertificateSigningRequest) -> &[String] {
    csr.spec.usages.as_deref().unwrap_or_default()
}

fn check_usages(csr: &CertificateSigningRequest) -> Result<(), String> {
    let usages = usages(csr);
    if let Some(bad) = usages
        .iter()
        .find(|u| !ALLOWED_USAGES.contains(&u.as_str()))
    {
        return Err(format!(
            "usage {bad:?} is not allowed for {CLIENT_SIGNER}; allowed: client auth, digital signature, key encipherment"
        ));
    }
    if !usages.iter().any(|u| u == "client auth") {
        return Err("usages must include \"client auth\"".into());
    }
    Ok(())
}

/// The CSR's conditions.
fn conditions(csr: &CertificateSigningRequest) -> &[CertificateSigningRequestCondition] {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

/// `Approved`, `Denied` or `Failed` present with status True. A condition without a status
/// counts as True, as it did read as JSON; `k8s-openapi` reads a missing status as empty,
/// so an explicitly empty one counts too (kube requires a status; the registry checks
/// only types on built-in kinds' writes).
fn has_condition(csr: &CertificateSigningRequest, type_: &str) -> bool {
    conditions(csr)
        .iter()
        .any(|c| c.type_ == type_ && matches!(c.status.as_str(), "True" | ""))
}

/// When the first condition of `type_` was last updated (else when it last changed).
fn condition_time(csr: &CertificateSigningRequest, type_: &str) -> Option<time::OffsetDateTime> {
    let c = conditions(csr).iter().find(|c| c.type_ == type_)?;
    c.last_update_time
        .as_ref()
        .or(c.last_transition_time.as_ref())
        .and_then(|t| to_offset(t.0))
}

/// A `jiff` timestamp (what `k8s-openapi` times hold) as a `time` date.
fn to_offset(t: k8s_openapi::jiff::Timestamp) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond()).ok()
}

/// Decoded base64 bytes as text, when they are UTF-8.
fn text_of(bytes: &ByteString) -> Option<String> {
    String::from_utf8(bytes.0.clone()).ok()
}

/// The request PEM of a CSR.
fn request_pem(csr: &CertificateSigningRequest) -> Result<String, String> {
    text_of(&csr.spec.request).ok_or_else(|| "spec.request is not base64-encoded PEM".to_string())
}

/// A condition of `type_` (status True) set now.
fn condition(type_: &str, reason: &str, message: &str) -> CertificateSigningRequestCondition {
    let now = now_time();
    CertificateSigningRequestCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Appends a condition to the CSR's `status.conditions` (CSR conditions are a plain list).
fn push_condition(csr: &mut CertificateSigningRequest, c: CertificateSigningRequestCondition) {
    csr.status
        .get_or_insert_default()
        .conditions
        .get_or_insert_default()
        .push(c);
}

/// Replaces a base64 field of a stored CSR that `k8s-openapi`'s strict decoder refuses
/// with [`UNDECODABLE`]. The registry stores a built-in kind's `byte` strings as given
/// (and Go's decoder accepts base64 with non-zero trailing bits, which the strict one does
/// not); such a field read as undecodable text before the CSR was typed, and must not
/// make the whole CSR fail to decode.
fn strict_base64(csr: &mut Value, section: &str, field: &str) {
    use base64::Engine;
    let Some(slot) = csr.get_mut(section).and_then(|s| s.get_mut(field)) else {
        return;
    };
    let decodes = slot
        .as_str()
        .is_none_or(|t| base64::engine::general_purpose::STANDARD.decode(t).is_ok());
    if !decodes {
        *slot = Value::String(UNDECODABLE.into());
    }
}

impl CsrController {
    /// Starts the controller on every CSR.
    pub async fn start(self) -> Result<(), Status> {
        let kind = self.objects.kind_of::<CertificateSigningRequest>()?;
        let queue = Queue::default();
        let registry = self.objects.registry.clone();
        let this = Arc::new(self);
        controller::run(
            "csr",
            queue.clone(),
            2,
            Arc::new(move |name: String| {
                let this = this.clone();
                Box::pin(async move { this.reconcile(&name).await })
            }),
        );
        controller::feed(
            &registry,
            kind,
            None,
            Filter::default(),
            queue,
            controller::by_name(),
        );
        Ok(())
    }

    /// CSR `name` as its type, or `None` when it does not exist. Its `spec.request` and
    /// `status.certificate` go through [`strict_base64`] first, so a field that is not
    /// strict base64 reads as undecodable text (as before the CSR was typed)
    /// instead of making the whole CSR fail to decode.
    async fn read(&self, name: &str) -> Result<Option<CertificateSigningRequest>, Status> {
        let kind = self.objects.kind_of::<CertificateSigningRequest>()?;
        let Some(mut raw) = self.objects.get(&kind, None, name).await? else {
            return Ok(None);
        };
        strict_base64(&mut raw, "spec", "request");
        strict_base64(&mut raw, "status", "certificate");
        serde_json::from_value(raw)
            .map(Some)
            .map_err(|e| Status::internal(format!("a stored {} does not decode: {e}", kind.kind)))
    }

    async fn reconcile(&self, name: &str) -> Result<Requeue, Status> {
        let Some(mut csr) = self.read(name).await? else {
            return Ok(None);
        };
        let now = time::OffsetDateTime::now_utc();
        let approved = has_condition(&csr, "Approved");
        let denied = has_condition(&csr, "Denied");
        if !approved && !denied {
            if let Some((reason, message)) = self.auto_approval(&csr).await? {
                csr = self.approve(csr, reason, message).await?;
            } else {
                let created = csr
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(|t| to_offset(t.0))
                    .unwrap_or(now);
                let age = (now - created).unsigned_abs();
                if age >= PENDING_TTL {
                    tracing::info!(csr = name, "deleting CSR pending for 24 h");
                    self.objects
                        .delete_as::<CertificateSigningRequest>(None, name)
                        .await?;
                    return Ok(None);
                }
                return Ok(Some(PENDING_TTL - age));
            }
        }
        let approved = has_condition(&csr, "Approved");
        let failed = has_condition(&csr, "Failed");
        let issued = csr
            .status
            .as_ref()
            .and_then(|s| s.certificate.as_ref())
            .is_some_and(|c| !c.0.is_empty());
        if approved && !denied && !failed && !issued {
            let signer = csr.spec.signer_name.as_str();
            if signer == CLIENT_SIGNER || signer == LEGACY_SIGNER {
                csr = self.sign(csr, None).await?;
            } else if let Some(ca) = self.addon_signer(&csr).await? {
                csr = self.sign(csr, Some(ca)).await?;
            }
        }
        // Cleanup: decided CSRs after an hour, issued ones once their certificate expired.
        let decided = condition_time(&csr, "Approved").or_else(|| condition_time(&csr, "Denied"));
        let mut next = decided.map(|t| (t + APPROVED_TTL) - now);
        if let Some(expiry) = issued_expiry(&csr) {
            let left = expiry - now;
            next = Some(next.map_or(left, |n| n.min(left)));
        }
        match next {
            Some(left) if left <= time::Duration::ZERO => {
                tracing::debug!(csr = name, "deleting old CSR");
                self.objects
                    .delete_as::<CertificateSigningRequest>(None, name)
                    .await?;
                Ok(None)
            }
            Some(left) => Ok(Some(left.unsigned_abs() + Duration::from_secs(1))),
            None => Ok(None),
        }
    }

    /// Why a pending CSR is approved automatically, if it is: reason and message.
    async fn auto_approval(
        &self,
        csr: &CertificateSigningRequest,
    ) -> Result<Option<(&'static str, &'static str)>, Status> {
        let Ok(pem) = request_pem(csr) else {
            return Ok(None);
        };
        let Ok(subject) = request_subject(&pem) else {
            return Ok(None);
        };
        if label(csr, ADDON_NAME_LABEL).is_some() {
            let approved = self.addon_approves(csr, &subject).await?;
            return Ok(approved.then_some((
                "AutoApprovedByHubCSRApprovingController",
                "Auto approving addon agent certificate.",
            )));
        }
        let Ok(cluster) = ocm_cluster(csr, &subject) else {
            return Ok(None);
        };
        let username = csr.spec.username.as_deref().unwrap_or("");
        if username == subject.common_name {
            let attrs = Attributes {
                user: UserInfo {
                    name: username.into(),
                    groups: csr.spec.groups.clone().unwrap_or_default(),
                    ..UserInfo::default()
                },
                verb: "renew".into(),
                api_group: "register.open-cluster-management.io".into(),
                resource: "managedclusters".into(),
                subresource: "clientcertificates".into(),
                name: cluster.clone(),
                resource_request: true,
                ..Attributes::default()
            };
            if self.authorizer.authorize(&attrs).allowed {
                return Ok(Some((
                    "AutoApprovedByHubCSRApprovingController",
                    AGENT_APPROVAL_MESSAGE,
                )));
            }
            return Ok(None);
        }
        if self.auto_approve_users.iter().any(|u| u == username) {
            let clusters = self
                .objects
                .kind("cluster.open-cluster-management.io", "managedclusters")?;
            // A merge patch of the one field (not a typed read-modify-write): it cannot
            // conflict with the cluster's other writers, and a missing cluster is an error.
            let accept = Patch::Merge(json!({"spec": {"hubAcceptsClient": true}}));
            self.objects
                .registry
                .patch(&clusters, None, &cluster, &accept, Target::Main)
                .await?;
            tracing::info!(cluster, user = username, "cluster accepted automatically");
            return Ok(Some((
                "AutoApprovedByHubCSRApprovingController",
                AGENT_APPROVAL_MESSAGE,
            )));
        }
        Ok(None)
    }

    /// Adds the `Approved` condition through the `approval` subresource.
    async fn approve(
        &self,
        mut csr: CertificateSigningRequest,
        reason: &str,
        message: &str,
    ) -> Result<CertificateSigningRequest, Status> {
        push_condition(&mut csr, condition("Approved", reason, message));
        tracing::info!(csr = name_of(&csr), reason, "CSR approved");
        self.objects.update_as(&csr, Target::Approval).await
    }

    /// The template add-on a CSR is for (by its cluster and add-on labels), when the
    /// add-on manager handles it: the add-on and its desired template.
    async fn addon_template(
        &self,
        csr: &CertificateSigningRequest,
    ) -> Result<Option<(ManagedClusterAddOn, AddOnTemplate)>, Status> {
        let (Some(cluster), Some(name)) =
            (label(csr, CLUSTER_NAME_LABEL), label(csr, ADDON_NAME_LABEL))
        else {
            return Ok(None);
        };
        let Some(addon) = self
            .objects
            .get_as::<ManagedClusterAddOn>(Some(cluster), name)
            .await?
        else {
            return Ok(None);
        };
        let Some(cma) = self
            .objects
            .get_as::<ClusterManagementAddOn>(None, name)
            .await?
        else {
            return Ok(None);
        };
        if !super::addon::managed_by_addon_manager(&cma) {
            return Ok(None);
        }
        let Some((template_name, _)) = template::template_ref(&addon) else {
            return Ok(None);
        };
        let tpl = self
            .objects
            .get_as::<AddOnTemplate>(None, &template_name)
            .await?;
        Ok(tpl.map(|t| (addon, t)))
    }

    /// Template add-on CSRs are approved when they ask for the default add-on identity
    /// from the cluster's own agent (`kube-apiserver-client`), or for a custom signer the
    /// template registers.
    async fn addon_approves(
        &self,
        csr: &CertificateSigningRequest,
        subject: &Subject,
    ) -> Result<bool, Status> {
        let Some((addon, tpl)) = self.addon_template(csr).await? else {
            return Ok(false);
        };
        let cluster = addon.metadata.namespace.clone().unwrap_or_default();
        let name = addon.metadata.name.clone().unwrap_or_default();
        let signer = csr.spec.signer_name.as_str();
        let username = csr.spec.username.as_deref().unwrap_or("");
        for r in &tpl.spec.registration {
            match r.type_ {
                RegistrationType::KubeClient if signer == CLIENT_SIGNER => {
                    let mut orgs = subject.organizations.clone();
                    orgs.sort();
                    orgs.dedup();
                    let mut wanted = template::default_groups(&cluster, &name);
                    wanted.sort();
                    return Ok(orgs == wanted
                        && subject.common_name == template::default_user(&cluster, &name)
                        && username.starts_with(&format!("{IDENTITY_PREFIX}{cluster}")));
                }
                RegistrationType::CustomSigner
                    if r.custom_signer
                        .as_ref()
                        .is_some_and(|c| c.signer_name == signer) =>
                {
                    return Ok(true);
                }
                _ => {}
            }
        }
        Ok(false)
    }

    /// The CA of a template add-on's custom signer for this CSR, from its `signingCA`
    /// Secret (`tls.crt`, `tls.key`).
    async fn addon_signer(
        &self,
        csr: &CertificateSigningRequest,
    ) -> Result<Option<Result<crate::pki::CertificateAuthority, String>>, Status> {
        let Some((_, tpl)) = self.addon_template(csr).await? else {
            return Ok(None);
        };
        let signer = csr.spec.signer_name.as_str();
        let Some(custom) = tpl
            .spec
            .registration
            .iter()
            .filter_map(|r| r.custom_signer.as_ref())
            .find(|c| c.signer_name == signer)
        else {
            return Ok(None);
        };
        let namespace = custom
            .signing_ca
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| template::SIGNING_CA_NAMESPACE.to_string());
        // The Secret stays JSON: a typed Secret decodes every data value with the strict
        // base64 decoder, so one value it refuses (any of them, not only these two) would
        // fail the whole read instead of reading as "lacks tls.crt or tls.key".
        let secrets = self.objects.kind("", "secrets")?;
        let secret = self
            .objects
            .get(&secrets, Some(&namespace), &custom.signing_ca.name)
            .await?;
        let where_ = format!("secret {namespace}/{}", custom.signing_ca.name);
        let Some(secret) = secret else {
            return Ok(Some(Err(format!(
                "get custom signer ca {where_} failed: not found"
            ))));
        };
        let field = |k: &str| -> Option<String> {
            use base64::Engine;
            let text = secret.get("data")?.get(k)?.as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?;
            String::from_utf8(bytes).ok()
        };
        let (Some(cert), Some(key)) = (field("tls.crt"), field("tls.key")) else {
            return Ok(Some(Err(format!("{where_} lacks tls.crt or tls.key"))));
        };
        let path = std::path::PathBuf::from(&where_);
        Ok(Some(
            crate::pki::CertificateAuthority::from_pem(cert, &key, &path, &path)
                .map_err(|e| format!("get ca {where_} data failed: {e}")),
        ))
    }

    /// Issues the certificate with the hub CA (or `custom`, a template add-on's signer,
    /// for 24 hours), or records why not (`Failed`).
    async fn sign(
        &self,
        mut csr: CertificateSigningRequest,
        custom: Option<Result<crate::pki::CertificateAuthority, String>>,
    ) -> Result<CertificateSigningRequest, Status> {
        let name = name_of(&csr);
        let outcome = (|| -> Result<String, String> {
            let pem = request_pem(&csr)?;
            let subject = request_subject(&pem)?;
            check_usages(&csr)?;
            if subject.organizations.iter().any(|o| o == "system:masters") {
                return Err("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed".into());
            }
            if label(&csr, CLUSTER_NAME_LABEL).is_some() && label(&csr, ADDON_NAME_LABEL).is_none()
            {
                ocm_cluster(&csr, &subject)?;
            }
            // A negative request means none (as it did read as JSON).
            let requested = csr
                .spec
                .expiration_seconds
                .and_then(|s| u64::try_from(s).ok());
            let max = match &custom {
                Some(_) => CUSTOM_SIGNER_LIFETIME,
                None => self.max_expiration.as_secs(),
            };
            let seconds = requested.map_or(max, |r| r.max(MIN_EXPIRATION).min(max));
            let usages: Vec<&str> = usages(&csr).iter().map(String::as_str).collect();
            let ca = match &custom {
                Some(Ok(ca)) => ca,
                Some(Err(e)) => return Err(e.clone()),
                None => &self.pki.ca,
            };
            ca.sign_request(
                &subject.spki_der,
                &subject.subject_der,
                time::Duration::seconds(seconds as i64),
                &usages,
            )
            .map_err(|e| format!("signing failed: {e}"))
        })();
        match outcome {
            Ok(chain) => {
                csr.status.get_or_insert_default().certificate =
                    Some(ByteString(chain.into_bytes()));
                tracing::info!(csr = name, "CSR signed");
            }
            Err(message) => {
                push_condition(
                    &mut csr,
                    condition("Failed", "SignerValidationFailure", &message),
                );
                tracing::warn!(csr = name, reason = %message, "CSR refused");
            }
        }
        self.objects.update_as(&csr, Target::Status).await
    }
}

/// Appends a condition to `status.conditions` of a CSR as JSON (`admin`'s approval of
/// CSRs it reads raw; CSR conditions are a plain list).
pub fn append_condition(csr: &mut Value, condition: Value) {
    if !csr.get("status").is_some_and(Value::is_object) {
        csr["status"] = json!({});
    }
    match csr["status"]
        .get_mut("conditions")
        .and_then(Value::as_array_mut)
    {
        Some(list) => list.push(condition),
        None => csr["status"]["conditions"] = json!([condition]),
    }
}

/// When the issued certificate of a CSR expires.
fn issued_expiry(csr: &CertificateSigningRequest) -> Option<time::OffsetDateTime> {
    let pem = text_of(csr.status.as_ref()?.certificate.as_ref()?)?;
    let der = crate::pki::keys::first_cert_der(&pem).ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).ok()?;
    time::OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cn: &str, orgs: &[&str]) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = crate::pki::subject(cn, orgs);
        params
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem")
    }

    fn csr(pem: &str, cluster: &str, usages: &[&str]) -> CertificateSigningRequest {
        use base64::Engine;
        serde_json::from_value(
            json!({"metadata": {"name": "x", "labels": {CLUSTER_NAME_LABEL: cluster}},
            "spec": {"signerName": CLIENT_SIGNER, "usages": usages,
                "request": base64::engine::general_purpose::STANDARD.encode(pem)}}),
        )
        .expect("a CSR")
    }

    #[test]
    fn leniently_encoded_fields_read_as_undecodable() {
        // "aGl=" is "hi" with non-zero trailing bits: Go accepts it, k8s-openapi's
        // decoder does not; the registry stores any text.
        let mut raw = json!({"metadata": {"name": "x"},
            "spec": {"signerName": CLIENT_SIGNER, "request": "aGl="},
            "status": {"certificate": "aGk="}});
        strict_base64(&mut raw, "spec", "request");
        strict_base64(&mut raw, "status", "certificate");
        assert_eq!(raw["spec"]["request"], UNDECODABLE);
        assert_eq!(raw["status"]["certificate"], "aGk=");
        let mut junk = json!({"spec": {"request": "not base64!"}});
        strict_base64(&mut junk, "spec", "request");
        assert_eq!(junk["spec"]["request"], UNDECODABLE);
        let typed: CertificateSigningRequest = serde_json::from_value(raw).expect("decodes");
        assert_eq!(
            request_pem(&typed).expect_err("not PEM"),
            "spec.request is not base64-encoded PEM"
        );
        assert!(issued_expiry(&typed).is_none());
        // Conditions: a missing status counts as True, as it did read as JSON.
        let conditioned: CertificateSigningRequest = serde_json::from_value(json!({
            "spec": {"signerName": CLIENT_SIGNER, "request": ""},
            "status": {"conditions": [{"type": "Approved"}, {"type": "Denied", "status": "False"}]}
        }))
        .expect("decodes");
        assert!(has_condition(&conditioned, "Approved"));
        assert!(!has_condition(&conditioned, "Denied"));
    }

    #[test]
    fn ocm_rules() {
        let good = request(
            "system:open-cluster-management:c1:agent1",
            &["system:open-cluster-management:c1", MANAGED_CLUSTERS_GROUP],
        );
        let subject = request_subject(&good).expect("subject");
        assert_eq!(
            subject.common_name,
            "system:open-cluster-management:c1:agent1"
        );
        let usages = ["digital signature", "key encipherment", "client auth"];
        assert_eq!(
            ocm_cluster(&csr(&good, "c1", &usages), &subject).as_deref(),
            Ok("c1")
        );
        // Label for another cluster.
        assert!(ocm_cluster(&csr(&good, "c2", &usages), &subject).is_err());
        // Server auth is not a client usage.
        let err = ocm_cluster(&csr(&good, "c1", &["server auth", "client auth"]), &subject)
            .expect_err("server auth");
        assert!(err.contains("server auth"), "{err}");
        // An extra group (such as system:masters) is refused.
        let greedy = request(
            "system:open-cluster-management:c1:a",
            &["system:open-cluster-management:c1", "system:masters"],
        );
        let s = request_subject(&greedy).expect("subject");
        assert!(ocm_cluster(&csr(&greedy, "c1", &usages), &s).is_err());
        // A CN of another cluster.
        let other = request(
            "system:open-cluster-management:c2:a",
            &["system:open-cluster-management:c1"],
        );
        let s = request_subject(&other).expect("subject");
        assert!(ocm_cluster(&csr(&other, "c1", &usages), &s).is_err());
        assert!(request_subject("garbage").is_err());
    }
}
