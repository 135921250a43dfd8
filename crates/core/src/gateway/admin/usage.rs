//! `GET /v1/admin/usage?key=|team=&from=&to=`: a key's or a team's
//! requests, tokens and cost over a time range, by model and by hour.

use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::usage::{self, MAX_RANGE_SECS};

use crate::gateway::admin::store_error;
use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::json_ok;

fn invalid(param: &str, message: &str) -> ApiError {
    RequestError::InvalidValue {
        param: param.into(),
        message: message.into(),
    }
    .into()
}

impl Gateway {
    pub(crate) async fn usage<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let now = unix_secs(host);
        let (mut key, mut team, mut from, mut to) = (None, None, None, None);
        let secs = |p: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| invalid(p, "must be a time in unix seconds"))
        };
        for (k, v) in req.query.split('&').filter_map(|p| p.split_once('=')) {
            match k {
                "key" => key = Some(v.to_owned()),
                "team" => team = Some(v.to_owned()),
                "from" => from = Some(secs(k, v)?),
                "to" => to = Some(secs(k, v)?),
                _ => {}
            }
        }
        let who = match (&key, &team) {
            (Some(k), None) if !k.is_empty() => format!("key:{k}"),
            (None, Some(t)) if !t.is_empty() => format!("team:{t}"),
            _ => {
                return Err(invalid(
                    "key",
                    "name exactly one of `key` (a key's id or a config key's name) and `team`",
                ))
            }
        };
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to.saturating_sub(86_400));
        if from >= to {
            return Err(invalid("from", "must be before `to`"));
        }
        if to - from > MAX_RANGE_SECS {
            return Err(invalid("to", "the range is at most 31 days"));
        }
        let mut v = usage::query(host, &who, from, to)
            .await
            .map_err(|e| store_error(&e))?;
        v["object"] = "usage".into();
        v["key"] = key.into();
        v["team"] = team.into();
        Ok(json_ok(v))
    }
}
