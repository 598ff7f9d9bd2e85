//! Sluice's own API for people and their keys (`X-Amz-Target: SluiceAccess_20261206.<Operation>`, JSON 1.1
//! like CodePipeline's), answered the same by `sluice serve` (over the principals and keys files) and the api
//! function (over the store and Secrets Manager): each host implements [`People`], the small port below.
//!
//! Every operation needs admin on every pipeline (`*`). The operations:
//!
//! - `ListPrincipals {}` → `{"principals": [PRINCIPAL...]}`;
//! - `PutPrincipal {"name", "roles": [{"pattern", "role"}...], "groups": [...]}` → `{"principal", "created"}`:
//!   a new principal (at least one role), or new roles (when `roles` is not empty) and groups (when `groups`
//!   is not empty) for one; its keys stay;
//! - `DeletePrincipal {"name"}` → `{"principal"}`: the principal and its key pairs;
//! - `CreateAccessKey {"principalName"}` → `{"accessKey": {"accessKeyId", "secretAccessKey", "principalName"}}`
//!   (the only time the secret is answered);
//! - `DeleteAccessKey {"accessKeyId"}` → `{}`.
//!
//! A PRINCIPAL is `{"name", "roles": [{"pattern", "role"}], "groups": [...], "accessKeyIds": [...]}`.

use std::future::Future;

use serde_json::{json, Value};

use super::file::check_name;
use super::{Grant, Principal, Role};
use crate::codepipeline::{ApiError, ApiResponse};

/// The `X-Amz-Target` prefix of Sluice's access operations.
pub const TARGET_PREFIX: &str = "SluiceAccess_20261206.";

/// The operations, by name.
pub const OPERATIONS: [&str; 5] = [
    "ListPrincipals",
    "PutPrincipal",
    "DeletePrincipal",
    "CreateAccessKey",
    "DeleteAccessKey",
];

/// Why a [`People`] operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleError {
    /// The principal or key is not there.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be done as asked (e.g. it would leave no key pair at all).
    #[error("{0}")]
    Invalid(String),
    /// Someone else changed the same thing at the same time: try again.
    #[error("{0}")]
    Conflict(String),
    /// The files, the store or the secrets could not be read or written.
    #[error("{0}")]
    Unavailable(String),
}

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::NotFound(m) => ApiError::new("ResourceNotFoundException", m),
            PeopleError::Invalid(m) => ApiError::new("ValidationException", m),
            PeopleError::Conflict(m) => ApiError::new("ConflictException", m),
            PeopleError::Unavailable(m) => ApiError {
                kind: "ServiceUnavailableException",
                message: m,
                status: 503,
            },
        }
    }
}

/// Where principals and key pairs are kept: the port each host implements (the principals and keys files
/// locally; the store and Secrets Manager in AWS). Each method is one change, whole or not at all as far as
/// the host can make it so.
pub trait People: Send + Sync {
    /// Every principal, with its key ids.
    fn principals(&self) -> impl Future<Output = Result<Vec<Principal>, PeopleError>> + Send;

    /// Writes a principal's roles and groups: a new one when `create` (refused with
    /// [`PeopleError::Conflict`] if it exists), else an existing one (its keys kept; [`PeopleError::NotFound`]
    /// if it is gone).
    fn put_principal(
        &self,
        principal: &Principal,
        create: bool,
    ) -> impl Future<Output = Result<(), PeopleError>> + Send;

