// Renders a .campaign file to HTML with the TextMate grammar, coloured by a
// small theme, for the screenshot in docs/editors.md. The colours come from
// the grammar's scopes alone, as in VS Code: what the picture shows is what
// the grammar does.
//
//   node render.js FILE > out.html     (screenshot.sh takes the picture)
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { loadGrammar, tokenize } = require("./textmate.js");

// Scope prefix -> style, in the spirit of VS Code's One Dark themes. A token
// takes the style of its innermost scope that has one; among the prefixes
// that match a scope, the longest wins.
const THEME = {
  comment: "color:#7f848e;font-style:italic",
  string: "color:#98c379",
  "constant.character.escape": "color:#56b6c2",
  "punctuation.definition.template-expression": "color:#c678dd;font-weight:bold",
  "keyword.operator.pipe": "color:#c678dd",
  "variable.other.field": "color:#e5c07b",
  "support.function.filter": "color:#61afef",
  "punctuation.separator.arguments": "color:#abb2bf",
  "string.quoted.single.argument": "color:#98c379",
  "constant.numeric": "color:#d19a66",
  "keyword.other.unit": "color:#56b6c2",
  "constant.other.timestamp": "color:#d19a66",
  "keyword.control": "color:#c678dd",
  "keyword.other": "color:#c678dd",
  "keyword.other.setting": "color:#e06c75",
  "keyword.operator": "color:#56b6c2",
  "keyword.operator.logical": "color:#c678dd",
  "keyword.operator.word": "color:#c678dd",
  "constant.language": "color:#d19a66",
  "support.function.secret": "color:#61afef",
  "variable.other.constant.secret": "color:#d19a66;font-style:italic",
  "support.type.property-name": "color:#e06c75",
};

function styleOf(scopes) {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const scope = scopes[i];
    let best;
    for (const prefix of Object.keys(THEME)) {
      if ((scope === prefix || scope.startsWith(prefix + ".")) && (!best || prefix.length > best.length)) {
        best = prefix;
      }
    }
    if (best) return THEME[best];
  }
  return null;
}

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node render.js FILE.campaign > out.html");
    process.exit(2);
  }
  const { lines } = tokenize(await loadGrammar(), fs.readFileSync(file, "utf8").replace(/\n$/, ""));
  const body = lines
    .map(({ line, tokens }) => {
      const code = tokens
        .map((t) => {
          const style = styleOf(t.scopes);
          const text = escapeHtml(t.text);
          return style ? `<span style="${style}">${text}</span>` : text;
        })
        .join("");
      return `<span class="n">${line}</span>${code}`;
    })
    .join("\n");
  process.stdout.write(`<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(path.basename(file))}</title>
<style>
  html, body { margin: 0; background: #21252b; }
  .window { margin: 0; background: #282c34; color: #abb2bf; }
  .tab { background: #21252b; color: #d7dae0; font: 13px "DejaVu Sans", sans-serif; padding: 8px 16px; }
  pre { margin: 0; padding: 12px 16px 16px 0; font: 14px/20px "DejaVu Sans Mono", monospace; }
  .n { display: inline-block; width: 3.5em; padding-right: 1.2em; text-align: right; color: #495162; user-select: none; }
</style></head>
<body><div class="window"><div class="tab">${escapeHtml(path.basename(file))}</div>
<pre>${body}</pre></div></body></html>
`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
