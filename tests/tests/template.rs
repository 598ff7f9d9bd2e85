//! template.yaml, the SAM stack: `sam validate --lint` and cfn-lint must pass (both installed into `.venv-sam`
//! by `infra/sam-tools.sh`, which `make test` runs first), and the template must hold the invariants no linter
//! checks: least privilege, the functions' build settings, a private TLS-only bucket, a recoverable table, no
//! secret in the text. The negative controls show each invariant check can fail.

use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::Command;

const FUNCTIONS: [&str; 6] = [
    "dispatch",
    "approval",
    "recorder",
    "trigger",
    "api",
    "cfn-resource",
];

/// The only actions allowed on resource `"*"`: they accept no other resource (task tokens are not resources).
const ACTIONS_WITHOUT_RESOURCES: [&str; 3] = [
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
];

/// The SAM policy templates the functions may use; each is scoped by the resource named in its parameter.
const POLICY_TEMPLATES: [&str; 4] = [
    "DynamoDBCrudPolicy",
    "SNSPublishMessagePolicy",
    "EventBridgePutEventsPolicy",
    "AWSSecretsManagerGetSecretValuePolicy",
];

const STATE_MACHINES: &str =
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${StateMachinePrefix}";
const EXECUTIONS: &str =
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${StateMachinePrefix}";

fn template_path() -> PathBuf {
    sluice_tests::workspace().join("template.yaml")
}

fn template_text() -> String {
    std::fs::read_to_string(template_path()).expect("read template.yaml")
}

fn template() -> Value {
    parse(&template_text())
}

// ---------------------------------------------------------------------------------------------------------------
// The linters
// ---------------------------------------------------------------------------------------------------------------

/// A tool from `.venv-sam`, or a failure saying how to install it: this suite never skips.
fn assert_succeeds(mut command: Command) {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sam_validate_with_lint_passes() {
    let mut sam = sluice_tests::sam_tool("sam");
    sam.args(["validate", "--lint", "-t", "template.yaml"]);
    assert_succeeds(sam);
}

#[test]
fn cfn_lint_passes() {
    let mut cfn_lint = sluice_tests::sam_tool("cfn-lint");
    cfn_lint.arg("template.yaml");
    assert_succeeds(cfn_lint);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the template: YAML with CloudFormation's short-form tags, as the long-form JSON they stand for
// ---------------------------------------------------------------------------------------------------------------

fn parse(text: &str) -> Value {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).expect("template.yaml is YAML");
    to_json(yaml)
}

/// `!Ref X` becomes `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` becomes
/// `{"Fn::Sub": s}`, and so on for every `!Tag`.
fn to_json(yaml: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).expect("a YAML number is a JSON number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let mut inner = to_json(tagged.value);
            if name == "GetAtt" {
                if let Value::String(s) = &inner {
                    if let Some((resource, attribute)) = s.split_once('.') {
                        inner = json!([resource, attribute]);
                    }
                }
            }
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            json!({ key: inner })
        }
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    }
}

