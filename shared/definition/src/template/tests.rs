use super::*;
use serde_json::json;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/templates")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn values(name: &str) -> BTreeMap<String, String> {
    serde_json::from_str(&fixture(name)).expect("values")
}

fn read_fixture(
    name: &str,
    options: &TemplateOptions,
) -> Result<TemplatePipeline, DefinitionError> {
    read_text(
        &fixture(name),
        Syntax::from_file_name(name),
        options,
        &Limits::default(),
    )
}

fn problems(err: DefinitionError) -> Vec<String> {
    match err {
        DefinitionError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
        other => vec![other.to_string()],
    }
}

#[test]
fn yaml_and_json_templates_read_as_the_expected_pipeline() {
    let expected: Value =
        serde_json::from_str(&fixture("release.expected.json")).expect("expected");
    let options = TemplateOptions {
        values: values("release.values.json"),
        ..Default::default()
    };
    for file in ["release.yaml", "release.json"] {
        let read = read_fixture(file, &options)
            .unwrap_or_else(|e| panic!("{file}: {}", problems(e).join("\n")));
        assert_eq!(read.logical_id, "Pipeline");
        let pipeline = serde_json::to_value(&read.document.pipeline).expect("json");
        assert_eq!(pipeline, expected["pipeline"], "{file}");
        assert_eq!(
            serde_json::to_value(&read.properties.tags).expect("json"),
            expected["tags"],
            "{file}"
        );
        assert_eq!(
            serde_json::to_value(&read.properties.disabled_transitions).expect("json"),
            expected["disabledTransitions"],
            "{file}"
        );
        assert_eq!(
            read.properties.restart_on_update,
            expected["restartOnUpdate"] == true
        );
        assert!(read.unresolved.is_empty(), "{:?}", read.unresolved);
    }
}

#[test]
fn what_only_a_deployment_knows_is_refused_with_its_path_or_marked() {
    let options = TemplateOptions {
        values: BTreeMap::from([("Stage".to_owned(), "beta".to_owned())]),
        ..Default::default()
    };
    let refused = problems(read_fixture("release.yaml", &options).expect_err("unknowns"));
    let joined = refused.join("\n");
    for expected in [
        "Resources.Pipeline.Properties.RoleArn.Fn::GetAtt: !GetAtt PipelineRole.Arn cannot be known without \
         deploying the stack: give its value with --parameter 'PipelineRole.Arn=VALUE' (line 54, column 24)",
        "Resources.Pipeline.Properties.ArtifactStore.Location.Ref: !Ref ArtifactBucket cannot be known",
        "--parameter 'shared-build-project=VALUE'",
    ] {
        assert!(joined.contains(expected), "{expected}\nin\n{joined}");
    }

    let marked = TemplateOptions {
        placeholders: true,
        ..options
    };
    let read = read_fixture("release.yaml", &marked).expect("placeholders are not judged");
    let p = &read.document.pipeline;
    assert_eq!(
        p.role_arn.as_deref(),
        Some("<unresolved: !GetAtt PipelineRole.Arn>")
    );
    assert_eq!(read.unresolved.len(), 4, "{:?}", read.unresolved);
    // beta: the smoke test is there and the approval stage is not.
    let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Source", "Build", "Release"]);
    assert_eq!(p.stages[1].actions[1].name, "Smoke");
    assert_eq!(
        p.stages[2].actions[0].config("BucketName"),
        Some("orders-site-test")
    );
}

#[test]
fn problems_carry_the_template_path_and_line() {
    let text = fixture("release.yaml").replace("Provider: Manual", "Provider: Manaul");
    let options = TemplateOptions {
        values: values("release.values.json"),
        ..Default::default()
    };
    let err =
        read_text(&text, Syntax::Yaml, &options, &Limits::default()).expect_err("bad provider");
    let found = problems(err).join("\n");
    // The stage came through Fn::If: its path in the template, and the line of the provider.
    assert!(
        found.contains("Resources.Pipeline.Properties.Stages[2].Fn::If[1].Actions[0].ActionTypeId"),
        "{found}"
    );
    assert!(found.contains("(line 108, column 74)"), "{found}");
}

