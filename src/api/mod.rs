//! Kinds as data: the descriptor of every served resource type, and the table of built-in
//! kinds. Discovery, OpenAPI, Table output, validation and RBAC resource names are all
//! derived from these descriptors; adding a kind is adding a descriptor.
//!
//! This module holds no behaviour that touches storage or HTTP (see `registry`, `http`).

pub mod builtin;
pub mod catalog;
pub mod crd;
pub mod gotype;
pub mod jsonpath;
pub mod kind;
pub mod list_semantics;
pub mod meta;
pub mod ocm;
pub mod openapi_schema;
pub mod schema;
pub mod status;
pub mod user;
pub mod yaml;

pub use catalog::Catalog;
pub use kind::{Convert, Kind, PrinterColumn, ScalePaths, Scope};
