//! `sluice agent --provider NAME`: a ready job worker for a custom action type, the reference for
//! Jenkins-style integrations. It speaks the job-worker protocol (PollForJobs, AcknowledgeJob,
//! PutJobSuccessResult, PutJobFailureResult) through a [`Client`], and runs each job with the embedded job agent:
//! the job's `Commands` configuration (one shell command a line) runs in a workspace holding the input
//! artifacts; output artifacts are zipped from the workspace (`OutputFiles` globs, else everything); variables
//! named in `OutputVariables` (comma-separated) are read from the shell afterwards and reported.
//!
//! Artifacts are read and written where the job says: through the state folder's object store, or, with
//! `--endpoint`, through the server's `/artifacts/<bucket>/<key>` and `/artifacts-info/<bucket>/<key>` routes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hyper::Method;
use serde_json::{json, Value};
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_definition::ActionTypeId;
use sluice_runtime::jobs::{Executor, Job, JobInput, JobListener, JobOutcome, JobOutput};
use sluice_runtime::ports::{ObjectError, ObjectInfo, ObjectStore};
use tokio::sync::mpsc;

use crate::args::AgentArgs;
use crate::client::{Client, Remote};
use crate::usage::{CmdResult, UsageError};
use sluice_host::Host;

/// Polls and runs jobs until told to stop (Ctrl-C) or a limit is reached.
pub async fn run(client: &Client, host: Option<&Host>, args: AgentArgs) -> CmdResult {
    let type_id = ActionTypeId {
        category: args.category.clone(),
        owner: "Custom".into(),
        provider: args.provider.clone(),
        version: args.version.clone(),
    };
    let query = crate::control::pairs(&args.query, "--query")?;
    let objects: Arc<dyn ObjectStore> = match (host, client.remote()) {
        (Some(h), _) => Arc::clone(&h.runtime.objects),
        (None, Some(remote)) => Arc::new(HttpObjects {
            remote: (*remote).clone(),
        }),
        (None, None) => return Err(UsageError("no object store to use".into())),
    };
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("sluice-agent-{}", args.provider)));
    let agent = LocalAgent::new(
        objects,
        AgentConfig::new(work.join("work"), work.join("logs")),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    agent.set_listener(Arc::new(Outcomes(tx)));
    eprintln!(
        "sluice agent: working for {type_id} at {}; logs in {}",
        client.describe(),
        work.join("logs").display()
    );
    let mut done = 0usize;
    let mut idle_since = Instant::now();
    loop {
        if args.max_jobs.is_some_and(|m| done >= m) {
            break;
        }
        let mut input = json!({"actionTypeId": type_id, "maxBatchSize": 1});
        if !query.is_empty() {
            input["queryParam"] = json!(query);
        }
        let polled = client.call("PollForJobs", input).await?;
        let Some(job) = polled["jobs"].as_array().and_then(|j| j.first()).cloned() else {
            if args
                .idle_exit
                .is_some_and(|s| idle_since.elapsed() >= Duration::from_secs(s))
            {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(args.poll_interval.max(0.05))) => continue,
                _ = tokio::signal::ctrl_c() => break,
            }
        };
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let nonce = job["nonce"].as_str().unwrap_or_default().to_owned();
        client
            .call("AcknowledgeJob", json!({"jobId": id, "nonce": nonce}))
            .await?;
        eprintln!(
            "sluice agent: job {id}: {}.{} of {} execution {}",
            job["data"]["pipelineContext"]["stage"]["name"]
                .as_str()
                .unwrap_or(""),
            job["data"]["pipelineContext"]["action"]["name"]
                .as_str()
                .unwrap_or(""),
            job["data"]["pipelineContext"]["pipelineName"]
                .as_str()
                .unwrap_or(""),
            job["data"]["pipelineContext"]["pipelineExecutionId"]
                .as_str()
                .unwrap_or("")
        );
        let outcome = match to_job(&id, &job["data"]) {
            Ok(local) => match agent.start(local).await {
                Ok(()) => rx.recv().await.unwrap_or(JobOutcome::Failed {
                    message: "the job agent stopped".into(),
                }),
                Err(message) => JobOutcome::Failed { message },
            },
            Err(message) => JobOutcome::Failed { message },
        };
        report(client, &id, outcome).await?;
        done += 1;
        idle_since = Instant::now();
    }
    eprintln!("sluice agent: {done} job(s) done");
    Ok(ExitCode::SUCCESS)
}

async fn report(client: &Client, id: &str, outcome: JobOutcome) -> Result<(), UsageError> {
    match outcome {
        JobOutcome::Succeeded {
            variables, summary, ..
        } => {
            let mut input = json!({"jobId": id});
            if !variables.is_empty() {
                input["outputVariables"] = json!(variables);
            }
            if let Some(s) = summary.filter(|s| !s.is_empty()) {
                input["executionDetails"] =
                    json!({"summary": s.chars().take(2048).collect::<String>()});
            }
            client.call("PutJobSuccessResult", input).await?;
            eprintln!("sluice agent: job {id} succeeded");
        }
        JobOutcome::Failed { message } => {
            let message: String = message.chars().take(5000).collect();
            client
                .call(
                    "PutJobFailureResult",
                    json!({"jobId": id, "failureDetails": {"type": "JobFailed", "message": if message.is_empty() { "failed".into() } else { message.clone() }}}),
                )
                .await?;
            eprintln!("sluice agent: job {id} failed: {message}");
        }
    }
    Ok(())
}

