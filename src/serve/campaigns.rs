//! The campaigns a server runs: each revision compiled once, with its
//! sender, the place in the step tree of each of its waits, and the
//! triggers of the newest revision of every campaign.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::compile::instructions::{Instruction, Program, Trigger, Verify};
use crate::deliver::sender::{Sender, Shared};
use crate::deliver::sign::SigningKey;
use crate::diagnostics::SourceFile;
use crate::span::Span;
use crate::store::Triggers;
use crate::syntax::ast::{Block, Campaign, StepKind};

/// A `trigger webhook_received` route.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The path, e.g. `/hooks/signup`.
    pub path: String,
    /// How it is verified.
    pub verify: Verify,
}

/// One compiled revision, ready to run. The program and source live as long
/// as the server: a revision is loaded once per process (a contact pinned
/// to it may wake at any time), and a `Sender` borrows them.
pub struct Loaded {
    /// The campaign's name.
    pub campaign: String,
    /// Its revision number.
    pub revision: i64,
    /// The program.
    pub program: &'static Program,
    /// The source, where failures point.
    pub source: &'static SourceFile,
    /// Sends its webhooks.
    pub sender: Sender<'static>,
    /// Per wait instruction (its pc), the wait's place in the step tree.
    pub waits: HashMap<u32, String>,
    /// Every step's span and place in the tree.
    pub places: Vec<(Span, String)>,
    /// Its webhook triggers.
    pub hooks: Vec<Hook>,
    /// Whether `trigger contact_added` is among its triggers.
    pub on_contact_added: bool,
    /// Its `trigger tag_added` tags.
    pub on_tags: Vec<String>,
    /// The secret values, by the program's secret index.
    pub secrets: Arc<Vec<String>>,
    /// Standard Webhooks verification keys, decoded once, by secret index.
    pub hook_keys: HashMap<u32, SigningKey>,
    /// A verification secret that is not a key: (its name, why).
    bad_key: Option<(String, String)>,
}

impl Loaded {
    /// Compiles a revision that already passed `check` (its source is
    /// either a file that did, or what the database stored from one).
    pub fn new(
        campaign: &Campaign,
        program: Program,
        source: SourceFile,
        revision: i64,
        secret_values: Vec<String>,
        shared: &Shared,
    ) -> Result<Loaded, crate::deliver::DeliverError> {
        let program: &'static Program = Box::leak(Box::new(program));
        let source: &'static SourceFile = Box::leak(Box::new(source));
        let waits = wait_places(campaign, program).into_iter().collect();
        let places = step_paths(campaign);
        let mut hooks = Vec::new();
        let mut on_contact_added = false;
        let mut on_tags = Vec::new();
        let mut hook_keys = HashMap::new();
        let mut bad_key = None;
        for t in &program.triggers {
            match t {
                Trigger::ContactAdded => on_contact_added = true,
                Trigger::TagAdded(tag) => on_tags.push(tag.clone()),
                Trigger::WebhookReceived { path, verify } => {
                    if let Verify::Standard { secret } = verify {
                        let value = secret_values
                            .get(*secret as usize)
                            .map_or("", String::as_str);
                        match SigningKey::new(value) {
                            Ok(key) => {
                                hook_keys.insert(*secret, key);
                            }
                            Err(e) => {
                                let name = program
                                    .secrets
                                    .get(*secret as usize)
                                    .cloned()
                                    .unwrap_or_default();
                                bad_key = Some((name, e.to_string()));
                            }
                        }
                    }
                    hooks.push(Hook {
                        path: path.clone(),
                        verify: *verify,
                    });
                }
            }
        }
        let secrets = Arc::new(secret_values.clone());
        Ok(Loaded {
            campaign: program.name.clone(),
            revision,
            program,
            source,
            sender: Sender::new(program, source, secret_values, shared)?,
            waits,
            places,
            hooks,
            on_contact_added,
            on_tags,
            secrets,
            hook_keys,
            bad_key,
        })
    }

