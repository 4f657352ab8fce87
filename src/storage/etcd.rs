//! The external backend: the same store semantics on an etcd cluster (v3 API).
//!
//! Keys are stored under a configurable prefix (default `/registry`, as kube-apiserver
//! does); etcd revisions are the revisions. Writes are transactions comparing the key's
//! `mod_revision`. Each `watch` is one etcd watch that transparently re-establishes itself
//! after a connection loss, resuming after the last revision it delivered, so an etcd
//! restart neither loses nor duplicates events. TTLs are etcd leases. Compaction is
//! coordinated across hub replicas with a compare-and-swap on a marker key, as
//! kube-apiserver does.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcd_client::{
    Certificate, Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions,
    EventType, GetOptions, Identity, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
    WatchOptions,
};
use futures::StreamExt;

use super::continuation::Continue;
use super::{
    Deleted, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision, Store,
    StoreError, WatchStream, check_size, prefix_end,
};

/// Unary requests taking longer than this fail as `Unavailable`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A broken watch keeps trying to reconnect for this long before it gives up.
const WATCH_RECONNECT_LIMIT: Duration = Duration::from_secs(60);
/// Largest etcd response accepted (a page of a big list, a batch of watch events);
/// tonic's default of 4 MiB is smaller than one page of large objects.
const MAX_RESPONSE_BYTES: usize = 512 << 20;
/// Marker key (under the prefix) whose version serialises compactions across replicas.
const COMPACT_KEY: &str = "/compact_rev_key";

/// Where and how to reach etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    pub endpoints: Vec<String>,
    pub prefix: String,
    /// PEM CA bundle, client certificate and key (all three, or none).
    pub ca_pem: Option<Vec<u8>>,
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
}

/// The etcd-backed store.
pub struct EtcdStore {
    client: Client,
    prefix: String,
    /// Leases reused for one second per TTL, so a burst of Events shares one lease.
    leases: Mutex<HashMap<i64, (i64, Instant)>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("etcd: {e}"))
}

/// Maps an etcd error to a store error.
fn map_err(e: etcd_client::Error, key: &str, revision: Revision) -> StoreError {
    let text = e.to_string();
    if text.contains("required revision has been compacted") {
        StoreError::Compacted {
            requested: revision,
            compacted: 0,
        }
    } else if text.contains("required revision is a future revision") {
        StoreError::FutureRevision {
            requested: revision,
            current: 0,
        }
    } else if text.contains("request is too large") || text.contains("message length too large") {
        StoreError::TooLarge {
            key: key.to_string(),
            size: 0,
            limit: super::MAX_VALUE_BYTES,
        }
    } else {
        unavailable(text)
    }
}

/// True for errors raised before a request reached any etcd member (so retrying cannot
/// apply it twice): the balancer picked an endpoint that refuses connections.
fn not_sent(e: &etcd_client::Error) -> bool {
    let text = e.to_string();
    text.contains("tcp connect error") || text.contains("Connection refused")
}