/// The job as the embedded agent runs it: a Commands job.
fn to_job(id: &str, data: &Value) -> Result<Job, String> {
    let config: BTreeMap<String, String> =
        serde_json::from_value(data["actionConfiguration"]["configuration"].clone())
            .unwrap_or_default();
    let commands: Vec<String> = config
        .get("Commands")
        .map(|c| {
            c.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if commands.is_empty() {
        return Err(
            "the job has no Commands configuration (one shell command a line) for sluice agent to run"
                .into(),
        );
    }
    let files: Vec<String> = config
        .get("OutputFiles")
        .map(|f| {
            f.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_else(|| vec!["**/*".into()]);
    let output_variables: Vec<String> = config
        .get("OutputVariables")
        .map(|f| {
            f.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let location = |a: &Value| {
        (
            a["name"].as_str().unwrap_or("").to_owned(),
            a["location"]["s3Location"]["bucketName"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            a["location"]["s3Location"]["objectKey"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let ctx = &data["pipelineContext"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut environment = BTreeMap::new();
    environment.insert("SLUICE_JOB_ID".to_owned(), id.to_owned());
    environment.insert("SLUICE_PIPELINE".to_owned(), text(&ctx["pipelineName"]));
    environment.insert(
        "SLUICE_EXECUTION_ID".to_owned(),
        text(&ctx["pipelineExecutionId"]),
    );
    Ok(Job {
        id: id.to_owned(),
        pipeline: text(&ctx["pipelineName"]),
        execution_id: text(&ctx["pipelineExecutionId"]),
        stage: text(&ctx["stage"]["name"]),
        action: text(&ctx["action"]["name"]),
        attempt: 1,
        action_type: ActionTypeId {
            category: "Compute".into(),
            owner: "AWS".into(),
            provider: "Commands".into(),
            version: "1".into(),
        },
        configuration: config,
        commands,
        environment,
        inputs: data["inputArtifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let (name, bucket, key) = location(a);
                JobInput {
                    name,
                    object: ObjectInfo {
                        bucket,
                        key,
                        size: 0,
                        sha256: String::new(),
                        etag: String::new(),
                        version_id: a["revision"].as_str().unwrap_or("").to_owned(),
                    },
                }
            })
            .collect(),
        outputs: data["outputArtifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let (name, bucket, key) = location(a);
                JobOutput {
                    name,
                    files: files.clone(),
                    bucket,
                    key,
                    encryption_key: None,
                }
            })
            .collect(),
        output_variables,
        timeout_seconds: 3600,
        base_dir: None,
        revision_override: None,
        role_arn: None,
        artifact_store: None,
        region: None,
        invocation: None,
    })
}

struct Outcomes(mpsc::UnboundedSender<JobOutcome>);

#[async_trait]
impl JobListener for Outcomes {
    async fn job_finished(&self, _job: &Job, outcome: JobOutcome) {
        let _ = self.0.send(outcome);
    }
}

/// Artifacts through a Sluice server's `/artifacts/<bucket>/<key>` routes (SigV4-signed like the API).
struct HttpObjects {
    remote: Remote,
}

fn path_of(bucket: &str, key: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!("/artifacts/{}/{}", enc(bucket), enc(key))
}

impl HttpObjects {
    async fn info(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        let (status, body) = self
            .remote
            .send(
                Method::GET,
                &path_of(bucket, key).replacen("/artifacts/", "/artifacts-info/", 1),
                vec![],
                vec![],
            )
            .await
            .map_err(|e| ObjectError::Other(e.to_string()))?;
        match status {
            200 => serde_json::from_slice(&body).map_err(|e| ObjectError::Other(e.to_string())),
            404 => Err(ObjectError::NotFound {
                bucket: bucket.into(),
                key: key.into(),
            }),
            _ => Err(ObjectError::Other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ))),
        }
    }
}

#[async_trait]
impl ObjectStore for HttpObjects {
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        let body = tokio::fs::read(file)
            .await
            .map_err(|e| ObjectError::Other(format!("cannot read {}: {e}", file.display())))?;
        let (status, resp) = self
            .remote
            .send(Method::PUT, &path_of(bucket, key), vec![], body)
            .await
            .map_err(|e| ObjectError::Other(e.to_string()))?;
        if status != 200 {
            return Err(ObjectError::Other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&resp)
            )));
        }
        serde_json::from_slice(&resp).map_err(|e| ObjectError::Other(e.to_string()))
    }

    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        let info = self.info(bucket, key).await?;
        let (status, body) = self
            .remote
            .send(Method::GET, &path_of(bucket, key), vec![], vec![])
            .await
            .map_err(|e| ObjectError::Other(e.to_string()))?;
        if status != 200 {
            return Err(ObjectError::Other(format!(
                "HTTP {status} fetching s3://{bucket}/{key}"
            )));
        }
        use sha2::Digest;
        let sum = hex::encode(sha2::Sha256::digest(&body));
        if !info.sha256.is_empty() && sum != info.sha256 {
            return Err(ObjectError::Corrupt {
                bucket: bucket.into(),
                key: key.into(),
                reason: "the content's SHA-256 does not match the server's".into(),
            });
        }
        let tmp = dest.with_extension("part");
        tokio::fs::write(&tmp, &body)
            .await
            .map_err(|e| ObjectError::Other(e.to_string()))?;
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| ObjectError::Other(e.to_string()))?;
        Ok(info)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        self.info(bucket, key).await
    }
}
