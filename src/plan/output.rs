//! Plan output: CSV (the DESIGN columns), JSON lines, and the human summary for stderr.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Plan, StepKind, WalletRef};

/// Columns of `loadrun plan --format csv`.
pub const CSV_HEADER: &str = "step,at_ms,kind,workload,role,wallet,job,ledger,peer,amount,args";

/// Renders a wallet as `ROLE:INDEX`, e.g. `B:3`.
pub fn wallet_label(plan: &Plan, w: WalletRef) -> String {
    format!("{}:{}", plan.roles[usize::from(w.role)], w.index)
}

/// A templated call's arguments as a CSV field: a JSON array of strings, quoted for CSV (empty
/// for every other step).
fn args_field(plan: &Plan, i: usize) -> String {
    match plan.call_args(i) {
        None => String::new(),
        Some(a) => {
            let json = serde_json::to_string(&a).unwrap_or_default();
            format!("\"{}\"", json.replace('"', "\"\""))
        }
    }
}

/// Writes the plan as CSV. Role names are validated identifiers, so no field but `args`
/// needs quoting.
pub fn write_csv<W: Write + ?Sized>(plan: &Plan, out: &mut W) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for (i, s) in plan.steps.iter().enumerate() {
        write!(
            out,
            "{i},{},{},{},{},{},{},",
            s.at_ms,
            s.kind,
            s.workload,
            plan.roles[usize::from(s.actor.role)],
            s.actor.index,
            s.job
        )?;
        if let Some(l) = s.ledger {
            write!(out, "{l}")?;
        }
        out.write_all(b",")?;
        if let Some(p) = s.peer {
            write!(out, "{}:{}", plan.roles[usize::from(p.role)], p.index)?;
        }
        writeln!(out, ",{},{}", s.amount.get(), args_field(plan, i))?;
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct JsonHeader<'a> {
    format: &'static str,
    version: u32,
    scenario: &'a str,
    seed: u64,
    duration_ms: u64,
    steps: usize,
}

#[derive(serde::Serialize)]
struct JsonStep<'a> {
    step: usize,
    at_ms: u64,
    kind: &'static str,
    workload: u32,
    role: &'a str,
    wallet: u32,
    job: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<String>,
    /// A string: wei amounts exceed JSON's safe integer range.
    amount: String,
    /// A templated call's resolved arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
}

/// Writes the plan as JSON lines: a header object, then one object per step.
pub fn write_jsonl<W: Write + ?Sized>(plan: &Plan, out: &mut W) -> io::Result<()> {
    let header = JsonHeader {
        format: "loadrun-plan",
        version: super::PLAN_FORMAT_VERSION,
        scenario: &plan.scenario,
        seed: plan.seed,
        duration_ms: plan.duration_ms,
        steps: plan.steps.len(),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for (i, s) in plan.steps.iter().enumerate() {
        let row = JsonStep {
            step: i,
            at_ms: s.at_ms.into(),
            kind: s.kind.as_str(),
            workload: s.workload.into(),
            role: &plan.roles[usize::from(s.actor.role)],
            wallet: s.actor.index,
            job: s.job.to_string(),
            ledger: s.ledger.map(|l| l.to_string()),
            peer: s.peer.map(|p| wallet_label(plan, p)),
            amount: s.amount.get().to_string(),
            args: plan.call_args(i),
        };
        serde_json::to_writer(&mut *out, &row)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Step counts by kind and by acting role.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub by_kind: BTreeMap<StepKind, u64>,
    pub by_kind_role: BTreeMap<(StepKind, String), u64>,
}

impl Counts {
    pub fn of(plan: &Plan) -> Self {
        let mut by_kind = BTreeMap::new();
        let mut by_role: BTreeMap<(StepKind, u16), u64> = BTreeMap::new();
        for s in &plan.steps {
            *by_kind.entry(s.kind).or_insert(0) += 1;
            *by_role.entry((s.kind, s.actor.role)).or_insert(0) += 1;
        }
        let by_kind_role = by_role
            .into_iter()
            .map(|((k, r), n)| ((k, plan.roles[usize::from(r)].clone()), n))
            .collect();
        Self {
            by_kind,
            by_kind_role,
        }
    }

    pub fn get(&self, kind: StepKind) -> u64 {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    fn per_role(&self, kind: StepKind) -> String {
        let parts: Vec<String> = self
            .by_kind_role
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, r), n)| format!("{r} {n}"))
            .collect();
        parts.join(", ")
    }
}

/// A human summary in the spirit of the old generator: "150 channels will be created (A 73, B 77)".
pub fn summary(plan: &Plan) -> String {
    let c = Counts::of(plan);
    let mut lines = Vec::new();
    let creates = c.get(StepKind::CreateChannel);
    if creates > 0 || c.get(StepKind::CreateLedgerChannel) > 0 {
        let closed = match c.get(StepKind::CloseChannel) {
            0 => "none of them closed".to_string(),
            n => format!("{n} closed"),
        };
        let mut line = format!(
            "{creates} channels will be created ({}), {closed}",
            c.per_role(StepKind::CreateChannel)
        );
        let ledgers = c.get(StepKind::CreateLedgerChannel);
        if ledgers > 0 {
            line.push_str(&format!(
                ", {ledgers} ledger channels ({})",
                c.per_role(StepKind::CreateLedgerChannel)
            ));
        }
        lines.push(line);
        let updates = c.get(StepKind::UpdateChannel);
        if updates > 0 {
            lines.push(format!("{updates} off-chain channel updates"));
        }
        let settled = c.get(StepKind::CloseLedgerChannel);
        if settled > 0 {
            lines.push(format!(
                "{settled} ledger channels settled on chain at the end"
            ));
        }
    }
    for (kind, noun) in [
        (StepKind::Transfer, "ETH transfers"),
        (StepKind::TokenTransfer, "token transfers"),
        (StepKind::Call, "contract calls"),
    ] {
        let n = c.get(kind);
        if n > 0 {
            lines.push(format!("{n} {noun} (from {})", c.per_role(kind)));
        }
    }
    lines.push(format!(
        "{} steps over {} ms, seed {}",
        plan.steps.len(),
        plan.duration_ms,
        plan.seed
    ));
    lines.join("\n")
}
