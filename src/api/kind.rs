//! The kind descriptor: everything the generic code paths need to know about a resource.

use std::sync::{Arc, LazyLock, OnceLock};

use serde_json::Value;

use super::schema::{Flavor, Structural};
use super::status::Status;

/// Whether objects live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// One column of `kubectl get` output (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// OpenAPI type of the cell: `string`, `integer`, `boolean`, `date`, ...
    pub type_: String,
    pub json_path: String,
    /// Shown only with `-o wide` when greater than zero.
    pub priority: u32,
    pub description: String,
}

/// The fields of a custom resource that its `/scale` subresource (an autoscaling/v1
/// Scale) maps to: dotted paths without the leading dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: Vec<String>,
    pub status_replicas: Vec<String>,
    /// Empty when the CRD names no label selector path.
    pub label_selector: Vec<String>,
}

impl ScalePaths {
    /// From a CRD's JSON paths (`.spec.replicas`; only dotted paths are allowed there).
    pub fn new(spec: &str, status: &str, selector: Option<&str>) -> Self {
        let split = |p: &str| -> Vec<String> {
            let p = p.strip_prefix('.').unwrap_or(p);
            if p.is_empty() {
                Vec::new()
            } else {
                p.split('.').map(str::to_string).collect()
            }
        };
        ScalePaths {
            spec_replicas: split(spec),
            status_replicas: split(status),
            label_selector: selector.map(split).unwrap_or_default(),
        }
    }
}

/// Converts an object of one kind from the version its `apiVersion` names to another served
/// version (`v1beta1`: the version alone), `apiVersion` included. Versions it does not know
/// are an error; the same version is no change. Kinds whose versions differ only in their
/// label have none: [`Kind::convert_to`] relabels them (CRD conversion strategy `None`).
pub type Convert = fn(&mut Value, &str) -> Result<(), String>;

/// A served resource type. Built-in kinds come from `builtin`, OCM kinds from their CRDs
/// (`ocm`); the catalog holds them behind `Arc`s, so handlers keep one for a whole request.
#[derive(Debug, Clone)]
pub struct Kind {
    /// API group; empty for the core group.
    pub group: String,
    /// The served version; objects are stored at the same key whatever the version.
    pub version: String,
    /// The version objects are stored as; other served versions are converted on the way
    /// in and out ([`Kind::convert_to`]).
    pub storage_version: String,
    /// How objects change between this kind's served versions, when more than their
    /// `apiVersion` does (found by group and kind: `api::ocm::conversion`).
    pub convert: Option<Convert>,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub scope: Scope,
    /// Whether `/status` is a separate subresource (then main writes cannot change status).
    pub status_subresource: bool,
    /// A CRD version's `subresources.scale`: where `/scale` reads and writes replicas.
    pub scale: Option<ScalePaths>,
    pub printer_columns: Vec<PrinterColumn>,
    /// Custom resources need `metadata.resourceVersion` on update; most built-ins do not.
    pub custom: bool,
    /// A CRD version's `selectableFields` (field paths without the leading dot), which
    /// field selectors may name besides `metadata.name` and `metadata.namespace`.
    pub selectable_fields: Vec<String>,
    /// The OpenAPI v3 schema of an object: given (CRD kinds) or generated on first use
    /// (built-in kinds, from `k8s-openapi`).
    pub schema: Arc<OnceLock<Option<Arc<Value>>>>,
    /// The schema compiled on first use: the one model admission, patches and apply read.
    pub compiled: Arc<OnceLock<Option<CompiledSchema>>>,
}

/// A kind's compiled schema, shared by every request.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    pub schema: Arc<Structural>,
    /// Whether it compiled without problems; only then does it prune, default and
    /// validate objects.
    pub sound: bool,
}

impl Kind {
    /// The compiled schema, if the kind has one that compiles: what admission prunes,
    /// defaults and validates with. A built-in schema that does not compile is logged and
    /// skipped.
    pub fn structural(&self) -> Option<Arc<Structural>> {
        self.compiled_schema()
            .filter(|c| c.sound)
            .map(|c| c.schema.clone())
    }

    /// The compiled schema whatever its problems (an empty one for kinds without a
    /// schema): what strategic merge patch and server-side apply merge by.
    pub fn merge_schema(&self) -> Arc<Structural> {
        static EMPTY: LazyLock<Arc<Structural>> = LazyLock::new(Default::default);
        match self.compiled_schema() {
            Some(c) => c.schema.clone(),
            None => EMPTY.clone(),
        }
    }

    fn compiled_schema(&self) -> Option<&CompiledSchema> {
        self.compiled
            .get_or_init(|| {
                let schema = self.openapi_schema()?;
                let flavor = if self.custom {
                    Flavor::Custom
                } else {
                    Flavor::BuiltIn
                };
                let (schema, error) = Structural::compile_lenient(&schema, flavor);
                if let Some(e) = &error {
                    tracing::warn!(kind = %self.kind, group = %self.group, error = %e, "schema does not compile; objects are not validated");
                }
                Some(CompiledSchema {
                    schema: Arc::new(schema),
                    sound: error.is_none(),
                })
            })
            .as_ref()
    }

