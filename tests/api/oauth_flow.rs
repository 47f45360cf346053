//! Playing the browser in the redirect flow: a vault, the fake Zoho with a
//! server-based client whose redirect URI is the vault's callback, and
//! helpers to follow authorize → consent page → callback by hand.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::{answer, ZohoApp, SCOPES};

/// A vault, the fake Zoho, and a server-based client registered there with
/// the vault's callback as redirect URI.
pub struct Flow {
    pub z: ZohoApp,
    pub web: zoho_vault::fake_zoho::Client,
    pub browser: reqwest::Client,
}

/// An HTML answer.
pub struct Page {
    pub status: u16,
    pub html: String,
}

impl Page {
    pub fn outcome(&self) -> &str {
        self.html
            .split("data-outcome=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
    }
}

impl Flow {
    pub fn spawn() -> Flow {
        Self::spawn_with(&[])
    }

    pub fn spawn_with(env: &[(&str, &str)]) -> Flow {
        let z = ZohoApp::spawn_with(env);
        let callback = z.app.server.url("/v1/oauth/callback");
        let web = z.fake.register_web_client(&callback).expect("web client");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Flow { z, web, browser }
    }

    pub fn callback_url(&self) -> String {
        self.z.app.server.url("/v1/oauth/callback")
    }

    pub fn pending_body(&self) -> Value {
        json!({
            "client_id": self.web.client_id,
            "client_secret": self.web.client_secret,
            "redirect_uri": self.callback_url(),
            "scope": SCOPES.join(","),
            "accounts_url": self.z.fake.base_url(),
        })
    }

    pub async fn create_pending(&self, name: &str) -> Value {
        let (status, view) = self.z.put_connection(name, &self.pending_body()).await;
        assert_eq!(status, 201, "{view}");
        view
    }

    pub async fn authorize(&self, name: &str) -> (u16, Value) {
        let req = self
            .z
            .app
            .server
            .http
            .post(
                self.z
                    .app
                    .server
                    .url(&format!("/v1/connections/{name}/authorize")),
            )
            .bearer_auth(&self.z.app.admin);
        answer(req).await
    }

    /// The authorize URL for `name`.
    pub async fn link(&self, name: &str) -> String {
        let (status, body) = self.authorize(name).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["state_expires_at"].is_string(), "{body}");
        body["url"].as_str().expect("url").to_string()
    }

    /// Opens the consent page and presses `decision` (`accept`/`deny`):
    /// answers where Zoho redirects the browser.
    pub async fn consent(&self, link: &str, decision: &str) -> String {
        let page = self.browser.get(link).send().await.expect("auth page");
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.expect("html");
        let mut form = hidden_fields(&html);
        form.insert("decision".into(), decision.into());
        let action = format!("{}/oauth/v2/auth/decide", self.z.fake.base_url());
        let resp = self
            .browser
            .post(action)
            .form(&form)
            .send()
            .await
            .expect("decide");
        assert_eq!(resp.status().as_u16(), 302);
        resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_string()
    }

    pub async fn open(&self, url: &str) -> Page {
        let resp = self.browser.get(url).send().await.expect("callback");
        let status = resp.status().as_u16();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/html"),
            "the callback answers HTML"
        );
        assert_eq!(resp.headers()["cache-control"], "no-store");
        Page {
            status,
            html: resp.text().await.expect("html"),
        }
    }

    pub async fn show(&self, name: &str) -> Value {
        let (status, view) = self
            .z
            .app
            .server
            .get(&format!("/v1/connections/{name}"), Some(&self.z.app.admin))
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }
}

/// `name` → `value` of every `<input type="hidden">` of the fake's form.
pub fn hidden_fields(html: &str) -> HashMap<String, String> {
    html.split("<input ")
        .skip(1)
        .filter_map(|tag| {
            let attr = |a: &str| {
                tag.split(&format!("{a}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(|v| {
                        v.replace("&quot;", "\"")
                            .replace("&#39;", "'")
                            .replace("&lt;", "<")
                            .replace("&gt;", ">")
                            .replace("&amp;", "&")
                    })
            };
            Some((attr("name")?, attr("value")?))
        })
        .collect()
}

/// Replaces (or adds) one query parameter of `url`.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != key)
        .collect();
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(key, value);
    parsed.to_string()
}

pub fn state_of(link: &str) -> String {
    url::Url::parse(link)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state")
}