/// Runs one etcd request with a deadline, retrying while no member could be reached, so a
/// dead endpoint in the list or a restarting member does not fail the call.
async fn call<T, F, Fut>(mut make: F, key: &str, revision: Revision) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
{
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut backoff = Duration::from_millis(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, make()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if not_sent(&e) && Instant::now() + backoff < deadline => {
                tracing::debug!(error = %e, "etcd endpoint unreachable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            Ok(Err(e)) => return Err(map_err(e, key, revision)),
            Err(_) => return Err(unavailable("request timed out")),
        }
    }
}

fn rev(r: i64) -> Revision {
    u64::try_from(r).unwrap_or(0)
}

/// An etcd key-value as a store `KeyValue`, with the prefix taken off the key.
fn convert(prefix: &str, kv: &etcd_client::KeyValue) -> KeyValue {
    let key = String::from_utf8_lossy(kv.key());
    KeyValue {
        key: key.strip_prefix(prefix).unwrap_or(&key).to_string(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: rev(kv.create_revision()),
        mod_revision: rev(kv.mod_revision()),
    }
}

fn irev(r: Revision) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

impl EtcdStore {
    /// Connects to the cluster. The connection is lazy per endpoint and re-established
    /// automatically; this fails only on bad options or when no endpoint answers.
    pub async fn connect(options: &EtcdOptions) -> Result<EtcdStore> {
        if options.endpoints.is_empty() {
            return Err(unavailable("no endpoints configured"));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        match (&options.ca_pem, &options.cert_pem, &options.key_pem) {
            (None, None, None) => {}
            (ca, cert, key) => {
                let mut tls = TlsOptions::new();
                if let Some(ca) = ca {
                    tls = tls.ca_certificate(Certificate::from_pem(ca));
                }
                match (cert, key) {
                    (Some(c), Some(k)) => tls = tls.identity(Identity::from_pem(c, k)),
                    (None, None) => {}
                    _ => {
                        return Err(unavailable(
                            "etcd certFile and keyFile must be set together",
                        ));
                    }
                }
                connect = connect.with_tls(tls);
            }
        }
        let client = tokio::time::timeout(
            REQUEST_TIMEOUT,
            Client::connect(&options.endpoints, Some(connect)),
        )
        .await
        .map_err(|_| unavailable("connect timed out"))?
        .map_err(unavailable)?;
        let store = EtcdStore {
            client,
            prefix: options.prefix.trim_end_matches('/').to_string(),
            leases: Mutex::new(HashMap::new()),
        };
        store.current_revision().await?;
        Ok(store)
    }

    /// A range request (get or list), retried while no member is reachable.
    async fn range(
        &self,
        key: Vec<u8>,
        options: Option<GetOptions>,
        context: &str,
        revision: Revision,
    ) -> Result<etcd_client::GetResponse> {
        call(
            || {
                let mut kv = self
                    .client
                    .kv_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES);
                let (key, options) = (key.clone(), options.clone());
                async move { kv.get(key, options).await }
            },
            context,
            revision,
        )
        .await
    }

    /// A transaction, retried only while it cannot have reached a member.
    /// One write transaction (its latency, retries included, recorded as
    /// `etcd_request_duration_seconds`).
    async fn transaction(&self, txn: Txn, context: &str) -> Result<etcd_client::TxnResponse> {
        let started = Instant::now();
        let answer = call(
            || {
                let mut kv = self
                    .client
                    .kv_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES);
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            },
            context,
            0,
        )
        .await;
        crate::metrics::get()
            .etcd_write
            .observe(started.elapsed().as_secs_f64());
        answer
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn convert(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        convert(&self.prefix, kv)
    }

    async fn lease_for(&self, ttl: Duration) -> Result<i64> {
        let secs = i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
            .unwrap_or(i64::MAX)
            .max(1);
        if let Ok(leases) = self.leases.lock()
            && let Some((id, at)) = leases.get(&secs)
            && at.elapsed() < Duration::from_secs(1)
        {
            return Ok(*id);
        }
        // One extra second covers the reuse window.
        let granted = call(
            || {
                let mut c = self.client.clone();
                async move { c.lease_grant(secs + 1, None).await }
            },
            "",
            0,
        )
        .await?;
        if let Ok(mut leases) = self.leases.lock() {
            leases.insert(secs, (granted.id(), Instant::now()));
        }
        Ok(granted.id())
    }

    async fn put_options(&self, ttl: Option<Duration>) -> Result<PutOptions> {
        let mut options = PutOptions::new().with_prev_key();
        if let Some(ttl) = ttl {
            options = options.with_lease(self.lease_for(ttl).await?);
        }
        Ok(options)
    }

    /// Answers a failed compare: which of "not found" or "conflict" it was.
    fn failed_compare(
        &self,
        key: &str,
        expected: Revision,
        responses: Vec<TxnOpResponse>,
    ) -> StoreError {
        let current = responses.into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| rev(kv.mod_revision())),
            _ => None,
        });
        match current {
            None => StoreError::NotFound {
                key: key.to_string(),
            },
            Some(actual) => StoreError::Conflict {
                key: key.to_string(),
                expected,
                actual: Some(actual),
            },
        }
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision> {
        let key = self.full(COMPACT_KEY);
        let resp = self
            .range(
                key.into_bytes(),
                Some(GetOptions::new().with_count_only()),
                "",
                0,
            )
            .await?;
        Ok(resp.header().map_or(0, |h| rev(h.revision())))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        let resp = self
            .range(self.full(COMPACT_KEY).into_bytes(), None, "", 0)
            .await?;
        Ok(resp
            .kvs()
            .first()
            .and_then(|kv| std::str::from_utf8(kv.value()).ok()?.parse().ok())
            .unwrap_or(0))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .range(self.full(key).into_bytes(), None, key, 0)
            .await?;
        Ok(resp.kvs().first().map(|kv| self.convert(kv)))
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let (revision, start) = match &options.continue_token {
            Some(token) => {
                let c = Continue::decode(token, prefix)?;
                let mut start = self.full(&c.last_key).into_bytes();
                start.push(0);
                (c.revision, start)
            }
            None => (
                options.revision.unwrap_or(0),
                self.full(prefix).into_bytes(),
            ),
        };
        let end = prefix_end(self.full(prefix).as_bytes());
        let mut get = GetOptions::new().with_range(end);
        if revision > 0 {
            get = get.with_revision(irev(revision));
        }
        let limit = options.limit.filter(|l| *l > 0);
        if let Some(l) = limit {
            get = get.with_limit(i64::try_from(l).unwrap_or(i64::MAX));
        }
        let resp = self.range(start, Some(get), prefix, revision).await;
        let resp = match resp {
            Err(StoreError::Compacted { requested, .. }) => {
                return Err(StoreError::Compacted {
                    requested,
                    compacted: self.compacted_revision().await.unwrap_or(0),
                });
            }
            other => other?,
        };
        let snapshot = if revision > 0 {
            revision
        } else {
            resp.header().map_or(0, |h| rev(h.revision()))
        };
        let items: Vec<KeyValue> = resp.kvs().iter().map(|kv| self.convert(kv)).collect();
        let more = resp.more();
        let remaining = u64::try_from(resp.count())
            .unwrap_or(0)
            .saturating_sub(items.len() as u64);
        let continue_token = match (more, items.last()) {
            (true, Some(last)) => Some(
                Continue {
                    revision: snapshot,
                    last_key: last.key.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(ListResult {
            remaining: continue_token.as_ref().map(|_| remaining),
            items,
            revision: snapshot,
            continue_token,
        })
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue> {
        check_size(key, &value)?;
        let full = self.full(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                full.clone(),
                value.to_vec(),
                Some(self.put_options(ttl).await?),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.transaction(txn, key).await?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let revision = resp.header().map_or(0, |h| rev(h.revision()));
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue> {
        check_size(key, &value)?;
        let full = self.full(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                irev(expected),
            )])
            .and_then([TxnOp::put(
                full.clone(),
                value.to_vec(),
                Some(self.put_options(ttl).await?),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.transaction(txn, key).await?;
        let revision = resp.header().map_or(0, |h| rev(h.revision()));
        if !resp.succeeded() {
            return Err(self.failed_compare(key, expected, resp.op_responses()));
        }
        let create_revision = resp
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Put(p) => p.prev_key().map(|kv| rev(kv.create_revision())),
                _ => None,
            })
            .unwrap_or(revision);
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let full = self.full(key);
        let compare = match expected {
            Some(e) => Compare::mod_revision(full.clone(), CompareOp::Equal, irev(e)),
            None => Compare::mod_revision(full.clone(), CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::delete(
                full.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.transaction(txn, key).await?;
        if !resp.succeeded() {
            return Err(self.failed_compare(key, expected.unwrap_or(0), resp.op_responses()));
        }
        let revision = resp.header().map_or(0, |h| rev(h.revision()));
        let prev = resp
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Delete(d) => d.prev_kvs().first().map(|kv| self.convert(kv)),
                _ => None,
            })
            .ok_or_else(|| StoreError::NotFound {
                key: key.to_string(),
            })?;
        Ok(Deleted { prev, revision })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let compacted = self.compacted_revision().await?;
        if after + 1 < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        let state = WatchState {
            client: self.client.clone(),
            prefix: self.prefix.clone(),
            full_prefix: self.full(prefix),
            next: after + 1,
            inner: None,
            buffer: VecDeque::new(),
            done: false,
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            s.next_item().await.map(|item| (item, s))
        })
        .boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let current = self.current_revision().await?;
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        let marker = self.full(COMPACT_KEY);
        let got = self
            .range(marker.clone().into_bytes(), None, COMPACT_KEY, 0)
            .await?;
        let (version, previous) = got.kvs().first().map_or((0, 0), |kv| {
            (
                kv.version(),
                std::str::from_utf8(kv.value())
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )
        });
        if revision <= previous {
            return Ok(());
        }
        // Only the replica whose compare succeeds compacts this round.
        let txn = Txn::new()
            .when([Compare::version(marker.clone(), CompareOp::Equal, version)])
            .and_then([TxnOp::put(marker, revision.to_string(), None)]);
        let resp = self.transaction(txn, COMPACT_KEY).await?;
        if !resp.succeeded() {
            return Ok(());
        }
        match call(
            || {
                let mut kv = self
                    .client
                    .kv_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES);
                async move {
                    kv.compact(
                        irev(revision),
                        Some(CompactionOptions::new().with_physical()),
                    )
                    .await
                }
            },
            "",
            revision,
        )
        .await
        {
            Ok(_) | Err(StoreError::Compacted { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A resumable etcd watch.
struct WatchState {
    client: Client,
    prefix: String,
    full_prefix: String,
    /// The next revision to deliver (everything before it was delivered).
    next: Revision,
    inner: Option<etcd_client::WatchStream>,
    buffer: VecDeque<Event>,
    done: bool,
}

impl WatchState {
    fn convert(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        convert(&self.prefix, kv)
    }

    async fn connect(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            let options = WatchOptions::new()
                .with_prefix()
                .with_start_revision(irev(self.next))
                .with_prev_key()
                .with_progress_notify();
            match self
                .client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES)
                .watch(self.full_prefix.clone(), Some(options))
                .await
            {
                Ok(stream) => {
                    self.inner = Some(stream);
                    return Ok(());
                }
                Err(e) if started.elapsed() > WATCH_RECONNECT_LIMIT => return Err(unavailable(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "etcd watch reconnect failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    async fn next_item(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            if self.inner.is_none()
                && let Err(e) = self.connect().await
            {
                self.done = true;
                return Some(Err(e));
            }
            let Some(stream) = self.inner.as_mut() else {
                continue;
            };
            match stream.message().await {
                Ok(Some(resp)) => {
                    if resp.canceled() {
                        self.inner = None;
                        if resp.compact_revision() > 0 {
                            self.done = true;
                            return Some(Err(StoreError::Compacted {
                                requested: self.next.saturating_sub(1),
                                compacted: rev(resp.compact_revision()),
                            }));
                        }
                        continue;
                    }
                    for e in resp.events() {
                        let Some(kv) = e.kv() else { continue };
                        let revision = rev(kv.mod_revision());
                        if revision < self.next {
                            continue; // already delivered before a reconnect
                        }
                        let prev = e.prev_kv().map(|p| self.convert(p));
                        let event = match e.event_type() {
                            EventType::Put => Event {
                                kind: EventKind::Put,
                                revision,
                                kv: self.convert(kv),
                                prev,
                            },
                            EventType::Delete => {
                                let mut gone = prev.clone().unwrap_or_else(|| self.convert(kv));
                                gone.mod_revision = revision;
                                Event {
                                    kind: EventKind::Delete,
                                    revision,
                                    kv: gone,
                                    prev,
                                }
                            }
                        };
                        self.buffer.push_back(event);
                    }
                    if let Some(last) = self.buffer.back() {
                        self.next = last.revision + 1;
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::debug!(next = self.next, "etcd watch stream ended; resuming");
                    self.inner = None;
                }
            }
        }
    }
}
