//! The replayer: performs a test case's calls one by one through a module's C ABI (the
//! function table of its default interface, `C_GetInterface`, or `C_GetFunctionList` for a
//! 2.x module), binds the `${...}` identifiers of the outputs, substitutes them in later
//! inputs, and compares each output with the file under the rules the module comment of
//! `crate::oasis` states. Every call is recorded with its return code.
use super::names::{self, Kind};
use super::xml::{Call, Item, symbol};
use crate::runner::Stop;
use cryptoki_sys::*;
use hsmsim_consoles::backend::module::Module;
use hsmsim_consoles::backend::outcome::rv_name;
use std::collections::HashMap;
use std::ffi::c_void;
use std::time::Instant;

/// A module's function table as applications enter it.
pub struct Table {
    /// The table is an instance of its own that this replay initialised (a module that hands
    /// out a new instance per call, as p11-kit's client does): finalised when dropped, before
    /// the library (declared first).
    _own_instance: Option<hsmsim_consoles::backend::raw::SeparateInstance>,
    /// Keeps a module file loaded while the table is used (`None`: the simulator linked in).
    _library: Option<libloading::Library>,
    list: *const CK_FUNCTION_LIST,
    /// How the table was had: "C_GetInterface (default: \"PKCS 11\" 3.0)".
    pub entered: String,
}

impl Table {
    /// The table of `module`'s default interface (`C_GetInterface` with no name and no
    /// version), else `C_GetFunctionList`'s.
    pub fn open(module: &Module) -> Result<Table, String> {
        type GetInterface = unsafe extern "C" fn(
            *mut CK_UTF8CHAR,
            *mut CK_VERSION,
            *mut *mut CK_INTERFACE,
            CK_FLAGS,
        ) -> CK_RV;
        type GetFunctionList = unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV;
        let from_interface =
            |get: GetInterface| -> Result<(*const CK_FUNCTION_LIST, String), String> {
                let mut interface: *mut CK_INTERFACE = std::ptr::null_mut();
                // SAFETY: null name and version ask for the default interface; a valid out-pointer.
                let rv = unsafe {
                    get(
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        &mut interface,
                        0,
                    )
                };
                if rv != CKR_OK || interface.is_null() {
                    return Err(format!("C_GetInterface (default) answered {}", rv_name(rv)));
                }
                // SAFETY: the module wrote a valid interface; every PKCS#11 3.x table starts with
                // its version and the 2.40 functions in the 2.40 order.
                let list = unsafe { (*interface).pFunctionList } as *const CK_FUNCTION_LIST;
                if list.is_null() {
                    return Err("C_GetInterface (default) gave no function list".into());
                }
                // SAFETY: as above.
                let version = unsafe { (*list).version };
                Ok((
                    list,
                    format!(
                        "C_GetInterface (the default interface, version {}.{})",
                        version.major, version.minor
                    ),
                ))
            };
        if module.simulator {
            let (list, entered) = from_interface(hsmsim::pkcs11::C_GetInterface)?;
            return Ok(Table {
                _library: None,
                list,
                entered,
                _own_instance: None,
            });
        }
        // SAFETY: the module is loaded and initialised already; this only adds a reference.
        let library = unsafe { libloading::Library::new(&module.path) }
            .map_err(|e| format!("cannot open {}: {e}", module.path.display()))?;
        // SAFETY: C_GetInterface has this signature in every PKCS#11 3.x module.
        let get_interface = unsafe { library.get::<GetInterface>(b"C_GetInterface\0") }
            .ok()
            .map(|s| *s);
        let (list, entered) = match get_interface {
            Some(get) => from_interface(get)?,
            None => {
                // SAFETY: C_GetFunctionList has this signature in every PKCS#11 module.
                let get = unsafe { library.get::<GetFunctionList>(b"C_GetFunctionList\0") }
                    .map_err(|e| {
                        format!("{} has no C_GetFunctionList: {e}", module.path.display())
                    })?;
                let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
                // SAFETY: a valid out-pointer.
                let rv = unsafe { get(&mut list) };
                if rv != CKR_OK || list.is_null() {
                    return Err(format!("C_GetFunctionList answered {}", rv_name(rv)));
                }
                (
                    list as *const CK_FUNCTION_LIST,
                    "C_GetFunctionList (the module has no C_GetInterface)".to_string(),
                )
            }
        };
        // SAFETY: `list` is the table of the module `library` keeps loaded.
        let own_instance =
            unsafe { hsmsim_consoles::backend::raw::initialise_separate_instance(list) }.map_err(
                |rv| {
                    format!(
                        "cannot initialise the module's own instance: {}",
                        rv_name(rv)
                    )
                },
            )?;
        Ok(Table {
            _library: Some(library),
            list,
            entered,
            _own_instance: own_instance,
        })
    }

    fn f(&self) -> &CK_FUNCTION_LIST {
        // SAFETY: checked non-null at open; the table lives as long as the library.
        unsafe { &*self.list }
    }

    /// The Cryptoki version `C_GetInfo` of this table reports.
    pub fn cryptoki_version(&self) -> Result<CK_VERSION, String> {
        let f = self.f().C_GetInfo.ok_or("the table has no C_GetInfo")?;
        // SAFETY: CK_INFO is plain data; a valid out-pointer.
        let mut info: CK_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rv = unsafe { f(&mut info) };
        if rv != CKR_OK {
            return Err(format!("C_GetInfo answered {}", rv_name(rv)));
        }
        Ok(info.cryptokiVersion)
    }
}

/// Items the profile lets vary (Conformance_Test_Cases.md, "Variable Items"): provider
/// information, handles, operation data and attribute values.
pub const VARIABLE_ITEMS: &[&str] = &[
    "LibraryDescription",
    "LibraryVersion",
    "ManufacturerID",
    "SlotDescription",
    "HardwareVersion",
    "FirmwareVersion",
    "serialNumber",
    "label",
    "model",
    "utcTime",
    "SlotID",
    "Object",
    "Session",
    "Data",
    "EncryptedData",
    "RandomData",
];

/// Attribute types whose values the profile lets vary.
pub const VARIABLE_ATTRIBUTES: &[&str] = &[
    "VALUE",
    "PUBLIC_EXPONENT",
    "PRIVATE_EXPONENT",
    "PRIME_1",
    "PRIME_2",
    "EXPONENT_1",
    "EXPONENT_2",
    "COEFFICIENT",
    "PRIME",
    "SUBPRIME",
    "BASE",
    "EC_POINT",
    "UNIQUE_ID",
];

