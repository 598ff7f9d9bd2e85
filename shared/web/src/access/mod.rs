//! Who may do what: named principals, each with access keys and a role per pipeline pattern, checked before
//! an API operation runs (for the API and the console alike, which calls the API as the signed-in person).
//!
//! Roles, each including the one before: **viewer** reads pipelines, executions, states and logs;
//! **operator** also starts, stops, retries, rolls back, approves or rejects, and turns transitions off and on;
//! **admin** also creates, updates and deletes pipelines, tags, webhooks, custom action types and people.
//! A role is granted per pipeline pattern (`*` any run of characters: `release-*`, `*`); a principal's role for
//! a pipeline is the highest its patterns grant there. Operations that concern no one pipeline (job workers,
//! custom action types, people) need the role granted on `*`; listing pipelines answers only those the
//! principal may view.
//!
//! An access key the principals do not name is an admin on everything, named by its key id: a keys file from
//! before principals keeps working. [`file`] reads and writes the principals file.

pub mod admin;
pub mod file;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sigv4::Keys;

/// What a principal may do with a pipeline, each role including the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and steers executions: start, stop, retry, roll back, approve, transitions.
    Operator,
    /// Everything: pipelines, tags, webhooks, action types, people and keys.
    Admin,
}

impl Role {
    /// The role named `viewer`, `operator` or `admin`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role `{other}`: expected viewer, operator or admin"
            )),
        }
    }

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role on the pipelines a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Pipeline names, `*` standing for any run of characters.
    pub pattern: String,
    /// The role there.
    pub role: Role,
}

impl Grant {
    /// Reads `PATTERN=ROLE` (e.g. `release-*=operator`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (pattern, role) = text
            .rsplit_once('=')
            .ok_or_else(|| format!("`{text}`: expected PATTERN=ROLE, e.g. 'release-*=operator'"))?;
        check_pattern(pattern.trim())?;
        Ok(Self {
            pattern: pattern.trim().to_owned(),
            role: Role::parse(role.trim()).map_err(|e| format!("`{text}`: {e}"))?,
        })
    }
}

/// Whether a pattern can match pipeline names: pipeline name characters (`A-Za-z0-9.@-_`) and `*`.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a pipeline pattern must not be empty (`*` is every pipeline)".into());
    }
    match pattern
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_' | '*')))
    {
        Some(c) => Err(format!(
            "pipeline pattern `{pattern}` has `{c}`, which no pipeline name has (names are A-Za-z0-9.@-_; `*` matches any run)"
        )),
        None => Ok(()),
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters (none included).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Classic wildcard matching with one backtrack point: linear in practice.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A named person or machine, with its access keys and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who changes are recorded as.
    pub name: String,
    /// Its access key ids (the secrets are kept apart: the keys file, or Secrets Manager).
    pub keys: Vec<String>,
    /// Its roles, by pipeline pattern.
    pub grants: Vec<Grant>,
    /// The groups it belongs to (approval rules may name groups).
    pub groups: Vec<String>,
}

impl Principal {
    /// An admin on every pipeline: what a key no principal names is.
    pub fn admin(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            keys: Vec::new(),
            grants: vec![Grant {
                pattern: "*".into(),
                role: Role::Admin,
            }],
            groups: Vec::new(),
        }
    }

    /// The highest role the grants give on `pipeline`.
    pub fn role_on(&self, pipeline: &str) -> Option<Role> {
        self.grants
            .iter()
            .filter(|g| matches(&g.pattern, pipeline))
            .map(|g| g.role)
            .max()
    }

    /// The role granted on every pipeline (pattern `*`).
    pub fn role_everywhere(&self) -> Option<Role> {
        self.grants
            .iter()
            .filter(|g| g.pattern.chars().all(|c| c == '*'))
            .map(|g| g.role)
            .max()
    }

    /// Whether it may do what `need` asks.
    pub fn may(&self, need: &Need) -> bool {
        let held = match &need.scope {
            Scope::Pipeline(name) => self.role_on(name),
            Scope::Everything => self.role_everywhere(),
            Scope::Anywhere => self.grants.iter().map(|g| g.role).max(),
        };
        held.is_some_and(|r| r >= need.role)
    }
}

/// Where a role is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// On one pipeline.
    Pipeline(String),
    /// On every pipeline (granted on `*`).
    Everything,
    /// On some pipeline (reading lists that are filtered, or catalogues).
    Anywhere,
}

/// The role an operation needs, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The least role.
    pub role: Role,
    /// Where.
    pub scope: Scope,
}

