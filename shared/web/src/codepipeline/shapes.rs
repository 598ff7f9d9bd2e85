//! The input shapes of every operation, as CodePipeline's service model gives them (lengths, patterns,
//! enums, required members), checked before a request is read.

use sluice_definition::schema::{self, Charset, Field, Kind};

pub(crate) const fn req(name: &'static str, kind: &'static Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

pub(crate) const fn opt(name: &'static str, kind: &'static Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

pub(crate) static NAME: Kind = Kind::Str {
    min: 1,
    max: 100,
    charset: Charset::Name,
};

pub(crate) static ID: Kind = Kind::Str {
    min: 1,
    max: 200,
    charset: Charset::Any,
};

pub(crate) static NEXT_TOKEN: Kind = Kind::Str {
    min: 1,
    max: 2048,
    charset: Charset::Any,
};

pub(crate) static MAX_100: Kind = Kind::Int { min: 1, max: 100 };

pub(crate) static TRANSITION_TYPE: Kind = Kind::Enum(&["Inbound", "Outbound"]);

pub(crate) static CREATE_PIPELINE: Kind = Kind::Obj(&[
    req("pipeline", &schema::PIPELINE),
    opt("tags", &schema::TAGS),
]);

pub(crate) static UPDATE_PIPELINE: Kind = Kind::Obj(&[req("pipeline", &schema::PIPELINE)]);

pub(crate) static GET_PIPELINE: Kind = Kind::Obj(&[
    req("name", &NAME),
    opt(
        "version",
        &Kind::Int {
            min: 1,
            max: i64::MAX,
        },
    ),
]);

pub(crate) static DELETE_PIPELINE: Kind = Kind::Obj(&[req("name", &NAME)]);

pub(crate) static LIST_PIPELINES: Kind = Kind::Obj(&[
    opt("nextToken", &NEXT_TOKEN),
    opt("maxResults", &Kind::Int { min: 1, max: 1000 }),
]);

pub(crate) static START_EXECUTION: Kind = Kind::Obj(&[
    req("name", &NAME),
    opt(
        "variables",
        &Kind::List {
            item: &Kind::Obj(&[
                req(
                    "name",
                    &Kind::Str {
                        min: 1,
                        max: 128,
                        charset: Charset::Namespace,
                    },
                ),
                req(
                    "value",
                    &Kind::Str {
                        min: 1,
                        max: 1000,
                        charset: Charset::Any,
                    },
                ),
            ]),
            min: 1,
            max: 50,
        },
    ),
    opt(
        "clientRequestToken",
        &Kind::Str {
            min: 1,
            max: 128,
            charset: Charset::Token,
        },
    ),
    opt(
        "sourceRevisions",
        &Kind::List {
            item: &Kind::Obj(&[
                req("actionName", &NAME),
                req(
                    "revisionType",
                    &Kind::Enum(&[
                        "COMMIT_ID",
                        "IMAGE_DIGEST",
                        "S3_OBJECT_VERSION_ID",
                        "S3_OBJECT_KEY",
                    ]),
                ),
                req(
                    "revisionValue",
                    &Kind::Str {
                        min: 1,
                        max: 1500,
                        charset: Charset::Any,
                    },
                ),
            ]),
            min: 0,
            max: 50,
        },
    ),
]);

pub(crate) static STOP_EXECUTION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("pipelineExecutionId", &ID),
    opt("abandon", &Kind::Bool),
    opt(
        "reason",
        &Kind::Str {
            min: 0,
            max: 200,
            charset: Charset::Any,
        },
    ),
]);

pub(crate) static GET_EXECUTION: Kind =
    Kind::Obj(&[req("pipelineName", &NAME), req("pipelineExecutionId", &ID)]);

pub(crate) static LIST_EXECUTIONS: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    opt("maxResults", &MAX_100),
    opt(
        "filter",
        &Kind::Obj(&[opt(
            "succeededInStage",
            &Kind::Obj(&[opt("stageName", &NAME)]),
        )]),
    ),
    opt("nextToken", &NEXT_TOKEN),
]);

