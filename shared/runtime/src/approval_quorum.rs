//! One decision on an approval judged against its action's approval rules (`sluice_definition::approval_rules`),
//! pure: who may decide, no self-approval, one decision per principal, N approvals settle it, a rejection ends
//! it (or, with `RejectionFails` false, once too few named approvers are left). And the words people read:
//! progress (`1 of 2 approvals: alice`) and the final summary (`Approved by alice, bob (2 of 2 approvals)`).

use sluice_definition::approval_rules::ApprovalRules;

use crate::ports::Person;
use crate::records::{ApprovalDecision, ApprovalRecord, ApprovalStatus};

/// Who decides: a principal's name and the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decider {
    /// The principal's name (whom the decision is recorded as).
    pub name: String,
    /// Its groups (`group:<name>` approvers).
    pub groups: Vec<String>,
}

impl Decider {
    /// A decider known only by name (a transport that knows no groups).
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            groups: Vec::new(),
        }
    }
}

/// What a decision does to its approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded; the approval still waits. The action's summary now says this.
    Waiting(String),
    /// The approval is approved: the action succeeds with this summary.
    Approved(String),
    /// The approval is rejected: the action fails with this message.
    Rejected(String),
}

/// Judges `decider`'s decision (`approve`, `comment`, at `now_ms`) on `approval` under `rules`, where
/// `started_by` is the principal who started the execution, when one did. Err: why the decider may not make
/// it. Ok: the verdict, with the decision appended to `approval.decisions` and, on a final verdict, its status,
/// `decided_by`, `summary` and `decided_ms` set.
pub fn judge(
    rules: &ApprovalRules,
    approval: &mut ApprovalRecord,
    decider: &Decider,
    approve: bool,
    comment: Option<String>,
    started_by: Option<&str>,
    now_ms: i64,
) -> Result<Verdict, String> {
    let name = decider.name.as_str();
    if !rules.may_decide(name, &decider.groups) {
        let groups = if decider.groups.is_empty() {
            "in no group".to_owned()
        } else {
            format!("in groups {}", decider.groups.join(", "))
        };
        return Err(format!(
            "{name} ({groups}) is not one of the approvers of this action: {}",
            rules.approvers_text()
        ));
    }
    if approve && !rules.self_approval && started_by == Some(name) {
        return Err(format!(
            "{name} started execution {} and may not approve it (AllowSelfApproval is false)",
            approval.execution_id
        ));
    }
    if let Some(earlier) = approval.decisions.iter().find(|d| d.principal == name) {
        return Err(format!(
            "{name} already {} this approval; each approver decides once",
            if earlier.approved {
                "approved"
            } else {
                "rejected"
            }
        ));
    }
    approval.decisions.push(ApprovalDecision {
        principal: name.to_owned(),
        approved: approve,
        decided_ms: now_ms,
        comment: comment.clone(),
    });
    let needed = rules.needed().max(1);
    let approvers = names(approval, true);
    let verdict = if approve && approvers.len() as u32 >= needed {
        Verdict::Approved(final_summary(needed, approval, &comment))
    } else if !approve && rules.rejection_fails {
        Verdict::Rejected(
            format!(
                "Rejected by {name}. {}",
                comment.clone().unwrap_or_default()
            )
            .trim()
            .to_owned(),
        )
    } else if !approve && cannot_be_reached(rules, approval, needed) {
        Verdict::Rejected(format!(
            "Rejected by {}: {} of {needed} approvals, and too few approvers are left to approve",
            names(approval, false).join(", "),
            approvers.len()
        ))
    } else {
        Verdict::Waiting(progress(needed, approval))
    };
    match &verdict {
        Verdict::Waiting(_) => {}
        Verdict::Approved(_) => {
            approval.status = ApprovalStatus::Approved;
            approval.decided_by = Some(approvers.join(", "));
        }
        Verdict::Rejected(_) => {
            approval.status = ApprovalStatus::Rejected;
            approval.decided_by = Some(name.to_owned());
        }
    }
    if !matches!(verdict, Verdict::Waiting(_)) {
        approval.summary = comment;
        approval.decided_ms = Some(now_ms);
    }
    Ok(verdict)
}

/// The principals who approved (or rejected), in order.
fn names(approval: &ApprovalRecord, approved: bool) -> Vec<String> {
    approval
        .decisions
        .iter()
        .filter(|d| d.approved == approved)
        .map(|d| d.principal.clone())
        .collect()
}

/// With `RejectionFails` false: whether the approvals still possible (named approvers who have not decided)
/// can no longer make up the quorum. Unknowable when `Approvers` names groups (or nobody): then never.
fn cannot_be_reached(rules: &ApprovalRules, approval: &ApprovalRecord, needed: u32) -> bool {
    let Some(named) = rules.named_only() else {
        return false;
    };
    let approved = names(approval, true).len();
    let undecided = named
        .iter()
        .filter(|n| !approval.decisions.iter().any(|d| d.principal == **n))
        .count();
    ((approved + undecided) as u32) < needed
}