    /// Removes a principal and its key pairs (the keys first: a key left without its principal would be an
    /// admin's); answers the key ids removed.
    fn delete_principal(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, PeopleError>> + Send;

    /// Keeps a new key pair of the principal `name` (the secret first: a key id without its secret does
    /// not load).
    fn add_key(
        &self,
        name: &str,
        key_id: &str,
        secret: &str,
    ) -> impl Future<Output = Result<(), PeopleError>> + Send;

    /// Removes a key pair.
    fn delete_key(&self, key_id: &str) -> impl Future<Output = Result<(), PeopleError>> + Send;
}

/// Whether `target` is one of Sluice's access operations (so a transport routes it to [`handle`]).
pub fn is_access_target(target: &str) -> bool {
    target.starts_with(TARGET_PREFIX)
}

/// Whether a successful answer to `target` changed who may sign in (so a host's cached [`super::Access`]
/// is out of date).
pub fn changes_access(target: &str) -> bool {
    target
        .strip_prefix(TARGET_PREFIX)
        .is_some_and(|op| op != "ListPrincipals")
}

/// Answers one access operation on behalf of `principal`, who must be admin on `*`.
pub async fn handle<P: People>(
    people: &P,
    target: &str,
    body: &[u8],
    principal: &Principal,
) -> ApiResponse {
    match answer(people, target, body, principal).await {
        Ok(body) => ApiResponse { status: 200, body },
        Err(e) => e.response(),
    }
}

async fn answer<P: People>(
    people: &P,
    target: &str,
    body: &[u8],
    principal: &Principal,
) -> Result<Value, ApiError> {
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .filter(|op| OPERATIONS.contains(op))
        .ok_or_else(|| {
            ApiError::new(
                "UnknownOperationException",
                format!(
                    "unknown operation {target}: Sluice's access operations are {TARGET_PREFIX}{}",
                    OPERATIONS.join(", ")
                ),
            )
        })?;
    if principal.role_everywhere() != Some(Role::Admin) {
        return Err(ApiError::new(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: sluice:{operation} (people and keys need admin on every pipeline, `*`)",
                principal.name
            ),
        ));
    }
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::new("SerializationException", format!("the body: {e}")))?
    };
    if !request.is_object() {
        return Err(ApiError::new(
            "SerializationException",
            "the body must be a JSON object",
        ));
    }
    match operation {
        "ListPrincipals" => {
            let mut all = people.principals().await?;
            all.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(json!({"principals": all.iter().map(describe).collect::<Vec<_>>()}))
        }
        "PutPrincipal" => put_principal(people, &request).await,
        "DeletePrincipal" => {
            let name = string(&request, "name")?;
            let found = find(people, name).await?;
            let keys = people.delete_principal(name).await?;
            let mut gone = describe(&found);
            gone["accessKeyIds"] = json!(keys);
            Ok(json!({"principal": gone}))
        }
        "CreateAccessKey" => {
            let name = string(&request, "principalName")?;
            find(people, name).await?;
            let (id, secret) = new_pair().map_err(PeopleError::Unavailable)?;
            people.add_key(name, &id, &secret).await?;
            Ok(json!({"accessKey": {
                "accessKeyId": id,
                "secretAccessKey": secret,
                "principalName": name,
            }}))
        }
        _ => {
            let id = string(&request, "accessKeyId")?;
            people.delete_key(id).await?;
            Ok(json!({}))
        }
    }
}

async fn put_principal<P: People>(people: &P, request: &Value) -> Result<Value, ApiError> {
    let name = string(request, "name")?;
    check_name(name).map_err(|e| ApiError::new("ValidationException", format!("name: {e}")))?;
    let grants = grants(request)?;
    let groups = match request.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let g = g
                    .as_str()
                    .ok_or_else(|| invalid(format!("groups[{i}] must be a string")))?;
                check_name(g).map_err(|e| {
                    invalid(format!(
                        "groups[{i}]: {}",
                        e.replace("principal name", "group name")
                    ))
                })?;
                Ok(g.to_owned())
            })
            .collect::<Result<Vec<_>, ApiError>>()?,
        Some(_) => return Err(invalid("groups must be a list of group names")),
    };
    let existing = people
        .principals()
        .await?
        .into_iter()
        .find(|p| p.name == name);
    let created = existing.is_none();
    let principal = match existing {
        Some(mut p) => {
            if grants.is_empty() && groups.is_empty() {
                return Err(invalid(format!(
                    "{name} is already a principal: give roles (or groups) to replace its own"
                )));
            }
            if !grants.is_empty() {
                p.grants = grants;
            }
            if !groups.is_empty() {
                p.groups = groups;
            }
            p
        }
        None => {
            if grants.is_empty() {
                return Err(invalid(format!(
                    "{name} is not a principal yet: give it at least one role (roles: [{{\"pattern\": \"*\", \"role\": \"viewer\"}}])"
                )));
            }
            Principal {
                name: name.to_owned(),
                keys: Vec::new(),
                grants,
                groups,
            }
        }
    };
    people.put_principal(&principal, created).await?;
    Ok(json!({"principal": describe(&principal), "created": created}))
}

