//! Approval rules on a Manual action (`Approvers`, `RequiredApprovals`, `RejectionFails`, `AllowSelfApproval`,
//! `Deadline`, `Reminders`), through the runtime and the embedded engine with a clock the test moves: a
//! two-of-three quorum, self-approval and non-approvers refused, a rejection ending it, the deadline failing
//! it, reminders sent once, and two approvals racing settling the action exactly once, on SQLite and on the
//! serial moto DynamoDB (which applies each request atomically, as DynamoDB does).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_definition::{Limits, Syntax};
use sluice_engine::Engine;
use sluice_local::{FolderObjectStore, SqliteStore};
use sluice_runtime::approval_quorum::Decider;
use sluice_runtime::events::Origin;
use sluice_runtime::links;
use sluice_runtime::notifications::ApprovalLinks;
use sluice_runtime::ports::{Directory, EventSink, ItemStore, Person};
use sluice_runtime::records::{
    ActionRecord, ActionStatus, ApprovalRecord, ApprovalStatus, ExecutionStatus, TriggerInfo,
};
use sluice_runtime::{Runtime, RuntimeConfig, RuntimeError, StartRequest};
use sluice_tests::embedded::TestEnv;
use sluice_web::approval_page::{self, PageRequest};
use tokio::sync::Notify;

const START_MS: i64 = 1_800_000_000_000;

/// A pipeline whose `Gate.Review` approval has the given configuration lines (YAML flow mapping entries).
fn pipeline(name: &str, config: &str) -> String {
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
  - name: Gate
    actions:
      - name: Review
        actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: "1"}}
        configuration: {{{config}}}
"#
    )
}

/// Every event published, and every approval announcement (first ones and reminders).
#[derive(Default)]
struct Recorded {
    events: Mutex<Vec<Value>>,
    announced: Mutex<Vec<(String, Option<u32>)>>,
}

#[async_trait]
impl EventSink for Recorded {
    async fn publish(&self, event: &Value) -> Result<(), String> {
        self.events.lock().expect("events").push(event.clone());
        Ok(())
    }

    async fn approval_requested(&self, a: &ApprovalRecord, _expires_s: i64) -> Result<(), String> {
        self.announced
            .lock()
            .expect("announced")
            .push((a.token.clone(), None));
        Ok(())
    }

    async fn approval_reminder(
        &self,
        a: &ApprovalRecord,
        _expires_s: i64,
        minutes_before: u32,
    ) -> Result<(), String> {
        self.announced
            .lock()
            .expect("announced")
            .push((a.token.clone(), Some(minutes_before)));
        Ok(())
    }
}

impl Recorded {
    /// How many times Gate.Review reached `state` in execution `id`.
    fn review_events(&self, id: &str, state: &str) -> usize {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| {
                let d = &e["detail"];
                d["execution-id"] == id && d["action"] == "Review" && d["state"] == state
            })
            .count()
    }
}

/// The runtime and the embedded engine over `store`, the folder object store and the local agent in `dir`.
struct Rig {
    runtime: Arc<Runtime>,
    env: Arc<TestEnv>,
    recorded: Arc<Recorded>,
    stop: Arc<Notify>,
    driving: tokio::task::JoinHandle<()>,
    folder: tempfile::TempDir,
}

