//! The request pipeline: the stages every door runs, top to bottom in
//! [`run`].

pub(crate) mod admit;
pub(crate) mod attempt;
pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod plan;
pub(crate) mod respond;
pub(crate) mod resume;
pub(crate) mod routing_store;
pub(crate) mod run;
pub(crate) mod stream;
