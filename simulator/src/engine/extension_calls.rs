//! The engine's part of the vendor extension calls (`CA_*`, today Luna's): a view of a slot's
//! (or a session's) partition for the Luna model's answers (`models::luna_ca`: firmware, role
//! states, container status and storage, policies, session information, the self-test, the
//! slot listing), and the calls that change a partition, its device or its objects: partition
//! and HSM policies, cloning domains, the CO PIN reset, the factory reset, destroying several
//! objects, object unique ids, cloning an object between two partitions (`CA_CloneObject`: the
//! source seals, the target opens, under the Luna model's rules). Each checks that its slot shows a Luna partition. The one engine file that names a vendor model: it
//! dispatches the vendor's own calls (the layer test `engine_names_no_vendor_model` allows it).
use super::objects::Identity;
use super::session::Session;
use super::{Engine, Slot};
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::base::ids::PartitionId;
use crate::models::TokenModel;
use crate::models::luna::{self, CKA_OUID, CloneSide};
use crate::models::luna_ca::{self, CK_CRYPTOKI_ELEMENT, DomainChange, PartitionView};
use crate::store::records::TokenRecord;
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// How many cloned objects one store transaction on the target takes (`store_run`).
const CLONE_BATCH: usize = 256;

/// A Cloning Protocol v4 migration session: the target partition that opened it and the
/// source that joined it (step 2).
#[derive(Debug)]
pub struct MigrationSession {
    target: PartitionId,
    source: Option<PartitionId>,
}

/// The migration sessions of this process, by session OUID; gone at `C_Finalize` with the
/// engine.
#[derive(Debug, Default)]
pub struct MigrationSessions(Mutex<BTreeMap<[u8; 12], MigrationSession>>);

fn unknown_migration() -> crate::base::error::Error {
    err(
        luna::CKR_SESSION_ID_INVALID,
        "no open migration session has this id on the partition",
    )
}

impl Engine {
    /// Runs `f` on a view of the slot's partition (its model, a copy of its token record),
    /// for the vendor model's answers about it (`models::luna_ca`).
    pub fn partition_view<T>(
        &self,
        slot_id: CK_SLOT_ID,
        f: impl FnOnce(&PartitionView<'_>) -> Result<T>,
    ) -> Result<T> {
        let slot = self.current_slot(slot_id)?;
        let record = slot.token.read().clone();
        f(&PartitionView {
            slot_id,
            model: &slot.model,
            record: &record,
            admin: slot.admin,
            description: slot.shown_description(),
            present: slot.require_token(),
        })
    }

    /// Runs `f` on a view of the session's partition, with the role logged in on it.
    pub fn session_partition_view<T>(
        &self,
        handle: CK_SESSION_HANDLE,
        f: impl FnOnce(&PartitionView<'_>, Option<CK_USER_TYPE>) -> Result<T>,
    ) -> Result<T> {
        let (session, slot) = self.slot_of(handle)?;
        let slot_id = session.lock().slot_id;
        let logged_in = slot.logged_in();
        self.partition_view(slot_id, |p| f(p, logged_in))
    }

    /// `CA_GetContainerStorageInformation`: the partition's size, the bytes its token objects
    /// take and how many there are, as the Luna model answers them.
    pub fn container_storage(
        &self,
        slot_id: CK_SLOT_ID,
        container: CK_ULONG,
    ) -> Result<luna_ca::ContainerStorage> {
        self.check_container(slot_id, container)?;
        let slot = self.current_slot(slot_id)?;
        let (used, objects) = {
            let table = self.table(slot)?;
            let objects = table.values().filter(|o| o.is_token()).count();
            (table.token_bytes(), objects as u64)
        };
        self.partition_view(slot_id, |p| {
            luna_ca::container_storage(p, container, slot.capacity, used, objects)
        })
    }

    /// `CKR_CONTAINER_HANDLE_INVALID` unless `container` is the slot's partition's.
    fn check_container(&self, slot_id: CK_SLOT_ID, container: CK_ULONG) -> Result<()> {
        self.partition_view(slot_id, |p| {
            crate::models::luna_ca::check_container(p, container)
        })
    }

    /// Changes the vendor state of the session's partition for a model's operation (Luna's
    /// `CA_SetTokenPolicies`, its cloning-domain commands): `authorise` sees the model, the
    /// logged-in role and whether the slot shows the admin partition before anything else (the
    /// model's refusal); `change` runs in the store transaction on the token record and says
    /// whether the partition's token objects go with it (erased in the same transaction; this
    /// process's session objects stay). `slot_id`, when given, must be the session's slot.
    pub fn change_partition(
        &self,
        handle: CK_SESSION_HANDLE,
        slot_id: Option<CK_SLOT_ID>,
        authorise: impl FnOnce(&TokenModel, Option<CK_USER_TYPE>, bool) -> Result<()>,
        change: impl FnOnce(&TokenModel, &mut TokenRecord) -> Result<bool>,
    ) -> Result<bool> {
        let (session, slot) = self.slot_of(handle)?;
        if let Some(slot_id) = slot_id
            && session.lock().slot_id != slot_id
        {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!("the session is not on slot {slot_id}"),
            ));
        }
        slot.refuse_on_ha("partition policies and domains are changed")?;
        authorise(&slot.model, slot.logged_in(), slot.admin)?;
        slot.check_pin_current()?;
        let seen = slot.incarnation();
        let mut table = slot.objects.write();
        let (result, replaced) = self.write_slot_token(slot, seen, |r| {
            let erase = change(&slot.model, r)?;
            Ok((erase, true, erase))
        });
        if replaced {
            drop(table);
            self.refresh_token(slot, false)?;
            return result;
        }
        let erased = result?;
        if erased {
            table.remove_token_objects();
        }
        Ok(erased)
    }

