//! A real browser for the web UI's end-to-end tests: headless Chromium driven through
//! chromedriver, the few steps every test takes (sign in, click, type, wait), screenshots
//! for the docs, and an accessibility check with axe-core.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::{PASSWORD, TestServer, eventually};

/// How long a step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// chromedriver from OPSDESK_TEST_CHROMEDRIVER or the Debian path; `None` means skip,
/// unless services are required, then the test fails.
pub fn chromedriver() -> Option<String> {
    crate::service_binary(
        "OPSDESK_TEST_CHROMEDRIVER",
        "/usr/bin/chromedriver",
        ".ci/setup.d/30-chromium.sh",
    )
}

/// A chromedriver process for one test; killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub async fn start(binary: &str) -> Driver {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let ready = eventually(WAIT, || async {
            reqwest::get(&status)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready, "chromedriver did not start on port {port}");
        Driver { child, url }
    }

    /// A fresh headless browser with a profile of its own.
    pub async fn browser(&self) -> (Client, tempfile::TempDir) {
        let profile = tempfile::tempdir().unwrap();
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        });
        if let Ok(binary) = std::env::var("OPSDESK_TEST_CHROMIUM")
            && !binary.is_empty()
        {
            options["binary"] = json!(binary);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap();
        (client, profile)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn sign_in(browser: &Client, server: &TestServer, email: &str) {
    browser
        .goto(&format!("{}/login", server.url))
        .await
        .unwrap();
    type_into(browser, "#email", email).await;
    type_into(browser, "#password", PASSWORD).await;
    click(browser, "#sign-in").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".signout"))
        .await
        .unwrap();
}

/// The text of the element at `css`, or `(absent)`.
pub async fn text_at(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => "(absent)".into(),
    }
}

/// Waits until the element at `css` shows `needle`.
pub async fn wait_for_text(browser: &Client, css: &str, needle: &str) {
    let found = eventually(WAIT, || async {
        text_at(browser, css).await.contains(needle)
    })
    .await;
    let shown = text_at(browser, css).await;
    assert!(found, "`{css}` never showed {needle:?}; it shows {shown:?}");
}

/// Where the link reading `text` leads.
pub async fn link_href(browser: &Client, text: &str) -> String {
    browser
        .find(Locator::LinkText(text))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the link {text:?} has no href"))
}

pub async fn click(browser: &Client, css: &str) {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub async fn type_into(browser: &Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Reloads `url` until the element at `css` shows `needle`.
pub async fn reload_until(browser: &Client, url: &str, css: &str, needle: &str) {
    let found = eventually(WAIT, || async {
        browser.goto(url).await.unwrap();
        text_at(browser, css).await.contains(needle)
    })
    .await;
    let shown = text_at(browser, css).await;
    assert!(
        found,
        "`{css}` on {url} never showed {needle:?}; it shows {shown:?}"
    );
}

/// axe-core's script from OPSDESK_TEST_AXE (`.ci/setup.d/35-axe.sh` fetches it); `None`
/// means skip, unless services are required, then the test fails.
pub fn axe_script() -> Option<String> {
    let path = std::env::var("OPSDESK_TEST_AXE")
        .ok()
        .filter(|p| !p.is_empty());
    match path.as_deref().map(std::fs::read_to_string) {
        Some(Ok(script)) => Some(script),
        _ if crate::services_required() => panic!(
            "OPSDESK_REQUIRE_SERVICES=1 but axe-core is missing (OPSDESK_TEST_AXE={path:?}; run .ci/setup.d/35-axe.sh)"
        ),
        _ => {
            eprintln!("skipping the accessibility check: set OPSDESK_TEST_AXE to axe.min.js");
            None
        }
    }
}

/// Runs axe-core (WCAG 2.1 A and AA rules) on the page the browser shows and returns its
/// serious and critical violations, one line each: rule, impact, and the elements at fault.
pub async fn accessibility_violations(browser: &Client, axe: &str) -> Vec<String> {
    browser.execute(axe, Vec::new()).await.unwrap();
    let result = browser
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
                  .then(r => done(r.violations), e => done([{id: "axe-error", impact: "critical", help: String(e), nodes: []}]));"#,
            Vec::new(),
        )
        .await
        .unwrap();
    let Value::Array(violations) = result else {
        panic!("axe returned {result}");
    };
    violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            let targets: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n["target"].to_string())
                .collect();
            format!(
                "{} ({}): {} at {}",
                v["id"].as_str().unwrap_or_default(),
                v["impact"].as_str().unwrap_or_default(),
                v["help"].as_str().unwrap_or_default(),
                targets.join(", ")
            )
        })
        .collect()
}