fn grants(request: &Value) -> Result<Vec<Grant>, ApiError> {
    let items = match request.get("roles") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("roles must be a list of {\"pattern\", \"role\"}")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |f: &str| {
                item.get(f)
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("roles[{i}].{f} must be a string")))
            };
            let pattern = field("pattern")?;
            super::check_pattern(pattern)
                .map_err(|e| invalid(format!("roles[{i}].pattern: {e}")))?;
            let role = Role::parse(field("role")?)
                .map_err(|e| invalid(format!("roles[{i}].role: {e}")))?;
            Ok(Grant {
                pattern: pattern.to_owned(),
                role,
            })
        })
        .collect()
}

async fn find<P: People>(people: &P, name: &str) -> Result<Principal, ApiError> {
    people
        .principals()
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("{name} is not a principal; add it first (PutPrincipal, or `sluice principals add {name} --role PATTERN=ROLE`)"),
            )
        })
}

fn string<'a>(request: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    request
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("{field} is required (a non-empty string)")))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("ValidationException", message)
}

/// A principal as the operations answer it.
pub fn describe(p: &Principal) -> Value {
    json!({
        "name": p.name,
        "roles": p.grants.iter().map(|g| json!({"pattern": g.pattern, "role": g.role.name()})).collect::<Vec<_>>(),
        "groups": p.groups,
        "accessKeyIds": p.keys,
    })
}

