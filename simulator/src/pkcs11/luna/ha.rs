//! Luna's HA calls: `CA_GetHAState` (an HA virtual slot's group serial and each member's
//! serial and status, from the engine's view of the group, `engine::ha`), and the legacy
//! indirect HA login (`CA_HAInit`, `CA_HAInitExtended`, `CA_HAGetMasterPublic`,
//! `CA_HAGetLoginChallenge`, `CA_HAAnswerLoginChallenge`, `CA_HALogin`,
//! `CA_HAAnswerMofNChallenge`, `CA_HAActivateMofN`), which stays `CKR_FUNCTION_NOT_SUPPORTED`:
//! in it a primary token holding an HA login key pair answers a secondary token's login
//! challenge with the PIN encrypted for it, so that the secondary logs in without the PIN
//! crossing the client. Here the HA virtual slot logs every member in with `C_Login`'s
//! credential itself (as the Luna client library does for its HA groups), no token holds an
//! HA login key, and no member logs in another: the calls have no meaning to give them
//! (their signatures are pycryptoki's, `func_defs.py` @ `ae98be3`).
use super::super::{args, engine, ensure_initialized, guard};
use crate::base::error::err;
use crate::models::luna::{HA_MAX_MEMBERS, HA_MEMBER_ALIVE, HA_MEMBER_DOWN};
use cryptoki_sys::*;

/// `CK_HA_MEMBER` (pycryptoki `ck_defs.py`): a member's serial and status.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Debug, Clone, Copy)]
pub struct CK_HA_MEMBER {
    pub memberSerial: [CK_CHAR; 20],
    pub memberStatus: CK_RV,
}

/// `CK_HA_STATUS` (`CK_HA_STATE_PTR` points to it; pycryptoki `ck_defs.py`): the group serial,
/// up to `CK_HA_MAX_MEMBERS` (32) members and how many are listed.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Debug, Clone, Copy)]
pub struct CK_HA_STATUS {
    pub groupSerial: [CK_CHAR; 20],
    pub memberList: [CK_HA_MEMBER; HA_MAX_MEMBERS],
    pub listSize: CK_ULONG,
}

/// A serial in a `CK_CHAR[20]` field: its bytes, NUL-padded (simulator-defined: the SDK's
/// padding is not documented; serials are at most 16 characters).
fn serial_field(serial: &str) -> [CK_CHAR; 20] {
    let mut field = [0; 20];
    let bytes = serial.as_bytes();
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
    field
}

export!(CA_GetHAState(slot: CK_SLOT_ID, state: *mut CK_HA_STATUS) {
    let ha = engine()?.ha_state(slot)?;
    if ha.members.len() > HA_MAX_MEMBERS {
        return Err(err(CKR_GENERAL_ERROR, "more HA members than CK_HA_STATUS holds"));
    }
    let mut status = CK_HA_STATUS {
        groupSerial: serial_field(&ha.group_serial),
        memberList: [CK_HA_MEMBER {
            memberSerial: [0; 20],
            memberStatus: 0,
        }; HA_MAX_MEMBERS],
        listSize: ha.members.len() as CK_ULONG,
    };
    for (slot, (serial, alive)) in status.memberList.iter_mut().zip(&ha.members) {
        slot.memberSerial = serial_field(serial);
        slot.memberStatus = if *alive { HA_MEMBER_ALIVE } else { HA_MEMBER_DOWN };
    }
    // SAFETY: the caller's CK_HA_STATUS.
    unsafe { args::write(state, status) }?;
    Ok(CKR_OK)
});

unsupported!(CA_HAInit(CK_SESSION_HANDLE, CK_OBJECT_HANDLE));
unsupported!(
    CA_HAInitExtended(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        CK_ULONG,
    )
);
unsupported!(CA_HAGetMasterPublic(CK_SLOT_ID, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(
    CA_HAGetLoginChallenge(
        CK_SESSION_HANDLE,
        CK_USER_TYPE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_HAAnswerLoginChallenge(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(CA_HALogin(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(
    CA_HAAnswerMofNChallenge(
        CK_SESSION_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(CA_HAActivateMofN(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG));
