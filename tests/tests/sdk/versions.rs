//! Pipeline versions across a delete (a child module of sdk.rs, whose helpers are in scope as `super::`): a
//! pipeline deleted and created again under its name starts again at version 1, the versions it had before
//! are not served any more (nor its executions), and executions of the new version 1 run the new definition,
//! not the state machine published for the old version 1.

use aws_sdk_codepipeline::types::PipelineExecutionStatus;

use super::{commands_action, finished, fixture, pipeline, runtime, source_stage, stage, start};

#[test]
fn a_pipeline_created_again_after_a_delete_counts_its_versions_from_one() {
    let f = fixture();
    let c = &f.client;
    let old = |commands: &[&str]| {
        pipeline(
            "again",
            vec![
                source_stage(&f.source),
                stage("Old", vec![commands_action("Run", commands)]),
            ],
        )
    };
    runtime().block_on(async {
        c.create_pipeline()
            .pipeline(old(&["cat app.txt"]))
            .send()
            .await
            .expect("CreatePipeline");
        let updated = c
            .update_pipeline()
            .pipeline(old(&["cat app.txt", "true"]))
            .send()
            .await
            .expect("UpdatePipeline");
        assert_eq!(updated.pipeline().and_then(|p| p.version()), Some(2));
        let old_run = start(c, "again").await;
        assert_eq!(
            finished(c, "again", &old_run).await,
            PipelineExecutionStatus::Succeeded
        );

        c.delete_pipeline()
            .name("again")
            .send()
            .await
            .expect("DeletePipeline");
        // Created again with another stage: version 1 of a new pipeline.
        let new = pipeline(
            "again",
            vec![
                source_stage(&f.source),
                stage("New", vec![commands_action("Run", &["cat app.txt"])]),
            ],
        );
        let created = c
            .create_pipeline()
            .pipeline(new)
            .send()
            .await
            .expect("CreatePipeline again");
        assert_eq!(created.pipeline().and_then(|p| p.version()), Some(1));
        let got = c
            .get_pipeline()
            .name("again")
            .send()
            .await
            .expect("GetPipeline");
        assert_eq!(got.pipeline().and_then(|p| p.version()), Some(1));
        assert_eq!(
            got.pipeline().map(|p| p.stages()[1].name().to_owned()),
            Some("New".to_owned())
        );
        // The old version 2 is gone with the pipeline it belonged to.
        let gone = c
            .get_pipeline()
            .name("again")
            .version(2)
            .send()
            .await
            .expect_err("version 2 of the deleted pipeline");
        assert!(
            gone.as_service_error()
                .is_some_and(|e| e.is_pipeline_version_not_found_exception()),
            "{gone:?}"
        );
        // So are its executions.
        let listed = c
            .list_pipeline_executions()
            .pipeline_name("again")
            .send()
            .await
            .expect("ListPipelineExecutions");
        assert!(listed.pipeline_execution_summaries().is_empty());
        let old_execution = c
            .get_pipeline_execution()
            .pipeline_name("again")
            .pipeline_execution_id(&old_run)
            .send()
            .await
            .expect_err("an execution of the deleted pipeline");
        assert!(
            old_execution
                .as_service_error()
                .is_some_and(|e| e.is_pipeline_execution_not_found_exception()),
            "{old_execution:?}"
        );

        // An execution of the new version 1 runs the new definition: its stages are Source and New.
        let id = start(c, "again").await;
        assert_eq!(
            finished(c, "again", &id).await,
            PipelineExecutionStatus::Succeeded
        );
        let execution = c
            .get_pipeline_execution()
            .pipeline_name("again")
            .pipeline_execution_id(&id)
            .send()
            .await
            .expect("GetPipelineExecution");
        assert_eq!(
            execution
                .pipeline_execution()
                .and_then(|e| e.pipeline_version()),
            Some(1)
        );
        let ran: Vec<String> = c
            .list_action_executions()
            .pipeline_name("again")
            .send()
            .await
            .expect("ListActionExecutions")
            .action_execution_details()
            .iter()
            .filter(|d| d.pipeline_execution_id() == Some(id.as_str()))
            .filter_map(|d| d.stage_name().map(str::to_owned))
            .collect();
        assert!(ran.iter().any(|s| s == "New"), "{ran:?}");
        assert!(!ran.iter().any(|s| s == "Old"), "{ran:?}");
    });
}
