//! Stage conditions end to end in process, over the real embedded adapters (the job agent runs Commands
//! rules, the host's timers wake waiting windows), with a clock the test moves: a deployment window that
//! opens while the stage waits, OverrideStageCondition releasing a waiting condition, VariableCheck and
//! Commands rules passing and failing with each result, and the rule executions they leave as the API shows
//! them (ListRuleExecutions, GetPipelineState).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_definition::{Limits, Syntax};
use sluice_runtime::records::{ExecutionStatus, StageStatus};
use sluice_runtime::rule_executions::{ConditionKind, ConditionStatus, RuleStatus};
use sluice_runtime::{Runtime, StartRequest};
use tokio::sync::Notify;

use sluice_tests::embedded::{wire, TestEnv};

/// Monday 2026-12-07 08:30 UTC.
const MONDAY_0830: i64 = 1_796_632_200_000;

struct Harness {
    _dir: tempfile::TempDir,
    env: Arc<TestEnv>,
    runtime: Arc<Runtime>,
    stop: Arc<Notify>,
    driving: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn open(pipeline: &str) -> Self {
        // Waiting rules are looked at again at least every second.
        std::env::set_var("SLUICE_POLL_MAX_SECONDS", "1");
        let dir = tempfile::tempdir().expect("temp");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        std::fs::write(dir.path().join("src/a.txt"), "a").expect("file");
        let env = TestEnv::at(MONDAY_0830);
        let (runtime, engine) = wire(dir.path(), env.clone());
        let doc = sluice_definition::load(pipeline, Syntax::Yaml, &Limits::default())
            .unwrap_or_else(|e| panic!("valid: {e}"));
        runtime
            .put_pipeline(
                doc.pipeline,
                Some(dir.path().to_string_lossy().into_owned()),
            )
            .await
            .expect("stored");
        let stop = Arc::new(Notify::new());
        let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
        Self {
            _dir: dir,
            env,
            runtime,
            stop,
            driving,
        }
    }

    async fn start(&self, pipeline: &str) -> String {
        self.runtime
            .start_execution(pipeline, StartRequest::default())
            .await
            .expect("started")
            .execution_id
    }

    async fn finished(&self, id: &str) -> ExecutionStatus {
        let mut status = ExecutionStatus::InProgress;
        until("the execution to end", 60, async || {
            status = self.runtime.execution(id).await.expect("read").status;
            status.is_final()
        })
        .await;
        status
    }

    async fn stage_status(&self, id: &str, stage: &str) -> Option<StageStatus> {
        self.runtime
            .stages(id)
            .await
            .expect("stages")
            .into_iter()
            .filter(|s| s.stage == stage)
            .max_by_key(|s| s.attempt)
            .map(|s| s.status)
    }

    async fn api(&self, operation: &str, body: Value) -> (u16, Value) {
        let reply = sluice_web::codepipeline::handle(
            &self.runtime,
            &format!("CodePipeline_20150709.{operation}"),
            body.to_string().as_bytes(),
        )
        .await;
        (reply.status, reply.body)
    }

    async fn close(self) {
        self.stop.notify_one();
        self.driving.await.expect("engine stops");
    }
}

