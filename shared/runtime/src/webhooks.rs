//! CodePipeline's webhooks (the V1 webhook API: PutWebhook, ListWebhooks, DeleteWebhook): named definitions
//! that start a pipeline when a delivery passes their authentication and filters.
//!
//! A definition names its target pipeline and source action, how deliveries are authenticated (`GITHUB_HMAC`
//! with a secret token, `IP` with an allowed range, `UNAUTHENTICATED`), and filters: a JSON path into the
//! delivered body and the value it must equal, in which `{Name}` stands for the target action's configuration
//! property `Name` (`refs/heads/{Branch}`). Every filter must match.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use sluice_definition::Pipeline;

use crate::error::Result;
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::keys;
use crate::{Runtime, RuntimeError};

/// The authentications CodePipeline defines.
pub const AUTHENTICATIONS: [&str; 3] = ["GITHUB_HMAC", "IP", "UNAUTHENTICATED"];

/// One filter: a JSON path and the value it must select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFilter {
    /// The JSON path (`$.ref`, `$.repository.name`, `$.commits[0].id`).
    pub json_path: String,
    /// The value it must equal; `{Name}` is the target action's configuration property. None: it must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_equals: Option<String>,
}

/// The authentication settings (CodePipeline spells their members in PascalCase).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAuthConfiguration {
    /// For `IP`: the CIDR range deliveries must come from.
    #[serde(
        rename = "AllowedIPRange",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_ip_range: Option<String>,
    /// For `GITHUB_HMAC`: the secret deliveries are signed with.
    #[serde(
        rename = "SecretToken",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_token: Option<String>,
}

/// PutWebhook's `webhook` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDefinition {
    /// The webhook's name.
    pub name: String,
    /// The pipeline it starts.
    pub target_pipeline: String,
    /// The source action whose configuration the filters may name.
    pub target_action: String,
    /// Every one must match.
    pub filters: Vec<WebhookFilter>,
    /// `GITHUB_HMAC`, `IP` or `UNAUTHENTICATED`.
    pub authentication: String,
    /// Its settings.
    pub authentication_configuration: WebhookAuthConfiguration,
}

/// A stored webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRecord {
    /// The definition.
    pub definition: WebhookDefinition,
    /// When it was last put.
    pub updated_ms: i64,
    /// When a delivery last started its pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_triggered_ms: Option<i64>,
}

/// Why a delivery does not start the pipeline: refused (authentication) or skipped (filters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The delivery is not authenticated (HTTP 401/403).
    Unauthenticated(String),
    /// A filter did not match (the delivery is answered, nothing starts).
    Skipped(String),
}

