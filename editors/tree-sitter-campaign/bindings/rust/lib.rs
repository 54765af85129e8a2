//! The tree-sitter grammar of `.campaign` files, for editors' highlighting.
//!
//! Load it into a [`tree_sitter`] parser with [`LANGUAGE`]:
//!
//! ```
//! let mut parser = tree_sitter::Parser::new();
//! parser
//!     .set_language(&tree_sitter_campaign::LANGUAGE.into())
//!     .expect("the grammar's ABI is one this tree-sitter reads");
//! let tree = parser
//!     .parse("campaign \"Hi\" {\n    wait 2 days\n}\n", None)
//!     .unwrap();
//! assert!(!tree.root_node().has_error());
//! ```
//!
//! [`tree_sitter`]: https://docs.rs/tree-sitter

use tree_sitter_language::LanguageFn;

extern "C" {
    fn tree_sitter_campaign() -> *const ();
}

/// The tree-sitter [`LanguageFn`] of this grammar.
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_campaign) };

/// The content of the [`node-types.json`] file for this grammar.
///
/// [`node-types.json`]: https://tree-sitter.github.io/tree-sitter/using-parsers/6-static-node-types
pub const NODE_TYPES: &str = include_str!("../../src/node-types.json");

/// The syntax highlighting query for this grammar.
pub const HIGHLIGHTS_QUERY: &str = include_str!("../../queries/highlights.scm");

#[cfg(test)]
mod tests {
    #[test]
    fn test_can_load_grammar() {
        let mut parser = tree_sitter::Parser::new();
        parser
            .set_language(&super::LANGUAGE.into())
            .expect("Error loading Campaign parser");
    }
}
