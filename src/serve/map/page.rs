//! The map's HTML: written here, on the server, so the page shows the
//! counts before any script runs; `map.js` only refreshes them. Every
//! text from the database or a campaign is escaped.

use std::fmt::Write as _;

use crate::encode::xml_text as escape;
use crate::graph::svg;

use super::drawing::NodeLive;
use super::{Failure, Found, Which, REFRESH};

/// The characters a box keeps for its counts line at least, so that the
/// counts a refresh writes in place still fit as they grow; a box whose
/// counts are already wider is drawn wider.
const COUNT_WIDTH: usize = 24;

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"/map/map.css\">\n</head>\n",
        escape(title)
    )
}

/// The sign-in form, with why the last try failed.
pub fn sign_in(message: Option<&str>) -> String {
    let mut out = head("campaign serve: sign in");
    out.push_str("<body class=\"sign-in\">\n<main>\n<h1>campaign serve</h1>\n");
    out.push_str("<p>The live map needs the server's API token (<code>CAMPAIGN_API_TOKEN</code>) or its map token (<code>CAMPAIGN_MAP_TOKEN</code>).</p>\n");
    if let Some(m) = message {
        let _ = writeln!(out, "<p class=\"refused\" role=\"alert\">{}</p>", escape(m));
    }
    out.push_str(
        "<form method=\"post\" action=\"/map/sign-in\">\n\
         <label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus></label>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// A page that only says why there is no map.
pub fn off(message: &str) -> String {
    let mut out = head("campaign serve");
    let _ = write!(
        out,
        "<body>\n<main>\n<h1>campaign serve</h1>\n<p>{}</p>\n</main>\n</body>\n</html>\n",
        escape(message)
    );
    out
}

/// `/?campaign=NAME&revision=N` as a link.
fn link(campaign: &str, revision: Option<i64>) -> String {
    let name: String = form_urlencoded::byte_serialize(campaign.as_bytes()).collect();
    match revision {
        Some(r) => format!("/?campaign={name}&amp;revision={r}"),
        None => format!("/?campaign={name}"),
    }
}

/// A time as the page shows it: `2026-12-01 12:03:04 UTC`.
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The map page.
pub(crate) fn map(found: &Found, which: &Which) -> String {
    let mut out = head("campaign serve: live map");
    let (campaign, revision) = match &found.live {
        Some(l) => (l.campaign.as_str(), Some(l.revision)),
        None => ("", None),
    };
    let _ = writeln!(
        out,
        "<body data-campaign=\"{}\" data-revision=\"{}\" data-refresh-ms=\"{}\" data-refreshes=\"0\">",
        escape(campaign),
        revision.map(|r| r.to_string()).unwrap_or_default(),
        REFRESH.as_millis()
    );
    out.push_str("<header>\n<h1>campaign serve <span>live map</span></h1>\n<form method=\"post\" action=\"/map/sign-out\"><button type=\"submit\">Sign out</button></form>\n</header>\n");
    out.push_str("<nav aria-label=\"Campaigns\">\n<h2>Campaigns</h2>\n<ul>\n");
    for l in &found.campaigns {
        let current = l.name == campaign;
        let _ = write!(
            out,
            "<li{}><a href=\"{}\">{}</a>",
            if current { " class=\"current\"" } else { "" },
            link(&l.name, None),
            escape(&l.name)
        );
        if l.newest.is_none() {
            out.push_str(" <small>(no longer served)</small>");
        }
        out.push_str("<br><small>revision");
        for r in &l.revisions {
            let mark = if l.newest == Some(*r) { "*" } else { "" };
            let chosen = current && revision == Some(*r);
            let _ = write!(
                out,
                " <a href=\"{}\"{}>{r}{mark}</a>",
                link(&l.name, Some(*r)),
                if chosen { " aria-current=\"page\"" } else { "" }
            );
        }
        out.push_str("</small></li>\n");
    }
    out.push_str(
        "</ul>\n<p><small>* the revision new contacts enter</small></p>\n</nav>\n<main>\n",
    );
    let (Some(live), Some(drawing)) = (&found.live, &found.drawing) else {
        let message = match &which.campaign {
            Some(name) => format!("No revision of {name:?} to show."),
            None => "No campaign yet: the database has no revision.".to_string(),
        };
        let _ = writeln!(out, "<p class=\"empty\">{}</p>", escape(&message));
        out.push_str("</main>\n</body>\n</html>\n");
        return out;
    };
    let _ = writeln!(
        out,
        "<h2>{} <span class=\"revision\">revision {}{}</span></h2>",
        escape(&live.campaign),
        live.revision,
        if live.newest {
            " (new contacts enter it)"
        } else {
            ""
        }
    );
    let t = live.placed.totals;
    out.push_str("<p class=\"totals\">");
    for (key, n) in [
        ("entered", t.entered),
        ("active", t.active),
        ("waiting", t.waiting),
        ("done", t.done),
        ("failed", t.failed),
    ] {
        let _ = write!(
            out,
            "<span class=\"total {key}\"><b data-total=\"{key}\">{n}</b> {key}</span> "
        );
    }
    let _ = writeln!(
        out,
        "</p>\n<p class=\"updated\">Counts refresh every {} s; last read <span id=\"updated\">{}</span>.</p>",
        REFRESH.as_secs(),
        when(crate::store::now_ms())
    );
    if live.too_large {
        let _ = writeln!(
            out,
            "<p class=\"too-large\">This revision has {} boxes: past {} a flow chart is too large to read, so its counts are listed by step below. <code>campaign graph --collapse</code> or <code>--block ID</code> draws it in parts.</p>",
            drawing.graph.nodes.len(),
            crate::graph::MAX_NODES
        );
    } else {
        let texts: std::collections::HashMap<&str, &str> = live
            .placed
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.text.as_str()))
            .collect();
        let counts: Vec<String> = drawing
            .graph
            .nodes
            .iter()
            .map(|n| texts.get(n.id.as_str()).copied().unwrap_or("").to_string())
            .collect();
        out.push_str("<figure class=\"graph\">\n");
        out.push_str(&svg::write_with(&drawing.graph, Some(&counts), COUNT_WIDTH));
        out.push_str("</figure>\n");
    }
    out.push_str("<section>\n<h3>By step</h3>\n<table id=\"steps\">\n<thead><tr><th>step</th><th>line</th><th>waiting</th><th>retrying</th><th>failed</th><th>sent</th><th>delivered</th><th>done</th></tr></thead>\n<tbody>\n");
    for n in live.placed.nodes.iter().filter(|n| counted(n)) {
        step_row(&mut out, n);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out.push_str("<section>\n<h3>Newest failures</h3>\n<p><small>The code and where; the message, which may quote the contact's fields, is shown when you ask for the contact.</small></p>\n<table id=\"failures\">\n<thead><tr><th>when</th><th>contact</th><th>step</th><th>line</th><th>code</th><th>what it means</th></tr></thead>\n<tbody>\n");
    for f in &live.failures {
        failure_row(&mut out, f);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out.push_str("<section>\n<h3>A contact</h3>\n<form id=\"lookup\"><label>Contact id <input name=\"id\" required></label> <button type=\"submit\">Show</button></form>\n<pre id=\"contact\" hidden></pre>\n</section>\n");
    out.push_str("</main>\n<script src=\"/map/map.js\"></script>\n</body>\n</html>\n");
    out
}

/// Whether a node has anything to list.
fn counted(n: &NodeLive) -> bool {
    n.waiting + n.retrying + n.failed + n.sent + n.done > 0
}

fn step_row(out: &mut String, n: &NodeLive) {
    let _ = writeln!(
        out,
        "<tr data-node=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(&n.id),
        escape(&n.label),
        n.line,
        n.waiting,
        n.retrying,
        n.failed,
        n.sent,
        n.delivered,
        n.done
    );
}

fn failure_row(out: &mut String, f: &Failure) {
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
        when(f.at_ms),
        escape(&f.contact),
        escape(f.label.as_deref().or(f.step.as_deref()).unwrap_or("")),
        f.line.map(|l| l.to_string()).unwrap_or_default(),
        escape(f.code.as_deref().unwrap_or("")),
        escape(f.summary.unwrap_or(""))
    );
}
