//! A library user may compile on several threads at once. pest keeps its
//! call limit and error detail in process-wide settings, and each parse sets
//! them for its own source: two parses at once must still each get exactly
//! the results they get alone.

use std::sync::atomic::{AtomicBool, Ordering};

/// A large file (parsed in pieces, on several threads) whose syntax error
/// is at the end: finding it takes a whole-file parse with error detail
/// on, and a call limit sized for the whole file.
fn large_with_error() -> String {
    let step = "    webhook \"W\" {\n        url \"https://a.example/[Id]\"\n        post \"a=[A]&b=2\"\n    }\n    if [A] == \"1\" and not [B] is empty { tag add \"x\" } else { note \"n [C | upper]\" }\n";
    format!(
        "campaign \"L\" {{\n{}    if [A] == {{ stop }}\n}}\n",
        step.repeat(1500)
    )
}

#[test]
fn two_threads_compiling_at_once_get_what_one_thread_gets() {
    let large = large_with_error();
    let small = [
        "campaign \"S\" {\n    note \"hi [First Name | default: 'x']\"\n    tag add \"t\"\n}\n".to_string(),
        "campaign \"E\" {\n    if [A] = 1 { stop }\n}\n".to_string(),
        "campaign \"F\" {\n    webhook \"W\" { url \"https://a.example\" retry 500 }\n    tagg add \"x\"\n}\n".to_string(),
    ];
    let alone = |source: &str| format!("{:?}", campaign::diagnose(source, None));
    let expected_large = alone(&large);
    let expected_small: Vec<String> = small.iter().map(|s| alone(s)).collect();
    assert!(
        expected_large.contains("campaign::syntax::unexpected"),
        "{expected_large}"
    );
    assert!(!expected_large.contains("too_complex"), "{expected_large}");
    assert!(expected_small[1].contains("campaign::syntax::unexpected"));
    let done = AtomicBool::new(false);
    // Differences are counted, not asserted, inside the threads: a failed
    // assertion in one would leave the other looping for ever.
    let (large_differs, (runs, small_differs)) = std::thread::scope(|scope| {
        let small_thread = scope.spawn(|| {
            let (mut runs, mut differs) = (0, Vec::new());
            while !done.load(Ordering::Relaxed) || runs < 50 {
                for (source, expected) in small.iter().zip(&expected_small) {
                    let got = alone(source);
                    if &got != expected {
                        differs.push(got);
                    }
                }
                runs += 1;
            }
            (runs, differs)
        });
        let large_differs: Vec<String> = (0..15)
            .map(|_| alone(&large))
            .filter(|got| *got != expected_large)
            .collect();
        done.store(true, Ordering::Relaxed);
        (large_differs, small_thread.join().unwrap())
    });
    assert!(runs >= 50);
    assert_eq!(
        large_differs,
        Vec::<String>::new(),
        "large file, expected {expected_large}"
    );
    assert_eq!(small_differs, Vec::<String>::new(), "small files");
}
