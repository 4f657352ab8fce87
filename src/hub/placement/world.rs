//! The placement controllers' view of the hub: every object the scheduler reads, kept
//! current by watches (`feed`) and by the controllers' own writes (write-through: what a
//! write returns is applied at once, so a placement rescheduled right after its decisions
//! were written sees them). An object is replaced only by a newer resourceVersion, and a
//! deleted one leaves a tombstone so that a late event cannot bring it back.
//!
//! Indexes make a 10k-cluster, 1k-placement hub cheap to schedule: cluster names are
//! interned as numbers; clusters are indexed by label and by claim (key → value →
//! clusters), each cluster set keeps its members, each placement its decided clusters
//! and each cluster the placements deciding it. Every change reports what it affects
//! ([`Triggers`]): a cluster change reschedules only the placements for which the
//! cluster was or is eligible and feasible, in their decisions, just joined or left
//! their sets, or among the first filtered clusters their status lists.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use cel_interpreter::Value as Cel;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::cel::{Env, ScoreTable};
use super::filters::{ClusterFacts, Compiled, GroupSpec, claims_of};
use super::selector::Selector;
use crate::api::ocm::names::CLUSTER_NAME_LABEL;
use crate::api::ocm::profile::{ClusterProfile, LABEL_CLUSTER_MANAGER, OCM_CLUSTER_MANAGER};
use crate::api::ocm::{
    AddOnPlacementScore, DECISION_GROUP_INDEX_LABEL, DECISION_GROUP_NAME_LABEL, ManagedCluster,
    ManagedClusterSet, ManagedClusterSetBinding, PLACEMENT_LABEL, Placement, PlacementDecision,
    SelectorType,
};
use crate::api::schema::cel_program::to_cel;

/// An interned cluster name.
pub type Id = u32;
/// An interned placement key (namespace, name).
pub type Pid = u32;

/// A namespace and a name.
pub type Key = (String, String);

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// A ManagedCluster.
pub struct ClusterEntry {
    pub obj: ManagedCluster,
    pub rv: u64,
    pub claims: BTreeMap<String, String>,
    pub deleting: bool,
    /// Allocatable CPU and memory as numbers, where the cluster reports both allocatable
    /// and capacity (what the `ResourceAllocatable*` prioritizers score).
    pub allocatable: [Option<f64>; 2],
    cel: OnceLock<Cel>,
}

impl ClusterFacts for ClusterEntry {
    fn labels(&self) -> &BTreeMap<String, String> {
        self.obj.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }
    fn claims(&self) -> &BTreeMap<String, String> {
        &self.claims
    }
    fn cel(&self) -> &Cel {
        self.cel.get_or_init(|| {
            let json = serde_json::to_value(&self.obj).unwrap_or_default();
            to_cel(&json, false, 0)
        })
    }
}

impl ClusterEntry {
    fn new(obj: ManagedCluster) -> ClusterEntry {
        ClusterEntry {
            rv: rv_of(&obj.metadata),
            claims: claims_of(&obj),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            allocatable: ["cpu", "memory"].map(|resource| {
                let status = obj.status.as_ref()?;
                status.capacity.get(resource)?;
                super::quantity::approximate(&status.allocatable.get(resource)?.0)
            }),
            obj,
            cel: OnceLock::new(),
        }
    }

    /// Labels, as the selectors see them.
    pub fn label_map(&self) -> &BTreeMap<String, String> {
        ClusterFacts::labels(self)
    }

    fn quantities(&self) -> (Option<&Resources>, Option<&Resources>) {
        let status = self.obj.status.as_ref();
        (status.map(|s| &s.allocatable), status.map(|s| &s.capacity))
    }
}

/// A cluster's allocatable or capacity resources.
type Resources =
    std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>;

/// How a cluster set chooses its members.
#[derive(Debug, Clone, PartialEq)]
pub enum SetSelector {
    /// `cluster.open-cluster-management.io/clusterset=<set>`.
    Exclusive(String),
    /// A label selector (`global` has the empty one: every cluster).
    Labels(Selector),
}

impl SetSelector {
    fn of(set: &ManagedClusterSet) -> Result<SetSelector, String> {
        let name = set.metadata.name.clone().unwrap_or_default();
        match &set.spec.cluster_selector {
            None => Ok(SetSelector::Exclusive(name)),
            Some(s) => match s.selector_type {
                SelectorType::ExclusiveClusterSetLabel => Ok(SetSelector::Exclusive(name)),
                SelectorType::LabelSelector => {
                    Selector::compile(s.label_selector.as_ref()).map(SetSelector::Labels)
                }
            },
        }
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            SetSelector::Exclusive(name) => {
                labels.get(crate::api::ocm::CLUSTER_SET_LABEL) == Some(name)
            }
            SetSelector::Labels(s) => s.matches(labels),
        }
    }
}

/// A ManagedClusterSet and its members (deleting clusters included, as upstream counts them).
pub struct SetEntry {
    pub obj: ManagedClusterSet,
    pub rv: u64,
    pub selector: Result<SetSelector, String>,
    pub members: HashSet<Id>,
}

/// A ManagedClusterSetBinding.
pub struct BindingEntry {
    pub obj: ManagedClusterSetBinding,
    pub rv: u64,
}

/// How far the filtered clusters a placement's status lists reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watermark {
    /// Not scheduled yet.
    Unknown,
    /// Every filtered cluster is listed.
    Complete,
    /// Filtered clusters are listed up to this name.
    UpTo(Arc<str>),
}

/// A Placement.
pub struct PlacementEntry {
    pub obj: Arc<Placement>,
    pub rv: u64,
    pub compiled: Arc<Compiled>,
    pub watermark: Watermark,
}

/// A PlacementDecision, as much as the scheduler needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionEntry {
    pub pid: Pid,
    pub rv: u64,
    /// Its metadata as last seen: the scheduler's next write of its status starts from it
    /// rather than from a read (a conflict falls back to the read).
    pub meta: ObjectMeta,
    pub clusters: Vec<Id>,
    pub scores: Vec<Option<i64>>,
    pub group_name: String,
    pub group_index: String,
}

/// The content a PlacementDecision is being written with (see [`State::expect_writes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionContent {
    pub clusters: Vec<Id>,
    pub scores: Vec<Option<i64>>,
    pub group_name: String,
    pub group_index: String,
}

/// An AddOnPlacementScore.
pub struct ScoreEntry {
    pub obj: AddOnPlacementScore,
    pub rv: u64,
}

/// A ClusterProfile, as much as its controllers need.
pub struct ProfileEntry {
    pub cluster: String,
    pub managed: bool,
    pub rv: u64,
}

/// What a change affects.
#[derive(Debug, Default)]
pub struct Triggers {
    pub placements: BTreeSet<Pid>,
    pub sets: BTreeSet<String>,
    pub bindings: BTreeSet<Key>,
    pub profile_namespaces: BTreeSet<String>,
    pub profile_clusters: BTreeSet<String>,
    /// Everything should be looked at again (after a relist).
    pub everything: bool,
}

/// The kinds the world holds, for tombstones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tomb {
    Cluster,
    Set,
    Binding,
    Placement,
    Decision,
    Score,
    Profile,
}

