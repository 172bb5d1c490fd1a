//! The public directory page in a real browser: headless Chromium driven through
//! ChromeDriver (W3C WebDriver over HTTP), at a phone's window size. A person picks a
//! function and a prefecture, submits, and finds the institution; the page fits the
//! screen. Outside CI the test is skipped when Chromium or ChromeDriver is missing; in CI
//! (`CI=true`, where `.ci/run` installs them) it fails instead.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(crate) fn find_binary(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        Command::new(n)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .map(|_| (*n).to_owned())
    })
}

pub(crate) struct Driver {
    process: Child,
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    async fn start(driver: &str, browser: &str) -> Driver {
        Self::start_sized(driver, browser, (390, 844)).await
    }

    /// A session whose window is `size` (width, height) CSS pixels.
    pub(crate) async fn start_sized(driver: &str, browser: &str, size: (u32, u32)) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not become ready");
        let mut d = Driver {
            process,
            http,
            base,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={},{}", size.0, size.1), "--lang=ja",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run"]
            }
        }}});
        let created = d.call("POST", "/session", caps).await;
        d.session = created["sessionId"].as_str().unwrap().to_owned();
        d
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "webdriver {method} {path}: {v}");
        v["value"].clone()
    }

    /// Sends every request of the session with these headers (Chrome DevTools Protocol).
    pub(crate) async fn extra_headers(&self, headers: Value) {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Network.enable", "params": {}}),
        )
        .await;
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Network.setExtraHTTPHeaders", "params": {"headers": headers}}),
        )
        .await;
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url})).await;
    }

    pub(crate) async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .call(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_owned())
            .collect()
    }

    async fn find(&self, css: &str) -> String {
        let all = self.find_all(css).await;
        assert!(!all.is_empty(), "no element {css}");
        all[0].clone()
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        )
        .await;
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.call("GET", &format!("/element/{e}/text"), Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn put_org(app: &TestApp, code: &str, body: Value) {
    let resp = app
        .http
        .put(app.url(&format!("/admin/organizations/{code}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// ChromeDriver and the browser's full path; `None` (test skipped) outside CI when either
/// is missing; in CI a missing one fails the test.
pub(crate) fn browser_tools() -> Option<(String, String)> {
    let driver = find_binary(&["chromedriver"]);
    let browser = find_binary(&["chromium", "chromium-browser", "google-chrome"]);
    let (Some(driver), Some(browser)) = (driver, browser) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have chromium and chromedriver (.ci/run installs them)"
        );
        eprintln!("chromium or chromedriver absent: browser test skipped");
        return None;
    };
    let browser = String::from_utf8(
        Command::new("sh")
            .args(["-c", &format!("command -v {browser}")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    Some((driver, browser))
}

#[actix_web::test]
async fn the_directory_page_finds_an_institution_by_function_in_a_browser() {
    let Some((driver, browser)) = browser_tools() else {
        return;
    };
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let common = [
        "broad-consultation",
        "information-hub",
        "care-coordination",
        "after-hours",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        common
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    put_org(
        &app,
        "1311234567",
        json!({"name": "さくら内科クリニック", "prefecture": "13", "city": "文京区",
        "address": "本郷1-2-3", "phone": "03-1234-5678", "certified": true,
        "functions": with(&["home-care", "vaccination"])}),
    )
    .await;
    put_org(
        &app,
        "1312345678",
        json!({"name": "みどり内科", "prefecture": "13", "city": "新宿区",
        "certified": true, "functions": with(&["vaccination"])}),
    )
    .await;
    put_org(
        &app,
        "2711111111",
        json!({"name": "なにわ在宅クリニック", "prefecture": "27", "city": "大阪市",
        "certified": true, "functions": with(&["home-care"])}),
    )
    .await;
    put_org(
        &app,
        "1319999999",
        json!({"name": "未認定医院 <script>", "prefecture": "13",
        "certified": false, "functions": []}),
    )
    .await;

    let d = Driver::start(&driver, &browser).await;
    d.goto(&app.url("/directory")).await;
    assert_eq!(d.script("return document.documentElement.lang").await, "ja");
    assert_eq!(d.text("h1").await, "かかりつけ医を探す");
    // Everything certified is listed at first; the uncertified one never.
    assert_eq!(d.find_all(".card").await.len(), 3);
    d.click("#function option[value=home-care]").await;
    d.click("#prefecture option[value='13']").await;
    d.type_into("#q", "さくら").await;
    d.click("button[type=submit]").await;
    for _ in 0..50 {
        if d.url().await.contains("function=home-care") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = d.url().await;
    assert!(
        url.contains("function=home-care") && url.contains("prefecture=13"),
        "{url}"
    );
    let codes = d
        .script("return Array.from(document.querySelectorAll('.card')).map(c => c.dataset.code)")
        .await;
    assert_eq!(codes, json!(["1311234567"]));
    assert!(d.text("#count").await.starts_with("1 件"));
    let card = d.text(".card").await;
    assert!(
        card.contains("在宅医療") && card.contains("東京都文京区本郷1-2-3"),
        "{card}"
    );
    assert!(card.contains("10人未満"), "small counts are masked: {card}");
    // The form keeps the choices; the page fits a phone's width.
    assert_eq!(
        d.script("return document.querySelector('#function').value")
            .await,
        "home-care"
    );
    let fits = d
        .script("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, true, "the page scrolls sideways on a phone");
    // A function nobody offers: no results, a clear count; a bad value: an error message.
    d.goto(&app.url("/directory?function=palliative-care"))
        .await;
    assert!(d.text("#count").await.starts_with("0 件"));
    d.goto(&app.url("/directory?function=nonsense")).await;
    assert!(d.text(".error").await.contains("機能"));
    let _ = d.call("DELETE", "", Value::Null).await;
}

#[actix_web::test]
async fn the_directory_page_escapes_what_it_shows_and_refuses_bad_queries() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    put_org(&app, "1311234567", json!({"name": "<b>さくら</b> & \"内科\"", "prefecture": "東京都",
        "url": "javascript:alert(1)", "certified": true,
        "functions": ["broad-consultation", "information-hub", "care-coordination", "after-hours"]})).await;
    let resp = app.http.get(app.url("/directory")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("&#60;b&#62;さくら&#60;/b&#62;")
            || html.contains("&lt;b&gt;さくら&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>さくら"), "names are escaped");
    assert!(
        !html.contains("javascript:"),
        "only http(s) links are shown"
    );
    let resp = app
        .http
        .get(app.url("/directory?offset=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("検索条件を読み取れませんでした")
    );
    let resp = app
        .http
        .get(app.url("/directory?prefecture=%E7%81%AB%E6%98%9F"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