fn resources(template: &Value) -> &Map<String, Value> {
    template["Resources"]
        .as_object()
        .expect("template has Resources")
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// Globals.Function merged under a function's properties, as the SAM transform merges them.
fn effective_properties(template: &Value, function: &Value) -> Value {
    fn merge(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Object(base), Value::Object(over)) => {
                for (k, v) in over {
                    merge(base.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (base, over) => *base = over.clone(),
        }
    }
    let mut properties = template["Globals"]["Function"].clone();
    if properties.is_null() {
        properties = json!({});
    }
    merge(&mut properties, &function["Properties"]);
    properties
}

// ---------------------------------------------------------------------------------------------------------------
// The invariants
// ---------------------------------------------------------------------------------------------------------------

/// Every problem of the template, one sentence each; empty when it holds every invariant.
fn problems(template: &Value) -> Vec<String> {
    let mut found = Vec::new();
    policy_statements(template, &mut found);
    function_policies(template, &mut found);
    functions(template, &mut found);
    buckets(template, &mut found);
    tables(template, &mut found);
    secrets(template, &mut found);
    found
}

/// Every IAM statement anywhere (function policies, roles, managed policies, key, bucket and topic policies).
fn policy_statements(template: &Value, found: &mut Vec<String>) {
    fn walk(path: &str, value: &Value, in_key_policy: bool, out: &mut Vec<(String, Value, bool)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let here = format!("{path}.{k}");
                    if k == "Statement" {
                        let statements = match v {
                            Value::Array(items) => items.clone(),
                            other => vec![other.clone()],
                        };
                        for (i, s) in statements.into_iter().enumerate() {
                            out.push((format!("{here}[{i}]"), s, in_key_policy));
                        }
                    } else {
                        walk(&here, v, in_key_policy || k == "KeyPolicy", out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{path}[{i}]"), v, in_key_policy, out);
                }
            }
            _ => {}
        }
    }
    let mut statements = Vec::new();
    walk("", &template["Resources"], false, &mut statements);
    for (path, statement, in_key_policy) in statements {
        if statement["Effect"] != "Allow" {
            continue;
        }
        if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
            found.push(format!(
                "{path}: an Allow with NotAction/NotResource grants everything else"
            ));
        }
        let actions = strings(statement.get("Action"));
        let resources = strings(statement.get("Resource"));
        let everything = resources.iter().any(|r| r == "*");
        if actions.iter().any(|a| a == "*") && everything {
            found.push(format!(
                "{path}: allows every action (\"*\") on every resource (\"*\")"
            ));
        }
        if principal_is_anyone(statement.get("Principal")) {
            found.push(format!("{path}: allows anyone (Principal \"*\")"));
        }
        // In a key policy, Resource "*" means the key itself; everywhere else it means everything.
        if everything && !in_key_policy {
            for action in actions
                .iter()
                .filter(|a| !ACTIONS_WITHOUT_RESOURCES.contains(&a.as_str()))
            {
                found.push(format!(
                    "{path}: allows {action} on every resource; name the resources"
                ));
            }
        }
        for action in &actions {
            if action.starts_with("states:")
                && !ACTIONS_WITHOUT_RESOURCES.contains(&action.as_str())
            {
                for resource in statement_resources(&statement) {
                    let sub = resource["Fn::Sub"].as_str().unwrap_or("");
                    let scoped = [STATE_MACHINES, EXECUTIONS]
                        .iter()
                        .any(|prefix| sub.strip_prefix(prefix) == Some("*"));
                    if !scoped {
                        found.push(format!(
                            "{path}: {action} on {resource}, not only on state machines (or their executions) \
                             named with StateMachinePrefix"
                        ));
                    }
                }
            }
            if action == "iam:PassRole" {
                for resource in statement_resources(&statement) {
                    if resource != json!({"Fn::GetAtt": ["StateMachineRole", "Arn"]}) {
                        found.push(format!(
                            "{path}: iam:PassRole on {resource}; only the state machine role may be passed"
                        ));
                    }
                }
            }
        }
    }
}

fn statement_resources(statement: &Value) -> Vec<Value> {
    match statement.get("Resource") {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    }
}

fn principal_is_anyone(principal: Option<&Value>) -> bool {
    match principal {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(map)) => map
            .get("AWS")
            .is_some_and(|aws| strings(Some(aws)).iter().any(|a| a == "*")),
        _ => false,
    }
}

/// Function `Policies` are scoped policy templates or statements, never managed policies by name (such as
/// AdministratorAccess), whose scope the template cannot show.
fn function_policies(template: &Value, found: &mut Vec<String>) {
    for (name, function) in of_type(template, "AWS::Serverless::Function") {
        let policies = match &function["Properties"]["Policies"] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        for policy in policies {
            match &policy {
                Value::Object(map) if map.contains_key("Statement") => {}
                Value::Object(map)
                    if map.len() == 1
                        && map.keys().all(|k| POLICY_TEMPLATES.contains(&k.as_str())) => {}
                other => found.push(format!(
                    "{name}: policy {other} is neither a statement list nor one of the scoped policy templates \
                     {POLICY_TEMPLATES:?}"
                )),
            }
        }
    }
}

