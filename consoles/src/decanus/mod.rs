//! The Securosys Decanus terminal (seed 000, Primus §2.3): `menu` is its menu tree in its two
//! modes (Device Administration, Partition Administration) as screens, `grammar` reads a line
//! as the terminal takes it (a menu path written as the seed writes it, a number of the
//! screen, a terminal command), `terminal` is the terminal paired with one Primus device (card
//! slots 1 and 2, USB drive, SO session, partition login) carrying out the seed's paths
//! through the estate's Decanus operations (`hsmsim::estate::primus`), and `output` is what it
//! shows.
pub mod grammar;
pub mod menu;
pub mod output;
pub mod terminal;

pub use menu::Mode;
pub use output::{Reply, Status};
pub use terminal::Terminal;

#[cfg(test)]
mod tests;
