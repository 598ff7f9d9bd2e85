//! A console request as the transport read it, and the console's answers: replies, pages for anyone,
//! redirects and downloads.

use crate::reply::WebReply;

use super::html::{esc, Page, PAGE_HEADERS};

/// One request to the console, as the transport read it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Host` header.
    pub host: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Referer` header.
    pub referer: Option<&'a str>,
    /// The `X-Forwarded-Proto` header (`https` behind a TLS proxy).
    pub forwarded_proto: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// Whether only the live region is wanted (`X-Sluice-Fragment`).
    pub fragment: bool,
    /// The body (POST only).
    pub body: &'a [u8],
    /// Now, in seconds since the epoch.
    pub now_s: i64,
    /// Where the request came from (the client's address), for the record of changes.
    pub source: &'a str,
}

impl ConsoleRequest<'_> {
    /// Whether the browser reached this server over TLS.
    pub fn is_tls(&self) -> bool {
        self.forwarded_proto
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }

    /// The form fields of a POST.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body).into_owned().collect()
    }

    /// The query's fields.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

/// The value of a field among form or query fields.
pub(crate) fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An object the transport sends as a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The file name the browser saves it as.
    pub file_name: String,
}

/// The console's answer: a reply, headers whose values are made per request (cookies, redirects), or an object
/// to send.
#[derive(Debug, Clone)]
pub struct ConsoleReply {
    /// The reply (for a download: the headers only).
    pub reply: WebReply,
    /// More headers, made for this request.
    pub headers: Vec<(&'static str, String)>,
    /// An object to stream as the body instead.
    pub download: Option<Download>,
}

impl From<WebReply> for ConsoleReply {
    fn from(reply: WebReply) -> Self {
        Self {
            reply,
            headers: Vec::new(),
            download: None,
        }
    }
}

pub(crate) fn html_reply(status: u16, body: String) -> WebReply {
    WebReply {
        status,
        content_type: "text/html; charset=utf-8",
        headers: PAGE_HEADERS.to_vec(),
        body,
    }
}

/// A page with a title and one paragraph, for anyone (no session needed).
pub fn message(status: u16, title: &str, text: &str) -> WebReply {
    let mut page = Page::new(title);
    page.refresh = false;
    page.raw(&format!(
        "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"/\">Console</a></p>\n",
        esc(title),
        esc(text)
    ));
    html_reply(status, page.finish(None))
}

/// A 303 to `to` (a path on this site).
pub(crate) fn redirect(to: &str) -> ConsoleReply {
    let mut r: ConsoleReply = html_reply(303, String::new()).into();
    r.headers.push(("location", to.to_owned()));
    r
}
