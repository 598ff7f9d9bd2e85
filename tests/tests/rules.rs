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

/// Source, then Deploy, whose action fails when the variable `Fail` is yes, with `on_failure` (YAML at the
/// stage's indentation).
fn failing(name: &str, on_failure: &str) -> String {
    format!(
        r##"
name: {name}
pipelineType: V2
variables:
  - {{name: Fail, defaultValue: "no"}}
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
{on_failure}
    actions:
      - name: Ship
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        inputArtifacts: [{{name: Src}}]
        commands: ['test "#{{variables.Fail}}" != yes']
"##
    )
}

fn on_failure_rule(rule: &str) -> String {
    format!(
        r#"    onFailure:
      conditions:
        - result: ROLLBACK
          rules:
{rule}"#
    )
}

impl Harness {
    async fn start_failing(&self, pipeline: &str, fail: bool) -> String {
        let request = StartRequest {
            variables: [(
                "Fail".to_owned(),
                if fail { "yes" } else { "no" }.to_owned(),
            )]
            .into(),
            ..StartRequest::default()
        };
        self.runtime
            .start_execution(pipeline, request)
            .await
            .expect("started")
            .execution_id
    }

    async fn rollbacks_of(&self, pipeline: &str) -> Vec<sluice_runtime::records::ExecutionRecord> {
        self.runtime
            .list_executions(pipeline, 100)
            .await
            .expect("list")
            .into_iter()
            .filter(|e| e.rollback_metadata.is_some())
            .collect()
    }

    /// The failed-stage task of `id`'s Deploy delivered again, twice at once, with tokens nobody waits on.
    async fn redeliver_failure(&self, pipeline: &str, id: &str) {
        let request = |token: &str| sluice_definition::contract::TaskRequest::StageFailed {
            pipeline: pipeline.into(),
            version: 1,
            execution_id: id.into(),
            stage: "Deploy".into(),
            error: sluice_definition::contract::TaskError {
                error: sluice_definition::contract::error::ACTION_FAILED.into(),
                cause: "Ship failed".into(),
            },
            token: token.into(),
        };
        let (a, b) = tokio::join!(
            self.runtime.handle(request("again-a")),
            self.runtime.handle(request("again-b")),
        );
        a.expect("first redelivery");
        b.expect("second redelivery");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_rules_that_pass_roll_the_failed_stage_back() {
    // A Commands rule: it runs as a job, and the failed-stage task is answered when it ends.
    let rule = r#"            - name: Healthy
              ruleTypeId: {category: Rule, owner: AWS, provider: Commands, version: "1"}
              inputArtifacts: [{name: Src}]
              commands: ["grep -q a a.txt"]"#;
    let h = Harness::open(&failing("healing", &on_failure_rule(rule))).await;
    let good = h.start_failing("healing", false).await;
    assert_eq!(h.finished(&good).await, ExecutionStatus::Succeeded);
    // Deploy succeeded: its onFailure conditions were never evaluated.
    assert!(h
        .runtime
        .rule_executions(&good)
        .await
        .expect("rules")
        .is_empty());

    let bad = h.start_failing("healing", true).await;
    assert_eq!(h.finished(&bad).await, ExecutionStatus::Failed);
    let rules = h.runtime.rule_executions(&bad).await.expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].kind, ConditionKind::OnFailure);
    assert_eq!(rules[0].status, RuleStatus::Succeeded, "{rules:?}");
    assert_eq!(rules[0].check, 1, "it ran as one job: {rules:?}");
    let conditions = h
        .runtime
        .latest_conditions(&bad, "Deploy", ConditionKind::OnFailure)
        .await
        .expect("read")
        .expect("evaluated");
    assert_eq!(conditions.status, ConditionStatus::Succeeded);

    // The condition was met: ROLLBACK applied, to the execution that succeeded through Deploy.
    let mut started = Vec::new();
    until("the rollback to start", 30, async || {
        started = h.rollbacks_of("healing").await;
        !started.is_empty()
    })
    .await;
    assert_eq!(started.len(), 1, "{started:?}");
    let meta = started[0].rollback_metadata.clone().expect("metadata");
    assert_eq!(meta.rollback_target_pipeline_execution_id, good);
    assert_eq!(started[0].trigger.trigger_detail, bad);
    assert_eq!(
        h.finished(&started[0].execution_id).await,
        ExecutionStatus::Succeeded
    );

    let (status, state) = h.api("GetPipelineState", json!({"name": "healing"})).await;
    assert_eq!(status, 200, "{state}");
    let on_failure = &state["stageStates"][1]["onFailureConditionState"];
    assert_eq!(
        on_failure["latestExecution"]["status"], "Succeeded",
        "{state}"
    );
    assert_eq!(
        on_failure["conditionStates"][0]["ruleStates"][0]["ruleName"], "Healthy",
        "{state}"
    );
    let (status, listed) = h
        .api(
            "ListRuleExecutions",
            json!({"pipelineName": "healing", "filter": {"pipelineExecutionId": bad}}),
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let detail = &listed["ruleExecutionDetails"][0];
    assert_eq!(detail["ruleName"], "Healthy");
    assert_eq!(detail["status"], "Succeeded");
    assert_eq!(detail["input"]["ruleTypeId"]["provider"], "Commands");

    // The failed-stage task delivered again changes nothing: no rule runs again, no second rollback.
    h.redeliver_failure("healing", &bad).await;
    let again = h.runtime.rule_executions(&bad).await.expect("rules");
    assert_eq!(again, rules);
    assert_eq!(h.rollbacks_of("healing").await.len(), 1);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_rules_that_do_not_pass_leave_the_stage_failed() {
    let rule = r##"            - name: Allowed
              ruleTypeId: {category: Rule, owner: AWS, provider: VariableCheck, version: "1"}
              configuration: {Variable: "#{variables.Fail}", Operator: EQ, Value: "no"}"##;
    let h = Harness::open(&failing("stuck", &on_failure_rule(rule))).await;
    let good = h.start_failing("stuck", false).await;
    assert_eq!(h.finished(&good).await, ExecutionStatus::Succeeded);
    let bad = h.start_failing("stuck", true).await;
    assert_eq!(h.finished(&bad).await, ExecutionStatus::Failed);
    let rules = h.runtime.rule_executions(&bad).await.expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].status, RuleStatus::Failed, "{rules:?}");
    let conditions = h
        .runtime
        .latest_conditions(&bad, "Deploy", ConditionKind::OnFailure)
        .await
        .expect("read")
        .expect("evaluated");
    assert_eq!(conditions.status, ConditionStatus::Failed);
    // Not met: the stage failed and nothing was rolled back, though there was a target.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.rollbacks_of("stuck").await.is_empty());
    let deploy = h
        .runtime
        .stages(&bad)
        .await
        .expect("stages")
        .into_iter()
        .find(|s| s.stage == "Deploy")
        .expect("Deploy");
    assert_eq!(deploy.status, StageStatus::Failed);
    let error = deploy.error.unwrap_or_default();
    assert!(
        error.contains("not rolled back") && error.contains("Allowed"),
        "{error}"
    );
    h.redeliver_failure("stuck", &bad).await;
    assert!(h.rollbacks_of("stuck").await.is_empty());
    assert_eq!(h.runtime.rule_executions(&bad).await.expect("rules"), rules);
    h.close().await;
}
