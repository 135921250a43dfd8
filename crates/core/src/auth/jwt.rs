//! JWT verification with jwt-compact: the algorithm from an allow-list,
//! the key from the JWKS by `kid`, then `iss`, `aud`, `exp` and `nbf`.

use chrono::{DateTime, Utc};
use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, TimeOptions, Token, UntrustedToken, ValidationError};
use serde::Deserialize;
use serde_json::Value;

use super::{AuthConfig, AuthError, Principal};

/// Why a token failed; `UnknownKey` triggers a JWKS refetch.
pub(super) enum Failure {
    UnknownKey,
    Auth(AuthError),
}

impl Failure {
    pub(super) fn into_auth(self) -> AuthError {
        match self {
            Failure::UnknownKey => {
                AuthError::BadToken("no key of the issuer matches the token's `kid`".into())
            }
            Failure::Auth(e) => e,
        }
    }
}

fn bad(m: impl Into<String>) -> Failure {
    Failure::Auth(AuthError::BadToken(m.into()))
}

/// Three base64url segments: the shape of a JWS compact token.
pub(super) fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[derive(Debug, Deserialize)]
struct Custom {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<AudClaim>,
    /// Every other claim (the team claim is one).
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AudClaim {
    One(String),
    Many(Vec<String>),
}

/// Does this JWK fit the algorithm (and `kid`, when both have one)?
fn fits(jwk: &Value, alg: &str, kid: Option<&str>) -> bool {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    if let (Some(want), Some(have)) = (kid, s("kid")) {
        if want != have {
            return false;
        }
    }
    if s("use").is_some_and(|u| u != "sig") || s("alg").is_some_and(|a| a != alg) {
        return false;
    }
    match alg {
        "RS256" => s("kty") == Some("RSA"),
        "ES256" => s("kty") == Some("EC") && s("crv") == Some("P-256"),
        "EdDSA" => s("kty") == Some("OKP") && s("crv") == Some("Ed25519"),
        _ => false,
    }
}

fn check_signature(
    token: &UntrustedToken<'_>,
    alg: &str,
    jwk: &Value,
) -> Result<Token<Custom>, ValidationError> {
    let parse = |_| ValidationError::InvalidSignature;
    let jwk: JsonWebKey<'_> = serde_json::from_value(jwk.clone()).map_err(parse)?;
    match alg {
        "RS256" => {
            let key =
                RsaPublicKey::try_from(&jwk).map_err(|_| ValidationError::InvalidSignature)?;
            Rsa::rs256().validator::<Custom>(&key).validate(token)
        }
        "ES256" => {
            let key = p256::ecdsa::VerifyingKey::try_from(&jwk)
                .map_err(|_| ValidationError::InvalidSignature)?;
            Es256.validator::<Custom>(&key).validate(token)
        }
        _ => {
            let key = ed25519_dalek::VerifyingKey::try_from(&jwk)
                .map_err(|_| ValidationError::InvalidSignature)?;
            Ed25519.validator::<Custom>(&key).validate(token)
        }
    }
}

/// Verifies `token` against the issuer's keys and the configuration.
pub(super) fn verify(
    token: &str,
    keys: &[Value],
    config: &AuthConfig,
    now: u64,
) -> Result<Principal, Failure> {
    let untrusted = UntrustedToken::new(token).map_err(|e| bad(format!("malformed: {e}")))?;
    let alg = untrusted.algorithm().to_owned();
    // Only the configured asymmetric algorithms: this refuses `none` and
    // every HMAC algorithm, so a public key can never serve as a secret.
    if !config.algorithms.contains(&alg) {
        return Err(bad(format!("algorithm `{alg}` is not accepted")));
    }
    let kid = untrusted.header().key_id.as_deref();
    let candidates: Vec<&Value> = keys.iter().filter(|k| fits(k, &alg, kid)).collect();
    if candidates.is_empty() {
        return Err(Failure::UnknownKey);
    }
    let verified = candidates
        .iter()
        .find_map(|k| check_signature(&untrusted, &alg, k).ok());
    let Some(token) = verified else {
        return Err(bad("the signature does not verify"));
    };
    let claims: &Claims<Custom> = token.claims();
    let clock = DateTime::<Utc>::from_timestamp(now as i64, 0).unwrap_or_default();
    let leeway = chrono::Duration::from_std(config.leeway).unwrap_or_default();
    let time = TimeOptions::new(leeway, move || clock);
    claims.validate_expiration(&time).map_err(|e| match e {
        ValidationError::Expired => Failure::Auth(AuthError::Expired),
        _ => bad("no `exp` claim"),
    })?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&time)
            .map_err(|_| Failure::Auth(AuthError::NotYetValid))?;
    }
    let c = &claims.custom;
    let issuer = config.issuer.as_deref().unwrap_or_default();
    if c.iss.as_deref() != Some(issuer) {
        return Err(bad("the issuer is not accepted"));
    }
    if let Some(accepted) = &config.audience {
        let accepted = accepted.values();
        let ok = match &c.aud {
            Some(AudClaim::One(a)) => accepted.contains(&a.as_str()),
            Some(AudClaim::Many(v)) => v.iter().any(|a| accepted.contains(&a.as_str())),
            None => false,
        };
        if !ok {
            return Err(bad("the audience is not accepted"));
        }
    }
    let sub = c.sub.as_deref().ok_or_else(|| bad("no `sub` claim"))?;
    let team = config
        .team_claim
        .as_deref()
        .and_then(|claim| c.rest.get(claim))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    // The admin claim: the value itself, or a list holding it.
    let admin = config
        .admin_claim
        .as_ref()
        .is_some_and(|want| match c.rest.get(&want.name) {
            Some(Value::String(s)) => *s == want.value,
            Some(Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(&want.value)),
            _ => false,
        });
    Ok(Principal {
        id: format!("oidc:{issuer}#{sub}"),
        models: None,
        passthrough: Vec::new(),
        team,
        admin,
        allowance: None,
        team_allowance: None,
        team_generation: 0,
        mcp: None,
    })
}