/// Everything the placement controllers read.
pub struct State {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, Id>,
    clusters: Vec<Option<ClusterEntry>>,
    sorted: BTreeMap<Arc<str>, Id>,
    deleting: HashSet<Id>,
    label_index: HashMap<String, HashMap<String, HashSet<Id>>>,
    claim_index: HashMap<String, HashMap<String, HashSet<Id>>>,
    pub sets: BTreeMap<String, SetEntry>,
    pub bindings: BTreeMap<Key, BindingEntry>,
    bindings_by_set: HashMap<String, BTreeSet<Key>>,
    pkeys: Vec<Key>,
    pids: HashMap<Key, Pid>,
    placements: HashMap<Pid, PlacementEntry>,
    placements_by_ns: HashMap<String, BTreeSet<Pid>>,
    decisions: HashMap<Key, DecisionEntry>,
    decisions_of: HashMap<Pid, BTreeSet<String>>,
    effective: HashMap<Pid, Vec<Id>>,
    pending: HashMap<Pid, Vec<Id>>,
    /// What a placement's running pass is writing, per PlacementDecision: the watch
    /// event of its own write (which may arrive before the pass records the write) is
    /// not a change that needs another pass.
    writing: HashMap<Pid, Vec<(String, DecisionContent)>>,
    decided_in: Vec<Vec<Pid>>,
    /// `deciders_with[k]`: how many clusters `k` placements decide (k ≥ 1), so Balance
    /// finds the busiest cluster without visiting every cluster.
    deciders_with: Vec<usize>,
    scores: HashMap<Key, ScoreEntry>,
    score_table: Arc<ScoreTable>,
    profiles: HashMap<Key, ProfileEntry>,
    profiles_of: HashMap<String, BTreeSet<Key>>,
    tombs: HashMap<(Tomb, Key), u64>,
    pub env: Env,
    /// Clusters in the order they changed (the last [`CHANGE_LOG`]), numbered from
    /// `changes_base`: what a placement's cached predicate results must re-check.
    changes: VecDeque<Id>,
    changes_base: u64,
    /// Bumped by every change other than a cluster's that can change which clusters
    /// pass a placement's predicates (set members, scores read by CEL).
    epoch: u64,
    /// Per placement: the eligible clusters passing its predicates, as of a change.
    passed: Mutex<HashMap<Pid, Passed>>,
    /// Per placement: the decision group each cluster falls in, as of a change.
    grouped: Mutex<HashMap<Pid, Grouped>>,
    /// By id: the cluster exists and has no taints (a pass need not look at it to know
    /// every placement tolerates it).
    untainted: Vec<bool>,
    /// Each cluster's position in name order, by id (`u32::MAX`: none), built on first
    /// use after clusters joined or left: passes sort by it instead of comparing names.
    ranks: Mutex<Option<Arc<Vec<u32>>>>,
}

/// How many cluster changes are kept for the predicate caches; a cache older than that
/// is computed again in full.
const CHANGE_LOG: usize = 1 << 16;

/// A placement's eligible clusters that pass its predicates, valid for `compiled`,
/// `sets` and `epoch`, up to cluster change `seq`.
pub struct Passed {
    compiled: Arc<Compiled>,
    sets: Vec<String>,
    epoch: u64,
    seq: u64,
    ids: HashSet<Id>,
}

/// A placement's decision group of each cluster asked about so far (by id: 0 not known,
/// 1 no group, `2 + k` group spec `k`), valid for `compiled` up to cluster change `seq`.
pub struct Grouped {
    compiled: Arc<Compiled>,
    seq: u64,
    first: Vec<u8>,
}

