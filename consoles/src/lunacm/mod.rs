//! The Thales Luna LunaCM console (seed 003): `grammar` parses a command
//! line as LunaCM takes it (abbreviations, any case, quotes), `session` runs it through any
//! PKCS#11 module with Luna's `CA_*` extensions (the slots, the current slot, the roles logged
//! in, the proceed prompt, the era rules LunaCM applies itself), `init` the partition and role
//! initialisation commands, `estate_commands` the commands that run on the simulator's lab
//! (`partition archive`, `hagroup`), and `output` is what LunaCM prints, down to the `Command
//! Result` trailer; `client` is the Luna HSM Client era (`--client`): what an older LunaCM
//! lacks or cannot drive.
pub mod client;
mod estate_commands;
pub mod grammar;
mod init;
pub mod output;
pub mod session;

pub use client::ClientEra;
pub use grammar::{Command, parse};
pub use output::{Reply, Status};
pub use session::{Console, Prompts};
