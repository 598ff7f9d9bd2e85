//! CodePipeline's webhook API (PutWebhook, ListWebhooks, DeleteWebhook, Register/Deregister) on `sluice serve`,
//! through the built binary, and the named webhooks' deliveries: GITHUB_HMAC signatures right and wrong, the
//! filters with `{BranchName}` from the target action, duplicates, IP ranges and UNAUTHENTICATED; a template's
//! `AWS::CodePipeline::Webhook` put by `sluice create`.

use std::path::Path;

use serde_json::{json, Value};
use sluice_runtime::triggers::github_signature;
use sluice_tests::served::{Reply, Server};

const SECRET: &str = "a-secret-of-our-own";

fn pipeline(src: &Path) -> Value {
    json!({"pipeline": {
        "name": "app",
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": src.to_string_lossy(), "BranchName": "main"},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Build", "actions": [{
                "name": "Greet",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["cat greeting.txt"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]
    }})
}

fn webhook(name: &str, authentication: &str, config: Value) -> Value {
    json!({"webhook": {
        "name": name,
        "targetPipeline": "app",
        "targetAction": "Checkout",
        "filters": [
            {"jsonPath": "$.ref", "matchEquals": "refs/heads/{BranchName}"},
            {"jsonPath": "$.repository.full_name", "matchEquals": "octo/app"}
        ],
        "authentication": authentication,
        "authenticationConfiguration": config
    }})
}

fn push(branch: &str) -> Vec<u8> {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "after": "3333333333333333333333333333333333333333",
        "repository": {"full_name": "octo/app", "default_branch": "main"},
        "head_commit": {"id": "3333333333333333333333333333333333333333", "message": "change"},
        "commits": []
    })
    .to_string()
    .into_bytes()
}

fn deliver(server: &Server, url: &str, body: &[u8], signature: Option<&str>, id: &str) -> Reply {
    let path = url
        .strip_prefix(&server.url())
        .unwrap_or_else(|| panic!("{url} is not served by {}", server.url()));
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-github-event".to_owned(), "push".to_owned()),
    ];
    if !id.is_empty() {
        headers.push(("x-github-delivery".to_owned(), id.to_owned()));
    }
    if let Some(s) = signature {
        headers.push(("x-hub-signature-256".to_owned(), s.to_owned()));
    }
    server.send("POST", path, &headers, body).expect("request")
}

/// A git repository on branch main with one commit of `greeting.txt`.
fn repository(src: &Path) {
    std::fs::create_dir_all(src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "one",
        ],
    ] {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(src)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    }
}

fn executions(server: &Server) -> usize {
    server.ok("ListPipelineExecutions", json!({"pipelineName": "app"}))
        ["pipelineExecutionSummaries"]
        .as_array()
        .expect("summaries")
        .len()
}

