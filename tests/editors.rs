//! The VS Code extension's TextMate grammar, tested as VS Code loads it: the
//! node script `editors/vscode/test/grammar.test.js` tokenises every example
//! with the `vscode-textmate` and `vscode-oniguruma` packages and checks the
//! scopes of chosen tokens. This test runs that script, so `cargo test` (and
//! CI) covers the grammar too.
//!
//! The packages come from `npm ci` in `editors/vscode` (`.ci/run` runs it).
//! Without them the test prints a note and passes on a developer's machine,
//! and fails when `CI` is set, so that CI never skips it silently.

use std::path::Path;
use std::process::Command;

#[test]
fn textmate_grammar_scopes_every_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    if !dir.join("node_modules").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but editors/vscode/node_modules is missing: the grammar test must run in \
             CI (.ci/run runs `npm ci` in editors/vscode)"
        );
        eprintln!(
            "note: editors/vscode/node_modules is missing: skipping the TextMate grammar test \
             (`cd editors/vscode && npm ci` installs what it needs)"
        );
        return;
    }
    let output = Command::new("node")
        .arg("test/grammar.test.js")
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (needed for the grammar test): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the grammar test failed ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // node's test runner ends with its counts (TAP): some ran, none failed.
    let count = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no `{key}` line in the grammar test's output:\n{stdout}"))
    };
    assert!(
        count("# pass ") > 0,
        "the grammar test ran nothing:\n{stdout}"
    );
    assert_eq!(count("# fail "), 0, "{stdout}");
}
