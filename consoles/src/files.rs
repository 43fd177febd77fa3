//! The files a console command reads and writes (`-inputfile`, `-outfile`, `> FILE`): the
//! caller's [`Files`], the disk for the CLI (which implements it over `hsmsim::base::files`), or
//! [`MemoryFiles`] for a replay, whose files live as long as its scenario.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a command's files are. Errors are whole messages ("cannot read zmk.der: ...").
pub trait Files {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, String>;
    fn write(&mut self, path: &Path, data: &[u8]) -> Result<(), String>;

    /// `read`, for a UTF-8 text file.
    fn read_text(&mut self, path: &Path) -> Result<String, String> {
        String::from_utf8(self.read(path)?)
            .map_err(|_| format!("cannot read {}: it is not UTF-8 text", path.display()))
    }
}

/// Files kept in memory, by name.
#[derive(Debug, Default, Clone)]
pub struct MemoryFiles {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl Files for MemoryFiles {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| format!("cannot read {}: no such file", path.display()))
    }

    fn write(&mut self, path: &Path, data: &[u8]) -> Result<(), String> {
        self.files.insert(path.to_path_buf(), data.to_vec());
        Ok(())
    }
}
