//! Waits until benches/delivery's `server` has answered COUNT requests
//! (polling its `GET /stats` every 2 ms) and prints the Unix time in
//! milliseconds at which it first saw that many; exits 1 after TIMEOUT
//! seconds.
//!
//! Usage: until PORT COUNT TIMEOUT_S

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn served(port: u16) -> Option<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    reply.lines().last()?.trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: until PORT COUNT TIMEOUT_S");
        std::process::exit(2);
    }
    let port: u16 = args[0].parse().expect("PORT");
    let count: u64 = args[1].parse().expect("COUNT");
    let deadline = Instant::now() + Duration::from_secs(args[2].parse().expect("TIMEOUT_S"));
    loop {
        if served(port).is_some_and(|n| n >= count) {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            println!("{ms}");
            return;
        }
        if Instant::now() > deadline {
            eprintln!("until: {count} not reached; last {:?}", served(port));
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
