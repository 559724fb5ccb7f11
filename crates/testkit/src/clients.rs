//! HTTP clients for tests: a JSON API client with a token, and a signed-in browser session
//! posting the web UI's forms.

use serde_json::Value;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A small JSON client for tests.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
}

impl Client {
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::POST, path).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::PUT, path).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value, if_match: Option<&str>) -> Reply {
        let request = self.request(reqwest::Method::PATCH, path).json(&body);
        let request = match if_match {
            Some(etag) => request.header("if-match", etag),
            None => request,
        };
        self.send(request).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// A web session that posts forms as a browser does: with the session's CSRF token,
/// following the redirect a saved form answers with.
pub struct WebForms {
    pub client: reqwest::Client,
    pub csrf: String,
    pub(crate) url: String,
}

impl WebForms {
    /// Posts `fields` to `path`; returns the status and path of the page it ends on, and
    /// that page.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", self.csrf.as_str()));
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let path = response.url().path().to_owned();
        (status, path, response.text().await.unwrap())
    }

    /// The page at `path`.
    pub async fn page(&self, path: &str) -> String {
        page_text(&self.client, format!("{}{path}", self.url)).await
    }
}

/// The body of the page at `url`, fetched with `client` (its cookies included).
pub async fn page_text(client: &reqwest::Client, url: String) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The CSRF token a page of the web UI carries (its `csrf-token` meta element).
pub fn page_csrf_token(page: &str) -> String {
    page.split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}
