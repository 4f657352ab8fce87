//! Bootstrap tokens: the Secret format agents join with, and the controller that deletes
//! tokens once their `expiration` has passed (kube's token cleaner).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::controller::{self, Queue, Requeue};
use super::objects::Objects;
use crate::api::meta::parse_time;
use crate::api::ocm::names::BOOTSTRAP_GROUP;
use crate::api::status::Status;
use crate::registry::Filter;

pub const TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const TOKEN_NAMESPACE: &str = "kube-system";
/// The label `clusteradm get token --use-bootstrap-token` looks for.
pub const TOKEN_LABEL: (&str, &str) = ("app", "cluster-manager");

/// A new token's id and secret (`[a-z0-9]{6}` and `[a-z0-9]{16}`).
pub fn generate() -> (String, String) {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    };
    (pick(6), pick(16))
}

/// Splits a token `<id>.<secret>` when it has the bootstrap-token form.
pub fn parse(token: &str) -> Option<(String, String)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then(|| (id.to_string(), secret.to_string()))
}

/// The Secret of a bootstrap token for joining clusters; `expiration` is RFC 3339.
pub fn secret(id: &str, token_secret: &str, expiration: Option<&str>, description: &str) -> Value {
    let mut string_data = json!({
        "token-id": id,
        "token-secret": token_secret,
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": BOOTSTRAP_GROUP,
        "description": description,
    });
    if let Some(e) = expiration {
        string_data["expiration"] = json!(e);
    }
    json!({"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": TOKEN_NAMESPACE,
            "labels": {TOKEN_LABEL.0: TOKEN_LABEL.1}},
        "stringData": string_data})
}

/// The `expiration` of a token Secret, decoded.
pub fn expiration(secret: &Value) -> Option<time::OffsetDateTime> {
    use base64::Engine;
    let encoded = secret.pointer("/data/expiration")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    parse_time(std::str::from_utf8(&bytes).ok()?)
}

/// Deletes bootstrap token Secrets in `kube-system` once expired.
pub async fn start_cleaner(objects: &Objects) -> Result<(), Status> {
    let secrets = objects.kind("", "secrets")?;
    let queue = Queue::default();
    let (o, kind) = (objects.clone(), secrets.clone());
    controller::run(
        "token-cleaner",
        queue.clone(),
        1,
        Arc::new(move |name: String| {
            let (o, kind) = (o.clone(), kind.clone());
            Box::pin(async move { clean(&o, &kind, &name).await })
        }),
    );
    let tokens = Filter {
        fields: crate::registry::selector::FieldSelector::parse_for(
            &format!("type={TOKEN_TYPE}"),
            &secrets,
        )
        .map_err(Status::bad_request)?,
        ..Filter::default()
    };
    controller::feed(
        &objects.registry,
        secrets,
        Some(TOKEN_NAMESPACE.into()),
        tokens,
        queue,
        controller::by_name(),
    );
    Ok(())
}

async fn clean(objects: &Objects, kind: &crate::api::Kind, name: &str) -> Result<Requeue, Status> {
    let Some(secret) = objects.get(kind, Some(TOKEN_NAMESPACE), name).await? else {
        return Ok(None);
    };
    let Some(expires) = expiration(&secret) else {
        return Ok(None);
    };
    let left = expires - time::OffsetDateTime::now_utc();
    if left <= time::Duration::ZERO {
        tracing::info!(secret = name, "deleting expired bootstrap token");
        objects.delete(kind, Some(TOKEN_NAMESPACE), name).await?;
        return Ok(None);
    }
    Ok(Some(left.unsigned_abs() + Duration::from_millis(200)))
}
