"""Thales's pycryptoki against libhsmsim.so, as a Luna user would run it.

Run by .ci/external/pycryptoki.sh with CHRYSTOKI_CONF_DLL (the module) and HSMSIM_CONF (the
lab below, written by the script) set. Checks, through pycryptoki's own bindings and helpers:
every CA_ function pycryptoki binds resolves in the module; CA_GetFunctionList fills
pycryptoki's CK_SFNT_CA_FUNCTION_LIST with the functions of those names; the CA_ calls hsmsim
models behave on Luna partitions and answer CKR_FUNCTION_NOT_SUPPORTED on a soft token.
Prints one line per check and "pycryptoki: N passed, N failed".
"""
import inspect
import sys
import time
import traceback
from ctypes import POINTER, byref, c_ubyte, c_void_p, cast

from pycryptoki.audit_handling import ca_get_time
from pycryptoki.ca_extensions.object_handler import ca_destroy_multiple_objects
from pycryptoki.ca_extensions.session import ca_get_session_info
from pycryptoki.cryptoki import (
    CA_GetConfigurationElementDescription,
    CA_GetFunctionList,
    CA_ResetPIN,
    CK_SFNT_CA_FUNCTION_LIST,
    CK_SFNT_CA_FUNCTION_LIST_PTR,
    CK_ULONG,
)
import pycryptoki.cryptoki.func_defs as func_defs
from pycryptoki.cryptoki.helpers import CryptokiDLLSingleton
from pycryptoki.defines import (
    CKA_CLASS,
    CKA_LABEL,
    CKA_PRIVATE,
    CKA_TOKEN,
    CKA_VALUE,
    CKF_TOKEN_INITIALIZED,
    CKM_SHA256,
    CKO_DATA,
    CKR_FUNCTION_NOT_SUPPORTED,
    CKR_OK,
    CKU_SO,
    CKU_USER,
)
from pycryptoki.hsm_management import (
    c_performselftest,
    ca_get_hsm_capability_set,
    ca_get_hsm_policy_set,
    ca_set_hsm_policies,
)
from pycryptoki.misc import c_create_object
from pycryptoki.object_attr_lookup import c_get_attribute_value
from pycryptoki.partition_management import (
    ca_get_container_handle,
    ca_get_container_policy_set,
    ca_get_container_policy_setting,
    ca_get_container_storage_information,
    ca_set_container_policies,
    ca_set_container_policy,
)
from pycryptoki.session_management import (
    c_finalize,
    c_get_token_info,
    c_initialize,
    c_logout,
    c_open_session,
    ca_factory_reset,
    login,
)

CKR_USER_NOT_AUTHORIZED = 0x8000001A

# Slots of the lab (simulator/tests/pycryptoki/lab.toml): 0 a 7.4.2 partition whose HSM lets
# the SO reset the CO's PIN (HSM policy 15, policy 21 off), 2 a soft token, 3 that HSM's admin
# partition.
APP, SOFT, ADMIN = 0, 2, 3
PO, CO, HSO = b"po-pin-0001", b"co-pin-0001", b"hso-pin-0001"

RESULTS = []


def check(name):
    def run(f):
        try:
            f()
            RESULTS.append((name, None))
            print("ok   %s" % name)
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            RESULTS.append((name, traceback.format_exc()))
            print("FAIL %s\n%s" % (name, traceback.format_exc()))
        return f

    return run


def ok(ret):
    assert ret == CKR_OK, "0x%X" % ret


def session(slot):
    ret, h = c_open_session(slot)
    ok(ret)
    return h


def data_object(h, token, label):
    ret, handle = c_create_object(
        h,
        {
            CKA_CLASS: CKO_DATA,
            CKA_TOKEN: token,
            CKA_PRIVATE: False,
            CKA_LABEL: label,
            CKA_VALUE: b"\x07" * 64,
        },
    )
    ok(ret)
    return handle


def c_bytes(data):
    """A CK_CHAR_PTR to a copy of `data` (what pycryptoki's argtypes take)."""
    return cast((c_ubyte * len(data))(*data), POINTER(c_ubyte))


def exists(h, handle):
    return c_get_attribute_value(h, handle, {CKA_CLASS: None})[0] == CKR_OK


ok(c_initialize())


@check("every CA_ function pycryptoki binds resolves in the module")
def _():
    dll = CryptokiDLLSingleton().get_dll()
    names = sorted(
        n
        for n, f in vars(func_defs).items()
        if n.startswith("CA_") and inspect.isfunction(f)
    )
    assert len(names) == 269, len(names)
    missing = [n for n in names if not hasattr(dll, n)]
    assert not missing, missing


@check("CA_GetFunctionList fills CK_SFNT_CA_FUNCTION_LIST in pycryptoki's order")
def _():
    dll = CryptokiDLLSingleton().get_dll()
    table = CK_SFNT_CA_FUNCTION_LIST_PTR()
    ok(CA_GetFunctionList(byref(table)))
    fields = [f for f, _ in CK_SFNT_CA_FUNCTION_LIST._fields_][1:]
    assert len(fields) == 241
    for name in fields:
        entry = cast(getattr(table.contents, name), c_void_p).value
        assert entry, name
        assert entry == cast(getattr(dll, name), c_void_p).value, name