#[test]
fn webhooks_are_put_listed_delivered_to_and_deleted() {
    let dir = tempfile::tempdir().expect("temp");
    let server = Server::start(dir.path());
    let src = dir.path().join("src");
    repository(&src);
    server.ok("CreatePipeline", pipeline(&src));

    // PutWebhook: the URL on this server, the ARN, the secret redacted.
    let put = server.ok(
        "PutWebhook",
        json!({
            "webhook": webhook("app-push", "GITHUB_HMAC", json!({"SecretToken": SECRET}))["webhook"],
            "tags": [{"key": "team", "value": "web"}]
        }),
    );
    let item = &put["webhook"];
    let url = item["url"].as_str().expect("url").to_owned();
    assert_eq!(url, format!("{}/webhooks/named/app-push", server.url()));
    let arn = item["arn"].as_str().expect("arn");
    assert!(
        arn.starts_with("arn:aws:codepipeline:") && arn.ends_with(":000000000000:webhook:app-push"),
        "{arn}"
    );
    assert_eq!(
        item["definition"]["authenticationConfiguration"]["SecretToken"],
        "****"
    );
    let tags = server.ok("ListTagsForResource", json!({"resourceArn": item["arn"]}));
    assert_eq!(tags["tags"], json!([{"key": "team", "value": "web"}]));

    // Bad definitions are refused with the member named.
    let mut unknown = webhook("bad", "GITHUB_HMAC", json!({"SecretToken": SECRET}));
    unknown["webhook"]["filters"][0]["matchEquals"] = json!("refs/heads/{Nope}");
    let r = server.call("PutWebhook", &unknown);
    assert_eq!(r.error(400), "InvalidWebhookFilterPatternException");
    assert!(
        r.body.contains("webhook.filters[0].matchEquals"),
        "{}",
        r.body
    );
    let r = server.call("PutWebhook", &webhook("bad", "GITHUB_HMAC", json!({})));
    assert_eq!(
        r.error(400),
        "InvalidWebhookAuthenticationParametersException"
    );
    let r = server.call(
        "PutWebhook",
        &webhook("bad", "IP", json!({"AllowedIPRange": "somewhere"})),
    );
    assert_eq!(
        r.error(400),
        "InvalidWebhookAuthenticationParametersException"
    );
    let mut other = webhook("bad", "UNAUTHENTICATED", json!({}));
    other["webhook"]["targetPipeline"] = json!("nope");
    assert_eq!(
        server.call("PutWebhook", &other).error(400),
        "PipelineNotFoundException"
    );
    let mut other = webhook("bad", "UNAUTHENTICATED", json!({}));
    other["webhook"]["targetAction"] = json!("Nope");
    let r = server.call("PutWebhook", &other);
    assert_eq!(r.error(400), "ValidationException");
    assert!(r.body.contains("webhook.targetAction"), "{}", r.body);

    // Deliveries: a wrong signature, no signature, a branch the filter does not select: nothing starts.
    let body = push("main");
    let r = deliver(
        &server,
        &url,
        &body,
        Some(&github_signature(b"wrong", &body)),
        "d-1",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = deliver(&server, &url, &body, None, "d-1");
    assert_eq!(r.status, 403, "{}", r.body);
    let feature = push("feature");
    let r = deliver(
        &server,
        &url,
        &feature,
        Some(&github_signature(SECRET.as_bytes(), &feature)),
        "d-2",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["started"], false);
    assert!(
        r.json()["reason"]
            .as_str()
            .expect("reason")
            .contains("refs/heads/main"),
        "{}",
        r.body
    );
    assert_eq!(executions(&server), 0);

    // A signed push to main starts one execution; the same delivery again starts nothing more.
    let signature = github_signature(SECRET.as_bytes(), &body);
    let r = deliver(&server, &url, &body, Some(&signature), "d-3");
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.json();
    assert_eq!(first["started"], true, "{first}");
    assert_eq!(first["triggerType"], "Webhook");
    let again = deliver(&server, &url, &body, Some(&signature), "d-3").json();
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["pipelineExecutionId"], first["pipelineExecutionId"]);
    let id = first["pipelineExecutionId"].as_str().expect("id");
    assert_eq!(server.wait_done("app", id), "Succeeded");
    assert_eq!(executions(&server), 1);
    let listed = server.ok("ListWebhooks", json!({}));
    assert!(
        listed["webhooks"][0]["lastTriggered"].is_number(),
        "{listed}"
    );

    // IP: this test's loopback address is in 127.0.0.0/8, not in 10.0.0.0/8.
    server.ok(
        "PutWebhook",
        webhook("app-ip", "IP", json!({"AllowedIPRange": "10.0.0.0/8"})),
    );
    let ip_url = format!("{}/webhooks/named/app-ip", server.url());
    let r = deliver(&server, &ip_url, &body, None, "d-4");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("10.0.0.0/8"), "{}", r.body);
    server.ok(
        "PutWebhook",
        webhook("app-ip", "IP", json!({"AllowedIPRange": "127.0.0.0/8"})),
    );
    let r = deliver(&server, &ip_url, &body, None, "d-4");
    assert_eq!(r.json()["started"], true, "{}", r.body);

    // A ping is answered and starts nothing, even when the filters would select its body.
    server.ok(
        "PutWebhook",
        json!({"webhook": {
            "name": "app-any", "targetPipeline": "app", "targetAction": "Checkout",
            "filters": [{"jsonPath": "$.repository.full_name", "matchEquals": "octo/app"}],
            "authentication": "UNAUTHENTICATED", "authenticationConfiguration": {}
        }}),
    );
    let before = executions(&server);
    let ping = json!({"zen": "hi", "repository": {"full_name": "octo/app"}}).to_string();
    let r = server
        .send(
            "POST",
            "/webhooks/named/app-any",
            &[
                ("content-type".to_owned(), "application/json".to_owned()),
                ("x-github-event".to_owned(), "ping".to_owned()),
            ],
            ping.as_bytes(),
        )
        .expect("ping");
    assert_eq!(r.json()["message"], "pong", "{}", r.body);
    assert_eq!(executions(&server), before);
    server.ok("DeleteWebhook", json!({"name": "app-any"}));

    // UNAUTHENTICATED, without a delivery id: known by its body, so a resend starts nothing more.
    server.ok(
        "PutWebhook",
        webhook("app-open", "UNAUTHENTICATED", json!({})),
    );
    let open_url = format!("{}/webhooks/named/app-open", server.url());
    let open = push("main").into_iter().chain(*b" ").collect::<Vec<u8>>();
    let r = deliver(&server, &open_url, &open, None, "");
    assert_eq!(r.json()["started"], true, "{}", r.body);
    let r = deliver(&server, &open_url, &open, None, "");
    assert_eq!(r.json()["duplicate"], true, "{}", r.body);

    // ListWebhooks pages; Register answers what to do by hand; Delete removes, twice is fine.
    let page = server.ok("ListWebhooks", json!({"MaxResults": 2}));
    let names: Vec<&str> = page["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .filter_map(|w| w["definition"]["name"].as_str())
        .collect();
    assert_eq!(names, ["app-ip", "app-open"]);
    let rest = server.ok("ListWebhooks", json!({"NextToken": page["NextToken"]}));
    assert_eq!(rest["webhooks"][0]["definition"]["name"], "app-push");
    assert!(rest.get("NextToken").is_none(), "{rest}");
    let r = server.call(
        "RegisterWebhookWithThirdParty",
        &json!({"webhookName": "app-push"}),
    );
    assert_eq!(r.error(400), "ValidationException");
    assert!(r.body.contains(&url), "{}", r.body);
    assert_eq!(
        server
            .call(
                "RegisterWebhookWithThirdParty",
                &json!({"webhookName": "nope"})
            )
            .error(400),
        "WebhookNotFoundException"
    );
    server.ok("DeleteWebhook", json!({"name": "app-push"}));
    server.ok("DeleteWebhook", json!({"name": "app-push"}));
    let r = deliver(&server, &url, &body, Some(&signature), "d-5");
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn a_template_webhook_is_put_by_sluice_create() {
    let dir = tempfile::tempdir().expect("temp");
    let server = Server::start(dir.path());
    repository(&dir.path().join("src"));
    let template = dir.path().join("pipeline.yaml");
    std::fs::write(
        &template,
        r#"Parameters:
  HookSecret: {Type: String, NoEcho: true}
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: hooked
      PipelineType: V2
      RoleArn: arn:aws:iam::111122223333:role/sluice-pipeline-hooked
      ArtifactStore: {Type: S3, Location: artifacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Checkout
              ActionTypeId: {Category: Source, Owner: ThirdParty, Provider: LocalSource, Version: 1}
              Configuration: {Path: src, BranchName: main}
              OutputArtifacts: [{Name: Src}]
        - Name: Build
          Actions:
            - Name: Greet
              ActionTypeId: {Category: Compute, Owner: AWS, Provider: Commands, Version: 1}
              Commands: [cat greeting.txt]
              InputArtifacts: [{Name: Src}]
  Hook:
    Type: AWS::CodePipeline::Webhook
    Properties:
      Authentication: GITHUB_HMAC
      AuthenticationConfiguration: {SecretToken: !Ref HookSecret}
      Filters: [{JsonPath: $.ref, MatchEquals: 'refs/heads/{BranchName}'}]
      TargetPipeline: !Ref Pipeline
      TargetAction: Checkout
      TargetPipelineVersion: !GetAtt Pipeline.Version
      RegisterWithThirdParty: false
"#,
    )
    .expect("template");
    let out = server
        .cli()
        .arg("create")
        .arg(&template)
        .args(["--parameter", &format!("HookSecret={SECRET}")])
        .output()
        .expect("create");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("webhook Hook takes deliveries at"),
        "{stderr}"
    );
    let listed = server.ok("ListWebhooks", json!({}));
    let hook = &listed["webhooks"][0];
    assert_eq!(hook["definition"]["targetPipeline"], "hooked", "{listed}");
    let name = hook["definition"]["name"].as_str().expect("name");
    assert!(name.contains("Hook"), "{name}");
    let url = hook["url"].as_str().expect("url");
    let body = push("main");
    let r = deliver(
        &server,
        url,
        &body,
        Some(&github_signature(SECRET.as_bytes(), &body)),
        "t-1",
    );
    assert_eq!(r.json()["started"], true, "{}", r.body);
}
