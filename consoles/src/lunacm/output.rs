//! What LunaCM prints (format skeletons rebuilt from captures; whitespace and the
//! error trailer are simulator-defined where §6 says "verify"): the banner, the `slot list`
//! blocks and `Current Slot Id`, the showpolicies blocks, `partition contents`, and the
//! trailer every command ends with: `Command Result : No Error`, or for a module's refusal
//! `Command Result : 0x<rv> (<CKR name>)` (lower-case hex without padding, simulator-defined
//! after the inferred form), or for what never reached the module (bad input, a
//! refused prompt) `Command Result : <sentence>` (simulator-defined).
use crate::backend::outcome::rv_name;
use cryptoki_sys::CK_RV;
use hsmsim::estate::ha_groups::HaGroupStatus;
use hsmsim::models::luna_ca::LunaSlotListing;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `Command Result : No Error`.
    Done,
    /// The module answered this code.
    Refused(CK_RV),
    /// The command could not run (bad input, a missing password without a terminal); the
    /// trailer's words.
    Usage(&'static str),
    /// The user answered 'quit' at the proceed prompt.
    Aborted,
}

/// What one command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The lines before the trailer, each ending in a newline.
    pub text: String,
    pub status: Status,
    /// `exit` / `quit`: the console ends.
    pub exit: bool,
}

impl Reply {
    pub fn done(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            status: Status::Done,
            exit: false,
        }
    }

    pub fn refused(text: impl Into<String>, rv: CK_RV) -> Reply {
        Reply {
            text: text.into(),
            status: Status::Refused(rv),
            exit: false,
        }
    }

    pub fn usage(text: impl Into<String>, result: &'static str) -> Reply {
        Reply {
            text: text.into(),
            status: Status::Usage(result),
            exit: false,
        }
    }

    /// The whole output: the text, a blank line and the trailer (none after `exit`).
    pub fn render(&self) -> String {
        if self.exit {
            return self.text.clone();
        }
        format!("{}\n{}\n", self.text, trailer(&self.status))
    }
}

/// The `Command Result : ...` line.
pub fn trailer(status: &Status) -> String {
    match status {
        Status::Done => "Command Result : No Error".into(),
        Status::Refused(rv) => format!("Command Result : 0x{rv:x} ({})", rv_name(*rv)),
        Status::Usage(words) => format!("Command Result : {words}"),
        Status::Aborted => "Command Result : User Aborted".into(),
    }
}

