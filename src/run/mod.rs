//! Drivers that run a program over a stream of contacts.

pub mod dry_run;
