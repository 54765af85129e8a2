//! `campaign graph`: snapshots of the DOT, Mermaid and JSON of every
//! example and fixture (tests/graph/*.campaign), the SVG checked as XML,
//! counts checked against the NDJSON of the same dry run, hostile names
//! that must not break any format, and the large-campaign views.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use campaign::contacts::ContactsFormat;
use campaign::diagnostics::SourceFile;
use campaign::graph::{self, EdgeKind, Graph, Kind, View};
use campaign::run::dry_run::{DryRun, OutputFormat};
use campaign::syntax::ast::{Step, StepKind};
use proptest::prelude::*;

/// 2026-12-01T09:00:00Z.
const NOW: i64 = 1_796_115_600;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The contacts a fixture is counted with: NAME.contacts.csv beside it,
/// or examples/contacts.csv for the examples.
fn contacts_of(path: &Path) -> Option<PathBuf> {
    let own = path.with_extension("contacts.csv");
    if own.exists() {
        return Some(own);
    }
    (path.parent()? == root().join("examples")).then(|| root().join("examples/contacts.csv"))
}

fn steps_in(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| {
            1 + match &s.kind {
                StepKind::If(chain) => {
                    chain
                        .branches
                        .iter()
                        .map(|b| steps_in(&b.body.steps))
                        .sum::<usize>()
                        + chain.otherwise.as_ref().map_or(0, |o| steps_in(&o.steps))
                }
                StepKind::Split(split) => {
                    steps_in(&split.first.steps) + steps_in(&split.otherwise.steps)
                }
                _ => 0,
            }
        })
        .sum()
}

struct Drawn {
    plain: Graph,
    /// Webhook and goal names in source order (as the nodes come).
    names: (Vec<String>, Vec<String>),
    counted: Option<(Graph, String)>,
    steps: usize,
    triggers: usize,
}

fn draw(path: &Path) -> Drawn {
    let text = std::fs::read_to_string(path).unwrap();
    let source = SourceFile::new(path.display().to_string(), text.as_str());
    let (ast, compiled) =
        campaign::compile_keeping_ast(&text, None).unwrap_or_else(|d| panic!("{path:?}: {d:#?}"));
    let plain = graph::build(&ast, &source);
    let counted = contacts_of(path).map(|contacts| {
        let mut ndjson = Vec::new();
        let dry_run = DryRun::new(&compiled.program, &source, OutputFormat::Ndjson, NOW);
        let (g, _) = graph::build_counted(
            &ast,
            &source,
            &compiled.program,
            &dry_run,
            std::fs::File::open(contacts).unwrap(),
            ContactsFormat::Csv,
            &mut ndjson,
        )
        .unwrap();
        (g, String::from_utf8(ndjson).unwrap())
    });
    let names = (
        compiled
            .program
            .webhooks
            .iter()
            .map(|w| w.name.clone())
            .collect(),
        compiled
            .program
            .goals
            .iter()
            .map(|g| g.name.clone())
            .collect(),
    );
    Drawn {
        plain,
        names,
        counted,
        steps: steps_in(&ast.steps),
        triggers: ast.triggers.len(),
    }
}

fn snapshot_all(path: &Path) {
    let drawn = draw(path);
    insta::assert_snapshot!("dot", graph::dot::write(&drawn.plain));
    insta::assert_snapshot!("mermaid", graph::mermaid::write(&drawn.plain));
    insta::assert_snapshot!("json", graph::json::write(&drawn.plain));
    check_svg(&drawn.plain, drawn.steps, drawn.triggers);
    if let Some((counted, ndjson)) = &drawn.counted {
        insta::assert_snapshot!("counted_json", graph::json::write(counted));
        insta::assert_snapshot!("counted_mermaid", graph::mermaid::write(counted));
        check_counts(counted);
        check_against_effects(counted, ndjson, &drawn.names);
        check_svg(counted, drawn.steps, drawn.triggers);
        // Views keep the counts exact too.
        let small = View {
            collapse: true,
            block: None,
            max_nodes: 6,
        };
        check_counts(&graph::view::apply(counted, &small).unwrap());
        let steps = counted
            .nodes
            .iter()
            .filter(|n| !matches!(n.kind, Kind::Start | Kind::End | Kind::Trigger));
        for node in steps {
            let view = View {
                block: Some(node.id.clone()),
                max_nodes: graph::MAX_NODES,
                ..View::default()
            };
            check_counts(&graph::view::apply(counted, &view).unwrap());
        }
    }
}