pub(crate) static LIST_ACTION_EXECUTIONS: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    opt(
        "filter",
        &Kind::Obj(&[
            opt("pipelineExecutionId", &ID),
            opt(
                "latestInPipelineExecution",
                &Kind::Obj(&[
                    req("pipelineExecutionId", &ID),
                    req("startTimeRange", &Kind::Enum(&["Latest", "All"])),
                ]),
            ),
        ]),
    ),
    opt("maxResults", &MAX_100),
    opt("nextToken", &NEXT_TOKEN),
]);

pub(crate) static GET_STATE: Kind = Kind::Obj(&[req("name", &NAME)]);

pub(crate) static PUT_APPROVAL: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("actionName", &NAME),
    req(
        "result",
        &Kind::Obj(&[
            req(
                "summary",
                &Kind::Str {
                    min: 0,
                    max: 512,
                    charset: Charset::Any,
                },
            ),
            req("status", &Kind::Enum(&["Approved", "Rejected"])),
        ]),
    ),
    req("token", &ID),
]);

pub(crate) static ENABLE_TRANSITION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("transitionType", &TRANSITION_TYPE),
]);

pub(crate) static DISABLE_TRANSITION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("transitionType", &TRANSITION_TYPE),
    req(
        "reason",
        &Kind::Str {
            min: 1,
            max: 300,
            charset: Charset::Any,
        },
    ),
]);

pub(crate) static RETRY_STAGE: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("pipelineExecutionId", &ID),
    req("retryMode", &Kind::Enum(&["FAILED_ACTIONS", "ALL_ACTIONS"])),
]);

pub(crate) static ROLLBACK_STAGE: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("targetPipelineExecutionId", &ID),
]);

pub(crate) const fn text(min: usize, max: usize) -> Kind {
    Kind::Str {
        min,
        max,
        charset: Charset::Any,
    }
}

pub(crate) const fn token(min: usize, max: usize) -> Kind {
    Kind::Str {
        min,
        max,
        charset: Charset::Token,
    }
}

pub(crate) static CATEGORY: Kind = Kind::Enum(&[
    "Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute",
]);

pub(crate) static PROVIDER: Kind = token(1, 35);

pub(crate) static VERSION: Kind = token(1, 9);

pub(crate) static COUNT: Kind = Kind::Int { min: 0, max: 5 };

pub(crate) static ARTIFACT_DETAILS: Kind =
    Kind::Obj(&[req("minimumCount", &COUNT), req("maximumCount", &COUNT)]);

pub(crate) static URL: Kind = text(1, 2048);

pub(crate) static JOB_ID: Kind = text(1, 200);

pub(crate) static RESOURCE_ARN: Kind = text(1, 1011);

pub(crate) static CREATE_CUSTOM_ACTION_TYPE: Kind = Kind::Obj(&[
    req("category", &CATEGORY),
    req("provider", &PROVIDER),
    req("version", &VERSION),
    opt(
        "settings",
        &Kind::Obj(&[
            opt("thirdPartyConfigurationUrl", &URL),
            opt("entityUrlTemplate", &URL),
            opt("executionUrlTemplate", &URL),
            opt("revisionUrlTemplate", &URL),
        ]),
    ),
    opt(
        "configurationProperties",
        &Kind::List {
            item: &Kind::Obj(&[
                req("name", &text(1, 50)),
                req("required", &Kind::Bool),
                req("key", &Kind::Bool),
                req("secret", &Kind::Bool),
                opt("queryable", &Kind::Bool),
                opt("description", &text(1, 160)),
                opt("type", &Kind::Enum(&["String", "Number", "Boolean"])),
            ]),
            min: 0,
            max: 10,
        },
    ),
    req("inputArtifactDetails", &ARTIFACT_DETAILS),
    req("outputArtifactDetails", &ARTIFACT_DETAILS),
    opt("tags", &schema::TAGS),
]);

pub(crate) static DELETE_CUSTOM_ACTION_TYPE: Kind = Kind::Obj(&[
    req("category", &CATEGORY),
    req("provider", &PROVIDER),
    req("version", &VERSION),
]);

