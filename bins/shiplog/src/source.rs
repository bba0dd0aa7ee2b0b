//! What the `shiplog import orlo|balrog --from URL` commands share: the HTTP client that reads a
//! running source (its base URL, TLS against the host's roots, the optional token sent the
//! ways Orlo, Balrog and shiplog take one) and the progress display.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// The source: its base URL, the HTTP agent and the credential it takes.
pub struct Source {
    pub base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

/// An answer: its status, and its body as text.
pub struct Answer {
    pub url: String,
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON, or an error naming the URL.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("GET {}: the answer is not JSON: {e}", self.url))
    }

    /// The error for an answer the command cannot use.
    pub fn refused(&self) -> String {
        match self.status {
            401 | 403 => format!(
                "GET {}: {}: the source wants a credential (--token)",
                self.url, self.status
            ),
            status => {
                let excerpt: String = self.body.chars().take(300).collect();
                format!("GET {}: {status}: {excerpt}", self.url)
            }
        }
    }
}

impl Source {
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Source, String> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--from {base:?}: expected an http:// or https:// URL"
            ));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .tls_config(
                TlsConfig::builder()
                    .provider(TlsProvider::NativeTls)
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        Ok(Source { base, agent, token })
    }

    /// `GET {base}{path}`, whatever its status.
    pub fn get(&self, path: &str) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url).header("Accept", "application/json");
        if let Some(token) = &self.token {
            // Orlo reads X-Auth-Token; Balrog and shiplog take a bearer token.
            request = request
                .header("X-Auth-Token", token)
                .header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("GET {url}: reading the answer: {e}"))?;
        Ok(Answer { url, status, body })
    }
}

/// A spinner with a message and the elapsed time (hidden when `quiet`).
pub fn progress(quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}
