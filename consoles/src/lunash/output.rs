//! What LunaSH prints. The documented captures give the success trailer: `'<command>' successful.` and then
//! `Command Result : 0 (Success)` after a blank line. Simulator-defined (§6 shows no LunaSH
//! failure or listing): a failure prints `Error: '<command>' failed: <why> (0x<rv> <CKR name>)`
//! (or the sentence of bad input, or `Command aborted`) and ends with `Command Result : 65535
//! (Luna Shell execution)`, the generic failure code of LunaSH; the layouts of `hsm show`,
//! `partition list` and `partition show`. The showpolicies blocks are LunaCM's (§6).
use crate::backend::outcome::rv_name;
use cryptoki_sys::CK_RV;
use hsmsim::estate::{AppliancePartition, PolicyRow};
use hsmsim::models::luna::PartitionVersion;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `Command Result : 0 (Success)`.
    Success,
    /// The simulator refused it with this code.
    Refused(CK_RV),
    /// It could not run: bad input, or a password nobody could give.
    Usage,
    /// The proceed prompt was not answered `proceed`: nothing changed.
    Aborted,
}

/// What one command printed (its lines, each ending in a newline, before the trailer) and how
/// it ended; `exit` ends the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub status: Status,
    pub exit: bool,
}

/// The trailer of a command that succeeded.
pub const SUCCESS: &str = "Command Result : 0 (Success)";
/// The trailer of any failure (simulator-defined: LunaSH's generic failure code).
pub const FAILURE: &str = "Command Result : 65535 (Luna Shell execution)";
/// The question destructive commands ask.
pub const PROCEED: &str = "Type 'proceed' to continue, or 'quit' to quit now -> ";
/// What PED operations print.
pub const ATTEND_PED: &str = "Please attend to the PED.";

impl Reply {
    /// The whole output: the text, a blank line and the trailer (none after `exit`).
    pub fn render(&self) -> String {
        if self.exit {
            return self.text.clone();
        }
        let trailer = match self.status {
            Status::Success => SUCCESS,
            _ => FAILURE,
        };
        format!("{}\n{trailer}\n", self.text)
    }
}

/// `'<command>' successful.`
pub fn successful(command: &str) -> String {
    format!("'{command}' successful.\n")
}

/// `Error: '<command>' failed: <detail> (0x<rv> <CKR name>)`.
pub fn failed(command: &str, rv: CK_RV, detail: &str) -> String {
    format!(
        "Error: '{command}' failed: {detail} (0x{rv:x} {})\n",
        rv_name(rv)
    )
}

/// A partition's version as LunaSH names it (none before firmware 7.7).
fn version(v: PartitionVersion) -> &'static str {
    match v {
        PartitionVersion::Legacy => "-",
        PartitionVersion::V0 => "V0",
        PartitionVersion::V1 => "V1",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `partition list`: one row per application partition.
pub fn partition_list(partitions: &[AppliancePartition]) -> String {
    let header = format!(
        "{:<16} {:<20} {:<32} {:>7}  {:<11} {}",
        "Partition SN", "Name", "Label", "Objects", "Initialized", "Version"
    );
    let mut out = format!("\n{header}\n{}\n", "=".repeat(header.len()));
    for p in partitions {
        let label = if p.present {
            p.label.as_str()
        } else {
            "(removed)"
        };
        out.push_str(&format!(
            "{:<16} {:<20} {:<32} {:>7}  {:<11} {}\n",
            p.serial,
            p.name,
            label,
            p.objects,
            yes_no(p.initialized),
            version(p.version)
        ));
    }
    out.push_str(&format!("\nNumber of partitions: {}\n", partitions.len()));
    out
}

/// `partition show -partition L`.
pub fn partition_show(p: &AppliancePartition) -> String {
    format!(
        "\nPartition Name:        {}\nPartition SN:          {}\nPartition Label:       {}\n\
         Initialized:           {}\nPresent:               {}\nNumber of Objects:     {}\n\
         Partition Version:     {}\n",
        p.name,
        p.serial,
        p.label,
        yes_no(p.initialized),
        yes_no(p.present),
        p.objects,
        version(p.version)
    )
}

/// The showpolicies blocks of `whose` ("Partition", "HSM"): capabilities, then policies, each
/// line `<id>: <description> : <value>` as LunaCM lays them out, destructive policies marked.
pub fn show_policies(whose: &str, rows: &[PolicyRow]) -> String {
    let capabilities: Vec<_> = rows
        .iter()
        .map(|r| (r.id, r.description.clone(), r.capability))
        .collect();
    let policies: Vec<_> = rows
        .iter()
        .map(|r| {
            let mark = if r.destructive { " (destructive)" } else { "" };
            (r.id, format!("{}{mark}", r.description), r.value)
        })
        .collect();
    crate::lunacm::output::policy_blocks(whose, &capabilities, &policies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_are_lunash_s() {
        let ok = Reply {
            text: successful("hsm login"),
            status: Status::Success,
            exit: false,
        };
        assert_eq!(
            ok.render(),
            "'hsm login' successful.\n\nCommand Result : 0 (Success)\n"
        );
        let refused = Reply {
            text: failed("hsm login", 0xA0, "wrong password"),
            status: Status::Refused(0xA0),
            exit: false,
        };
        assert_eq!(
            refused.render(),
            "Error: 'hsm login' failed: wrong password (0xa0 CKR_PIN_INCORRECT)\n\n\
             Command Result : 65535 (Luna Shell execution)\n"
        );
    }

    #[test]
    fn policies_show_capability_then_value_and_mark_destructive_ones() {
        let rows = [PolicyRow {
            id: 0,
            description: "Allow private key cloning".into(),
            value: 0,
            capability: 1,
            destructive: true,
        }];
        assert_eq!(
            show_policies("Partition", &rows),
            "\n\tPartition Capabilities\n\t\t0: Allow private key cloning : 1\n\n\
             \tPartition Policies\n\t\t0: Allow private key cloning (destructive) : 0\n"
        );
    }
}