/// The counts of `CK_TOKEN_INFO`: compared as any value (simulator-defined).
const COUNTS: &[&str] = &[
    "MaxSessionCount",
    "SessionCount",
    "MaxRwSessionCount",
    "RwSessionCount",
    "TotalPublicMemory",
    "FreePublicMemory",
    "TotalPrivateMemory",
    "FreePrivateMemory",
];

/// The RSA key size the profiles' key uses: a mechanism's key-size range must include it.
pub const PROFILE_RSA_BITS: CK_ULONG = 2048;

/// A test case in progress on one token.
pub struct Replayer {
    table: Table,
    /// The token the run names: `${SlotList.SlotID[0]}` is bound to it.
    pub slot: CK_SLOT_ID,
    pin: Option<String>,
    /// Items the test case lets vary beyond the profile's (the generated fixture key's
    /// `MODULUS`, the `Signature` made with it).
    extra_variable: Vec<&'static str>,
    bindings: HashMap<String, CK_ULONG>,
    /// Attribute lengths the module returned, by type name: the buffer a later request of the
    /// same attribute gets when the file's is smaller.
    lengths: HashMap<String, usize>,
    /// The RSA public key read back (`MODULUS`, `PUBLIC_EXPONENT`), for the signature check.
    modulus: Option<Vec<u8>>,
    exponent: Option<Vec<u8>>,
    sign_mechanism: Option<CK_MECHANISM_TYPE>,
    /// Sessions the replay opened and has not closed (closed when it stops early).
    open_sessions: Vec<CK_SESSION_HANDLE>,
    /// A `CryptokiVersion` below the file's, of the same major version, is noted instead of
    /// making the case "not applicable" (tests of the replay only; see
    /// `procedures::oasis::VersionRule`).
    pub accept_lower_minor: bool,
}

/// What a passing call observed: one line per comparison or binding.
type Notes = Vec<String>;

