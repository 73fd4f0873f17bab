//! An S3-compatible server on loopback for the storage tests: moto's server mode, from the
//! project's virtualenv (`scripts/dev-db.sh s3`, which `make test` runs), one per test,
//! stopped when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A running S3-compatible server with one bucket.
#[derive(Debug)]
pub struct S3Server {
    _child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The bucket made for the test.
    pub bucket: String,
}

impl S3Server {
    /// Starts moto on a free loopback port and makes a bucket.
    ///
    /// # Panics
    /// When moto is not installed or does not start.
    pub async fn start() -> Self {
        let binary =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/s3/venv/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: `scripts/dev-db.sh s3` installs it (make test does)",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let started = Instant::now();
        while client.get(&endpoint).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bucket = "chat-files".to_owned();
        let resp = client
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .expect("create the bucket");
        assert!(resp.status().is_success(), "create the bucket: {resp:?}");
        Self {
            _child: child,
            endpoint,
            bucket,
        }
    }

    /// Points the service's files at this server.
    pub fn configure(&self, settings: &mut chat_server::settings::Settings) {
        let files = &mut settings.files;
        files.store = "s3".to_owned();
        files.s3_bucket.clone_from(&self.bucket);
        files.s3_endpoint.clone_from(&self.endpoint);
        files.s3_region = "us-east-1".to_owned();
        files.s3_access_key_id = "test".to_owned();
        files.s3_secret_access_key = "test".to_owned();
        files.s3_allow_http = true;
    }

    /// How many objects the bucket holds.
    ///
    /// # Panics
    /// When the server does not answer.
    pub async fn objects(&self) -> usize {
        let body = reqwest::get(format!("{}/{}?list-type=2", self.endpoint, self.bucket))
            .await
            .expect("list the bucket")
            .text()
            .await
            .expect("a listing");
        body.matches("<Key>").count()
    }
}