/// LunaCM's banner for the Luna HSM Client `client_version` (the 7.2+ form for
/// every client era, simulator-defined before 7.2; the copyright line is this simulator's).
pub fn banner(client_version: &str) -> String {
    format!(
        "lunacm (64-bit) v{client_version} (hsmsim {}). Copyright (c) 2026 hsmsim. Simulated SafeNet Luna client.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `slot list`: the blocks (the Luna model's `slot list` block layout) and the current slot.
pub fn slot_list(blocks: &[LunaSlotListing], current: Option<u64>) -> String {
    let mut out = String::from("\n\tAvailable HSMs:\n\n");
    for b in blocks {
        out.push_str(&b.lunacm_text());
        out.push('\n');
    }
    if let Some(c) = current {
        out.push_str(&format!("\tCurrent Slot Id: {c}\n"));
    }
    out
}

/// One row of a showpolicies block: id, description, value.
pub type PolicyRow = (u64, String, u64);

/// `partition showpolicies`: the capabilities block and the policies block (only policies
/// whose capability is not 0).
pub fn show_policies(capabilities: &[PolicyRow], policies: &[PolicyRow]) -> String {
    policy_blocks("Partition", capabilities, policies)
}

/// The capabilities block and the policies block of `whose` ("Partition"; LunaSH's "HSM").
pub fn policy_blocks(whose: &str, capabilities: &[PolicyRow], policies: &[PolicyRow]) -> String {
    let mut out = format!("\n\t{whose} Capabilities\n");
    for (id, name, value) in capabilities {
        out.push_str(&format!("\t\t{id}: {name} : {value}\n"));
    }
    out.push_str(&format!("\n\t{whose} Policies\n"));
    for (id, name, value) in policies {
        out.push_str(&format!("\t\t{id}: {name} : {value}\n"));
    }
    out
}

/// One object of `partition contents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub label: String,
    pub handle: u64,
    pub object_type: String,
    pub uid: Option<String>,
}

/// `partition contents` (the documented skeleton).
pub fn contents(role: Option<&str>, objects: &[ObjectRow]) -> String {
    let mut out = match role {
        Some(role) => format!(
            "\n\tThe '{role}' is currently logged in. Looking for objects accessible to the '{role}'.\n\n"
        ),
        None => "\n\tNo role is logged in. Looking for public objects.\n\n".to_string(),
    };
    if !objects.is_empty() {
        out.push_str("\tObject list:\n\n");
    }
    for o in objects {
        out.push_str(&format!("\tLabel:          {}\n", o.label));
        out.push_str(&format!("\tHandle:         {}\n", o.handle));
        out.push_str(&format!("\tObject Type:    {}\n", o.object_type));
        out.push_str("\tUsage Limit:    none\n");
        if let Some(uid) = &o.uid {
            out.push_str(&format!("\tObject UID:     {uid}\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!("\tNumber of objects:  {}\n", objects.len()));
    out
}

/// One group as LunaCM's `hagroup listgroups` shows it (Luna §6: field names as Luna's; the
/// member table as `vtl haAdmin show`'s).
pub fn listgroups_block(g: &HaGroupStatus) -> String {
    let active: Vec<&str> = g
        .members
        .iter()
        .filter(|m| !m.standby)
        .map(|m| m.serial.as_str())
        .collect();
    let standby: Vec<&str> = g
        .members
        .iter()
        .filter(|m| m.standby)
        .map(|m| m.serial.as_str())
        .collect();
    let mut out = format!(
        "HA Group Label:  {}\nHA Group Number:  {}\nSynchronization:  enabled\nGroup Members:  {}\n\
         Needs sync:  {}\nStandby Members:  {}\nClient hosts:  {}\n\n",
        g.label,
        g.serial,
        active.join(", "),
        if g.needs_sync { "yes" } else { "no" },
        if standby.is_empty() {
            "<none>".to_string()
        } else {
            standby.join(", ")
        },
        g.hosts.join(", ")
    );
    out.push_str(&format!(
        "{:<24} {:<18} {}\n{:<24} {:<18} {}\n",
        "Member", "Member S/N", "Status", "======", "==========", "======"
    ));
    for m in &g.members {
        out.push_str(&format!(
            "{:<24} {:<18} {}\n",
            m.partition,
            m.serial,
            if m.alive { "alive" } else { "down" }
        ));
    }
    out
}

/// The question destructive commands ask.
pub const PROCEED: &str = "Type 'proceed' to continue, or 'quit' to quit now -> ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_name_the_code() {
        assert_eq!(trailer(&Status::Done), "Command Result : No Error");
        assert_eq!(
            trailer(&Status::Refused(0xA0)),
            "Command Result : 0xa0 (CKR_PIN_INCORRECT)"
        );
        let reply = Reply::done("x\n");
        assert_eq!(reply.render(), "x\n\nCommand Result : No Error\n");
    }

    #[test]
    fn slot_blocks_have_the_arrows() {
        let b = LunaSlotListing {
            slot_id: 1,
            label: "l".into(),
            serial: "s".into(),
            model: "LunaSA 7".into(),
            firmware: "7.4.2".into(),
            configuration: "c".into(),
            description: "Net Token Slot".into(),
        };
        let text = slot_list(&[b], Some(1));
        assert!(text.contains("\tSlot Id ->              1\n"), "{text}");
        assert!(text.contains("Current Slot Id: 1"));
    }

    #[test]
    fn contents_and_policies_have_luna_s_layout() {
        let row = ObjectRow {
            label: "mig-aes".into(),
            handle: 7,
            object_type: "Symmetric Key".into(),
            uid: Some("0a".into()),
        };
        assert_eq!(
            contents(Some("Crypto Officer"), &[row]),
            "\n\tThe 'Crypto Officer' is currently logged in. Looking for objects accessible to \
             the 'Crypto Officer'.\n\n\tObject list:\n\n\tLabel:          mig-aes\n\
             \tHandle:         7\n\tObject Type:    Symmetric Key\n\tUsage Limit:    none\n\
             \tObject UID:     0a\n\n\tNumber of objects:  1\n"
        );
        assert!(contents(None, &[]).ends_with("\tNumber of objects:  0\n"));
        let text = show_policies(
            &[(22, "Enable activation".into(), 1)],
            &[(22, "Allow activation".into(), 0)],
        );
        assert_eq!(
            text,
            "\n\tPartition Capabilities\n\t\t22: Enable activation : 1\n\n\tPartition Policies\n\
             \t\t22: Allow activation : 0\n"
        );
    }
}
