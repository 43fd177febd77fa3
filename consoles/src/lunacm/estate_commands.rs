//! The LunaCM commands that run on the simulator's lab rather than through the module:
//! `partition archive backup|restore|list|contents|delete` (the Luna SDK documents no `CA_*`
//! call for them, so the simulator exports none; `hsmsim::estate::archive_*`) and `hagroup
//! ...` (LunaCM rewrites the client's configuration; `hsmsim::estate::ha_groups`; `hagroup
//! recover` brings failed members back, `ha_groups::recover_group`). Slots are
//! mapped to the lab's partitions through the host's slot table; the Crypto Officer these
//! operations authenticate again is the one LunaCM logged in on the slot, with the credential
//! it logged in with. With `--module` (a real Luna library) they answer
//! `CKR_FUNCTION_NOT_SUPPORTED` and say why.
use super::grammar::{Archive, HaGroup, Member};
use super::output::{self, ObjectRow, Reply};
use super::session::{Console, Outcome, Prompts, object_type};
use cryptoki::object::ObjectClass;
use cryptoki::slot::Slot;
use cryptoki_sys::*;
use hsmsim::base::error::Error;
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::estate::ha_groups;
use hsmsim::estate::{
    self, BackupMode, BackupRequest, LabSelection, ObjectSelector, RestoreRequest,
};
use hsmsim::lab::definition::SlotBacking;

/// Whose passwords the archive commands ask for.
const SO: &str = "Backup HSM's HSM SO";
const BACKUP: &str = "backup partition's";

/// An estate refusal: its detail as the error line, its code in the trailer.
fn estate_refused(text: &str, e: Error) -> Reply {
    Reply::refused(format!("{text}\tError: {}\n", e.detail), e.rv)
}

impl Console {
    /// The lab, or the reply saying these commands need it.
    fn lab(&self, what: &str) -> Result<&LabSelection, Reply> {
        self.lab.as_ref().ok_or_else(|| {
            Reply::refused(
                format!(
                    "Error: `{what}` runs on the simulator's lab only (hsmsim lunacm --host): the \
                     Luna SDK has no CA_* call for it, so a PKCS#11 library cannot carry it \
                     (simulator-defined).\n"
                ),
                CKR_FUNCTION_NOT_SUPPORTED,
            )
        })
    }

    /// The partition the host shows in slot `slot_id`.
    fn partition_in(&self, lab: &LabSelection, slot_id: u64) -> Result<PartitionId, Reply> {
        let config = lab
            .lab
            .config(lab.host.as_deref(), lab.state_dir.clone())
            .map_err(|e| Reply::refused(format!("\tError: {}\n", e.message), CKR_ARGUMENTS_BAD))?;
        config
            .slots
            .into_iter()
            .find(|s| s.id == slot_id)
            .and_then(|s| match s.backing {
                SlotBacking::Partition(p) => Some(p),
                SlotBacking::HaGroup { .. } => None,
            })
            .ok_or_else(|| {
                Reply::refused(
                    format!(
                        "\tError: slot {slot_id} shows no partition of the lab on this host.\n"
                    ),
                    CKR_SLOT_ID_INVALID,
                )
            })
    }

    /// The credential the Crypto Officer logged in with on `slot_id` (empty on a PED).
    fn officer_credential(&self, slot_id: u64) -> Result<String, Reply> {
        self.sessions
            .get(&slot_id)
            .filter(|s| s.role == Some("Crypto Officer"))
            .and_then(|s| s.credential.clone())
            .ok_or_else(|| {
                Reply::refused(
                    format!(
                        "\tError: the Crypto Officer is not logged in on slot {slot_id}: `role \
                         login -name co` (pre-PPSO: `partition login`) first.\n"
                    ),
                    CKR_USER_NOT_LOGGED_IN,
                )
            })
    }

    /// A Backup HSM credential (`whose`) given or asked for; empty on a PED (the PED takes
    /// the key).
    fn backup_secret(
        &self,
        backup_slot: u64,
        given: Option<&String>,
        whose: &str,
        prompts: &mut dyn Prompts,
        text: &mut String,
    ) -> Result<String, Reply> {
        Ok(self
            .credential(backup_slot, given.map(String::as_str), whose, prompts, text)?
            .unwrap_or_default())
    }

