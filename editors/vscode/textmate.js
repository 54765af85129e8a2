// Loads the TextMate grammar the way VS Code does (vscode-textmate over the
// Oniguruma regex engine compiled to WebAssembly) and tokenises text with it.
// Shared by the grammar test and the screenshot renderer.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const GRAMMAR = path.join(__dirname, "syntaxes", "campaign.tmLanguage.json");

/** The grammar, loaded once per process. */
async function loadGrammar() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.campaign") return null;
      return vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, "utf8"), GRAMMAR);
    },
  });
  return registry.loadGrammar("source.campaign");
}

/**
 * Every line's tokens: `{ line, text, tokens: [{ text, start, end, scopes }] }`,
 * and the rule stack left after the last line (INITIAL's depth is 1).
 */
function tokenize(grammar, source) {
  let stack = vsctm.INITIAL;
  const lines = source.split(/\r?\n/).map((text, index) => {
    const result = grammar.tokenizeLine(text, stack);
    stack = result.ruleStack;
    const tokens = result.tokens.map((t) => ({
      text: text.slice(t.startIndex, t.endIndex),
      start: t.startIndex,
      end: t.endIndex,
      scopes: t.scopes,
    }));
    return { line: index + 1, text, tokens };
  });
  return { lines, depth: stack.depth };
}

module.exports = { loadGrammar, tokenize };