fn functions(template: &Value, found: &mut Vec<String>) {
    let mut seen = Vec::new();
    for (logical, function) in of_type(template, "AWS::Serverless::Function") {
        let properties = effective_properties(template, function);
        let code_uri = properties["CodeUri"].as_str().unwrap_or("");
        let Some(name) = code_uri.strip_prefix("functions/") else {
            found.push(format!(
                "{logical}: CodeUri {code_uri:?} is not functions/<name>"
            ));
            continue;
        };
        seen.push(name.to_owned());
        let expect = |found: &mut Vec<String>, what: &str, actual: &Value, wanted: Value| {
            if *actual != wanted {
                found.push(format!("{logical}: {what} is {actual}, not {wanted}"));
            }
        };
        expect(
            found,
            "Runtime",
            &properties["Runtime"],
            json!("provided.al2023"),
        );
        expect(
            found,
            "Architectures",
            &properties["Architectures"],
            json!(["arm64"]),
        );
        expect(found, "Handler", &properties["Handler"], json!("bootstrap"));
        expect(
            found,
            "LoggingConfig.LogFormat",
            &properties["LoggingConfig"]["LogFormat"],
            json!("JSON"),
        );
        expect(
            found,
            "Metadata.BuildMethod",
            &function["Metadata"]["BuildMethod"],
            json!("rust-cargolambda"),
        );
        expect(
            found,
            "Metadata.BuildProperties.Binary",
            &function["Metadata"]["BuildProperties"]["Binary"],
            json!(format!("sluice-{name}")),
        );
        let url_auth = match name {
            // All three check signatures themselves: signed links, webhook signatures, SigV4 (the api).
            "approval" | "trigger" | "api" => json!("NONE"),
            _ => Value::Null,
        };
        expect(
            found,
            "FunctionUrlConfig.AuthType",
            &properties["FunctionUrlConfig"]["AuthType"],
            url_auth,
        );
    }
    seen.sort();
    let mut wanted: Vec<String> = FUNCTIONS.iter().map(|s| (*s).to_owned()).collect();
    wanted.sort();
    if seen != wanted {
        found.push(format!("the functions are {seen:?}, not {wanted:?}"));
    }
}

fn buckets(template: &Value, found: &mut Vec<String>) {
    let buckets = of_type(template, "AWS::S3::Bucket");
    if buckets.is_empty() {
        found.push("no artifact bucket".to_owned());
    }
    for (name, bucket) in buckets {
        let p = &bucket["Properties"];
        for flag in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            if p["PublicAccessBlockConfiguration"][flag] != json!(true) {
                found.push(format!(
                    "{name}: PublicAccessBlockConfiguration.{flag} is not true"
                ));
            }
        }
        if p["VersioningConfiguration"]["Status"] != "Enabled" {
            found.push(format!("{name}: versioning is not enabled"));
        }
        let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"];
        if sse["SSEAlgorithm"] != "aws:kms" || sse["KMSMasterKeyID"].is_null() {
            found.push(format!(
                "{name}: default encryption is not SSE-KMS with the stack's key"
            ));
        }
        let rules = p["LifecycleConfiguration"]["Rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let enabled = |field: &str| {
            rules
                .iter()
                .any(|r| r["Status"] == "Enabled" && !r[field].is_null())
        };
        if !enabled("ExpirationInDays") || !enabled("NoncurrentVersionExpiration") {
            found.push(format!(
                "{name}: no lifecycle rules expiring old artifacts and noncurrent versions"
            ));
        }
        let tls_only = of_type(template, "AWS::S3::BucketPolicy")
            .iter()
            .any(|(_, policy)| {
                policy["Properties"]["Bucket"] == json!({"Ref": name})
                    && policy["Properties"]["PolicyDocument"]["Statement"]
                        .as_array()
                        .is_some_and(|statements| {
                            statements.iter().any(|s| {
                                let insecure = &s["Condition"]["Bool"]["aws:SecureTransport"];
                                s["Effect"] == "Deny"
                                    && (*insecure == json!("false") || *insecure == json!(false))
                                    && statement_resources(s).len() == 2
                            })
                        })
            });
        if !tls_only {
            found.push(format!(
                "{name}: no bucket policy denying requests without TLS (aws:SecureTransport false) on the \
                 bucket and its objects"
            ));
        }
    }
}

fn tables(template: &Value, found: &mut Vec<String>) {
    let tables = of_type(template, "AWS::DynamoDB::Table");
    if tables.len() != 1 {
        found.push(format!("{} tables, not one", tables.len()));
    }
    for (name, table) in tables {
        let p = &table["Properties"];
        if p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != json!(true) {
            found.push(format!("{name}: point-in-time recovery is off"));
        }
        if p["TimeToLiveSpecification"] != json!({"AttributeName": "expires_at", "Enabled": true}) {
            found.push(format!("{name}: TTL is not enabled on expires_at"));
        }
        if p["SSESpecification"]["SSEEnabled"] != json!(true) {
            found.push(format!("{name}: SSE is not enabled"));
        }
        if p["BillingMode"] != "PAY_PER_REQUEST" {
            found.push(format!("{name}: billing is not on demand"));
        }
        let keys = json!([
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"}
        ]);
        if p["KeySchema"] != keys {
            found.push(format!("{name}: the key is not pk (hash) and sk (range)"));
        }
    }
}

