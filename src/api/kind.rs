//! The kind descriptor: everything the generic code paths need to know about a resource.

/// Whether objects live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// One column of `kubectl get` output (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: &'static str,
    /// OpenAPI type of the cell: `string`, `integer`, `boolean`, `date`, ...
    pub type_: &'static str,
    pub json_path: &'static str,
    /// Shown only with `-o wide` when greater than zero.
    pub priority: u32,
}

/// A served resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// The served (and storage) version.
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub scope: Scope,
    /// Whether `/status` is a separate subresource (then main writes cannot change status).
    pub status_subresource: bool,
    pub printer_columns: &'static [PrinterColumn],
    /// Custom resources need `metadata.resourceVersion` on update; most built-ins do not.
    pub custom: bool,
}

impl Kind {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
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

    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// Storage prefix of every object of this kind: `/<group or "core">/<plural>/`.
    pub fn storage_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
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
    use crate::api::builtin;

    #[test]
    fn names_and_keys() {
        let cm = builtin::find("", "configmaps").expect("configmaps");
        assert_eq!(cm.api_version(), "v1");
        assert_eq!(cm.qualified_resource(), "configmaps");
        assert_eq!(cm.storage_key(Some("ns1"), "a"), "/core/configmaps/ns1/a");
        assert_eq!(cm.namespace_prefix(None), "/core/configmaps/");
        let mc =
            builtin::find("cluster.open-cluster-management.io", "managedclusters").expect("mc");
        assert_eq!(mc.api_version(), "cluster.open-cluster-management.io/v1");
        assert_eq!(
            mc.storage_key(None, "c1"),
            "/cluster.open-cluster-management.io/managedclusters/c1"
        );
        assert_eq!(mc.list_kind(), "ManagedClusterList");
    }
}
