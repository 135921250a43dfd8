//! The stored-response routes: `GET` and `DELETE /v1/responses/{id}`,
//! and `GET /v1/responses/{id}/input_items`. A response belongs to its
//! principal; anyone else gets 404.

use crate::auth::Principal;
use crate::conversation;
use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::stored;

use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::json_ok;
use crate::pipeline::respond::json_ok_bytes;

impl Gateway {
    async fn find<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        id: &str,
    ) -> Result<conversation::StoredResponse, ApiError> {
        stored::load(host, id, &principal.id, unix_secs(host))
            .await?
            .ok_or_else(|| {
                RequestError::NotFound {
                    what: "response",
                    id: id.to_owned(),
                    param: None,
                    code: "not_found",
                }
                .into()
            })
    }

    pub(crate) async fn get_response<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let found = self.find(host, principal, id).await?;
        Ok(json_ok_bytes(
            serde_json::to_vec(&found.response).unwrap_or_default(),
        ))
    }

    pub(crate) async fn delete_response<H: Host>(
        &self,
        host: &H,
        principal: &Principal,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        self.find(host, principal, id).await?;
        host.kv_delete(&conversation::key(&principal.id, id))
            .await
            .map_err(|e| stored::unavailable(&e))?;
        // Written before keys carried their owner.
        let _ = host.kv_delete(&conversation::legacy_key(id)).await;
        Ok(json_ok(
            serde_json::json!({"id": id, "object": "response", "deleted": true}),
        ))
    }

    pub(crate) async fn input_items<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let now = unix_secs(host);
        let conversations = &self.config.conversations;
        let Some(chain) = stored::load_chain(host, id, &principal.id, now, conversations).await?
        else {
            return Err(RequestError::NotFound {
                what: "response",
                id: id.to_owned(),
                param: None,
                code: "not_found",
            }
            .into());
        };
        Ok(json_ok(conversation::input_items_page(
            &conversation::chain_items(&chain),
            &req.query,
        )?))
    }
}