#[test]
fn parameters_conditions_and_choices_are_checked() {
    let base = fixture("release.yaml");
    let read = |text: &str, options: TemplateOptions| {
        read_text(text, Syntax::Yaml, &options, &Limits::default()).map_err(problems)
    };
    let with = |pairs: &[(&str, &str)]| TemplateOptions {
        values: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        placeholders: true,
        ..Default::default()
    };
    let missing = read(&base, with(&[])).expect_err("Stage has no default");
    assert!(
        missing[0].contains("parameter Stage has no Default"),
        "{missing:?}"
    );
    let wrong = read(&base, with(&[("Stage", "gamma")])).expect_err("not allowed");
    assert!(
        wrong
            .iter()
            .any(|p| p.contains("not one of its AllowedValues")),
        "{wrong:?}"
    );
    let typo = read(&base, with(&[("Stage", "beta"), ("Stag", "x")])).expect_err("unknown name");
    assert!(
        typo.iter()
            .any(|p| p.contains("--parameter Stag: the template has no parameter")),
        "{typo:?}"
    );

    let two = base.replace(
        "  Pipeline:\n    Type: AWS::CodePipeline::Pipeline",
        "  Other:\n    Type: AWS::CodePipeline::Pipeline\n    Condition: IsProd\n    Properties: {}\n  Pipeline:\n    Type: AWS::CodePipeline::Pipeline",
    );
    // The other pipeline exists only in prod.
    assert!(read(&two, with(&[("Stage", "beta")])).is_ok());
    let both = read(&two, with(&[("Stage", "prod")])).expect_err("two pipelines");
    assert!(
        both[0].contains("creates 2 pipelines (Other, Pipeline): choose one with --resource"),
        "{both:?}"
    );
    let mut chosen = with(&[("Stage", "prod")]);
    chosen.resource = Some("Pipeline".into());
    assert!(read(&two, chosen).is_ok());

    let macro_ = base.replace(
        "Transform: AWS::Serverless-2016-10-31",
        "Transform: MyCompany::Expander",
    );
    let refused = read(&macro_, with(&[("Stage", "beta")])).expect_err("a macro");
    assert!(
        refused[0].contains("macro MyCompany::Expander"),
        "{refused:?}"
    );
}

#[test]
fn a_pipeline_without_a_name_gets_a_stable_generated_one_and_its_ref_is_that_name() {
    let text = r#"
Resources:
  Hook:
    Type: AWS::CodePipeline::Webhook
    Properties:
      Authentication: GITHUB_HMAC
      AuthenticationConfiguration: {SecretToken: '{{resolve:secretsmanager:hook}}'}
      Filters: [{JsonPath: '$.ref', MatchEquals: 'refs/heads/{Branch}'}]
      TargetPipeline: !Ref Pipeline
      TargetAction: Source
      TargetPipelineVersion: !GetAtt Pipeline.Version
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      RoleArn: arn:aws:iam::111122223333:role/p
      ArtifactStore: {Type: S3, Location: bucket}
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: 1}
              Configuration: {S3Bucket: b, S3ObjectKey: k}
              OutputArtifacts: [{Name: Src}]
        - Name: Deploy
          Actions:
            - Name: Copy
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: S3, Version: 1}
              Configuration: {BucketName: site, Extract: true}
              InputArtifacts: [{Name: Src}]
"#;
    let options = TemplateOptions {
        values: BTreeMap::from([("AWS::StackName".to_owned(), "web".to_owned())]),
        placeholders: true,
        ..Default::default()
    };
    let read = read_text(text, Syntax::Yaml, &options, &Limits::default()).expect("reads");
    let name = read.document.pipeline.name.clone();
    assert!(
        name.starts_with("web-Pipeline-") && name.len() == "web-Pipeline-".len() + 12,
        "{name}"
    );
    let again = read_text(text, Syntax::Yaml, &options, &Limits::default()).expect("reads");
    assert_eq!(again.document.pipeline.name, name);
    let (id, hook) = &read.webhooks[0];
    assert_eq!(id, "Hook");
    assert_eq!(hook["targetPipeline"], json!(name));
    assert_eq!(
        hook["filters"][0],
        json!({"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"})
    );
    assert_eq!(
        hook["authenticationConfiguration"]["SecretToken"],
        "<unresolved: the dynamic reference {{resolve:secretsmanager:hook}}>"
    );
}