/// Whom an approval's links go to, one each, sorted: the principals its `Approvers` name outright and the
/// members (in `people`) of the groups it names, less the one who may not approve it and those who decided
/// already. Empty when `Approvers` names nobody: then one shared link serves anyone.
pub fn link_holders(approval: &ApprovalRecord, people: &[Person]) -> Vec<String> {
    let mut holders: Vec<String> = Vec::new();
    for entry in &approval.approvers {
        match entry.strip_prefix("group:") {
            Some(group) => holders.extend(
                people
                    .iter()
                    .filter(|p| p.groups.iter().any(|g| g == group))
                    .map(|p| p.name.clone()),
            ),
            None => holders.push(entry.clone()),
        }
    }
    holders.retain(|h| {
        approval.not_approvable_by.as_deref() != Some(h.as_str())
            && !approval.decisions.iter().any(|d| &d.principal == h)
    });
    holders.sort();
    holders.dedup();
    holders
}

/// Whether `decider` may still decide `approval`: one of its approvers (anyone, when it names none), not the
/// one who may not approve it, and not decided yet. The console's "waiting for you".
pub fn awaits(approval: &ApprovalRecord, decider: &Decider) -> bool {
    let listed = approval.approvers.is_empty()
        || approval
            .approvers
            .iter()
            .any(|entry| match entry.strip_prefix("group:") {
                Some(group) => decider.groups.iter().any(|g| g == group),
                None => *entry == decider.name,
            });
    listed
        && approval.status == ApprovalStatus::Pending
        && approval.not_approvable_by.as_deref() != Some(decider.name.as_str())
        && !approval
            .decisions
            .iter()
            .any(|d| d.principal == decider.name)
}

/// [`progress`] of an approval by what it recorded when requested (`required_approvals`).
pub fn progress_of(approval: &ApprovalRecord) -> String {
    progress(approval.required_approvals.max(1), approval)
}

/// `1 of 2 approvals: alice` (and `; rejected by carol` when some rejected without ending it).
pub fn progress(needed: u32, approval: &ApprovalRecord) -> String {
    let approvers = names(approval, true);
    let rejecters = names(approval, false);
    let mut text = format!("{} of {needed} approvals", approvers.len());
    if !approvers.is_empty() {
        text.push_str(&format!(": {}", approvers.join(", ")));
    }
    if !rejecters.is_empty() {
        text.push_str(&format!("; rejected by {}", rejecters.join(", ")));
    }
    text
}

/// The action's summary once approved: CodePipeline's one-approver wording when one approval settles it.
fn final_summary(needed: u32, approval: &ApprovalRecord, comment: &Option<String>) -> String {
    let approvers = names(approval, true);
    let comment = comment.clone().unwrap_or_default();
    let text = if needed <= 1 && approval.decisions.len() == 1 {
        format!("Approved by {}. {comment}", approvers.join(", "))
    } else {
        format!(
            "Approved by {} ({} of {needed} approvals). {comment}",
            approvers.join(", "),
            approvers.len()
        )
    };
    text.trim().to_owned()
}

