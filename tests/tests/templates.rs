//! Pipelines declared in CloudFormation and SAM templates (`AWS::CodePipeline::Pipeline` resources):
//! - `sluice validate`, `asl`, `run`, `create` and `update` read a template's pipeline, its intrinsic functions
//!   resolved from the parameters and `--parameter` values; what only a deployment knows is a placeholder for
//!   `validate` and a located refusal otherwise; problems name the template path and line;
//! - the templates cfn-lint accepts read (or say why, located), and `sluice port-template` changes only the
//!   CodePipeline resources, into a template cfn-lint still accepts;
//! - the custom resource handler (`sluice_web::cfn_resource`) on a real runtime, driven with CloudFormation's
//!   request shapes (`aws_lambda_events`): create, retried create, update, rename (replacement), delete, a delete
//!   of what was never created, custom action types, and failures naming the property within 4 KiB.
//!
//! The handler as a Lambda binary, answering at a pre-signed URL, is in `functions.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
};
use serde_json::{json, Value};
use sluice_tests::{fixture, sam_tool, sluice, workspace};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(state: &Path, args: &[&str]) -> Output {
    let out = sluice()
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("sluice runs");
    eprintln!("{}{}", text(&out.stdout), text(&out.stderr));
    out
}

fn templates(name: &str) -> String {
    fixture(&format!("templates/{name}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn validate_reads_a_template_and_marks_what_only_a_deployment_knows() {
    let state = tempfile::tempdir().expect("temp");
    let release = templates("release.yaml");
    let out = run(
        state.path(),
        &["validate", &release, "--parameter", "Stage=prod"],
    );
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok: pipeline orders-prod-release (V2, QUEUED), 4 stages, 4 actions"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "not judged (only a deployment knows it): Resources.Pipeline.Properties.RoleArn.Fn::GetAtt: !GetAtt \
             PipelineRole.Arn"
        ),
        "{stdout}"
    );
    // With every value given, nothing is left unjudged; the JSON form of the template reads the same.
    let values = templates("release.values.json");
    for file in [release.as_str(), &templates("release.json")] {
        let out = run(
            state.path(),
            &[
                "--output",
                "json",
                "validate",
                file,
                "--parameters-file",
                &values,
            ],
        );
        assert!(out.status.success());
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report[0]["pipeline"], "orders-prod-release");
        assert_eq!(report[0]["resource"], "Pipeline");
        assert_eq!(report[0]["unresolved"], json!([]));
    }
    // asl compiles it.
    let out = run(
        state.path(),
        &["asl", &release, "--parameter", "Stage=beta"],
    );
    assert!(out.status.success());
    let machine: Value = serde_json::from_slice(&out.stdout).expect("ASL");
    assert!(machine["States"].is_object());
}

