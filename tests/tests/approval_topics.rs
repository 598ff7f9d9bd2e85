//! A Manual action's `NotificationArn` under `sluice serve`, with the standard AWS settings pointed at moto:
//! when the approval starts waiting, CodePipeline's approval message is published to that SNS topic (a queue
//! subscribed to it receives it), its review link is the signed link `sluice serve` announces, and its
//! `consoleLink` is the execution's console page, which answers.

use serde_json::{json, Value};
use sluice_tests::moto::{self, config, unique};
use sluice_tests::served::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_serve_publishes_a_waiting_approval_to_its_notification_arn() {
    let sdk = config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (topic, queue) = moto::topic_to_queue(&sdk, "reviews").await;

    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("src");
    std::fs::create_dir_all(&source).expect("source");
    std::fs::write(source.join("app.txt"), "v1\n").expect("file");
    let server = Server::start(&dir.path().join("server"));
    let name = unique("noticed");
    server.ok(
        "CreatePipeline",
        json!({"pipeline": {
            "name": name,
            "roleArn": "arn:aws:iam::123456789012:role/sluice-test",
            "artifactStore": {"type": "S3", "location": "sluice-artifacts"},
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{"name": "Checkout",
                    "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                    "configuration": {"Path": source.to_str().expect("utf-8")},
                    "outputArtifacts": [{"name": "Src"}]}]},
                {"name": "Review", "actions": [{"name": "Sign-off",
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                    "configuration": {"NotificationArn": topic, "CustomData": "Ship v1?"}}]}
            ]
        }}),
    );
    let started = server.ok("StartPipelineExecution", json!({ "name": name }));
    let id = started["pipelineExecutionId"]
        .as_str()
        .expect("an execution id")
        .to_owned();

    let messages = moto::receive(&sqs, &queue, 1).await;
    assert_eq!(messages.len(), 1, "one notice on the action's topic");
    let message: Value = serde_json::from_str(&messages[0]).expect("the message is JSON");
    let approval = &message["approval"];
    assert_eq!(approval["pipelineName"], name.as_str());
    assert_eq!(approval["stageName"], "Review");
    assert_eq!(approval["actionName"], "Sign-off");
    assert_eq!(approval["customData"], "Ship v1?");
    let state = server.ok("GetPipelineState", json!({ "name": name }));
    let token = state["stageStates"][1]["actionStates"][0]["latestExecution"]["token"].clone();
    assert_eq!(approval["token"], token, "{state}");
    let review = approval["approvalReviewLink"]
        .as_str()
        .expect("review link");
    assert!(
        review.starts_with(&format!("{}/approvals/", server.url())),
        "{review}"
    );
    let console = message["consoleLink"].as_str().expect("consoleLink");
    assert_eq!(
        console,
        format!("{}/pipelines/{name}/executions/{id}", server.url())
    );
    // The console link answers: the page, or the way to sign in to see it; never a 404.
    let path = console.strip_prefix(&server.url()).expect("a path");
    let page = server.send("GET", path, &[], b"").expect("GET consoleLink");
    assert!(
        (200..400).contains(&page.status),
        "consoleLink answers {}: {}",
        page.status,
        page.body
    );
    // The approval is decided through the API as usual afterwards.
    server.ok(
        "PutApprovalResult",
        json!({"pipelineName": name, "stageName": "Review", "actionName": "Sign-off",
               "result": {"summary": "ok", "status": "Approved"}, "token": token}),
    );
}