impl Need {
    fn on(role: Role, pipeline: Option<&str>) -> Self {
        Self {
            role,
            scope: pipeline.map_or(Scope::Everything, |p| Scope::Pipeline(p.to_owned())),
        }
    }

    fn everywhere(role: Role) -> Self {
        Self {
            role,
            scope: Scope::Everything,
        }
    }
}

/// The role a CodePipeline operation needs, and on which pipeline (read from the request's members; a request
/// that names none needs the role on every pipeline). None: an operation this table does not know (the API
/// refuses it as unknown anyway).
pub fn need(operation: &str, request: &Value) -> Option<Need> {
    let member = |name: &str| request.get(name).and_then(Value::as_str);
    let pipeline_name = member("pipelineName");
    let arn_pipeline = member("resourceArn").and_then(pipeline_of_arn);
    use Role::*;
    Some(match operation {
        "GetPipeline" | "GetPipelineState" => Need::on(Viewer, member("name")),
        "GetPipelineExecution"
        | "ListPipelineExecutions"
        | "ListActionExecutions"
        | "ListRuleExecutions"
        | "ListDeployActionExecutionTargets" => Need::on(Viewer, pipeline_name),
        "ListTagsForResource" => Need::on(Viewer, arn_pipeline),
        "ListPipelines" | "ListActionTypes" | "ListRuleTypes" | "GetActionType" => Need {
            role: Viewer,
            scope: Scope::Anywhere,
        },
        "StartPipelineExecution" => Need::on(Operator, member("name")),
        "StopPipelineExecution"
        | "RetryStageExecution"
        | "RollbackStage"
        | "PutApprovalResult"
        | "EnableStageTransition"
        | "DisableStageTransition"
        | "OverrideStageCondition"
        | "PutActionRevision" => Need::on(Operator, pipeline_name),
        // Job workers (custom actions, third-party actions) serve every pipeline that uses their action.
        "PollForJobs"
        | "AcknowledgeJob"
        | "GetJobDetails"
        | "PutJobSuccessResult"
        | "PutJobFailureResult"
        | "PollForThirdPartyJobs"
        | "GetThirdPartyJobDetails"
        | "AcknowledgeThirdPartyJob"
        | "PutThirdPartyJobSuccessResult"
        | "PutThirdPartyJobFailureResult" => Need::everywhere(Operator),
        "CreatePipeline" | "UpdatePipeline" => Need::on(
            Admin,
            request
                .get("pipeline")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str),
        ),
        "DeletePipeline" => Need::on(Admin, member("name")),
        "TagResource" | "UntagResource" => Need::on(Admin, arn_pipeline),
        "PutWebhook" => Need::on(
            Admin,
            request
                .get("webhook")
                .and_then(|w| w.get("targetPipeline"))
                .and_then(Value::as_str),
        ),
        // Webhooks answer their secrets; action types serve every pipeline.
        "ListWebhooks"
        | "DeleteWebhook"
        | "RegisterWebhookWithThirdParty"
        | "DeregisterWebhookWithThirdParty"
        | "CreateCustomActionType"
        | "DeleteCustomActionType"
        | "UpdateActionType" => Need::everywhere(Admin),
        _ => return None,
    })
}

/// The pipeline a CodePipeline ARN names (`arn:aws:codepipeline:REGION:ACCOUNT:NAME`); None for a webhook's
/// or an action type's.
fn pipeline_of_arn(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    (!resource.contains(':') && !resource.contains('/') && !resource.is_empty()).then_some(resource)
}

/// Every principal, by access key id, with the key pairs they sign with.
#[derive(Debug, Clone, Default)]
pub struct Access {
    keys: Keys,
    by_key: HashMap<String, Arc<Principal>>,
    principals: Vec<Arc<Principal>>,
}

impl Access {
    /// Key pairs and the principals they belong to. A principal naming a key that has no secret is refused;
    /// keys no principal names are admins.
    pub fn new(keys: Keys, principals: Vec<Principal>) -> Result<Self, String> {
        let mut by_key = HashMap::new();
        let mut all = Vec::new();
        for p in principals {
            let p = Arc::new(p);
            for key in &p.keys {
                if keys.secret(key).is_none() {
                    return Err(format!(
                        "principal {}: access key {key} has no secret (it is not among the key pairs)",
                        p.name
                    ));
                }
                if let Some(other) = by_key.insert(key.clone(), p.clone()) {
                    return Err(format!(
                        "access key {key} belongs to both {} and {}",
                        other.name, p.name
                    ));
                }
            }
            all.push(p);
        }
        Ok(Self {
            keys,
            by_key,
            principals: all,
        })
    }

