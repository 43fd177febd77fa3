//! The files the simulator keeps and the files it is pointed at. Its state directories and
//! files are created private to the user (directories 0700, files 0600, as SoftHSMv2 does;
//! a directory that already exists keeps its mode). Files named by a user (lab files, PED key
//! files, Primus card and credential files, the CLI's input files) are read only when they
//! are regular files (after following symbolic links) of at most `MAX_READ` bytes, so a FIFO,
//! a device, a directory or a huge file is refused with a plain sentence instead of hanging
//! or exhausting the process.
use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest file the simulator reads (simulator-defined: 16 MiB, far above any lab, key or
/// card file, and well below what a process can afford to hold).
pub const MAX_READ: u64 = 16 << 20;

/// Creates `dir` and its missing parents with mode 0700 (less the umask); existing ones are
/// left as they are.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates (or truncates) `path` and writes `data`; a new file gets mode 0600 (less the umask).
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)
}

/// Creates `path` empty with mode 0600 if it does not exist (SQLite then gives its `-wal` and
/// `-shm` files the database's mode); an existing regular file (of any size) is left as it
/// is; anything else there is refused.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) => check_type(&meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map(drop),
        Err(e) => Err(e),
    }
}

/// `Ok` for a regular file of at most `MAX_READ` bytes; otherwise an `InvalidInput` error
/// whose text says what the file is.
pub fn check_regular(meta: &Metadata) -> io::Result<()> {
    check_type(meta)?;
    if meta.len() > MAX_READ {
        return Err(too_large(meta.len()));
    }
    Ok(())
}

/// `Ok` for a regular file; otherwise an `InvalidInput` error saying what the file is.
fn check_type(meta: &Metadata) -> io::Result<()> {
    let t = meta.file_type();
    let kind = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    match kind {
        Some(kind) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {kind}, not a regular file"),
        )),
        None => Ok(()),
    }
}

fn too_large(size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it is {size} bytes, more than the {} MiB hsmsim reads from a file",
            MAX_READ >> 20
        ),
    )
}

/// Reads a regular file of at most `MAX_READ` bytes. The type and size are checked before the
/// file is opened (opening a FIFO would wait for a writer), then again on the open file
/// (opened non-blocking, in case the path was replaced meanwhile), and the read stops past
/// the limit (in case the file grows).
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    check_regular(&std::fs::metadata(path)?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    check_regular(&meta)?;
    read_limited(file, meta.len())
}

fn read_limited(file: File, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(size_hint as usize);
    file.take(MAX_READ + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_READ {
        return Err(too_large(data.len() as u64));
    }
    Ok(data)
}

/// As `read`, for a UTF-8 text file.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not UTF-8 text".to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_and_directories_leave_existing_ones_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let deep = dir.path().join("a/b");
        create_private_dir_all(&deep).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        assert_eq!(
            mode(dir.path()),
            0o755,
            "an existing directory keeps its mode"
        );
        let file = deep.join("f");
        write_private(&file, b"x").unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_private(&file, b"y").unwrap();
        assert_eq!(mode(&file), 0o640, "an existing file keeps its mode");
        assert_eq!(read(&file).unwrap(), b"y");
    }

    #[test]
    fn a_store_of_any_size_is_kept_and_a_fifo_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.sqlite");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_READ * 4)
            .unwrap();
        create_private_file(&big).unwrap();
        assert_eq!(std::fs::metadata(&big).unwrap().len(), MAX_READ * 4);
        assert!(read(&big).unwrap_err().to_string().contains("MiB"));
        let new = dir.path().join("new.sqlite");
        create_private_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        let e = create_private_file(dir.path()).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }
}