/// The resourceVersion of an object.
pub fn rv_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn key_of(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn index_insert(
    index: &mut HashMap<String, HashMap<String, HashSet<Id>>>,
    map: &BTreeMap<String, String>,
    id: Id,
) {
    for (k, v) in map {
        index
            .entry(k.clone())
            .or_default()
            .entry(v.clone())
            .or_default()
            .insert(id);
    }
}

fn index_remove(
    index: &mut HashMap<String, HashMap<String, HashSet<Id>>>,
    map: &BTreeMap<String, String>,
    id: Id,
) {
    for (k, v) in map {
        if let Some(values) = index.get_mut(k) {
            if let Some(ids) = values.get_mut(v) {
                ids.remove(&id);
                if ids.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                index.remove(k);
            }
        }
    }
}

/// Inserts `x` into a sorted vector.
fn sorted_insert<T: Ord + Copy>(v: &mut Vec<T>, x: T) {
    if let Err(at) = v.binary_search(&x) {
        v.insert(at, x);
    }
}

fn sorted_remove<T: Ord + Copy>(v: &mut Vec<T>, x: T) {
    if let Ok(at) = v.binary_search(&x) {
        v.remove(at);
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl State {
    pub fn new() -> State {
        let score_table = Arc::new(ScoreTable::default());
        State {
            names: Vec::new(),
            ids: HashMap::new(),
            clusters: Vec::new(),
            sorted: BTreeMap::new(),
            deleting: HashSet::new(),
            label_index: HashMap::new(),
            claim_index: HashMap::new(),
            sets: BTreeMap::new(),
            bindings: BTreeMap::new(),
            bindings_by_set: HashMap::new(),
            pkeys: Vec::new(),
            pids: HashMap::new(),
            placements: HashMap::new(),
            placements_by_ns: HashMap::new(),
            decisions: HashMap::new(),
            decisions_of: HashMap::new(),
            effective: HashMap::new(),
            pending: HashMap::new(),
            writing: HashMap::new(),
            decided_in: Vec::new(),
            deciders_with: Vec::new(),
            scores: HashMap::new(),
            env: Env::new(score_table.clone()),
            score_table,
            profiles: HashMap::new(),
            profiles_of: HashMap::new(),
            tombs: HashMap::new(),
            changes: VecDeque::new(),
            changes_base: 0,
            epoch: 0,
            passed: Mutex::new(HashMap::new()),
            grouped: Mutex::new(HashMap::new()),
            untainted: Vec::new(),
            ranks: Mutex::new(None),
        }
    }

    /// The eligible clusters (in `sets`, not being deleted) passing placement `pid`'s
    /// predicates: its cached answer brought up to date with the clusters changed since,
    /// or `compute` when the cache cannot say (another spec, sets or epoch, or more
    /// changes than the log keeps).
    pub fn passing(
        &self,
        pid: Pid,
        compiled: &Arc<Compiled>,
        sets: &[String],
        compute: impl FnOnce() -> HashSet<Id>,
        passes: impl Fn(Id) -> bool,
    ) -> HashSet<Id> {
        let seq = self.changes_base + self.changes.len() as u64;
        let Ok(mut cache) = self.passed.lock() else {
            return compute();
        };
        if let Some(p) = cache.get_mut(&pid)
            && Arc::ptr_eq(&p.compiled, compiled)
            && p.sets == sets
            && p.epoch == self.epoch
            && p.seq >= self.changes_base
        {
            let from = (p.seq - self.changes_base) as usize;
            for &id in self.changes.range(from..) {
                if passes(id) {
                    p.ids.insert(id);
                } else {
                    p.ids.remove(&id);
                }
            }
            p.seq = seq;
            return p.ids.clone();
        }
        let ids = compute();
        cache.insert(
            pid,
            Passed {
                compiled: compiled.clone(),
                sets: sets.to_vec(),
                epoch: self.epoch,
                seq,
                ids: ids.clone(),
            },
        );
        ids
    }

    /// The first of `compiled`'s decision group specs whose label and claim
    /// selectors match each of `ids` (`None`: none does), remembered per placement and
    /// asked again only for clusters changed since (a pass otherwise matches every
    /// selected cluster's labels).
    pub fn first_groups(
        &self,
        pid: Pid,
        compiled: &Arc<Compiled>,
        ids: &[Id],
    ) -> Vec<Option<usize>> {
        let specs: &[GroupSpec] = compiled.groups.as_deref().unwrap_or_default();
        let ask = |id: Id| {
            let cl = self.cluster(id)?;
            specs
                .iter()
                .position(|s| s.labels.matches(cl.label_map()) && s.claims.matches(&cl.claims))
        };
        let seq = self.changes_base + self.changes.len() as u64;
        let Ok(mut cache) = self.grouped.lock() else {
            return ids.iter().map(|id| ask(*id)).collect();
        };
        if specs.len() > usize::from(u8::MAX) - 2 {
            return ids.iter().map(|id| ask(*id)).collect();
        }
        let memo = cache.entry(pid).or_insert_with(|| Grouped {
            compiled: compiled.clone(),
            seq,
            first: Vec::new(),
        });
        if !Arc::ptr_eq(&memo.compiled, compiled) || memo.seq < self.changes_base {
            memo.compiled = compiled.clone();
            memo.first.clear();
        } else {
            let from = (memo.seq - self.changes_base) as usize;
            for &id in self.changes.range(from..) {
                if let Some(known) = memo.first.get_mut(id as usize) {
                    *known = 0;
                }
            }
        }
        memo.seq = seq;
        if memo.first.len() < self.id_count() {
            memo.first.resize(self.id_count(), 0);
        }
        ids.iter()
            .map(|&id| {
                let slot = memo.first.get_mut(id as usize);
                match slot.as_deref().copied() {
                    Some(1) => None,
                    Some(k) if k >= 2 => Some(usize::from(k) - 2),
                    _ => {
                        let found = ask(id);
                        if let Some(slot) = slot {
                            // At most 253 specs (checked above).
                            *slot = found.map_or(1, |k| k as u8 + 2);
                        }
                        found
                    }
                }
            })
            .collect()
    }

    /// Each cluster's position in name order, indexed by id (`u32::MAX` for ids of no
    /// cluster).
    pub fn name_ranks(&self) -> Arc<Vec<u32>> {
        let mut cached = self.ranks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ranks) = cached.as_ref() {
            return ranks.clone();
        }
        let mut ranks = vec![u32::MAX; self.names.len()];
        for (rank, id) in self.sorted.values().enumerate() {
            if let Some(r) = ranks.get_mut(*id as usize) {
                *r = u32::try_from(rank).unwrap_or(u32::MAX);
            }
        }
        let ranks = Arc::new(ranks);
        *cached = Some(ranks.clone());
        ranks
    }

    fn log_change(&mut self, id: Id) {
        self.changes.push_back(id);
        if self.changes.len() > CHANGE_LOG {
            self.changes.pop_front();
            self.changes_base += 1;
        }
    }

    // -----------------------------------------------------------------------------------
    // Names and lookups.

    /// The id of a cluster name, interning it.
    pub fn intern(&mut self, name: &str) -> Id {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = Id::try_from(self.names.len()).unwrap_or(Id::MAX);
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        self.clusters.push(None);
        self.decided_in.push(Vec::new());
        id
    }

    /// The name of a cluster id.
    pub fn name(&self, id: Id) -> &Arc<str> {
        &self.names[id as usize]
    }

    /// The id of a name, if it was ever seen.
    pub fn id(&self, name: &str) -> Option<Id> {
        self.ids.get(name).copied()
    }

    /// Every id ever interned (clusters and names seen in decisions).
    pub fn id_count(&self) -> usize {
        self.names.len()
    }

    /// The cluster of an id, if it exists.
    pub fn cluster(&self, id: Id) -> Option<&ClusterEntry> {
        self.clusters.get(id as usize).and_then(Option::as_ref)
    }

    /// The cluster named `name`.
    pub fn cluster_named(&self, name: &str) -> Option<&ClusterEntry> {
        self.id(name).and_then(|id| self.cluster(id))
    }

    /// Existing clusters in name order.
    pub fn clusters_by_name(&self) -> impl Iterator<Item = (&Arc<str>, Id)> {
        self.sorted.iter().map(|(n, id)| (n, *id))
    }

    /// Clusters with label (or, with `claims`, claim) `key` set to one of `values` (any
    /// value when `None`).
    pub fn indexed(&self, claims: bool, key: &str, values: Option<&[String]>) -> Vec<Id> {
        let index = if claims {
            &self.claim_index
        } else {
            &self.label_index
        };
        let Some(by_value) = index.get(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match values {
            Some(values) => {
                for v in values {
                    if let Some(ids) = by_value.get(v) {
                        out.extend(ids.iter().copied());
                    }
                }
            }
            None => {
                for ids in by_value.values() {
                    out.extend(ids.iter().copied());
                }
            }
        }
        out
    }

    /// How many clusters carry label (claim) `key` with one of `values`.
    pub fn indexed_count(&self, claims: bool, key: &str, values: Option<&[String]>) -> usize {
        let index = if claims {
            &self.claim_index
        } else {
            &self.label_index
        };
        let Some(by_value) = index.get(key) else {
            return 0;
        };
        match values {
            Some(values) => values
                .iter()
                .filter_map(|v| by_value.get(v))
                .map(HashSet::len)
                .sum(),
            None => by_value.values().map(HashSet::len).sum(),
        }
    }

    /// Deleting clusters.
    pub fn deleting(&self) -> &HashSet<Id> {
        &self.deleting
    }

    /// The key of a placement id.
    pub fn pkey(&self, pid: Pid) -> &Key {
        &self.pkeys[pid as usize]
    }

    fn pid_of(&mut self, key: &Key) -> Pid {
        if let Some(pid) = self.pids.get(key) {
            return *pid;
        }
        let pid = Pid::try_from(self.pkeys.len()).unwrap_or(Pid::MAX);
        self.pkeys.push(key.clone());
        self.pids.insert(key.clone(), pid);
        pid
    }

    /// The id of a placement key, if known.
    pub fn pid(&self, key: &Key) -> Option<Pid> {
        self.pids.get(key).copied()
    }

    /// A placement.
    pub fn placement(&self, pid: Pid) -> Option<&PlacementEntry> {
        self.placements.get(&pid)
    }

    /// Every placement id.
    pub fn placement_ids(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self.placements.keys().copied().collect();
        v.sort();
        v
    }

    /// The decisions of a placement (by object name).
    pub fn decisions_of(&self, pid: Pid) -> Vec<(&str, &DecisionEntry)> {
        let Some(names) = self.decisions_of.get(&pid) else {
            return Vec::new();
        };
        let ns = &self.pkeys[pid as usize].0;
        names
            .iter()
            .filter_map(|n| {
                self.decisions
                    .get(&(ns.clone(), n.clone()))
                    .map(|d| (n.as_str(), d))
            })
            .collect()
    }

    /// The clusters a placement decides now (its pending decisions while they are written).
    pub fn decided(&self, pid: Pid) -> &[Id] {
        self.effective
            .get(&pid)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether cluster `id` exists and has no taints.
    pub fn untainted(&self, id: Id) -> bool {
        self.untainted.get(id as usize).copied().unwrap_or(false)
    }

    /// Whether placement `pid` decides cluster `id`.
    pub fn decides(&self, pid: Pid, id: Id) -> bool {
        self.decided_in
            .get(id as usize)
            .is_some_and(|p| p.binary_search(&pid).is_ok())
    }

    /// The placements deciding a cluster.
    pub fn deciders(&self, id: Id) -> &[Pid] {
        self.decided_in
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// An AddOnPlacementScore.
    pub fn score(&self, cluster: &str, name: &str) -> Option<&AddOnPlacementScore> {
        self.scores
            .get(&(cluster.to_string(), name.to_string()))
            .map(|s| &s.obj)
    }

    /// The bindings of a namespace.
    pub fn bindings_in(&self, ns: &str) -> impl Iterator<Item = (&Key, &BindingEntry)> {
        self.bindings
            .range((ns.to_string(), String::new())..)
            .take_while(move |(k, _)| k.0 == ns)
    }

    /// Namespaces with a binding to `set`.
    pub fn namespaces_binding(&self, set: &str) -> BTreeSet<String> {
        self.bindings_by_set
            .get(set)
            .map(|keys| keys.iter().map(|k| k.0.clone()).collect())
            .unwrap_or_default()
    }

    /// Bindings (by `spec.clusterSet`) to `set`.
    pub fn bindings_to(&self, set: &str) -> BTreeSet<Key> {
        self.bindings_by_set.get(set).cloned().unwrap_or_default()
    }

    /// The profiles of a cluster.
    pub fn profiles_of(&self, cluster: &str) -> BTreeSet<Key> {
        self.profiles_of.get(cluster).cloned().unwrap_or_default()
    }

    /// Names of profiles in a namespace managed by OCM.
    pub fn managed_profiles_in(&self, ns: &str) -> BTreeSet<String> {
        self.profiles
            .iter()
            .filter(|((n, _), p)| n == ns && p.managed)
            .map(|((_, name), _)| name.clone())
            .collect()
    }

    /// The valid bindings of a namespace (those naming an existing set, by their name, as
    /// upstream checks them) and the eligible sets of a placement there: the bound sets,
    /// intersected with `spec.clusterSets` when it has any. Both sorted.
    pub fn eligible_sets(&self, ns: &str, wanted: &BTreeSet<String>) -> (usize, Vec<String>) {
        let mut bound = 0;
        let mut sets = BTreeSet::new();
        for ((_, name), _) in self.bindings_in(ns) {
            if self.sets.contains_key(name) {
                bound += 1;
                if wanted.is_empty() || wanted.contains(name) {
                    sets.insert(name.clone());
                }
            }
        }
        (bound, sets.into_iter().collect())
    }

    /// Whether cluster `id` is in one of `sets`.
    pub fn in_sets(&self, sets: &[String], id: Id) -> bool {
        sets.iter()
            .any(|s| self.sets.get(s).is_some_and(|e| e.members.contains(&id)))
    }

    /// The resourceVersion of a PlacementDecision held.
    pub fn decision_rv(&self, ns: &str, name: &str) -> Option<u64> {
        self.decisions
            .get(&(ns.to_string(), name.to_string()))
            .map(|d| d.rv)
    }

    /// Whether the state holds PlacementDecision `object` (JSON) at its resourceVersion or
    /// a later one.
    pub fn holds_decision(&self, object: &serde_json::Value) -> bool {
        let field = |name: &str| object.pointer(&format!("/metadata/{name}"))?.as_str();
        let (Some(ns), Some(name), Some(rv)) = (
            field("namespace"),
            field("name"),
            field("resourceVersion").and_then(|rv| rv.parse::<u64>().ok()),
        ) else {
            return false;
        };
        self.holds(&(ns.to_string(), name.to_string()), rv)
    }

    /// Whether the state holds decision `key` at resourceVersion `rv` or a later one.
    fn holds(&self, key: &Key, rv: u64) -> bool {
        self.decisions
            .get(key)
            .is_some_and(|d| d.rv >= rv && rv != 0)
    }

    /// A PlacementDecision's metadata as last seen.
    pub fn decision_meta(&self, ns: &str, name: &str) -> Option<ObjectMeta> {
        self.decisions
            .get(&(ns.to_string(), name.to_string()))
            .map(|d| d.meta.clone())
    }

    /// The keys of every object of a kind held (cluster-scoped kinds: empty namespace).
    pub fn keys(&self, kind: Tomb) -> Vec<Key> {
        let global = |n: &str| (String::new(), n.to_string());
        match kind {
            Tomb::Cluster => self.sorted.keys().map(|n| global(n)).collect(),
            Tomb::Set => self.sets.keys().map(|n| global(n)).collect(),
            Tomb::Binding => self.bindings.keys().cloned().collect(),
            Tomb::Placement => self
                .placements
                .keys()
                .map(|p| self.pkeys[*p as usize].clone())
                .collect(),
            Tomb::Decision => self.decisions.keys().cloned().collect(),
            Tomb::Score => self.scores.keys().cloned().collect(),
            Tomb::Profile => self.profiles.keys().cloned().collect(),
        }
    }

    /// Removes an object of a kind by key (it was missing from a relist).
    pub fn delete_key(&mut self, kind: Tomb, key: &Key, now: i128) -> Triggers {
        let meta = |rv: u64| ObjectMeta {
            name: Some(key.1.clone()),
            namespace: (!key.0.is_empty()).then(|| key.0.clone()),
            resource_version: Some(rv.to_string()),
            ..ObjectMeta::default()
        };
        match kind {
            Tomb::Cluster => {
                let rv = self.cluster_named(&key.1).map_or(0, |c| c.rv);
                let mut obj = ManagedCluster::new(&key.1, Default::default());
                obj.metadata = meta(rv);
                self.delete_cluster(&obj, now)
            }
            Tomb::Set => {
                let rv = self.sets.get(&key.1).map_or(0, |s| s.rv);
                let mut obj = ManagedClusterSet::new(&key.1, Default::default());
                obj.metadata = meta(rv);
                self.delete_set(&obj)
            }
            Tomb::Binding => {
                let rv = self.bindings.get(key).map_or(0, |b| b.rv);
                let mut obj = ManagedClusterSetBinding::new(&key.1, Default::default());
                obj.metadata = meta(rv);
                self.delete_binding(&obj)
            }
            Tomb::Placement => {
                let rv = self
                    .pid(key)
                    .and_then(|p| self.placements.get(&p))
                    .map_or(0, |p| p.rv);
                let mut obj = Placement::new(&key.1, Default::default());
                obj.metadata = meta(rv);
                self.delete_placement(&obj)
            }
            Tomb::Decision => {
                let rv = self.decision_rv(&key.0, &key.1).unwrap_or(0);
                self.delete_decision(&key.0, &key.1, rv)
            }
            Tomb::Score => {
                let rv = self.scores.get(key).map_or(0, |s| s.rv);
                let mut obj = AddOnPlacementScore::new(&key.1, Default::default());
                obj.metadata = meta(rv);
                self.change_score(obj, true)
            }
            Tomb::Profile => {
                let rv = self.profiles.get(key).map_or(0, |p| p.rv);
                let mut obj = ClusterProfile::new(&key.1, Default::default());
                obj.metadata = meta(rv);
                if let Some(p) = self.profiles.get(key) {
                    obj.metadata.labels =
                        Some([(CLUSTER_NAME_LABEL.to_string(), p.cluster.clone())].into());
                }
                self.change_profile(&obj, true)
            }
        }
    }

    /// Every namespace with a binding.
    pub fn binding_namespaces(&self) -> BTreeSet<String> {
        self.bindings.keys().map(|k| k.0.clone()).collect()
    }

    /// Every cluster with a profile.
    pub fn profiled_clusters(&self) -> Vec<String> {
        self.profiles_of.keys().cloned().collect()
    }

    // -----------------------------------------------------------------------------------
    // Tombstones.

    fn stale(&self, tomb: Tomb, key: &Key, rv: u64) -> bool {
        self.tombs
            .get(&(tomb, key.clone()))
            .is_some_and(|t| rv <= *t)
    }

    fn bury(&mut self, tomb: Tomb, key: Key, rv: u64) {
        if self.tombs.len() > 200_000 {
            self.tombs.clear();
        }
        let entry = self.tombs.entry((tomb, key)).or_insert(0);
        *entry = (*entry).max(rv);
    }

    /// Forgets the tombstones of a kind (its list is authoritative).
    pub fn clear_tombs(&mut self, tomb: Tomb) {
        self.tombs.retain(|(t, _), _| *t != tomb);
    }

    // -----------------------------------------------------------------------------------
    // Clusters.

    /// A ManagedCluster was created or changed.
    pub fn upsert_cluster(&mut self, obj: ManagedCluster, now: i128) -> Triggers {
        let key = key_of(&obj.metadata);
        let new = ClusterEntry::new(obj);
        if self.stale(Tomb::Cluster, &key, new.rv) {
            return Triggers::default();
        }
        let id = self.intern(&key.1);
        if self
            .cluster(id)
            .is_some_and(|c| c.rv >= new.rv && new.rv != 0)
        {
            return Triggers::default();
        }
        let old = self.clusters[id as usize].take();
        self.cluster_changed(id, old, Some(new), now)
    }

    /// A ManagedCluster is gone.
    pub fn delete_cluster(&mut self, obj: &ManagedCluster, now: i128) -> Triggers {
        let key = key_of(&obj.metadata);
        self.bury(Tomb::Cluster, key.clone(), rv_of(&obj.metadata));
        let Some(id) = self.id(&key.1) else {
            return Triggers::default();
        };
        let old = self.clusters[id as usize].take();
        if old.is_none() {
            return Triggers::default();
        }
        self.cluster_changed(id, old, None, now)
    }

    fn cluster_changed(
        &mut self,
        id: Id,
        old: Option<ClusterEntry>,
        new: Option<ClusterEntry>,
        now: i128,
    ) -> Triggers {
        self.log_change(id);
        let mut t = Triggers::default();
        let name = self.names[id as usize].clone();
        // Indexes.
        if let Some(o) = &old {
            index_remove(&mut self.label_index, o.label_map(), id);
            index_remove(&mut self.claim_index, &o.claims, id);
        }
        match &new {
            Some(n) => {
                index_insert(&mut self.label_index, n.label_map(), id);
                index_insert(&mut self.claim_index, &n.claims, id);
                self.sorted.insert(name.clone(), id);
                if n.deleting {
                    self.deleting.insert(id);
                } else {
                    self.deleting.remove(&id);
                }
            }
            None => {
                self.sorted.remove(&name);
                self.deleting.remove(&id);
            }
        }
        let slot = id as usize;
        if self.untainted.len() <= slot {
            self.untainted.resize(slot + 1, false);
        }
        self.untainted[slot] = new.as_ref().is_some_and(|n| n.obj.spec.taints.is_empty());
        // Set membership.
        let mut old_sets = Vec::new();
        let mut new_sets = Vec::new();
        for (set_name, set) in self.sets.iter_mut() {
            let Ok(selector) = &set.selector else {
                continue;
            };
            let was = old
                .as_ref()
                .is_some_and(|o| selector.matches(o.label_map()));
            let is = new
                .as_ref()
                .is_some_and(|n| selector.matches(n.label_map()));
            if was {
                old_sets.push(set_name.clone());
            }
            if is {
                new_sets.push(set_name.clone());
                set.members.insert(id);
            } else {
                set.members.remove(&id);
            }
            if was != is {
                t.sets.insert(set_name.clone());
            }
        }
        let joined_or_left = old.is_none() || new.is_none();
        if joined_or_left {
            *self.ranks.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
            t.sets.extend(old_sets.iter().cloned());
            t.sets.extend(new_sets.iter().cloned());
        }
        for set in &t.sets {
            for (ns, _) in self.bindings_to(set) {
                t.profile_namespaces.insert(ns);
            }
        }
        if self.profiles_of.contains_key(name.as_ref()) {
            t.profile_clusters.insert(name.to_string());
        }
        // What changed that placements read.
        let (core, taints, resources) = match (&old, &new) {
            (Some(o), Some(n)) => (
                o.label_map() != n.label_map() || o.claims != n.claims || o.deleting != n.deleting,
                (o.obj.spec.taints != n.obj.spec.taints)
                    .then_some((&o.obj.spec.taints, &n.obj.spec.taints)),
                o.quantities() != n.quantities(),
            ),
            _ => (true, None, true),
        };
        // Placements.
        for (pid, entry) in &self.placements {
            let c = &entry.compiled;
            let reads_change = core || (resources && c.uses_resources) || c.uses_cel;
            if !reads_change && taints.is_none() {
                continue;
            }
            // Only taints changed (a cluster turning unreachable, say): a placement whose
            // taint filter says the same of both, expiry included, is not affected.
            if !reads_change && let Some((before, after)) = taints {
                let decided = self.decides(*pid, id);
                if c.tolerated(before, decided, now) == c.tolerated(after, decided, now) {
                    continue;
                }
            }
            let ns = &self.pkeys[*pid as usize].0;
            let (_, sets) = self.eligible_sets(ns, &c.cluster_sets);
            let eligible = |e: &Option<ClusterEntry>, member_of: &[String]| {
                e.as_ref().is_some_and(|e| !e.deleting)
                    && sets.iter().any(|s| member_of.contains(s))
            };
            let (was, is) = (eligible(&old, &old_sets), eligible(&new, &new_sets));
            if !was && !is {
                continue;
            }
            let in_decisions = self.decides(*pid, id);
            // Why the filters drop the cluster (`None`: they let it through).
            let verdict = |e: &ClusterEntry| match c.predicate(&self.env, e) {
                Err(why) => Some(why),
                Ok(()) => c.tolerated(&e.obj.spec.taints, in_decisions, now).err(),
            };
            // The filters run only when the cheap tests leave it open.
            let affected = was != is || in_decisions || entry.watermark == Watermark::Unknown || {
                let [before, after] = [(&old, was), (&new, is)]
                    .map(|(e, elig)| e.as_ref().filter(|_| elig).map(verdict));
                let passes_either = [&before, &after].iter().any(|v| matches!(v, Some(None)));
                // Filtered both before and after: the `ClustersFiltered` explanation
                // can only change when the cluster is among those it lists and the
                // reason changed.
                passes_either
                    || (before != after
                        && match &entry.watermark {
                            Watermark::Unknown | Watermark::Complete => true,
                            Watermark::UpTo(last) => name.as_ref() <= last.as_ref(),
                        })
            };
            if affected {
                t.placements.insert(*pid);
            }
        }
        self.clusters[id as usize] = new;
        t
    }

    // -----------------------------------------------------------------------------------
    // Cluster sets and bindings.

    /// A ManagedClusterSet was created or changed.
    pub fn upsert_set(&mut self, obj: ManagedClusterSet) -> Triggers {
        self.epoch += 1;
        let key = key_of(&obj.metadata);
        let rv = rv_of(&obj.metadata);
        if self.stale(Tomb::Set, &key, rv)
            || self.sets.get(&key.1).is_some_and(|s| s.rv >= rv && rv != 0)
        {
            return Triggers::default();
        }
        let selector = SetSelector::of(&obj);
        let same = self.sets.get(&key.1).is_some_and(|s| {
            s.selector == selector
                && s.obj.metadata.deletion_timestamp == obj.metadata.deletion_timestamp
        });
        let mut t = Triggers::default();
        t.sets.insert(key.1.clone());
        if same {
            if let Some(s) = self.sets.get_mut(&key.1) {
                s.obj = obj;
                s.rv = rv;
            }
            return t;
        }
        let members = match &selector {
            Ok(sel) => self
                .sorted
                .values()
                .filter(|id| {
                    self.cluster(**id)
                        .is_some_and(|c| sel.matches(c.label_map()))
                })
                .copied()
                .collect(),
            Err(_) => HashSet::new(),
        };
        let created = !self.sets.contains_key(&key.1);
        self.sets.insert(
            key.1.clone(),
            SetEntry {
                obj,
                rv,
                selector,
                members,
            },
        );
        self.set_changed(&key.1, created, &mut t);
        t
    }

    /// A ManagedClusterSet is gone.
    pub fn delete_set(&mut self, obj: &ManagedClusterSet) -> Triggers {
        self.epoch += 1;
        let key = key_of(&obj.metadata);
        self.bury(Tomb::Set, key.clone(), rv_of(&obj.metadata));
        let mut t = Triggers::default();
        if self.sets.remove(&key.1).is_some() {
            self.set_changed(&key.1, true, &mut t);
        }
        t
    }

    fn set_changed(&self, set: &str, existence: bool, t: &mut Triggers) {
        // Bindings whose spec names the set, and (by binding name) the placements there.
        for key in self.bindings_to(set) {
            t.bindings.insert(key.clone());
            t.profile_namespaces.insert(key.0.clone());
        }
        let namespaces: BTreeSet<String> = self
            .bindings
            .keys()
            .filter(|(_, name)| name == set)
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in namespaces {
            for pid in self.placements_by_ns.get(&ns).into_iter().flatten() {
                let wanted = &self.placements[pid].compiled.cluster_sets;
                if wanted.is_empty() || wanted.contains(set) || existence {
                    t.placements.insert(*pid);
                }
            }
        }
    }

    /// A ManagedClusterSetBinding was created or changed.
    pub fn upsert_binding(&mut self, obj: ManagedClusterSetBinding) -> Triggers {
        let key = key_of(&obj.metadata);
        let rv = rv_of(&obj.metadata);
        if self.stale(Tomb::Binding, &key, rv)
            || self
                .bindings
                .get(&key)
                .is_some_and(|b| b.rv >= rv && rv != 0)
        {
            return Triggers::default();
        }
        let mut t = Triggers::default();
        let old = self.bindings.insert(key.clone(), BindingEntry { obj, rv });
        let new_set = self.bindings[&key].obj.spec.cluster_set.clone();
        let spec_changed = old
            .as_ref()
            .is_none_or(|o| o.obj.spec.cluster_set != new_set);
        if let Some(o) = &old
            && o.obj.spec.cluster_set != new_set
            && let Some(keys) = self.bindings_by_set.get_mut(&o.obj.spec.cluster_set)
        {
            keys.remove(&key);
        }
        self.bindings_by_set
            .entry(new_set)
            .or_default()
            .insert(key.clone());
        t.bindings.insert(key.clone());
        t.profile_namespaces.insert(key.0.clone());
        if spec_changed {
            self.binding_placements(&key, &mut t);
        }
        t
    }

    /// A ManagedClusterSetBinding is gone.
    pub fn delete_binding(&mut self, obj: &ManagedClusterSetBinding) -> Triggers {
        let key = key_of(&obj.metadata);
        self.bury(Tomb::Binding, key.clone(), rv_of(&obj.metadata));
        let mut t = Triggers::default();
        if let Some(old) = self.bindings.remove(&key) {
            if let Some(keys) = self.bindings_by_set.get_mut(&old.obj.spec.cluster_set) {
                keys.remove(&key);
            }
            t.profile_namespaces.insert(key.0.clone());
            self.binding_placements(&key, &mut t);
        }
        t
    }

    /// Every placement of the binding's namespace: the number of valid bindings is in
    /// each one's status.
    fn binding_placements(&self, key: &Key, t: &mut Triggers) {
        t.placements.extend(
            self.placements_by_ns
                .get(&key.0)
                .into_iter()
                .flatten()
                .copied(),
        );
    }

    // -----------------------------------------------------------------------------------
    // Placements and decisions.

    /// A Placement was created or changed. Only changes of what scheduling reads (spec,
    /// annotations, deletion) reschedule it; its own status writes do not.
    pub fn upsert_placement(&mut self, obj: Placement) -> Triggers {
        let key = key_of(&obj.metadata);
        let rv = rv_of(&obj.metadata);
        let mut t = Triggers::default();
        if self.stale(Tomb::Placement, &key, rv) {
            return t;
        }
        let pid = self.pid_of(&key);
        if let Some(old) = self.placements.get_mut(&pid) {
            if old.rv >= rv && rv != 0 {
                return t;
            }
            let same = old.obj.spec == obj.spec
                && old.obj.metadata.annotations == obj.metadata.annotations
                && old.obj.metadata.deletion_timestamp == obj.metadata.deletion_timestamp
                && old.obj.metadata.uid == obj.metadata.uid;
            old.rv = rv;
            if same {
                old.obj = Arc::new(obj);
                return t;
            }
        }
        let compiled = Arc::new(Compiled::new(&obj));
        self.placements.insert(
            pid,
            PlacementEntry {
                obj: Arc::new(obj),
                rv,
                compiled,
                watermark: Watermark::Unknown,
            },
        );
        self.placements_by_ns.entry(key.0).or_default().insert(pid);
        t.placements.insert(pid);
        t
    }

    /// Records a placement as written by the scheduler (status only).
    pub fn placement_written(&mut self, mut obj: Placement) {
        // Not kept, as for every object the feeds decode.
        obj.metadata.managed_fields = None;
        let _ = self.upsert_placement(obj);
    }

    /// A Placement is gone (its decisions go with it, through the garbage collector).
    pub fn delete_placement(&mut self, obj: &Placement) -> Triggers {
        let key = key_of(&obj.metadata);
        self.bury(Tomb::Placement, key.clone(), rv_of(&obj.metadata));
        let Some(pid) = self.pid(&key) else {
            return Triggers::default();
        };
        if let Ok(mut cache) = self.passed.lock() {
            cache.remove(&pid);
        }
        if let Ok(mut memo) = self.grouped.lock() {
            memo.remove(&pid);
        }
        if self.placements.remove(&pid).is_some()
            && let Some(of) = self.placements_by_ns.get_mut(&key.0)
        {
            of.remove(&pid);
        }
        Triggers::default()
    }

    /// The scheduler's latest result for a placement.
    pub fn set_watermark(&mut self, pid: Pid, watermark: Watermark) {
        if let Some(p) = self.placements.get_mut(&pid) {
            p.watermark = watermark;
        }
    }

    /// A PlacementDecision was created or changed; reschedules its placement when what it
    /// decides changed.
    pub fn upsert_decision(&mut self, obj: &PlacementDecision) -> Triggers {
        let key = key_of(&obj.metadata);
        let rv = rv_of(&obj.metadata);
        let mut t = Triggers::default();
        if self.stale(Tomb::Decision, &key, rv) || self.holds(&key, rv) {
            return t;
        }
        let labels = obj.metadata.labels.as_ref().unwrap_or(&EMPTY);
        let placement = labels.get(PLACEMENT_LABEL).cloned().unwrap_or_default();
        let pid = self.pid_of(&(key.0.clone(), placement));
        let decisions = obj
            .status
            .as_ref()
            .map(|s| s.decisions.as_slice())
            .unwrap_or_default();
        let clusters: Vec<Id> = decisions
            .iter()
            .map(|d| self.intern(&d.cluster_name))
            .collect();
        let entry = DecisionEntry {
            pid,
            rv,
            meta: ObjectMeta {
                managed_fields: None,
                ..obj.metadata.clone()
            },
            clusters,
            scores: decisions.iter().map(|d| d.score).collect(),
            group_name: labels
                .get(DECISION_GROUP_NAME_LABEL)
                .cloned()
                .unwrap_or_default(),
            group_index: labels
                .get(DECISION_GROUP_INDEX_LABEL)
                .cloned()
                .unwrap_or_default(),
        };
        let old = self.decisions.insert(key.clone(), entry.clone());
        if let Some(o) = &old
            && o.pid != pid
        {
            if let Some(names) = self.decisions_of.get_mut(&o.pid) {
                names.remove(&key.1);
            }
            self.refresh_effective(o.pid);
        }
        self.decisions_of
            .entry(pid)
            .or_default()
            .insert(key.1.clone());
        let changed = old.is_none_or(|o| {
            o.clusters != entry.clusters
                || o.scores != entry.scores
                || o.group_name != entry.group_name
                || o.group_index != entry.group_index
                || o.pid != pid
        });
        if changed {
            self.refresh_effective(pid);
            let own_write = self.writing.get(&pid).is_some_and(|w| {
                w.iter().any(|(name, content)| {
                    *name == key.1
                        && content.clusters == entry.clusters
                        && content.scores == entry.scores
                        && content.group_name == entry.group_name
                        && content.group_index == entry.group_index
                })
            });
            if self.placements.contains_key(&pid) && !own_write {
                t.placements.insert(pid);
            }
        }
        t
    }

    /// Records the PlacementDecision contents placement `pid`'s pass is about to write
    /// (`(object name, group name, group index, cluster names and scores)`), until
    /// [`State::clear_pending`].
    pub fn expect_writes<'a>(
        &mut self,
        pid: Pid,
        writes: impl Iterator<Item = (&'a str, &'a str, usize, &'a [(Arc<str>, Option<i64>)])>,
    ) {
        let mut expected = Vec::new();
        for (name, group_name, group_index, decisions) in writes {
            let clusters = decisions.iter().map(|(c, _)| self.intern(c)).collect();
            expected.push((
                name.to_string(),
                DecisionContent {
                    clusters,
                    scores: decisions.iter().map(|(_, s)| *s).collect(),
                    group_name: group_name.to_string(),
                    group_index: group_index.to_string(),
                },
            ));
        }
        self.writing.insert(pid, expected);
    }

    /// A PlacementDecision is gone.
    pub fn delete_decision(&mut self, ns: &str, name: &str, rv: u64) -> Triggers {
        let key = (ns.to_string(), name.to_string());
        self.bury(Tomb::Decision, key.clone(), rv);
        let mut t = Triggers::default();
        if let Some(old) = self.decisions.remove(&key) {
            if let Some(names) = self.decisions_of.get_mut(&old.pid) {
                names.remove(name);
            }
            self.refresh_effective(old.pid);
            if self.placements.contains_key(&old.pid) {
                t.placements.insert(old.pid);
            }
        }
        t
    }

    /// Records what a placement is about to decide, before it is written: Balance and
    /// Steady of other placements count it from now on.
    pub fn set_pending(&mut self, pid: Pid, clusters: Vec<Id>) {
        let mut clusters = clusters;
        clusters.sort_unstable();
        clusters.dedup();
        self.pending.insert(pid, clusters);
        self.refresh_effective(pid);
    }

    /// The placement's decisions are written (or failed): back to what is stored.
    pub fn clear_pending(&mut self, pid: Pid) {
        self.writing.remove(&pid);
        if self.pending.remove(&pid).is_some() {
            self.refresh_effective(pid);
        }
    }

    /// One cluster went from `before` to `after` deciding placements.
    fn count_deciders(&mut self, before: usize, after: usize) {
        if before == after {
            return;
        }
        if before > 0 {
            self.deciders_with[before] -= 1;
        }
        if after > 0 {
            if self.deciders_with.len() <= after {
                self.deciders_with.resize(after + 1, 0);
            }
            self.deciders_with[after] += 1;
        }
        while self.deciders_with.last() == Some(&0) {
            self.deciders_with.pop();
        }
    }

    /// The most placements other than `pid` deciding any one cluster (Balance's maximum).
    pub fn most_other_deciders(&self, pid: Pid) -> usize {
        let Some(most) = self.deciders_with.len().checked_sub(1).filter(|m| *m > 0) else {
            return 0;
        };
        // The busiest clusters count `most` unless `pid` decides every one of them.
        let own = self
            .decided(pid)
            .iter()
            .filter(|id| self.deciders(**id).len() == most)
            .count();
        if own < self.deciders_with[most] {
            most
        } else {
            most - 1
        }
    }

    fn refresh_effective(&mut self, pid: Pid) {
        let new: Vec<Id> = match self.pending.get(&pid) {
            Some(p) => p.clone(),
            None => {
                let mut all = Vec::new();
                let ns = &self.pkeys[pid as usize].0;
                for name in self.decisions_of.get(&pid).into_iter().flatten() {
                    if let Some(d) = self.decisions.get(&(ns.clone(), name.clone())) {
                        all.extend(d.clusters.iter().copied());
                    }
                }
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        let old = self.effective.insert(pid, new.clone()).unwrap_or_default();
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                }
                (Some(a), b) if b.is_none_or(|b| a < b) => {
                    let deciders = &mut self.decided_in[*a as usize];
                    let before = deciders.len();
                    sorted_remove(deciders, pid);
                    let after = deciders.len();
                    self.count_deciders(before, after);
                    i += 1;
                }
                (_, Some(b)) => {
                    let deciders = &mut self.decided_in[*b as usize];
                    let before = deciders.len();
                    sorted_insert(deciders, pid);
                    let after = deciders.len();
                    self.count_deciders(before, after);
                    j += 1;
                }
                _ => break,
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Scores.

    /// An AddOnPlacementScore was created, changed or (with `deleted`) removed.
    pub fn change_score(&mut self, obj: AddOnPlacementScore, deleted: bool) -> Triggers {
        self.epoch += 1;
        let key = key_of(&obj.metadata);
        let rv = rv_of(&obj.metadata);
        let mut t = Triggers::default();
        if deleted {
            self.bury(Tomb::Score, key.clone(), rv);
            if self.scores.remove(&key).is_none() {
                return t;
            }
            self.score_table.set(&key.0, &key.1, None);
        } else {
            if self.stale(Tomb::Score, &key, rv)
                || self.scores.get(&key).is_some_and(|s| s.rv >= rv && rv != 0)
            {
                return t;
            }
            let values = obj
                .status
                .as_ref()
                .map(|s| {
                    s.scores
                        .iter()
                        .map(|v| (v.name.clone(), i64::from(v.value)))
                        .collect()
                })
                .unwrap_or_default();
            self.score_table.set(&key.0, &key.1, Some(values));
            self.scores.insert(key.clone(), ScoreEntry { obj, rv });
        }
        // Placements reading this score where the cluster is eligible.
        let Some(id) = self.id(&key.0) else { return t };
        for (pid, entry) in &self.placements {
            let names = &entry.compiled.score_names;
            if !(names.contains(&key.1) || names.contains("")) {
                continue;
            }
            let ns = &self.pkeys[*pid as usize].0;
            let (_, sets) = self.eligible_sets(ns, &entry.compiled.cluster_sets);
            if self.in_sets(&sets, id) {
                t.placements.insert(*pid);
            }
        }
        t
    }

    // -----------------------------------------------------------------------------------
    // Cluster profiles.

    /// A ClusterProfile was created, changed or (with `deleted`) removed.
    pub fn change_profile(&mut self, obj: &ClusterProfile, deleted: bool) -> Triggers {
        let key = key_of(&obj.metadata);
        let rv = rv_of(&obj.metadata);
        let mut t = Triggers::default();
        let labels = obj.metadata.labels.as_ref().unwrap_or(&EMPTY);
        let cluster = labels
            .get(CLUSTER_NAME_LABEL)
            .cloned()
            .unwrap_or_else(|| key.1.clone());
        let managed = labels
            .get(LABEL_CLUSTER_MANAGER)
            .is_some_and(|m| m == OCM_CLUSTER_MANAGER);
        let old = if deleted {
            self.bury(Tomb::Profile, key.clone(), rv);
            self.profiles.remove(&key)
        } else {
            if self.stale(Tomb::Profile, &key, rv)
                || self
                    .profiles
                    .get(&key)
                    .is_some_and(|p| p.rv >= rv && rv != 0)
            {
                return t;
            }
            self.profiles.insert(
                key.clone(),
                ProfileEntry {
                    cluster: cluster.clone(),
                    managed,
                    rv,
                },
            )
        };
        if let Some(o) = &old
            && let Some(of) = self.profiles_of.get_mut(&o.cluster)
        {
            of.remove(&key);
            if of.is_empty() {
                self.profiles_of.remove(&o.cluster);
            }
        }
        if !deleted {
            self.profiles_of
                .entry(cluster.clone())
                .or_default()
                .insert(key.clone());
        }
        if old.is_none()
            || deleted
            || old.is_some_and(|o| o.managed != managed || o.cluster != cluster)
        {
            t.profile_namespaces.insert(key.0.clone());
        }
        t.profile_clusters.insert(cluster);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(name: &str, rv: u64, labels: serde_json::Value) -> ManagedCluster {
        serde_json::from_value(json!({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
            "metadata": {"name": name, "resourceVersion": rv.to_string(), "labels": labels}, "spec": {}}))
        .expect("cluster")
    }

    fn set(name: &str, spec: serde_json::Value) -> ManagedClusterSet {
        serde_json::from_value(json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSet",
            "metadata": {"name": name, "resourceVersion": "1"}, "spec": spec}))
        .expect("set")
    }

    fn placement(ns: &str, name: &str, spec: serde_json::Value) -> Placement {
        serde_json::from_value(
            json!({"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"}, "spec": spec}),
        )
        .expect("placement")
    }

    fn binding(ns: &str, name: &str) -> ManagedClusterSetBinding {
        serde_json::from_value(json!({"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"}, "spec": {"clusterSet": name}}))
        .expect("binding")
    }

    #[test]
    fn predicate_cache_follows_cluster_changes_and_recomputes_on_set_changes() {
        let mut w = State::new();
        let all =
            json!({"clusterSelector": {"selectorType": "LabelSelector", "labelSelector": {}}});
        w.upsert_set(set("global", all.clone()));
        w.upsert_binding(binding("ns", "global"));
        let t = w.upsert_placement(placement(
            "ns",
            "a",
            json!({"predicates": [{"requiredClusterSelector": {"labelSelector": {"matchLabels": {"env": "prod"}}}}]}),
        ));
        let pid = *t.placements.iter().next().expect("pid");
        w.upsert_cluster(cluster("c1", 1, json!({"env": "prod"})), 0);
        w.upsert_cluster(cluster("c2", 1, json!({"env": "dev"})), 0);
        let sets = vec!["global".to_string()];
        let computed = std::cell::Cell::new(0);
        let run = |w: &State| {
            let compiled = w.placement(pid).expect("placement").compiled.clone();
            let passes = |id: Id| {
                w.in_sets(&sets, id)
                    && w.cluster(id)
                        .is_some_and(|cl| compiled.predicate(&w.env, cl).is_ok())
            };
            let compute = || {
                computed.set(computed.get() + 1);
                (0..w.id_count() as Id).filter(|id| passes(*id)).collect()
            };
            let mut names: Vec<String> = w
                .passing(pid, &compiled, &sets, compute, passes)
                .into_iter()
                .map(|id| w.name(id).to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(run(&w), ["c1"]);
        // Cluster changes are applied to the cached answer, not computed again.
        w.upsert_cluster(cluster("c2", 2, json!({"env": "prod"})), 0);
        w.upsert_cluster(cluster("c1", 2, json!({"env": "dev"})), 0);
        w.upsert_cluster(cluster("c3", 1, json!({"env": "prod"})), 0);
        assert_eq!(run(&w), ["c2", "c3"]);
        assert_eq!(computed.get(), 1);
        // A set change may move many clusters: computed again.
        w.upsert_set(set("global", all));
        assert_eq!(run(&w), ["c2", "c3"]);
        assert_eq!(computed.get(), 2);
    }

    #[test]
    fn group_memo_follows_cluster_changes_and_spec_changes() {
        let mut w = State::new();
        let groups = |first: &str| {
            json!({"decisionStrategy": {"groupStrategy": {"decisionGroups": [
                {"groupName": "first", "groupClusterSelector": {"labelSelector": {"matchLabels": {"env": first}}}},
                {"groupName": "any", "groupClusterSelector": {"labelSelector": {"matchExpressions": [{"key": "env", "operator": "Exists"}]}}}]}}})
        };
        let t = w.upsert_placement(placement("ns", "a", groups("prod")));
        let pid = *t.placements.iter().next().expect("pid");
        for (name, env) in [
            ("c1", json!({"env": "prod"})),
            ("c2", json!({"env": "dev"})),
            ("c3", json!({})),
        ] {
            w.upsert_cluster(cluster(name, 1, env), 0);
        }
        let ids: Vec<Id> = ["c1", "c2", "c3"].iter().filter_map(|n| w.id(n)).collect();
        let ask = |w: &State| {
            let compiled = w.placement(pid).expect("placement").compiled.clone();
            w.first_groups(pid, &compiled, &ids)
        };
        assert_eq!(ask(&w), [Some(0), Some(1), None]);
        // Remembered answers are dropped for clusters that changed.
        w.upsert_cluster(cluster("c1", 2, json!({"env": "dev"})), 0);
        w.upsert_cluster(cluster("c3", 2, json!({"env": "prod"})), 0);
        assert_eq!(ask(&w), [Some(1), Some(1), Some(0)]);
        // A new spec starts over.
        let mut changed = placement("ns", "a", groups("dev"));
        changed.metadata.resource_version = Some("2".into());
        w.upsert_placement(changed);
        assert_eq!(ask(&w), [Some(0), Some(0), Some(1)]);
    }

    #[test]
    fn membership_indexes_and_affected_placements() {
        let mut w = State::new();
        w.upsert_set(set(
            "global",
            json!({"clusterSelector": {"selectorType": "LabelSelector", "labelSelector": {}}}),
        ));
        w.upsert_set(set("prod", json!({})));
        w.upsert_binding(binding("ns", "global"));
        let pa = placement(
            "ns",
            "a",
            json!({"predicates": [{"requiredClusterSelector": {"labelSelector": {"matchLabels": {"env": "prod"}}}}]}),
        );
        let pb = placement(
            "ns",
            "b",
            json!({"predicates": [{"requiredClusterSelector": {"labelSelector": {"matchLabels": {"env": "dev"}}}}]}),
        );
        let ta = w.upsert_placement(pa);
        let tb = w.upsert_placement(pb);
        let (a, b) = (
            *ta.placements.iter().next().expect("a"),
            *tb.placements.iter().next().expect("b"),
        );
        for p in [a, b] {
            w.set_watermark(p, Watermark::UpTo(Arc::from("a")));
        }
        let t = w.upsert_cluster(
            cluster(
                "c1",
                1,
                json!({"env": "prod", CLUSTER_SET_LABEL_KEY: "prod"}),
            ),
            0,
        );
        assert_eq!(
            t.sets,
            ["global".to_string(), "prod".to_string()]
                .into_iter()
                .collect()
        );
        assert_eq!(
            t.placements,
            [a, b].into_iter().collect(),
            "c1 joined global: both counts change"
        );
        let id = w.id("c1").expect("c1");
        assert!(w.sets["global"].members.contains(&id) && w.sets["prod"].members.contains(&id));
        assert_eq!(w.indexed(false, "env", Some(&["prod".to_string()])), [id]);
        // A label change that matters to a only.
        let t = w.upsert_cluster(
            cluster(
                "c1",
                2,
                json!({"env": "prod", "team": "x", CLUSTER_SET_LABEL_KEY: "prod"}),
            ),
            0,
        );
        assert_eq!(t.placements, [a].into_iter().collect());
        assert!(t.sets.is_empty());
        // Moving from prod to dev: both.
        let t = w.upsert_cluster(cluster("c1", 3, json!({"env": "dev"})), 0);
        assert_eq!(t.placements, [a, b].into_iter().collect());
        assert_eq!(t.sets, ["prod".to_string()].into_iter().collect());
        // A stale event is ignored.
        let t = w.upsert_cluster(cluster("c1", 2, json!({"env": "prod"})), 0);
        assert!(t.placements.is_empty());
        // Decisions: effective decisions and pending overlay.
        w.set_pending(b, vec![id]);
        assert!(w.decides(b, id));
        assert_eq!(w.deciders(id), [b]);
        w.clear_pending(b);
        assert!(!w.decides(b, id));
        let d: PlacementDecision = serde_json::from_value(json!({"apiVersion": "cluster.open-cluster-management.io/v1beta1",
            "kind": "PlacementDecision", "metadata": {"name": "b-decision-1", "namespace": "ns", "resourceVersion": "7",
            "labels": {PLACEMENT_LABEL: "b"}}, "status": {"decisions": [{"clusterName": "c1", "reason": ""}]}}))
        .expect("decision");
        let t = w.upsert_decision(&d);
        assert_eq!(t.placements, [b].into_iter().collect());
        assert!(w.decides(b, id));
        assert!(
            w.upsert_decision(&d).placements.is_empty(),
            "the same revision again"
        );
        w.delete_decision("ns", "b-decision-1", 7);
        assert!(!w.decides(b, id));
        assert!(
            w.upsert_decision(&d).placements.is_empty(),
            "a late event after the delete"
        );
        // Deleting the cluster.
        let t = w.delete_cluster(&cluster("c1", 4, json!({"env": "dev"})), 0);
        assert_eq!(t.placements, [a, b].into_iter().collect());
        assert!(w.sets["global"].members.is_empty());
    }

    const CLUSTER_SET_LABEL_KEY: &str = crate::api::ocm::CLUSTER_SET_LABEL;

    #[test]
    fn most_other_deciders_matches_a_count_over_every_cluster() {
        let mut w = State::new();
        let ids: Vec<Id> = (0..12).map(|i| w.intern(&format!("c{i}"))).collect();
        let brute = |w: &State, pid: Pid| {
            ids.iter()
                .map(|id| w.deciders(*id).len() - usize::from(w.decides(pid, *id)))
                .max()
                .unwrap_or(0)
        };
        // A fixed pseudo-random walk of pending decisions over five placements.
        let mut x: u64 = 7;
        for step in 0..400 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pid = (x >> 33) as Pid % 5;
            let chosen: Vec<Id> = ids
                .iter()
                .copied()
                .filter(|id| (x >> (u64::from(*id) + 8)) & 1 == 1)
                .collect();
            w.set_pending(pid, chosen);
            for p in 0..5 {
                assert_eq!(
                    w.most_other_deciders(p),
                    brute(&w, p),
                    "step {step}, placement {p}"
                );
            }
        }
    }

    #[test]
    fn a_taint_change_affects_only_placements_whose_filter_it_changes() {
        let mut w = State::new();
        w.upsert_set(set(
            "global",
            json!({"clusterSelector": {"selectorType": "LabelSelector", "labelSelector": {}}}),
        ));
        w.upsert_binding(binding("ns", "global"));
        let id_of = |t: Triggers| *t.placements.iter().next().expect("placement");
        let tolerant = id_of(w.upsert_placement(placement(
            "ns",
            "tolerant",
            json!({"tolerations": [{"operator": "Exists"}]}),
        )));
        let strict = id_of(w.upsert_placement(placement("ns", "strict", json!({}))));
        for p in [tolerant, strict] {
            w.set_watermark(p, Watermark::UpTo(Arc::from("a")));
        }
        w.upsert_cluster(cluster("c1", 1, json!({})), 0);
        let mut tainted = cluster("c1", 2, json!({}));
        tainted.spec.taints = vec![
            serde_json::from_value(
                json!({"key": "cluster.open-cluster-management.io/unreachable",
            "effect": "NoSelect", "timeAdded": "2026-01-01T00:00:00Z"}),
            )
            .expect("taint"),
        ];
        let t = w.upsert_cluster(tainted, 0);
        assert_eq!(t.placements, [strict].into_iter().collect());
    }
}
