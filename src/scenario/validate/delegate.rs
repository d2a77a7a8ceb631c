//! Validation of `[[delegate]]`: EIP-7702 delegations of a role's wallets to a contract, made
//! once per wallet after funding and before the schedule.

use super::Ctx;
use super::call::call_target;
use crate::scenario::diag::KeyPath;
use crate::scenario::model::*;
use crate::scenario::raw::*;

/// ETH transfers (and blob transactions) go out with a plain transfer's 21,000 gas, whose
/// receipt loadrun does not fetch: to a delegated wallet (whose code then runs) they would run
/// out of gas, so they are refused here.
pub(super) fn check_plain_transfers(
    cx: &mut Ctx,
    workloads: &[Workload],
    delegations: &[Delegation],
) {
    for w in workloads {
        let at = KeyPath::root().key("workload").index(w.index);
        if let WorkloadKind::Channel(c) = &w.kind
            && let Some(d) = delegations.iter().find(|d| c.between.contains(&d.role))
        {
            let role = cx.role_names[usize::from(d.role)].clone();
            cx.err(
                at.key("between"),
                format!("role \"{role}\" is delegated by [[delegate]]: channel payouts to its wallets would run their code"),
                Some("keep delegated roles out of channel workloads".into()),
            );
            continue;
        }
        let t = match &w.kind {
            WorkloadKind::Transfer(t) | WorkloadKind::Blob(BlobWorkload { transfer: t, .. }) => t,
            _ => continue,
        };
        if delegations.iter().any(|d| d.role == t.to) {
            let role = cx.role_names[usize::from(t.to)].clone();
            cx.err(
                at.key("to"),
                format!("role \"{role}\" is delegated by [[delegate]]: a plain transfer to its wallets runs their code and would run out of gas"),
                Some("send to a role that is not delegated, or use a `call` workload to the delegated wallets".into()),
            );
        }
    }
}

pub(super) fn validate(cx: &mut Ctx, raw: &[RawDelegate]) -> Vec<Delegation> {
    let mut out: Vec<Delegation> = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let path = KeyPath::root().key("delegate").index(i);
        let role = cx.role(path.key("role"), &d.role);
        let to = call_target(cx, path.key("to"), &d.to);
        let (Some(role), Some(to)) = (role, to) else {
            continue;
        };
        if to == CallTarget::Sender {
            cx.err(
                path.key("to"),
                "a wallet cannot be delegated to itself",
                Some("name a contract: a [contracts.NAME], \"token\", \"adjudicator\" or a 0x address".into()),
            );
            continue;
        }
        if out.iter().any(|x| x.role == role) {
            cx.err(
                path.key("role"),
                format!(
                    "role \"{}\" is delegated twice; a wallet has one delegation",
                    d.role
                ),
                Some("keep one [[delegate]] per role".into()),
            );
            continue;
        }
        out.push(Delegation { role, to });
    }
    out
}
