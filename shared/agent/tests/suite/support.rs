//! Test doubles and helpers: an in-memory object store, a listener that forwards outcomes to a channel, job
//! builders, and zip readers.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_definition::ActionTypeId;
use sluice_runtime::jobs::{Executor, Job, JobInput, JobListener, JobOutcome, JobOutput};
use sluice_runtime::ports::{ObjectError, ObjectInfo, ObjectStore};
use tokio::sync::mpsc;

/// (bucket, key) -> (content, description).
type Objects = HashMap<(String, String), (Vec<u8>, ObjectInfo)>;

/// Objects in a map; every put makes a new version.
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<Objects>,
    versions: Mutex<u64>,
}

impl MemoryStore {
    pub fn put_bytes(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> ObjectInfo {
        let version = {
            let mut v = self.versions.lock().unwrap();
            *v += 1;
            *v
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        let info = ObjectInfo {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: bytes.len() as u64,
            etag: format!("\"{}\"", &sha[..32]),
            sha256: sha,
            version_id: format!("v{version}"),
        };
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.to_string(), key.to_string()), (bytes, info.clone()));
        info
    }

    pub fn bytes(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.objects
            .lock()
            .unwrap()
            .get(&(bucket.to_string(), key.to_string()))
            .map(|(b, _)| b.clone())
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .lock()
            .unwrap()
            .keys()
            .filter(|(b, _)| b == bucket)
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    fn info(&self, bucket: &str, key: &str) -> Result<(Vec<u8>, ObjectInfo), ObjectError> {
        self.objects
            .lock()
            .unwrap()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(|| ObjectError::NotFound {
                bucket: bucket.to_string(),
                key: key.to_string(),
            })
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        let bytes = std::fs::read(file).map_err(|e| ObjectError::Other(e.to_string()))?;
        Ok(self.put_bytes(bucket, key, bytes))
    }

    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        let (bytes, info) = self.info(bucket, key)?;
        std::fs::write(dest, bytes).map_err(|e| ObjectError::Other(e.to_string()))?;
        Ok(info)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        self.info(bucket, key).map(|(_, info)| info)
    }
}

/// Forwards every outcome to a channel.
pub struct ChannelListener(mpsc::UnboundedSender<(Job, JobOutcome)>);

#[async_trait]
impl JobListener for ChannelListener {
    async fn job_finished(&self, job: &Job, outcome: JobOutcome) {
        let _ = self.0.send((job.clone(), outcome));
    }
}

/// An agent over a memory store in a temporary folder.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Arc<MemoryStore>,
    pub agent: LocalAgent,
    pub outcomes: mpsc::UnboundedReceiver<(Job, JobOutcome)>,
}

pub const ARTIFACTS: &str = "artifacts";

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let config = AgentConfig::new(dir.path().join("work"), dir.path().join("logs"));
        let agent = LocalAgent::new(store.clone(), config);
        let (tx, rx) = mpsc::unbounded_channel();
        agent.set_listener(Arc::new(ChannelListener(tx)));
        Harness {
            dir,
            store,
            agent,
            outcomes: rx,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the job and waits for its outcome.
    pub async fn run(&mut self, job: Job) -> JobOutcome {
        self.agent.start(job.clone()).await.unwrap();
        self.next(&job).await
    }

    /// Waits for the next outcome, which must be `job`'s.
    pub async fn next(&mut self, job: &Job) -> JobOutcome {
        let (finished, outcome) =
            tokio::time::timeout(Duration::from_secs(60), self.outcomes.recv())
                .await
                .expect("the job should finish within a minute")
                .expect("the agent should report");
        assert_eq!(finished.id, job.id);
        outcome
    }

    pub fn log(&self, job: &Job) -> String {
        std::fs::read_to_string(self.agent.log_path(job)).unwrap_or_default()
    }

    /// Stores a zip of `files` as an input artifact.
    pub fn input(&self, name: &str, files: &[(&str, &str)]) -> JobInput {
        let bytes = zip_bytes(files);
        let object = self
            .store
            .put_bytes(ARTIFACTS, &format!("p/{name}/in"), bytes);
        JobInput {
            name: name.to_string(),
            object,
        }
    }

    /// The files of a stored zip: name -> (content, unix mode).
    pub fn artifact(
        &self,
        info: &sluice_runtime::ports::ObjectInfo,
    ) -> BTreeMap<String, (String, u32)> {
        let bytes = self
            .store
            .bytes(&info.bucket, &info.key)
            .expect("the artifact is stored");
        read_zip(&bytes)
    }
}

pub fn action(category: &str, owner: &str, provider: &str) -> ActionTypeId {
    ActionTypeId {
        category: category.to_string(),
        owner: owner.to_string(),
        provider: provider.to_string(),
        version: "1".to_string(),
    }
}

/// A job of one action in stage `Stage` of execution `exec-1`.
pub fn job(action_name: &str, action_type: ActionTypeId) -> Job {
    Job {
        id: format!("exec-1/Stage/{action_name}/1"),
        pipeline: "p".to_string(),
        execution_id: "exec-1".to_string(),
        stage: "Stage".to_string(),
        action: action_name.to_string(),
        attempt: 1,
        action_type,
        configuration: BTreeMap::new(),
        commands: Vec::new(),
        environment: BTreeMap::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        output_variables: Vec::new(),
        timeout_seconds: 60,
        base_dir: None,
        revision_override: None,
        role_arn: None,
        artifact_store: None,
        region: None,
        invocation: None,
    }
}

pub fn output(name: &str, files: &[&str]) -> JobOutput {
    JobOutput {
        name: name.to_string(),
        files: files.iter().map(|f| f.to_string()).collect(),
        bucket: ARTIFACTS.to_string(),
        key: format!("p/{name}/out"),
        encryption_key: None,
    }
}

pub fn config(job: &mut Job, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        job.configuration.insert(k.to_string(), v.to_string());
    }
}

/// A zip of text files, in memory.
pub fn zip_bytes(files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        writer
            .start_file(
                *name,
                zip::write::SimpleFileOptions::default().unix_permissions(0o644),
            )
            .unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// name -> (content, permission bits) of every entry (links: their target, mode with S_IFLNK).
pub fn read_zip(bytes: &[u8]) -> BTreeMap<String, (String, u32)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        out.insert(
            entry.name().to_string(),
            (content, entry.unix_mode().unwrap_or(0)),
        );
    }
    out
}

pub fn succeeded(
    outcome: &JobOutcome,
) -> (&BTreeMap<String, ObjectInfo>, &BTreeMap<String, String>) {
    match outcome {
        JobOutcome::Succeeded {
            artifacts,
            variables,
            ..
        } => (artifacts, variables),
        JobOutcome::Failed { message } => panic!("the job failed: {message}"),
    }
}

pub fn failure(outcome: &JobOutcome) -> &str {
    match outcome {
        JobOutcome::Failed { message } => message,
        other => panic!("the job should have failed: {other:?}"),
    }
}

/// Processes of a process group that are still alive (not zombies), read from /proc.
pub fn live_members(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2].parse::<i32>().ok() == Some(pgid) && fields[0] != "Z" {
            live.push(pid);
        }
    }
    live
}

/// Waits until the group has no live member, for up to five seconds.
pub async fn group_is_gone(pgid: i32) -> bool {
    for _ in 0..50 {
        if live_members(pgid).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Waits for a file to appear and returns its trimmed content.
pub async fn wait_for_file(path: &PathBuf) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text.trim().to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never appeared", path.display());
}
