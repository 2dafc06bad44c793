// http-sink.rs -- an HTTP/1.1 sink that only counts: every request is answered
// 200 with a HEC success body, and the lines of the bodies are counted;
// the count is written to COUNTFILE ten times a second.
// Build: rustc -O bench/http-sink.rs -o http-sink; run: http-sink ADDR COUNTFILE
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listener = TcpListener::bind(&args[1]).expect("bind");
    let count = Arc::new(AtomicU64::new(0));
    let (file, c) = (args[2].clone(), count.clone());
    std::thread::spawn(move || loop {
        let _ = std::fs::write(&file, c.load(Ordering::Relaxed).to_string());
        std::thread::sleep(Duration::from_millis(100));
    });
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let count = count.clone();
        std::thread::spawn(move || {
            let mut out = conn.try_clone().expect("clone");
            let mut r = BufReader::with_capacity(1 << 20, conn);
            let reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"text\":\"Success\",\"code\":0}";
            let mut body = Vec::new();
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                body.resize(len, 0);
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                // Newlines, counted in a loop the compiler vectorizes (a
                // split into slices was a third of the sink's time); a last
                // line without one counts too. Sluice sends no empty lines.
                let n = body.iter().filter(|&&b| b == b'\n').count()
                    + usize::from(body.last().is_some_and(|&b| b != b'\n'));
                count.fetch_add(n as u64, Ordering::Relaxed);
                if out.write_all(reply).is_err() {
                    return;
                }
            }
        });
    }
}