/// The outcome of a decided approval, for an action settled after its decider's process died: the summary
/// (Ok) or the failure (Err) its decision gave. None while it waits.
pub fn outcome(rules: &ApprovalRules, approval: &ApprovalRecord) -> Option<Result<String, String>> {
    let by = approval.decided_by.clone().unwrap_or_default();
    let comment = approval.summary.clone().unwrap_or_default();
    match approval.status {
        ApprovalStatus::Pending | ApprovalStatus::Expired => None,
        ApprovalStatus::Approved if approval.decisions.is_empty() => {
            Some(Ok(format!("Approved by {by}. {comment}").trim().to_owned()))
        }
        ApprovalStatus::Approved => Some(Ok(final_summary(
            rules.needed().max(1),
            approval,
            &approval.summary,
        ))),
        ApprovalStatus::Rejected => Some(Err(format!("Rejected by {by}. {comment}")
            .trim()
            .to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rules(pairs: &[(&str, &str)]) -> ApprovalRules {
        let config: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ApprovalRules::read(&config, None).expect("valid rules")
    }

    fn pending() -> ApprovalRecord {
        ApprovalRecord {
            pipeline: "p".into(),
            execution_id: "e1".into(),
            stage: "Gate".into(),
            action: "Review".into(),
            attempt: 1,
            token: "t".into(),
            status: ApprovalStatus::Pending,
            summary: None,
            decided_by: None,
            custom_data: None,
            external_link: None,
            notification_arn: None,
            requested_ms: 0,
            decided_ms: None,
            decisions: Vec::new(),
            deadline_ms: None,
            approvers: Vec::new(),
            not_approvable_by: None,
            required_approvals: 0,
        }
    }

    /// Decisions in order, each `name[+group]:approve|reject`, against `rules`, for an execution started by
    /// `alice`; `expected` is each verdict or refusal, as text.
    fn check(config: &[(&str, &str)], decisions: &[&str], expected: &[&str]) {
        let rules = rules(config);
        let mut approval = pending();
        let mut got = Vec::new();
        for (i, d) in decisions.iter().enumerate() {
            let (who, what) = d.split_once(':').expect("name:decision");
            let (name, groups) = match who.split_once('+') {
                Some((n, g)) => (n, vec![g.to_owned()]),
                None => (who, Vec::new()),
            };
            let decider = Decider {
                name: name.into(),
                groups,
            };
            let verdict = judge(
                &rules,
                &mut approval,
                &decider,
                what == "approve",
                None,
                Some("alice"),
                i as i64,
            );
            got.push(match verdict {
                Ok(Verdict::Waiting(s)) => format!("waiting: {s}"),
                Ok(Verdict::Approved(s)) => format!("approved: {s}"),
                Ok(Verdict::Rejected(s)) => format!("rejected: {s}"),
                Err(e) => format!("refused: {e}"),
            });
        }
        assert_eq!(got, expected, "{config:?} {decisions:?}");
    }

    #[test]
    fn without_rules_one_decision_settles_as_in_codepipeline() {
        check(&[], &["alice:approve"], &["approved: Approved by alice."]);
        check(&[], &["bob:reject"], &["rejected: Rejected by bob."]);
    }

    #[test]
    fn two_of_three_named_approvers() {
        let config = [("Approvers", "bob,carol,dave"), ("RequiredApprovals", "2")];
        check(
            &config,
            &["bob:approve", "bob:approve", "erin:approve", "carol:approve"],
            &[
                "waiting: 1 of 2 approvals: bob",
                "refused: bob already approved this approval; each approver decides once",
                "refused: erin (in no group) is not one of the approvers of this action: bob, carol, dave",
                "approved: Approved by bob, carol (2 of 2 approvals).",
            ],
        );
    }

    #[test]
    fn the_one_who_started_it_may_not_approve_but_may_reject() {
        let config = [("Approvers", "alice,bob")];
        check(
            &config,
            &["alice:approve", "alice:reject"],
            &[
                "refused: alice started execution e1 and may not approve it (AllowSelfApproval is false)",
                "rejected: Rejected by alice.",
            ],
        );
        check(
            &[("Approvers", "alice,bob"), ("AllowSelfApproval", "true")],
            &["alice:approve"],
            &["approved: Approved by alice."],
        );
    }

    #[test]
    fn groups_decide_through_their_members() {
        check(
            &[("Approvers", "group:leads"), ("RequiredApprovals", "2")],
            &["bob+leads:approve", "carol+ops:approve", "dave+leads:approve"],
            &[
                "waiting: 1 of 2 approvals: bob",
                "refused: carol (in groups ops) is not one of the approvers of this action: group:leads",
                "approved: Approved by bob, dave (2 of 2 approvals).",
            ],
        );
    }

    #[test]
    fn a_rejection_ends_it_unless_told_otherwise() {
        let quorum = [("Approvers", "bob,carol,dave"), ("RequiredApprovals", "2")];
        check(
            &quorum,
            &["bob:approve", "carol:reject"],
            &[
                "waiting: 1 of 2 approvals: bob",
                "rejected: Rejected by carol.",
            ],
        );
        let patient = [
            ("Approvers", "bob,carol,dave"),
            ("RequiredApprovals", "2"),
            ("RejectionFails", "false"),
        ];
        check(
            &patient,
            &["bob:reject", "carol:approve", "dave:approve"],
            &[
                "waiting: 0 of 2 approvals; rejected by bob",
                "waiting: 1 of 2 approvals: carol; rejected by bob",
                "approved: Approved by carol, dave (2 of 2 approvals).",
            ],
        );
        check(
            &patient,
            &["bob:reject", "carol:reject"],
            &[
                "waiting: 0 of 2 approvals; rejected by bob",
                "rejected: Rejected by bob, carol: 0 of 2 approvals, and too few approvers are left to approve",
            ],
        );
    }

    #[test]
    fn all_means_every_named_principal() {
        check(
            &[("Approvers", "bob,carol"), ("RequiredApprovals", "all")],
            &["carol:approve", "bob:approve"],
            &[
                "waiting: 1 of 2 approvals: carol",
                "approved: Approved by carol, bob (2 of 2 approvals).",
            ],
        );
    }

    #[test]
    fn a_decided_approval_gives_its_outcome_again() {
        let rules = rules(&[("RequiredApprovals", "2")]);
        let mut approval = pending();
        for who in ["bob", "carol"] {
            judge(
                &rules,
                &mut approval,
                &Decider::named(who),
                true,
                Some("ok".into()),
                None,
                5,
            )
            .expect("decided");
        }
        assert_eq!(
            outcome(&rules, &approval),
            Some(Ok("Approved by bob, carol (2 of 2 approvals). ok".into()))
        );
        assert_eq!(outcome(&rules, &pending()), None);
    }
}