#[test]
fn fixtures() {
    insta::glob!("graph/*.campaign", snapshot_all);
}

#[test]
fn examples() {
    insta::glob!("../examples", "*.campaign", snapshot_all);
}

/// For every counted node: what entered is what left, failed, waits or
/// ended there; what left is the sum of its outgoing edges; and (but for
/// `start`, whose contacts come from the contacts file) what entered is
/// the sum of its incoming edges.
fn check_counts(g: &Graph) {
    let mut out: BTreeMap<&str, u64> = BTreeMap::new();
    let mut into: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &g.edges {
        if let Some(c) = e.count {
            *out.entry(e.from.as_str()).or_default() += c;
            *into.entry(e.to.as_str()).or_default() += c;
        }
    }
    let mut counted = 0;
    for n in &g.nodes {
        let Some(c) = n.counts else { continue };
        counted += 1;
        assert_eq!(
            c.entered,
            c.left + c.failed + c.waiting + c.ended,
            "{}: {c:?}",
            n.id
        );
        assert_eq!(
            c.left,
            out.get(n.id.as_str()).copied().unwrap_or(0),
            "{}: left",
            n.id
        );
        if n.kind != Kind::Start {
            assert_eq!(
                c.entered,
                into.get(n.id.as_str()).copied().unwrap_or(0),
                "{}: entered vs incoming edges",
                n.id
            );
        }
    }
    assert!(counted > 0, "no node was counted");
}

/// The counts agree with the effects the same dry run printed.
fn check_against_effects(g: &Graph, ndjson: &str, names: &(Vec<String>, Vec<String>)) {
    let effects: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let action = |a: &str| effects.iter().filter(|e| e["action"] == a).count() as u64;
    let sum = |kind: Kind, f: &dyn Fn(&graph::NodeCounts) -> u64| -> u64 {
        g.nodes
            .iter()
            .filter(|n| n.kind == kind)
            .filter_map(|n| n.counts.as_ref())
            .map(f)
            .sum()
    };
    let gone = |c: &graph::NodeCounts| c.entered - c.failed;
    // Webhooks and goals, one by one: the effects name them.
    let hooks = g.nodes.iter().filter(|n| n.kind == Kind::Webhook);
    assert_eq!(hooks.clone().count(), names.0.len());
    for (n, name) in hooks.zip(&names.0) {
        let c = n.counts.unwrap();
        let sent = effects
            .iter()
            .filter(|e| e["action"] == "webhook" && e["step"] == name.as_str())
            .count() as u64;
        assert_eq!(sent, c.entered - c.failed, "webhook {}", n.id);
    }
    let goals = g.nodes.iter().filter(|n| n.kind == Kind::Goal);
    assert_eq!(goals.clone().count(), names.1.len());
    for (n, name) in goals.zip(&names.1) {
        let met = effects
            .iter()
            .filter(|e| e["action"] == "goal" && e["goal"] == name.as_str())
            .count() as u64;
        assert_eq!(Some(met), n.counts.unwrap().met, "goal {}", n.id);
    }
    assert_eq!(
        action("tag_add") + action("tag_remove"),
        sum(Kind::Tag, &gone)
    );
    assert_eq!(action("note"), sum(Kind::Note, &gone));
    assert_eq!(action("field_set"), sum(Kind::FieldSet, &gone));
    assert_eq!(action("stop"), sum(Kind::Stop, &|c| c.ended));
    let waits = sum(Kind::Wait, &gone);
    let has_until = g.nodes.iter().any(|n| n.label.starts_with("wait until"));
    if has_until {
        // An empty date skips its wait without an effect.
        assert!(action("wait") <= waits);
    } else {
        assert_eq!(action("wait"), waits);
    }
    // Failures: each node's are the errors whose line and column fall in it.
    let errors: Vec<&serde_json::Value> =
        effects.iter().filter(|e| e["action"] == "error").collect();
    let failed: u64 = g
        .nodes
        .iter()
        .filter_map(|n| n.counts)
        .map(|c| c.failed)
        .sum();
    let totals = g.contacts.unwrap();
    assert_eq!(errors.len() as u64, failed + totals.unreadable);
    for n in &g.nodes {
        let Some(c) = n.counts else { continue };
        if c.failed == 0 || n.kind == Kind::Start {
            continue;
        }
        let inside = errors
            .iter()
            .filter(|e| {
                let line = e["line"].as_u64().unwrap_or(0) as usize;
                line == n.span.line
            })
            .count() as u64;
        assert_eq!(inside, c.failed, "failures at {}", n.id);
    }
    // Everyone else reached the end.
    let contacts: BTreeSet<&str> = effects
        .iter()
        .filter_map(|e| e["contact"].as_str())
        .collect();
    let end = g.node("end").unwrap().counts.unwrap().entered;
    let start = g.node("start").unwrap().counts.unwrap().entered;
    assert_eq!(start, totals.records - totals.unreadable);
    assert_eq!(end, start - action("stop") - failed);
    assert!(contacts.len() as u64 <= totals.records);
}

