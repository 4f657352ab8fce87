//! The catalog of served kinds: what discovery, OpenAPI, request routing and the registry
//! look kinds up in. It starts with the built-in kinds and can change at run time (custom
//! resource definitions), so readers take a cheap snapshot (`Arc`) and never hold a lock
//! across a request.

use std::sync::{Arc, RwLock};

use super::{Kind, builtin};

/// A shared, swappable list of kinds, in discovery order.
#[derive(Clone)]
pub struct Catalog {
    kinds: Arc<RwLock<Snapshot>>,
}

/// The kinds and the storage revision of the CRD list they were built from.
struct Snapshot {
    revision: u64,
    kinds: Arc<Vec<Arc<Kind>>>,
}

impl Catalog {
    /// The kinds every hub serves.
    pub fn builtin() -> Catalog {
        Self::of(builtin::kinds())
    }

    /// The Kubernetes kinds alone: what a hub has before it reads its CRDs (the OCM ones
    /// among them) from storage.
    pub fn kubernetes() -> Catalog {
        Self::of(builtin::kubernetes_kinds())
    }

    fn of(kinds: Vec<Kind>) -> Catalog {
        let kinds = kinds.into_iter().map(Arc::new).collect();
        Catalog {
            kinds: Arc::new(RwLock::new(Snapshot {
                revision: 0,
                kinds: Arc::new(kinds),
            })),
        }
    }

    /// Replaces every kind at once (readers see the old or the new list, never a mix),
    /// unless the list is older than the one in place: `revision` is the storage revision
    /// the kinds were read at, so two rebuilds racing each other cannot go back in time.
    pub fn replace(&self, kinds: Vec<Kind>, revision: u64) {
        let kinds = Arc::new(kinds.into_iter().map(Arc::new).collect());
        let mut guard = match self.kinds.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if revision >= guard.revision {
            *guard = Snapshot { revision, kinds };
        }
    }

    /// Every kind, as of now.
    pub fn kinds(&self) -> Arc<Vec<Arc<Kind>>> {
        match self.kinds.read() {
            Ok(guard) => guard.kinds.clone(),
            // A writer panicked mid-swap; the Arc it held is still whole.
            Err(poisoned) => poisoned.into_inner().kinds.clone(),
        }
    }

    /// The kind served as `group`/`version`/`plural` (core group: `""`).
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Kind>> {
        self.kinds()
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
            .cloned()
    }

    /// The preferred (first listed) version of `group`/`plural`.
    pub fn find_resource(&self, group: &str, plural: &str) -> Option<Arc<Kind>> {
        self.kinds()
            .iter()
            .find(|k| k.group == group && k.plural == plural)
            .cloned()
    }

    /// Group-versions served, in discovery order (core first).
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for k in self.kinds().iter() {
            if !out.iter().any(|(g, v)| *g == k.group && *v == k.version) {
                out.push((k.group.clone(), k.version.clone()));
            }
        }
        out
    }
}
