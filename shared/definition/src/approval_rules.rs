//! Sluice's approval rules on a Manual approval action: configuration keys of its own beside CodePipeline's
//! `CustomData`, `ExternalEntityLink` and `NotificationArn`.
//!
//! | key | value | default |
//! |---|---|---|
//! | `Approvers` | comma-separated principal names and `group:<name>` entries | anyone allowed to approve |
//! | `RequiredApprovals` | a number N, or `all` (every principal `Approvers` names) | 1 |
//! | `RejectionFails` | `true`: one rejection fails the action; `false`: rejections are recorded and the action waits for N approvals (or fails once too few named approvers are left) | `true` |
//! | `AllowSelfApproval` | whether the principal who started the execution may approve it | `false` when `Approvers` or `RequiredApprovals` is set, else `true` (CodePipeline's behaviour) |
//! | `Deadline` | a duration (`90m`, `4h`, `2d`, `1d12h`), at most 7 days: the approval fails when it passes | `timeoutInMinutes`, else 7 days |
//! | `Reminders` | comma-separated durations before the deadline at which the approval is announced again | none |
//!
//! The values are read here once, for validation (each problem at its key's path) and for the runtime, which
//! judges each decision by them. They must be literal: a `#{...}` reference would make the rules differ per
//! execution, which nobody could check before the pipeline runs.

use std::collections::BTreeMap;

use crate::model::Action;
use crate::placeholder::UNRESOLVED;

/// Who may decide: principals and groups.
pub const APPROVERS: &str = "Approvers";
/// How many approvals settle the action: a number or `all`.
pub const REQUIRED_APPROVALS: &str = "RequiredApprovals";
/// Whether one rejection fails the action.
pub const REJECTION_FAILS: &str = "RejectionFails";
/// Whether the principal who started the execution may approve it.
pub const ALLOW_SELF_APPROVAL: &str = "AllowSelfApproval";
/// When a waiting approval fails.
pub const DEADLINE: &str = "Deadline";
/// When, before the deadline, the approval is announced again.
pub const REMINDERS: &str = "Reminders";

/// Every approval rule key, in the order the catalog lists them.
pub const KEYS: [&str; 6] = [
    APPROVERS,
    REQUIRED_APPROVALS,
    REJECTION_FAILS,
    ALLOW_SELF_APPROVAL,
    DEADLINE,
    REMINDERS,
];

/// CodePipeline's longest wait for an approval, and the default: 7 days.
pub const MAX_DEADLINE_MINUTES: u32 = 7 * 24 * 60;

/// The shortest deadline (CodePipeline's shortest action timeout): 5 minutes.
pub const MIN_DEADLINE_MINUTES: u32 = 5;

/// One entry of `Approvers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    /// A principal, by name.
    Principal(String),
    /// Every member of a group (`group:<name>`).
    Group(String),
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Principal(name) => f.write_str(name),
            Self::Group(name) => write!(f, "group:{name}"),
        }
    }
}

/// How many approvals settle the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// This many distinct principals.
    Count(u32),
    /// Every principal `Approvers` names.
    All,
}

/// The rules a Manual action's decisions are judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRules {
    /// Who may decide; empty: anyone allowed to approve.
    pub approvers: Vec<Approver>,
    /// How many approvals settle the action.
    pub required: Required,
    /// Whether one rejection fails the action.
    pub rejection_fails: bool,
    /// Whether the principal who started the execution may approve it.
    pub self_approval: bool,
    /// The wait in minutes before the approval fails (`Deadline`, else `timeoutInMinutes`, else 7 days).
    pub deadline_minutes: u32,
    /// Minutes before the deadline at which to remind, longest first.
    pub reminders_minutes: Vec<u32>,
    /// Whether any of Sluice's keys is set (else the action behaves exactly as CodePipeline's).
    pub declared: bool,
}