    /// The object schema, if the kind has one.
    pub fn openapi_schema(&self) -> Option<Arc<Value>> {
        self.schema
            .get_or_init(|| super::openapi_schema::builtin(&self.group, &self.kind).map(Arc::new))
            .clone()
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `object`, at whatever version of this kind its `apiVersion` names, at `version`:
    /// converted by [`Kind::convert`] when the kind has a conversion, else relabelled.
    /// Storage calls it both ways, so an object stored by an older binary at another
    /// version is read (and rewritten) through the same path.
    pub fn convert_to(&self, object: &mut Value, version: &str) -> Result<(), Status> {
        let target = if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        };
        let Some(map) = object.as_object_mut() else {
            return Ok(());
        };
        if map.get("apiVersion").and_then(Value::as_str) == Some(target.as_str()) {
            return Ok(());
        }
        if let Some(convert) = self.convert {
            convert(object, version).map_err(|e| {
                Status::internal(format!(
                    "conversion of {} to {target} failed: {e}",
                    self.qualified_resource()
                ))
            })?;
        }
        if let Some(map) = object.as_object_mut() {
            map.insert("apiVersion".into(), Value::String(target));
        }
        Ok(())
    }

    /// `group/storage_version`, what stored objects carry.
    pub fn storage_api_version(&self) -> String {
        if self.group.is_empty() {
            self.storage_version.clone()
        } else {
            format!("{}/{}", self.group, self.storage_version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `plural.group` (or just `plural` for core), as kube names resources in messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The path (dotted) of a field selector label this kind supports besides
    /// `metadata.name` and `metadata.namespace`, as kube-apiserver's per-kind field sets.
    pub fn field_path(&self, field: &str) -> Option<String> {
        const EVENT: &[&str] = &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "type",
        ];
        if self.custom {
            return self
                .selectable_fields
                .iter()
                .any(|f| f == field)
                .then(|| field.to_string());
        }
        let path = match (self.group.as_str(), self.kind.as_str(), field) {
            ("", "Secret", "type") => field,
            ("", "Namespace", "status.phase") => field,
            ("certificates.k8s.io", "CertificateSigningRequest", "spec.signerName") => field,
            ("", "Event", "source") => "source.component",
            ("", "Event", f) if EVENT.contains(&f) => f,
            // events.k8s.io serves the same labels over its renamed fields.
            ("events.k8s.io", "Event", "source") => "deprecatedSource.component",
            ("events.k8s.io", "Event", "reason" | "type" | "reportingComponent") => match field {
                "reportingComponent" => "reportingController",
                f => f,
            },
            ("events.k8s.io", "Event", f) if EVENT.contains(&f) => {
                return Some(f.replacen("involvedObject.", "regarding.", 1));
            }
            _ => return None,
        };
        Some(path.to_string())
    }

    /// The review APIs (TokenReview, SubjectAccessReview, ...): `create` only, answered
    /// from the request and never stored.
    pub fn create_only(&self) -> bool {
        matches!(
            self.group.as_str(),
            "authentication.k8s.io" | "authorization.k8s.io"
        )
    }

    /// Whether `<name>/<subresource>` is served: `status` and `scale` where declared, a
    /// CertificateSigningRequest's `approval`, a Namespace's `finalize`.
    pub fn has_subresource(&self, subresource: &str) -> bool {
        match subresource {
            "status" => self.status_subresource,
            "scale" => self.scale.is_some(),
            "approval" => {
                self.group == "certificates.k8s.io" && self.kind == "CertificateSigningRequest"
            }
            "finalize" => self.group.is_empty() && self.kind == "Namespace",
            "token" => self.group.is_empty() && self.kind == "ServiceAccount",
            _ => false,
        }
    }

    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// Storage prefix of every object of this kind: `/<group or "core">/<plural>/`.
    pub fn storage_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("/{group}/{}/", self.plural)
    }

    /// Storage prefix of the objects of one namespace (or of all, with `None`).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => format!("{}{ns}/", self.storage_prefix()),
            _ => self.storage_prefix(),
        }
    }

    /// Storage key of one object. Names and namespaces are validated DNS labels or
    /// subdomains, so they contain no `/`.
    pub fn storage_key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => format!("{}{ns}/{name}", self.storage_prefix()),
            _ => format!("{}{name}", self.storage_prefix()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::api::Catalog;

    #[test]
    fn names_and_keys() {
        let catalog = Catalog::builtin();
        let cm = catalog.find_resource("", "configmaps").expect("configmaps");
        assert_eq!(cm.api_version(), "v1");
        assert_eq!(cm.qualified_resource(), "configmaps");
        assert_eq!(cm.storage_key(Some("ns1"), "a"), "/core/configmaps/ns1/a");
        assert_eq!(cm.namespace_prefix(None), "/core/configmaps/");
        let mc = catalog
            .find_resource("cluster.open-cluster-management.io", "managedclusters")
            .expect("mc");
        assert_eq!(mc.api_version(), "cluster.open-cluster-management.io/v1");
        assert_eq!(
            mc.storage_key(None, "c1"),
            "/cluster.open-cluster-management.io/managedclusters/c1"
        );
        assert_eq!(mc.list_kind(), "ManagedClusterList");
    }
}
