//! A browser for the admin console's tests: a cookie jar, no automatic
//! redirects (tests look at each 303), and the hidden CSRF field of the
//! last page read.

use reqwest::header::HeaderMap;

use crate::helpers::Server;

pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

/// One answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The text between the first `start` in the page and the next `end`.
    pub fn between(&self, start: &str, end: &str) -> Option<String> {
        let rest = self.html.split_once(start)?.1;
        Some(
            rest.split_once(end)
                .map_or(rest, |(inside, _)| inside)
                .to_string(),
        )
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        self.between("name=\"csrf\" value=\"", "\"")
            .expect("a csrf field on the page")
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

impl Browser {
    pub fn new(server: &Server) -> Browser {
        Browser::at(&server.base)
    }

    pub fn at(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn read(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let html = resp.text().await.expect("body");
        Answer {
            status,
            headers,
            html,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        Self::read(self.http.get(self.url(path)).send().await.expect("get")).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let resp = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("post");
        Self::read(resp).await
    }

    /// Posts `form` with the CSRF token of the page at `from`.
    pub async fn submit(&self, from: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let csrf = self.get(from).await.csrf();
        let mut all = form.to_vec();
        all.push(("csrf", &csrf));
        self.post(path, &all).await
    }

    /// Logs in with `token`: the login's answer.
    pub async fn login(&self, token: &str) -> Answer {
        self.post("/ui/login", &[("token", token)]).await
    }

    /// A browser logged in as `admin`.
    pub async fn logged_in(server: &Server, admin: &str) -> Browser {
        let b = Browser::new(server);
        let answer = b.login(admin).await;
        assert_eq!(answer.status, 303, "{}", answer.html);
        assert_eq!(answer.location(), "/ui/connections");
        b
    }
}
