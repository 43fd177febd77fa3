//! The store's own handle on the WAL-index file (`-shm`) never drops SQLite's locks on it.
//! POSIX record locks belong to a process and a file: closing any handle of the file releases
//! every lock the process holds there. If a process with two stores open on one lab dropped
//! one and its handle closed, another process opening the lab would find the `-shm` file
//! unlocked, take it for its own and truncate it under the first one's mapping (SIGBUS). A
//! forked child asks the kernel (`F_GETLK`) whether this process still holds a lock on
//! SQLite's "file in use" byte of the `-shm` file.
use hsmsim::base::ids::PartitionId;
use hsmsim::store::Store;
use hsmsim::store::records::TokenRecord;
use std::path::Path;

/// SQLite's unix VFS locks byte 128 of the `-shm` file (UNIX_SHM_DMS) shared while any of the
/// process's connections uses the WAL index.
const SHM_IN_USE_BYTE: libc::off_t = 128;

/// Whether a process other than this one would find the `-shm` in-use byte locked (false
/// when the file is gone: SQLite deletes it with the last connection).
fn in_use_lock_held(dir: &Path) -> bool {
    if !dir.join(format!("{}-shm", hsmsim::store::DB_FILE)).exists() {
        return false;
    }
    let shm = std::ffi::CString::new(
        dir.join(format!("{}-shm", hsmsim::store::DB_FILE))
            .to_string_lossy()
            .as_bytes(),
    )
    .unwrap();
    // SAFETY: fork in a test; the child only makes async-signal-safe calls (open, fcntl,
    // _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: the child: `shm` is a valid C string; `lock` lives on this stack.
        unsafe {
            let fd = libc::open(shm.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                libc::_exit(2);
            }
            let mut lock: libc::flock = std::mem::zeroed();
            lock.l_type = libc::F_WRLCK as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            lock.l_start = SHM_IN_USE_BYTE;
            lock.l_len = 1;
            if libc::fcntl(fd, libc::F_GETLK, &mut lock) != 0 {
                libc::_exit(3);
            }
            libc::_exit(if lock.l_type == libc::F_UNLCK as libc::c_short {
                1
            } else {
                0
            });
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` lives on this stack.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "the probe died: {status}");
    match libc::WEXITSTATUS(status) {
        0 => true,
        1 => false,
        code => panic!("the probe failed ({code})"),
    }
}

#[test]
fn dropping_one_of_two_stores_keeps_sqlite_s_locks_on_the_wal_index() {
    let dir = tempfile::tempdir().unwrap();
    let partition = PartitionId::parse("hsm/p").unwrap();
    let kept = Store::open(dir.path()).unwrap();
    kept.ensure_token(&partition, || Ok(TokenRecord::uninitialized(&partition)))
        .unwrap();
    assert!(in_use_lock_held(dir.path()), "an open store holds the lock");
    let second = Store::open(dir.path()).unwrap();
    second.token(&partition).unwrap().unwrap();
    drop(second);
    assert!(
        in_use_lock_held(dir.path()),
        "dropping the second store released the first one's lock on the WAL index"
    );
    // The first store still works, and with it gone the lock goes too (the probe can fail).
    kept.token(&partition).unwrap().unwrap();
    drop(kept);
    assert!(!in_use_lock_held(dir.path()), "no store is open");
}