    /// The cloning domain of a new (or replaced) backup partition when `-domain` is not given:
    /// on a password Backup HSM asked for, as the guide says ("enter the same cloning domain
    /// when prompted", seed 003); with no one to ask, or on a PED (the red key), `None`: the
    /// Backup HSM's own domain (simulator-defined).
    fn backup_domain(
        &self,
        backup_slot: u64,
        mode: BackupMode,
        prompts: &mut dyn Prompts,
    ) -> Option<String> {
        if matches!(mode, BackupMode::Append) || self.uses_ped(backup_slot) {
            return None;
        }
        prompts
            .secret("\n\tEnter the cloning domain: ")
            .filter(|d| !d.is_empty())
    }

    /// The current slot's partition and the credential its Crypto Officer logged in with.
    fn officer_partition(&self) -> Result<(PartitionId, String), Reply> {
        let slot_id = self.current()?;
        let partition = self.partition_in(self.lab("partition archive")?, slot_id)?;
        Ok((partition, self.officer_credential(slot_id)?))
    }

    pub(super) fn archive(
        &mut self,
        backup_slot: u64,
        action: &Archive,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let lab = self.lab("partition archive")?;
        let backup_hsm: DeviceId = self.partition_in(lab, backup_slot)?.device().clone();
        if let Ok(firmware) = self.module.raw.firmware(backup_slot) {
            self.client.check_backup_hsm(backup_slot, firmware)?;
        }
        let mut text = String::new();
        match action {
            Archive::Backup {
                partition,
                password,
                so_password,
                domain,
                append,
                replace,
            } => {
                let (source, co_pin) = self.officer_partition()?;
                let so =
                    self.backup_secret(backup_slot, so_password.as_ref(), SO, prompts, &mut text)?;
                let pw =
                    self.backup_secret(backup_slot, password.as_ref(), BACKUP, prompts, &mut text)?;
                let mode = match (append, replace) {
                    (true, _) => BackupMode::Append,
                    (_, true) => BackupMode::Replace,
                    _ => BackupMode::New,
                };
                let domain = match domain {
                    Some(d) => Some(d.clone()),
                    None => self.backup_domain(backup_slot, mode, prompts),
                };
                let request = BackupRequest {
                    source: &source,
                    co_pin: co_pin.as_bytes(),
                    backup_hsm: &backup_hsm,
                    so_password: so.as_bytes(),
                    partition,
                    password: pw.as_bytes(),
                    domain: domain.as_deref().map(str::as_bytes),
                    mode,
                };
                let lab = self.lab("partition archive")?;
                let run =
                    estate::archive_backup(lab, &request).map_err(|e| estate_refused(&text, e))?;
                run_report(text, &run, "backed up to", partition)
            }
            Archive::Restore {
                partition,
                password,
                objects,
                smk_only,
            } => {
                let (target, co_pin) = self.officer_partition()?;
                let pw =
                    self.backup_secret(backup_slot, password.as_ref(), BACKUP, prompts, &mut text)?;
                let selectors = objects
                    .as_ref()
                    .map(|list| {
                        list.iter()
                            .map(|o| selector(o))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?;
                let request = RestoreRequest {
                    backup_hsm: &backup_hsm,
                    partition,
                    password: pw.as_bytes(),
                    target: &target,
                    co_pin: co_pin.as_bytes(),
                    objects: selectors.as_deref(),
                    smk_only: *smk_only,
                };
                let lab = self.lab("partition archive")?;
                let run =
                    estate::archive_restore(lab, &request).map_err(|e| estate_refused(&text, e))?;
                run_report(text, &run, "restored from", partition)
            }
            Archive::List => {
                let list =
                    estate::archive_list(lab, &backup_hsm).map_err(|e| estate_refused(&text, e))?;
                text.push_str(&format!("\n\tBackup partitions on slot {backup_slot}:\n\n"));
                for p in &list {
                    text.push_str(&format!(
                        "\tPartition Name:     {}\n\tNumber of objects:  {}\n\tBytes used:         {}\n\n",
                        p.name, p.objects, p.bytes
                    ));
                }
                text.push_str(&format!("\tNumber of partitions:  {}\n", list.len()));
                Ok(Reply::done(text))
            }
            Archive::Contents {
                partition,
                password,
            } => {
                let pw =
                    self.backup_secret(backup_slot, password.as_ref(), BACKUP, prompts, &mut text)?;
                let lab = self.lab("partition archive")?;
                let objects = estate::archive_contents(lab, &backup_hsm, partition, pw.as_bytes())
                    .map_err(|e| estate_refused(&text, e))?;
                let rows: Vec<ObjectRow> = objects
                    .into_iter()
                    .map(|o| ObjectRow {
                        label: o.label,
                        handle: o.handle,
                        object_type: object_type(ObjectClass::try_from(o.class).ok()).to_string(),
                        uid: Some(hex::encode(&o.ouid)),
                    })
                    .collect();
                text.push_str(&output::contents(None, &rows));
                Ok(Reply::done(text.replacen(
                    "No role is logged in. Looking for public objects.",
                    &format!("Backup partition \"{partition}\" on slot {backup_slot}."),
                    1,
                )))
            }
            Archive::Delete {
                partition,
                so_password,
                force,
            } => {
                if !force {
                    Self::proceed(
                        prompts,
                        &format!(
                            "\n\tYou are about to delete the backup partition \"{partition}\" \
                             and its objects.\n"
                        ),
                    )?;
                }
                let so =
                    self.backup_secret(backup_slot, so_password.as_ref(), SO, prompts, &mut text)?;
                let lab = self.lab("partition archive")?;
                estate::archive_delete(lab, &backup_hsm, so.as_bytes(), partition)
                    .map_err(|e| estate_refused(&text, e))?;
                text.push_str(&format!("\n\tBackup partition \"{partition}\" deleted.\n"));
                Ok(Reply::done(text))
            }
        }
    }

    /// The partition a `hagroup` command names, by slot or by the serial its token shows.
    fn member_partition(&self, member: &Member) -> Result<PartitionId, Reply> {
        let lab = self.lab("hagroup")?;
        let slot_id = self.member_slot(member).ok_or_else(|| {
            let Member::Serial(serial) = member else {
                return Reply::refused("", CKR_SLOT_ID_INVALID);
            };
            Reply::refused(
                format!("\tError: no slot shows a partition with serial number {serial}.\n"),
                CKR_SLOT_ID_INVALID,
            )
        })?;
        self.check_client_drives(slot_id)?;
        self.partition_in(lab, slot_id)
    }

    /// The slot a `hagroup` member names.
    fn member_slot(&self, member: &Member) -> Option<u64> {
        match member {
            Member::Slot(id) => Some(*id),
            Member::Serial(serial) => self.slot_of_serial(serial),
        }
    }

    fn slot_of_serial(&self, serial: &str) -> Option<u64> {
        self.module
            .pkcs11
            .get_slots_with_token()
            .unwrap_or_default()
            .into_iter()
            .find(|s| {
                self.module
                    .pkcs11
                    .get_token_info(*s)
                    .is_ok_and(|t| t.serial_number().trim() == serial)
            })
            .map(|s: Slot| s.id())
    }

    /// `Err` when this console's client cannot keep the group `group` with `member` in it (a
    /// Luna 6 and Luna 7 mix needs Client 7.2).
    fn check_client_keeps(&self, group: &str, member: &Member) -> Result<(), Reply> {
        let Some(slot_id) = self.member_slot(member) else {
            return Ok(());
        };
        let lab = self.lab("hagroup")?;
        let members = ha_groups::group_status(lab, group)
            .map(|g| g.members)
            .unwrap_or_default();
        let majors: Vec<u64> = members
            .iter()
            .filter_map(|m| self.slot_of_serial(&m.serial))
            .chain([slot_id])
            .filter_map(|s| self.module.raw.firmware(s).ok().map(|f| f.0))
            .collect();
        self.client.check_mixed_ha(&majors)
    }

    /// The Crypto Officer password `hagroup` needs: given, else asked for.
    fn officer_password(given: Option<&str>, prompts: &mut dyn Prompts) -> Result<String, Reply> {
        given
            .map(str::to_string)
            .or_else(|| prompts.secret("\n\tEnter the Crypto Officer password: "))
            .ok_or_else(|| {
                Reply::usage(
                    "Error: the Crypto Officer password is needed: give -password, or run on a \
                     terminal to be asked for it.\n",
                    "Invalid Argument",
                )
            })
    }

    pub(super) fn hagroup(&mut self, command: &HaGroup, prompts: &mut dyn Prompts) -> Outcome {
        let lab = self.lab("hagroup")?;
        let refused = |e: Error| estate_refused("", e);
        let text = match command {
            HaGroup::CreateGroup {
                label,
                member,
                password,
            } => {
                let first = self.member_partition(member)?;
                let pw = Self::officer_password(password.as_deref(), prompts)?;
                let group =
                    ha_groups::create_group(lab, label, &first, &pw, None).map_err(refused)?;
                format!(
                    "\n\tNew group with label \"{label}\" created with group number {}.\n\tGroup \
                     configuration is:\n\n{}\n\tPlease restart LunaCM to refresh the slot list.\n",
                    group.serial,
                    output::listgroups_block(&group)
                )
            }
            HaGroup::AddMember {
                group,
                member,
                password,
                standby,
            } => {
                let partition = self.member_partition(member)?;
                self.check_client_keeps(group, member)?;
                let pw = Self::officer_password(password.as_deref(), prompts)?;
                let status = ha_groups::add_member(lab, group, &partition, &pw, *standby)
                    .map_err(refused)?;
                format!(
                    "\n\tMember {partition} successfully added{} to group {group}.\n\n{}",
                    if *standby { " as a standby member" } else { "" },
                    output::listgroups_block(&status)
                )
            }
            HaGroup::RemoveMember { group, member } => {
                let partition = self.member_partition(member)?;
                let status = ha_groups::remove_member(lab, group, &partition).map_err(refused)?;
                format!(
                    "\n\tMember {partition} successfully removed from group {group}.\n\n{}",
                    output::listgroups_block(&status)
                )
            }
            HaGroup::Synchronize { group, password } => {
                let pw = Self::officer_password(password.as_deref(), prompts)?;
                let report = ha_groups::synchronise(lab, group, &pw).map_err(refused)?;
                let mut text = format!("\n\tSynchronizing group {group}.\n");
                for (member, copied) in &report.copied {
                    text.push_str(&format!("\t{member}: {copied} object(s) cloned to it.\n"));
                }
                text
            }
            HaGroup::Recover { group, password } => {
                let pw = Self::officer_password(password.as_deref(), prompts)?;
                let report = ha_groups::recover_group(lab, group, &pw).map_err(refused)?;
                if report.recovered.is_empty() {
                    format!("\n\tNo member of group {group} needs recovery.\n")
                } else {
                    let mut text = format!("\n\tRecovering group {group}.\n");
                    for (member, copied) in &report.recovered {
                        text.push_str(&format!(
                            "\t{member} recovered: {copied} object(s) cloned to it.\n"
                        ));
                    }
                    text
                }
            }
            HaGroup::ListGroups => {
                let groups = ha_groups::list_groups(lab).map_err(refused)?;
                if groups.is_empty() {
                    "\n\tNo HA groups are configured.\n".to_string()
                } else {
                    let blocks: Vec<String> = groups.iter().map(output::listgroups_block).collect();
                    format!("\n{}", blocks.join("\n"))
                }
            }
            HaGroup::DeleteGroup { label } => {
                ha_groups::delete_group(lab, label).map_err(refused)?;
                format!(
                    "\n\tThe HA group \"{label}\" was deleted; its members keep their objects.\n"
                )
            }
            HaGroup::HaOnly { on } => {
                let host = ha_groups::set_ha_only(lab, None, *on).map_err(refused)?;
                format!(
                    "\n\tHA-only mode {} for host {host} (the slot list changes when LunaCM \
                     restarts).\n",
                    if *on { "enabled" } else { "disabled" }
                )
            }
        };
        Ok(Reply::done(text))
    }
}

/// A `-objects` entry of `partition archive restore`: a backup handle, or an OUID in hex.
fn selector(typed: &str) -> Result<ObjectSelector, Reply> {
    if let Ok(handle) = typed.parse() {
        return Ok(ObjectSelector::Handle(handle));
    }
    let bad = || {
        Reply::usage(
            format!("Error: -objects {typed:?}: a backup handle or an OUID in hex is expected.\n"),
            "Invalid Argument",
        )
    };
    hex::decode(typed)
        .map(ObjectSelector::Ouid)
        .map_err(|_| bad())
}

/// A backup or restore run: each object's line, the count, and the run's outcome.
fn run_report(mut text: String, run: &estate::ArchiveRun, done: &str, partition: &str) -> Outcome {
    for o in &run.objects {
        match &o.result {
            Ok(()) => text.push_str(&format!(
                "\tObject \"{}\" {done} \"{partition}\".\n",
                o.label
            )),
            Err(e) => text.push_str(&format!(
                "\tObject \"{}\": 0x{:x} ({}): {}.\n",
                o.label,
                e.rv,
                hsmsim::base::error::rv_name(e.rv),
                e.detail
            )),
        }
    }
    let went = run.objects.iter().filter(|o| o.result.is_ok()).count();
    text.push_str(&format!(
        "\n\t{went} of {} object(s) {done} backup partition \"{}\"{}.\n",
        run.objects.len(),
        run.partition,
        if run.created { " (created)" } else { "" }
    ));
    match run.outcome() {
        Ok(()) => Ok(Reply::done(text)),
        Err(e) => Err(Reply::refused(text, e.rv)),
    }
}