    /// Luna's `CA_SetTokenPolicies` (`slot_id` given: the session's slot) and
    /// `CA_SetContainerPolicies` (`container` given: the session's partition's): the partition
    /// SO changes partition policies, all or none. The C call is the confirmation: a
    /// destructive change erases the partition's objects. Returns whether it did.
    pub fn set_partition_policies(
        &self,
        handle: CK_SESSION_HANDLE,
        slot_id: Option<CK_SLOT_ID>,
        container: Option<CK_ULONG>,
        changes: &[(u64, u64)],
    ) -> Result<bool> {
        if let Some(container) = container {
            let (session, _) = self.slot_of(handle)?;
            let slot_id = session.lock().slot_id;
            self.check_container(slot_id, container)?;
        }
        self.change_partition(
            handle,
            slot_id,
            |model, who, _| {
                luna_ca::authorise_partition_so(model, who, "changes partition policies")
            },
            |model, record| luna_ca::set_token_policies(model, record, changes, true),
        )
    }

    /// Firmware 7.8+ "Extended Domain Management" (the LunaCM partition domain commands): the
    /// Partition SO (pre-PPSO: the HSM SO) adds a cloning domain, makes one primary or removes
    /// one. PED partitions: an empty `domain` takes the presented red key's secret.
    pub fn change_cloning_domain(
        &self,
        handle: CK_SESSION_HANDLE,
        change: DomainChange<'_>,
    ) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        slot.refuse_on_ha("cloning domains are changed")?;
        luna_ca::authorise_partition_so(&slot.model, slot.logged_in(), "manages cloning domains")?;
        let presented = match change.domain() {
            [] if slot.model.uses_ped() => {
                Some(slot.model.presented_domain_secret()?.ok_or_else(|| {
                    err(
                        crate::models::ped::CKR_PED_ERROR,
                        "the PED waits for a red key: none is presented (HSMSIM_PED_KEYS=red=path)",
                    )
                })?)
            }
            _ => None,
        };
        let domain = presented.as_deref().unwrap_or(change.domain());
        self.change_partition(
            handle,
            None,
            |_, _, _| Ok(()),
            |model, record| luna_ca::change_domain(model, record, change, domain).map(|()| false),
        )
        .map(drop)
    }

    /// `CA_SetHSMPolicy` / `CA_SetHSMPolicies` and their destructive forms: the HSM SO (the SO
    /// of the device's admin partition, or of a pre-PPSO partition, which the HSM SO owns)
    /// changes HSM policies of the session's device, all or none (`estate::set_hsm_policies`);
    /// a destructive change zeroises every partition of the device, and this process's slots
    /// on it lose their token objects. Returns whether it did.
    pub fn set_hsm_policies(
        &self,
        handle: CK_SESSION_HANDLE,
        changes: &[(u64, u64)],
        destructive_ok: bool,
    ) -> Result<bool> {
        let (_, slot) = self.slot_of(handle)?;
        slot.refuse_on_ha("HSM policies are changed")?;
        let device = luna_ca::authorise_hsm_so(&slot.model, slot.logged_in(), slot.admin)?;
        slot.check_pin_current()?;
        let (policies, erased) =
            crate::estate::set_hsm_policies(&self.store, device, changes, destructive_ok)?;
        device.changed.set(policies);
        if erased {
            let device = crate::base::ids::DeviceId::new(device.name.as_str());
            for s in self.slots.values().filter(|s| s.partition().is_on(&device)) {
                s.objects.write().remove_token_objects();
            }
        }
        Ok(erased)
    }

    /// Luna's `CA_FactoryReset`: the HSM SO, logged in on the slot (the admin partition, or a
    /// pre-PPSO partition), zeroises the slot's device (`zeroise_device`: every partition
    /// blank, HSM policies kept). `flags` must be 0.
    pub fn factory_reset(&self, slot_id: CK_SLOT_ID, flags: CK_FLAGS) -> Result<()> {
        if flags != 0 {
            return Err(err(CKR_ARGUMENTS_BAD, "CA_FactoryReset takes no flags"));
        }
        let slot = self.current_slot(slot_id)?;
        slot.refuse_on_ha("a device is factory reset")?;
        luna_ca::authorise_hsm_so(&slot.model, slot.logged_in(), slot.admin)?;
        slot.check_pin_current()?;
        self.zeroise_device(slot)
    }

    /// Luna's `CA_ResetPIN`: the SO logged in on the session's partition replaces the Crypto
    /// Officer's existing PIN, under the model's reset rule (HSM policy 15 on 7.x); the CO
    /// must change it at its next login when HSM policy 21 says so. No CO PIN yet:
    /// `CKR_USER_PIN_NOT_INITIALIZED` (`CA_InitRolePIN` / `C_InitPIN` set it first).
    pub fn reset_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        luna_ca::luna_device(&slot.model)?;
        if !slot.token.read().has_pin(CKU_USER) {
            return Err(err(
                CKR_USER_PIN_NOT_INITIALIZED,
                "the Crypto Officer has no PIN to reset",
            ));
        }
        self.init_pin(handle, pin)
    }

    /// Luna's `CA_DestroyMultipleObjects`: destroys the objects in order, stopping at the
    /// first failure, whose index it returns with the error (objects before it stay
    /// destroyed, as one `C_DestroyObject` each).
    pub fn destroy_objects(
        &self,
        handle: CK_SESSION_HANDLE,
        objects: &[CK_OBJECT_HANDLE],
    ) -> std::result::Result<(), (usize, crate::base::error::Error)> {
        let luna = self
            .slot_of(handle)
            .and_then(|(_, slot)| luna_ca::luna_device(&slot.model).map(drop));
        luna.map_err(|e| (0, e))?;
        for (i, object) in objects.iter().enumerate() {
            self.destroy_object(handle, *object).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// `CA_GetObjectUID`: an object's `CKA_OUID`.
    pub fn object_ouid(
        &self,
        slot_id: CK_SLOT_ID,
        container: CK_ULONG,
        object_type: CK_ULONG,
        handle: CK_OBJECT_HANDLE,
    ) -> Result<[u8; 12]> {
        self.check_container(slot_id, container)?;
        if object_type != CK_CRYPTOKI_ELEMENT {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                "only CK_CRYPTOKI_ELEMENT objects have unique ids here",
            ));
        }
        let slot = self.current_slot(slot_id)?;
        let object = self.visible_object(slot, handle, CKR_OBJECT_HANDLE_INVALID)?;
        object
            .attrs
            .bytes(CKA_OUID)
            .and_then(|b| <[u8; 12]>::try_from(b).ok())
            .ok_or_else(|| err(CKR_OBJECT_HANDLE_INVALID, "the object has no CKA_OUID"))
    }

    /// `CA_GetObjectHandle`: the handle of the object with this `CKA_OUID`.
    pub fn object_by_ouid(
        &self,
        slot_id: CK_SLOT_ID,
        container: CK_ULONG,
        ouid: &[u8; 12],
    ) -> Result<(CK_ULONG, CK_OBJECT_HANDLE)> {
        self.check_container(slot_id, container)?;
        let slot = self.current_slot(slot_id)?;
        let mut template = Attributes::new();
        template.set_bytes(CKA_OUID, ouid.to_vec());
        let user = slot.user_logged_in();
        self.table(slot)?
            .candidates(&template)
            .into_iter()
            .find(|o| o.attrs.bytes(CKA_OUID) == Some(&ouid[..]) && (user || !o.is_private()))
            .map(|o| (CK_CRYPTOKI_ELEMENT, o.handle))
            .ok_or_else(|| err(CKR_OBJECT_HANDLE_INVALID, "no visible object has this OUID"))
    }

    /// Luna's `CA_CloneObject`: the object on the source session's partition is sealed under
    /// the source's cloning domain (`clone_out`) and opened and stored by the target
    /// (`clone_in`): every attribute and its `CKA_OUID` kept, a new handle, one store
    /// transaction on the target. A domain mismatch fails at the target.
    pub fn clone_object(
        &self,
        target: CK_SESSION_HANDLE,
        source: CK_SESSION_HANDLE,
        object_type: CK_ULONG,
        object: CK_OBJECT_HANDLE,
    ) -> Result<CK_OBJECT_HANDLE> {
        let blob = self.clone_out(source, target, object_type, object)?;
        self.clone_in(target, source, &blob)
    }

    /// LunaCM's `partition clone -objects <handles>`: clones the objects in order, each as
    /// `clone_object` (all or nothing on the target), as the source's era does after a failed
    /// object (`luna::on_object_failure`: a pre-7.7 source goes on, one error per object; a
    /// V0/V1 source stops, the rest `CKR_CLONE_NOT_ATTEMPTED`). The pair's preconditions are
    /// checked once first (their refusal is the call's); then every object's result, in order.
    pub fn clone_objects(
        &self,
        target: CK_SESSION_HANDLE,
        source: CK_SESSION_HANDLE,
        objects: &[CK_OBJECT_HANDLE],
    ) -> Result<Vec<Result<CK_OBJECT_HANDLE>>> {
        let (_, source_slot) = self.slot_of(source)?;
        let objects: Vec<_> = objects.iter().map(|&o| (CK_CRYPTOKI_ELEMENT, o)).collect();
        self.clone_run_by_era(source_slot, target, &objects)
    }

    /// `clone_run_between` under the cloning rules (`luna::check_clone`), a failed object
    /// handled as the source's era does (`luna::on_object_failure`).
    fn clone_run_by_era(
        &self,
        source_slot: &Slot,
        target: CK_SESSION_HANDLE,
        objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
    ) -> Result<Vec<Result<CK_OBJECT_HANDLE>>> {
        self.clone_run_between(
            source_slot,
            target,
            objects,
            |source, target| {
                luna::check_clone(source, target)?;
                Ok(luna::on_object_failure(source))
            },
            |_| Ok(()),
        )
    }

    /// Luna's `CA_MigrateKeys` (Cloning Protocol v4, firmware 7.8+ on both sides): clones
    /// `(element type, handle)` entries from the source session's partition to the target
    /// session's, each all or nothing on the target, and answers every entry's new handle or
    /// error in order. Without `CKF_CPV4_CONTINUE_ON_ERR` the run stops at the first failure
    /// (the rest `CKR_CLONE_NOT_ATTEMPTED`); with it, every entry is tried. The pair's
    /// refusals (`luna::check_cpv4`: firmware, logins, policies, authentication, domain) are
    /// the call's.
    pub fn migrate_keys(
        &self,
        source: CK_SESSION_HANDLE,
        target: CK_SESSION_HANDLE,
        flags: CK_FLAGS,
        objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
    ) -> Result<Vec<Result<CK_OBJECT_HANDLE>>> {
        let behaviour = luna::cpv4_on_object_failure(flags)?;
        let (_, source_slot) = self.slot_of(source)?;
        self.clone_run_between(
            source_slot,
            target,
            objects,
            |source, target| {
                luna::check_cpv4(source, target)?;
                Ok(behaviour)
            },
            luna::check_cpv4_element,
        )
    }

    /// Luna's `CA_CloneAllObjectsToSession` (simulator-defined meaning; the SDK declares it
    /// among the pre-HA-group helpers without documenting it): every token object of the
    /// partition in `source_slot_id` (where this application's Crypto Officer is logged in)
    /// is cloned to the target session's partition, in handle order, under the cloning rules
    /// and as the source's era does after a failed object (`clone_objects`). The answer is
    /// `luna::run_outcome`'s: `Ok`, the one object's error, or `CKR_FAILED_TO_CLONE_AN_OBJECT`.
    pub fn clone_all_objects_to_session(
        &self,
        target: CK_SESSION_HANDLE,
        source_slot_id: CK_SLOT_ID,
    ) -> Result<()> {
        let source_slot = self.current_slot(source_slot_id)?;
        let mut objects: Vec<_> = self
            .table(source_slot)?
            .values()
            .filter(|o| o.is_token())
            .map(|o| (CK_CRYPTOKI_ELEMENT, o.handle))
            .collect();
        objects.sort_unstable();
        let results = self.clone_run_by_era(source_slot, target, &objects)?;
        luna::run_outcome(&results)
    }

    /// Luna's `CA_CloneObjectToAllSessions` (simulator-defined meaning; the SDK declares it
    /// among the pre-HA-group helpers, whose "secondary sessions" the simulator does not
    /// model): the object on the session's partition is cloned (`clone_object`) to every
    /// other Luna partition on which this application has a session and its Crypto Officer
    /// logged in (one session each, in slot order; HA virtual slots are left out, their
    /// members are physical slots). Every partition is tried; the answer is
    /// `luna::run_outcome`'s. No such partition: `Ok`, nothing cloned.
    pub fn clone_object_to_all_sessions(
        &self,
        source: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let (_, source_slot) = self.slot_of(source)?;
        luna_ca::luna_device(&source_slot.model)?;
        let mut partitions = vec![source_slot.partition()];
        let mut targets = Vec::new();
        for slot_id in self.sessions.slots() {
            let Ok(slot) = self.slot(slot_id) else {
                continue;
            };
            if slot.ha.is_some()
                || partitions.contains(&slot.partition())
                || slot.logged_in() != Some(CKU_USER)
                || luna_ca::luna_device(&slot.model).is_err()
            {
                continue;
            }
            if let Some(&handle) = self.sessions.handles_on(slot_id).first() {
                partitions.push(slot.partition());
                targets.push(handle);
            }
        }
        let results: Vec<_> = targets
            .into_iter()
            .map(|target| self.clone_object(target, source, CK_CRYPTOKI_ELEMENT, object))
            .collect();
        luna::run_outcome(&results)
    }

    /// Clones `objects` (`(element type, handle)`) from `source_slot` to the target session's
    /// partition. The two sides are read once: `start` sees them first (its refusal is the
    /// call's) and says what a failed object does; then, per object, `seal_one` and the
    /// target's opening, stored in batches (`store_run`).
    fn clone_run_between(
        &self,
        source_slot: &Slot,
        target: CK_SESSION_HANDLE,
        objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
        start: impl FnOnce(&CloneSide<'_>, &CloneSide<'_>) -> Result<luna::OnObjectFailure>,
        element: impl Fn(CK_ULONG) -> Result<()>,
    ) -> Result<Vec<Result<CK_OBJECT_HANDLE>>> {
        let (session, target_slot) = self.slot_of(target)?;
        self.clone_slot_sides(source_slot, target_slot, |source, target| {
            let behaviour = start(&source, &target)?;
            Ok(self.store_run(
                behaviour,
                objects,
                &session,
                target_slot,
                |&(object_type, object)| {
                    element(object_type)?;
                    let blob = self.seal_one(source_slot, &source, &target, object)?;
                    luna::open_clone(&target, &source, &blob)
                },
            ))
        })
    }

    /// Stores on the target the objects `open` makes of `items`, in order, as `behaviour`
    /// says after a failed one (`luna::clone_run`'s results: after a failure under
    /// `OnObjectFailure::Stop`, the rest `CKR_CLONE_NOT_ATTEMPTED`). Opened objects are
    /// written `CLONE_BATCH` at a time, each batch one store transaction (the target table's
    /// lock is held for that write only, so other sessions' work goes on between batches);
    /// a batch the store refuses is written again object by object, so each object is still
    /// all or nothing on the target with its own result.
    fn store_run<I>(
        &self,
        behaviour: luna::OnObjectFailure,
        items: &[I],
        session: &Mutex<Session>,
        target_slot: &Slot,
        mut open: impl FnMut(&I) -> Result<Attributes>,
    ) -> Vec<Result<CK_OBJECT_HANDLE>> {
        let stop_on_failure = behaviour == luna::OnObjectFailure::Stop;
        let mut results: Vec<Option<Result<CK_OBJECT_HANDLE>>> = Vec::with_capacity(items.len());
        results.resize_with(items.len(), || None);
        let mut batch: Vec<(usize, Attributes)> = Vec::with_capacity(CLONE_BATCH);
        let mut stopped = false;
        let flush = |batch: &mut Vec<(usize, Attributes)>,
                     results: &mut [Option<Result<CK_OBJECT_HANDLE>>]| {
            let mut stopped = false;
            if batch.is_empty() {
                return stopped;
            }
            let attrs = batch.iter().map(|(_, a)| a.clone()).collect();
            // Bound first: the session's lock is released before a retry takes it again.
            let inserted =
                self.insert_objects_as(&mut session.lock(), target_slot, attrs, Identity::Kept);
            match inserted {
                Ok(handles) => {
                    for ((i, _), handle) in batch.drain(..).zip(handles) {
                        results[i] = Some(Ok(handle));
                    }
                }
                Err(_) => {
                    for (i, attrs) in batch.drain(..) {
                        if stopped {
                            continue;
                        }
                        let one = self
                            .insert_objects_as(
                                &mut session.lock(),
                                target_slot,
                                vec![attrs],
                                Identity::Kept,
                            )
                            .map(|handles| handles[0]);
                        stopped = one.is_err() && stop_on_failure;
                        results[i] = Some(one);
                    }
                }
            }
            stopped
        };
        for (i, item) in items.iter().enumerate() {
            match open(item) {
                Ok(attrs) => {
                    batch.push((i, attrs));
                    if batch.len() == CLONE_BATCH {
                        stopped = flush(&mut batch, &mut results);
                    }
                }
                Err(failure) => {
                    stopped = flush(&mut batch, &mut results);
                    if !stopped {
                        results[i] = Some(Err(failure));
                        stopped = stop_on_failure;
                    }
                }
            }
            if stopped {
                break;
            }
        }
        if !stopped {
            flush(&mut batch, &mut results);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(err(
                        luna::CKR_CLONE_NOT_ATTEMPTED,
                        "not attempted: the clone stopped at an earlier failure",
                    ))
                })
            })
            .collect()
    }

    /// The source's half of a clone: the Luna model's preconditions for the pair of
    /// partitions and for the object, then the object's blob for the target.
    pub fn clone_out(
        &self,
        source: CK_SESSION_HANDLE,
        target: CK_SESSION_HANDLE,
        object_type: CK_ULONG,
        object: CK_OBJECT_HANDLE,
    ) -> Result<Vec<u8>> {
        if object_type != CK_CRYPTOKI_ELEMENT {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                "only CK_CRYPTOKI_ELEMENT objects are cloned here",
            ));
        }
        self.clone_sides(source, target, |source_slot, source, _, target| {
            luna::check_clone(&source, &target)?;
            self.seal_one(source_slot, &source, &target, object)
        })
    }

    /// The target's half of a clone: opens the blob with the target's cloning domains and
    /// stores the object (all or nothing, its `CKA_OUID` kept); returns its new handle. A
    /// blob of another domain, damaged or truncated changes nothing.
    pub fn clone_in(
        &self,
        target: CK_SESSION_HANDLE,
        source: CK_SESSION_HANDLE,
        blob: &[u8],
    ) -> Result<CK_OBJECT_HANDLE> {
        let (session, _) = self.slot_of(target)?;
        self.clone_sides(source, target, |_, source, target_slot, target| {
            luna::check_clone(&source, &target)?;
            self.store_one(&session, target_slot, &target, &source, blob)
        })
    }

    /// The source's part for one object: the source's rules let it leave, and its blob sealed
    /// for the target.
    fn seal_one(
        &self,
        source_slot: &Slot,
        source: &CloneSide<'_>,
        target: &CloneSide<'_>,
        object: CK_OBJECT_HANDLE,
    ) -> Result<Vec<u8>> {
        let original = self.usable_object(source_slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        luna::check_object_clonable(source, original.attrs.require_ulong(CKA_CLASS)?)?;
        luna::seal_clone(source, target, &original.attrs)
    }

    /// The target's part for one blob: opened with the target's domains and stored in its own
    /// transaction (all or nothing, `CKA_OUID` kept); the new handle.
    fn store_one(
        &self,
        session: &Mutex<Session>,
        target_slot: &Slot,
        target: &CloneSide<'_>,
        source: &CloneSide<'_>,
        blob: &[u8],
    ) -> Result<CK_OBJECT_HANDLE> {
        let attrs = luna::open_clone(target, source, blob)?;
        let handles = self.insert_objects_as(
            &mut session.lock(),
            target_slot,
            vec![attrs],
            Identity::Kept,
        )?;
        Ok(handles[0])
    }

    /// Cloning Protocol v4's `CA_MigrationStartSessionNegotiation` (simulator-defined
    /// protocol): the target session's partition (firmware 7.8+) opens a migration session;
    /// returns its id (the session OUID the source learns from the target's hello).
    pub fn migration_start(&self, target: CK_SESSION_HANDLE) -> Result<[u8; 12]> {
        let (_, slot) = self.slot_of(target)?;
        luna::check_cpv4_side(luna_ca::luna_device(&slot.model)?, "target")?;
        let mut id = [0u8; 12];
        crate::base::random::random_fill(&mut id)?;
        self.migrations.0.lock().insert(
            id,
            MigrationSession {
                target: slot.partition().clone(),
                source: None,
            },
        );
        Ok(id)
    }

    /// `CA_MigrationContinueSessionNegotiation`'s step 2 (simulator-defined): the session's
    /// partition (firmware 7.8+) joins migration session `id` as its source.
    /// `CKR_SESSION_ID_INVALID` for an unknown id, `CKR_SESSION_NEGOTIATION_INVALID` when a
    /// source already joined.
    pub fn migration_join(&self, source: CK_SESSION_HANDLE, id: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(source)?;
        luna::check_cpv4_side(luna_ca::luna_device(&slot.model)?, "source")?;
        self.with_migration(id, |m| {
            if m.source.is_some() {
                return Err(err(
                    luna::CKR_SESSION_NEGOTIATION_INVALID,
                    "a source already joined this migration session",
                ));
            }
            m.source = Some(slot.partition().clone());
            Ok(())
        })
    }

    /// `CA_MigrationContinueSessionNegotiation`'s step 3 (simulator-defined): the target
    /// session's partition confirms migration session `id` once a source joined.
    pub fn migration_confirm(&self, target: CK_SESSION_HANDLE, id: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(target)?;
        self.with_migration(id, |m| {
            if m.target != *slot.partition() || m.source.is_none() {
                return Err(err(
                    luna::CKR_SESSION_NEGOTIATION_INVALID,
                    "step 3 is the target's, after a source joined (step 2)",
                ));
            }
            Ok(())
        })
    }

    /// `CA_MigrationCloseSession`: closes migration session `id` from either of its
    /// partitions; `CKR_SESSION_ID_INVALID` when unknown (or already closed) there.
    pub fn migration_close(&self, session: CK_SESSION_HANDLE, id: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(session)?;
        let mut migrations = self.migrations.0.lock();
        match migrations.get(id) {
            Some(m)
                if m.target == *slot.partition() || m.source.as_ref() == Some(slot.partition()) =>
            {
                migrations.remove(id);
                Ok(())
            }
            _ => Err(unknown_migration()),
        }
    }

    /// `CA_Extract` with `CKM_CPV4_EXTRACT`: the source session's partition (the source of
    /// migration session `id`) seals each `(element type, handle)` for the session's target,
    /// under the CPv4 rules (`luna::check_cpv4` once, then per object); each object's blob or
    /// error, the run stopping at the first failure unless `CKF_CPV4_CONTINUE_ON_ERR`.
    pub fn migration_extract(
        &self,
        source: CK_SESSION_HANDLE,
        id: &[u8],
        flags: CK_FLAGS,
        objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
    ) -> Result<Vec<Result<Vec<u8>>>> {
        let behaviour = luna::cpv4_on_object_failure(flags)?;
        let (_, source_slot) = self.slot_of(source)?;
        let target_slot = self.migration_peer(id, source_slot, false)?;
        self.clone_slot_sides(source_slot, target_slot, |source, target| {
            luna::check_cpv4(&source, &target)?;
            Ok(luna::clone_run(
                behaviour,
                objects.iter().copied(),
                |(object_type, object)| {
                    luna::check_cpv4_element(object_type)?;
                    self.seal_one(source_slot, &source, &target, object)
                },
            ))
        })
    }

    /// `CA_Insert` with `CKM_CPV4_INSERT`: the target session's partition (the target of
    /// migration session `id`) opens and stores each `(element type, blob)`, each all or
    /// nothing; a blob of another domain, damaged or truncated fails that object and writes
    /// nothing. Each object's new handle or error, as `migration_extract` runs.
    pub fn migration_insert(
        &self,
        target: CK_SESSION_HANDLE,
        id: &[u8],
        flags: CK_FLAGS,
        blobs: &[(CK_ULONG, &[u8])],
    ) -> Result<Vec<Result<CK_OBJECT_HANDLE>>> {
        let behaviour = luna::cpv4_on_object_failure(flags)?;
        let (session, target_slot) = self.slot_of(target)?;
        let source_slot = self.migration_peer(id, target_slot, true)?;
        self.clone_slot_sides(source_slot, target_slot, |source, target| {
            luna::check_cpv4(&source, &target)?;
            Ok(self.store_run(
                behaviour,
                blobs,
                &session,
                target_slot,
                |&(object_type, blob)| {
                    luna::check_cpv4_element(object_type)?;
                    luna::open_clone(&target, &source, blob)
                },
            ))
        })
    }

    /// The slot of this process showing the other partition of migration session `id`, seen
    /// from `slot` (its target when `at_target`, else its source).
    fn migration_peer(&self, id: &[u8], slot: &Slot, at_target: bool) -> Result<&Slot> {
        let peer = self.with_migration(id, |m| {
            let (mine, peer) = if at_target {
                (Some(&m.target), m.source.as_ref())
            } else {
                (m.source.as_ref(), Some(&m.target))
            };
            match (mine, peer) {
                (Some(mine), Some(peer)) if *mine == *slot.partition() => Ok(peer.clone()),
                _ => Err(err(
                    luna::CKR_SESSION_NEGOTIATION_INVALID,
                    "the session's partition is not this side of the migration session, or \
                     no source joined it yet",
                )),
            }
        })?;
        self.slots
            .values()
            .find(|s| *s.partition() == peer && s.ha.is_none())
            .map(|s| &**s)
            .ok_or_else(|| {
                err(
                    CKR_SLOT_ID_INVALID,
                    format!("no slot of this host shows the migration peer {peer}"),
                )
            })
    }

    fn with_migration<T>(
        &self,
        id: &[u8],
        f: impl FnOnce(&mut MigrationSession) -> Result<T>,
    ) -> Result<T> {
        let mut migrations = self.migrations.0.lock();
        f(migrations.get_mut(id).ok_or_else(unknown_migration)?)
    }

    /// Runs `f` on the source and target sessions' slots and their Luna sides (device, state,
    /// role logged in). Both must show Luna partitions, and different ones.
    fn clone_sides<T>(
        &self,
        source: CK_SESSION_HANDLE,
        target: CK_SESSION_HANDLE,
        f: impl FnOnce(&Slot, CloneSide<'_>, &Slot, CloneSide<'_>) -> Result<T>,
    ) -> Result<T> {
        let (_, source_slot) = self.slot_of(source)?;
        let (_, target_slot) = self.slot_of(target)?;
        self.clone_slot_sides(source_slot, target_slot, |source, target| {
            f(source_slot, source, target_slot, target)
        })
    }

    /// Runs `f` on the Luna sides (device, state, role logged in) of two slots, which must
    /// show Luna partitions, and different ones.
    fn clone_slot_sides<T>(
        &self,
        source_slot: &Slot,
        target_slot: &Slot,
        f: impl FnOnce(CloneSide<'_>, CloneSide<'_>) -> Result<T>,
    ) -> Result<T> {
        if source_slot.partition() == target_slot.partition() {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                "the source and target sessions are on the same partition",
            ));
        }
        let source_device = luna_ca::luna_device(&source_slot.model)?;
        let target_device = luna_ca::luna_device(&target_slot.model)?;
        let source_state = luna_ca::state_of(&source_slot.token.read());
        let target_state = luna_ca::state_of(&target_slot.token.read());
        f(
            CloneSide {
                device: source_device,
                state: &source_state,
                login: source_slot.logged_in(),
            },
            CloneSide {
                device: target_device,
                state: &target_state,
                login: target_slot.logged_in(),
            },
        )
    }
}