/// Secrets are generated, never written down: no SecretString, no literal value in a variable named like a
/// secret, no text that looks like a credential anywhere.
fn secrets(template: &Value, found: &mut Vec<String>) {
    for (name, secret) in of_type(template, "AWS::SecretsManager::Secret") {
        if secret["Properties"].get("SecretString").is_some() {
            found.push(format!(
                "{name}: has a SecretString written in the template"
            ));
        }
        if secret["Properties"]["GenerateSecretString"].is_null() {
            found.push(format!("{name}: is not generated (GenerateSecretString)"));
        }
    }
    let secretish = |key: &str| {
        let key = key.to_ascii_uppercase();
        ["SECRET", "PASSWORD", "TOKEN", "PRIVATE"]
            .iter()
            .any(|w| key.contains(w))
    };
    for (logical, function) in of_type(template, "AWS::Serverless::Function") {
        let properties = effective_properties(template, function);
        if let Some(variables) = properties["Environment"]["Variables"].as_object() {
            for (key, value) in variables {
                if secretish(key) && value.is_string() {
                    found.push(format!(
                        "{logical}: {key} is a literal value; reference the secret instead"
                    ));
                }
            }
        }
    }
    if let Some(parameters) = template["Parameters"].as_object() {
        for (key, parameter) in parameters {
            if secretish(key) && parameter["NoEcho"] != json!(true) {
                found.push(format!(
                    "parameter {key} looks like a secret but is not NoEcho"
                ));
            }
        }
    }
    fn scan(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(s) if looks_like_credential(s) => found.push(format!(
                "a credential-like string is written in the template: {s:.12}..."
            )),
            Value::Array(items) => items.iter().for_each(|v| scan(v, found)),
            Value::Object(map) => map.values().for_each(|v| scan(v, found)),
            _ => {}
        }
    }
    scan(template, found);
}

fn looks_like_credential(s: &str) -> bool {
    let access_key = s.as_bytes().windows(20).any(|w| {
        (w.starts_with(b"AKIA") || w.starts_with(b"ASIA"))
            && w[4..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    });
    access_key
        || s.contains("-----BEGIN")
        || ["ghp_", "gho_", "github_pat_", "xoxb-", "sk_live_"]
            .iter()
            .any(|p| s.contains(p))
}

#[test]
fn template_holds_every_invariant() {
    let found = problems(&template());
    assert!(found.is_empty(), "template.yaml:\n  {}", found.join("\n  "));
}

// ---------------------------------------------------------------------------------------------------------------
// Negative controls: each invariant check refuses a template that breaks it
// ---------------------------------------------------------------------------------------------------------------

fn refused(template: &Value, expected: &str) {
    let found = problems(template);
    assert!(
        found.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, found: {found:#?}"
    );
}

fn resource_mut<'a>(template: &'a mut Value, name: &str) -> &'a mut Value {
    template["Resources"]
        .get_mut(name)
        .unwrap_or_else(|| panic!("template has no {name}"))
}

#[test]
fn refuses_a_copy_with_a_statement_allowing_every_action_on_every_resource() {
    // A text copy of the template, with one more statement in the dispatch function's policies.
    let original = template_text();
    let anchor = "        - Version: '2012-10-17'\n          Statement:\n            - Sid: ArtifactObjects\n";
    assert!(
        original.contains(anchor),
        "the anchor moved; update this test"
    );
    let widened = original.replacen(
        anchor,
        &format!(
            "        - Version: '2012-10-17'\n          Statement:\n            - Effect: Allow\n              \
             Action: '*'\n              Resource: '*'\n{}",
            &anchor["        - Version: '2012-10-17'\n          Statement:\n".len()..]
        ),
        1,
    );
    let copy = tempfile::tempdir().expect("temp dir");
    let path = copy.path().join("template.yaml");
    std::fs::write(&path, widened).expect("write the copy");
    let parsed = parse(&std::fs::read_to_string(&path).expect("read the copy"));
    refused(
        &parsed,
        "allows every action (\"*\") on every resource (\"*\")",
    );
}

