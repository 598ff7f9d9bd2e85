//! Stage conditions through the SDK against the built `sluice serve` (a child module of sdk.rs, whose helpers
//! are in scope as `super::`): ListRuleTypes, a VariableCheck entry condition and an onSuccess Commands rule
//! as ListRuleExecutions and GetPipelineState show them, and a deployment window that will not open soon
//! let through with OverrideStageCondition, with CodePipeline's errors typed by the SDK; an onFailure condition
//! whose rule passes rolling the failed stage back.

use std::time::{Duration, Instant};

use aws_sdk_codepipeline::error::ProvideErrorMetadata;
use aws_sdk_codepipeline::types::{
    BeforeEntryConditions, Condition, ConditionExecutionStatus, ConditionType, ExecutionType,
    FailureConditions, PipelineExecutionStatus, Result as ConditionResult, RuleCategory,
    RuleDeclaration, RuleExecutionFilter, RuleExecutionStatus, RuleOwner, RuleTypeId,
    SuccessConditions,
};
use aws_sdk_codepipeline::Client;

use super::{commands_action, finished, fixture, pipeline, runtime, source_stage, stage, start};

fn rule(
    name: &str,
    provider: &str,
) -> aws_sdk_codepipeline::types::builders::RuleDeclarationBuilder {
    RuleDeclaration::builder().name(name).rule_type_id(
        RuleTypeId::builder()
            .category(RuleCategory::Rule)
            .owner(RuleOwner::Aws)
            .provider(provider)
            .version("1")
            .build()
            .expect("rule type id"),
    )
}

fn condition(result: ConditionResult, rule: RuleDeclaration) -> Condition {
    Condition::builder().result(result).rules(rule).build()
}

/// Waits until the stage's beforeEntry conditions are in progress in GetPipelineState.
async fn entry_waiting(c: &Client, pipeline: &str, stage: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = c
            .get_pipeline_state()
            .name(pipeline)
            .send()
            .await
            .expect("GetPipelineState");
        let waiting = state
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some(stage))
            .and_then(|s| s.before_entry_condition_state())
            .and_then(|c| c.latest_execution())
            .and_then(|e| e.status())
            == Some(&ConditionExecutionStatus::InProgress);
        if waiting {
            return;
        }
        assert!(Instant::now() < deadline, "{stage}'s entry never waited");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[test]
