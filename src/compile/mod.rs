//! AST to bytecode.

pub mod codegen;
pub mod instructions;

pub use codegen::generate;
pub use instructions::{Instruction, Program};
