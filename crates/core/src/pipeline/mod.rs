//! The request pipeline: the stages every front door runs, as free
//! functions over a [`Cx`] (the configuration, the limit rules, the host)
//! and a [`turn::Turn`] (the request's state, built once by its door).
//! [`run`] lists them top to bottom, as `docs/design.md` draws them:
//!
//! ```text
//! parse ─ expand ─ plan ─ admit ─ cache lookup ─┬─ attempt loop (continuation) ─ finish ─ settle
//!                                              ├─ hit ──────────────────────── finish ─ settle
//!                                              └─ hosted tools (turns) ─────── finish ─ settle
//! ```
//!
//! Each stage fails with a [`error::StageError`], which becomes the
//! client's answer in one place; a stage never builds an HTTP response.

pub(crate) mod admit;
pub(crate) mod attempt;
pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod expand;
pub(crate) mod finish;
pub(crate) mod hosted;
pub(crate) mod parse;
pub(crate) mod plan;
pub(crate) mod respond;
pub(crate) mod resume;
pub(crate) mod routing_store;
pub(crate) mod run;
pub(crate) mod stream;
pub(crate) mod turn;

use std::sync::Arc;

use crate::config::Config;
use crate::quota::Rules;

/// What every stage reads besides the turn: the configuration, the limit
/// rules compiled from it, and the host's capabilities.
pub(crate) struct Cx<'a, H> {
    /// The configuration (shared: a stream keeps it past the handler).
    pub config: &'a Arc<Config>,
    /// The limits and budgets that apply to whom.
    pub rules: &'a Rules,
    /// Time, randomness, upstream calls and storage.
    pub host: &'a H,
}