impl WebhookDefinition {
    /// Checks the definition against its pipeline: the action exists, the authentication has its settings,
    /// every filter's path reads and every `{Name}` is a configuration property of the action. A message
    /// naming the member otherwise.
    pub fn check(&self, pipeline: &Pipeline) -> std::result::Result<(), String> {
        let action = pipeline
            .actions()
            .find(|(_, _, _, a)| a.name == self.target_action)
            .map(|(_, _, _, a)| a)
            .ok_or_else(|| {
                format!(
                    "webhook.targetAction: pipeline {} has no action {:?}",
                    pipeline.name, self.target_action
                )
            })?;
        match self.authentication.as_str() {
            "GITHUB_HMAC" => {
                if self
                    .authentication_configuration
                    .secret_token
                    .as_deref()
                    .is_none_or(str::is_empty)
                {
                    return Err("webhook.authenticationConfiguration.SecretToken: GITHUB_HMAC needs a secret token".into());
                }
            }
            "IP" => {
                let range = self
                    .authentication_configuration
                    .allowed_ip_range
                    .as_deref()
                    .unwrap_or_default();
                Cidr::parse(range).map_err(|m| {
                    format!("webhook.authenticationConfiguration.AllowedIPRange: {m}")
                })?;
            }
            "UNAUTHENTICATED" => {}
            other => {
                return Err(format!(
                    "webhook.authentication: {other:?} is not one of {}",
                    AUTHENTICATIONS.join(", ")
                ))
            }
        }
        if self.filters.is_empty() {
            return Err("webhook.filters: at least one filter is needed".into());
        }
        let config = action.configuration.clone().unwrap_or_default();
        for (i, f) in self.filters.iter().enumerate() {
            parse_path(&f.json_path).map_err(|m| format!("webhook.filters[{i}].jsonPath: {m}"))?;
            if let Some(m) = &f.match_equals {
                substitute(m, &config).map_err(|name| {
                    format!(
                        "webhook.filters[{i}].matchEquals: {{{name}}} is not a configuration property of action {}",
                        self.target_action
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Judges a delivery: its authentication (`signature`: `X-Hub-Signature-256`; `source_ip`: the caller's
    /// address), then every filter against the body's JSON, with the target action's configuration.
    pub fn judge(
        &self,
        pipeline: &Pipeline,
        body: &[u8],
        signature: Option<&str>,
        source_ip: Option<&str>,
    ) -> std::result::Result<Value, Refusal> {
        match self.authentication.as_str() {
            "GITHUB_HMAC" => {
                let secret = self
                    .authentication_configuration
                    .secret_token
                    .as_deref()
                    .unwrap_or_default();
                crate::triggers::verify_github_signature(secret.as_bytes(), body, signature)
                    .map_err(|e| Refusal::Unauthenticated(e.to_string()))?;
            }
            "IP" => {
                let range = self
                    .authentication_configuration
                    .allowed_ip_range
                    .as_deref()
                    .unwrap_or_default();
                let cidr = Cidr::parse(range).map_err(Refusal::Unauthenticated)?;
                let ip: Option<IpAddr> = source_ip.and_then(|s| s.parse().ok());
                if !ip.is_some_and(|ip| cidr.contains(ip)) {
                    return Err(Refusal::Unauthenticated(format!(
                        "the caller's address {} is not in the allowed range {range}",
                        source_ip.unwrap_or("(unknown)")
                    )));
                }
            }
            _ => {}
        }
        let payload: Value = serde_json::from_slice(body).map_err(|e| {
            Refusal::Skipped(format!(
                "the body is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let config = pipeline
            .actions()
            .find(|(_, _, _, a)| a.name == self.target_action)
            .and_then(|(_, _, _, a)| a.configuration.clone())
            .unwrap_or_default();
        for f in &self.filters {
            let path = parse_path(&f.json_path).map_err(Refusal::Skipped)?;
            let found = select(&payload, &path);
            match (&f.match_equals, found) {
                (_, None) => {
                    return Err(Refusal::Skipped(format!(
                        "{} selects nothing in the delivery",
                        f.json_path
                    )))
                }
                (None, Some(_)) => {}
                (Some(want), Some(got)) => {
                    let want = substitute(want, &config).map_err(|name| {
                        Refusal::Skipped(format!("{{{name}}} is not configured on the action"))
                    })?;
                    let got_text = match got {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if got_text != want {
                        return Err(Refusal::Skipped(format!(
                            "{} is {got_text:?}, not {want:?}",
                            f.json_path
                        )));
                    }
                }
            }
        }
        Ok(payload)
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Reads the JSON paths filters use: `$` then `.name`, `['name']` and `[index]` steps.
fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("{path:?} must start with $"))?;
    let bad = |why: &str| format!("{path:?}: {why}");
    let mut steps = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&(_, n)) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() || name == "*" {
                    return Err(bad("a '.' must be followed by a member name"));
                }
                steps.push(Step::Key(name));
            }
            '[' => {
                let mut inner = String::new();
                let mut closed = false;
                for (_, n) in chars.by_ref() {
                    if n == ']' {
                        closed = true;
                        break;
                    }
                    inner.push(n);
                }
                if !closed {
                    return Err(bad("a '[' is not closed"));
                }
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                if let Some(name) = quoted {
                    steps.push(Step::Key(name.to_owned()));
                } else if let Ok(i) = inner.trim().parse::<usize>() {
                    steps.push(Step::Index(i));
                } else {
                    return Err(bad(&format!(
                        "[{inner}] is neither an index nor a quoted name (wildcards and filters are not supported)"
                    )));
                }
            }
            other => return Err(bad(&format!("unexpected {other:?}"))),
        }
    }
    Ok(steps)
}

fn select<'v>(value: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter()
        .try_fold(value, |v, step| match step {
            Step::Key(k) => v.get(k.as_str()),
            Step::Index(i) => v.get(*i),
        })
        .filter(|v| !v.is_null())
}

/// Replaces each `{Name}` with the configuration's value; the first unknown name otherwise.
fn substitute(
    text: &str,
    config: &std::collections::BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let value = config.get(name).ok_or_else(|| name.to_owned())?;
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An address range.
struct Cidr {
    base: IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let (addr, bits) = text.split_once('/').unwrap_or((text, ""));
        let base: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an address range (CIDR, like 192.0.2.0/24)"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = if bits.is_empty() {
            max
        } else {
            bits.parse::<u32>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?
        };
        Ok(Self { base, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.bits).unwrap_or(0);
                u32::from(b) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.bits).unwrap_or(0);
                u128::from(b) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl Runtime {
    /// Creates or replaces a webhook (PutWebhook), after checking it against its pipeline.
    pub async fn put_webhook(&self, definition: WebhookDefinition) -> Result<WebhookRecord> {
        let pipeline = self.pipeline(&definition.target_pipeline, None).await?;
        definition
            .check(&pipeline.definition)
            .map_err(RuntimeError::Invalid)?;
        for _ in 0..8 {
            let current = self
                .read::<WebhookRecord>(keys::WEBHOOKS, &definition.name)
                .await?;
            let record = WebhookRecord {
                definition: definition.clone(),
                updated_ms: self.env.now_ms(),
                last_triggered_ms: current.as_ref().and_then(|c| c.value.last_triggered_ms),
            };
            let write = crate::runtime::put(
                keys::WEBHOOKS.into(),
                definition.name.clone(),
                current.map(|c| c.version),
                &record,
            )?;
            match self.store.transact(vec![write]).await {
                Ok(()) => return Ok(record),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Busy("the webhook kept changing".into()).into())
    }

    /// Every webhook, by name.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRecord>> {
        Ok(self
            .query::<WebhookRecord>(keys::WEBHOOKS, "", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// One webhook.
    pub async fn webhook(&self, name: &str) -> Result<Option<WebhookRecord>> {
        Ok(self
            .read::<WebhookRecord>(keys::WEBHOOKS, name)
            .await?
            .map(|v| v.value))
    }

    /// Deletes a webhook (DeleteWebhook); deleting one that does not exist succeeds, as in CodePipeline.
    pub async fn delete_webhook(&self, name: &str) -> Result<()> {
        self.store
            .transact(vec![Write::Delete {
                pk: keys::WEBHOOKS.into(),
                sk: name.to_owned(),
                condition: Condition::None,
            }])
            .await?;
        Ok(())
    }

    /// Records that a delivery started the webhook's pipeline (best effort: a lost race keeps the other time).
    pub async fn webhook_triggered(&self, name: &str) -> Result<()> {
        let Some(current) = self.read::<WebhookRecord>(keys::WEBHOOKS, name).await? else {
            return Ok(());
        };
        let mut next = current.value;
        next.last_triggered_ms = Some(self.env.now_ms());
        let write = crate::runtime::put(
            keys::WEBHOOKS.into(),
            name.to_owned(),
            Some(current.version),
            &next,
        )?;
        match self.store.transact(vec![write]).await {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn paths_read_members_quoted_names_and_indexes() {
        let v = json!({"ref": "refs/heads/main", "repository": {"full name": "o/r"}, "commits": [{"id": "c1"}]});
        let at = |p: &str| select(&v, &parse_path(p).expect(p)).cloned();
        assert_eq!(at("$.ref"), Some(json!("refs/heads/main")));
        assert_eq!(at("$.repository['full name']"), Some(json!("o/r")));
        assert_eq!(at("$.commits[0].id"), Some(json!("c1")));
        assert_eq!(at("$.commits[1].id"), None);
        assert_eq!(at("$"), Some(v.clone()));
        assert!(parse_path("ref").is_err());
        assert!(parse_path("$.commits[*]").is_err());
        assert!(parse_path("$.a[0").is_err());
        assert!(parse_path("$..a").is_err());
    }

    #[test]
    fn match_values_name_configuration_properties() {
        let config = BTreeMap::from([("Branch".to_owned(), "main".to_owned())]);
        assert_eq!(
            substitute("refs/heads/{Branch}", &config),
            Ok("refs/heads/main".into())
        );
        assert_eq!(substitute("{Repo}", &config), Err("Repo".into()));
        assert_eq!(substitute("plain", &config), Ok("plain".into()));
    }

    #[test]
    fn ranges_hold_their_addresses() {
        let r = Cidr::parse("192.0.2.0/24").expect("range");
        assert!(r.contains("192.0.2.77".parse().expect("ip")));
        assert!(!r.contains("192.0.3.1".parse().expect("ip")));
        assert!(r.contains("::ffff:192.0.2.9".parse().expect("ip")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("all")
            .contains("8.8.8.8".parse().expect("ip")));
        assert!(Cidr::parse("2001:db8::/32")
            .expect("v6")
            .contains("2001:db8::1".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.1")
            .expect("one")
            .contains("10.0.0.1".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nowhere").is_err());
    }
}
