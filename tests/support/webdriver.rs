//! A small W3C WebDriver client over `ureq`, enough to drive Debian's headless Chromium through
//! `chromedriver` from a test: start a driver on a free port, open a session, navigate, find
//! elements, read text, type, click, run a script, take screenshots and read the browser's
//! console (`goog:loggingPrefs`). The dashboard tests need no more, and a full client crate
//! would bring an async runtime into the test build.
//!
//! A missing `chromium` or `chromedriver` fails the test with the command that installs them:
//! the browser tests are part of the suite, not optional.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The key W3C WebDriver puts element references under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const INSTALL: &str = "install them with `apt-get install -y chromium chromium-driver` \
     (.ci/run does this)";

/// Finds an executable on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// A running `chromedriver`, stopped on drop.
pub struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    chromium: PathBuf,
}

impl Driver {
    /// Starts `chromedriver` on a free port and waits until it says it is ready. Panics, saying
    /// how to install them, when `chromium` or `chromedriver` is missing.
    pub fn start() -> Driver {
        let driver = which("chromedriver").unwrap_or_else(|| {
            panic!("the browser tests need chromedriver, which is not on PATH: {INSTALL}")
        });
        let chromium = which("chromium")
            .or_else(|| which("chromium-browser"))
            .unwrap_or_else(|| {
                panic!("the browser tests need chromium, which is not on PATH: {INSTALL}")
            });
        // Ask the OS for a free port, then hand it to the driver (it cannot report one itself).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            chromium,
        };
        driver.wait_ready();
        driver
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = self
                .agent
                .get(format!("{}/status", self.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready within 20 s"
            );
            // Polling a process we just started; there is nothing to block on instead.
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// A new headless browser session with a window of `width` × `height` CSS pixels.
    pub fn session(&self, width: u32, height: u32) -> Session<'_> {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         "--force-device-scale-factor=1",
                         format!("--window-size={width},{height}")],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let value = self.call("POST", "/session", Some(&capabilities));
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {value}"))
            .to_owned();
        Session { driver: self, id }
    }

    /// One WebDriver command; panics with the driver's error when it fails.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, reply) = self.exchange(method, path, body);
        assert!(
            status < 400,
            "{method} {path} failed ({status}): {}",
            reply["value"]
        );
        reply["value"].clone()
    }

    /// One command, answered with its status (a stale element is a 404, not a panic).
    fn exchange(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .send_json(body.cloned().unwrap_or_else(|| json!({}))),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let reply: Value = response
            .body_mut()
            .read_json()
            .unwrap_or_else(|e| panic!("{method} {path}: unreadable answer: {e}"));
        (status, reply)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session, closed on drop.
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Session<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    /// Loads `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({"url": url})));
    }

    pub fn current_url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn title(&self) -> String {
        self.call("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page's title is `expected` (a click that submits a form returns before
    /// the next page has loaded), failing after 10 s.
    pub fn wait_for_title(&self, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let title = self.title();
            if title == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the title stayed {title:?}, not {expected:?}"
            );
            std::thread::yield_now();
        }
    }

    /// Waits until an element matching `css` shows text containing `needle`, failing after
    /// 10 s: after a click that submits a form, the page may still be the one before it (whose
    /// elements go stale as the next one loads).
    pub fn wait_for_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let session = format!("/session/{}", self.id);
        loop {
            let (status, found) = self.driver.exchange(
                "POST",
                &format!("{session}/elements"),
                Some(&json!({"using": "css selector", "value": css})),
            );
            let mut texts = Vec::new();
            for element in found["value"]
                .as_array()
                .filter(|_| status < 400)
                .into_iter()
                .flatten()
            {
                let Some(id) = element[ELEMENT].as_str() else {
                    continue;
                };
                let (status, text) =
                    self.driver
                        .exchange("GET", &format!("{session}/element/{id}/text"), None);
                if status < 400 {
                    texts.push(text["value"].as_str().unwrap_or_default().to_owned());
                }
            }
            if texts.iter().any(|text| text.contains(needle)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {css:?} showed {needle:?}: {texts:?}"
            );
            std::thread::yield_now();
        }
    }

    pub fn set_window(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.call(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The one element matching a CSS selector (panics when none does).
    #[track_caller]
    pub fn find(&self, css: &str) -> Element {
        self.find_all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {css:?} on {}", self.current_url()))
    }

    pub fn count(&self, css: &str) -> usize {
        self.find_all(css).len()
    }

    /// The rendered text of an element.
    pub fn text(&self, element: &Element) -> String {
        self.call("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The rendered text of the element matching `css`.
    #[track_caller]
    pub fn text_of(&self, css: &str) -> String {
        let element = self.find(css);
        self.text(&element)
    }

    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.call(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .as_str()
        .map(str::to_owned)
    }

    pub fn click(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Types `text` into an element (keys as a person would press them).
    pub fn type_into(&self, element: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(&json!({"text": text})),
        );
    }

    /// Presses keys in whatever has focus (e.g. "\u{E004}" for Tab).
    pub fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.call(
            "POST",
            "/actions",
            Some(&json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        self.call("DELETE", "/actions", None);
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Saves a PNG of the window to `path` (creating its directory).
    pub fn screenshot(&self, path: &Path) {
        let data = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Saves a PNG of the whole page, beyond the window, to `path` (Chromium's DevTools
    /// `Page.captureScreenshot`, which chromedriver passes through).
    pub fn screenshot_page(&self, path: &Path) {
        let metrics = self.call(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({"cmd": "Page.getLayoutMetrics", "params": {}})),
        );
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64().unwrap_or(1400.0),
            size["height"].as_f64().unwrap_or(1000.0).min(6000.0),
        );
        let shot = self.call(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({"cmd": "Page.captureScreenshot", "params": {
                "format": "png", "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}})),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// The browser console entries since the last call: `(level, message)`.
    pub fn console(&self) -> Vec<(String, String)> {
        let entries = self.call("POST", "/se/log", Some(&json!({"type": "browser"})));
        entries
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails the test on any console error (SEVERE: script errors, refused content, failed
    /// loads) since the last look.
    #[track_caller]
    pub fn assert_clean_console(&self, page: &str) {
        let errors: Vec<String> = self
            .console()
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .map(|(_, message)| message)
            .collect();
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let path = format!("{}/session/{}", self.driver.base, self.id);
        let _ = self.driver.agent.delete(&path).call();
    }
}