/// A problem with one key's value.
pub type RuleProblem = (&'static str, String);

impl Default for ApprovalRules {
    fn default() -> Self {
        Self {
            approvers: Vec::new(),
            required: Required::Count(1),
            rejection_fails: true,
            self_approval: true,
            deadline_minutes: MAX_DEADLINE_MINUTES,
            reminders_minutes: Vec::new(),
            declared: false,
        }
    }
}

impl ApprovalRules {
    /// The rules of a Manual action's configuration; `timeout_in_minutes` is the action's own. Every problem is
    /// returned, each with the key at fault. A template's placeholder leaves its key at the default.
    pub fn read(
        config: &BTreeMap<String, String>,
        timeout_in_minutes: Option<u32>,
    ) -> Result<Self, Vec<RuleProblem>> {
        let mut rules = Self::default();
        let mut problems: Vec<RuleProblem> = Vec::new();
        let value = |key: &'static str, problems: &mut Vec<RuleProblem>| {
            let v = config.get(key)?;
            if v.contains(UNRESOLVED) {
                return None;
            }
            if v.contains("#{") {
                problems.push((
                    key,
                    "must be literal: approval rules cannot use #{...} variables".into(),
                ));
                return None;
            }
            Some(v.trim())
        };
        rules.declared = KEYS.iter().any(|k| config.contains_key(*k));
        if let Some(v) = value(APPROVERS, &mut problems) {
            match parse_approvers(v) {
                Ok(a) => rules.approvers = a,
                Err(e) => problems.push((APPROVERS, e)),
            }
        }
        let principals = rules
            .approvers
            .iter()
            .filter(|a| matches!(a, Approver::Principal(_)))
            .count();
        let has_groups = rules.approvers.len() > principals;
        let mut required_set = false;
        if let Some(v) = value(REQUIRED_APPROVALS, &mut problems) {
            required_set = true;
            match parse_required(v) {
                Ok(Required::All) if rules.approvers.is_empty() => problems.push((
                    REQUIRED_APPROVALS,
                    "`all` needs Approvers naming who all is".into(),
                )),
                Ok(Required::All) if has_groups => problems.push((
                    REQUIRED_APPROVALS,
                    "`all` needs Approvers to name principals only: a group's members are not known \
                     when the definition is checked"
                        .into(),
                )),
                Ok(Required::Count(n)) if !has_groups && principals > 0 && n as usize > principals => {
                    problems.push((
                        REQUIRED_APPROVALS,
                        format!(
                            "{n} approvals required, but Approvers names only {principals} principal{}",
                            if principals == 1 { "" } else { "s" }
                        ),
                    ))
                }
                Ok(r) => rules.required = r,
                Err(e) => problems.push((REQUIRED_APPROVALS, e)),
            }
        }
        if let Some(v) = value(REJECTION_FAILS, &mut problems) {
            match parse_bool(v) {
                Ok(b) => rules.rejection_fails = b,
                Err(e) => problems.push((REJECTION_FAILS, e)),
            }
        }
        rules.self_approval = rules.approvers.is_empty() && !required_set;
        if let Some(v) = value(ALLOW_SELF_APPROVAL, &mut problems) {
            match parse_bool(v) {
                Ok(b) => rules.self_approval = b,
                Err(e) => problems.push((ALLOW_SELF_APPROVAL, e)),
            }
        }
        if let Some(t) = timeout_in_minutes {
            rules.deadline_minutes = t;
        }
        if let Some(v) = value(DEADLINE, &mut problems) {
            match parse_minutes(v) {
                Ok(_) if timeout_in_minutes.is_some() => problems.push((
                    DEADLINE,
                    "timeoutInMinutes already sets this action's deadline: keep one of the two"
                        .into(),
                )),
                Ok(m) if m > MAX_DEADLINE_MINUTES => problems.push((
                    DEADLINE,
                    format!(
                        "`{v}` is more than 7 days, CodePipeline's longest wait for an approval"
                    ),
                )),
                Ok(m) if m < MIN_DEADLINE_MINUTES => problems.push((
                    DEADLINE,
                    format!("`{v}` is less than 5 minutes, the shortest action timeout"),
                )),
                Ok(m) => rules.deadline_minutes = m,
                Err(e) => problems.push((DEADLINE, e)),
            }
        }
        if let Some(v) = value(REMINDERS, &mut problems) {
            match parse_reminders(v, rules.deadline_minutes) {
                Ok(r) => rules.reminders_minutes = r,
                Err(e) => problems.push((REMINDERS, e)),
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    /// The rules of an action as declared (validated before: a problem leaves the defaults).
    pub fn of(action: &Action) -> Self {
        let config = action.configuration.clone().unwrap_or_default();
        Self::read(&config, action.timeout_in_minutes).unwrap_or_default()
    }

    /// How many approvals settle the action.
    pub fn needed(&self) -> u32 {
        match self.required {
            Required::Count(n) => n,
            Required::All => self
                .approvers
                .iter()
                .filter(|a| matches!(a, Approver::Principal(_)))
                .count() as u32,
        }
    }

    /// Whether a principal of this name and groups may decide (anyone, when `Approvers` is not set).
    pub fn may_decide(&self, name: &str, groups: &[String]) -> bool {
        self.approvers.is_empty()
            || self.approvers.iter().any(|a| match a {
                Approver::Principal(p) => p == name,
                Approver::Group(g) => groups.iter().any(|m| m == g),
            })
    }

    /// The principals named outright, when `Approvers` names no group (so who is left can be counted).
    pub fn named_only(&self) -> Option<Vec<&str>> {
        self.approvers
            .iter()
            .map(|a| match a {
                Approver::Principal(p) => Some(p.as_str()),
                Approver::Group(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
    }

    /// `Approvers` as written back: `alice, group:leads`.
    pub fn approvers_text(&self) -> String {
        self.approvers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_approvers(text: &str) -> Result<Vec<Approver>, String> {
    let mut out = Vec::new();
    for (i, entry) in text.split(',').map(str::trim).enumerate() {
        let approver = match entry.strip_prefix("group:") {
            _ if entry.is_empty() => {
                return Err(format!(
                    "entry {} is empty: expected comma-separated principal names and group:<name> entries",
                    i + 1
                ))
            }
            Some(g) if g.trim().is_empty() => {
                return Err(format!("entry {} `{entry}` names no group", i + 1))
            }
            Some(g) => Approver::Group(g.trim().to_owned()),
            None => Approver::Principal(entry.to_owned()),
        };
        if let Some(c) = entry.chars().find(|c| c.is_whitespace()) {
            return Err(format!(
                "entry `{entry}` has a {c:?} in it: separate entries with commas"
            ));
        }
        if out.contains(&approver) {
            return Err(format!("`{approver}` is named twice"));
        }
        out.push(approver);
    }
    Ok(out)
}

fn parse_required(text: &str) -> Result<Required, String> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(Required::All);
    }
    match text.parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(Required::Count(n)),
        Err(_) => Err(format!("`{text}` is neither a number nor `all`")),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("`{text}` is neither true nor false"))
    }
}

/// A duration as minutes: one or more `<number><unit>` with the units `d`, `h` and `m` (`90m`, `1d12h`).
pub fn parse_minutes(text: &str) -> Result<u32, String> {
    let bad = || {
        format!("`{text}` is not a duration: expected e.g. 30m, 4h, 2d or 1d12h (days d, hours h, minutes m)")
    };
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            'd' => 24 * 60,
            'h' => 60,
            'm' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() || total == 0 && !text.trim().starts_with('0') {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| bad())
}

fn parse_reminders(text: &str, deadline: u32) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let m = parse_minutes(entry)?;
        if m == 0 || m >= deadline {
            return Err(format!(
                "reminder `{entry}` before the deadline must be more than nothing and less than the deadline ({})",
                describe_minutes(deadline)
            ));
        }
        if out.contains(&m) {
            return Err(format!("reminder `{entry}` is given twice"));
        }
        out.push(m);
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

/// Minutes for people: `2d 4h`, `90 minutes` as `1h 30m`.
pub fn describe_minutes(minutes: u32) -> String {
    let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0m".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], timeout: Option<u32>, expected: Result<&str, &[&str]>) {
        let config: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match (ApprovalRules::read(&config, timeout), expected) {
            (Ok(rules), Ok(summary)) => {
                let got = format!(
                    "approvers=[{}] needed={} rejection_fails={} self={} deadline={} reminders={:?}",
                    rules.approvers_text(),
                    rules.needed(),
                    rules.rejection_fails,
                    rules.self_approval,
                    rules.deadline_minutes,
                    rules.reminders_minutes
                );
                assert_eq!(got, summary, "{pairs:?}");
            }
            (Err(problems), Err(expected)) => {
                let got: Vec<String> = problems.iter().map(|(k, m)| format!("{k}: {m}")).collect();
                assert_eq!(got.len(), expected.len(), "{pairs:?}: {got:?}");
                for (g, e) in got.iter().zip(expected) {
                    assert!(g.contains(e), "{pairs:?}: {g:?} does not say {e:?}");
                }
            }
            (got, expected) => panic!("{pairs:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn no_rules_behave_as_codepipeline() {
        check(
            &[("CustomData", "x")],
            None,
            Ok("approvers=[] needed=1 rejection_fails=true self=true deadline=10080 reminders=[]"),
        );
        check(
            &[],
            Some(60),
            Ok("approvers=[] needed=1 rejection_fails=true self=true deadline=60 reminders=[]"),
        );
    }

    #[test]
    fn reads_named_approvers_quorums_deadlines_and_reminders() {
        check(
            &[
                ("Approvers", "alice, bob,carol"),
                ("RequiredApprovals", "2"),
            ],
            None,
            Ok("approvers=[alice, bob, carol] needed=2 rejection_fails=true self=false deadline=10080 reminders=[]"),
        );
        check(
            &[("Approvers", "alice,group:leads"), ("RequiredApprovals", "3")],
            None,
            Ok("approvers=[alice, group:leads] needed=3 rejection_fails=true self=false deadline=10080 reminders=[]"),
        );
        check(
            &[("Approvers", "alice,bob"), ("RequiredApprovals", "ALL"), ("RejectionFails", "false")],
            None,
            Ok("approvers=[alice, bob] needed=2 rejection_fails=false self=false deadline=10080 reminders=[]"),
        );
        check(
            &[("RequiredApprovals", "2"), ("AllowSelfApproval", "true")],
            None,
            Ok("approvers=[] needed=2 rejection_fails=true self=true deadline=10080 reminders=[]"),
        );
        check(
            &[("Deadline", "1d12h"), ("Reminders", "1h, 12h,30m")],
            None,
            Ok("approvers=[] needed=1 rejection_fails=true self=true deadline=2160 reminders=[720, 60, 30]"),
        );
        check(
            &[("Reminders", "1h")],
            Some(120),
            Ok("approvers=[] needed=1 rejection_fails=true self=true deadline=120 reminders=[60]"),
        );
    }

    #[test]
    fn refuses_what_cannot_work_naming_the_key() {
        check(
            &[("Approvers", "alice,bob"), ("RequiredApprovals", "3")],
            None,
            Err(&[
                "RequiredApprovals: 3 approvals required, but Approvers names only 2 principals",
            ]),
        );
        check(
            &[("RequiredApprovals", "0")],
            None,
            Err(&["RequiredApprovals: must be at least 1"]),
        );
        check(
            &[("RequiredApprovals", "two")],
            None,
            Err(&["neither a number nor `all`"]),
        );
        check(
            &[("RequiredApprovals", "all")],
            None,
            Err(&["`all` needs Approvers"]),
        );
        check(
            &[
                ("Approvers", "alice,group:ops"),
                ("RequiredApprovals", "all"),
            ],
            None,
            Err(&["principals only"]),
        );
        check(
            &[("Approvers", "alice,,bob")],
            None,
            Err(&["Approvers: entry 2 is empty"]),
        );
        check(&[("Approvers", "group:")], None, Err(&["names no group"]));
        check(
            &[("Approvers", "alice,alice")],
            None,
            Err(&["`alice` is named twice"]),
        );
        check(
            &[("Approvers", "alice bob")],
            None,
            Err(&["separate entries with commas"]),
        );
        check(
            &[("RejectionFails", "yes")],
            None,
            Err(&["RejectionFails: `yes` is neither true nor false"]),
        );
        check(
            &[("AllowSelfApproval", "1")],
            None,
            Err(&["AllowSelfApproval"]),
        );
        check(
            &[("Deadline", "8d")],
            None,
            Err(&["Deadline: `8d` is more than 7 days"]),
        );
        check(&[("Deadline", "2m")], None, Err(&["less than 5 minutes"]));
        check(
            &[("Deadline", "soon")],
            None,
            Err(&["Deadline: `soon` is not a duration"]),
        );
        check(
            &[("Deadline", "1h")],
            Some(60),
            Err(&["timeoutInMinutes already sets"]),
        );
        check(
            &[("Deadline", "1h"), ("Reminders", "2h")],
            None,
            Err(&["Reminders: reminder `2h` before the deadline must be"]),
        );
        check(&[("Reminders", "1h,60m")], None, Err(&["given twice"]));
        check(
            &[("Approvers", "#{Vars.who}")],
            None,
            Err(&["Approvers: must be literal"]),
        );
        check(
            &[
                ("Approvers", "a,b"),
                ("RequiredApprovals", "5"),
                ("Deadline", "x"),
            ],
            None,
            Err(&["RequiredApprovals", "Deadline"]),
        );
    }

    #[test]
    fn placeholders_leave_the_default() {
        check(
            &[
                ("Approvers", "<unresolved: Ref Approvers>"),
                ("RequiredApprovals", "1"),
            ],
            None,
            Ok("approvers=[] needed=1 rejection_fails=true self=false deadline=10080 reminders=[]"),
        );
    }

    #[test]
    fn durations() {
        for (text, minutes) in [("30m", 30), ("4h", 240), ("2d", 2880), ("1d12h30m", 2190)] {
            assert_eq!(parse_minutes(text), Ok(minutes), "{text}");
        }
        for text in ["", "h", "10", "1w", "-1h", "1.5h"] {
            assert!(parse_minutes(text).is_err(), "{text}");
        }
        assert_eq!(describe_minutes(2190), "1d 12h 30m");
    }

    #[test]
    fn who_may_decide() {
        let rules = ApprovalRules {
            approvers: vec![
                Approver::Principal("alice".into()),
                Approver::Group("leads".into()),
            ],
            ..ApprovalRules::default()
        };
        assert!(rules.may_decide("alice", &[]));
        assert!(rules.may_decide("dave", &["leads".into()]));
        assert!(!rules.may_decide("dave", &["ops".into()]));
        assert!(ApprovalRules::default().may_decide("anyone", &[]));
        assert_eq!(rules.named_only(), None);
    }
}
