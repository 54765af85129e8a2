//! `campaign graph`: the campaign as a flow chart; with `--contacts`, a dry
//! run's counts on every step. The drawing is `campaign::graph`'s.

use std::io;

use campaign::graph::{self, View};
use campaign::run::dry_run::{DryRun, OutputFormat};

use super::error::{CliError, Failure};
use super::inputs::{is_stdin, open_contacts, read_campaign};
use super::output::print_stdout;
use super::render::render;
use super::{GraphArgs, GraphFormat};

pub(super) fn graph(args: &GraphArgs) -> Result<(), Failure> {
    let source = read_campaign(&args.file)?;
    let (campaign, compiled) = campaign::compile_keeping_ast(&source.text, None).map_err(|d| {
        render(&source, &d);
        Failure::Reported
    })?;
    render(&source, &compiled.warnings);
    let full = match &args.contacts {
        None => graph::build(&campaign, &source),
        Some(contacts) => {
            if is_stdin(&args.file) && is_stdin(contacts) {
                return Err(CliError::StdinTwice.into());
            }
            let now = super::run::parse_now(args.now.as_deref())?;
            let (input, format) = open_contacts(contacts, args.contacts_format)?;
            let dry_run = DryRun::new(&compiled.program, &source, OutputFormat::Ndjson, now);
            let counted = graph::build_counted(
                &campaign,
                &source,
                &compiled.program,
                &dry_run,
                input,
                format,
                io::sink(),
            );
            match counted {
                Ok((g, _)) => g,
                Err(graph::CountError::DryRun(source)) => {
                    return Err(CliError::DryRun {
                        contacts: contacts.clone(),
                        source,
                    }
                    .into())
                }
                Err(graph::CountError::Shape(e)) => return Err(CliError::GraphShape(e).into()),
            }
        }
    };
    let view = View {
        collapse: args.collapse,
        block: args.block.clone(),
        max_nodes: args.max_nodes,
    };
    let drawn = graph::view::apply(&full, &view)?;
    if args.format != GraphFormat::Json {
        graph::view::check_size(&drawn, args.max_nodes)?;
    }
    let text = match args.format {
        GraphFormat::Svg => graph::svg::write(&drawn),
        GraphFormat::Dot => graph::dot::write(&drawn),
        GraphFormat::Mermaid => graph::mermaid::write(&drawn),
        GraphFormat::Json => graph::json::write(&drawn),
    };
    match &args.out {
        Some(path) if !is_stdin(path) => {
            std::fs::write(path, text).map_err(|source| CliError::GraphWrite {
                path: path.clone(),
                source,
            })?;
        }
        _ => print_stdout(&text)?,
    }
    Ok(())
}