impl Rig {
    async fn on(store: Arc<dyn ItemStore>, dir: tempfile::TempDir) -> Self {
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).expect("src");
        std::fs::write(root.join("src/a.txt"), "a").expect("file");
        let env = TestEnv::at(START_MS);
        let objects = Arc::new(FolderObjectStore::open(root.join("objects")).expect("objects"));
        let engine = Engine::new(Arc::clone(&store), env.clone());
        let agent = LocalAgent::new(
            objects.clone(),
            AgentConfig::new(root.join("work"), root.join("logs")),
        );
        let recorded = Arc::new(Recorded::default());
        let runtime = Arc::new(Runtime {
            store,
            objects,
            orchestrator: engine.clone(),
            events: recorded.clone(),
            executor: Arc::new(agent.clone()),
            env: env.clone(),
            definitions: Default::default(),
            config: RuntimeConfig {
                artifact_bucket: "artifacts".into(),
                origin: Origin {
                    account: "123456789012".into(),
                    region: "us-east-1".into(),
                },
                limits: Limits::default(),
                webhook_base_url: Default::default(),
            },
        });
        engine.set_host(&runtime);
        agent.set_listener(runtime.clone());
        let stop = Arc::new(Notify::new());
        let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
        Self {
            runtime,
            env,
            recorded,
            stop,
            driving,
            folder: dir,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp");
        let store = Arc::new(SqliteStore::open(dir.path().join("sluice.db")).expect("store"));
        Self::on(store, dir).await
    }

    async fn put(&self, name: &str, config: &str) {
        let doc =
            sluice_definition::load(&pipeline(name, config), Syntax::Yaml, &Limits::default())
                .expect("a valid definition");
        self.runtime
            .put_pipeline(
                doc.pipeline,
                Some(self.dir().to_string_lossy().into_owned()),
            )
            .await
            .expect("stored");
    }

    fn dir(&self) -> &Path {
        self.folder.path()
    }

    /// Starts an execution as `by` and waits until its approval waits; answers the execution id and token.
    async fn start_as(&self, name: &str, by: &str) -> (String, String) {
        let id = self
            .runtime
            .start_execution(
                name,
                StartRequest {
                    trigger: Some(TriggerInfo {
                        trigger_type: "StartPipelineExecution".into(),
                        trigger_detail: by.into(),
                        pushed_by: None,
                    }),
                    ..StartRequest::default()
                },
            )
            .await
            .expect("started")
            .execution_id;
        let token = until("the approval", async || {
            self.runtime
                .approval(name, "Gate", "Review", &id)
                .await
                .expect("read")
                .filter(|a| a.status == ApprovalStatus::Pending)
                .map(|a| a.token)
        })
        .await;
        (id, token)
    }

    async fn decide(
        &self,
        token: &str,
        who: &str,
        groups: &[&str],
        approve: bool,
    ) -> Result<ApprovalRecord, RuntimeError> {
        decide(&self.runtime, token, who, groups, approve).await
    }

    async fn review(&self, id: &str) -> ActionRecord {
        self.runtime
            .actions(id)
            .await
            .expect("actions")
            .into_iter()
            .find(|a| a.action == "Review")
            .expect("Review ran")
    }

    async fn finished(&self, id: &str) -> ExecutionStatus {
        until("the execution's end", async || {
            let e = self.runtime.execution(id).await.expect("read");
            e.status.is_final().then_some(e.status)
        })
        .await
    }

    async fn stop(self) {
        self.stop.notify_one();
        self.driving.await.expect("engine stops");
    }
}

async fn decide(
    runtime: &Runtime,
    token: &str,
    who: &str,
    groups: &[&str],
    approve: bool,
) -> Result<ApprovalRecord, RuntimeError> {
    let decider = Decider {
        name: who.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    };
    runtime
        .decide_approval_as(token, approve, Some(format!("{who} says so")), &decider)
        .await
}