@check("CA_GetConfigurationElementDescription with its 8 arguments")
def _():
    bits, destructive, restricted = CK_ULONG(), CK_ULONG(), CK_ULONG()
    buffer = (c_ubyte * 256)(*([0xFF] * 256))
    text = cast(buffer, POINTER(c_ubyte))
    ok(
        CA_GetConfigurationElementDescription(
            APP, 1, 0, 0, byref(bits), byref(destructive), byref(restricted), text
        )
    )
    description = bytes(buffer)
    end = description.index(0)
    assert description[:end] == b"Allow private key cloning", description
    assert set(description[end + 1 :]) == {0xFF}, "nothing written past the NUL"
    assert (bits.value, destructive.value) == (1, 1)
    ret = CA_GetConfigurationElementDescription(
        SOFT, 1, 0, 0, byref(bits), byref(destructive), byref(restricted), text
    )
    assert ret == CKR_FUNCTION_NOT_SUPPORTED, ret


@check("ca_get_session_info, ca_get_time, c_performselftest")
def _():
    h = session(APP)
    ok(login(h, APP, CO, CKU_USER))
    ret, info = ca_get_session_info(h)
    ok(ret)
    assert info["containerNumber"] == ca_get_container_handle(APP)[1], info
    assert info["authenticationLevel"] == CKU_USER, info
    ret, hsm_time = ca_get_time(h)
    ok(ret)
    assert abs(hsm_time.value - time.time()) < 10, hsm_time.value
    ret, _ = c_performselftest(APP, CKM_SHA256, b"abc", 3)
    ok(ret)
    assert ca_get_session_info(session(SOFT))[0] == CKR_FUNCTION_NOT_SUPPORTED
    assert c_performselftest(SOFT, CKM_SHA256, b"abc", 3)[0] == CKR_FUNCTION_NOT_SUPPORTED
    ok(c_logout(h))


@check("container policy sets and changes")
def _():
    ret, container = ca_get_container_handle(APP)
    ok(ret)
    ret, policies = ca_get_container_policy_set(APP, container)
    ok(ret)
    assert policies[20] == 3, policies
    h = session(APP)
    ok(login(h, APP, PO, CKU_SO))
    ok(ca_set_container_policy(h, container, 20, 5))
    assert ca_get_container_policy_setting(APP, container, 20) == (CKR_OK, 5)
    ok(ca_set_container_policies(h, container, {20: 6, 18: 0}))
    assert ca_get_container_policy_set(APP, container)[1][18] == 0
    assert ca_get_container_policy_setting(APP, container, 20) == (CKR_OK, 6)
    ok(c_logout(h))
    assert ca_get_container_policy_set(SOFT, 0)[0] == CKR_FUNCTION_NOT_SUPPORTED


@check("HSM policy sets and changes")
def _():
    ret, policies = ca_get_hsm_policy_set(APP)
    ok(ret)
    assert policies[15] == 1 and policies[21] == 0, policies
    ret, capabilities = ca_get_hsm_capability_set(APP)
    ok(ret)
    assert sorted(capabilities) == sorted(policies)
    h = session(APP)
    ok(login(h, APP, PO, CKU_SO))
    assert ca_set_hsm_policies(h, {16: 0}) == CKR_USER_NOT_AUTHORIZED
    ok(c_logout(h))
    admin = session(ADMIN)
    ok(login(admin, ADMIN, HSO, CKU_SO))
    ok(ca_set_hsm_policies(admin, {16: 0, 12: 0}))
    ret, policies = ca_get_hsm_policy_set(APP)
    assert (policies[16], policies[12]) == (0, 0), policies
    ok(c_logout(admin))
    assert ca_get_hsm_policy_set(SOFT)[0] == CKR_FUNCTION_NOT_SUPPORTED


@check("ca_destroy_multiple_objects and container storage")
def _():
    h = session(APP)
    ok(login(h, APP, CO, CKU_USER))
    container = ca_get_container_handle(APP)[1]
    ret, before = ca_get_container_storage_information(APP, container)
    ok(ret)
    a, b = data_object(h, True, b"a"), data_object(h, False, b"b")
    ret, after = ca_get_container_storage_information(APP, container)
    assert after["object_count"] == before["object_count"] + 1, (before, after)
    assert after["used"] > before["used"] and after["free"] < before["free"]
    ok(ca_destroy_multiple_objects(h, [a, b]))
    assert not exists(h, a) and not exists(h, b)
    ok(c_logout(h))


@check("CA_ResetPIN: the SO resets the Crypto Officer's PIN")
def _():
    h = session(APP)
    ok(login(h, APP, PO, CKU_SO))
    ok(CA_ResetPIN(h, c_bytes(b"co-pin-0002"), 11))
    ok(c_logout(h))
    ok(login(h, APP, b"co-pin-0002", CKU_USER))
    ok(c_logout(h))
    s = session(SOFT)
    ok(login(s, SOFT, b"so-pin-0001", CKU_SO))
    assert CA_ResetPIN(s, c_bytes(b"co-pin-0002"), 11) == CKR_FUNCTION_NOT_SUPPORTED


@check("ca_factory_reset by the HSM SO")
def _():
    assert ca_factory_reset(ADMIN) == CKR_USER_NOT_AUTHORIZED
    admin = session(ADMIN)
    ok(login(admin, ADMIN, HSO, CKU_SO))
    ok(ca_factory_reset(ADMIN))
    ret, info = c_get_token_info(APP)
    ok(ret)
    assert not info["flags"] & CKF_TOKEN_INITIALIZED, info["flags"]
    assert ca_factory_reset(SOFT) == CKR_FUNCTION_NOT_SUPPORTED


c_finalize()
failed = [name for name, failure in RESULTS if failure]
print("pycryptoki: %d passed, %d failed" % (len(RESULTS) - len(failed), len(failed)))
sys.exit(1 if failed else 0)
