//! Source text to typed AST: the pest grammar, the merge-template lexer, and
//! the guards that keep hostile input from hurting the parser.

pub mod ast;
pub mod depth;
mod errors;
pub mod parser;
pub mod pieces;
pub mod post;
mod short_string;
pub mod template;
pub mod tokens;
pub mod units;
