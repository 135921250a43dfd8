//! `ConversationStore`: one Durable Object per stored response. Strongly
//! consistent, so a continuation sent right after a response always finds
//! it. An alarm deletes the value when its TTL runs out, and reads check
//! the expiry too, in case the alarm has not fired yet.

use std::time::Duration;

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

#[durable_object]
pub struct ConversationStore {
    state: State,
}

const VALUE: &str = "value";
const EXPIRES: &str = "expires_ms";

impl DurableObject for ConversationStore {
    fn new(state: State, _env: Env) -> Self {
        ConversationStore { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let now = worker::Date::now().as_millis();
        match req.method() {
            Method::Get => {
                let expires: Option<u64> = storage.get(EXPIRES).await?;
                let value: Option<String> = storage.get(VALUE).await?;
                match (value, expires) {
                    (Some(v), Some(exp)) if exp > now => Response::from_bytes(v.into_bytes()),
                    _ => Ok(Response::empty()?.with_status(404)),
                }
            }
            Method::Put => {
                let ttl_ms = ttl_ms(&req)?;
                let bytes = req.bytes().await?;
                // The gateway stores JSON: UTF-8 by construction.
                let text = String::from_utf8(bytes)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                storage.put(VALUE, text).await?;
                storage.put(EXPIRES, now + ttl_ms).await?;
                storage.set_alarm(Duration::from_millis(ttl_ms)).await?;
                Ok(Response::empty()?.with_status(204))
            }
            // A compare-and-set (`Host::record_swap`): the body is
            // `swap_body`'s. The object runs one request's storage calls
            // without interleaving another's (its input gate), so the
            // read and the write are one step.
            Method::Post => {
                let ttl_ms = ttl_ms(&req)?;
                let bytes = req.bytes().await?;
                let Some((expected, value)) = parse_swap(&bytes) else {
                    return Ok(Response::empty()?.with_status(400));
                };
                let expires: Option<u64> = storage.get(EXPIRES).await?;
                let current: Option<String> = storage.get(VALUE).await?;
                let current = current.filter(|_| expires.is_some_and(|e| e > now));
                if current.as_deref().map(str::as_bytes) != expected {
                    return Ok(Response::empty()?.with_status(412));
                }
                let text = String::from_utf8(value.to_vec())
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                storage.put(VALUE, text).await?;
                storage.put(EXPIRES, now + ttl_ms).await?;
                storage.set_alarm(Duration::from_millis(ttl_ms)).await?;
                Ok(Response::empty()?.with_status(204))
            }
            Method::Delete => {
                storage.delete_all().await?;
                let _ = storage.delete_alarm().await;
                Ok(Response::empty()?.with_status(204))
            }
            _ => Ok(Response::empty()?.with_status(405)),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}

/// The value's time to live (`x-ttl-ms`; an hour when absent).
fn ttl_ms(req: &Request) -> Result<u64> {
    Ok(req
        .headers()
        .get("x-ttl-ms")?
        .and_then(|t| t.parse().ok())
        .unwrap_or(3_600_000))
}

/// A compare-and-set's body: `1` and the expected value's length (8
/// bytes, big-endian) then that value, or `0` when none is expected;
/// then the new value.
pub fn swap_body(expected: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(9 + expected.map_or(0, <[u8]>::len) + value.len());
    match expected {
        Some(e) => {
            body.push(1);
            body.extend_from_slice(&(e.len() as u64).to_be_bytes());
            body.extend_from_slice(e);
        }
        None => body.push(0),
    }
    body.extend_from_slice(value);
    body
}

/// The expected value and the new one of a [`swap_body`].
fn parse_swap(body: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    match body.split_first()? {
        (0, value) => Some((None, value)),
        (1, rest) => {
            let len = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let len = usize::try_from(len).ok()?;
            let expected = rest.get(8..8usize.checked_add(len)?)?;
            Some((Some(expected), rest.get(8 + len..)?))
        }
        _ => None,
    }
}