async fn until<T>(what: &str, mut ready: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..800 {
        if let Some(v) = ready().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn refusal(r: Result<ApprovalRecord, RuntimeError>) -> String {
    match r {
        Err(RuntimeError::Invalid(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const TWO_OF_THREE: &str = "Approvers: 'bob,carol,group:leads', RequiredApprovals: '2'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_approvers_settle_the_action_when_the_second_approves() {
    let rig = Rig::sqlite().await;
    rig.put("quorum", TWO_OF_THREE).await;
    let (id, token) = rig.start_as("quorum", "alice").await;

    let first = rig
        .decide(&token, "bob", &[], true)
        .await
        .expect("bob approves");
    assert_eq!(
        first.status,
        ApprovalStatus::Pending,
        "one of two is not enough"
    );
    let review = rig.review(&id).await;
    assert_eq!(review.status, ActionStatus::InProgress);
    assert_eq!(review.summary.as_deref(), Some("1 of 2 approvals: bob"));

    let again = refusal(rig.decide(&token, "bob", &[], true).await);
    assert!(again.contains("bob already approved"), "{again}");

    rig.env.advance_ms(60_000);
    let second = rig
        .decide(&token, "dave", &["leads"], true)
        .await
        .expect("dave of the leads approves");
    assert_eq!(second.status, ApprovalStatus::Approved);
    assert_eq!(second.decided_by.as_deref(), Some("bob, dave"));
    let trail: Vec<(String, bool, i64, Option<String>)> = second
        .decisions
        .iter()
        .map(|d| {
            (
                d.principal.clone(),
                d.approved,
                d.decided_ms,
                d.comment.clone(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        vec![
            ("bob".into(), true, START_MS, Some("bob says so".into())),
            (
                "dave".into(),
                true,
                START_MS + 60_000,
                Some("dave says so".into())
            ),
        ],
        "each decision is recorded with principal, time and comment"
    );
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);
    let review = rig.review(&id).await;
    assert_eq!(review.status, ActionStatus::Succeeded);
    assert_eq!(
        review.summary.as_deref(),
        Some("Approved by bob, dave (2 of 2 approvals). dave says so")
    );
    assert_eq!(rig.recorded.review_events(&id, "SUCCEEDED"), 1);
    let late = rig.decide(&token, "carol", &[], true).await;
    assert!(matches!(late, Err(RuntimeError::Conflict(_))), "{late:?}");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_who_started_the_execution_may_not_approve_it() {
    let rig = Rig::sqlite().await;
    rig.put("own", "Approvers: 'alice,bob'").await;
    let (id, token) = rig.start_as("own", "alice").await;
    let why = refusal(rig.decide(&token, "alice", &[], true).await);
    assert!(
        why.contains(&format!(
            "alice started execution {id} and may not approve it"
        )),
        "{why}"
    );
    let still = rig
        .runtime
        .approval_by_token(&token)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(still.status, ApprovalStatus::Pending);
    assert!(
        still.decisions.is_empty(),
        "a refused decision is not recorded"
    );
    rig.decide(&token, "bob", &[], true)
        .await
        .expect("bob approves");
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);

    // AllowSelfApproval: the starter may approve.
    rig.put("own", "Approvers: 'alice,bob', AllowSelfApproval: 'true'")
        .await;
    let (id, token) = rig.start_as("own", "alice").await;
    rig.decide(&token, "alice", &[], true)
        .await
        .expect("alice may");
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decider_not_among_the_approvers_is_refused() {
    let rig = Rig::sqlite().await;
    rig.put("named", TWO_OF_THREE).await;
    let (id, token) = rig.start_as("named", "alice").await;
    for (who, groups) in [("erin", vec![]), ("frank", vec!["ops"])] {
        let why = refusal(rig.decide(&token, who, &groups, false).await);
        assert!(
            why.contains(&format!("{who} (in "))
                && why.contains("is not one of the approvers")
                && why.contains("bob, carol, group:leads"),
            "{why}"
        );
    }
    assert_eq!(rig.review(&id).await.status, ActionStatus::InProgress);
    rig.runtime
        .stop_execution(&id, true, "done")
        .await
        .expect("stopped");
    rig.finished(&id).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rejection_fails_the_action_and_the_execution() {
    let rig = Rig::sqlite().await;
    rig.put("veto", TWO_OF_THREE).await;
    let (id, token) = rig.start_as("veto", "alice").await;
    rig.decide(&token, "bob", &[], true)
        .await
        .expect("bob approves");
    let rejected = rig
        .decide(&token, "carol", &[], false)
        .await
        .expect("carol rejects");
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Failed);
    let review = rig.review(&id).await;
    assert_eq!(review.status, ActionStatus::Failed);
    assert_eq!(
        review.error.as_deref(),
        Some("Rejected by carol. carol says so")
    );
    assert_eq!(rig.recorded.review_events(&id, "FAILED"), 1);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_still_waiting_at_its_deadline_fails_after_its_reminders() {
    let rig = Rig::sqlite().await;
    rig.put(
        "late",
        "RequiredApprovals: '2', Deadline: 30m, Reminders: '10m,20m'",
    )
    .await;
    let (id, token) = rig.start_as("late", "alice").await;
    let approval = rig
        .runtime
        .approval_by_token(&token)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(approval.deadline_ms, Some(START_MS + 30 * 60_000));
    rig.decide(&token, "bob", &[], true)
        .await
        .expect("bob approves");
    let reminders = || {
        rig.recorded
            .announced
            .lock()
            .expect("announced")
            .iter()
            .filter(|(t, m)| *t == token && m.is_some())
            .map(|(_, m)| m.unwrap_or_default())
            .collect::<Vec<u32>>()
    };

    rig.env.advance_ms(9 * 60_000);
    assert_eq!(rig.runtime.send_due_reminders().await.expect("sweep"), 0);
    rig.env.advance_ms(2 * 60_000); // 11 minutes in: 20 minutes before the deadline.
    assert_eq!(rig.runtime.send_due_reminders().await.expect("sweep"), 1);
    assert_eq!(
        rig.runtime.send_due_reminders().await.expect("sweep"),
        0,
        "once"
    );
    assert_eq!(reminders(), vec![20]);
    rig.env.advance_ms(10 * 60_000); // 21 minutes in: 10 before.
    let (a, b) = tokio::join!(
        rig.runtime.send_due_reminders(),
        rig.runtime.send_due_reminders()
    );
    assert_eq!(
        a.expect("sweep") + b.expect("sweep"),
        1,
        "two sweeps at once send it once"
    );
    assert_eq!(reminders(), vec![20, 10]);
    assert_eq!(rig.finished_soon(&id).await, None, "still waiting");

    rig.env.advance_ms(10 * 60_000); // 31 minutes in: past the deadline.
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Failed);
    let review = rig.review(&id).await;
    assert_eq!(review.status, ActionStatus::Failed);
    let error = review.error.unwrap_or_default();
    assert!(
        error.starts_with("The approval was not decided before its deadline")
            && error.ends_with(": 1 of 2 approvals: bob"),
        "the error says the deadline passed, with the decisions so far: {error}"
    );
    let expired = rig
        .runtime
        .approval_by_token(&token)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(expired.status, ApprovalStatus::Expired);
    assert!(
        rig.runtime
            .pending_approvals("late")
            .await
            .expect("read")
            .is_empty(),
        "an expired approval no longer waits for anyone"
    );
    let late = rig.decide(&token, "carol", &[], true).await;
    assert!(matches!(late, Err(RuntimeError::Conflict(_))), "{late:?}");
    rig.stop().await;
}

/// The principals links are issued to: alice alone; bob, carol and dave in group leads.
struct People;

#[async_trait]
impl Directory for People {
    async fn people(&self) -> Result<Vec<Person>, String> {
        Ok([
            ("alice", ""),
            ("bob", "leads"),
            ("carol", "leads"),
            ("dave", "leads"),
        ]
        .iter()
        .map(|(name, group)| Person {
            name: (*name).to_owned(),
            groups: group
                .split(',')
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
        })
        .collect())
    }
}

const LINK_KEY: &[u8] = b"the approval link key of this test";

/// POSTs a decision through a link's page, as a browser's form does: the status and the page.
async fn post_link(runtime: &Runtime, link: &str, decision: &str) -> (u16, String) {
    let (token, query) = link
        .split_once(links::PATH_PREFIX)
        .and_then(|(_, rest)| rest.split_once('?'))
        .unwrap_or_else(|| panic!("{link} is not an approval link"));
    let body = format!("decision={decision}&summary=via+my+link");
    let reply = approval_page::answer(
        runtime,
        LINK_KEY,
        &People,
        PageRequest {
            method: "POST",
            token,
            query,
            content_type: Some("application/x-www-form-urlencoded"),
            body: body.as_bytes(),
            now_s: START_MS / 1000 + 60,
        },
    )
    .await;
    (reply.status, reply.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_approver_gets_a_link_that_decides_once_as_them() {
    let rig = Rig::sqlite().await;
    rig.put(
        "links",
        "Approvers: 'alice, group:leads', RequiredApprovals: '2'",
    )
    .await;
    // carol starts it, so she gets no link and may not approve.
    let (id, token) = rig.start_as("links", "carol").await;
    let approval = rig
        .runtime
        .approval_by_token(&token)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(approval.not_approvable_by.as_deref(), Some("carol"));
    let people = People.people().await.expect("people");
    let issued = ApprovalLinks::issue(
        LINK_KEY,
        "http://127.0.0.1:1",
        "us-east-1",
        &approval,
        START_MS / 1000 + 3600,
        &people,
    );
    let who: Vec<&str> = issued
        .approver_links
        .iter()
        .map(|(w, _)| w.as_str())
        .collect();
    assert_eq!(
        who,
        ["alice", "bob", "dave"],
        "one link per approver, groups expanded, carol left out"
    );
    let link = |name: &str| {
        issued
            .approver_links
            .iter()
            .find(|(w, _)| w == name)
            .map(|(_, l)| l.clone())
            .expect("a link")
    };

    let (status, page) = post_link(&rig.runtime, &link("alice"), "Approved").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("1 of 2 approvals: alice"), "{page}");
    assert_eq!(
        rig.review(&id).await.summary.as_deref(),
        Some("1 of 2 approvals: alice")
    );
    let (status, page) = post_link(&rig.runtime, &link("alice"), "Approved").await;
    assert_eq!(status, 410, "alice's link works once: {page}");
    assert!(page.contains("alice already decided"), "{page}");
    // A shared link (no approver named) decides as nobody in particular: refused when approvers are named.
    let shared = format!(
        "http://h{}",
        links::path(LINK_KEY, &token, START_MS / 1000 + 3600)
    );
    let (status, page) = post_link(&rig.runtime, &shared, "Approved").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("not one of the approvers"), "{page}");

    let (status, page) = post_link(&rig.runtime, &link("dave"), "Approved").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved"), "{page}");
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);
    let review = rig.review(&id).await;
    assert_eq!(
        review.summary.as_deref(),
        Some("Approved by alice, dave (2 of 2 approvals). via my link")
    );
    let (status, page) = post_link(&rig.runtime, &link("bob"), "Approved").await;
    assert_eq!(status, 410, "once settled, every link is spent: {page}");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_pushed_the_commit_may_not_approve_it() {
    let rig = Rig::sqlite().await;
    rig.put("pushed", "Approvers: 'group:leads'").await;
    let id = rig
        .runtime
        .start_execution(
            "pushed",
            StartRequest {
                trigger: Some(TriggerInfo {
                    trigger_type: "WebhookV2".into(),
                    trigger_detail: "delivery-1".into(),
                    pushed_by: Some("bob".into()),
                }),
                ..StartRequest::default()
            },
        )
        .await
        .expect("started")
        .execution_id;
    let token = until("the approval", async || {
        rig.runtime
            .approval("pushed", "Gate", "Review", &id)
            .await
            .expect("read")
            .map(|a| a.token)
    })
    .await;
    let why = refusal(rig.decide(&token, "bob", &["leads"], true).await);
    assert!(why.contains("bob started execution"), "{why}");
    rig.decide(&token, "carol", &["leads"], true)
        .await
        .expect("another lead approves");
    assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);
    rig.stop().await;
}

impl Rig {
    /// The execution's status if it ends within a moment.
    async fn finished_soon(&self, id: &str) -> Option<ExecutionStatus> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let e = self.runtime.execution(id).await.expect("read");
        e.status.is_final().then_some(e.status)
    }
}

/// Rounds of: bob approves, then carol and a lead approve at the same moment; one of them settles the action,
/// the other is refused as too late. And a round where two approvals at once make up the quorum together.
async fn racing_approvals_settle_once(rig: Rig, rounds: usize) {
    rig.put("race", TWO_OF_THREE).await;
    for round in 0..rounds {
        let (id, token) = rig.start_as("race", "alice").await;
        rig.decide(&token, "bob", &[], true)
            .await
            .expect("bob approves");
        let (r1, r2) = (rig.runtime.clone(), rig.runtime.clone());
        let (t1, t2) = (token.clone(), token.clone());
        let a = tokio::spawn(async move { decide(&r1, &t1, "carol", &[], true).await });
        let b = tokio::spawn(async move { decide(&r2, &t2, "dave", &["leads"], true).await });
        let (a, b) = (a.await.expect("joined"), b.await.expect("joined"));
        let approved: Vec<&ApprovalRecord> = [&a, &b]
            .into_iter()
            .filter_map(|r| r.as_ref().ok())
            .collect();
        assert_eq!(approved.len(), 1, "round {round}: one wins: {a:?} {b:?}");
        assert_eq!(approved[0].status, ApprovalStatus::Approved);
        assert_eq!(approved[0].decisions.len(), 2, "round {round}");
        let lost = if a.is_err() { a } else { b };
        assert!(
            matches!(lost, Err(RuntimeError::Conflict(_))),
            "round {round}: {lost:?}"
        );
        assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);
        assert_eq!(
            rig.recorded.review_events(&id, "SUCCEEDED"),
            1,
            "round {round}"
        );

        // Two approvals at once from nothing: both count, the second completes the quorum, once.
        let (id, token) = rig.start_as("race", "alice").await;
        let (r1, r2) = (rig.runtime.clone(), rig.runtime.clone());
        let (t1, t2) = (token.clone(), token.clone());
        let a = tokio::spawn(async move { decide(&r1, &t1, "bob", &[], true).await });
        let b = tokio::spawn(async move { decide(&r2, &t2, "carol", &[], true).await });
        let (a, b) = (
            a.await.expect("joined").expect("bob's counts"),
            b.await.expect("joined").expect("carol's counts"),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_by_key(|s| *s == ApprovalStatus::Approved);
        assert_eq!(
            statuses,
            [ApprovalStatus::Pending, ApprovalStatus::Approved],
            "round {round}: one recorded first, the other settled"
        );
        assert_eq!(rig.finished(&id).await, ExecutionStatus::Succeeded);
        assert_eq!(
            rig.recorded.review_events(&id, "SUCCEEDED"),
            1,
            "round {round}"
        );
        let settled = rig
            .runtime
            .approval_by_token(&token)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(settled.decisions.len(), 2, "round {round}");
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvals_at_once_settle_the_action_exactly_once_on_sqlite() {
    racing_approvals_settle_once(Rig::sqlite().await, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvals_at_once_settle_the_action_exactly_once_on_dynamodb() {
    let client = sluice_tests::moto::serial_dynamodb().await;
    let table = sluice_tests::moto::unique("sluice-approval-race");
    sluice_aws::DynamoStore::create_table(&client, &table)
        .await
        .expect("table");
    let store = Arc::new(sluice_aws::DynamoStore::new(client, table));
    let dir = tempfile::tempdir().expect("temp");
    racing_approvals_settle_once(Rig::on(store, dir).await, 2).await;
}