pub(crate) static LIST_ACTION_TYPES: Kind = Kind::Obj(&[
    opt(
        "actionOwnerFilter",
        &Kind::Enum(&["AWS", "ThirdParty", "Custom"]),
    ),
    opt("nextToken", &NEXT_TOKEN),
    opt("regionFilter", &text(4, 30)),
]);

pub(crate) static POLL_FOR_JOBS: Kind = Kind::Obj(&[
    req("actionTypeId", &schema::ACTION_TYPE_ID),
    opt("maxBatchSize", &Kind::Int { min: 1, max: 100 }),
    opt(
        "queryParam",
        &Kind::Config {
            max_key: 50,
            max_value: 50,
        },
    ),
]);

pub(crate) static ACKNOWLEDGE_JOB: Kind =
    Kind::Obj(&[req("jobId", &JOB_ID), req("nonce", &text(1, 50))]);

pub(crate) static GET_JOB_DETAILS: Kind = Kind::Obj(&[req("jobId", &JOB_ID)]);

pub(crate) static PUT_JOB_SUCCESS: Kind = Kind::Obj(&[
    req("jobId", &JOB_ID),
    opt(
        "currentRevision",
        &Kind::Obj(&[
            req("revision", &text(1, 1500)),
            req("changeIdentifier", &text(1, 100)),
            opt("created", &Kind::Any),
            opt("revisionSummary", &text(1, 2048)),
        ]),
    ),
    opt("continuationToken", &text(1, 2048)),
    opt(
        "executionDetails",
        &Kind::Obj(&[
            opt("summary", &text(1, 2048)),
            opt("externalExecutionId", &text(1, 1500)),
            opt("percentComplete", &Kind::Int { min: 0, max: 100 }),
        ]),
    ),
    opt(
        "outputVariables",
        &Kind::Config {
            max_key: 128,
            max_value: 122_880,
        },
    ),
]);

pub(crate) static PUT_JOB_FAILURE: Kind = Kind::Obj(&[
    req("jobId", &JOB_ID),
    req(
        "failureDetails",
        &Kind::Obj(&[
            req(
                "type",
                &Kind::Enum(&[
                    "JobFailed",
                    "ConfigurationError",
                    "PermissionError",
                    "RevisionOutOfSync",
                    "RevisionUnavailable",
                    "SystemUnavailable",
                ]),
            ),
            req("message", &text(1, 5000)),
            opt("externalExecutionId", &text(1, 1500)),
        ]),
    ),
]);

pub(crate) static TAG_RESOURCE: Kind = Kind::Obj(&[
    req("resourceArn", &RESOURCE_ARN),
    req("tags", &schema::TAGS),
]);

pub(crate) static UNTAG_RESOURCE: Kind = Kind::Obj(&[
    req("resourceArn", &RESOURCE_ARN),
    req(
        "tagKeys",
        &Kind::List {
            item: &text(1, 128),
            min: 0,
            max: 50,
        },
    ),
]);

pub(crate) static LIST_TAGS: Kind = Kind::Obj(&[
    req("resourceArn", &RESOURCE_ARN),
    opt("nextToken", &NEXT_TOKEN),
    opt("maxResults", &Kind::Int { min: 1, max: 100 }),
]);

pub(crate) static WEBHOOK_DEFINITION: Kind = Kind::Obj(&[
    req("name", &NAME),
    req("targetPipeline", &NAME),
    req("targetAction", &NAME),
    req(
        "filters",
        &Kind::List {
            item: &Kind::Obj(&[
                req("jsonPath", &text(1, 150)),
                opt("matchEquals", &text(1, 150)),
            ]),
            min: 0,
            max: 5,
        },
    ),
    req(
        "authentication",
        &Kind::Enum(&["GITHUB_HMAC", "IP", "UNAUTHENTICATED"]),
    ),
    req(
        "authenticationConfiguration",
        &Kind::Obj(&[
            opt("AllowedIPRange", &text(1, 100)),
            opt("SecretToken", &text(1, 100)),
        ]),
    ),
]);

pub(crate) static PUT_WEBHOOK: Kind = Kind::Obj(&[
    req("webhook", &WEBHOOK_DEFINITION),
    opt("tags", &schema::TAGS),
]);

