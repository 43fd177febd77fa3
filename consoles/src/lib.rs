//! hsmsim-consoles: the vendors' command languages, each in its own folder with its grammar,
//! its session state, its output and its error wording (`primus_tools`, `lunacm`, `lunash`,
//! `decanus`; CCC follows, in a folder of its own), all driving the `backend`: any PKCS#11
//! module (this simulator's `libhsmsim.so` included) through its C ABI; `lunash`, the
//! appliance's own shell, and `decanus`, the Primus terminal, drive the simulator's estate
//! operations instead. `files` is where a command's
//! files are. The CLI's vendor subcommands and the conformance runner's replay of documented
//! steps both go through these consoles.
pub mod backend;
pub mod command_line;
pub mod decanus;
pub mod files;
pub mod lunacm;
pub mod lunash;
pub mod primus_tools;
#[cfg(test)]
mod test_lab;
