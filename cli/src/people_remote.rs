//! `sluice principals` and `sluice keys`: Sluice's access operations (`sluice_web::access::admin`), called in
//! process over the local files (`people.rs`), or with `--endpoint` over HTTP to a `sluice serve` or a deployed
//! stack's api function, signed like every other call (`client.rs`). Both print the same from the same answers.

use anyhow::{bail, Result};
use hyper::Method;
use serde_json::{json, Value};
use sluice_web::access::admin::{self, TARGET_PREFIX};
use sluice_web::access::{file::check_name, Grant, Principal};

use crate::client::Remote;
use crate::people::AccessFiles;

/// Where the access operations go.
pub(crate) enum PeopleAt {
    /// The files of a state folder, changed in process (as their owner: an admin).
    Local(AccessFiles),
    /// A Sluice endpoint, as the signing key's principal.
    Remote(Box<Remote>, String),
}

impl PeopleAt {
    async fn call(&self, operation: &str, input: Value) -> Result<Value> {
        let body = input.to_string().into_bytes();
        let target = format!("{TARGET_PREFIX}{operation}");
        let (status, answer) = match self {
            Self::Local(files) => {
                let r = admin::handle(files, &target, &body, &Principal::admin("local")).await;
                (r.status, r.body)
            }
            Self::Remote(remote, _) => {
                let (status, bytes) = remote
                    .send(
                        Method::POST,
                        "/",
                        vec![
                            ("content-type".into(), "application/x-amz-json-1.1".into()),
                            ("x-amz-target".into(), target.clone()),
                        ],
                        body,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let value = serde_json::from_slice(&bytes).unwrap_or_else(
                    |_| json!({"message": String::from_utf8_lossy(&bytes).into_owned()}),
                );
                (status, value)
            }
        };
        if status == 200 {
            return Ok(answer);
        }
        let message = answer["message"].as_str().unwrap_or("").to_owned();
        match (self, answer["__type"].as_str()) {
            (Self::Local(_), _) => bail!("{message}"),
            (Self::Remote(_, at), Some(kind)) => bail!("{at}: {kind}: {message}"),
            (Self::Remote(_, at), None) => bail!("{at}: HTTP {status}: {message}"),
        }
    }

    fn principals(list: &Value) -> Vec<Value> {
        list["principals"].as_array().cloned().unwrap_or_default()
    }
}

/// `sluice principals list`.
pub(crate) async fn list(at: &PeopleAt) -> Result<()> {
    let listed = at.call("ListPrincipals", json!({})).await?;
    let principals = PeopleAt::principals(&listed);
    if principals.is_empty() {
        match at {
            PeopleAt::Local(files) => outln!(
                "no principals in {}: every key of {} is an admin",
                files.principals.display(),
                files.keys.display()
            ),
            PeopleAt::Remote(_, endpoint) => {
                outln!("no principals at {endpoint}: every key pair there is an admin")
            }
        }
    }
    let words = |v: &Value, f: &dyn Fn(&Value) -> String| {
        let all: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default();
        if all.is_empty() {
            "none".to_owned()
        } else {
            all.join(" ")
        }
    };
    for p in principals {
        let roles = words(&p["roles"], &|g| {
            format!(
                "{}={}",
                g["pattern"].as_str().unwrap_or(""),
                g["role"].as_str().unwrap_or("")
            )
        });
        let keys = words(&p["accessKeyIds"], &|k| k.as_str().unwrap_or("").to_owned());
        outln!(
            "{}\troles: {roles}\tkeys: {keys}",
            p["name"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// `sluice principals add NAME --role PATTERN=ROLE... --group GROUP...`: a new principal, or new roles (and
/// groups) for one.
pub(crate) async fn add(
    at: &PeopleAt,
    name: &str,
    roles: &[String],
    groups: &[String],
) -> Result<()> {
    check_name(name).map_err(anyhow::Error::msg)?;
    for g in groups {
        check_name(g).map_err(|e| anyhow::anyhow!("--group: {e}"))?;
    }
    let grants = roles
        .iter()
        .map(|r| Grant::parse(r).map_err(|e| anyhow::anyhow!("--role {e}")))
        .collect::<Result<Vec<_>>>()?;
    let listed = at.call("ListPrincipals", json!({})).await?;
    let exists = PeopleAt::principals(&listed)
        .iter()
        .any(|p| p["name"] == name);
    if exists && grants.is_empty() && groups.is_empty() {
        bail!("{name} is already a principal; give --role PATTERN=ROLE (or --group) to change its roles");
    }
    if !exists && grants.is_empty() {
        bail!("give {name} at least one --role PATTERN=ROLE (e.g. --role '*=viewer')");
    }
    let roles: Vec<Value> = grants
        .iter()
        .map(|g| json!({"pattern": g.pattern, "role": g.role.name()}))
        .collect();
    let put = at
        .call(
            "PutPrincipal",
            json!({"name": name, "roles": roles, "groups": groups}),
        )
        .await?;
    if put["created"] == true {
        outln!("{name}: added; `sluice keys create {name}` makes its key pair");
    } else {
        if !grants.is_empty() {
            outln!("{name}: roles replaced");
        }
        if !groups.is_empty() {
            outln!("{name}: groups replaced");
        }
    }
    Ok(())
}

/// `sluice principals remove NAME`: the principal and its key pairs.
pub(crate) async fn remove(at: &PeopleAt, name: &str) -> Result<()> {
    let gone = at.call("DeletePrincipal", json!({"name": name})).await?;
    let keys = gone["principal"]["accessKeyIds"]
        .as_array()
        .map_or(0, Vec::len);
    outln!("{name}: removed, with {keys} key pair(s)");
    Ok(())
}

/// `sluice keys create NAME`: a new key pair for a principal; the secret is printed once.
pub(crate) async fn create_key(at: &PeopleAt, name: &str) -> Result<()> {
    let made = at
        .call("CreateAccessKey", json!({"principalName": name}))
        .await?;
    let key = &made["accessKey"];
    outln!(
        "{name}: access key id {}",
        key["accessKeyId"].as_str().unwrap_or("")
    );
    outln!(
        "{name}: secret access key {}",
        key["secretAccessKey"].as_str().unwrap_or("")
    );
    match at {
        PeopleAt::Local(files) => outln!(
            "(the secret is in {} and shown only now)",
            files.keys.display()
        ),
        PeopleAt::Remote(_, endpoint) => {
            outln!("(the secret is kept by {endpoint} and shown only now)")
        }
    }
    Ok(())
}

/// `sluice keys remove KEY_ID`.
pub(crate) async fn remove_key(at: &PeopleAt, id: &str) -> Result<()> {
    at.call("DeleteAccessKey", json!({"accessKeyId": id}))
        .await?;
    outln!("{id}: removed");
    Ok(())
}
