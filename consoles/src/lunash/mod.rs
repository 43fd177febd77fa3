//! The Thales Luna Network HSM appliance shell, LunaSH, for the HSM SO (issue 14):
//! `grammar` parses a line as LunaSH takes it (the Luna consoles' shared `command_line`:
//! abbreviations, any case, quotes), `session` runs it through the simulator's estate
//! operations on one appliance of the lab (`hsmsim::estate`: `hsm_so_login`,
//! `appliance_partitions`, `partition_show_policies`, `partition_change_policy`,
//! `hsm_show_policies`, `hsm_change_policy`), and `output` is what LunaSH prints, down to the
//! `Command Result` trailer.
pub mod grammar;
pub mod output;
pub mod session;

pub use grammar::{Command, parse};
pub use output::{Reply, Status};
pub use session::Shell;
