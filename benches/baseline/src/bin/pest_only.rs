//! The limit for `campaign check`: pest alone parsing a file with the
//! project's own grammar (the whole-file rule), walking every pair once and
//! nothing more (no AST, no checks, one thread). Prints the pair count.

use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../../../grammar/campaign.pest"]
struct Grammar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: pest-only FILE.campaign")?;
    let source = std::fs::read_to_string(path)?;
    let pairs = Grammar::parse(Rule::file, &source).map_err(|e| e.to_string())?;
    println!("{} pairs", pairs.flatten().count());
    Ok(())
}