    /// Every key pair is an admin (no principals).
    pub fn admins(keys: Keys) -> Self {
        Self {
            keys,
            ..Default::default()
        }
    }

    /// The key pairs.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The named principals.
    pub fn principals(&self) -> &[Arc<Principal>] {
        &self.principals
    }

    /// Who signs with `key_id`: its principal, or an admin named by the key id when no principal names it.
    /// None for a key that is not among the key pairs. The principal answered holds `key_id` alone in its
    /// `keys`, so what it does is recorded under the key that signed.
    pub fn principal(&self, key_id: &str) -> Option<Arc<Principal>> {
        self.keys.secret(key_id)?;
        Some(match self.by_key.get(key_id) {
            Some(p) if p.keys.len() == 1 => Arc::clone(p),
            Some(p) => Arc::new(Principal {
                keys: vec![key_id.to_owned()],
                ..Principal::clone(p)
            }),
            None => Arc::new(Principal {
                keys: vec![key_id.to_owned()],
                ..Principal::admin(key_id)
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> Principal {
        Principal {
            name: "alice".into(),
            keys: vec!["AK1".into()],
            grants: vec![
                Grant::parse("*=viewer").expect("test value"),
                Grant::parse("release-*=operator").expect("test value"),
            ],
            groups: vec!["release-managers".into()],
        }
    }

    #[test]
    fn patterns_match_runs_of_characters() {
        for (pattern, name, yes) in [
            ("*", "anything", true),
            ("release-*", "release-web", true),
            ("release-*", "release-", true),
            ("release-*", "prerelease-web", false),
            ("*-prod", "web-prod", true),
            ("*-prod", "web-prod-2", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("web", "web", true),
            ("web", "webs", false),
        ] {
            assert_eq!(matches(pattern, name), yes, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn the_highest_matching_grant_is_the_role() {
        let a = alice();
        assert_eq!(a.role_on("release-web"), Some(Role::Operator));
        assert_eq!(a.role_on("infra"), Some(Role::Viewer));
        assert_eq!(a.role_everywhere(), Some(Role::Viewer));
        let start =
            need("StartPipelineExecution", &json!({"name": "release-web"})).expect("test value");
        assert!(a.may(&start));
        let start = need("StartPipelineExecution", &json!({"name": "infra"})).expect("test value");
        assert!(!a.may(&start));
        let update = need(
            "UpdatePipeline",
            &json!({"pipeline": {"name": "release-web"}}),
        )
        .expect("test value");
        assert!(!a.may(&update));
        assert!(a.may(&need("ListPipelines", &json!({})).expect("test value")));
        // Job workers serve every pipeline: operator on `*` only.
        assert!(!a.may(&need("PollForJobs", &json!({})).expect("test value")));
    }

    #[test]
    fn arns_name_pipelines_but_not_webhooks() {
        assert_eq!(
            pipeline_of_arn("arn:aws:codepipeline:us-east-1:123456789012:web"),
            Some("web")
        );
        assert_eq!(
            pipeline_of_arn("arn:aws:codepipeline:us-east-1:123456789012:webhook:hook"),
            None
        );
        let tag = need(
            "TagResource",
            &json!({"resourceArn": "arn:aws:codepipeline:us-east-1:1:webhook:h"}),
        )
        .expect("test value");
        assert_eq!(tag.scope, Scope::Everything);
    }

    #[test]
    fn keys_no_principal_names_are_admins() {
        let keys = Keys::parse("AK1 s1\nAK2 s2\n").expect("test value");
        let access = Access::new(keys, vec![alice()]).expect("test value");
        assert_eq!(access.principal("AK1").expect("test value").name, "alice");
        let legacy = access.principal("AK2").expect("test value");
        assert_eq!(legacy.name, "AK2");
        assert_eq!(legacy.role_everywhere(), Some(Role::Admin));
        assert!(access.principal("AK3").is_none());
    }

    #[test]
    fn a_principal_key_without_a_secret_is_refused() {
        let keys = Keys::parse("AK2 s2\n").expect("test value");
        let e = Access::new(keys, vec![alice()]).expect_err("an error");
        assert!(e.contains("alice") && e.contains("AK1"), "{e}");
    }

    #[test]
    fn grants_are_read_with_their_problems_named() {
        assert!(Grant::parse("release-*")
            .expect_err("an error")
            .contains("PATTERN=ROLE"));
        assert!(Grant::parse("*=owner")
            .expect_err("an error")
            .contains("unknown role `owner`"));
        assert!(Grant::parse("a/b=viewer")
            .expect_err("an error")
            .contains("`/`"));
    }
}