#[test]
fn refuses_broken_templates() {
    type Mutation = fn(&mut Value);
    let cases: [(&str, Mutation, &str); 10] = [
        (
            "a service wildcard on every resource",
            |t| {
                resource_mut(t, "TriggerFunction")["Properties"]["Policies"]
                    .as_array_mut()
                    .expect("policies")
                    .push(json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
            },
            "allows s3:* on every resource",
        ),
        (
            "a managed policy by name",
            |t| {
                resource_mut(t, "ApiFunction")["Properties"]["Policies"]
                    .as_array_mut()
                    .expect("policies")
                    .push(json!("AdministratorAccess"))
            },
            "is neither a statement list nor one of the scoped policy templates",
        ),
        (
            "Step Functions rights on every state machine",
            |t| {
                resource_mut(t, "TriggerFunction")["Properties"]["Policies"][3]["Statement"][0]
                    ["Resource"] = json!({
                    "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*"
                })
            },
            "not only on state machines (or their executions) named with StateMachinePrefix",
        ),
        (
            "an x86_64 function",
            |t| {
                resource_mut(t, "RecorderFunction")["Properties"]["Architectures"] =
                    json!(["x86_64"])
            },
            "RecorderFunction: Architectures is [\"x86_64\"]",
        ),
        (
            "a function built another way",
            |t| resource_mut(t, "DispatchFunction")["Metadata"]["BuildMethod"] = json!("makefile"),
            "DispatchFunction: Metadata.BuildMethod",
        ),
        (
            "a public dispatch URL",
            |t| {
                resource_mut(t, "DispatchFunction")["Properties"]["FunctionUrlConfig"] =
                    json!({"AuthType": "NONE"})
            },
            "DispatchFunction: FunctionUrlConfig.AuthType",
        ),
        (
            "a bucket without the public access block",
            |t| {
                resource_mut(t, "ArtifactBucket")["Properties"]
                    .as_object_mut()
                    .expect("properties")
                    .remove("PublicAccessBlockConfiguration");
            },
            "PublicAccessBlockConfiguration.BlockPublicAcls is not true",
        ),
        (
            "a bucket without the TLS-only policy",
            |t| {
                resources_mut(t).remove("ArtifactBucketPolicy");
            },
            "no bucket policy denying requests without TLS",
        ),
        (
            "a table without point-in-time recovery",
            |t| {
                resource_mut(t, "Table")["Properties"]["PointInTimeRecoverySpecification"]
                    ["PointInTimeRecoveryEnabled"] = json!(false)
            },
            "point-in-time recovery is off",
        ),
        (
            "a secret written in the template",
            |t| {
                resource_mut(t, "WebhookSecret")["Properties"]["SecretString"] =
                    json!("correct horse battery staple")
            },
            "WebhookSecret: has a SecretString written in the template",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut broken = template();
        mutate(&mut broken);
        let found = problems(&broken);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem containing {expected:?}, found: {found:#?}"
        );
    }
}

fn resources_mut(template: &mut Value) -> &mut Map<String, Value> {
    template["Resources"].as_object_mut().expect("Resources")
}

#[test]
fn refuses_literal_credentials_anywhere() {
    let mut broken = template();
    resource_mut(&mut broken, "ApprovalFunction")["Properties"]["Environment"] =
        json!({"Variables": {"SLUICE_WEBHOOK_TOKEN": "plain", "NOTE": "AKIAIOSFODNN7EXAMPLE"}});
    refused(&broken, "SLUICE_WEBHOOK_TOKEN is a literal value");
    refused(&broken, "a credential-like string");
}

// ---------------------------------------------------------------------------------------------------------------
// The contract with the functions' crates
// ---------------------------------------------------------------------------------------------------------------

/// Every `SLUICE_*` variable the template sets is documented in functions/README.md, and nothing more.
#[test]
fn functions_readme_lists_exactly_the_variables_the_template_sets() {
    fn names(text: &str) -> std::collections::BTreeSet<String> {
        let bytes = text.as_bytes();
        let mut out = std::collections::BTreeSet::new();
        let mut i = 0;
        while let Some(at) = text[i..].find("SLUICE_") {
            let start = i + at;
            let mut end = start + "SLUICE_".len();
            while end < bytes.len() && (bytes[end].is_ascii_uppercase() || bytes[end] == b'_') {
                end += 1;
            }
            let name = text[start..end].trim_end_matches('_');
            if name.len() > "SLUICE_".len() {
                out.insert(name.to_owned());
            }
            i = end;
        }
        out
    }
    let template = template();
    let mut set = std::collections::BTreeSet::new();
    for (_, function) in of_type(&template, "AWS::Serverless::Function") {
        let properties = effective_properties(&template, function);
        if let Some(variables) = properties["Environment"]["Variables"].as_object() {
            set.extend(variables.keys().cloned());
        }
    }
    let readme = std::fs::read_to_string(sluice_tests::workspace().join("functions/README.md"))
        .expect("read functions/README.md");
    assert_eq!(
        names(&readme),
        set,
        "functions/README.md and template.yaml disagree"
    );
}
