//! People and their keys in the stack, shared by the api function (which checks signatures and answers the
//! access operations) and the approval function (whose console signs people in): principals in the store,
//! each key pair's secret in Secrets Manager.
//!
//! - The store's partition `ACCESS` holds `PRINCIPAL#<name>` (roles and groups) and `KEY#<access key id>`
//!   (whose key it is) items. A key pair belongs to a principal exactly when its `KEY#` item is there.
//! - Each key pair's secret is the Secrets Manager secret `<SLUICE_ACCESS_KEY_SECRET_PREFIX><access key id>`,
//!   holding `{"accessKeyId", "secretAccessKey", "principal"}`; template.yaml lets the api function create,
//!   read and delete secrets under that prefix only, and the approval function read them.
//! - The key pair in `SLUICE_API_KEYS_SECRET_ARN` (template.yaml's ApiKeysSecret) is named by no principal, so
//!   it is an admin on everything, as before principals.
//!
//! [`AccessCache`] reads all of it at most every `SLUICE_ACCESS_CACHE_SECONDS` (30 by default) per warm
//! function instance, and at once after this instance changed it: a key removed elsewhere stops working
//! within that time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde_json::{json, Value};
use sluice_runtime::ports::{
    Condition, Directory, Item, ItemStore, Order, Person, StoreError, Write,
};
use sluice_web::access::admin::{People, PeopleError};
use sluice_web::access::{Access, Grant, Principal, Role};
use sluice_web::sigv4::Keys;
use tokio::sync::Mutex;
use tracing::warn;

/// The partition people and keys are kept in.
pub const PARTITION: &str = "ACCESS";

/// How long a reading of people and keys is used, unless `SLUICE_ACCESS_CACHE_SECONDS` says otherwise.
pub const DEFAULT_CACHE_SECONDS: u64 = 30;

fn principal_sk(name: &str) -> String {
    format!("PRINCIPAL#{name}")
}

fn key_sk(id: &str) -> String {
    format!("KEY#{id}")
}

/// People and keys kept in the stack: the store and Secrets Manager.
#[derive(Clone)]
pub struct StackPeople {
    store: Arc<dyn ItemStore>,
    secrets: aws_sdk_secretsmanager::Client,
    prefix: String,
}

impl StackPeople {
    /// Over the store, with key pairs' secrets named `<prefix><access key id>`.
    pub fn new(store: Arc<dyn ItemStore>, sdk: &SdkConfig, prefix: &str) -> Self {
        Self {
            store,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            prefix: prefix.to_owned(),
        }
    }

    /// The secret name of a key pair.
    pub fn secret_name(&self, key_id: &str) -> String {
        format!("{}{key_id}", self.prefix)
    }

    async fn items(&self) -> Result<Vec<Item>, PeopleError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(PARTITION, "", Order::Ascending, 500, after.as_deref())
                .await
                .map_err(unavailable)?;
            let more = page.len() == 500;
            after = page.last().map(|i| i.sk.clone());
            all.extend(page);
            if !more {
                return Ok(all);
            }
        }
    }

    async fn principal_item(&self, name: &str) -> Result<Item, PeopleError> {
        self.store
            .get(PARTITION, &principal_sk(name))
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PeopleError::NotFound(format!("{name} is not a principal")))
    }

    async fn delete_secret(&self, key_id: &str) {
        let name = self.secret_name(key_id);
        if let Err(e) = self
            .secrets
            .delete_secret()
            .secret_id(&name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            // The key no longer belongs to anyone, so the secret is never read again; it only costs.
            warn!(secret = %name, error = %DisplayErrorContext(&e), "a removed key's secret was not deleted");
        }
    }

    /// A key pair's secret access key.
    pub async fn read_secret(&self, key_id: &str) -> Result<String, String> {
        let name = self.secret_name(key_id);
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| format!("secret {name}: {}", DisplayErrorContext(&e)))?;
        let text = out.secret_string().unwrap_or_default();
        pairs_of_secret(text)
            .map_err(|e| format!("secret {name}: {e}"))?
            .into_iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, secret)| secret)
            .ok_or_else(|| format!("secret {name} holds no secret for {key_id}"))
    }
}