#[test]
fn a_templates_problems_name_the_path_and_line_and_refusals_say_what_to_give() {
    let state = tempfile::tempdir().expect("temp");
    let dir = tempfile::tempdir().expect("temp");
    let bad = dir.path().join("bad.yaml");
    let original = std::fs::read_to_string(templates("release.yaml")).expect("fixture");
    std::fs::write(
        &bad,
        original.replace("Provider: Manual", "Provider: Manaul"),
    )
    .expect("write");
    let bad = bad.to_string_lossy().into_owned();
    let out = run(
        state.path(),
        &["validate", &bad, "--parameter", "Stage=prod"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(
            "Resources.Pipeline.Properties.Stages[2].Fn::If[1].Actions[0].ActionTypeId.Provider: unknown AWS \
             provider \"Manaul\" (did you mean \"Manual\"?) (line 108, column 74)"
        ),
        "{}",
        text(&out.stdout)
    );
    // run: values only a deployment knows are refused, each saying how to give it.
    let out = run(
        state.path(),
        &[
            "run",
            &templates("release.yaml"),
            "--parameter",
            "Stage=prod",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "give its value with --parameter 'PipelineRole.Arn=VALUE' (line 54, column 24)"
        ),
        "{stderr}"
    );
    let out = run(state.path(), &["run", &templates("release.yaml")]);
    assert!(
        text(&out.stderr)
            .contains("parameter Stage has no Default: give it with --parameter 'Stage=VALUE'"),
        "{}",
        text(&out.stderr)
    );
    // Template options on a plain definition are a usage error.
    let hello = workspace().join("examples/hello/pipeline.yaml");
    let out = run(
        state.path(),
        &[
            "validate",
            hello.to_str().expect("utf-8"),
            "--parameter",
            "A=b",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_example_template_runs_locally() {
    let state = tempfile::tempdir().expect("temp");
    let dir = workspace().join("examples/cloudformation-pipeline");
    let out = run(
        state.path(),
        &[
            "run",
            dir.join("template.yaml").to_str().expect("utf-8"),
            "--parameters-file",
            dir.join("local.params").to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("execution") && text(&out.stdout).contains("Succeeded"));
    let deployed = state.path().join("objects/buckets/site-live/index.html");
    assert!(std::fs::read_to_string(&deployed)
        .expect("deployed")
        .contains("<title>"));
}

#[test]
fn create_and_update_apply_tags_disabled_transitions_and_restarts() {
    let state = tempfile::tempdir().expect("temp");
    let values = templates("release.values.json");
    let release = templates("release.yaml");
    let out = run(
        state.path(),
        &["create", &release, "--parameters-file", &values],
    );
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("the transition into Release is disabled"));
    let status = run(
        state.path(),
        &["--output", "json", "status", "orders-prod-release"],
    );
    let status: Value = serde_json::from_slice(&status.stdout).expect("json");
    let release_stage = status["stageStates"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stageName"] == "Release")
        .expect("Release")
        .clone();
    assert_eq!(
        release_stage["inboundTransitionState"]["enabled"], false,
        "{release_stage}"
    );
    assert_eq!(
        release_stage["inboundTransitionState"]["disabledReason"],
        "held in eu-west-1 until the ${Freeze} ends"
    );
    // RestartExecutionOnUpdate: an update starts an execution.
    let out = run(
        state.path(),
        &["update", &release, "--parameters-file", &values],
    );
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("(RestartExecutionOnUpdate)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn cfn_lint_accepts_the_templates_and_the_ported_ones() {
    let dir = tempfile::tempdir().expect("temp");
    let mut files: Vec<PathBuf> = vec![
        fixture("templates/release.yaml"),
        fixture("templates/release.json"),
        workspace().join("examples/cloudformation-pipeline/template.yaml"),
    ];
    for source in files.clone() {
        let out = sluice()
            .arg("port-template")
            .arg(&source)
            .output()
            .expect("port");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let ported_text = text(&out.stdout);
        let original = std::fs::read_to_string(&source).expect("read");
        // Only the resource's type and its new ServiceToken differ: undone, the text is the original.
        let undone: String = ported_text
            .replace(
                " \"ServiceToken\": {\"Fn::ImportValue\": \"sluice-PipelineServiceToken\"},",
                "",
            )
            .replace(
                "Type: Custom::SluicePipeline",
                "Type: AWS::CodePipeline::Pipeline",
            )
            .replace(
                "\"Type\": \"Custom::SluicePipeline\"",
                "\"Type\": \"AWS::CodePipeline::Pipeline\"",
            )
            .split_inclusive('\n')
            .filter(|l| l.trim() != "ServiceToken: !ImportValue sluice-PipelineServiceToken")
            .collect();
        assert_eq!(undone, original, "{ported_text}");
        assert_ne!(ported_text, original);
        let ported = dir.path().join(format!(
            "ported-{}",
            source.file_name().and_then(|n| n.to_str()).expect("name")
        ));
        std::fs::write(&ported, ported_text).expect("write");
        files.push(ported);
    }
    let mut lint = sam_tool("cfn-lint");
    lint.args(&files);
    let out = lint.output().expect("cfn-lint runs");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The ported template reads back as the same pipeline? Not as a pipeline: it has none left to read.
    let out = sluice()
        .args([
            "validate",
            files[3].to_str().expect("utf-8"),
            "--parameter",
            "Stage=prod",
        ])
        .output()
        .expect("validate");
    assert!(
        text(&out.stdout).contains("the template creates no AWS::CodePipeline::Pipeline"),
        "{}",
        text(&out.stdout)
    );
}

/// A custom resource request as CloudFormation sends it (checked against `aws_lambda_events`' shapes).
fn request(
    kind: &str,
    resource_type: &str,
    physical: Option<&str>,
    props: Value,
    old: Option<Value>,
) -> Value {
    let mut props = props;
    props["ServiceToken"] =
        json!("arn:aws:lambda:us-east-1:111122223333:function:sluice-cfn-resource");
    let mut r = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:sluice-cfn-resource",
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/response?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/web/6e0c1f30-93c4-11ef-b1b2-0e8f1c7a9d41",
        "RequestId": format!("req-{kind}-{}", props.to_string().len()),
        "ResourceType": resource_type,
        "LogicalResourceId": "Pipeline",
        "ResourceProperties": props,
    });
    if let Some(p) = physical {
        r["PhysicalResourceId"] = json!(p);
    }
    if let Some(mut o) = old {
        o["ServiceToken"] = r["ServiceToken"].clone();
        r["OldResourceProperties"] = o;
    }
    let typed: CloudFormationCustomResourceRequest =
        serde_json::from_value(r.clone()).expect("a CloudFormation request");
    serde_json::to_value(typed).expect("json")
}

/// The handler's answer, checked against `aws_lambda_events`' response shape and CloudFormation's size limit.
async fn answer(host: &sluice_host::Host, req: &Value) -> Value {
    let response = sluice_web::cfn_resource::handle(&host.runtime, req).await;
    assert!(response.to_string().len() <= 4096, "{response}");
    let _: CloudFormationCustomResourceResponse =
        serde_json::from_value(response.clone()).expect("a CloudFormation response");
    assert_eq!(response["RequestId"], req["RequestId"]);
    assert_eq!(response["LogicalResourceId"], req["LogicalResourceId"]);
    response
}

fn site_pipeline(name: Option<&str>, bucket: &str) -> Value {
    let mut p = json!({
        "RoleArn": "arn:aws:iam::111122223333:role/sluice-pipeline-web",
        "ArtifactStore": {"Type": "S3", "Location": "web-artifacts"},
        "RestartExecutionOnUpdate": "false",
        "DisableInboundStageTransitions": [{"StageName": "Deploy", "Reason": "release freeze"}],
        "Tags": [{"Key": "team", "Value": "web"}],
        "Stages": [
            {"Name": "Source", "Actions": [{
                "Name": "Fetch", "RunOrder": "1",
                "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"},
                "Configuration": {"S3Bucket": "web-src", "S3ObjectKey": "web.zip", "PollForSourceChanges": "false"},
                "OutputArtifacts": [{"Name": "Src"}]
            }]},
            {"Name": "Deploy", "Actions": [{
                "Name": "Copy",
                "ActionTypeId": {"Category": "Deploy", "Owner": "AWS", "Provider": "S3", "Version": "1"},
                "Configuration": {"BucketName": bucket, "Extract": "true"},
                "InputArtifacts": [{"Name": "Src"}]
            }]}
        ]
    });
    if let Some(n) = name {
        p["Name"] = json!(n);
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_create_update_replace_and_delete_pipelines() {
    let state = tempfile::tempdir().expect("temp");
    let host = sluice_host::Host::open(state.path()).expect("host");
    const PIPELINE: &str = "Custom::SluicePipeline";

    // Create, then the same Create again (CloudFormation retries): both succeed with the name and version.
    let create = request(
        "Create",
        PIPELINE,
        None,
        site_pipeline(None, "web-live"),
        None,
    );
    let created = answer(&host, &create).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let name = created["PhysicalResourceId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(name.starts_with("web-Pipeline-"), "{name}");
    assert_eq!(created["Data"], json!({"Name": name, "Version": "1"}));
    assert_eq!(answer(&host, &create).await["Status"], "SUCCESS");
    let stored = host.runtime.pipeline(&name, None).await.expect("stored");
    assert_eq!(
        stored.definition.stages[1].actions[0].config("BucketName"),
        Some("web-live")
    );
    assert!(host
        .runtime
        .disabled_transitions(&name)
        .await
        .expect("transitions")
        .contains_key("Deploy"));

    // Update in place: a new version; the transition enabled again once the property no longer lists it.
    let mut changed = site_pipeline(None, "web-live-2");
    changed
        .as_object_mut()
        .expect("object")
        .remove("DisableInboundStageTransitions");
    let update = request(
        "Update",
        PIPELINE,
        Some(&name),
        changed.clone(),
        Some(site_pipeline(None, "web-live")),
    );
    let updated = answer(&host, &update).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["PhysicalResourceId"], json!(name));
    assert_eq!(updated["Data"]["Version"], "2");
    assert!(!host
        .runtime
        .disabled_transitions(&name)
        .await
        .expect("transitions")
        .contains_key("Deploy"));

    // A new Name replaces it: the new pipeline is created; CloudFormation then deletes the old one.
    let rename = request(
        "Update",
        PIPELINE,
        Some(&name),
        site_pipeline(Some("web-release"), "web-live-2"),
        Some(changed),
    );
    let renamed = answer(&host, &rename).await;
    assert_eq!(renamed["PhysicalResourceId"], "web-release", "{renamed}");
    let delete_old = request(
        "Delete",
        PIPELINE,
        Some(&name),
        site_pipeline(None, "x"),
        None,
    );
    assert_eq!(answer(&host, &delete_old).await["Status"], "SUCCESS");
    assert!(host.runtime.pipeline(&name, None).await.is_err());
    assert!(host.runtime.pipeline("web-release", None).await.is_ok());
    // Deleted again, or never created: success.
    assert_eq!(answer(&host, &delete_old).await["Status"], "SUCCESS");
    let never = request(
        "Delete",
        PIPELINE,
        Some("failed-req-Create-1"),
        json!({}),
        None,
    );
    assert_eq!(answer(&host, &never).await["Status"], "SUCCESS");

    // Another pipeline of that name is not taken over.
    let clash = request(
        "Create",
        PIPELINE,
        None,
        site_pipeline(Some("web-release"), "elsewhere"),
        None,
    );
    let refused = answer(&host, &clash).await;
    assert_eq!(refused["Status"], "FAILED");
    assert!(refused["Reason"]
        .as_str()
        .expect("reason")
        .contains("already exists with another definition"));
    assert!(refused["PhysicalResourceId"]
        .as_str()
        .expect("id")
        .starts_with("failed-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_failures_name_the_property_and_fit_the_limit() {
    let state = tempfile::tempdir().expect("temp");
    let host = sluice_host::Host::open(state.path()).expect("host");
    let mut bad = site_pipeline(Some("broken"), "web-live");
    bad["Stages"][1]["Actions"][0]["ActionTypeId"]["Provider"] = json!("S4");
    let failed = answer(
        &host,
        &request("Create", "Custom::SluicePipeline", None, bad, None),
    )
    .await;
    assert_eq!(failed["Status"], "FAILED");
    let reason = failed["Reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(
            "Properties.Stages[1].Actions[0].ActionTypeId.Provider: unknown AWS provider \"S4\""
        ),
        "{reason}"
    );
    // Many problems: the reason is cut to fit CloudFormation's 4 KiB.
    let mut many = site_pipeline(Some("broken"), "web-live");
    let action = many["Stages"][1]["Actions"][0].clone();
    let actions: Vec<Value> = (0..60)
        .map(|i| {
            let mut a = action.clone();
            a["Name"] = json!(format!("Copy{i}"));
            a["ActionTypeId"]["Provider"] = json!(format!("Nope{i}"));
            a
        })
        .collect();
    many["Stages"][1]["Actions"] = json!(actions);
    let failed = answer(
        &host,
        &request("Create", "Custom::SluicePipeline", None, many, None),
    )
    .await;
    assert!(
        failed["Reason"]
            .as_str()
            .expect("reason")
            .ends_with("(cut to fit)"),
        "{failed}"
    );
    // A resource type this token does not serve.
    let other = answer(
        &host,
        &request("Create", "Custom::Other", None, json!({}), None),
    )
    .await;
    assert!(
        other["Reason"]
            .as_str()
            .expect("reason")
            .contains("is not served here"),
        "{other}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_action_types_are_created_and_deleted() {
    let state = tempfile::tempdir().expect("temp");
    let host = sluice_host::Host::open(state.path()).expect("host");
    let props = json!({
        "Category": "Build",
        "Provider": "AcmeCI",
        "Version": "3",
        "Settings": {"EntityUrlTemplate": "https://ci.example/job/{Config:Job}"},
        "ConfigurationProperties": [{"Name": "Job", "Required": "true", "Key": "true", "Secret": "false", "Queryable": "true", "Type": "String"}],
        "InputArtifactDetails": {"MinimumCount": "1", "MaximumCount": "1"},
        "OutputArtifactDetails": {"MinimumCount": "0", "MaximumCount": "1"}
    });
    let kind = "Custom::SluiceCustomActionType";
    let created = answer(&host, &request("Create", kind, None, props.clone(), None)).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(created["PhysicalResourceId"], "Build|AcmeCI|3");
    // A retried Create is success; a change in place is refused, naming what to do.
    assert_eq!(
        answer(&host, &request("Create", kind, None, props.clone(), None)).await["Status"],
        "SUCCESS"
    );
    let mut changed = props.clone();
    changed["Settings"]["EntityUrlTemplate"] = json!("https://ci.example/v2/{Config:Job}");
    let refused = answer(
        &host,
        &request(
            "Update",
            kind,
            Some("Build|AcmeCI|3"),
            changed,
            Some(props.clone()),
        ),
    )
    .await;
    assert!(
        refused["Reason"]
            .as_str()
            .expect("reason")
            .contains("give it a new Version"),
        "{refused}"
    );
    let listed = sluice_web::codepipeline::handle(
        &host.runtime,
        "CodePipeline_20150709.ListActionTypes",
        br#"{"actionOwnerFilter": "Custom"}"#,
    )
    .await;
    assert!(
        listed.body.to_string().contains("AcmeCI"),
        "{}",
        listed.body
    );
    let deleted = answer(
        &host,
        &request("Delete", kind, Some("Build|AcmeCI|3"), props, None),
    )
    .await;
    assert_eq!(deleted["Status"], "SUCCESS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_webhooks_are_put_replaced_and_deleted() {
    let state = tempfile::tempdir().expect("temp");
    let host = sluice_host::Host::open(state.path()).expect("host");
    let _ = host
        .runtime
        .config
        .webhook_base_url
        .set("https://hooks.example.test/".into());
    const WEBHOOK: &str = "Custom::SluiceWebhook";
    let pipeline = request(
        "Create",
        "Custom::SluicePipeline",
        None,
        site_pipeline(Some("hooked-site"), "web-live"),
        None,
    );
    assert_eq!(answer(&host, &pipeline).await["Status"], "SUCCESS");
    let hook = |filter: &str| {
        json!({
            "Authentication": "GITHUB_HMAC",
            "AuthenticationConfiguration": {"SecretToken": "s3cret"},
            "Filters": [{"JsonPath": "$.ref", "MatchEquals": filter}],
            "TargetPipeline": "hooked-site",
            "TargetAction": "Fetch",
            "TargetPipelineVersion": 1,
            "RegisterWithThirdParty": "false"
        })
    };

    // Create without a Name: one generated as CloudFormation does; Url as Fn::GetAtt gives it.
    let created = answer(
        &host,
        &request("Create", WEBHOOK, None, hook("refs/heads/main"), None),
    )
    .await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let name = created["PhysicalResourceId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(name.starts_with("web-Pipeline-"), "{name}");
    assert_eq!(
        created["Data"]["Url"],
        json!(format!("https://hooks.example.test/webhooks/named/{name}"))
    );
    let stored = host.runtime.webhook(&name).await.expect("read");
    assert_eq!(
        stored.expect("stored").definition.filters[0]
            .match_equals
            .as_deref(),
        Some("refs/heads/main")
    );

    // Update in place; a bad filter fails naming the property and keeps the webhook as it was.
    let updated = answer(
        &host,
        &request(
            "Update",
            WEBHOOK,
            Some(&name),
            hook("refs/heads/release"),
            Some(hook("refs/heads/main")),
        ),
    )
    .await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let mut bad = hook("refs/heads/{Branch}");
    bad["Filters"][0]["JsonPath"] = json!("ref");
    let failed = answer(
        &host,
        &request("Update", WEBHOOK, Some(&name), bad, Some(hook("x"))),
    )
    .await;
    assert_eq!(failed["Status"], "FAILED");
    assert_eq!(failed["PhysicalResourceId"], json!(name));
    let reason = failed["Reason"].as_str().expect("reason");
    assert!(
        reason.contains("Properties.filters[0].jsonPath"),
        "{reason}"
    );
    let kept = host
        .runtime
        .webhook(&name)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        kept.definition.filters[0].match_equals.as_deref(),
        Some("refs/heads/release")
    );

    // Delete, twice, and the delete of one never created: all succeed.
    for physical in [name.as_str(), name.as_str(), "failed-req-Create-9"] {
        let deleted = answer(
            &host,
            &request("Delete", WEBHOOK, Some(physical), hook("x"), None),
        )
        .await;
        assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    }
    assert!(host.runtime.webhook(&name).await.expect("read").is_none());
}