/// The SVG is well-formed XML with one node element per node (one per
/// step, per trigger, and start and end), every edge's ends among them,
/// and every label's text as the graph has it.
fn check_svg(g: &Graph, steps: usize, triggers: usize) {
    let svg = graph::svg::write(g);
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let has_class = |n: &roxmltree::Node<'_, '_>, c: &str| {
        n.attribute("class")
            .is_some_and(|v| v.split_whitespace().any(|x| x == c))
    };
    let nodes: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && has_class(n, "node"))
        .collect();
    assert_eq!(nodes.len(), g.nodes.len());
    assert_eq!(nodes.len(), steps + triggers + 2);
    let ids: BTreeSet<&str> = nodes
        .iter()
        .map(|n| n.attribute("data-id").unwrap())
        .collect();
    assert_eq!(ids.len(), nodes.len(), "ids are unique");
    for (element, node) in nodes.iter().zip(&g.nodes) {
        assert_eq!(element.attribute("data-id"), Some(node.id.as_str()));
        assert_eq!(
            element.attribute("data-line"),
            Some(node.span.line.to_string().as_str())
        );
        let lines: Vec<String> = element
            .descendants()
            .filter(|n| n.has_tag_name("tspan"))
            .map(|n| n.text().unwrap_or("").to_string())
            .collect();
        let want: Vec<&str> = node.label.lines().collect();
        assert_eq!(lines, want, "{}", node.id);
    }
    let edges: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && has_class(n, "edge"))
        .collect();
    assert_eq!(edges.len(), g.edges.len());
    for (element, edge) in edges.iter().zip(&g.edges) {
        let (from, to) = (
            element.attribute("data-from").unwrap(),
            element.attribute("data-to").unwrap(),
        );
        assert!(ids.contains(from) && ids.contains(to), "{from} -> {to}");
        assert_eq!((from, to), (edge.from.as_str(), edge.to.as_str()));
        assert_eq!(has_class(element, "goal"), edge.kind == EdgeKind::Goal);
        let label = element
            .children()
            .find(|n| n.has_tag_name("text") && has_class(n, "label"))
            .and_then(|n| n.text());
        assert_eq!(label, edge.label.as_deref());
    }
}

// --- hostile text -------------------------------------------------------------