fn unavailable(e: StoreError) -> PeopleError {
    match e {
        StoreError::ConditionFailed(m) => PeopleError::Conflict(format!(
            "changed by someone else meanwhile, try again ({m})"
        )),
        other => PeopleError::Unavailable(other.to_string()),
    }
}

/// Reads the principals and keys of the partition's items.
fn principals_of(items: &[Item]) -> Vec<Principal> {
    let mut principals: Vec<Principal> = items
        .iter()
        .filter_map(|item| {
            let name = item.sk.strip_prefix("PRINCIPAL#")?;
            let grants = item.data["grants"]
                .as_array()
                .map(|gs| {
                    gs.iter()
                        .filter_map(|g| {
                            Some(Grant {
                                pattern: g["pattern"].as_str()?.to_owned(),
                                role: Role::parse(g["role"].as_str()?).ok()?,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let groups = item.data["groups"]
                .as_array()
                .map(|gs| {
                    gs.iter()
                        .filter_map(|g| g.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Some(Principal {
                name: name.to_owned(),
                keys: Vec::new(),
                grants,
                groups,
            })
        })
        .collect();
    for item in items {
        let Some(id) = item.sk.strip_prefix("KEY#") else {
            continue;
        };
        let owner = item.data["principal"].as_str().unwrap_or_default();
        if let Some(p) = principals.iter_mut().find(|p| p.name == owner) {
            p.keys.push(id.to_owned());
        }
    }
    principals
}

fn principal_data(p: &Principal) -> Value {
    json!({
        "name": p.name,
        "grants": p.grants.iter().map(|g| json!({"pattern": g.pattern, "role": g.role.name()})).collect::<Vec<_>>(),
        "groups": p.groups,
    })
}

/// The stack's principals as approval links see them: whom an approver's group expands to, and a link's
/// approver's groups when it decides.
#[async_trait::async_trait]
impl Directory for StackPeople {
    async fn people(&self) -> Result<Vec<Person>, String> {
        let items = self.items().await.map_err(|e| e.to_string())?;
        Ok(principals_of(&items)
            .into_iter()
            .map(|p| Person {
                name: p.name,
                groups: p.groups,
            })
            .collect())
    }
}

impl People for StackPeople {
    async fn principals(&self) -> Result<Vec<Principal>, PeopleError> {
        Ok(principals_of(&self.items().await?))
    }

    async fn put_principal(&self, p: &Principal, create: bool) -> Result<(), PeopleError> {
        let (version, condition) = if create {
            (1, Condition::Absent)
        } else {
            let current = self.principal_item(&p.name).await?;
            (current.version + 1, Condition::Version(current.version))
        };
        let item = Item {
            pk: PARTITION.into(),
            sk: principal_sk(&p.name),
            version,
            data: principal_data(p),
            expires_at: None,
        };
        self.store
            .transact(vec![Write::Put(item, condition)])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed(_) if create => {
                    PeopleError::Conflict(format!("{} was added meanwhile", p.name))
                }
                other => unavailable(other),
            })
    }

    async fn delete_principal(&self, name: &str) -> Result<Vec<String>, PeopleError> {
        let current = self.principal_item(name).await?;
        let items = self.items().await?;
        let keys: Vec<&Item> = items
            .iter()
            .filter(|i| i.sk.starts_with("KEY#") && i.data["principal"] == name)
            .collect();
        // The principal and its keys' items at once: no moment where its keys belong to no one.
        let mut writes = vec![Write::Delete {
            pk: PARTITION.into(),
            sk: current.sk.clone(),
            condition: Condition::Version(current.version),
        }];
        writes.extend(keys.iter().map(|k| Write::Delete {
            pk: PARTITION.into(),
            sk: k.sk.clone(),
            condition: Condition::Version(k.version),
        }));
        self.store.transact(writes).await.map_err(unavailable)?;
        let ids: Vec<String> = keys
            .iter()
            .filter_map(|k| k.sk.strip_prefix("KEY#").map(str::to_owned))
            .collect();
        for id in &ids {
            self.delete_secret(id).await;
        }
        Ok(ids)
    }

    async fn add_key(&self, name: &str, key_id: &str, secret: &str) -> Result<(), PeopleError> {
        let current = self.principal_item(name).await?;
        let secret_name = self.secret_name(key_id);
        let value = json!({"accessKeyId": key_id, "secretAccessKey": secret, "principal": name});
        // The secret first: a key item whose secret is missing would not sign anything.
        self.secrets
            .create_secret()
            .name(&secret_name)
            .description(format!("Sluice access key {key_id} of {name}"))
            .secret_string(value.to_string())
            .send()
            .await
            .map_err(|e| {
                PeopleError::Unavailable(format!(
                    "cannot create secret {secret_name}: {}",
                    DisplayErrorContext(&e)
                ))
            })?;
        let key = Item {
            pk: PARTITION.into(),
            sk: key_sk(key_id),
            version: 1,
            data: json!({"principal": name, "secretName": secret_name}),
            expires_at: None,
        };
        // The principal is written back unchanged, on condition: its key is added only while it exists.
        let mut principal = current.clone();
        principal.version += 1;
        let written = self
            .store
            .transact(vec![
                Write::Put(key, Condition::Absent),
                Write::Put(principal, Condition::Version(current.version)),
            ])
            .await;
        if let Err(e) = written {
            self.delete_secret(key_id).await;
            return Err(unavailable(e));
        }
        Ok(())
    }

    async fn delete_key(&self, key_id: &str) -> Result<(), PeopleError> {
        let Some(item) = self
            .store
            .get(PARTITION, &key_sk(key_id))
            .await
            .map_err(unavailable)?
        else {
            return Err(PeopleError::NotFound(format!(
                "{key_id} is not an access key of a principal (the stack's own key pair, ApiKeysSecret, changes only by changing that secret)"
            )));
        };
        self.store
            .transact(vec![Write::Delete {
                pk: PARTITION.into(),
                sk: item.sk,
                condition: Condition::Version(item.version),
            }])
            .await
            .map_err(unavailable)?;
        self.delete_secret(key_id).await;
        Ok(())
    }
}

/// A secret's key pairs: `{"accessKeyId", "secretAccessKey"}` (what template.yaml generates, and what
/// [`StackPeople`] writes) or a keys file's lines.
pub fn pairs_of_secret(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let field = |f: &str| {
            value[f]
                .as_str()
                .filter(|s| !s.is_empty() && !s.chars().any(char::is_whitespace))
                .map(str::to_owned)
                .ok_or_else(|| format!("expected a non-empty {f} without spaces"))
        };
        return Ok(vec![(field("accessKeyId")?, field("secretAccessKey")?)]);
    }
    Keys::parse(text)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect())
}

/// Why people and keys could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("people and keys not readable: {0}")]
pub struct AccessError(pub String);

/// Everyone who may sign requests, read from the stack at most every `ttl`.
pub struct AccessCache {
    people: StackPeople,
    admin_secret_arn: String,
    ttl: Duration,
    current: Mutex<Option<(Instant, Arc<Access>)>>,
}

impl AccessCache {
    /// Principals of `people`, and the admin key pair in the secret `admin_secret_arn`.
    pub fn new(people: StackPeople, admin_secret_arn: &str, ttl: Duration) -> Self {
        Self {
            people,
            admin_secret_arn: admin_secret_arn.to_owned(),
            ttl,
            current: Mutex::new(None),
        }
    }

    /// Where people are kept.
    pub fn people(&self) -> &StackPeople {
        &self.people
    }

    /// The current reading (read again when older than the cache's time).
    pub async fn get(&self) -> Result<Arc<Access>, AccessError> {
        let mut current = self.current.lock().await;
        if let Some((at, access)) = current.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(access));
            }
        }
        let access = Arc::new(self.load().await?);
        *current = Some((Instant::now(), Arc::clone(&access)));
        Ok(access)
    }

    /// Forgets the reading: the next request reads again (after this instance changed people or keys).
    pub async fn forget(&self) {
        *self.current.lock().await = None;
    }

    async fn load(&self) -> Result<Access, AccessError> {
        let admin = self
            .people
            .secrets
            .get_secret_value()
            .secret_id(&self.admin_secret_arn)
            .send()
            .await
            .map_err(|e| {
                AccessError(format!(
                    "secret {}: {}",
                    self.admin_secret_arn,
                    DisplayErrorContext(&e)
                ))
            })?;
        let mut pairs = pairs_of_secret(admin.secret_string().unwrap_or_default())
            .map_err(|e| AccessError(format!("secret {}: {e}", self.admin_secret_arn)))?;
        let mut principals = self
            .people
            .principals()
            .await
            .map_err(|e| AccessError(e.to_string()))?;
        let mut reads = tokio::task::JoinSet::new();
        for id in principals.iter().flat_map(|p| p.keys.iter()) {
            let people = self.people.clone();
            let id = id.clone();
            reads.spawn(async move {
                let secret = people.read_secret(&id).await;
                (id, secret)
            });
        }
        let mut missing = Vec::new();
        while let Some(read) = reads.join_next().await {
            let (id, secret) = read.map_err(|e| AccessError(e.to_string()))?;
            match secret {
                Ok(secret) => pairs.push((id, secret)),
                Err(e) => {
                    // A key being created or removed right now: it signs nothing until both halves agree.
                    warn!(key = %id, error = %e, "an access key without a readable secret is left out");
                    missing.push(id);
                }
            }
        }
        for p in &mut principals {
            p.keys.retain(|k| !missing.contains(k));
        }
        let text: String = pairs.iter().map(|(id, s)| format!("{id} {s}\n")).collect();
        let keys = Keys::parse(&text).map_err(AccessError)?;
        Access::new(keys, principals).map_err(AccessError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_as_json_pairs_or_keys_file_lines() {
        assert_eq!(
            pairs_of_secret(r#"{"accessKeyId": "sluice-admin", "secretAccessKey": "s3cr3t"}"#),
            Ok(vec![("sluice-admin".into(), "s3cr3t".into())])
        );
        assert_eq!(
            pairs_of_secret("# two\nAK1 s1\n\nAK2 s2\n").map(|p| p.len()),
            Ok(2)
        );
        assert!(pairs_of_secret(r#"{"accessKeyId": "a"}"#)
            .expect_err("an error")
            .contains("secretAccessKey"));
        assert!(pairs_of_secret("AK1")
            .expect_err("an error")
            .contains("line 1"));
    }

    #[test]
    fn principals_are_assembled_from_their_items_and_their_keys_items() {
        let item = |sk: &str, data: Value| Item {
            pk: PARTITION.into(),
            sk: sk.into(),
            version: 1,
            data,
            expires_at: None,
        };
        let items = [
            item("KEY#AK1", json!({"principal": "vera"})),
            item("KEY#AK2", json!({"principal": "gone"})),
            item(
                "PRINCIPAL#vera",
                json!({"grants": [{"pattern": "*", "role": "viewer"}], "groups": ["qa"]}),
            ),
        ];
        let ps = principals_of(&items);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].keys, ["AK1"]);
        assert_eq!(ps[0].groups, ["qa"]);
        assert_eq!(ps[0].role_everywhere(), Some(Role::Viewer));
    }
}