    /// Refuses a Standard Webhooks secret that is not a `whsec_` key, before
    /// any request is accepted.
    pub fn check_hook_keys(&self) -> Result<(), super::ServeError> {
        match &self.bad_key {
            Some((name, reason)) => Err(super::ServeError::VerifyKey {
                campaign: self.campaign.clone(),
                name: name.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The place in the tree of the smallest step that holds `span`.
    pub fn place_of(&self, span: Span) -> Option<String> {
        innermost(&self.places, span).map(str::to_string)
    }

    /// The wait instruction at place `step` in the tree, if this revision
    /// has a wait there.
    pub fn wait_at(&self, step: &str) -> Option<u32> {
        self.waits
            .iter()
            .find(|(_, s)| s.as_str() == step)
            .map(|(&pc, _)| pc)
    }

    /// A step's place and its first line, for people: `3.if.1 (line 12:
    /// wait 2 days)`.
    pub fn describe_step(&self, step: &str) -> String {
        let Some(pc) = self.wait_at(step) else {
            return step.to_string();
        };
        let span = self.program.span_at(pc as usize);
        let (line, _) = self.source.line_col(span.start);
        let text = self
            .source
            .text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .trim();
        format!("{step} (line {line}: {text})")
    }
}

/// Every wait instruction's pc with the wait's place in the step tree.
pub fn wait_places(campaign: &Campaign, program: &Program) -> Vec<(u32, String)> {
    let paths = step_paths(campaign);
    program
        .code
        .iter()
        .enumerate()
        .filter(|(_, ins)| matches!(ins, Instruction::Wait(_) | Instruction::WaitUntil))
        .filter_map(|(pc, _)| {
            let at = program.span_at(pc);
            innermost(&paths, at).map(|path| (pc as u32, path.to_string()))
        })
        .collect()
}

/// Every step's span with its place in the tree: `3` for the third step of
/// the campaign, `3.if.2` for the second step of the `if` branch of step 3,
/// `3.elif1.1` for the first `else if`, `3.else.1` for the `else`, and
/// `4.split.1` / `4.else.1` for the two sides of a split. The place names
/// the same step in two revisions as long as the steps before it, and the
/// branches around it, are the same in number: that is what `campaign
/// migrate` goes by.
pub fn step_paths(campaign: &Campaign) -> Vec<(Span, String)> {
    fn walk(steps: &[crate::syntax::ast::Step], prefix: &str, out: &mut Vec<(Span, String)>) {
        for (i, step) in steps.iter().enumerate() {
            let path = if prefix.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{prefix}.{}", i + 1)
            };
            out.push((step.span, path.clone()));
            let mut block = |name: &str, b: &Block| walk(&b.steps, &format!("{path}.{name}"), out);
            match &step.kind {
                StepKind::If(x) => {
                    for (k, branch) in x.branches.iter().enumerate() {
                        let name = if k == 0 {
                            "if".to_string()
                        } else {
                            format!("elif{k}")
                        };
                        block(&name, &branch.body);
                    }
                    if let Some(b) = &x.otherwise {
                        block("else", b);
                    }
                }
                StepKind::Split(x) => {
                    block("split", &x.first);
                    block("else", &x.otherwise);
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(&campaign.steps, "", &mut out);
    out
}

/// The place of the smallest step that holds `at`.
fn innermost(paths: &[(Span, String)], at: Span) -> Option<&str> {
    paths
        .iter()
        .filter(|(span, _)| span.start <= at.start && at.start < span.end.max(span.start + 1))
        .min_by_key(|(span, _)| span.end - span.start)
        .map(|(_, path)| path.as_str())
}

/// Every loaded revision, and which is the newest of each campaign.
#[derive(Default)]
pub struct Catalog {
    /// By (campaign, revision).
    pub loaded: HashMap<(String, i64), Arc<Loaded>>,
    /// Campaign name to its newest revision.
    pub current: HashMap<String, i64>,
    /// The file each campaign came from.
    pub files: HashMap<String, PathBuf>,
}

impl Catalog {
    /// The newest revision of `campaign`.
    pub fn current(&self, campaign: &str) -> Option<&Arc<Loaded>> {
        let revision = self.current.get(campaign)?;
        self.loaded.get(&(campaign.to_string(), *revision))
    }

    /// The triggers of every campaign's newest revision.
    pub fn triggers(&self) -> Triggers {
        let mut t = Triggers::default();
        let mut names: Vec<&String> = self.current.keys().collect();
        names.sort();
        for name in names {
            let Some(l) = self.current(name) else {
                continue;
            };
            if l.on_contact_added {
                t.contact_added.push((l.campaign.clone(), l.revision));
            }
            for tag in &l.on_tags {
                t.tag_added
                    .push((tag.clone(), l.campaign.clone(), l.revision));
            }
        }
        t
    }

    /// The campaign and verification of the webhook route `path`.
    pub fn hook(&self, path: &str) -> Option<(Arc<Loaded>, Verify)> {
        let mut names: Vec<&String> = self.current.keys().collect();
        names.sort();
        names.into_iter().find_map(|name| {
            let l = self.current(name)?;
            let hook = l.hooks.iter().find(|h| h.path == path)?;
            Some((l.clone(), hook.verify))
        })
    }
}
