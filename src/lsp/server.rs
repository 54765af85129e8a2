//! The language server: rust-analyzer's `lsp-server` transport and one
//! synchronous loop that handles messages in the order they arrive, so an
//! edit can never race a completion. This file only speaks LSP: it turns
//! UTF-16 positions into byte offsets, calls the analyses of [`super`], and
//! turns their spans back.
//!
//! Diagnostics are debounced: an edit schedules them [`DEBOUNCE`] later,
//! and every message that arrives in the meantime (the rest of a burst of
//! edits) is handled first, so a burst is analysed once, at its end.
//! Requests that need the syntax tree analyse the current text on demand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types as lsp;

use super::knowledge::Knowledge;
use super::lines::Position;
use super::{actions, complete, hover, navigate, symbols, Document};
use crate::diagnostics::{Diagnostic, Severity};
use crate::span::Span;

/// How long after the last edit diagnostics are published.
pub const DEBOUNCE: Duration = Duration::from_millis(120);

/// Why the server stopped other than by `shutdown` and `exit`.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The client broke the protocol (or closed stdin before `initialize`).
    #[error("language server protocol: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    /// Reading or writing stdio failed.
    #[error("language server i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A reply could not be sent: the client went away.
    #[error("the client went away")]
    Gone,
}

/// Serves one client on stdin and stdout until it says `exit` (or closes
/// stdin).
pub fn run_stdio() -> Result<(), ServerError> {
    let (connection, io_threads) = Connection::stdio();
    run(&connection)?;
    drop(connection);
    io_threads.join()?;
    Ok(())
}

/// Serves one client on `connection`.
pub fn run(connection: &Connection) -> Result<(), ServerError> {
    let capabilities = capabilities();
    let init = serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": { "name": "campaign", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, params) = connection.initialize_start()?;
    connection.initialize_finish(id, init)?;
    let params: lsp::InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let snippets = params
        .capabilities
        .text_document
        .as_ref()
        .and_then(|t| t.completion.as_ref())
        .and_then(|c| c.completion_item.as_ref())
        .and_then(|i| i.snippet_support)
        .unwrap_or(false);
    let mut server = Server {
        connection,
        snippets,
        documents: HashMap::new(),
        knowledge: HashMap::new(),
        due: HashMap::new(),
    };
    server.serve()
}

fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        position_encoding: Some(lsp::PositionEncodingKind::UTF16),
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(
            lsp::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lsp::TextDocumentSyncKind::INCREMENTAL),
                save: Some(lsp::TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec!["[".into(), "|".into(), "\"".into(), " ".into()]),
            ..Default::default()
        }),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Options(
            lsp::CodeActionOptions {
                code_action_kinds: Some(vec![lsp::CodeActionKind::QUICKFIX]),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

struct Server<'c> {
    connection: &'c Connection,
    snippets: bool,
    documents: HashMap<lsp::Uri, Document>,
    /// Per folder of open documents.
    knowledge: HashMap<PathBuf, Knowledge>,
    /// Documents whose diagnostics are due, and when.
    due: HashMap<lsp::Uri, Instant>,
}

/// The folder of a `file:` URI's file.
fn folder(uri: &lsp::Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///path` or `file://localhost/path`.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    Path::new(decoded.as_ref()).parent().map(Path::to_path_buf)
}

fn range(doc: &Document, span: Span) -> lsp::Range {
    let convert = |p: Position| lsp::Position::new(p.line, p.character);
    lsp::Range::new(
        convert(doc.position(span.start as usize)),
        convert(doc.position(span.end as usize)),
    )
}

fn offset(doc: &Document, p: lsp::Position) -> usize {
    doc.offset(Position {
        line: p.line,
        character: p.character,
    })
}

/// A diagnostic as LSP has it: the message with the help line after it
/// (LSP has no field for help), the code, and the related places.
pub(crate) fn to_lsp(doc: &Document, uri: &lsp::Uri, d: &Diagnostic) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .related()
        .iter()
        .map(|r| lsp::DiagnosticRelatedInformation {
            location: lsp::Location::new(uri.clone(), range(doc, r.span)),
            message: r.message.clone(),
        })
        .collect();
    lsp::Diagnostic {
        range: range(doc, d.span),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.to_string())),
        source: Some("campaign".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

impl Server<'_> {
    fn serve(&mut self) -> Result<(), ServerError> {
        loop {
            let next = self.due.values().min().copied();
            let message = match next {
                None => match self.connection.receiver.recv() {
                    Ok(m) => m,
                    Err(_) => return Ok(()),
                },
                Some(deadline) => match self.connection.receiver.recv_deadline(deadline) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        self.publish_due()?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                },
            };
            match message {
                Message::Request(request) => {
                    if self.connection.handle_shutdown(&request)? {
                        return Ok(());
                    }
                    let response = self.request(request);
                    self.send(Message::Response(response))?;
                }
                Message::Notification(n) => self.notification(n)?,
                Message::Response(_) => {}
            }
        }
    }

    fn send(&self, message: Message) -> Result<(), ServerError> {
        self.connection
            .sender
            .send(message)
            .map_err(|_| ServerError::Gone)
    }

    fn notify<N: lsp::notification::Notification>(
        &self,
        params: N::Params,
    ) -> Result<(), ServerError> {
        self.send(Message::Notification(Notification::new(
            N::METHOD.to_string(),
            params,
        )))
    }

    /// The knowledge for a document's folder, loading it the first time.
    fn knowledge_for(&mut self, uri: &lsp::Uri) -> Result<(), ServerError> {
        let Some(dir) = folder(uri) else {
            return Ok(());
        };
        if self.knowledge.get(&dir).is_some_and(|k| !k.is_stale(&dir)) {
            return Ok(());
        }
        let knowledge = Knowledge::load(&dir);
        for problem in &knowledge.problems {
            self.notify::<lsp::notification::ShowMessage>(lsp::ShowMessageParams {
                typ: lsp::MessageType::WARNING,
                message: problem.clone(),
            })?;
        }
        // Every open document of the folder is checked against it anew.
        for (other, doc) in self.documents.iter_mut() {
            if folder(other).as_deref() == Some(dir.as_path()) {
                doc.invalidate();
                self.due.entry(other.clone()).or_insert_with(Instant::now);
            }
        }
        self.knowledge.insert(dir, knowledge);
        Ok(())
    }

    fn knowledge(&self, uri: &lsp::Uri) -> Option<&Knowledge> {
        self.knowledge.get(&folder(uri)?)
    }

    fn publish_due(&mut self) -> Result<(), ServerError> {
        let now = Instant::now();
        let due: Vec<lsp::Uri> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(uri, _)| uri.clone())
            .collect();
        for uri in due {
            self.due.remove(&uri);
            self.knowledge_for(&uri)?;
            self.due.remove(&uri);
            self.publish(&uri)?;
        }
        Ok(())
    }

    fn publish(&self, uri: &lsp::Uri) -> Result<(), ServerError> {
        let Some(doc) = self.documents.get(uri) else {
            return Ok(());
        };
        let schema = self.knowledge(uri).and_then(|k| k.schema.as_ref());
        let analysis = doc.analysis(schema);
        let diagnostics = analysis
            .diagnostics
            .iter()
            .map(|d| to_lsp(doc, uri, d))
            .collect();
        self.notify::<lsp::notification::PublishDiagnostics>(lsp::PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics,
            version: Some(doc.version),
        })
    }

    fn notification(&mut self, n: Notification) -> Result<(), ServerError> {
        use lsp::notification::*;
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params)
                else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                self.documents.insert(
                    uri.clone(),
                    Document::new(p.text_document.text, p.text_document.version),
                );
                self.knowledge_for(&uri)?;
                self.due.insert(uri, Instant::now());
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params)
                else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                let Some(doc) = self.documents.get_mut(&uri) else {
                    return Ok(());
                };
                for change in p.content_changes {
                    let range = change.range.map(|r| {
                        let convert = |p: lsp::Position| Position {
                            line: p.line,
                            character: p.character,
                        };
                        (convert(r.start), convert(r.end))
                    });
                    doc.edit(range, &change.text);
                }
                doc.version = p.text_document.version;
                self.due.insert(uri, Instant::now() + DEBOUNCE);
            }
            DidSaveTextDocument::METHOD => {
                // A saved settings, contacts or env file is noticed here.
                if let Ok(p) = serde_json::from_value::<lsp::DidSaveTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri;
                    let open: Vec<lsp::Uri> = self.documents.keys().cloned().collect();
                    for other in open {
                        if folder(&other).is_some() {
                            self.knowledge_for(&other)?;
                        }
                    }
                    if self.documents.contains_key(&uri) {
                        self.due.entry(uri).or_insert_with(Instant::now);
                    }
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri;
                    self.documents.remove(&uri);
                    self.due.remove(&uri);
                    self.notify::<PublishDiagnostics>(lsp::PublishDiagnosticsParams {
                        uri,
                        diagnostics: Vec::new(),
                        version: None,
                    })?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn request(&mut self, request: Request) -> Response {
        use lsp::request::*;
        let id = request.id.clone();
        let result = match request.method.as_str() {
            Completion::METHOD => self.answer(request, |s, p: lsp::CompletionParams| {
                s.completion(&p.text_document_position)
            }),
            HoverRequest::METHOD => self.answer(request, |s, p: lsp::HoverParams| {
                s.hover(&p.text_document_position_params)
            }),
            GotoDefinition::METHOD => self.answer(request, |s, p: lsp::GotoDefinitionParams| {
                s.definition(&p.text_document_position_params)
            }),
            References::METHOD => self.answer(request, |s, p: lsp::ReferenceParams| {
                s.references(&p.text_document_position, p.context.include_declaration)
            }),
            DocumentSymbolRequest::METHOD => self
                .answer(request, |s, p: lsp::DocumentSymbolParams| {
                    s.symbols(&p.text_document.uri)
                }),
            CodeActionRequest::METHOD => {
                self.answer(request, |s, p: lsp::CodeActionParams| s.code_actions(&p))
            }
            Formatting::METHOD => {
                serde_json::from_value::<lsp::DocumentFormattingParams>(request.params)
                    .map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
                    .and_then(|p| self.formatting(&p.text_document.uri))
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("unknown method {}", request.method),
            )),
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    /// Decodes the params, runs `f`, encodes its answer.
    fn answer<P, R>(
        &mut self,
        request: Request,
        f: impl FnOnce(&mut Self, P) -> R,
    ) -> Result<serde_json::Value, (ErrorCode, String)>
    where
        P: serde::de::DeserializeOwned,
        R: serde::Serialize,
    {
        let params: P = serde_json::from_value(request.params)
            .map_err(|e| (ErrorCode::InvalidParams, e.to_string()))?;
        serde_json::to_value(f(self, params)).map_err(|e| (ErrorCode::InternalError, e.to_string()))
    }

    fn document(&self, uri: &lsp::Uri) -> Option<&Document> {
        self.documents.get(uri)
    }

    fn completion(
        &mut self,
        at: &lsp::TextDocumentPositionParams,
    ) -> Option<lsp::CompletionResponse> {
        let uri = &at.text_document.uri;
        let doc = self.document(uri)?;
        let offset = offset(doc, at.position);
        let empty = Knowledge::default();
        let knowledge = self.knowledge(uri).unwrap_or(&empty);
        let items = complete::complete(doc.text(), offset, knowledge, self.snippets)
            .into_iter()
            .map(|item| lsp::CompletionItem {
                label: item.label.clone(),
                kind: Some(match item.kind {
                    complete::ItemKind::Keyword => lsp::CompletionItemKind::KEYWORD,
                    complete::ItemKind::Snippet => lsp::CompletionItemKind::SNIPPET,
                    complete::ItemKind::Field => lsp::CompletionItemKind::FIELD,
                    complete::ItemKind::Filter => lsp::CompletionItemKind::FUNCTION,
                    complete::ItemKind::Secret => lsp::CompletionItemKind::CONSTANT,
                }),
                detail: item.detail,
                documentation: item.documentation.map(|value| {
                    lsp::Documentation::MarkupContent(lsp::MarkupContent {
                        kind: lsp::MarkupKind::Markdown,
                        value,
                    })
                }),
                insert_text_format: Some(if item.snippet {
                    lsp::InsertTextFormat::SNIPPET
                } else {
                    lsp::InsertTextFormat::PLAIN_TEXT
                }),
                text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit::new(
                    range(doc, item.replace),
                    item.insert,
                ))),
                ..Default::default()
            })
            .collect();
        Some(lsp::CompletionResponse::Array(items))
    }

    fn hover(&mut self, at: &lsp::TextDocumentPositionParams) -> Option<lsp::Hover> {
        let uri = &at.text_document.uri;
        let doc = self.document(uri)?;
        let offset = offset(doc, at.position);
        let empty = Knowledge::default();
        let knowledge = self.knowledge(uri).unwrap_or(&empty);
        let found = hover::hover(doc.text(), offset, knowledge)?;
        Some(lsp::Hover {
            contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: found.markdown,
            }),
            range: Some(range(doc, found.span)),
        })
    }

    /// The named places of a document's tree, and the one at `at`.
    fn named(
        &self,
        at: &lsp::TextDocumentPositionParams,
    ) -> Option<(Vec<navigate::Occurrence>, navigate::Target)> {
        let uri = &at.text_document.uri;
        let doc = self.document(uri)?;
        let schema = self.knowledge(uri).and_then(|k| k.schema.as_ref());
        let campaign = doc.analysis(schema).campaign.as_ref()?;
        let all = navigate::occurrences(campaign);
        let target = navigate::at(&all, offset(doc, at.position))?.target.clone();
        Some((all, target))
    }

    fn locations(&self, uri: &lsp::Uri, spans: Vec<Span>) -> Vec<lsp::Location> {
        let Some(doc) = self.document(uri) else {
            return Vec::new();
        };
        spans
            .into_iter()
            .map(|s| lsp::Location::new(uri.clone(), range(doc, s)))
            .collect()
    }

    fn definition(
        &mut self,
        at: &lsp::TextDocumentPositionParams,
    ) -> Option<lsp::GotoDefinitionResponse> {
        let (all, target) = self.named(at)?;
        let spans = navigate::definitions(&all, &target);
        let locations = self.locations(&at.text_document.uri, spans);
        (!locations.is_empty()).then_some(lsp::GotoDefinitionResponse::Array(locations))
    }

    fn references(
        &mut self,
        at: &lsp::TextDocumentPositionParams,
        declarations: bool,
    ) -> Option<Vec<lsp::Location>> {
        let (all, target) = self.named(at)?;
        let spans = navigate::references(&all, &target, declarations);
        Some(self.locations(&at.text_document.uri, spans))
    }

    fn symbols(&mut self, uri: &lsp::Uri) -> Option<lsp::DocumentSymbolResponse> {
        let doc = self.document(uri)?;
        let schema = self.knowledge(uri).and_then(|k| k.schema.as_ref());
        let campaign = doc.analysis(schema).campaign.as_ref()?;
        #[allow(deprecated)] // `deprecated` is a field LSP keeps for old clients.
        fn convert(doc: &Document, s: symbols::Symbol) -> lsp::DocumentSymbol {
            lsp::DocumentSymbol {
                name: s.name,
                detail: s.detail,
                kind: match s.kind {
                    symbols::SymbolKind::Campaign => lsp::SymbolKind::MODULE,
                    symbols::SymbolKind::Webhook => lsp::SymbolKind::FUNCTION,
                    symbols::SymbolKind::Goal => lsp::SymbolKind::EVENT,
                    symbols::SymbolKind::Wait => lsp::SymbolKind::CONSTANT,
                    symbols::SymbolKind::If | symbols::SymbolKind::Split => {
                        lsp::SymbolKind::NAMESPACE
                    }
                },
                tags: None,
                deprecated: None,
                range: range(doc, s.span),
                selection_range: range(doc, s.selection),
                children: Some(s.children.into_iter().map(|c| convert(doc, c)).collect()),
            }
        }
        let outline = symbols::outline(doc.text(), campaign)
            .into_iter()
            .map(|s| convert(doc, s))
            .collect();
        Some(lsp::DocumentSymbolResponse::Nested(outline))
    }

    /// The whole document as `campaign fmt` writes it, one edit (none
    /// when it is formatted already). A file with syntax errors is not
    /// formatted: the request fails, naming the first error (its
    /// diagnostics are already shown).
    fn formatting(&mut self, uri: &lsp::Uri) -> Result<serde_json::Value, (ErrorCode, String)> {
        let Some(doc) = self.document(uri) else {
            return Ok(serde_json::Value::Null);
        };
        match super::format(doc.text()) {
            Ok(None) => Ok(serde_json::json!([])),
            Ok(Some(formatted)) => {
                let whole = Span::new(0, doc.text().len());
                let edit = lsp::TextEdit::new(range(doc, whole), formatted);
                serde_json::to_value(vec![edit])
                    .map_err(|e| (ErrorCode::InternalError, e.to_string()))
            }
            Err(errors) => {
                let first = errors.first().map_or(String::new(), |d| {
                    let line = doc.position(d.span.start as usize).line + 1;
                    format!(": line {line}: {}", d.message)
                });
                Err((
                    ErrorCode::RequestFailed,
                    format!("not formatted: the file has syntax errors{first}"),
                ))
            }
        }
    }

    fn code_actions(&mut self, p: &lsp::CodeActionParams) -> Option<lsp::CodeActionResponse> {
        let uri = &p.text_document.uri;
        let doc = self.document(uri)?;
        let schema = self.knowledge(uri).and_then(|k| k.schema.as_ref());
        let analysis = doc.analysis(schema);
        let asked = Span::new(offset(doc, p.range.start), offset(doc, p.range.end));
        let actions = actions::quick_fixes(&analysis.diagnostics, asked)
            .into_iter()
            .map(|(d, fix)| {
                let edit = lsp::TextEdit::new(range(doc, fix.span), fix.replacement.clone());
                lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
                    title: fix.title.clone(),
                    kind: Some(lsp::CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![to_lsp(doc, uri, d)]),
                    edit: Some(lsp::WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                        ..Default::default()
                    }),
                    is_preferred: Some(true),
                    ..Default::default()
                })
            })
            .collect();
        Some(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_server::RequestId;

    fn id(n: i32) -> RequestId {
        RequestId::from(n)
    }

    /// The loop in memory: an edit burst is analysed once, at its end.
    #[test]
    fn a_burst_of_edits_publishes_once() {
        let (server, client) = Connection::memory();
        let thread = std::thread::spawn(move || run(&server));
        let request =
            |n, method: &str, params| Message::Request(Request::new(id(n), method.into(), params));
        let notify =
            |method: &str, params| Message::Notification(Notification::new(method.into(), params));
        client
            .sender
            .send(request(
                1,
                "initialize",
                serde_json::json!({ "capabilities": {} }),
            ))
            .unwrap();
        let Message::Response(r) = client.receiver.recv().unwrap() else {
            panic!("expected the initialize response")
        };
        let result = r.response_result.unwrap();
        assert_eq!(result["capabilities"]["hoverProvider"], true, "{result}");
        client
            .sender
            .send(notify("initialized", serde_json::json!({})))
            .unwrap();
        let uri = "untitled:burst.campaign";
        client
            .sender
            .send(notify(
                "textDocument/didOpen",
                serde_json::json!({ "textDocument": { "uri": uri, "languageId": "campaign", "version": 1, "text": "campaign \"C\" {\n}\n" } }),
            ))
            .unwrap();
        for version in 2..12 {
            client
                .sender
                .send(notify(
                    "textDocument/didChange",
                    serde_json::json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [ { "range": { "start": { "line": 1, "character": 0 }, "end": { "line": 1, "character": 0 } }, "text": "s" } ] }),
                ))
                .unwrap();
        }
        let mut published = Vec::new();
        while let Ok(Message::Notification(n)) = client.receiver.recv_timeout(DEBOUNCE * 4) {
            published.push(n.params["version"].as_i64().unwrap());
        }
        // However the open and the burst interleave with the loop, the
        // burst is analysed once, at its end.
        assert_eq!(published.last(), Some(&11), "{published:?}");
        assert!(published.len() <= 2, "{published:?}");
        client
            .sender
            .send(request(2, "shutdown", serde_json::Value::Null))
            .unwrap();
        let _ = client.receiver.recv();
        client
            .sender
            .send(notify("exit", serde_json::Value::Null))
            .unwrap();
        thread.join().unwrap().unwrap();
    }
}
