// Tokenises every example, fuzz seed and diagnostics fixture with the
// TextMate grammar, as VS Code would, and checks the scopes of the tokens a
// reader's eye relies on. Run by `cargo test --test editors` (tests/editors.rs)
// or directly: `node test/grammar.test.js` in editors/vscode.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { loadGrammar, tokenize } = require("../textmate.js");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const FIXTURE = path.join(ROOT, "editors", "highlight.campaign");

function campaignFiles(dir) {
  return fs
    .readdirSync(path.join(ROOT, dir))
    .filter((name) => name.endsWith(".campaign"))
    .sort()
    .map((name) => path.join(ROOT, dir, name));
}

const grammarReady = loadGrammar();

/**
 * The token whose text is `token`, at its `nth` occurrence (from 0) on the
 * first line of `file` that contains `line`.
 */
async function tokenAt(file, line, token, nth = 0) {
  const { lines } = tokenize(await grammarReady, fs.readFileSync(file, "utf8"));
  const found = lines.find((l) => l.text.includes(line));
  assert.ok(found, `no line of ${path.basename(file)} contains ${JSON.stringify(line)}`);
  const matches = found.tokens.filter((t) => t.text.trim() === token);
  assert.ok(
    matches.length > nth,
    `line ${found.line} has no token ${JSON.stringify(token)} (#${nth}); its tokens: ` +
      JSON.stringify(found.tokens.map((t) => t.text)),
  );
  return matches[nth];
}

/** Asserts that the token carries every scope in `scopes`, and none in `not`. */
async function expectScopes(file, line, token, scopes, { nth = 0, not = [] } = {}) {
  const t = await tokenAt(file, line, token, nth);
  for (const scope of scopes) {
    assert.ok(t.scopes.includes(scope), `${JSON.stringify(token)} on ${JSON.stringify(line)}: ${scope} missing from ${t.scopes.join(" ")}`);
  }
  for (const scope of not) {
    assert.ok(
      !t.scopes.some((s) => s.startsWith(scope)),
      `${JSON.stringify(token)} on ${JSON.stringify(line)}: unexpected ${scope} in ${t.scopes.join(" ")}`,
    );
  }
}

const everyFile = [
  ...campaignFiles("examples"),
  ...campaignFiles(path.join("fuzz", "seeds")),
  ...campaignFiles(path.join("fuzz", "fixtures")),
  ...campaignFiles("benches"),
  ...campaignFiles(path.join("tests", "diagnostics")),
  FIXTURE,
];

test("every example, seed and fixture tokenises", async () => {
  const grammar = await grammarReady;
  assert.ok(everyFile.length > 10, `only ${everyFile.length} files found under ${ROOT}`);
  for (const file of everyFile) {
    const { lines, depth } = tokenize(grammar, fs.readFileSync(file, "utf8"));
    assert.ok(lines.length > 0, file);
    // A file that parses leaves no rule open at its end, and none of its
    // tokens is marked invalid (a fixture may be wrong on purpose).
    if (!path.basename(file).startsWith("err_")) {
      assert.equal(depth, 1, `${file}: a rule is still open at the end of the file`);
      for (const l of lines) {
        for (const t of l.tokens) {
          assert.ok(
            !t.scopes.some((s) => s.startsWith("invalid")),
            `${file}:${l.line}: ${JSON.stringify(t.text)} is ${t.scopes.join(" ")}`,
          );
        }
      }
    }
  }
});

test("a merge inside a URL string", async () => {
  const line = 'url "https://app.example.com/people/[Contact ID]';
  const merge = ["string.quoted.double.campaign", "meta.template.expression.merge.campaign"];
  await expectScopes(FIXTURE, line, "Contact ID", [...merge, "variable.other.field.campaign"]);
  await expectScopes(FIXTURE, line, "[", [...merge, "punctuation.definition.template-expression.begin.campaign"]);
  await expectScopes(FIXTURE, line, "|", [...merge, "keyword.operator.pipe.campaign"]);
  await expectScopes(FIXTURE, line, "default", [...merge, "support.function.filter.campaign"]);
  await expectScopes(FIXTURE, line, "web", [...merge, "string.quoted.single.argument.campaign"]);
  // The text around the merges is the string, not a merge.
  await expectScopes(FIXTURE, line, "https://app.example.com/people/", ["string.quoted.double.campaign"], {
    not: ["meta.template", "comment"],
  });
  // And in the shipped example, too.
  await expectScopes(
    path.join(ROOT, "examples", "new-lead-welcome.campaign"),
    'url "https://crm.example.com/contacts?src=[Lead Source]"',
    "Lead Source",
    ["string.quoted.double.campaign", "variable.other.field.campaign"],
  );
});

test("a comment after a URL with // in it", async () => {
  const line = "// the // in the URL is not a comment";
  const t = await tokenAt(FIXTURE, line, "//");
  assert.ok(t.scopes.includes("punctuation.definition.comment.campaign"), t.scopes.join(" "));
  // The comment starts after the string, not at the URL's `//`.
  const { lines } = tokenize(await grammarReady, fs.readFileSync(FIXTURE, "utf8"));
  const found = lines.find((l) => l.text.includes(line));
  const comment = found.text.indexOf("// the");
  for (const tok of found.tokens) {
    const isComment = tok.scopes.includes("comment.line.double-slash.campaign");
    assert.equal(isComment, tok.start >= comment, `${JSON.stringify(tok.text)} at ${tok.start}: ${tok.scopes.join(" ")}`);
  }
});