impl Replayer {
    pub fn new(
        table: Table,
        slot: CK_SLOT_ID,
        pin: Option<String>,
        extra_variable: Vec<&'static str>,
    ) -> Replayer {
        Replayer {
            table,
            slot,
            pin,
            extra_variable,
            bindings: HashMap::new(),
            lengths: HashMap::new(),
            modulus: None,
            exponent: None,
            sign_mechanism: None,
            open_sessions: Vec::new(),
            accept_lower_minor: false,
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    fn variable(&self, name: &str) -> bool {
        VARIABLE_ITEMS.contains(&name)
            || VARIABLE_ATTRIBUTES.contains(&name)
            || self.extra_variable.contains(&name)
    }

    /// Binds `${name}` (every output occurrence binds again: AUTH binds `${Object.Object[0]}`
    /// to the public key, then to the private key).
    fn bind(&mut self, name: &str, value: CK_ULONG, notes: &mut Notes) {
        self.bindings.insert(name.to_string(), value);
        notes.push(format!("bound ${{{name}}} = {value}"));
    }

    /// A `CK_ULONG` input: a bound identifier or a literal.
    fn ulong_in(
        &self,
        item: Option<&Item>,
        what: &str,
        names: &[(&str, CK_ULONG)],
    ) -> Result<CK_ULONG, Stop> {
        let item = item.ok_or_else(|| Stop::fail(format!("the call has no <{what}> input")))?;
        let text = item
            .value()
            .ok_or_else(|| Stop::fail(format!("<{what}> has no value")))?;
        self.resolve(text, names)
    }

    fn resolve(&self, text: &str, names: &[(&str, CK_ULONG)]) -> Result<CK_ULONG, Stop> {
        match symbol(text) {
            Some(name) => self.bindings.get(name).copied().ok_or_else(|| {
                Stop::fail(format!("${{{name}}} is used before any output bound it"))
            }),
            None => names::ulong(text, names).map_err(Stop::fail),
        }
    }

    /// A buffer length input (`length="N"` or `length="${...}"`); `None`: a NULL pointer.
    fn length_in(&self, item: &Item) -> Result<Option<usize>, Stop> {
        match item.length() {
            None => Ok(None),
            Some(text) => Ok(Some(self.resolve(text, &[])? as usize)),
        }
    }

    fn record(&self, function: &str, subject: String, rv: CK_RV, started: Instant) {
        hsmsim_consoles::backend::calls::record(hsmsim_consoles::backend::calls::Call {
            party: Some("target"),
            function: function.to_string(),
            subject,
            rv: rv_name(rv).to_string(),
            duration_us: started.elapsed().as_micros() as u64,
        });
    }

    /// Checks the return code against the file's.
    fn expect_rv(&self, call: &Call, rv: CK_RV) -> Result<(), Stop> {
        let want = format!("CKR_{}", call.rv);
        if rv_name(rv) == want {
            Ok(())
        } else {
            Err(Stop::fail(format!(
                "{} answered {}; the file expects {want}",
                call.function,
                rv_name(rv)
            )))
        }
    }

    /// Performs one call of the file and compares its outputs; returns what it compared and
    /// bound.
    pub fn call(&mut self, call: &Call) -> Result<String, Stop> {
        let notes = match call.function.as_str() {
            "C_Initialize" => self.initialize(call)?,
            "C_GetInfo" => self.get_info(call)?,
            "C_GetSlotList" => self.get_list(call, "SlotList", "SlotID")?,
            "C_GetMechanismList" => self.get_list(call, "MechanismList", "Type")?,
            "C_GetSlotInfo" => self.get_slot_info(call)?,
            "C_GetTokenInfo" => self.get_token_info(call)?,
            "C_GetMechanismInfo" => self.get_mechanism_info(call)?,
            "C_OpenSession" => self.open_session(call)?,
            "C_Login" => self.login(call)?,
            "C_Logout" | "C_CloseSession" | "C_FindObjectsFinal" => self.session_only(call)?,
            "C_CloseAllSessions" => self.close_all(call)?,
            "C_FindObjectsInit" => self.find_init(call)?,
            "C_FindObjects" => self.find(call)?,
            "C_GetAttributeValue" => self.get_attributes(call)?,
            "C_SignInit" => self.sign_init(call)?,
            "C_Sign" => self.sign(call)?,
            other => {
                return Err(Stop::fail(format!(
                    "{other} (line {}) is not a call this replayer performs",
                    call.line
                )));
            }
        };
        Ok(notes.join("; "))
    }

    fn initialize(&mut self, call: &Call) -> Result<Notes, Stop> {
        let f = self.table.f().C_Initialize.ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: NULL arguments are allowed.
        let rv = unsafe { f(std::ptr::null_mut()) };
        self.record("C_Initialize", "NULL".into(), rv, started);
        if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && call.rv == "OK" {
            return Ok(vec![
                "CKR_CRYPTOKI_ALREADY_INITIALIZED taken as the file's CKR_OK: the runner initialised the module (one C_Initialize per process; simulator-defined)".into(),
            ]);
        }
        self.expect_rv(call, rv)?;
        Ok(vec!["CKR_OK".into()])
    }

    fn get_info(&mut self, call: &Call) -> Result<Notes, Stop> {
        let f = self.table.f().C_GetInfo.ok_or_else(missing)?;
        // SAFETY: plain data.
        let mut info: CK_INFO = unsafe { std::mem::zeroed() };
        let started = Instant::now();
        // SAFETY: a valid out-pointer.
        let rv = unsafe { f(&mut info) };
        self.record("C_GetInfo", String::new(), rv, started);
        self.expect_rv(call, rv)?;
        let want = call
            .output("Info")
            .ok_or_else(|| Stop::fail("the response has no <Info>"))?;
        let mut notes = Notes::new();
        for item in &want.children {
            let actual = match item.name.as_str() {
                "CryptokiVersion" => {
                    let file = version_of(item)?;
                    let got = (info.cryptokiVersion.major, info.cryptokiVersion.minor);
                    if got < file && self.accept_lower_minor && got.0 == file.0 {
                        notes.push(format!(
                            "CryptokiVersion {}.{} is below the file's {}.{}: accepted for a test of the replay (same major version)",
                            got.0, got.1, file.0, file.1
                        ));
                        continue;
                    }
                    if got < file {
                        return Err(Stop::NotApplicable(format!(
                            "the module reports Cryptoki {}.{}; this file's test cases are for Cryptoki {}.{} and later",
                            got.0, got.1, file.0, file.1
                        )));
                    }
                    notes.push(format!(
                        "CryptokiVersion {}.{} is at least the file's {}.{}",
                        got.0, got.1, file.0, file.1
                    ));
                    continue;
                }
                "ManufacturerID" => Actual::Text(text(&info.manufacturerID)),
                "LibraryDescription" => Actual::Text(text(&info.libraryDescription)),
                "LibraryVersion" => Actual::Version(info.libraryVersion),
                "Flags" => {
                    let file = names::flags(item.value().unwrap_or(""), &[]).map_err(Stop::fail)?;
                    if info.flags != file {
                        return Err(Stop::fail(format!(
                            "Info Flags: the module says 0x{:X}, the file 0x{file:X}",
                            info.flags
                        )));
                    }
                    notes.push(format!("Flags 0x{file:X} as the file"));
                    continue;
                }
                other => return Err(Stop::fail(format!("<Info> has an unknown <{other}>"))),
            };
            self.compare(item, actual, &mut notes)?;
        }
        Ok(notes)
    }

    /// A provider-information item: variable ones are noted, others compared exactly.
    fn compare(&self, item: &Item, actual: Actual, notes: &mut Notes) -> Result<(), Stop> {
        let shown = actual.to_string();
        let same = match (&actual, item.value()) {
            (Actual::Text(t), Some(v)) => t.trim_end() == v.trim_end(),
            (Actual::Version(v), _) => version_of(item).ok() == Some((v.major, v.minor)),
            _ => false,
        };
        if self.variable(&item.name) {
            notes.push(format!(
                "{} {shown:?} (variable item{})",
                item.name,
                if same { ", as the file" } else { "" }
            ));
            Ok(())
        } else if same {
            notes.push(format!("{} {shown:?} as the file", item.name));
            Ok(())
        } else {
            Err(Stop::fail(format!(
                "{}: the module says {shown:?}, the file {item}",
                item.name
            )))
        }
    }

    /// `C_GetSlotList` / `C_GetMechanismList`: a length query, then the list.
    fn get_list(&mut self, call: &Call, list_name: &str, entry: &str) -> Result<Notes, Stop> {
        let list_in = call
            .input(list_name)
            .ok_or_else(|| Stop::fail(format!("the request has no <{list_name}>")))?;
        let capacity = self.length_in(list_in)?;
        let mut buffer: Vec<CK_ULONG> = vec![0; capacity.unwrap_or(0)];
        let mut count: CK_ULONG = capacity.unwrap_or(0) as CK_ULONG;
        let out_ptr = if capacity.is_some() {
            buffer.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        let started = Instant::now();
        let (rv, subject) = if call.function == "C_GetSlotList" {
            let present = names::boolean(
                call.input("TokenPresent")
                    .and_then(|i| i.value())
                    .unwrap_or("false"),
            )
            .map_err(Stop::fail)?;
            let f = self.table.f().C_GetSlotList.ok_or_else(missing)?;
            // SAFETY: a NULL list or a buffer of `count` entries; a valid count pointer.
            let rv = unsafe { f(present as CK_BBOOL, out_ptr, &mut count) };
            (
                rv,
                format!("tokenPresent {present}, {}", buffer_text(capacity)),
            )
        } else {
            let slot = self.ulong_in(call.input("SlotID"), "SlotID", &[])?;
            let f = self.table.f().C_GetMechanismList.ok_or_else(missing)?;
            // SAFETY: as above.
            let rv = unsafe { f(slot, out_ptr, &mut count) };
            (rv, format!("slot {slot}, {}", buffer_text(capacity)))
        };
        self.record(&call.function, subject, rv, started);
        self.expect_rv(call, rv)?;
        let want = call
            .output(list_name)
            .ok_or_else(|| Stop::fail(format!("the response has no <{list_name}>")))?;
        let mut notes = Notes::new();
        if let Some(len) = want.length() {
            match symbol(len) {
                Some(name) => self.bind(name, count, &mut notes),
                None => {
                    let file = names::ulong(len, &[]).map_err(Stop::fail)?;
                    if file != count {
                        return Err(Stop::fail(format!(
                            "{list_name} length: the module says {count}, the file {file}"
                        )));
                    }
                }
            }
        }
        if want.children.is_empty() {
            return Ok(notes);
        }
        buffer.truncate(count as usize);
        let is_slots = list_name == "SlotList";
        for (i, child) in want.children.iter().filter(|c| c.name == entry).enumerate() {
            let text = child.value().unwrap_or("");
            match symbol(text) {
                Some(name) if is_slots => {
                    // The list's order and count may vary (variable behaviour 3): the entry
                    // "matching the logical context" is the token the run names.
                    let value = if i == 0 {
                        if !buffer.contains(&self.slot) {
                            return Err(Stop::fail(format!(
                                "the slot list {buffer:?} does not hold the run's token's slot {}",
                                self.slot
                            )));
                        }
                        self.slot
                    } else {
                        let others: Vec<_> = buffer.iter().filter(|s| **s != self.slot).collect();
                        **others.get(i - 1).ok_or_else(|| {
                            Stop::fail(format!("the slot list has no entry for ${{{name}}}"))
                        })?
                    };
                    self.bind(name, value, &mut notes);
                }
                Some(name) => {
                    let value = *buffer.get(i).ok_or_else(|| {
                        Stop::fail(format!("the list has no entry for ${{{name}}}"))
                    })?;
                    self.bind(name, value, &mut notes);
                }
                None => {
                    let value = if is_slots {
                        names::ulong(text, &[])
                    } else {
                        names::ulong(text, names::MECHANISMS)
                    }
                    .map_err(Stop::fail)?;
                    if !buffer.contains(&value) {
                        return Err(Stop::fail(format!(
                            "{list_name} does not hold {entry} {text}"
                        )));
                    }
                    notes.push(format!("{entry} {text} listed"));
                }
            }
        }
        notes.push(format!(
            "{} entries returned (count and order may vary)",
            count
        ));
        Ok(notes)
    }

    fn get_slot_info(&mut self, call: &Call) -> Result<Notes, Stop> {
        let slot = self.ulong_in(call.input("SlotID"), "SlotID", &[])?;
        let f = self.table.f().C_GetSlotInfo.ok_or_else(missing)?;
        // SAFETY: plain data.
        let mut info: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
        let started = Instant::now();
        // SAFETY: a valid out-pointer.
        let rv = unsafe { f(slot, &mut info) };
        self.record("C_GetSlotInfo", format!("slot {slot}"), rv, started);
        self.expect_rv(call, rv)?;
        let want = call
            .output("SlotInfo")
            .ok_or_else(|| Stop::fail("the response has no <SlotInfo>"))?;
        let mut notes = Notes::new();
        for item in &want.children {
            let actual = match item.name.as_str() {
                "SlotDescription" => Actual::Text(text(&info.slotDescription)),
                "ManufacturerID" => Actual::Text(text(&info.manufacturerID)),
                "HardwareVersion" => Actual::Version(info.hardwareVersion),
                "FirmwareVersion" => Actual::Version(info.firmwareVersion),
                "Flags" => {
                    flags_superset(item, info.flags, names::SLOT_FLAGS, &mut notes)?;
                    continue;
                }
                other => return Err(Stop::fail(format!("<SlotInfo> has an unknown <{other}>"))),
            };
            self.compare(item, actual, &mut notes)?;
        }
        Ok(notes)
    }

    fn get_token_info(&mut self, call: &Call) -> Result<Notes, Stop> {
        let slot = self.ulong_in(call.input("SlotID"), "SlotID", &[])?;
        let f = self.table.f().C_GetTokenInfo.ok_or_else(missing)?;
        // SAFETY: plain data.
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        let started = Instant::now();
        // SAFETY: a valid out-pointer.
        let rv = unsafe { f(slot, &mut info) };
        self.record("C_GetTokenInfo", format!("slot {slot}"), rv, started);
        self.expect_rv(call, rv)?;
        let want = call
            .output("TokenInfo")
            .ok_or_else(|| Stop::fail("the response has no <TokenInfo>"))?;
        let mut notes = Notes::new();
        for item in &want.children {
            let count = |v: CK_ULONG| match v {
                CK_UNAVAILABLE_INFORMATION => "UnavailableInformation".to_string(),
                v => v.to_string(),
            };
            let actual = match item.name.as_str() {
                "label" => Actual::Text(text(&info.label)),
                "ManufacturerID" => Actual::Text(text(&info.manufacturerID)),
                "model" => Actual::Text(text(&info.model)),
                "serialNumber" => Actual::Text(text(&info.serialNumber)),
                "utcTime" => Actual::Text(text(&info.utcTime)),
                "HardwareVersion" => Actual::Version(info.hardwareVersion),
                "FirmwareVersion" => Actual::Version(info.firmwareVersion),
                "Flags" => {
                    flags_superset(item, info.flags, names::TOKEN_FLAGS, &mut notes)?;
                    continue;
                }
                "MaxPinLen" | "MinPinLen" => {
                    if info.ulMinPinLen > info.ulMaxPinLen {
                        return Err(Stop::fail(format!(
                            "MinPinLen {} is above MaxPinLen {}",
                            info.ulMinPinLen, info.ulMaxPinLen
                        )));
                    }
                    let v = if item.name == "MaxPinLen" {
                        info.ulMaxPinLen
                    } else {
                        info.ulMinPinLen
                    };
                    notes.push(format!(
                        "{} {v} (file {}; provider-specific, any range accepted)",
                        item.name,
                        item.value().unwrap_or("")
                    ));
                    continue;
                }
                name if COUNTS.contains(&name) => {
                    let v = match name {
                        "MaxSessionCount" => info.ulMaxSessionCount,
                        "SessionCount" => info.ulSessionCount,
                        "MaxRwSessionCount" => info.ulMaxRwSessionCount,
                        "RwSessionCount" => info.ulRwSessionCount,
                        "TotalPublicMemory" => info.ulTotalPublicMemory,
                        "FreePublicMemory" => info.ulFreePublicMemory,
                        "TotalPrivateMemory" => info.ulTotalPrivateMemory,
                        _ => info.ulFreePrivateMemory,
                    };
                    notes.push(format!("{name} {} (any value accepted)", count(v)));
                    continue;
                }
                other => {
                    return Err(Stop::fail(format!("<TokenInfo> has an unknown <{other}>")));
                }
            };
            self.compare(item, actual, &mut notes)?;
        }
        Ok(notes)
    }

    fn get_mechanism_info(&mut self, call: &Call) -> Result<Notes, Stop> {
        let slot = self.ulong_in(call.input("SlotID"), "SlotID", &[])?;
        let mechanism = self.ulong_in(call.input("Type"), "Type", names::MECHANISMS)?;
        let f = self.table.f().C_GetMechanismInfo.ok_or_else(missing)?;
        // SAFETY: plain data.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        let started = Instant::now();
        // SAFETY: a valid out-pointer.
        let rv = unsafe { f(slot, mechanism, &mut info) };
        let name = names::mechanism_name(mechanism);
        self.record(
            "C_GetMechanismInfo",
            format!("slot {slot}, CKM_{name}"),
            rv,
            started,
        );
        self.expect_rv(call, rv)?;
        let want = call
            .output("MechanismInfo")
            .ok_or_else(|| Stop::fail("the response has no <MechanismInfo>"))?;
        let mut notes = Notes::new();
        let size = |n: &str| -> Result<Option<CK_ULONG>, Stop> {
            want.child(n)
                .and_then(|i| i.value())
                .map(|v| names::ulong(v, &[]))
                .transpose()
                .map_err(Stop::fail)
        };
        let (min, max) = (size("MinKeySize")?, size("MaxKeySize")?);
        if min.is_some() || max.is_some() {
            let (got_min, got_max) = (info.ulMinKeySize, info.ulMaxKeySize);
            if min == Some(0) && max == Some(0) {
                notes.push(format!(
                    "key sizes {got_min}..{got_max} (the file's 0..0: a mechanism without a key size; any accepted)"
                ));
            } else if got_min <= PROFILE_RSA_BITS && PROFILE_RSA_BITS <= got_max {
                notes.push(format!(
                    "key sizes {got_min}..{got_max} include {PROFILE_RSA_BITS} (the file's {}..{}; provider-specific)",
                    min.unwrap_or(0),
                    max.unwrap_or(0)
                ));
            } else {
                return Err(Stop::fail(format!(
                    "CKM_{name}: key sizes {got_min}..{got_max} do not include the profiles' {PROFILE_RSA_BITS} bits"
                )));
            }
        }
        if let Some(flags) = want.child("Flags") {
            flags_superset(flags, info.flags, names::MECHANISM_FLAGS, &mut notes)?;
        }
        Ok(notes)
    }

    fn open_session(&mut self, call: &Call) -> Result<Notes, Stop> {
        let slot = self.ulong_in(call.input("SlotID"), "SlotID", &[])?;
        let flags = call
            .input("Flags")
            .and_then(|i| i.value())
            .map(|v| names::flags(v, names::SESSION_FLAGS))
            .transpose()
            .map_err(Stop::fail)?
            .unwrap_or(CKF_SERIAL_SESSION);
        let f = self.table.f().C_OpenSession.ok_or_else(missing)?;
        let mut session: CK_SESSION_HANDLE = 0;
        let started = Instant::now();
        // SAFETY: no application pointer, no notify callback; a valid out-pointer.
        let rv = unsafe { f(slot, flags, std::ptr::null_mut(), None, &mut session) };
        self.record(
            "C_OpenSession",
            format!(
                "slot {slot}, {}",
                names::flag_names(flags, names::SESSION_FLAGS)
            ),
            rv,
            started,
        );
        self.expect_rv(call, rv)?;
        self.open_sessions.push(session);
        let mut notes = Notes::new();
        match call
            .output("Session")
            .and_then(|i| i.value())
            .and_then(symbol)
        {
            Some(name) => self.bind(name, session, &mut notes),
            None => notes.push(format!("session {session}")),
        }
        Ok(notes)
    }

    fn login(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let user = self.ulong_in(call.input("UserType"), "UserType", names::USER_TYPES)?;
        let pin_text = call.input("Pin").and_then(|i| i.value()).unwrap_or("");
        let pin: Option<Vec<u8>> = match symbol(pin_text) {
            Some("Pin") => self.pin.clone().map(String::into_bytes),
            Some(other) => {
                return Err(Stop::fail(format!(
                    "${{{other}}} is not a PIN this replayer is given (only ${{Pin}})"
                )));
            }
            None => Some(pin_text.as_bytes().to_vec()),
        };
        let f = self.table.f().C_Login.ok_or_else(missing)?;
        let (ptr, len) = match &pin {
            Some(p) => (p.as_ptr() as *mut CK_UTF8CHAR, p.len() as CK_ULONG),
            // A PIN pad or PED: no PIN given (the module asks for it).
            None => (std::ptr::null_mut(), 0),
        };
        let started = Instant::now();
        // SAFETY: a PIN buffer of `len` bytes (or NULL for a protected path).
        let rv = unsafe { f(session, user, ptr, len) };
        self.record(
            "C_Login",
            format!("session {session}, user type {user}, PIN from the run"),
            rv,
            started,
        );
        if rv == CKR_USER_ALREADY_LOGGED_IN && call.rv == "OK" {
            return Ok(vec![
                "CKR_USER_ALREADY_LOGGED_IN taken as the file's CKR_OK: another session of this process holds the login (simulator-defined)".into(),
            ]);
        }
        self.expect_rv(call, rv)?;
        Ok(vec![format!(
            "logged in with the run's PIN ({})",
            if pin.is_some() {
                "${Pin}"
            } else {
                "protected authentication path"
            }
        )])
    }

    fn session_only(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let f = match call.function.as_str() {
            "C_Logout" => self.table.f().C_Logout,
            "C_CloseSession" => self.table.f().C_CloseSession,
            _ => self.table.f().C_FindObjectsFinal,
        }
        .ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: a session handle (the module checks it).
        let rv = unsafe { f(session) };
        self.record(&call.function, format!("session {session}"), rv, started);
        self.expect_rv(call, rv)?;
        if call.function == "C_CloseSession" {
            self.open_sessions.retain(|s| *s != session);
        }
        Ok(vec![format!("session {session}: CKR_OK")])
    }

    fn close_all(&mut self, call: &Call) -> Result<Notes, Stop> {
        let slot = self.ulong_in(call.input("SlotID"), "SlotID", &[])?;
        let f = self.table.f().C_CloseAllSessions.ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: a slot id (the module checks it).
        let rv = unsafe { f(slot) };
        self.record("C_CloseAllSessions", format!("slot {slot}"), rv, started);
        self.expect_rv(call, rv)?;
        self.open_sessions.clear();
        Ok(vec![format!(
            "slot {slot}: every session of the token closed"
        )])
    }

    /// A template input as attribute values (type, bytes).
    fn template(&self, item: &Item) -> Result<Vec<(CK_ULONG, Vec<u8>, String)>, Stop> {
        item.children
            .iter()
            .filter(|a| a.name == "Attribute")
            .map(|a| {
                let name = a.attr("type").unwrap_or("");
                let (ty, kind) = names::attribute(name).map_err(Stop::fail)?;
                let value = a
                    .value()
                    .ok_or_else(|| Stop::fail(format!("the attribute {name} has no value")))?;
                let bytes = match kind {
                    Kind::Bool => vec![names::boolean(value).map_err(Stop::fail)? as u8],
                    Kind::Ulong(list) => self.resolve(value, list)?.to_ne_bytes().to_vec(),
                    Kind::Text => value.as_bytes().to_vec(),
                    Kind::Bytes => hex::decode(value)
                        .map_err(|e| Stop::fail(format!("the {name} value is not hex: {e}")))?,
                };
                Ok((ty, bytes, format!("{name}={value}")))
            })
            .collect()
    }

    fn find_init(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let template = match call.input("Template") {
            Some(t) => self.template(t)?,
            None => Vec::new(),
        };
        let mut attrs: Vec<CK_ATTRIBUTE> = template
            .iter()
            .map(|(ty, bytes, _)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: bytes.as_ptr() as *mut c_void,
                ulValueLen: bytes.len() as CK_ULONG,
            })
            .collect();
        let f = self.table.f().C_FindObjectsInit.ok_or_else(missing)?;
        let shown: Vec<&str> = template.iter().map(|(_, _, s)| s.as_str()).collect();
        let started = Instant::now();
        // SAFETY: the template points into `template`, alive for the call.
        let rv = unsafe { f(session, attrs.as_mut_ptr(), attrs.len() as CK_ULONG) };
        self.record(
            "C_FindObjectsInit",
            format!("session {session}, {}", shown.join(", ")),
            rv,
            started,
        );
        self.expect_rv(call, rv)?;
        Ok(vec![format!("template {}", shown.join(", "))])
    }

    fn find(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let capacity = call
            .input("Object")
            .map(|o| self.length_in(o))
            .transpose()?
            .flatten()
            .unwrap_or(1);
        let mut handles: Vec<CK_OBJECT_HANDLE> = vec![0; capacity];
        let mut count: CK_ULONG = 0;
        let f = self.table.f().C_FindObjects.ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: a buffer of `capacity` handles; a valid count pointer.
        let rv = unsafe {
            f(
                session,
                handles.as_mut_ptr(),
                capacity as CK_ULONG,
                &mut count,
            )
        };
        self.record(
            "C_FindObjects",
            format!("session {session}, room for {capacity}"),
            rv,
            started,
        );
        self.expect_rv(call, rv)?;
        handles.truncate(count as usize);
        let want = call
            .output("Object")
            .ok_or_else(|| Stop::fail("the response has no <Object>"))?;
        let mut notes = Notes::new();
        if want.children.is_empty() {
            notes.push(format!(
                "{count} object(s) found (the file's <Object/>: no count given, any accepted)"
            ));
            return Ok(notes);
        }
        // The token's CKO_PROFILE objects (PKCS#11 3.x: its declaration of the profiles it
        // implements) are set aside: the file's objects are the application's (simulator-
        // defined). More are asked for while the batch came back full.
        let mut profiles = 0;
        let mut kept: Vec<CK_OBJECT_HANDLE> = Vec::new();
        let mut batch = handles;
        loop {
            let full = batch.len() == capacity;
            for h in batch {
                if self.class_of(session, h) == Some(CKO_PROFILE) {
                    profiles += 1;
                } else {
                    kept.push(h);
                }
            }
            if kept.len() >= want.children.len() || !full || profiles == 0 {
                break;
            }
            let room = want.children.len() - kept.len();
            let mut more: Vec<CK_OBJECT_HANDLE> = vec![0; room];
            let mut got: CK_ULONG = 0;
            let started = Instant::now();
            // SAFETY: as above.
            let rv = unsafe { f(session, more.as_mut_ptr(), room as CK_ULONG, &mut got) };
            self.record(
                "C_FindObjects",
                format!("session {session}, room for {room} (after CKO_PROFILE objects)"),
                rv,
                started,
            );
            self.expect_rv(call, rv)?;
            more.truncate(got as usize);
            if more.is_empty() {
                break;
            }
            batch = more;
        }
        let handles = kept;
        if profiles > 0 {
            notes.push(format!(
                "set aside {profiles} CKO_PROFILE object(s) (the token's profile declarations)"
            ));
        }
        if want.children.len() != handles.len() {
            return Err(Stop::fail(format!(
                "{} object(s) found, the file expects {}",
                handles.len(),
                want.children.len()
            )));
        }
        for (child, handle) in want.children.iter().zip(&handles) {
            match child.value().and_then(symbol) {
                Some(name) => self.bind(name, *handle, &mut notes),
                None => notes.push(format!("object {handle} (variable item)")),
            }
        }
        Ok(notes)
    }

    /// An object's `CKA_CLASS` (recorded as a call of its own), `None` when unreadable.
    fn class_of(&self, session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> Option<CK_ULONG> {
        let f = self.table.f().C_GetAttributeValue?;
        let mut class: CK_ULONG = 0;
        let mut attr = CK_ATTRIBUTE {
            type_: CKA_CLASS,
            pValue: (&mut class as *mut CK_ULONG).cast(),
            ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
        };
        let started = Instant::now();
        // SAFETY: one attribute pointing to a CK_ULONG.
        let rv = unsafe { f(session, object, &mut attr, 1) };
        self.record(
            "C_GetAttributeValue",
            format!("object {object}, CKA_CLASS (not in the file: is it a CKO_PROFILE?)"),
            rv,
            started,
        );
        (rv == CKR_OK).then_some(class)
    }

    fn get_attributes(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let object = self.ulong_in(call.input("Object"), "Object", &[])?;
        let requested = call
            .input("Template")
            .ok_or_else(|| Stop::fail("the request has no <Template>"))?;
        let mut wanted = Vec::new();
        for a in requested.children.iter().filter(|a| a.name == "Attribute") {
            let name = a.attr("type").unwrap_or("").trim().to_string();
            let (ty, _) = names::attribute(&name).map_err(Stop::fail)?;
            let len = self.length_in(a)?.map(|file| {
                // The buffer: the file's length, or the length the module returned for this
                // attribute before when larger (a variable item's length varies).
                file.max(self.lengths.get(&name).copied().unwrap_or(0))
            });
            wanted.push((name, ty, len));
        }
        let mut buffers: Vec<Option<Vec<u8>>> = wanted
            .iter()
            .map(|(_, _, l)| l.map(|n| vec![0u8; n]))
            .collect();
        let mut attrs: Vec<CK_ATTRIBUTE> = wanted
            .iter()
            .zip(buffers.iter_mut())
            .map(|((_, ty, _), buf)| match buf {
                Some(b) => CK_ATTRIBUTE {
                    type_: *ty,
                    pValue: b.as_mut_ptr() as *mut c_void,
                    ulValueLen: b.len() as CK_ULONG,
                },
                None => CK_ATTRIBUTE {
                    type_: *ty,
                    pValue: std::ptr::null_mut(),
                    ulValueLen: 0,
                },
            })
            .collect();
        let f = self.table.f().C_GetAttributeValue.ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: each attribute points to a buffer of its length in `buffers` (or NULL).
        let rv = unsafe { f(session, object, attrs.as_mut_ptr(), attrs.len() as CK_ULONG) };
        let shown: Vec<String> = wanted
            .iter()
            .map(|(n, _, l)| match l {
                Some(l) => format!("{n} ({l} bytes)"),
                None => format!("{n} (length)"),
            })
            .collect();
        self.record(
            "C_GetAttributeValue",
            format!("object {object}, {}", shown.join(", ")),
            rv,
            started,
        );
        self.expect_rv(call, rv)?;
        let want = call
            .output("Template")
            .ok_or_else(|| Stop::fail("the response has no <Template>"))?;
        let mut notes = Notes::new();
        for ((name, _, _), (attr, buf)) in wanted.iter().zip(attrs.iter().zip(&buffers)) {
            let got_len = attr.ulValueLen as usize;
            if attr.ulValueLen == CK_UNAVAILABLE_INFORMATION {
                return Err(Stop::fail(format!(
                    "{name}: the module answers CK_UNAVAILABLE_INFORMATION"
                )));
            }
            self.lengths.insert(name.clone(), got_len);
            let file = want
                .children
                .iter()
                .find(|a| a.attr("type").map(str::trim) == Some(name.as_str()))
                .ok_or_else(|| Stop::fail(format!("the response has no {name} attribute")))?;
            let variable = self.variable(name);
            if let Some(len) = file.length() {
                let file_len = self.resolve(len, &[])? as usize;
                if got_len == file_len {
                    notes.push(format!("{name} length {got_len} as the file"));
                } else if variable {
                    notes.push(format!(
                        "{name} length {got_len} (file {file_len}; variable item)"
                    ));
                } else {
                    return Err(Stop::fail(format!(
                        "{name} length: the module says {got_len}, the file {file_len}"
                    )));
                }
            }
            let Some(file_value) = file.value() else {
                continue;
            };
            let got = buf
                .as_ref()
                .map(|b| b[..got_len.min(b.len())].to_vec())
                .ok_or_else(|| {
                    Stop::fail(format!(
                        "the file expects {name}'s value but asked no buffer"
                    ))
                })?;
            let (_, kind) = names::attribute(name).map_err(Stop::fail)?;
            let (same, shown) = match kind {
                Kind::Text => {
                    // The file's plain text cannot show the C string terminator its length
                    // may count ("Mozilla Builtin Roots", 22): trailing NULs are not compared
                    // (simulator-defined).
                    let end = got.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                    let text = String::from_utf8_lossy(&got[..end]).to_string();
                    (text == file_value, format!("{text:?}"))
                }
                _ => {
                    let hex = hex::encode(&got);
                    (
                        hex.eq_ignore_ascii_case(file_value.trim()),
                        format!("{} bytes", got.len()),
                    )
                }
            };
            match name.as_str() {
                "MODULUS" => self.modulus = Some(got.clone()),
                "PUBLIC_EXPONENT" => self.exponent = Some(got.clone()),
                _ => {}
            }
            if same {
                notes.push(format!("{name} {shown} as the file"));
            } else if variable {
                notes.push(format!(
                    "{name} {shown} (variable item; differs from the file's)"
                ));
            } else {
                return Err(Stop::fail(format!(
                    "{name}: the module says {shown}, the file {file_value:?}"
                )));
            }
        }
        Ok(notes)
    }

    fn sign_init(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let mechanism = call
            .input("Mechanism")
            .ok_or_else(|| Stop::fail("the request has no <Mechanism>"))?;
        let ty = self.ulong_in(mechanism.child("Type"), "Type", names::MECHANISMS)?;
        if let Some(p) = mechanism.child("Parameter")
            && (p.value().is_some() || p.length().is_some_and(|l| l.trim() != "0"))
        {
            return Err(Stop::fail(
                "mechanism parameters are not replayed (the profiles' files have none)",
            ));
        }
        let key = self.ulong_in(call.input("Key"), "Key", &[])?;
        let mut ck = CK_MECHANISM {
            mechanism: ty,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        let f = self.table.f().C_SignInit.ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: a mechanism without parameter.
        let rv = unsafe { f(session, &mut ck, key) };
        let name = names::mechanism_name(ty);
        self.record("C_SignInit", format!("CKM_{name}, key {key}"), rv, started);
        self.expect_rv(call, rv)?;
        self.sign_mechanism = Some(ty);
        Ok(vec![format!("CKM_{name} with key {key}")])
    }

    fn sign(&mut self, call: &Call) -> Result<Notes, Stop> {
        let session = self.ulong_in(call.input("Session"), "Session", &[])?;
        let data_text = call
            .input("Data")
            .and_then(|d| d.value())
            .ok_or_else(|| Stop::fail("the request has no <Data value=...>"))?;
        let data = hex::decode(data_text.trim())
            .map_err(|e| Stop::fail(format!("the Data is not hex: {e}")))?;
        let capacity = call
            .input("Signature")
            .map(|s| self.length_in(s))
            .transpose()?
            .flatten();
        let mut signature = vec![0u8; capacity.unwrap_or(0)];
        let mut len: CK_ULONG = signature.len() as CK_ULONG;
        let out = if capacity.is_some() {
            signature.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        let f = self.table.f().C_Sign.ok_or_else(missing)?;
        let started = Instant::now();
        // SAFETY: the data is read for the call; the signature buffer holds `len` bytes.
        let rv = unsafe {
            f(
                session,
                data.as_ptr() as *mut CK_BYTE,
                data.len() as CK_ULONG,
                out,
                &mut len,
            )
        };
        self.record(
            "C_Sign",
            format!("{} bytes of data, {}", data.len(), buffer_text(capacity)),
            rv,
            started,
        );
        self.expect_rv(call, rv)?;
        signature.truncate(len as usize);
        let mut notes = vec![format!("{} bytes signed", data.len())];
        let Some(want) = call.output("Signature") else {
            return Ok(notes);
        };
        if want.value().is_none() {
            notes.push(format!("signature length {len}"));
            return Ok(notes);
        }
        let same = want
            .value()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(&hex::encode(&signature)));
        if same {
            notes.push("Signature as the file".into());
            return Ok(notes);
        }
        if !self.variable("Signature") {
            return Err(Stop::fail("the signature differs from the file's"));
        }
        // The fixture key is not the file's: the signature is checked with the public key
        // the replay read back (MODULUS, PUBLIC_EXPONENT).
        let (Some(n), Some(e)) = (&self.modulus, &self.exponent) else {
            return Err(Stop::fail(
                "the signature differs from the file's and no public key was read back to verify it",
            ));
        };
        let algorithm = match self.sign_mechanism {
            Some(CKM_SHA256_RSA_PKCS) => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            Some(CKM_SHA384_RSA_PKCS) => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA384,
            Some(CKM_SHA512_RSA_PKCS) => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512,
            other => {
                return Err(Stop::fail(format!(
                    "the signature differs from the file's and its mechanism {} cannot be verified here",
                    other.map_or("(none)".into(), names::mechanism_name)
                )));
            }
        };
        if signature.len() != n.len() {
            return Err(Stop::fail(format!(
                "the signature has {} bytes, the modulus {}",
                signature.len(),
                n.len()
            )));
        }
        aws_lc_rs::signature::RsaPublicKeyComponents { n, e }
            .verify(algorithm, &data, &signature)
            .map_err(|_| {
                Stop::fail("the signature does not verify with the public key read back")
            })?;
        notes.push(format!(
            "Signature ({} bytes; variable: the fixture key is not the file's) verifies over the Data with the public key read back",
            signature.len()
        ));
        Ok(notes)
    }

    /// Closes what a replay that stopped early left open (its sessions, hence its login).
    pub fn close_leftovers(&mut self) -> String {
        let Some(f) = self.table.f().C_CloseSession else {
            return String::new();
        };
        let left = std::mem::take(&mut self.open_sessions);
        for s in &left {
            let started = Instant::now();
            // SAFETY: a session handle this replay opened.
            let rv = unsafe { f(*s) };
            self.record(
                "C_CloseSession",
                format!("session {s} (left open)"),
                rv,
                started,
            );
        }
        if left.is_empty() {
            String::new()
        } else {
            format!("closed {} session(s) the replay left open", left.len())
        }
    }
}

fn missing() -> Stop {
    Stop::fail("the module's function table lacks this function")
}

fn buffer_text(capacity: Option<usize>) -> String {
    match capacity {
        Some(n) => format!("room for {n}"),
        None => "NULL (length query)".into(),
    }
}

/// A blank-padded `CK_UTF8CHAR` array as text.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// `<X major=".." minor=".."/>`.
fn version_of(item: &Item) -> Result<(u8, u8), Stop> {
    let part = |k: &str| -> Result<u8, Stop> {
        item.attr(k)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| Stop::fail(format!("<{}> has no {k} version number", item.name)))
    };
    Ok((part("major")?, part("minor")?))
}

/// What the module returned for a provider-information item.
enum Actual {
    Text(String),
    Version(CK_VERSION),
}

impl std::fmt::Display for Actual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actual::Text(t) => f.write_str(t),
            Actual::Version(v) => write!(f, "{}.{}", v.major, v.minor),
        }
    }
}