pub(crate) static LIST_WEBHOOKS: Kind =
    Kind::Obj(&[opt("NextToken", &NEXT_TOKEN), opt("MaxResults", &MAX_100)]);

pub(crate) static DELETE_WEBHOOK: Kind = Kind::Obj(&[req("name", &NAME)]);

pub(crate) static THIRD_PARTY_WEBHOOK: Kind = Kind::Obj(&[opt("webhookName", &NAME)]);

// GetActionType, UpdateActionType, PutActionRevision, ListDeployActionExecutionTargets and the third-party
// job operations.

/// `ActionTypeOwner` is `AWS|ThirdParty`; Sluice also answers for the custom types it stores.
pub(crate) static DECLARED_OWNER: Kind = Kind::Enum(&["AWS", "ThirdParty", "Custom"]);

pub(crate) static GET_ACTION_TYPE: Kind = Kind::Obj(&[
    req("category", &CATEGORY),
    req("owner", &DECLARED_OWNER),
    req("provider", &PROVIDER),
    req("version", &VERSION),
]);

static DECLARED_COUNT: Kind = Kind::Int { min: 0, max: 10 };

static DECLARED_ARTIFACTS: Kind = Kind::Obj(&[
    req("minimumCount", &DECLARED_COUNT),
    req("maximumCount", &DECLARED_COUNT),
]);

static ACCOUNT_IDS: Kind = Kind::List {
    item: &text(1, 12),
    min: 1,
    max: 1000,
};

pub(crate) static UPDATE_ACTION_TYPE: Kind = Kind::Obj(&[req(
    "actionType",
    &Kind::Obj(&[
        opt("description", &text(1, 1024)),
        req(
            "executor",
            &Kind::Obj(&[
                req(
                    "configuration",
                    &Kind::Obj(&[
                        opt(
                            "lambdaExecutorConfiguration",
                            &Kind::Obj(&[req("lambdaFunctionArn", &text(1, 140))]),
                        ),
                        opt(
                            "jobWorkerExecutorConfiguration",
                            &Kind::Obj(&[
                                opt("pollingAccounts", &ACCOUNT_IDS),
                                opt(
                                    "pollingServicePrincipals",
                                    &Kind::List {
                                        item: &text(1, 128),
                                        min: 1,
                                        max: 10,
                                    },
                                ),
                            ]),
                        ),
                    ]),
                ),
                req("type", &Kind::Enum(&["JobWorker", "Lambda"])),
                opt("policyStatementsTemplate", &text(1, 2048)),
                opt(
                    "jobTimeout",
                    &Kind::Int {
                        min: 60,
                        max: 43200,
                    },
                ),
            ]),
        ),
        req(
            "id",
            &Kind::Obj(&[
                req("category", &CATEGORY),
                req("owner", &DECLARED_OWNER),
                req("provider", &PROVIDER),
                req("version", &VERSION),
            ]),
        ),
        req("inputArtifactDetails", &DECLARED_ARTIFACTS),
        req("outputArtifactDetails", &DECLARED_ARTIFACTS),
        opt(
            "permissions",
            &Kind::Obj(&[req("allowedAccounts", &ACCOUNT_IDS)]),
        ),
        opt(
            "properties",
            &Kind::List {
                item: &Kind::Obj(&[
                    req("name", &text(1, 50)),
                    req("optional", &Kind::Bool),
                    req("key", &Kind::Bool),
                    req("noEcho", &Kind::Bool),
                    opt("queryable", &Kind::Bool),
                    opt("description", &text(1, 250)),
                ]),
                min: 0,
                max: 10,
            },
        ),
        opt(
            "urls",
            &Kind::Obj(&[
                opt("configurationUrl", &URL),
                opt("entityUrlTemplate", &URL),
                opt("executionUrlTemplate", &URL),
                opt("revisionUrlTemplate", &URL),
            ]),
        ),
    ]),
)]);

pub(crate) static PUT_ACTION_REVISION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("actionName", &NAME),
    req(
        "actionRevision",
        &Kind::Obj(&[
            req("revisionId", &text(1, 1500)),
            req("revisionChangeId", &text(1, 100)),
            req("created", &Kind::Any),
        ]),
    ),
]);

