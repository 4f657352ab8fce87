//! Kubernetes `Status` errors (`meta.k8s.io/v1`), the error type of every layer from the
//! registry up, and the shape every client parses: the `reason` drives client logic
//! (`IsNotFound`, `IsConflict`, ...), so each constructor uses kube-apiserver's reason,
//! code and message wording. Turning one into an HTTP response is the `http` layer's job
//! (`http::status`).

use http::StatusCode;
use serde::Serialize;

use crate::api::Kind;
use crate::storage::StoreError;

/// A `Status` object with `status: Failure` (kept small: it is every error's type).
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub message: String,
    pub reason: &'static str,
    pub details: Option<Box<Details>>,
    pub code: u16,
}

/// The reason marking [`Status::page_not_found`], answered as plain text.
pub const PAGE_NOT_FOUND: &str = "PageNotFound";

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("apiVersion", "v1")?;
        map.serialize_entry("kind", "Status")?;
        map.serialize_entry("metadata", &serde_json::Map::new())?;
        map.serialize_entry("status", "Failure")?;
        map.serialize_entry("message", &self.message)?;
        // A Go error kube passes through unclassified has no reason.
        if !self.reason.is_empty() {
            map.serialize_entry("reason", self.reason)?;
        }
        if let Some(details) = &self.details {
            map.serialize_entry("details", details)?;
        }
        map.serialize_entry("code", &self.code)?;
        map.end()
    }
}

/// Which object the error is about, and per-field causes for `Invalid`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The resource (plural), as kube-apiserver fills it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    /// Sent as `Retry-After` too.
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "is_zero")]
    pub retry_after_seconds: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One field-level problem.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub message: String,
    pub field: String,
}

impl Cause {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueInvalid",
            message: message.into(),
            field: field.into(),
        }
    }

    pub fn required(field: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            message: "Required value".into(),
            field: field.into(),
        }
    }
}

impl Status {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Status {
            message: message.into(),
            reason,
            details: None,
            code: code.as_u16(),
        }
    }

    fn with_details(mut self, kind: &Kind, name: &str) -> Self {
        self.details = Some(Box::new(Details {
            name: name.to_string(),
            group: kind.group.to_string(),
            kind: kind.plural.to_string(),
            ..Details::default()
        }));
        self
    }

    pub fn unauthorized() -> Self {
        Status::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    /// A path nothing serves: kube's router answers without naming it.
    pub fn not_found_path(path: &str) -> Self {
        let _ = path;
        let mut status = Status::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
        status.details = Some(Box::default());
        status
    }

    /// What kube's mux answers for a path no API handler serves (a group or version it
    /// does not serve, a cluster-scoped resource under a namespace): Go's plain-text 404.
    pub fn page_not_found() -> Self {
        Status::new(StatusCode::NOT_FOUND, PAGE_NOT_FOUND, "404 page not found")
    }

    pub fn not_found(kind: &Kind, name: &str) -> Self {
        Status::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", kind.qualified_resource()),
        )
        .with_details(kind, name)
    }

    pub fn already_exists(kind: &Kind, name: &str) -> Self {
        Status::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", kind.qualified_resource()),
        )
        .with_details(kind, name)
    }

    pub fn conflict(kind: &Kind, name: &str) -> Self {
        Status::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                kind.qualified_resource()
            ),
        )
        .with_details(kind, name)
    }

    /// 422 with per-field causes, worded as `<Kind>.<group> "<name>" is invalid: ...`.
    pub fn invalid(kind: &Kind, name: &str, causes: Vec<Cause>) -> Self {
        // events.k8s.io Events are validated as the internal core Event: no group.
        let core_event = kind.group == "events.k8s.io" && kind.kind == "Event";
        let qualified_kind = if kind.group.is_empty() || core_event {
            kind.kind.to_string()
        } else {
            format!("{}.{}", kind.kind, kind.group)
        };
        // An aggregate of field errors: duplicates once, several in brackets.
        let mut summary: Vec<String> = Vec::new();
        for c in &causes {
            let line = format!("{}: {}", c.field, c.message);
            if !summary.contains(&line) {
                summary.push(line);
            }
        }
        let summary = match summary.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut status = Status::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
        )
        .with_details(kind, name);
        if let Some(d) = status.details.as_mut() {
            d.kind = kind.kind.to_string();
            d.causes = causes;
            if core_event {
                d.group.clear();
            }
        }
        status
    }

    /// A resourceVersion that is not a number, as kube's storage reports it: an
    /// unclassified error (500, no reason) quoting Go's `strconv.ParseUint`.
    pub fn unparsable_resource_version(rv: &str) -> Self {
        Status::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            format!(
                "resourceVersion: Invalid value: {rv:?}: strconv.ParseUint: parsing {rv:?}: invalid syntax"
            ),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Status::new(StatusCode::GONE, "Expired", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Status::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request entity too large: {}", message.into()),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Status::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Status::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            message,
        )
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Status::new(StatusCode::GATEWAY_TIMEOUT, "Timeout", message)
    }

    /// A resourceVersion newer than the store's, after waiting for it: kube's 504 with the
    /// `ResourceVersionTooLarge` cause, which clients treat like 410 and relist.
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut status = Status::timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        ));
        status.details = Some(Box::new(Details {
            causes: vec![Cause {
                reason: "ResourceVersionTooLarge",
                message: "Too large resource version".into(),
                field: String::new(),
            }],
            retry_after_seconds: 1,
            ..Details::default()
        }));
        status
    }

    /// Maps a storage error about `kind`/`name` to what kube-apiserver answers.
    pub fn from_store(error: StoreError, kind: &Kind, name: &str) -> Self {
        match error {
            StoreError::NotFound { .. } => Status::not_found(kind, name),
            StoreError::AlreadyExists { .. } => Status::already_exists(kind, name),
            StoreError::Conflict { .. } => Status::conflict(kind, name),
            StoreError::Compacted {
                requested,
                compacted,
            } => Status::expired(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            StoreError::FutureRevision { requested, current } => {
                Status::too_large_resource_version(requested, current)
            }
            StoreError::TooLarge { size, limit, .. } => Status::too_large(format!(
                "object of {size} bytes exceeds the {limit}-byte limit"
            )),
            StoreError::InvalidContinue(reason) => {
                Status::bad_request(format!("invalid continue token: {reason}"))
            }
            StoreError::WatcherTooSlow { .. } => {
                Status::expired("watch fell behind; resume from the last resourceVersion")
            }
            StoreError::Unavailable(reason) => Status::unavailable(reason),
            StoreError::Corrupt { path, reason } => {
                Status::internal(format!("storage at {path} is unreadable: {reason}"))
            }
        }
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for Status {}
