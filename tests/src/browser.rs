//! Headless Chromium driven through WebDriver (Debian's `chromium` and `chromium-driver`,
//! which `make test` installs), for the tests of the pages. Each [`Browser`] runs its own
//! chromedriver on a free loopback port; each [`Browser::page`] is a separate browser with
//! its own storage, as two people at two computers.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running chromedriver. Killed with the value.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    url: String,
    pages: std::sync::Mutex<Vec<Client>>,
    // One browser scenario at a time: a browser is heavy for two cores, and a scenario that
    // measures how the page keeps up must not measure another's load.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver.
    ///
    /// # Panics
    /// When chromedriver is missing (`scripts/dev-db.sh browser` installs it) or does not
    /// answer.
    pub async fn start() -> Self {
        let turn = TURN.lock().await;
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is needed for the browser tests: `make test` installs it, or run \
                 `scripts/dev-db.sh browser` (Debian's chromium and chromium-driver)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let started = Instant::now();
        loop {
            let ready = reqwest::get(&status)
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            driver,
            url,
            pages: std::sync::Mutex::default(),
            _turn: turn,
        }
    }

    /// A new headless browser with a viewport `width` CSS pixels wide.
    ///
    /// # Panics
    /// When the browser does not start.
    pub async fn page(&self, width: u32) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--disable-extensions",
                    "--no-first-run",
                    "--window-size=1280,900",
                ],
                // A window is at least 500 px wide; the viewport is what a phone has.
                "mobileEmulation": {
                    "deviceMetrics": { "width": width, "height": 800, "pixelRatio": 1.0 }
                },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session");
        self.pages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(client.clone());
        client
    }

    /// Runs `scenario`; when it fails, saves a screenshot of every page under
    /// `target/browser/<name>-<n>.png` before failing, and closes the browsers either way.
    pub async fn run<F: Future<Output = ()>>(&self, name: &str, scenario: F) {
        use futures_util::FutureExt;
        let outcome = std::panic::AssertUnwindSafe(scenario).catch_unwind().await;
        let pages: Vec<Client> = self
            .pages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        if outcome.is_err() {
            let dir = screenshot_dir();
            let _ = std::fs::create_dir_all(&dir);
            for (n, page) in pages.iter().enumerate() {
                if let Ok(png) = page.screenshot().await {
                    let path = dir.join(format!("{name}-{n}.png"));
                    let _ = std::fs::write(&path, png);
                    eprintln!("screenshot: {}", path.display());
                }
            }
        }
        for page in pages {
            let _ = page.close().await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

/// `target/browser/`, where failing browser tests leave their screenshots.
#[must_use]
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser")
}

/// Opens `path` of the service at `base` signed in with `token` (in the fragment, which
/// never reaches the server), and waits for the page to be live.
///
/// # Panics
/// When the page does not get online.
pub async fn open(page: &Client, base: &str, path: &str, token: &str) {
    page.goto(&format!("{base}{path}#token={token}"))
        .await
        .expect("open the page");
    wait_attr(page, "#connection", "data-state", "online").await;
}

/// Waits until `css` matches an element, and returns it.
///
/// # Panics
/// After [`PATIENCE`].
pub async fn find(page: &Client, css: &str) -> Element {
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

/// Runs `script` (the body of a function; `arguments` holds `args`) in the page.
///
/// # Panics
/// When the script throws.
pub async fn js(page: &Client, script: &str, args: Vec<Value>) -> Value {
    page.execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Waits until `script` returns `true`.
///
/// # Panics
/// After [`PATIENCE`], with `what`.
pub async fn wait_true(page: &Client, what: &str, script: &str, args: Vec<Value>) {
    let started = Instant::now();
    loop {
        if js(page, script, args.clone()).await == Value::Bool(true) {
            return;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the first element matching `css` has `attr` equal to `value`.
pub async fn wait_attr(page: &Client, css: &str, attr: &str, value: &str) {
    wait_true(
        page,
        &format!("{css}[{attr}={value}]"),
        "const e = document.querySelector(arguments[0]); \
         return !!e && e.getAttribute(arguments[1]) === arguments[2];",
        vec![json!(css), json!(attr), json!(value)],
    )
    .await;
}

/// The texts of the elements matching `css`.
pub async fn texts(page: &Client, css: &str) -> Vec<String> {
    let value = js(
        page,
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);",
        vec![json!(css)],
    )
    .await;
    serde_json::from_value(value).expect("a list of texts")
}

/// Types `text` into the composer and presses Enter.
pub async fn send(page: &Client, text: &str) {
    let composer = find(page, "#composer").await;
    composer.send_keys(text).await.expect("type");
    composer.send_keys("\u{E007}").await.expect("Enter");
}

/// Presses `key` on the keyboard, wherever the focus is.
///
/// # Panics
/// When the browser refuses the input.
pub async fn press(page: &Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    page.perform_actions(keys).await.expect("press a key");
}