fn stage_conditions_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        let types = c
            .list_rule_types()
            .rule_owner_filter(RuleOwner::Aws)
            .send()
            .await
            .expect("ListRuleTypes");
        let providers: Vec<&str> = types
            .rule_types()
            .iter()
            .filter_map(|t| t.id().map(|id| id.provider()))
            .collect();
        assert_eq!(
            providers,
            [
                "CloudWatchAlarm",
                "Commands",
                "DeploymentWindow",
                "LambdaInvoke",
                "VariableCheck"
            ]
        );
        let alarm = &types.rule_types()[0];
        let names: Vec<&str> = alarm
            .rule_configuration_properties()
            .iter()
            .map(|p| p.name())
            .collect();
        assert_eq!(names, ["AlarmName", "AlarmStates", "WaitTime"]);

        // A VariableCheck before Deploy, a Commands smoke test after it.
        let check = rule("OnRelease", "VariableCheck")
            .configuration("Variable", "#{codepipeline.PipelineExecutionId}")
            .configuration("Operator", "MATCHES")
            .configuration("Value", "[0-9a-f-]{36}")
            .build()
            .expect("rule");
        let smoke = rule("Smoke", "Commands")
            .commands("grep -q v1 app.txt")
            .input_artifacts(
                aws_sdk_codepipeline::types::InputArtifact::builder()
                    .name("Src")
                    .build()
                    .expect("in"),
            )
            .build()
            .expect("rule");
        let mut deploy = stage("Deploy", vec![commands_action("Ship", &["cat app.txt"])]);
        deploy.before_entry = Some(
            BeforeEntryConditions::builder()
                .conditions(condition(ConditionResult::Fail, check))
                .build()
                .expect("before entry"),
        );
        deploy.on_success = Some(
            SuccessConditions::builder()
                .conditions(condition(ConditionResult::Fail, smoke))
                .build()
                .expect("on success"),
        );
        c.create_pipeline()
            .pipeline(pipeline("gated", vec![source_stage(&f.source), deploy]))
            .send()
            .await
            .expect("CreatePipeline");
        let id = start(c, "gated").await;
        assert_eq!(
            finished(c, "gated", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        let listed = c
            .list_rule_executions()
            .pipeline_name("gated")
            .filter(
                RuleExecutionFilter::builder()
                    .pipeline_execution_id(&id)
                    .build(),
            )
            .send()
            .await
            .expect("ListRuleExecutions");
        let mut rules: Vec<(&str, &str)> = listed
            .rule_execution_details()
            .iter()
            .map(|d| {
                assert_eq!(d.pipeline_execution_id(), Some(id.as_str()));
                assert_eq!(d.status(), Some(&RuleExecutionStatus::Succeeded));
                assert!(d.start_time().is_some() && d.last_update_time().is_some());
                (d.stage_name().unwrap_or(""), d.rule_name().unwrap_or(""))
            })
            .collect();
        rules.sort_unstable();
        assert_eq!(rules, [("Deploy", "OnRelease"), ("Deploy", "Smoke")]);
        let check_detail = listed
            .rule_execution_details()
            .iter()
            .find(|d| d.rule_name() == Some("OnRelease"))
            .expect("the check");
        let input = check_detail.input().expect("input");
        assert_eq!(
            input.rule_type_id().map(|t| t.provider()),
            Some("VariableCheck")
        );
        assert_eq!(
            input
                .resolved_configuration()
                .and_then(|c| c.get("Variable"))
                .map(String::as_str),
            Some(id.as_str()),
            "references are resolved"
        );
        // Paged one at a time.
        let first = c
            .list_rule_executions()
            .pipeline_name("gated")
            .max_results(1)
            .send()
            .await
            .expect("a page");
        assert_eq!(first.rule_execution_details().len(), 1);
        let token = first.next_token().expect("another page").to_owned();
        let second = c
            .list_rule_executions()
            .pipeline_name("gated")
            .max_results(1)
            .next_token(token)
            .send()
            .await
            .expect("the next page");
        assert_eq!(second.rule_execution_details().len(), 1);
        assert_ne!(
            first.rule_execution_details()[0].rule_execution_id(),
            second.rule_execution_details()[0].rule_execution_id()
        );
        let state = c
            .get_pipeline_state()
            .name("gated")
            .send()
            .await
            .expect("GetPipelineState");
        let deploy_state = state
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some("Deploy"))
            .expect("Deploy");
        let on_success = deploy_state
            .on_success_condition_state()
            .expect("onSuccess state");
        assert_eq!(
            on_success.latest_execution().and_then(|e| e.status()),
            Some(&ConditionExecutionStatus::Succeeded)
        );
        let smoke_state = &on_success.condition_states()[0].rule_states()[0];
        assert_eq!(smoke_state.rule_name(), Some("Smoke"));
        assert_eq!(
            smoke_state.latest_execution().and_then(|e| e.status()),
            Some(&RuleExecutionStatus::Succeeded)
        );

        // A window that opens only on New Year's Day holds the stage until overridden.
        let window = rule("Window", "DeploymentWindow")
            .configuration("Cron", "* * * 1 JAN ?")
            .build()
            .expect("rule");
        let mut held = stage("Deploy", vec![commands_action("Ship", &["cat app.txt"])]);
        held.before_entry = Some(
            BeforeEntryConditions::builder()
                .conditions(condition(ConditionResult::Fail, window))
                .build()
                .expect("before entry"),
        );
        c.create_pipeline()
            .pipeline(pipeline("held", vec![source_stage(&f.source), held]))
            .send()
            .await
            .expect("CreatePipeline");
        let id = start(c, "held").await;
        entry_waiting(c, "held", "Deploy").await;
        let refused = c
            .override_stage_condition()
            .pipeline_name("held")
            .stage_name("Deploy")
            .pipeline_execution_id(&id)
            .condition_type(ConditionType::OnSuccess)
            .send()
            .await
            .expect_err("no onSuccess conditions");
        assert_eq!(refused.code(), Some("ConditionNotOverridableException"));
        let missing = c
            .override_stage_condition()
            .pipeline_name("held")
            .stage_name("Deploy")
            .pipeline_execution_id("00000000-0000-0000-0000-000000000000")
            .condition_type(ConditionType::BeforeEntry)
            .send()
            .await
            .expect_err("no such execution");
        assert_eq!(missing.code(), Some("PipelineExecutionNotFoundException"));
        c.override_stage_condition()
            .pipeline_name("held")
            .stage_name("Deploy")
            .pipeline_execution_id(&id)
            .condition_type(ConditionType::BeforeEntry)
            .send()
            .await
            .expect("OverrideStageCondition");
        assert_eq!(
            finished(c, "held", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        let listed = c
            .list_rule_executions()
            .pipeline_name("held")
            .send()
            .await
            .expect("ListRuleExecutions");
        let window = &listed.rule_execution_details()[0];
        assert_eq!(window.status(), Some(&RuleExecutionStatus::Abandoned));
        assert!(window.updated_by().is_some());
    });
}