pub(crate) static LIST_DEPLOY_TARGETS: Kind = Kind::Obj(&[
    opt("pipelineName", &NAME),
    req("actionExecutionId", &ID),
    opt(
        "filters",
        &Kind::List {
            item: &Kind::Obj(&[
                opt("name", &Kind::Enum(&["TARGET_STATUS"])),
                opt(
                    "values",
                    &Kind::List {
                        item: &text(1, 2048),
                        min: 0,
                        max: 100,
                    },
                ),
            ]),
            min: 0,
            max: 10,
        },
    ),
    opt("maxResults", &MAX_100),
    opt("nextToken", &NEXT_TOKEN),
]);

static THIRD_PARTY_JOB_ID: Kind = text(1, 512);

static CLIENT_TOKEN: Kind = text(1, 256);

pub(crate) static POLL_FOR_THIRD_PARTY_JOBS: Kind = Kind::Obj(&[
    req("actionTypeId", &schema::ACTION_TYPE_ID),
    opt("maxBatchSize", &Kind::Int { min: 1, max: 100 }),
]);

pub(crate) static GET_THIRD_PARTY_JOB_DETAILS: Kind = Kind::Obj(&[
    req("jobId", &THIRD_PARTY_JOB_ID),
    req("clientToken", &CLIENT_TOKEN),
]);

pub(crate) static ACKNOWLEDGE_THIRD_PARTY_JOB: Kind = Kind::Obj(&[
    req("jobId", &THIRD_PARTY_JOB_ID),
    req("nonce", &text(1, 50)),
    req("clientToken", &CLIENT_TOKEN),
]);

pub(crate) static PUT_THIRD_PARTY_JOB_SUCCESS: Kind = Kind::Obj(&[
    req("jobId", &THIRD_PARTY_JOB_ID),
    req("clientToken", &CLIENT_TOKEN),
    opt(
        "currentRevision",
        &Kind::Obj(&[
            req("revision", &text(1, 1500)),
            req("changeIdentifier", &text(1, 100)),
            opt("created", &Kind::Any),
            opt("revisionSummary", &text(1, 2048)),
        ]),
    ),
    opt("continuationToken", &text(1, 2048)),
    opt(
        "executionDetails",
        &Kind::Obj(&[
            opt("summary", &text(1, 2048)),
            opt("externalExecutionId", &text(1, 1500)),
            opt("percentComplete", &Kind::Int { min: 0, max: 100 }),
        ]),
    ),
]);

pub(crate) static PUT_THIRD_PARTY_JOB_FAILURE: Kind = Kind::Obj(&[
    req("jobId", &THIRD_PARTY_JOB_ID),
    req("clientToken", &CLIENT_TOKEN),
    req(
        "failureDetails",
        &Kind::Obj(&[
            req(
                "type",
                &Kind::Enum(&[
                    "JobFailed",
                    "ConfigurationError",
                    "PermissionError",
                    "RevisionOutOfSync",
                    "RevisionUnavailable",
                    "SystemUnavailable",
                ]),
            ),
            req("message", &text(1, 5000)),
            opt("externalExecutionId", &text(1, 1500)),
        ]),
    ),
]);

pub(crate) static LIST_RULE_TYPES: Kind = Kind::Obj(&[
    opt("ruleOwnerFilter", &Kind::Enum(&["AWS"])),
    opt("regionFilter", &text(4, 30)),
]);

pub(crate) static LIST_RULE_EXECUTIONS: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    opt(
        "filter",
        &Kind::Obj(&[
            opt("pipelineExecutionId", &ID),
            opt(
                "latestInPipelineExecution",
                &Kind::Obj(&[
                    req("pipelineExecutionId", &ID),
                    req("startTimeRange", &Kind::Enum(&["Latest", "All"])),
                ]),
            ),
        ]),
    ),
    opt("maxResults", &MAX_100),
    opt("nextToken", &NEXT_TOKEN),
]);

pub(crate) static OVERRIDE_STAGE_CONDITION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("pipelineExecutionId", &ID),
    req(
        "conditionType",
        &Kind::Enum(&["BEFORE_ENTRY", "ON_SUCCESS"]),
    ),
]);