test("a secret", async () => {
  const line = 'header "Authorization" = "Bearer " + secret("API_TOKEN")';
  await expectScopes(FIXTURE, line, "secret", ["support.function.secret.campaign"]);
  await expectScopes(FIXTURE, line, "API_TOKEN", ["variable.other.constant.secret.campaign"], { not: ["meta.template"] });
  await expectScopes(FIXTURE, line, "+", ["keyword.operator.concatenation.campaign"]);
  await expectScopes(FIXTURE, "verify standard secret", "SIGNUP_SECRET", ["variable.other.constant.secret.campaign"]);
});

test("durations, rates and numbers", async () => {
  await expectScopes(FIXTURE, "timeout 5s", "5", ["constant.numeric.duration.campaign"]);
  await expectScopes(FIXTURE, "timeout 5s", "s", ["keyword.other.unit.campaign"]);
  await expectScopes(FIXTURE, "wait 2 days", "2", ["constant.numeric.duration.campaign"]);
  await expectScopes(FIXTURE, "wait 2 days", "days", ["keyword.other.unit.campaign"]);
  await expectScopes(FIXTURE, "wait 2 days", "wait", ["keyword.control.campaign"]);
  await expectScopes(FIXTURE, "rate 10/s", "10", ["constant.numeric.campaign"]);
  await expectScopes(FIXTURE, "retry 3", "3", ["constant.numeric.campaign"]);
  await expectScopes(FIXTURE, "retry 3", "retry", ["keyword.other.setting.campaign"]);
  // A misspelt unit is not dressed up as one.
  await expectScopes(
    path.join(ROOT, "tests", "diagnostics", "err_syntax_unit.campaign"),
    "wait 2 dayz",
    "2",
    ["constant.numeric.campaign"],
    { not: ["constant.numeric.duration"] },
  );
});

test("filter arguments", async () => {
  const line = "note \"Called [Phone | replace: '-', ' ']";
  await expectScopes(FIXTURE, line, "replace", ["support.function.filter.campaign"]);
  await expectScopes(FIXTURE, line, ":", ["punctuation.separator.arguments.campaign"]);
  await expectScopes(FIXTURE, line, "-", ["string.quoted.single.argument.campaign"]);
  await expectScopes(FIXTURE, line, ",", ["punctuation.separator.comma.campaign"]);
  await expectScopes(FIXTURE, line, "20", ["constant.numeric.argument.campaign", "meta.template.expression.merge.campaign"]);
  await expectScopes(FIXTURE, line, "truncate", ["support.function.filter.campaign"]);
  // An escaped bracket is text: no merge starts there.
  await expectScopes(FIXTURE, line, "\\[", ["constant.character.escape.campaign"], { not: ["meta.template"] });
  await expectScopes(FIXTURE, line, "not a merge", ["string.quoted.double.campaign"], { not: ["meta.template"] });
});

test("keywords, methods and conditions", async () => {
  await expectScopes(FIXTURE, "method PUT", "PUT", ["constant.language.http-method.campaign"]);
  await expectScopes(FIXTURE, 'webhook "Sync"', "webhook", ["keyword.other.campaign"]);
  await expectScopes(FIXTURE, "trigger webhook_received", "webhook_received", ["constant.language.trigger.campaign"]);
  const cond = 'if [Country] == "US" and';
  await expectScopes(FIXTURE, cond, "if", ["keyword.control.campaign"]);
  await expectScopes(FIXTURE, cond, "Country", ["variable.other.field.campaign"], { not: ["string"] });
  await expectScopes(FIXTURE, cond, "==", ["keyword.operator.comparison.campaign"]);
  await expectScopes(FIXTURE, cond, "and", ["keyword.operator.logical.campaign"]);
  await expectScopes(FIXTURE, cond, "50", ["constant.numeric.campaign"]);
});

test("a JSON body", async () => {
  await expectScopes(FIXTURE, '"name": "[First Name]', "name", ["support.type.property-name.json.campaign"]);
  await expectScopes(FIXTURE, '"name": "[First Name]', "First Name", ["variable.other.field.campaign"], {
    not: ["support.type.property-name"],
  });
  await expectScopes(FIXTURE, '"email": [Email]', "Email", ["variable.other.field.campaign"], { not: ["meta.structure.array"] });
  await expectScopes(FIXTURE, '"tags": ["lead", "web"]', "lead", ["meta.structure.array.json.campaign", "string.quoted.double.campaign"], {
    not: ["meta.template"],
  });
  await expectScopes(FIXTURE, '"vip": true', "true", ["constant.language.json.campaign"]);
  // The block after the body is back to settings.
  await expectScopes(FIXTURE, "timeout 5s", "timeout", ["keyword.other.setting.campaign"], { not: ["meta.structure"] });
});

test("a JSON body on the line after `json`", async () => {
  const line = '{"id": [Contact ID], "tags": ["lead"]}';
  await expectScopes(FIXTURE, line, "id", ["support.type.property-name.json.campaign"]);
  await expectScopes(FIXTURE, line, "Contact ID", ["meta.structure.dictionary.json.campaign", "variable.other.field.campaign"]);
  await expectScopes(FIXTURE, line, "lead", ["meta.structure.array.json.campaign", "string.quoted.double.campaign"], {
    not: ["meta.template"],
  });
  await expectScopes(FIXTURE, "retry 2", "retry", ["keyword.other.setting.campaign"], { not: ["meta.structure"] });
  await expectScopes(FIXTURE, "retry 2", "2", ["constant.numeric.campaign"], { not: ["meta.structure"] });
});
