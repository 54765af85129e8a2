// Starts `campaign lsp` (a stdio language server that takes no arguments)
// for every .campaign file. Highlighting needs none of this: it comes from
// the TextMate grammar that package.json contributes.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

async function startClient() {
  const command = vscode.workspace
    .getConfiguration("campaign")
    .get("server.path", "campaign");
  // No `transport`: stdio is the default for an executable, and naming it
  // would make the client append `--stdio`, which `campaign lsp` does not take.
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "campaign",
    "Campaign language server",
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: "file", language: "campaign" },
        { scheme: "untitled", language: "campaign" },
      ],
      synchronize: {
        // The workspace settings, contacts sample and env file the server reads.
        fileEvents: vscode.workspace.createFileSystemWatcher("**/{campaign.toml,.env,*.csv}"),
      },
    },
  );
  try {
    await client.start();
  } catch (error) {
    vscode.window.showErrorMessage(
      `Could not start \`${command} lsp\`: ${error.message}. ` +
        "Install campaign (`cargo install --path .` in its checkout) or set `campaign.server.path`.",
    );
  }
}

async function stopClient() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("campaign.server.path")) {
        await stopClient();
        await startClient();
      }
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
