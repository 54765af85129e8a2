//! One rate syntax: every rate a script's `rate` setting accepts, `--rate`
//! accepts with the same meaning, and every rate one refuses, the other
//! refuses, checked both ways from one list (and from generated text).

mod support;

use std::time::Duration;

use campaign::deliver::rate::parse_rate;
use campaign::syntax::units::RATE_UNITS;
use proptest::prelude::*;
use support::{command, write, Server};

/// What a script makes of `rate TEXT`: the (count, period in ms) it
/// compiles to, or `None` when it is refused.
fn in_a_script(text: &str) -> Option<(u32, u64)> {
    let source = format!(
        "campaign \"T\" {{\n    webhook \"W\" {{\n        url \"https://x.example.com\"\n        rate {text}\n    }}\n}}\n"
    );
    let compiled = campaign::compile(&source, None).ok()?;
    compiled.program.webhooks[0].rate
}

/// What `--rate TEXT` makes of it.
fn on_the_command_line(text: &str) -> Option<(u32, u64)> {
    parse_rate(text)
        .ok()
        .map(|r| (r.count, u64::try_from(r.per.as_millis()).unwrap()))
}

/// Counts and units, good and bad, joined every way.
fn texts() -> Vec<String> {
    let counts = [
        "0",
        "1",
        "10",
        "600",
        "4294967295",
        "4294967296",
        "99999999999",
        "+5",
        "-1",
        "1.5",
        "x",
        "",
    ];
    let mut units: Vec<&str> = RATE_UNITS.to_vec();
    units.extend(["S", "Hours", "fortnight", "hr", "secs", "mins", "s/s", ""]);
    let mut texts = Vec::new();
    for count in counts {
        for unit in &units {
            for (before, after) in [("", ""), (" ", ""), ("", " "), (" ", " ")] {
                texts.push(format!("{count}{before}/{after}{unit}"));
            }
        }
        texts.push(count.to_string());
    }
    texts
}

#[test]
fn the_script_and_the_command_line_read_every_rate_alike() {
    let mut accepted = 0;
    for text in texts() {
        let script = in_a_script(&text);
        let cli = on_the_command_line(&text);
        assert_eq!(
            script, cli,
            "rate {text:?}: script {script:?}, --rate {cli:?}"
        );
        accepted += usize::from(cli.is_some());
    }
    // Every unit, with each count that is a rate, in four spacings.
    assert_eq!(accepted, RATE_UNITS.len() * 4 * 4);
    assert_eq!(on_the_command_line("10/hours"), Some((10, 3_600_000)));
    assert_eq!(in_a_script("10/hours"), Some((10, 3_600_000)));
}

proptest! {
    /// Generated text made of digits, letters, `/` and spaces: the two
    /// readers agree on all of it.
    #[test]
    fn generated_rates_are_read_alike(text in "[0-9]{0,11}[ ]?/?[ ]?[a-zA-Z]{0,12}") {
        prop_assert_eq!(in_a_script(&text), on_the_command_line(&text), "{:?}", text);
    }
}

#[test]
fn the_binary_takes_any_rate_a_script_takes() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "c.campaign",
        format!(
            "campaign \"T\" {{\n    webhook \"W\" {{\n        url \"{}\"\n        rate 10/hours\n    }}\n}}\n",
            server.url("/ok")
        ),
    );
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    let run = |rate: &str| {
        command(
            dir.path(),
            &["run", "c.campaign", "--contacts", "c.csv", "--rate", rate],
        )
        .output()
        .unwrap()
    };
    let o = run("10/hours");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(server.seen().len(), 1);
    let o = run("10/fortnight");
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--rate: invalid rate `10/fortnight`: unknown unit `fortnight`"),
        "{stderr}"
    );
    assert_eq!(server.seen().len(), 1, "nothing more was sent");
    assert_eq!(
        parse_rate("10/hours").map(|r| r.per),
        Ok(Duration::from_secs(3600))
    );
}
