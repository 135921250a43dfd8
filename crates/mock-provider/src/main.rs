//! `latticelm-mock [--port N] [--fixtures DIR]`: serves the mock provider
//! and prints `mock listening on http://127.0.0.1:PORT`.

fn main() {
    let mut port = 0u16;
    let mut fixtures = std::path::PathBuf::from("../shared/fixtures");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--fixtures" => fixtures = args.next().map(Into::into).unwrap_or(fixtures),
            _ => {
                eprintln!("usage: latticelm-mock [--port N] [--fixtures DIR]");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        println!(
            "mock listening on http://{}",
            listener.local_addr().expect("addr")
        );
        latticelm_mock::serve(listener, latticelm_mock::State::new(fixtures)).await;
    });
}