/// A random key pair: `SLK` and 17 upper-case letters and digits; a 40-character secret.
pub fn new_pair() -> Result<(String, String), String> {
    const ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = [0u8; 57];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let id: String = bytes[..17]
        .iter()
        .map(|b| ID[usize::from(*b) % ID.len()] as char)
        .collect();
    let secret: String = bytes[17..]
        .iter()
        .map(|b| SECRET[usize::from(*b) % SECRET.len()] as char)
        .collect();
    Ok((format!("SLK{id}"), secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// People in memory: a real implementation of the port, for the rules above it.
    #[derive(Default)]
    struct Memory(Mutex<Vec<Principal>>);

    impl People for Memory {
        async fn principals(&self) -> Result<Vec<Principal>, PeopleError> {
            Ok(self.0.lock().expect("test value").clone())
        }
        async fn put_principal(&self, p: &Principal, create: bool) -> Result<(), PeopleError> {
            let mut all = self.0.lock().expect("test value");
            match (all.iter_mut().find(|q| q.name == p.name), create) {
                (Some(_), true) => Err(PeopleError::Conflict("exists".into())),
                (Some(q), false) => {
                    q.grants = p.grants.clone();
                    q.groups = p.groups.clone();
                    Ok(())
                }
                (None, true) => {
                    all.push(p.clone());
                    Ok(())
                }
                (None, false) => Err(PeopleError::NotFound("gone".into())),
            }
        }
        async fn delete_principal(&self, name: &str) -> Result<Vec<String>, PeopleError> {
            let mut all = self.0.lock().expect("test value");
            let at = all
                .iter()
                .position(|p| p.name == name)
                .ok_or_else(|| PeopleError::NotFound(name.into()))?;
            Ok(all.remove(at).keys)
        }
        async fn add_key(&self, name: &str, id: &str, _: &str) -> Result<(), PeopleError> {
            let mut all = self.0.lock().expect("test value");
            let p = all
                .iter_mut()
                .find(|p| p.name == name)
                .ok_or_else(|| PeopleError::NotFound(name.into()))?;
            p.keys.push(id.into());
            Ok(())
        }
        async fn delete_key(&self, id: &str) -> Result<(), PeopleError> {
            let mut all = self.0.lock().expect("test value");
            let p = all
                .iter_mut()
                .find(|p| p.keys.iter().any(|k| k == id))
                .ok_or_else(|| PeopleError::NotFound(id.into()))?;
            p.keys.retain(|k| k != id);
            Ok(())
        }
    }

    fn call(people: &Memory, who: &Principal, op: &str, body: Value) -> ApiResponse {
        let target = format!("{TARGET_PREFIX}{op}");
        let body = body.to_string();
        futures_lite(handle(people, &target, body.as_bytes(), who))
    }

    /// Runs a future that never waits (the memory port never does).
    fn futures_lite<F: Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the memory port never waits"),
        }
    }

    #[test]
    fn an_admin_adds_people_and_keys_and_others_are_refused() {
        let people = Memory::default();
        let admin = Principal::admin("root");
        let put = call(
            &people,
            &admin,
            "PutPrincipal",
            json!({"name": "vera", "roles": [{"pattern": "*", "role": "viewer"}]}),
        );
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.body["created"], true);
        let key = call(
            &people,
            &admin,
            "CreateAccessKey",
            json!({"principalName": "vera"}),
        );
        assert_eq!(key.status, 200, "{}", key.body);
        let id = key.body["accessKey"]["accessKeyId"]
            .as_str()
            .expect("test value")
            .to_owned();
        assert!(id.starts_with("SLK") && id.len() == 20, "{id}");
        assert_eq!(
            key.body["accessKey"]["secretAccessKey"]
                .as_str()
                .expect("test value")
                .len(),
            40
        );
        let listed = call(&people, &admin, "ListPrincipals", json!({}));
        assert_eq!(listed.body["principals"][0]["accessKeyIds"], json!([id]));

        let vera = people.0.lock().expect("test value")[0].clone();
        let refused = call(&people, &vera, "ListPrincipals", json!({}));
        assert_eq!(refused.status, 400);
        assert_eq!(
            refused.body["__type"], "AccessDeniedException",
            "{}",
            refused.body
        );

        let gone = call(&people, &admin, "DeletePrincipal", json!({"name": "vera"}));
        assert_eq!(
            gone.body["principal"]["accessKeyIds"],
            json!([id]),
            "{}",
            gone.body
        );
        assert!(people.0.lock().expect("test value").is_empty());
    }

    #[test]
    fn bad_requests_name_the_field_at_fault() {
        let people = Memory::default();
        let admin = Principal::admin("root");
        for (body, says) in [
            (json!({"name": "ann"}), "at least one role"),
            (
                json!({"name": "a b", "roles": []}),
                "name: principal name `a b`",
            ),
            (
                json!({"name": "ann", "roles": [{"pattern": "*", "role": "owner"}]}),
                "roles[0].role: unknown role `owner`",
            ),
            (
                json!({"name": "ann", "roles": [{"pattern": "a/b", "role": "admin"}]}),
                "roles[0].pattern",
            ),
            (
                json!({"name": "ann", "roles": [{"pattern": "*"}]}),
                "roles[0].role must be a string",
            ),
            (
                json!({"name": "ann", "roles": [{"pattern": "*", "role": "viewer"}], "groups": ["q a"]}),
                "groups[0]: group name",
            ),
            (json!({}), "name is required"),
        ] {
            let r = call(&people, &admin, "PutPrincipal", body.clone());
            assert_eq!(r.status, 400, "{body}");
            assert!(
                r.body["message"]
                    .as_str()
                    .expect("test value")
                    .contains(says),
                "{body}: {}",
                r.body
            );
        }
        let r = call(
            &people,
            &admin,
            "CreateAccessKey",
            json!({"principalName": "nobody"}),
        );
        assert_eq!(r.body["__type"], "ResourceNotFoundException");
        assert!(r.body["message"]
            .as_str()
            .expect("test value")
            .contains("nobody is not a principal"));
        let r = call(&people, &admin, "Nonsense", json!({}));
        assert_eq!(r.body["__type"], "UnknownOperationException");
    }

    #[test]
    fn putting_a_principal_again_replaces_only_what_is_given() {
        let people = Memory::default();
        let admin = Principal::admin("root");
        call(
            &people,
            &admin,
            "PutPrincipal",
            json!({"name": "rel", "roles": [{"pattern": "*", "role": "viewer"}], "groups": ["qa"]}),
        );
        let r = call(
            &people,
            &admin,
            "PutPrincipal",
            json!({"name": "rel", "roles": [{"pattern": "release-*", "role": "operator"}]}),
        );
        assert_eq!(r.body["created"], false, "{}", r.body);
        assert_eq!(r.body["principal"]["groups"], json!(["qa"]));
        assert_eq!(
            r.body["principal"]["roles"],
            json!([{"pattern": "release-*", "role": "operator"}])
        );
        let r = call(&people, &admin, "PutPrincipal", json!({"name": "rel"}));
        assert!(
            r.body["message"]
                .as_str()
                .expect("test value")
                .contains("already a principal"),
            "{}",
            r.body
        );
    }
}
