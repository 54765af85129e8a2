//! Source text to typed AST: the pest grammar, the merge-template lexer, and
//! the guards that keep hostile input from hurting the parser.

pub mod ast;
pub mod depth;
pub mod parser;
pub mod post;
pub mod template;
pub mod units;