/// The DOT quoted strings of a line, unescaped; panics if one is not
/// closed or a `"` stands outside one.
fn dot_strings(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        loop {
            match chars.next().expect("a DOT string is closed") {
                '"' => break,
                '\\' => match chars.next().expect("an escape is complete") {
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// A Mermaid label's text decoded, after checking it holds nothing Mermaid
/// could read as syntax.
fn mermaid_text(text: &str) -> String {
    let mut rest = text.replace("<br>", "");
    // Outside entity codes (`#` letters or digits `;`), nothing Mermaid reads.
    while let Some(at) = rest.find('#') {
        let end = rest[at..].find(';').expect("an entity code ends with ;") + at;
        assert!(
            rest[at + 1..end].chars().all(|c| c.is_ascii_alphanumeric()),
            "{text:?}"
        );
        rest.replace_range(at..=end, "");
    }
    for bad in ['"', '<', '>', '|', '`', ';', '\n', '&'] {
        assert!(!rest.contains(bad), "{bad:?} in {text:?}");
    }
    // Entity codes, read left to right as Mermaid does.
    let text = text.replace("<br>", "\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find('#') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').expect("an entity code ends with ;") + at;
        out.push(match &rest[at + 1..end] {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            code => char::from_u32(code.parse().expect("a numeric code")).unwrap(),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Checks that every format carries every label of `g` intact.
fn check_formats(g: &Graph) {
    // DOT: one statement per node and edge, labels intact.
    let dot = graph::dot::write(g);
    let mut labels = Vec::new();
    for line in dot.lines().skip(4) {
        if line == "}" {
            continue;
        }
        let strings = dot_strings(line);
        assert!(line.ends_with(';'), "{line}");
        if line.contains(" -> ") {
            if strings.len() > 2 {
                labels.push(strings[2].clone());
            }
        } else {
            labels.push(strings[1].clone());
        }
    }
    let mut want: Vec<String> = g.nodes.iter().map(|n| n.label_with_counts()).collect();
    want.extend(g.edges.iter().filter_map(|e| e.label_with_count()));
    assert_eq!(labels, want);
    // Mermaid: the labels between the shape's quotes decode to the graph's.
    let mermaid = graph::mermaid::write(g);
    let mut labels = Vec::new();
    for line in mermaid.lines().skip(1) {
        let first = line.find('"').unwrap_or_else(|| {
            assert!(line.contains("-->") || line.contains("-.->"), "{line}");
            usize::MAX
        });
        if first == usize::MAX {
            continue;
        }
        let last = line.rfind('"').unwrap();
        labels.push(mermaid_text(&line[first + 1..last]));
    }
    assert_eq!(labels, want);
    // JSON reads back.
    let json: serde_json::Value = serde_json::from_str(&graph::json::write(g)).unwrap();
    for (n, node) in json["nodes"].as_array().unwrap().iter().zip(&g.nodes) {
        assert_eq!(n["label"], node.label.as_str());
    }
    // SVG: checked by `check_svg`.
}

/// `text` as a campaign string literal.
fn literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hostile() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-z"<>&'#;|`{}()\[\]\\\n\t /*:=%-]{0,24}"#)
        .unwrap()
        .prop_map(|s| format!("a{s}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Hostile names, tags, notes, conditions and campaign names break no
    /// format.
    #[test]
    fn hostile_names_break_no_format(
        name in hostile(), hook in hostile(), tag in hostile(), note in hostile(),
        value in hostile(), goal in hostile(),
    ) {
        // Names must differ (one namespace for webhooks and goals).
        let goal = format!("{goal}!");
        let source = format!(
            "campaign {} {{\n  trigger tag_added {}\n  webhook {} {{\n    url \"https://x.example.com/a\"\n  }}\n  \
             if [First Name] == {} {{\n    tag add {}\n  }} else {{\n    note {}\n  }}\n  goal {} when has tag {}\n}}\n",
            literal(&name), literal(&tag), literal(&hook), literal(&value), literal(&tag),
            literal(&note), literal(&goal), literal(&tag),
        );
        let file = SourceFile::new("hostile.campaign", source.as_str());
        let (ast, _) = campaign::compile_keeping_ast(&source, None)
            .unwrap_or_else(|d| panic!("{source}\n{d:#?}"));
        let g = graph::build(&ast, &file);
        check_formats(&g);
        check_svg(&g, steps_in(&ast.steps), ast.triggers.len());
    }
}

#[test]
fn fixtures_keep_their_labels_in_every_format() {
    for entry in std::fs::read_dir(root().join("tests/graph")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "campaign") {
            let drawn = draw(&path);
            check_formats(&drawn.plain);
            if let Some((counted, _)) = &drawn.counted {
                check_formats(counted);
            }
        }
    }
}

// --- the binary ----------------------------------------------------------------

/// A campaign like benches/baseline's `gen campaign LINES`: blocks of two
/// webhooks, an if / else if / else, a wait and a field set.
fn generated(lines: usize) -> String {
    let mut out = String::from("campaign \"Generated\" {\n    trigger contact_added\n");
    let mut i = 0;
    while out.lines().count() + 20 < lines {
        out.push_str(&format!(
            "    webhook \"Create contact {i}\" {{\n        url \"https://app.example.com/contacts/{i}?src=[Lead Source]\"\n        post \"First_Name=[First Name]&Email=[Email]&n={i}\"\n    }}\n\
             \x20   webhook \"Add note {i}\" {{\n        url \"https://api.example.com/1/objects\"\n        post \"id=0&data=Note {i}&contact_id=[Contact ID]\"\n    }}\n\
             \x20   if [Lead Score | number] >= {} {{\n        tag add \"Hot {i}\"\n        field set [Status] = \"Hot {i}\"\n    }} else if has tag \"VIP\" {{\n        note \"VIP {i}\"\n    }} else {{\n        tag remove \"Hot {i}\"\n    }}\n\
             \x20   wait {} minutes\n    field set [Last Step] = \"{i}\"\n",
            i % 100,
            1 + i % 59
        ));
        i += 1;
    }
    out.push_str("}\n");
    out
}

#[test]
fn binary_formats_output_files_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let example = root().join("examples/new-lead-welcome.campaign");
    let example = example.to_str().unwrap();
    // SVG by default, to stdout.
    let o = support::campaign_here(&["graph", example]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let svg = String::from_utf8(o.stdout).unwrap();
    roxmltree::Document::parse(&svg).unwrap();
    // Each format, to a file.
    for format in ["svg", "dot", "mermaid", "json"] {
        let out = dir.path().join(format!("g.{format}"));
        let o =
            support::campaign_here(&["graph", example, "-f", format, "-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert!(o.stdout.is_empty());
        let text = std::fs::read_to_string(&out).unwrap();
        match format {
            "dot" => assert!(text.starts_with("digraph \"New lead welcome\" {")),
            "mermaid" => assert!(text.starts_with("flowchart TD\n")),
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["nodes"][0]["id"], "t0");
            }
            _ => assert!(text.starts_with("<svg")),
        }
    }
    // Counted: the same counts the library gives.
    let o = support::campaign_here(&[
        "graph",
        example,
        "-f",
        "json",
        "-c",
        "examples/contacts.csv",
        "--now",
        "2026-12-01T09:00:00Z",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let counted = draw(Path::new(example)).counted.unwrap().0;
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        graph::json::write(&counted)
    );
    // Mistakes: exit 1 with a message.
    let bad = dir.path().join("bad.campaign");
    std::fs::write(&bad, "campaign \"x\" {\n  tagg add \"y\"\n}\n").unwrap();
    let o = support::campaign_here(&["graph", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(support::stderr(&o).contains("campaign::syntax::unknown_step"));
    let o = support::campaign_here(&["graph", example, "-f", "png"]);
    assert_eq!(o.status.code(), Some(2), "clap's usage error");
    let o = support::campaign_here(&["graph", example, "--block", "s99"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(support::stderr(&o).contains("--block \"s99\": no step or section has that id"));
    let o = support::campaign_here(&["graph", example, "-c", "nowhere.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(support::stderr(&o).contains("nowhere.csv"));
    let o = support::campaign_here(&["graph", example, "--now", "2026-12-01T09:00:00Z"]);
    assert_eq!(o.status.code(), Some(2), "--now needs --contacts");
    let o = support::campaign_here(&["graph", example, "--max-nodes", "5"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_large_campaign_says_so_and_draws_collapsed_or_by_block() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.campaign");
    std::fs::write(&big, generated(100_000)).unwrap();
    let big = big.to_str().unwrap();
    let started = std::time::Instant::now();
    let o = support::campaign_here(&["graph", big]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "no unreadable picture");
    let err = support::stderr(&o);
    assert!(
        err.contains("past 200 (--max-nodes) a picture is too large to read"),
        "{err}"
    );
    assert!(
        err.contains("--collapse") && err.contains("--block ID"),
        "{err}"
    );
    // Collapsed: at most 200 boxes, sections named by their first and last step.
    let o = support::campaign_here(&["graph", big, "--collapse"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let svg = String::from_utf8(o.stdout).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let nodes: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("node ")))
        .collect();
    assert!(nodes.len() <= 200 && nodes.len() > 100, "{}", nodes.len());
    let section = nodes
        .iter()
        .find(|n| n.attribute("class") == Some("node section"))
        .and_then(|n| n.attribute("data-id"))
        .unwrap()
        .to_string();
    // One section of it: too large in full, so collapsed in turn.
    let o = support::campaign_here(&["graph", big, "--block", &section]);
    assert_eq!(o.status.code(), Some(1));
    assert!(support::stderr(&o).contains("--collapse"));
    let o = support::campaign_here(&[
        "graph",
        big,
        "--block",
        &section,
        "--collapse",
        "-f",
        "mermaid",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("n_in([\"before s0\"])"), "{text}");
    let (_, last) = section.split_once('-').unwrap();
    let steps: usize = last[1..].parse::<usize>().unwrap() + 1;
    let boxes = text
        .lines()
        .skip(1)
        .filter(|l| !l.contains("-->") && !l.contains("-.->"));
    assert_eq!(boxes.count(), steps + 2, "each top-level step, in and out");
    // One step's blocks.
    let o = support::campaign_here(&["graph", big, "--block", "s2", "-f", "json"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["nodes"].as_array().unwrap().len(),
        2 + 1 + 4,
        "in, the if and its 4 steps, out"
    );
    assert!(started.elapsed().as_secs() < 120, "{:?}", started.elapsed());
}

/// docs/graph-welcome.svg is what `graph` draws for docs/graph.md's
/// example (`DOCS_UPDATE=1` rewrites it).
#[test]
fn the_docs_picture_is_current() {
    let doc = std::fs::read_to_string(root().join("docs/graph.md")).unwrap();
    let block = |info: &str| {
        let start = doc.find(info).unwrap() + info.len() + 1;
        doc[start..start + doc[start..].find("```").unwrap()].to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("welcome.campaign"),
        block("```campaign file=welcome.campaign"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("welcome.csv"),
        block("```csv file=welcome.csv"),
    )
    .unwrap();
    let args = [
        "graph",
        "welcome.campaign",
        "-c",
        "welcome.csv",
        "--now",
        "2026-12-01T09:00:00Z",
    ];
    let o = support::campaign(dir.path(), &args);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let drawn = String::from_utf8(o.stdout).unwrap();
    let path = root().join("docs/graph-welcome.svg");
    if std::env::var_os("DOCS_UPDATE").is_some() {
        std::fs::write(&path, &drawn).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == drawn,
        "docs/graph-welcome.svg is out of date: DOCS_UPDATE=1 cargo test --test graph"
    );
}
