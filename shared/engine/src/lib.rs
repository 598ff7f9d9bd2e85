//! The embedded orchestrator: Sluice's local stand-in for Step Functions.
//!
//! It implements the [`Orchestrator`] port over any [`ItemStore`] and drives state machine runs on the
//! embedded interpreter (`sluice-states`). Everything it knows is in the store, so any process can talk to
//! it and a killed process loses nothing:
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `MACHINE#<pipeline>` | `VERSION#<v:010>` | a published state machine |
//! | `RUNS` | `<run>` | runs that have not ended |
//! | `RUN#<run>` | `META` | a run: pipeline, version, input, status |
//! | `RUN#<run>` | `LEASE` | which process drives the run, until when |
//! | `HISTORY#<run>` | `<event id:010>` | the interpreter's history, one item per event |
//! | `INBOX#<run>` | `<ms:015>#<id>` | task outcomes and stop requests not yet applied |
//!
//! Task outcomes (`send_task_success` and friends) are written to the run's inbox, from whichever process
//! calls them (`sluice approve` in another terminal, say). The process holding the run's lease applies
//! inbox items in order: the interpreter turns each into history events, which are appended (each event
//! conditionally, at its id, so two writers can never both extend a history) before the effects run and
//! the inbox item is deleted. A crash between any two of these steps replays to the same place: the
//! history says what happened; an inbox item applied twice is refused by the interpreter as naming a task
//! that is no longer open.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_definition::contract::TaskRequest as DispatchRequest;
use sluice_runtime::ports::{
    Condition, Env, Item, ItemStore, Orchestrator, OrchestratorError, Order, StoreError, Write,
};
use sluice_runtime::{RunOutcome, Runtime};
use sluice_states::execution::{Command, Effect, Execution, Outcome, StartExecution, Status};
use sluice_states::{Failure, HistoryEvent, Machine, TaskMode, TaskToken, Timestamp};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

mod items;
use items::{err, item, step_writes};

/// How long a lease lasts without renewal.
const LEASE_MS: i64 = 10_000;
/// How often the loop looks for work from other processes.
const POLL: Duration = Duration::from_millis(50);

/// The system's time and UUIDs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// A run's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunRecord {
    pipeline: String,
    version: u64,
    input: Value,
    status: String,
    started_ms: i64,
}

/// Who drives a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lease {
    owner: String,
    pid: u32,
    expires_ms: i64,
}

/// A command waiting in a run's inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum InboxCommand {
    Success {
        token: String,
        output: Value,
    },
    Failure {
        token: String,
        error: String,
        cause: String,
    },
    Stop {
        cause: String,
    },
}

/// A run this process drives.
struct Driven {
    execution: Execution,
    lease_version: u64,
    lease_expires: i64,
}

/// The embedded orchestrator.
pub struct Engine {
    store: Arc<dyn ItemStore>,
    env: Arc<dyn Env>,
    owner: String,
    host: OnceLock<Weak<Runtime>>,
    machines: Mutex<HashMap<(String, u64), Machine>>,
    wake: Notify,
    /// Counts the ends of runs this process recorded, for followers in this process (see [`Engine::ends`]).
    ends: watch::Sender<u64>,
}

impl Engine {
    /// An engine over a store. It drives nothing until [`Engine::run`] is spawned.
    pub fn new(store: Arc<dyn ItemStore>, env: Arc<dyn Env>) -> Arc<Self> {
        let owner = format!("{}:{}", std::process::id(), env.new_id());
        Arc::new(Self {
            store,
            env,
            owner,
            host: OnceLock::new(),
            machines: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            ends: watch::channel(0).0,
        })
    }

    /// Sets the runtime whose dispatch handler runs the tasks.
    pub fn set_host(&self, runtime: &Arc<Runtime>) {
        let _ = self.host.set(Arc::downgrade(runtime));
    }

    /// Changes each time this process has recorded the end of a run (the runtime's `finish_run` returned): a
    /// follower in the same process waits on it instead of polling for the end. Ends recorded by other
    /// processes are not told here.
    pub fn ends(&self) -> watch::Receiver<u64> {
        self.ends.subscribe()
    }

    fn host(&self) -> Option<Arc<Runtime>> {
        self.host.get().and_then(Weak::upgrade)
    }

