//! Field ownership across a custom resource's `/scale` (kube's managedfields
//! ScaleHandler): before a Scale write, the object's managers of its replicas field are
//! seen as managers of the Scale's `spec.replicas`; the write is tracked on the Scale
//! (update or apply, with its conflicts); afterwards those results are mapped back onto
//! the object's own entries.

use serde_json::Value;

use super::fieldset::{FieldSet, PathElement};
use super::{Managed, Versioned, decode_managed, encode_managed};

const SCALE_VERSION: &str = "autoscaling/v1";

fn path(fields: &[String]) -> Vec<PathElement> {
    fields.iter().cloned().map(PathElement::Field).collect()
}

fn scale_replicas() -> Vec<PathElement> {
    path(&["spec".into(), "replicas".into()])
}

/// The Scale's managedFields for an object: each manager of the object's `replicas`
/// field (a path of field names) as a manager of `spec.replicas`, with its time.
pub fn scale_managed_fields(parent: &Value, replicas: &[String]) -> Option<Value> {
    let parent = decode_managed(parent).unwrap_or_default();
    let replicas = path(replicas);
    let mut scale = Managed::default();
    for (id, versioned) in &parent.fields {
        if !versioned.set.has(&replicas) {
            continue;
        }
        let mut set = FieldSet::new();
        set.insert(&scale_replicas());
        scale.fields.insert(
            id.clone(),
            Versioned {
                set,
                api_version: SCALE_VERSION.to_string(),
            },
        );
        if let Some(time) = parent.times.get(id) {
            scale.times.insert(id.clone(), time.clone());
        }
    }
    encode_managed(&scale)
}

/// The object's managedFields after a Scale write whose tracked result is `scale`: a
/// manager of the replicas field that no longer owns the Scale's replicas loses it (and
/// its entry when nothing is left); a new owner gets an entry of `api_version` (without a
/// time, as in kube); the others stay as they were.
pub fn parent_managed_fields(
    parent: &Value,
    scale: &Value,
    replicas: &[String],
    api_version: &str,
) -> Option<Value> {
    let old = decode_managed(parent).unwrap_or_default();
    let mut owners = decode_managed(scale).unwrap_or_default();
    let replicas = path(replicas);
    let mut out = Managed::default();
    for (id, versioned) in old.fields {
        let time = old.times.get(&id).cloned();
        let kept = if !versioned.set.has(&replicas) || owners.fields.remove(&id).is_some() {
            versioned
        } else {
            let mut only = FieldSet::new();
            only.insert(&replicas);
            let set = versioned.set.difference(&only);
            if set.is_empty() {
                continue;
            }
            Versioned {
                set,
                api_version: versioned.api_version,
            }
        };
        if let Some(time) = time {
            out.times.insert(id.clone(), time);
        }
        out.fields.insert(id, kept);
    }
    for (id, versioned) in owners.fields {
        if !versioned.set.has(&scale_replicas()) {
            continue;
        }
        let mut set = FieldSet::new();
        set.insert(&replicas);
        out.fields.insert(
            id,
            Versioned {
                set,
                api_version: api_version.to_string(),
            },
        );
    }
    encode_managed(&out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn replicas() -> Vec<String> {
        vec!["spec".into(), "replicas".into()]
    }

    #[test]
    fn owners_of_replicas_move_between_the_object_and_its_scale() {
        let parent = json!({"metadata": {"managedFields": [
            {"manager": "owner", "operation": "Apply", "apiVersion": "x.io/v1", "time": "2026-01-01T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:color": {}, "f:replicas": {}}}},
            {"manager": "other", "operation": "Update", "apiVersion": "x.io/v1", "time": "2026-01-01T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:size": {}}}}]}});
        let scale = scale_managed_fields(&parent, &replicas()).expect("one owner");
        assert_eq!(
            scale,
            json!([{"manager": "owner", "operation": "Apply", "apiVersion": "autoscaling/v1",
                "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}}])
        );
        // A scaler took the replicas over: the owner keeps only its color.
        let after = json!({"metadata": {"managedFields": [
            {"manager": "scaler", "operation": "Update", "apiVersion": "autoscaling/v1", "subresource": "scale",
             "time": "2026-01-02T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]}});
        let fields =
            parent_managed_fields(&parent, &after, &replicas(), "x.io/v1").expect("entries");
        assert_eq!(
            fields,
            json!([
                {"manager": "owner", "operation": "Apply", "apiVersion": "x.io/v1", "time": "2026-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:color": {}}}},
                {"manager": "scaler", "operation": "Update", "apiVersion": "x.io/v1",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"},
                {"manager": "other", "operation": "Update", "apiVersion": "x.io/v1", "time": "2026-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:size": {}}}}
            ])
        );
        // Nobody owns the replicas any more (scaled to zero): only the color stays owned.
        let fields =
            parent_managed_fields(&parent, &json!({}), &replicas(), "x.io/v1").expect("entries");
        assert_eq!(fields[0]["fieldsV1"], json!({"f:spec": {"f:color": {}}}));
    }
}