/// Slot, token and mechanism flags: every flag the file lists must be set; others the module
/// sets are noted, not failed (simulator-defined: the file shows one provider's flags).
fn flags_superset(
    item: &Item,
    got: CK_FLAGS,
    table: &[(&str, CK_ULONG)],
    notes: &mut Notes,
) -> Result<(), Stop> {
    let file = names::flags(item.value().unwrap_or(""), table).map_err(Stop::fail)?;
    let missing = file & !got;
    if missing != 0 {
        return Err(Stop::fail(format!(
            "Flags: the module says {}, without the file's {}",
            names::flag_names(got, table),
            names::flag_names(missing, table)
        )));
    }
    let extra = got & !file;
    notes.push(if extra == 0 {
        format!("Flags {} as the file", names::flag_names(got, table))
    } else {
        format!(
            "Flags has the file's {} (and {})",
            names::flag_names(file, table),
            names::flag_names(extra, table)
        )
    });
    Ok(())
}

/// Compares `got` with a file item as [`Replayer::compare`] does, outside a replay (tests).
pub fn compare_item(
    extra_variable: &[&'static str],
    item: &Item,
    got: &str,
) -> Result<String, String> {
    let r = Replayer {
        table: Table {
            _library: None,
            list: std::ptr::null(),
            entered: String::new(),
            _own_instance: None,
        },
        slot: 0,
        pin: None,
        extra_variable: extra_variable.to_vec(),
        bindings: HashMap::new(),
        lengths: HashMap::new(),
        modulus: None,
        exponent: None,
        sign_mechanism: None,
        open_sessions: Vec::new(),
        accept_lower_minor: false,
    };
    let mut notes = Notes::new();
    r.compare(item, Actual::Text(got.to_string()), &mut notes)
        .map(|()| notes.join("; "))
        .map_err(|e| match e {
            Stop::Fail { detail, .. } => detail,
            Stop::NotApplicable(why) => why,
        })
}