async fn until(what: &str, seconds: u64, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A pipeline whose Deploy stage (one Commands action) has `conditions` (YAML at the stage's indentation).
fn pipeline(name: &str, conditions: &str) -> String {
    format!(
        r#"
name: {name}
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
{conditions}
    actions:
      - name: Ship
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        inputArtifacts: [{{name: Src}}]
        commands: ["cat a.txt"]
"#
    )
}

fn window(result: &str, cron: &str) -> String {
    format!(
        r#"    beforeEntry:
      conditions:
        - result: {result}
          rules:
            - name: Window
              ruleTypeId: {{category: Rule, owner: AWS, provider: DeploymentWindow, version: "1"}}
              configuration: {{Cron: "{cron}", TimeZone: Europe/London}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_window_holds_the_stage_until_it_opens() {
    let h = Harness::open(&pipeline(
        "windowed",
        &window("FAIL", "* * 9-17 ? * MON-FRI"),
    ))
    .await;
    let id = h.start("windowed").await;
    until("the window's rule to wait", 20, async || {
        h.runtime
            .rule_executions(&id)
            .await
            .expect("rules")
            .first()
            .is_some_and(|r| {
                r.status == RuleStatus::InProgress
                    && r.summary.as_deref().unwrap_or("").contains("waiting")
            })
    })
    .await;
    // Outside the window the stage is not entered, however often the rule is looked at.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(h.stage_status(&id, "Deploy").await, None);
    let conditions = h
        .runtime
        .latest_conditions(&id, "Deploy", ConditionKind::BeforeEntry)
        .await
        .expect("read")
        .expect("evaluated");
    assert_eq!(conditions.status, ConditionStatus::InProgress);
    let (status, state) = h.api("GetPipelineState", json!({"name": "windowed"})).await;
    assert_eq!(status, 200, "{state}");
    let deploy = &state["stageStates"][1];
    assert_eq!(
        deploy["beforeEntryConditionState"]["latestExecution"]["status"], "InProgress",
        "{deploy}"
    );
    let rule = &deploy["beforeEntryConditionState"]["conditionStates"][0]["ruleStates"][0];
    assert_eq!(rule["ruleName"], "Window");
    assert_eq!(rule["latestExecution"]["status"], "InProgress", "{rule}");

    // 09:01 in London (UTC in December): the window is open; the next look lets the stage in.
    h.env.advance_ms(31 * 60 * 1000);
    assert_eq!(h.finished(&id).await, ExecutionStatus::Succeeded);
    let rules = h.runtime.rule_executions(&id).await.expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].status, RuleStatus::Succeeded);
    assert!(rules[0].check >= 1, "it waited: {rules:?}");
    assert_eq!(
        rules[0]
            .resolved_configuration
            .get("TimeZone")
            .map(String::as_str),
        Some("Europe/London")
    );

    let (status, listed) = h
        .api(
            "ListRuleExecutions",
            json!({"pipelineName": "windowed", "filter": {"pipelineExecutionId": id}}),
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let detail = &listed["ruleExecutionDetails"][0];
    assert_eq!(detail["pipelineExecutionId"], id.as_str());
    assert_eq!(detail["stageName"], "Deploy");
    assert_eq!(detail["ruleName"], "Window");
    assert_eq!(detail["status"], "Succeeded");
    assert_eq!(
        detail["input"]["ruleTypeId"]["provider"],
        "DeploymentWindow"
    );
    assert_eq!(
        detail["input"]["resolvedConfiguration"]["Cron"],
        "* * 9-17 ? * MON-FRI"
    );
    assert!(detail["startTime"].is_number() && detail["lastUpdateTime"].is_number());
    assert!(
        detail["output"]["executionResult"]["externalExecutionSummary"]
            .as_str()
            .unwrap_or("")
            .contains("inside the deployment window")
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_lets_a_waiting_condition_through_once() {
    // Only on New Year's Day: the window does not open during the test.
    let h = Harness::open(&pipeline("overridden", &window("FAIL", "* * * 1 JAN ?"))).await;
    let id = h.start("overridden").await;
    until("the window's rule to wait", 20, async || {
        h.runtime
            .latest_conditions(&id, "Deploy", ConditionKind::BeforeEntry)
            .await
            .expect("read")
            .is_some_and(|c| c.status == ConditionStatus::InProgress)
    })
    .await;
    let request = |stage: &str, kind: &str| json!({"pipelineName": "overridden", "stageName": stage, "pipelineExecutionId": id, "conditionType": kind});
    // Conditions the stage does not have, and stages the pipeline does not have, are refused.
    let (status, body) = h
        .api("OverrideStageCondition", request("Deploy", "ON_SUCCESS"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ConditionNotOverridableException", "{body}");
    let (_, body) = h
        .api("OverrideStageCondition", request("Nowhere", "BEFORE_ENTRY"))
        .await;
    assert_eq!(body["__type"], "StageNotFoundException", "{body}");
    let (_, body) = h
        .api("OverrideStageCondition", request("Deploy", "ON_FAILURE"))
        .await;
    assert_eq!(body["__type"], "ValidationException", "{body}");

    let (status, body) = h
        .api("OverrideStageCondition", request("Deploy", "BEFORE_ENTRY"))
        .await;
    assert_eq!((status, &body), (200, &json!({})));
    assert_eq!(h.finished(&id).await, ExecutionStatus::Succeeded);
    let conditions = h
        .runtime
        .latest_conditions(&id, "Deploy", ConditionKind::BeforeEntry)
        .await
        .expect("read")
        .expect("evaluated");
    assert_eq!(conditions.status, ConditionStatus::Overridden);
    let rules = h.runtime.rule_executions(&id).await.expect("rules");
    assert_eq!(rules[0].status, RuleStatus::Abandoned, "{rules:?}");
    assert!(rules[0].updated_by.is_some());
    // Decided conditions cannot be overridden again.
    let (status, body) = h
        .api("OverrideStageCondition", request("Deploy", "BEFORE_ENTRY"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ConditionNotOverridableException", "{body}");
    let (_, state) = h
        .api("GetPipelineState", json!({"name": "overridden"}))
        .await;
    assert_eq!(
        state["stageStates"][1]["beforeEntryConditionState"]["latestExecution"]["status"],
        "Overridden",
        "{state}"
    );
    h.close().await;
}

fn variable_check(place: &str, result: &str, variable: &str, op: &str, value: &str) -> String {
    format!(
        r#"    {place}:
      conditions:
        - result: {result}
          rules:
            - name: Check
              ruleTypeId: {{category: Rule, owner: AWS, provider: VariableCheck, version: "1"}}
              configuration: {{Variable: "{variable}", Operator: {op}, Value: "{value}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variable_checks_pass_fail_and_skip_with_each_result() {
    let cases = [
        // (conditions, final status, Deploy's status)
        (
            variable_check(
                "beforeEntry",
                "FAIL",
                "#{codepipeline.PipelineExecutionId}",
                "MATCHES",
                ".+",
            ),
            ExecutionStatus::Succeeded,
            Some(StageStatus::Succeeded),
        ),
        (
            variable_check(
                "beforeEntry",
                "FAIL",
                "#{codepipeline.PipelineExecutionId}",
                "EQ",
                "nope",
            ),
            ExecutionStatus::Failed,
            Some(StageStatus::Failed),
        ),
        (
            variable_check(
                "beforeEntry",
                "SKIP",
                "#{codepipeline.PipelineExecutionId}",
                "CONTAINS",
                "nope",
            ),
            ExecutionStatus::Succeeded,
            Some(StageStatus::Skipped),
        ),
        (
            variable_check(
                "onSuccess",
                "FAIL",
                "#{codepipeline.PipelineExecutionId}",
                "NE",
                "nope",
            ),
            ExecutionStatus::Succeeded,
            Some(StageStatus::Succeeded),
        ),
        (
            variable_check(
                "onSuccess",
                "FAIL",
                "#{codepipeline.PipelineExecutionId}",
                "EQ",
                "nope",
            ),
            ExecutionStatus::Failed,
            Some(StageStatus::Failed),
        ),
    ];
    for (i, (conditions, want, stage)) in cases.into_iter().enumerate() {
        let name = format!("checked-{i}");
        let h = Harness::open(&pipeline(&name, &conditions)).await;
        let id = h.start(&name).await;
        assert_eq!(h.finished(&id).await, want, "case {i}: {conditions}");
        assert_eq!(h.stage_status(&id, "Deploy").await, stage, "case {i}");
        let rules = h.runtime.rule_executions(&id).await.expect("rules");
        assert_eq!(rules.len(), 1, "case {i}");
        let passed = want == ExecutionStatus::Succeeded && stage == Some(StageStatus::Succeeded);
        assert_eq!(
            rules[0].status,
            if passed {
                RuleStatus::Succeeded
            } else {
                RuleStatus::Failed
            },
            "case {i}: {rules:?}"
        );
        if !passed {
            assert!(
                rules[0].error.as_deref().unwrap_or("").contains("is false"),
                "{rules:?}"
            );
        }
        h.close().await;
    }
}

fn commands_rule(result: &str, command: &str) -> String {
    format!(
        r#"    onSuccess:
      conditions:
        - result: {result}
          rules:
            - name: Smoke
              ruleTypeId: {{category: Rule, owner: AWS, provider: Commands, version: "1"}}
              inputArtifacts: [{{name: Src}}]
              commands: ["{command}"]"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_rules_run_on_the_job_agent() {
    for (command, want) in [
        ("grep -q a a.txt", ExecutionStatus::Succeeded),
        ("exit 3", ExecutionStatus::Failed),
    ] {
        let h = Harness::open(&pipeline("smoke", &commands_rule("FAIL", command))).await;
        let id = h.start("smoke").await;
        assert_eq!(h.finished(&id).await, want, "{command}");
        let rules = h.runtime.rule_executions(&id).await.expect("rules");
        assert_eq!(rules.len(), 1);
        let rule = &rules[0];
        assert_eq!(
            rule.status,
            if want == ExecutionStatus::Succeeded {
                RuleStatus::Succeeded
            } else {
                RuleStatus::Failed
            },
            "{rule:?}"
        );
        assert_eq!(rule.input_artifacts.len(), 1, "the rule read Src");
        if want == ExecutionStatus::Failed {
            assert!(
                rule.error.as_deref().unwrap_or("").contains('3'),
                "{rule:?}"
            );
        }
        h.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_types_list_the_five_providers() {
    let h = Harness::open(&pipeline("listed", "")).await;
    let (status, body) = h.api("ListRuleTypes", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let types = body["ruleTypes"].as_array().expect("ruleTypes");
    let names: Vec<&str> = types
        .iter()
        .filter_map(|t| t["id"]["provider"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "CloudWatchAlarm",
            "Commands",
            "DeploymentWindow",
            "LambdaInvoke",
            "VariableCheck"
        ]
    );
    let window = &types[2];
    assert_eq!(window["id"]["category"], "Rule");
    assert_eq!(window["ruleConfigurationProperties"][0]["name"], "Cron");
    assert_eq!(window["ruleConfigurationProperties"][0]["required"], true);
    let (_, none) = h
        .api(
            "ListRuleTypes",
            json!({"ruleOwnerFilter": "AWS", "regionFilter": "eu-west-9"}),
        )
        .await;
    assert_eq!(none["ruleTypes"], json!([]));
    let (status, bad) = h
        .api("ListRuleTypes", json!({"ruleOwnerFilter": "Custom"}))
        .await;
    assert_eq!(status, 400, "{bad}");
    h.close().await;
}