    /// Drives every open run this process can take the lease of, until `stop` is notified.
    pub async fn run(self: Arc<Self>, stop: Arc<Notify>) {
        let mut driven: BTreeMap<String, Driven> = BTreeMap::new();
        loop {
            if let Err(e) = self.tick(&mut driven).await {
                warn!(error = %e, "engine step failed; retrying");
            }
            let next_timer = driven
                .values()
                .flat_map(|d| {
                    d.execution
                        .pending_timers()
                        .into_iter()
                        .map(|(_, at)| at.as_millis())
                })
                .min();
            let mut wait = POLL;
            if let Some(at) = next_timer {
                let now = u64::try_from(self.env.now_ms()).unwrap_or(0);
                wait = wait.min(Duration::from_millis(at.saturating_sub(now)));
            }
            tokio::select! {
                () = stop.notified() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        // Hand the leases back so another process can take over at once.
        for (run, d) in driven {
            let _ = self
                .store
                .transact(vec![Write::Delete {
                    pk: format!("RUN#{run}"),
                    sk: "LEASE".into(),
                    condition: Condition::Version(d.lease_version),
                }])
                .await;
        }
    }

    async fn tick(&self, driven: &mut BTreeMap<String, Driven>) -> Result<(), OrchestratorError> {
        let open = self
            .store
            .query("RUNS", "", Order::Ascending, usize::MAX, None)
            .await
            .map_err(err)?;
        for item in open {
            let run = item.sk;
            if !driven.contains_key(&run) {
                match self.adopt(&run).await {
                    Ok(Some(d)) => {
                        driven.insert(run.clone(), d);
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        warn!(run = %run, error = %e, "cannot drive run");
                        continue;
                    }
                }
            }
            let finished = self.advance(&run, driven).await?;
            if finished {
                if let Some(d) = driven.remove(&run) {
                    self.close(&run, d.lease_version).await?;
                }
            }
        }
        Ok(())
    }

    /// Takes the lease of a run and loads it, re-issuing what was outstanding.
    async fn adopt(&self, run: &str) -> Result<Option<Driven>, OrchestratorError> {
        let now = self.env.now_ms();
        let pk = format!("RUN#{run}");
        let current = self.store.get(&pk, "LEASE").await.map_err(err)?;
        let lease = Lease {
            owner: self.owner.clone(),
            pid: std::process::id(),
            expires_ms: now + LEASE_MS,
        };
        let write = match &current {
            None => Write::Put(item(&pk, "LEASE", 1, &lease)?, Condition::Absent),
            Some(c) => {
                let held: Lease = serde_json::from_value(c.data.clone()).map_err(err)?;
                if held.owner != self.owner && held.expires_ms > now && process_alive(held.pid) {
                    return Ok(None);
                }
                Write::Put(
                    item(&pk, "LEASE", c.version + 1, &lease)?,
                    Condition::Version(c.version),
                )
            }
        };
        let lease_version = match &write {
            Write::Put(i, _) => i.version,
            Write::Delete { .. } => 0,
        };
        match self.store.transact(vec![write]).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => return Ok(None),
            Err(e) => return Err(err(e)),
        }
        let Some(meta) = self.store.get(&pk, "META").await.map_err(err)? else {
            return Ok(None);
        };
        let record: RunRecord = serde_json::from_value(meta.data).map_err(err)?;
        let machine = self.machine(&record.pipeline, record.version).await?;
        let history = self.history(run).await?;
        let mut execution = Execution::replay(&machine, &history).map_err(err)?;
        // A run whose end was recorded but not reported (a crash in between) is reported again: the
        // runtime's finish_run is idempotent.
        if let Some(outcome) = execution.outcome().cloned() {
            info!(run, "run had ended; reporting its end again");
            self.perform(run, Effect::Finished(outcome)).await;
            return Ok(Some(Driven {
                execution,
                lease_version,
                lease_expires: now + LEASE_MS,
            }));
        }
        let step = if history.is_empty() {
            info!(run, "starting run");
            execution.handle(
                Command::Start(StartExecution {
                    execution_id: run.to_owned(),
                    name: run.to_owned(),
                    state_machine_id: format!("{}:{}", record.pipeline, record.version),
                    input: record.input.clone(),
                }),
                self.now(),
            )
        } else {
            info!(run, events = history.len(), "resuming run");
            execution.resume(self.now())
        };
        let mut d = Driven {
            execution,
            lease_version,
            lease_expires: now + LEASE_MS,
        };
        match step {
            Ok(step) => self.commit(run, &mut d, step, None).await?,
            Err(e) => debug!(run, error = %e, "nothing to resume"),
        }
        Ok(Some(d))
    }

    /// Applies inbox commands and due timers to a run; true when it has finished.
    async fn advance(
        &self,
        run: &str,
        driven: &mut BTreeMap<String, Driven>,
    ) -> Result<bool, OrchestratorError> {
        let Some(d) = driven.get_mut(run) else {
            return Ok(false);
        };
        // Keep the lease.
        let now = self.env.now_ms();
        if d.lease_expires - now < LEASE_MS / 2 {
            let pk = format!("RUN#{run}");
            let lease = Lease {
                owner: self.owner.clone(),
                pid: std::process::id(),
                expires_ms: now + LEASE_MS,
            };
            let write = Write::Put(
                item(&pk, "LEASE", d.lease_version + 1, &lease)?,
                Condition::Version(d.lease_version),
            );
            match self.store.transact(vec![write]).await {
                Ok(()) => {
                    d.lease_version += 1;
                    d.lease_expires = now + LEASE_MS;
                }
                Err(StoreError::ConditionFailed(_)) => {
                    warn!(run, "lost the lease of a run");
                    driven.remove(run);
                    return Ok(false);
                }
                Err(e) => return Err(err(e)),
            }
        }
        let inbox = self
            .store
            .query(&format!("INBOX#{run}"), "", Order::Ascending, 100, None)
            .await
            .map_err(err)?;
        // Every outcome waiting now is applied in memory, then all their events are committed together and
        // only then are their effects performed: completions that arrive together cost one commit.
        let mut steps = Vec::new();
        let mut dropped = Vec::new();
        for entry in &inbox {
            let command: InboxCommand = match serde_json::from_value(entry.data.clone()) {
                Ok(c) => c,
                Err(e) => {
                    warn!(run, error = %e, "dropping an unreadable inbox item");
                    dropped.push(entry);
                    continue;
                }
            };
            let command = match command {
                InboxCommand::Success { token, output } => Command::TaskSucceeded {
                    token: TaskToken(token),
                    output,
                },
                InboxCommand::Failure {
                    token,
                    error,
                    cause,
                } => Command::TaskFailed {
                    token: TaskToken(token),
                    failure: Failure::new(error, cause),
                },
                InboxCommand::Stop { cause } => Command::Stop {
                    failure: Failure::new("Sluice.Stopped", cause),
                },
            };
            match d.execution.handle(command, self.now()) {
                Ok(step) => steps.push((step, Some(entry))),
                Err(e) => {
                    debug!(run, error = %e, "inbox item no longer applies");
                    dropped.push(entry);
                }
            }
        }
        let now = self.now();
        let due: Vec<_> = d
            .execution
            .pending_timers()
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for timer in due {
            if let Ok(step) = d
                .execution
                .handle(Command::TimerFired { timer }, self.now())
            {
                steps.push((step, None));
            }
        }
        let finished = d.execution.status() != Status::Running;
        self.commit_steps(run, steps).await?;
        for entry in dropped {
            self.delete_inbox(entry).await?;
        }
        Ok(finished)
    }

    /// Commits several steps' events and consumed inbox items, as few transactions as DynamoDB's limits
    /// allow (a step never straddles two unless it is too large for one alone), then performs their effects
    /// in order.
    async fn commit_steps(
        &self,
        run: &str,
        steps: Vec<(sluice_states::execution::Step, Option<&Item>)>,
    ) -> Result<(), OrchestratorError> {
        let mut batch: Vec<Write> = Vec::new();
        let mut effects = Vec::new();
        for (step, consumed) in steps {
            let writes = step_writes(run, &step, consumed)?;
            if !batch.is_empty() && batch.len() + writes.len() > 90 {
                self.store
                    .transact(std::mem::take(&mut batch))
                    .await
                    .map_err(err)?;
            }
            if writes.len() > 90 {
                for chunk in writes.chunks(90) {
                    self.store.transact(chunk.to_vec()).await.map_err(err)?;
                }
            } else {
                batch.extend(writes);
            }
            effects.extend(step.effects);
        }
        if !batch.is_empty() {
            self.store.transact(batch).await.map_err(err)?;
        }
        for effect in effects {
            self.perform(run, effect).await;
        }
        Ok(())
    }

    /// Appends a step's events (conditionally, at their ids), removes the inbox item it consumed, then
    /// performs its effects.
    async fn commit(
        &self,
        run: &str,
        _d: &mut Driven,
        step: sluice_states::execution::Step,
        consumed: Option<&Item>,
    ) -> Result<(), OrchestratorError> {
        let writes = step_writes(run, &step, consumed)?;
        // Large steps are written in chunks (DynamoDB-sized transactions); each chunk is all-or-nothing
        // and ids are conditional, so a crash mid-way replays consistently.
        for chunk in writes.chunks(90) {
            self.store.transact(chunk.to_vec()).await.map_err(err)?;
        }
        for effect in step.effects {
            self.perform(run, effect).await;
        }
        Ok(())
    }

    async fn delete_inbox(&self, entry: &Item) -> Result<(), OrchestratorError> {
        match self
            .store
            .transact(vec![Write::Delete {
                pk: entry.pk.clone(),
                sk: entry.sk.clone(),
                condition: Condition::Version(entry.version),
            }])
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn perform(&self, run: &str, effect: Effect) {
        match effect {
            Effect::StartTask(task) => {
                let token = task.token.0.clone();
                if task.mode != TaskMode::Callback {
                    let _ = self
                        .inbox(
                            run,
                            InboxCommand::Failure {
                                token,
                                error: "States.Runtime".into(),
                                cause: "the embedded engine runs callback tasks only".into(),
                            },
                        )
                        .await;
                    return;
                }
                let request: Result<DispatchRequest, _> =
                    serde_json::from_value(task.payload.clone());
                let Some(host) = self.host() else {
                    warn!(run, "no dispatch host; the task waits");
                    return;
                };
                let store = Arc::clone(&self.store);
                let env = Arc::clone(&self.env);
                let run = run.to_owned();
                tokio::spawn(async move {
                    let failure = match request {
                        Ok(request) => match host.handle(request).await {
                            Ok(()) => None,
                            Err(e) => Some((e.error_name().to_owned(), e.to_string())),
                        },
                        Err(e) => Some((
                            "States.Runtime".to_owned(),
                            format!("the task payload is not a dispatch request: {e}"),
                        )),
                    };
                    if let Some((error, cause)) = failure {
                        warn!(run = %run, error = %error, cause = %cause, "task failed");
                        let _ = write_inbox(
                            &*store,
                            &*env,
                            &run,
                            &InboxCommand::Failure {
                                token,
                                error,
                                cause,
                            },
                        )
                        .await;
                    }
                });
            }
            Effect::StartTimer { .. } | Effect::CancelTask { .. } => {}
            Effect::Finished(outcome) => {
                let outcome = match outcome {
                    Outcome::Succeeded(_) => RunOutcome::Succeeded,
                    Outcome::Failed(f) | Outcome::TimedOut(f) => RunOutcome::Failed {
                        error: f.error,
                        cause: f.cause.unwrap_or_default(),
                    },
                    Outcome::Aborted(_) => RunOutcome::Aborted,
                };
                if let Some(host) = self.host() {
                    if let Err(e) = host.finish_run(run, outcome).await {
                        warn!(run, error = %e, "could not record the end of a run");
                    }
                }
                self.ends.send_modify(|n| *n += 1);
            }
        }
    }

    /// Marks a finished run closed and hands back its lease.
    async fn close(&self, run: &str, lease_version: u64) -> Result<(), OrchestratorError> {
        let mut writes = vec![Write::Delete {
            pk: format!("RUN#{run}"),
            sk: "LEASE".into(),
            condition: Condition::Version(lease_version),
        }];
        if let Some(open) = self.store.get("RUNS", run).await.map_err(err)? {
            writes.push(Write::Delete {
                pk: "RUNS".into(),
                sk: run.to_owned(),
                condition: Condition::Version(open.version),
            });
        }
        match self.store.transact(writes).await {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn history(&self, run: &str) -> Result<Vec<HistoryEvent>, OrchestratorError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(
                    &format!("HISTORY#{run}"),
                    "",
                    Order::Ascending,
                    500,
                    after.as_deref(),
                )
                .await
                .map_err(err)?;
            let done = page.len() < 500;
            after = page.last().map(|i| i.sk.clone());
            for i in page {
                out.push(serde_json::from_value(i.data).map_err(err)?);
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// A run's history, for `sluice` to show (GetExecutionHistory's counterpart).
    pub async fn execution_history(
        &self,
        run: &str,
    ) -> Result<Vec<HistoryEvent>, OrchestratorError> {
        self.history(run).await
    }

    async fn machine(&self, pipeline: &str, version: u64) -> Result<Machine, OrchestratorError> {
        if let Ok(cache) = self.machines.lock() {
            if let Some(m) = cache.get(&(pipeline.to_owned(), version)) {
                return Ok(m.clone());
            }
        }
        let stored = self
            .store
            .get(
                &format!("MACHINE#{pipeline}"),
                &format!("VERSION#{version:010}"),
            )
            .await
            .map_err(err)?
            .ok_or_else(|| {
                OrchestratorError::Other(format!(
                    "no state machine for {pipeline} version {version}"
                ))
            })?;
        let machine = Machine::from_json(&stored.data).map_err(err)?;
        if let Ok(mut cache) = self.machines.lock() {
            cache.insert((pipeline.to_owned(), version), machine.clone());
        }
        Ok(machine)
    }

    async fn inbox(&self, run: &str, command: InboxCommand) -> Result<(), OrchestratorError> {
        write_inbox(&*self.store, &*self.env, run, &command).await?;
        self.wake.notify_one();
        Ok(())
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(u64::try_from(self.env.now_ms()).unwrap_or(0))
    }
}

async fn write_inbox(
    store: &dyn ItemStore,
    env: &dyn Env,
    run: &str,
    command: &InboxCommand,
) -> Result<(), OrchestratorError> {
    let sk = format!("{:015}#{}", env.now_ms(), env.new_id());
    store
        .transact(vec![Write::Put(
            item(&format!("INBOX#{run}"), &sk, 1, command)?,
            Condition::Absent,
        )])
        .await
        .map_err(err)
}

/// The run a task token belongs to: tokens are `<run>/<state path>@<attempt>`.
fn run_of_token(token: &str) -> Result<&str, OrchestratorError> {
    token
        .split_once('/')
        .map(|(run, _)| run)
        .filter(|run| !run.is_empty())
        .ok_or_else(|| OrchestratorError::TaskNotOpen(token.to_owned()))
}

/// Whether a process is alive (Linux: /proc; elsewhere leases simply expire).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

#[async_trait]
impl Orchestrator for Engine {
    async fn publish(
        &self,
        pipeline: &str,
        version: u64,
        machine: &Value,
    ) -> Result<(), OrchestratorError> {
        // Refuse what the interpreter cannot run before anything starts.
        Machine::from_json(machine).map_err(err)?;
        let write = Write::Put(
            item(
                &format!("MACHINE#{pipeline}"),
                &format!("VERSION#{version:010}"),
                1,
                machine,
            )?,
            Condition::Absent,
        );
        match self.store.transact(vec![write]).await {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn start_execution(
        &self,
        pipeline: &str,
        version: u64,
        name: &str,
        input: Value,
    ) -> Result<(), OrchestratorError> {
        let record = RunRecord {
            pipeline: pipeline.to_owned(),
            version,
            input,
            status: "RUNNING".into(),
            started_ms: self.env.now_ms(),
        };
        let writes = vec![
            Write::Put(
                item(&format!("RUN#{name}"), "META", 1, &record)?,
                Condition::Absent,
            ),
            Write::Put(
                item("RUNS", name, 1, &json!({"run": name}))?,
                Condition::Absent,
            ),
        ];
        match self.store.transact(writes).await {
            Ok(()) => {
                self.wake.notify_one();
                Ok(())
            }
            Err(StoreError::ConditionFailed(_)) => {
                Err(OrchestratorError::ExecutionExists(name.to_owned()))
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), OrchestratorError> {
        let run = run_of_token(token)?;
        self.inbox(
            run,
            InboxCommand::Success {
                token: token.to_owned(),
                output,
            },
        )
        .await
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let run = run_of_token(token)?;
        self.inbox(
            run,
            InboxCommand::Failure {
                token: token.to_owned(),
                error: error.to_owned(),
                cause: cause.to_owned(),
            },
        )
        .await
    }

    async fn stop_execution(
        &self,
        _pipeline: &str,
        name: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        self.inbox(
            name,
            InboxCommand::Stop {
                cause: cause.to_owned(),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_run() {
        assert_eq!(
            run_of_token("abc-1.retry-1/Build (enter)@1").ok(),
            Some("abc-1.retry-1")
        );
        assert!(run_of_token("no-slash").is_err());
    }
}
