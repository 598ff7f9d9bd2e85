//! The console's HTML, built from typed values: text is escaped where it is written ([`esc`]), each page is a
//! [`Page`] laid out once ([`Page::finish`]), statuses are badges, times and durations read alike everywhere.

use std::fmt::Write as _;

use sluice_runtime::events::rfc3339;

/// The console's stylesheet, also used by the approval pages.
pub const CSS: &str = include_str!("assets/console.css");
/// The little script that refreshes a page's live region without a reload.
pub const JS: &str = include_str!("assets/console.js");
/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/console/assets/console.css";
/// Where the script is served.
pub const JS_PATH: &str = "/console/assets/console.js";

/// Headers every console page carries: never cached, only this origin's script and style, never framed.
pub const PAGE_HEADERS: [(&str, &str); 5] = [
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

/// Text made safe for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One path segment percent-encoded (everything but RFC 3986's unreserved characters).
pub fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Standard base64 with padding (for CSP hashes).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A status as a badge: its colour by what it means, its word always written (colour is never the only cue).
pub fn badge(status: &str) -> String {
    let kind = match status {
        "Succeeded" => "ok",
        "Failed" | "Rejected" | "Cancelled" => "bad",
        "InProgress" | "Stopping" => "run",
        "Stopped" | "Superseded" | "Abandoned" => "off",
        _ => "idle",
    };
    format!(
        "<span class=\"badge {kind}\" data-status=\"{0}\">{0}</span>",
        esc(status)
    )
}

/// An API timestamp (epoch seconds) as a `<time>`, readable and machine-readable.
pub fn when(epoch_s: f64) -> String {
    if epoch_s <= 0.0 {
        return "—".to_owned();
    }
    let stamp = rfc3339((epoch_s * 1000.0) as i64);
    let short = stamp.replace('T', " ").trim_end_matches('Z').to_owned();
    let short = short.split('.').next().unwrap_or(&short).to_owned();
    format!(
        "<time datetime=\"{}\">{} UTC</time>",
        esc(&stamp),
        esc(&short)
    )
}

/// An API timestamp (epoch seconds) as plain text: `2026-12-06 05:07:47 UTC`.
pub fn rfc_short(epoch_s: f64) -> String {
    if epoch_s <= 0.0 {
        return "—".to_owned();
    }
    let stamp = rfc3339((epoch_s * 1000.0) as i64).replace('T', " ");
    let stamp = stamp.trim_end_matches('Z');
    format!("{} UTC", stamp.split('.').next().unwrap_or(stamp))
}

/// A duration in seconds, as people say it: `850 ms`, `42 s`, `3 min 5 s`, `2 h 10 min`.
pub fn duration(seconds: f64) -> String {
    if seconds < 0.0 {
        return "—".to_owned();
    }
    if seconds < 1.0 {
        return format!("{} ms", (seconds * 1000.0).round() as i64);
    }
    let s = seconds.round() as i64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A link only when it is a web address; anything else (javascript:, data:) is shown as text.
pub fn external_link(url: &str, label: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">{}</a>",
            esc(url),
            esc(label)
        )
    } else {
        esc(url)
    }
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

/// A page being written: its title, the breadcrumbs, and the live region's HTML.
pub struct Page {
    /// The `<title>` and `<h1>`.
    pub title: String,
    /// The breadcrumbs: (label, href) pairs before the title.
    pub crumbs: Vec<(String, String)>,
    /// The live region's HTML (what the script refreshes).
    pub live: String,
    /// Whether the page refreshes itself (it shows something that may still change).
    pub refresh: bool,
}

impl Page {
    /// A page titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            crumbs: Vec::new(),
            live: String::new(),
            refresh: true,
        }
    }

    /// Appends raw HTML (already escaped) to the live region.
    pub fn raw(&mut self, html: &str) {
        self.live.push_str(html);
    }

    /// The whole document; `who` is the signed-in identity and `csrf` the session's token (for sign out).
    pub fn finish(&self, who: Option<(&str, &str)>) -> String {
        let mut out = String::with_capacity(self.live.len() + 2048);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light dark\">\n<title>{} · Sluice</title>\n\
             <link rel=\"stylesheet\" href=\"{CSS_PATH}\">\n",
            esc(&self.title)
        );
        if self.refresh {
            let _ = write!(
                out,
                "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>\n\
                 <script src=\"{JS_PATH}\" defer></script>\n"
            );
        }
        out.push_str("</head>\n<body>\n<a class=\"skip\" href=\"#live\">Skip to content</a>\n");
        out.push_str("<header class=\"top\"><a class=\"brand\" href=\"/\">Sluice</a>");
        if who.is_some() {
            out.push_str(
                "<nav class=\"main\" aria-label=\"Console\"><a href=\"/\">Pipelines</a> \
                 <a href=\"/waiting\">Waiting for you</a> <a href=\"/audit\">Audit log</a></nav>",
            );
        }
        if let Some((id, csrf)) = who {
            let _ = write!(
                out,
                "<form class=\"signout\" method=\"post\" action=\"/sign-out\">{}\
                 <span class=\"who\" title=\"Signed in as\">{}</span> \
                 <button type=\"submit\" class=\"link\">Sign out</button></form>",
                hidden("csrf", csrf),
                esc(id)
            );
        }
        out.push_str("</header>\n");
        if !self.crumbs.is_empty() {
            out.push_str("<nav aria-label=\"Breadcrumb\" class=\"crumbs\"><ol>");
            for (label, href) in &self.crumbs {
                let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", esc(href), esc(label));
            }
            let _ = writeln!(
                out,
                "<li aria-current=\"page\">{}</li></ol></nav>",
                esc(&self.title)
            );
        }
        let _ = write!(
            out,
            "<main id=\"live\"{}>\n{}</main>\n</body>\n</html>\n",
            if self.refresh {
                " data-refresh=\"2000\" aria-live=\"polite\""
            } else {
                ""
            },
            self.live
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_encodes_segments() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(enc("my pipe/1"), "my%20pipe%2F1");
        assert_eq!(enc("Build.Stage-1_x"), "Build.Stage-1_x");
    }

    #[test]
    fn encodes_base64_as_the_standard_says() {
        for (raw, text) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(raw.as_bytes()), text);
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        for (s, text) in [
            (0.25, "250 ms"),
            (42.0, "42 s"),
            (185.0, "3 min 5 s"),
            (7800.0, "2 h 10 min"),
        ] {
            assert_eq!(duration(s), text);
        }
    }

    #[test]
    fn only_web_addresses_become_links() {
        assert!(external_link("javascript:alert(1)", "x").starts_with("javascript"));
        assert!(external_link("https://example.com/a?b&c", "x")
            .contains("href=\"https://example.com/a?b&amp;c\""));
    }
}
