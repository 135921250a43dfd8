//! Stored responses and `previous_response_id`.
//!
//! Each stored response keeps its own turn (the new input items and the
//! output), the ids of the responses before it, who created it, and when
//! it expires: storage grows linearly with a conversation (see
//! `stored.rs` for the reads a continuation costs). Per the spec the
//! context of a continuation is `previous.input` + `previous.output` +
//! `input`, in that order, where `previous.input` is itself the whole
//! chain before it; it works across providers: items are kept in the
//! spec's own form.

use serde::{Deserialize, Serialize};

use crate::ids::IdGen;
use crate::types::{Input, Item, Message, MessageContent, ResponseResource, Role};

/// What is stored for one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// The response as the client saw it.
    pub response: ResponseResource,
    /// This turn's new input items, every item with an id. (Records
    /// written before chains held the whole input here, with no
    /// ancestors: they read the same.)
    pub input: Vec<Item>,
    /// The response this one continues.
    #[serde(default)]
    pub parent: Option<String>,
    /// Every response before this one, oldest first.
    #[serde(default)]
    pub ancestors: Vec<String>,
    /// The configured provider that answered.
    pub provider: String,
    /// The principal that created it; only it may read or continue it.
    pub owner: String,
    /// Unix seconds after which it must not be served.
    pub expires_at: u64,
}

/// The store key of a response: `latticelm:response:<owner tag>:<id>`.
/// The owner tag (a digest of the principal) groups a principal's
/// responses, so that a bounded store can evict fairly between them.
pub fn key(owner: &str, id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(owner.as_bytes());
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("latticelm:response:{tag}:{id}")
}

/// The key of a response stored before keys carried their owner.
pub fn legacy_key(id: &str) -> String {
    format!("latticelm:response:{id}")
}

/// A request's `input` as items (a string is one user message).
pub fn input_items(input: Option<&Input>) -> Vec<Item> {
    match input {
        None => Vec::new(),
        Some(Input::Items(items)) => items.clone(),
        Some(Input::Text(t)) => vec![Item::Message(Message {
            id: None,
            status: None,
            role: Role::User,
            content: MessageContent::Text(t.clone()),
            phase: None,
            extra: Default::default(),
        })],
    }
}

/// The context of a continuation of `chain` (oldest first): each
/// response's input and output in turn, then the new input.
pub fn expand(chain: &[StoredResponse], input: Option<&Input>) -> Vec<Item> {
    let mut items = chain_items(chain);
    if let Some(last) = chain.last() {
        items.extend(last.response.output.iter().cloned());
    }
    items.extend(input_items(input));
    items
}

/// The full input of the last response of `chain`: every earlier turn's
/// input and output, then its own input.
pub fn chain_items(chain: &[StoredResponse]) -> Vec<Item> {
    let mut items = Vec::new();
    for (i, r) in chain.iter().enumerate() {
        items.extend(r.input.iter().cloned());
        if i + 1 < chain.len() {
            items.extend(r.response.output.iter().cloned());
        }
    }
    items
}

/// Gives every item without an id one (`msg_`, `fc_`, …), as the
/// `input_items` listing needs.
pub fn assign_ids(items: &mut [Item], ids: &mut IdGen) {
    for item in items.iter_mut() {
        let prefix = match item {
            Item::Message(m) if m.id.is_none() => "msg_",
            Item::FunctionCall(f) if f.id.is_none() => "fc_",
            Item::FunctionCallOutput(f) if f.id.is_none() => "fco_",
            Item::Reasoning(r) if r.id.is_none() => "rs_",
            _ => continue,
        };
        let id = Some(ids.next(prefix));
        match item {
            Item::Message(m) => m.id = id,
            Item::FunctionCall(f) => f.id = id,
            Item::FunctionCallOutput(f) => f.id = id,
            Item::Reasoning(r) => r.id = id,
            _ => {}
        }
    }
}

/// A page of `GET /v1/responses/{id}/input_items`: `order` is `desc`
/// (default, newest first) or `asc`; `after` is an item id; `limit` is
/// 1–100 (default 20).
pub fn input_items_page(
    items: &[Item],
    query: &str,
) -> Result<serde_json::Value, crate::RequestError> {
    let mut order_desc = true;
    let mut limit = 20usize;
    let mut after: Option<String> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let invalid = |m: &str| crate::RequestError::InvalidValue {
            param: k.to_owned(),
            message: m.to_owned(),
        };
        match k {
            "order" if v == "asc" => order_desc = false,
            "order" if v == "desc" => order_desc = true,
            "order" => return Err(invalid("must be `asc` or `desc`")),
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| invalid("must be between 1 and 100"))?
            }
            "after" => after = Some(v.to_owned()),
            _ => {} // `include` and the like change nothing here
        }
    }
    let mut ordered: Vec<&Item> = items.iter().collect();
    if order_desc {
        ordered.reverse();
    }
    let start = match &after {
        Some(id) => ordered
            .iter()
            .position(|i| i.id() == Some(id.as_str()))
            .map(|p| p + 1)
            .ok_or_else(|| crate::RequestError::InvalidValue {
                param: "after".into(),
                message: format!("no input item `{id}`"),
            })?,
        None => 0,
    };
    let page: Vec<&Item> = ordered.iter().skip(start).take(limit).copied().collect();
    Ok(serde_json::json!({
        "object": "list",
        "data": page,
        "first_id": page.first().and_then(|i| i.id()),
        "last_id": page.last().and_then(|i| i.id()),
        "has_more": start + page.len() < ordered.len(),
    }))
}

#[cfg(test)]
mod tests;