#[test]
fn an_on_failure_condition_that_is_met_rolls_the_stage_back_through_the_sdk() {
    let f = fixture();
    let c = &f.client;
    runtime().block_on(async {
        // Deploy fails on app v2; its onFailure condition's Commands rule passes, so ROLLBACK applies.
        let healthy = rule("Healthy", "Commands")
            .commands("grep -q app app.txt")
            .input_artifacts(
                aws_sdk_codepipeline::types::InputArtifact::builder()
                    .name("Src")
                    .build()
                    .expect("in"),
            )
            .build()
            .expect("rule");
        let mut deploy = stage(
            "Deploy",
            vec![commands_action("Ship", &["grep -q v1 app.txt"])],
        );
        deploy.on_failure = Some(
            FailureConditions::builder()
                .conditions(condition(ConditionResult::Rollback, healthy))
                .build(),
        );
        c.create_pipeline()
            .pipeline(pipeline("healing", vec![source_stage(&f.source), deploy]))
            .send()
            .await
            .expect("CreatePipeline");
        let good = start(c, "healing").await;
        assert_eq!(
            finished(c, "healing", &good).await,
            PipelineExecutionStatus::Succeeded
        );
        std::fs::write(f.source.join("app.txt"), "app v2\n").expect("source file");
        let bad = start(c, "healing").await;
        assert_eq!(
            finished(c, "healing", &bad).await,
            PipelineExecutionStatus::Failed
        );
        // The rollback execution, to the execution that succeeded through Deploy.
        let deadline = Instant::now() + Duration::from_secs(60);
        let rollback = loop {
            let listed = c
                .list_pipeline_executions()
                .pipeline_name("healing")
                .send()
                .await
                .expect("ListPipelineExecutions");
            if let Some(r) = listed
                .pipeline_execution_summaries()
                .iter()
                .find(|e| e.execution_type() == Some(&ExecutionType::Rollback))
            {
                break r.clone();
            }
            assert!(Instant::now() < deadline, "no rollback started");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            rollback
                .rollback_metadata()
                .and_then(|m| m.rollback_target_pipeline_execution_id()),
            Some(good.as_str())
        );
        let rollback_id = rollback.pipeline_execution_id().expect("id").to_owned();
        assert_eq!(
            finished(c, "healing", &rollback_id).await,
            PipelineExecutionStatus::Succeeded
        );
        let listed = c
            .list_rule_executions()
            .pipeline_name("healing")
            .filter(
                RuleExecutionFilter::builder()
                    .pipeline_execution_id(&bad)
                    .build(),
            )
            .send()
            .await
            .expect("ListRuleExecutions");
        let details = listed.rule_execution_details();
        assert_eq!(details.len(), 1, "{details:?}");
        assert_eq!(details[0].rule_name(), Some("Healthy"));
        assert_eq!(details[0].stage_name(), Some("Deploy"));
        assert_eq!(details[0].status(), Some(&RuleExecutionStatus::Succeeded));
        let state = c
            .get_pipeline_state()
            .name("healing")
            .send()
            .await
            .expect("GetPipelineState");
        let on_failure = state
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some("Deploy"))
            .and_then(|s| s.on_failure_condition_state())
            .expect("onFailure state");
        assert_eq!(
            on_failure.latest_execution().and_then(|e| e.status()),
            Some(&ConditionExecutionStatus::Succeeded)
        );
        assert_eq!(
            on_failure.condition_states()[0].rule_states()[0].rule_name(),
            Some("Healthy")
        );
    });
}
